"""AWS IoT control plane on the admin port, driven by Debian's real AWS CLI
(/usr/bin/aws, botocore underneath) with --endpoint-url and the
daemon-generated data_dir/aws-credentials: things and thing types,
certificates (issued, from a CSR, registered with and without a CA), CA
certificates with the proof of possession, policies and their versions,
attachments, DescribeEndpoint, and SigV4 refusals. Asserts the JSON the
CLI parsed and the error codes it reports."""
import contextlib
import io
import json
import os
import re
import subprocess
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import helpers as h
from awshelp import _name, cert_id, make_cert

AWS = "/usr/bin/aws"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ARN = "arn:aws:iot:%s:%s:" % (REGION, ACCOUNT)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})

pytestmark = [
    pytest.mark.skipif(not os.access(AWS, os.X_OK), reason="Debian's awscli (/usr/bin/aws) is not installed"),
    # awscli imports urllib3.contrib.pyopenssl, which warns on import.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


class CliError(Exception):
    def __init__(self, code, message, rc):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.rc = rc


class Cli:
    """`aws iot ...` against the daemon, credentials from its data_dir.

    in_process=True runs the CLI's own entry point (what /usr/bin/aws
    calls: awscli.clidriver.AWSCLIEntryPoint().main(argv)) inside this
    interpreter, the same Debian python3 and the same code, because starting
    the CLI costs ~0.5 s of CPU a call; in_process=False runs /usr/bin/aws
    as a process (the refusal tests do, so the binary itself is covered)."""

    def __init__(self, daemon, workdir, creds=None, in_process=True, service="iot"):
        self.d = daemon
        self.service = service
        self.workdir = workdir
        self.in_process = in_process
        os.makedirs(workdir, exist_ok=True)
        self.vars = {
            "AWS_SHARED_CREDENTIALS_FILE": creds or os.path.join(daemon.data_dir, "aws-credentials"),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "HOME": workdir,        # no ~/.aws of whoever runs the suite
        }
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update(self.vars)
        if in_process:
            # Importing awscli adds its data folder to AWS_DATA_PATH in
            # os.environ; keep that for the CLI's calls only, not for the
            # rest of the session (other modules use the system botocore).
            saved = os.environ.get("AWS_DATA_PATH")
            import awscli
            if saved is None:
                os.environ.pop("AWS_DATA_PATH", None)
            else:
                os.environ["AWS_DATA_PATH"] = saved
            self.env["AWS_DATA_PATH"] = os.path.join(os.path.dirname(awscli.__file__), "data")
        self._n = 0

    def file(self, text, suffix=".pem"):
        """Writes text to a file and returns the file:// argument for it."""
        self._n += 1
        p = os.path.join(self.workdir, "arg%d%s" % (self._n, suffix))
        with open(p, "w") as f:
            f.write(text)
        return "file://" + p

    def _argv(self, args):
        return [self.service, *args, "--endpoint-url", "http://127.0.0.1:%d" % self.d.admin_port,
                "--region", REGION, "--output", "json", "--no-cli-pager"]

    def _run_in_process(self, argv):
        from awscli.clidriver import AWSCLIEntryPoint

        saved = dict(os.environ)
        out, err = io.StringIO(), io.StringIO()
        try:
            os.environ.clear()
            os.environ.update(self.env)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = AWSCLIEntryPoint().main(argv)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return rc, out.getvalue(), err.getvalue()

    def run(self, *args):
        """(rc, stdout, stderr) of one call."""
        if self.in_process:
            return self._run_in_process(self._argv(args))
        p = subprocess.run([AWS, *self._argv(args)], env=self.env, capture_output=True, text=True,
                           timeout=60 * h.SCALE)
        return p.returncode, p.stdout, p.stderr

    def _result(self, args):
        rc, stdout, stderr = self.run(*args)
        if rc != 0:
            m = re.search(r"An error occurred \(([A-Za-z]+)\)[^:]*: ?(.*)", stderr, re.S)
            if m:
                return CliError(m.group(1), m.group(2).strip(), rc)
            if "Parameter validation failed" in stderr:
                return CliError("ParamValidation", stderr.strip(), rc)
            raise AssertionError("aws iot %s: rc=%d\n%s" % (" ".join(args), rc, stderr))
        return json.loads(stdout) if stdout.strip() else {}

    def __call__(self, *args):
        out = self._result(args)
        if isinstance(out, CliError):
            raise out
        return out

    def err(self, *args):
        """Runs a call that must fail; returns (code, message)."""
        out = self._result(args)
        if isinstance(out, CliError):
            return out.code, out.message
        raise AssertionError("aws iot %s succeeded: %r" % (" ".join(args), out))

    def many(self, calls):
        """Results of independent calls, a CliError for each failure."""
        return [self._result(a) for a in calls]

    def ok_many(self, calls):
        res = self.many(calls)
        bad = [r for r in res if isinstance(r, CliError)]
        assert not bad, bad
        return res

    def err_many(self, calls):
        """Calls that must all fail: their error codes, in order."""
        res = self.many(calls)
        assert all(isinstance(r, CliError) for r in res), list(zip(calls, res))
        return [r.code for r in res]


@pytest.fixture(scope="module")
def cli(mod_daemon, tmp_path_factory):
    return Cli(mod_daemon, str(tmp_path_factory.mktemp("awscli")))


# ---------------------------------------------------------------- X.509 helpers

# ---------------------------------------------------------------- things

def test_thing_create_describe_update_delete(cli):
    name = h.unique_id("thing")
    out = cli("create-thing", "--thing-name", name,
              "--attribute-payload", json.dumps({"attributes": {"room": "a1", "floor": "2"}}))
    assert out["thingName"] == name
    assert out["thingArn"] == ARN + "thing/" + name
    assert UUID_RE.match(out["thingId"]), out
    thing_id = out["thingId"]

    # Identical configuration: the same answer, not an error (AWS).
    again = cli("create-thing", "--thing-name", name,
                "--attribute-payload", json.dumps({"attributes": {"floor": "2", "room": "a1"}}))
    assert again == out
    code, msg = cli.err("create-thing", "--thing-name", name,
                        "--attribute-payload", json.dumps({"attributes": {"room": "b7"}}))
    assert code == "ResourceAlreadyExistsException", msg

    d = cli("describe-thing", "--thing-name", name)
    assert d == {"defaultClientId": name, "thingName": name, "thingId": thing_id,
                 "thingArn": ARN + "thing/" + name,
                 "attributes": {"room": "a1", "floor": "2"}, "version": 1}

    # Merge: add one, remove one with an empty value; the version moves on.
    cli("update-thing", "--thing-name", name,
        "--attribute-payload", json.dumps({"attributes": {"floor": "", "desk": "9"}, "merge": True}))
    d = cli("describe-thing", "--thing-name", name)
    assert d["attributes"] == {"room": "a1", "desk": "9"}
    assert d["version"] == 2
    # Without merge the attributes are replaced.
    cli("update-thing", "--thing-name", name, "--expected-version", "2",
        "--attribute-payload", json.dumps({"attributes": {"only": "this"}}))
    d = cli("describe-thing", "--thing-name", name)
    assert d["attributes"] == {"only": "this"} and d["version"] == 3
    code, _ = cli.err("update-thing", "--thing-name", name, "--expected-version", "1",
                      "--attribute-payload", json.dumps({"attributes": {"x": "y"}}))
    assert code == "VersionConflictException"
    assert cli("describe-thing", "--thing-name", name)["attributes"] == {"only": "this"}

    code, _ = cli.err("delete-thing", "--thing-name", name, "--expected-version", "7")
    assert code == "VersionConflictException"
    cli("delete-thing", "--thing-name", name, "--expected-version", "3")
    code, _ = cli.err("describe-thing", "--thing-name", name)
    assert code == "ResourceNotFoundException"
    # Deleting what does not exist succeeds (AWS; moto differs).
    cli("delete-thing", "--thing-name", name)


def test_thing_validation(cli):
    code, msg = cli.err("create-thing", "--thing-name", "has space")
    assert code == "InvalidRequestException" and "thingName" in msg, msg
    codes = cli.err_many([
        ["create-thing", "--thing-name", "x" * 129],
        ["create-thing", "--thing-name", h.unique_id("t"),
         "--attribute-payload", json.dumps({"attributes": {"bad key": "v"}})],
        # A thing without a type has at most 3 attributes.
        ["create-thing", "--thing-name", h.unique_id("t"), "--attribute-payload",
         json.dumps({"attributes": {"a": "1", "b": "2", "c": "3", "d": "4"}})],
        ["create-thing", "--thing-name", h.unique_id("t"), "--thing-type-name", "no-such-type"],
        ["update-thing", "--thing-name", "no-such-thing-here",
         "--attribute-payload", json.dumps({"attributes": {"a": "1"}})],
        # A '/' in a name travels as %2F and is refused as AWS refuses it.
        ["describe-thing", "--thing-name", "a/b"],
    ])
    assert codes[0] in ("InvalidRequestException", "ParamValidation")
    assert codes[1:] == ["InvalidRequestException", "InvalidRequestException",
                         "ResourceNotFoundException", "ResourceNotFoundException",
                         "InvalidRequestException"]


def test_list_things_filters_and_paging(cli):
    tag = h.unique_id("grp").replace("-", "")
    names = [h.unique_id("lt") for _ in range(5)]
    # One at a time: the listing order is the creation order.
    for i, n in enumerate(names):
        cli("create-thing", "--thing-name", n,
            "--attribute-payload", json.dumps({"attributes": {"grp": tag, "idx": "v%d" % i}}))
    # --page-size 2 makes the CLI follow nextToken over three requests.
    out = cli("list-things", "--attribute-name", "grp", "--attribute-value", tag, "--page-size", "2")
    assert [t["thingName"] for t in out["things"]] == names
    assert all(t["thingArn"] == ARN + "thing/" + t["thingName"] and t["version"] == 1 for t in out["things"])
    first = cli("list-things", "--attribute-name", "grp", "--attribute-value", tag, "--max-items", "3")
    assert [t["thingName"] for t in first["things"]] == names[:3] and first.get("NextToken")
    rest = cli("list-things", "--attribute-name", "grp", "--attribute-value", tag,
               "--starting-token", first["NextToken"])
    assert [t["thingName"] for t in rest["things"]] == names[3:]
    # Prefix matching on the attribute value.
    out = cli("list-things", "--attribute-name", "idx", "--attribute-value", "v",
              "--use-prefix-attribute-value")
    assert set(names) <= {t["thingName"] for t in out["things"]}
    out = cli("list-things", "--attribute-name", "idx", "--attribute-value", "v1")
    assert names[1] in [t["thingName"] for t in out["things"]]
    assert names[2] not in [t["thingName"] for t in out["things"]]
    code, _ = cli.err("list-things", "--max-results", "251")
    assert code in ("InvalidRequestException", "ParamValidation")
    cli.ok_many([["delete-thing", "--thing-name", n] for n in names])


def test_thing_types(cli):
    tt = h.unique_id("type")
    out = cli("create-thing-type", "--thing-type-name", tt, "--thing-type-properties",
              json.dumps({"thingTypeDescription": "lamps", "searchableAttributes": ["color"]}))
    assert out["thingTypeName"] == tt and out["thingTypeArn"] == ARN + "thingtype/" + tt
    assert UUID_RE.match(out["thingTypeId"])
    d = cli("describe-thing-type", "--thing-type-name", tt)
    assert d["thingTypeId"] == out["thingTypeId"]
    assert d["thingTypeProperties"] == {"thingTypeDescription": "lamps", "searchableAttributes": ["color"]}
    assert d["thingTypeMetadata"]["deprecated"] is False
    assert d["thingTypeMetadata"]["creationDate"]          # the CLI prints it as ISO 8601
    listed = cli("list-thing-types", "--thing-type-name", tt)["thingTypes"]
    assert [t["thingTypeName"] for t in listed] == [tt]
    assert tt in [t["thingTypeName"] for t in cli("list-thing-types")["thingTypes"]]

    # A typed thing may carry more than 3 attributes.
    thing = h.unique_id("lamp")
    attrs = {"a%d" % i: str(i) for i in range(6)}
    cli("create-thing", "--thing-name", thing, "--thing-type-name", tt,
        "--attribute-payload", json.dumps({"attributes": attrs}))
    d = cli("describe-thing", "--thing-name", thing)
    assert d["thingTypeName"] == tt and d["attributes"] == attrs
    assert [t["thingName"] for t in cli("list-things", "--thing-type-name", tt)["things"]] == [thing]

    code, _ = cli.err("delete-thing-type", "--thing-type-name", tt)
    assert code == "InvalidRequestException"            # not deprecated
    cli("deprecate-thing-type", "--thing-type-name", tt)
    meta = cli("describe-thing-type", "--thing-type-name", tt)["thingTypeMetadata"]
    assert meta["deprecated"] is True and "deprecationDate" in meta
    code, _ = cli.err("create-thing", "--thing-name", h.unique_id("lamp"), "--thing-type-name", tt)
    assert code == "InvalidRequestException"            # deprecated type
    code, _ = cli.err("delete-thing-type", "--thing-type-name", tt)
    assert code == "InvalidRequestException"            # a thing still has it
    cli("deprecate-thing-type", "--thing-type-name", tt, "--undo-deprecate")
    assert cli("describe-thing-type", "--thing-type-name", tt)["thingTypeMetadata"]["deprecated"] is False

    # Removing the type: the 6 attributes exceed the untyped limit of 3.
    code, _ = cli.err("update-thing", "--thing-name", thing, "--remove-thing-type")
    assert code == "InvalidRequestException"
    cli("update-thing", "--thing-name", thing, "--remove-thing-type",
        "--attribute-payload", json.dumps({"attributes": {"a0": "0"}}))
    d = cli("describe-thing", "--thing-name", thing)
    assert "thingTypeName" not in d and d["attributes"] == {"a0": "0"}
    cli("deprecate-thing-type", "--thing-type-name", tt)
    cli("delete-thing-type", "--thing-type-name", tt)
    code, _ = cli.err("describe-thing-type", "--thing-type-name", tt)
    assert code == "ResourceNotFoundException"
    cli("delete-thing", "--thing-name", thing)


# ---------------------------------------------------------------- certificates

def test_create_keys_and_certificate(cli, mod_daemon):
    out = cli("create-keys-and-certificate", "--set-as-active")
    cid, pem = out["certificateId"], out["certificatePem"]
    assert out["certificateArn"] == ARN + "cert/" + cid
    assert cid == cert_id(pem), "certificateId is the SHA-256 of the DER"
    assert "PRIVATE KEY" in out["keyPair"]["PrivateKey"] and "PUBLIC KEY" in out["keyPair"]["PublicKey"]
    # Issued by the daemon's CA, which devices trust.
    certfile = cli.file(pem)[len("file://"):]
    v = subprocess.run(["openssl", "verify", "-CAfile", mod_daemon.ca_path, certfile],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    c = x509.load_pem_x509_certificate(pem.encode())
    assert c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "AWS IoT Certificate"

    d = cli("describe-certificate", "--certificate-id", cid)["certificateDescription"]
    assert d["certificateId"] == cid and d["certificateArn"] == ARN + "cert/" + cid
    assert d["status"] == "ACTIVE" and d["certificatePem"].strip() == pem.strip()
    assert d["ownedBy"] == ACCOUNT and d["certificateMode"] == "DEFAULT"
    assert "caCertificateId" not in d
    assert d["validity"]["notAfter"] > d["validity"]["notBefore"]
    listed = {x["certificateId"]: x for x in cli("list-certificates")["certificates"]}
    assert listed[cid]["status"] == "ACTIVE" and listed[cid]["certificateArn"] == ARN + "cert/" + cid

    code, msg = cli.err("delete-certificate", "--certificate-id", cid)
    assert code == "CertificateStateException", msg
    code, _ = cli.err("update-certificate", "--certificate-id", cid, "--new-status", "PENDING_ACTIVATION")
    assert code == "InvalidRequestException"
    cli("update-certificate", "--certificate-id", cid, "--new-status", "INACTIVE")
    assert cli("describe-certificate", "--certificate-id", cid)["certificateDescription"]["status"] == "INACTIVE"
    # REVOKED is final here (documented choice); the certificate can still go.
    cli("update-certificate", "--certificate-id", cid, "--new-status", "REVOKED")
    code, _ = cli.err("update-certificate", "--certificate-id", cid, "--new-status", "ACTIVE")
    assert code == "CertificateStateException"
    cli("delete-certificate", "--certificate-id", cid)
    code, _ = cli.err("describe-certificate", "--certificate-id", cid)
    assert code == "ResourceNotFoundException"

    # Ids are 64 hex digits.
    code, _ = cli.err("describe-certificate", "--certificate-id", "z" * 64)
    assert code == "InvalidRequestException"
    code, _ = cli.err("describe-certificate", "--certificate-id", "0" * 64)
    assert code == "ResourceNotFoundException"


def pages(cli, key, *args, token_in="--marker", token_out="nextMarker"):
    """Follows the service's own page tokens by hand (the CLI does not
    paginate when the limit is an argument of the operation, as pageSize
    is for the marker-paged calls). Returns (items, number of pages)."""
    items, n, token = [], 0, None
    while True:
        out = cli(*args, *((token_in, token) if token else ()))
        items += out[key]
        n += 1
        token = out.get(token_out)
        if not token:
            return items, n
        assert n < 100


def test_list_certificates_paging(cli):
    ids = [cli("create-keys-and-certificate")["certificateId"] for _ in range(3)]
    asc, n = pages(cli, "certificates", "list-certificates", "--ascending-order", "--page-size", "1")
    assert [c["certificateId"] for c in asc if c["certificateId"] in ids] == ids
    assert n == len(asc)
    desc, n = pages(cli, "certificates", "list-certificates", "--page-size", "2")
    assert [c["certificateId"] for c in desc if c["certificateId"] in ids] == ids[::-1]
    assert n == (len(desc) + 1) // 2
    code, _ = cli.err("list-certificates", "--marker", "notamarker")
    assert code == "InvalidRequestException"
    descs = cli.ok_many([["describe-certificate", "--certificate-id", i] for i in ids])
    assert all(x["certificateDescription"]["status"] == "INACTIVE" for x in descs)
    cli.ok_many([["delete-certificate", "--certificate-id", i] for i in ids])


def test_certificate_from_csr(cli, mod_daemon):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(_name("my-device"))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    out = cli("create-certificate-from-csr", "--certificate-signing-request", cli.file(csr, ".csr"),
              "--set-as-active")
    pem = out["certificatePem"]
    assert out["certificateId"] == cert_id(pem)
    c = x509.load_pem_x509_certificate(pem.encode())
    assert c.public_key().public_numbers() == key.public_key().public_numbers()
    certfile = cli.file(pem)[len("file://"):]
    v = subprocess.run(["openssl", "verify", "-CAfile", mod_daemon.ca_path, certfile],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    d = cli("describe-certificate", "--certificate-id", out["certificateId"])["certificateDescription"]
    assert d["status"] == "ACTIVE"
    code, _ = cli.err("create-certificate-from-csr", "--certificate-signing-request", "not a csr")
    assert code == "InvalidRequestException"


def test_ca_registration_and_registered_certificates(cli):
    code1 = cli("get-registration-code")["registrationCode"]
    assert re.match(r"^[0-9a-f]{64}$", code1)
    assert cli("get-registration-code")["registrationCode"] == code1     # stable

    ca_pem, ca_key, ca_cert = make_cert("Test Root %s" % h.unique_id("ca"), ca=True)
    ver_pem, _, _ = make_cert(code1, issuer_cert=ca_cert, issuer_key=ca_key)
    # Proofs that fail: the wrong CommonName, another key, and no proof at all.
    bad_cn, _, _ = make_cert("not-the-code", issuer_cert=ca_cert, issuer_key=ca_key)
    code, _ = cli.err("register-ca-certificate", "--ca-certificate", cli.file(ca_pem),
                      "--verification-cert", cli.file(bad_cn))
    assert code == "RegistrationCodeValidationException"
    other_key = ec.generate_private_key(ec.SECP256R1())
    bad_sig, _, _ = make_cert(code1, issuer_cert=ca_cert, issuer_key=other_key)
    code, _ = cli.err("register-ca-certificate", "--ca-certificate", cli.file(ca_pem),
                      "--verification-cert", cli.file(bad_sig))
    assert code == "CertificateValidationException"
    code, _ = cli.err("register-ca-certificate", "--ca-certificate", cli.file(ca_pem))
    assert code == "InvalidRequestException"
    leaf_pem, _, _ = make_cert("just-a-leaf")
    code, _ = cli.err("register-ca-certificate", "--ca-certificate", cli.file(leaf_pem),
                      "--certificate-mode", "SNI_ONLY")
    assert code == "CertificateValidationException"        # not a CA

    out = cli("register-ca-certificate", "--ca-certificate", cli.file(ca_pem),
              "--verification-cert", cli.file(ver_pem), "--set-as-active", "--allow-auto-registration",
              "--registration-config", json.dumps({"templateBody": "{}", "roleArn": "arn:aws:iam::123456789012:role/x"}))
    ca_id = out["certificateId"]
    assert ca_id == cert_id(ca_pem) and out["certificateArn"] == ARN + "cacert/" + ca_id
    code, _ = cli.err("register-ca-certificate", "--ca-certificate", cli.file(ca_pem),
                      "--verification-cert", cli.file(ver_pem))
    assert code == "ResourceAlreadyExistsException"
    d = cli("describe-ca-certificate", "--certificate-id", ca_id)
    desc = d["certificateDescription"]
    assert desc["status"] == "ACTIVE" and desc["autoRegistrationStatus"] == "ENABLE"
    assert desc["certificateMode"] == "DEFAULT" and desc["ownedBy"] == ACCOUNT
    assert d["registrationConfig"]["roleArn"] == "arn:aws:iam::123456789012:role/x"
    assert ca_id in [c["certificateId"] for c in cli("list-ca-certificates")["certificates"]]

    # A device certificate signed by the registered CA gets its id.
    dev_pem, _, _ = make_cert("device-1", issuer_cert=ca_cert, issuer_key=ca_key)
    out = cli("register-certificate", "--certificate-pem", cli.file(dev_pem), "--set-as-active")
    dev_id = out["certificateId"]
    assert dev_id == cert_id(dev_pem) and out["certificateArn"] == ARN + "cert/" + dev_id
    desc = cli("describe-certificate", "--certificate-id", dev_id)["certificateDescription"]
    assert desc["caCertificateId"] == ca_id and desc["status"] == "ACTIVE"
    assert desc["certificateMode"] == "DEFAULT"
    by_ca = cli("list-certificates-by-ca", "--ca-certificate-id", ca_id)["certificates"]
    assert [c["certificateId"] for c in by_ca] == [dev_id]
    code, _ = cli.err("register-certificate", "--certificate-pem", cli.file(dev_pem))
    assert code == "ResourceAlreadyExistsException"
    # Naming the CA explicitly works too.
    dev2_pem, _, _ = make_cert("device-2", issuer_cert=ca_cert, issuer_key=ca_key)
    out = cli("register-certificate", "--certificate-pem", cli.file(dev2_pem),
              "--ca-certificate-pem", cli.file(ca_pem), "--status", "INACTIVE")
    assert cli("describe-certificate", "--certificate-id", out["certificateId"])[
        "certificateDescription"]["status"] == "INACTIVE"

    # Signed by no registered CA: refused, unless registered without a CA.
    stray_pem, _, _ = make_cert("stray-device")
    code, _ = cli.err("register-certificate", "--certificate-pem", cli.file(stray_pem))
    assert code == "CertificateValidationException"
    code, _ = cli.err("register-certificate-without-ca", "--certificate-pem", cli.file(stray_pem),
                      "--status", "PENDING_ACTIVATION")
    assert code == "CertificateStateException"
    out = cli("register-certificate-without-ca", "--certificate-pem", cli.file(stray_pem), "--status", "ACTIVE")
    desc = cli("describe-certificate", "--certificate-id", out["certificateId"])["certificateDescription"]
    assert desc["certificateMode"] == "SNI_ONLY" and "caCertificateId" not in desc
    assert desc["status"] == "ACTIVE"
    code, _ = cli.err("register-certificate", "--certificate-pem", cli.file("garbage"))
    assert code == "CertificateValidationException"

    # SNI_ONLY CAs need no proof.
    sni_pem, _, _ = make_cert("SNI Root %s" % h.unique_id("ca"), ca=True)
    out = cli("register-ca-certificate", "--ca-certificate", cli.file(sni_pem), "--certificate-mode", "SNI_ONLY")
    assert cli("describe-ca-certificate", "--certificate-id", out["certificateId"])[
        "certificateDescription"]["certificateMode"] == "SNI_ONLY"

    code, _ = cli.err("delete-ca-certificate", "--certificate-id", ca_id)
    assert code == "CertificateStateException"              # still ACTIVE
    cli("update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE",
        "--new-auto-registration-status", "DISABLE")
    desc = cli("describe-ca-certificate", "--certificate-id", ca_id)["certificateDescription"]
    assert desc["status"] == "INACTIVE" and desc["autoRegistrationStatus"] == "DISABLE"
    cli("delete-ca-certificate", "--certificate-id", ca_id)
    code, _ = cli.err("describe-ca-certificate", "--certificate-id", ca_id)
    assert code == "ResourceNotFoundException"

    # A deleted registration code is replaced by a new one.
    cli("delete-registration-code")
    assert cli("get-registration-code")["registrationCode"] != code1


# ---------------------------------------------------------------- policies

def test_policies_and_versions(cli):
    name = h.unique_id("pol")
    out = cli("create-policy", "--policy-name", name, "--policy-document", ALLOW_ALL)
    assert out == {"policyName": name, "policyArn": ARN + "policy/" + name,
                   "policyDocument": ALLOW_ALL, "policyVersionId": "1"}
    assert cli.err_many([
        ["create-policy", "--policy-name", name, "--policy-document", ALLOW_ALL],
        ["create-policy", "--policy-name", h.unique_id("pol"), "--policy-document", "{not json"],
        ["create-policy", "--policy-name", h.unique_id("pol"), "--policy-document",
         json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]})],
        ["create-policy", "--policy-name", "bad/name", "--policy-document", ALLOW_ALL],
        ["get-policy", "--policy-name", "no-such-policy"],
    ]) == ["ResourceAlreadyExistsException", "MalformedPolicyException", "MalformedPolicyException",
           "InvalidRequestException", "ResourceNotFoundException"]

    g = cli("get-policy", "--policy-name", name)
    assert g["policyName"] == name and g["defaultVersionId"] == "1" and g["policyDocument"] == ALLOW_ALL
    assert g["creationDate"] and g["generationId"]
    # On the wire timestamps are epoch seconds, as AWS sends them.
    raw = cli.d.rest("GET", "/policies/" + name).json()
    assert isinstance(raw["creationDate"], (int, float)) and abs(raw["creationDate"] - time.time()) < 600
    assert name in [p["policyName"] for p in cli("list-policies", "--page-size", "1")["policies"]]

    docs = [json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": ARN + "topic/v%d" % i}]}) for i in range(2, 6)]
    v = cli("create-policy-version", "--policy-name", name, "--policy-document", docs[0], "--set-as-default")
    assert v["policyVersionId"] == "2" and v["isDefaultVersion"] is True
    assert v["policyArn"] == ARN + "policy/" + name
    for i, doc in enumerate(docs[1:], start=3):
        v = cli("create-policy-version", "--policy-name", name, "--policy-document", doc)
        assert v["policyVersionId"] == str(i) and v["isDefaultVersion"] is False
    code, _ = cli.err("create-policy-version", "--policy-name", name, "--policy-document", ALLOW_ALL)
    assert code == "VersionsLimitExceededException"
    code, _ = cli.err("create-policy-version", "--policy-name", name, "--policy-document", "[]")
    assert code == "MalformedPolicyException"

    versions = cli("list-policy-versions", "--policy-name", name)["policyVersions"]
    assert [(x["versionId"], x["isDefaultVersion"]) for x in versions] == \
        [("1", False), ("2", True), ("3", False), ("4", False), ("5", False)]
    pv = cli("get-policy-version", "--policy-name", name, "--policy-version-id", "4")
    assert pv["policyDocument"] == docs[2] and pv["isDefaultVersion"] is False and pv["policyName"] == name
    code, _ = cli.err("get-policy-version", "--policy-name", name, "--policy-version-id", "9")
    assert code == "ResourceNotFoundException"

    cli("set-default-policy-version", "--policy-name", name, "--policy-version-id", "3")
    assert cli("get-policy", "--policy-name", name)["defaultVersionId"] == "3"
    code, _ = cli.err("delete-policy-version", "--policy-name", name, "--policy-version-id", "3")
    assert code == "DeleteConflictException"
    code, _ = cli.err("delete-policy", "--policy-name", name)
    assert code == "DeleteConflictException"                # versions besides the default
    for vid in ("1", "2", "4", "5"):
        cli("delete-policy-version", "--policy-name", name, "--policy-version-id", vid)
    # Version ids are never reused.
    assert cli("create-policy-version", "--policy-name", name, "--policy-document", ALLOW_ALL)["policyVersionId"] == "6"
    cli("delete-policy-version", "--policy-name", name, "--policy-version-id", "6")
    cli("delete-policy", "--policy-name", name)
    code, _ = cli.err("get-policy", "--policy-name", name)
    assert code == "ResourceNotFoundException"


def test_attachments(cli):
    cert = cli("create-keys-and-certificate")
    arn, cid = cert["certificateArn"], cert["certificateId"]
    pol, pol2 = h.unique_id("pol"), h.unique_id("pol")
    for p in (pol, pol2):
        cli("create-policy", "--policy-name", p, "--policy-document", ALLOW_ALL)

    cli("attach-policy", "--policy-name", pol, "--target", arn)
    cli("attach-policy", "--policy-name", pol, "--target", arn)          # twice is fine
    # The target is a path label with ':' and '/': botocore encodes them
    # (%3A, %2F) and signs that form.
    out = cli("list-attached-policies", "--target", arn)
    assert out["policies"] == [{"policyName": pol, "policyArn": ARN + "policy/" + pol}]
    assert cli("list-targets-for-policy", "--policy-name", pol)["targets"] == [arn]
    # The legacy principal calls (principal in x-amzn-iot-principal).
    cli("attach-principal-policy", "--policy-name", pol2, "--principal", arn)
    assert [p["policyName"] for p in cli("list-principal-policies", "--principal", arn)["policies"]] == [pol, pol2]
    assert cli("list-policy-principals", "--policy-name", pol2)["principals"] == [arn]
    got, n = pages(cli, "policies", "list-attached-policies", "--target", arn, "--page-size", "1")
    assert [p["policyName"] for p in got] == [pol, pol2] and n == 2
    cli("detach-principal-policy", "--policy-name", pol2, "--principal", arn)
    assert cli("list-policy-principals", "--policy-name", pol2)["principals"] == []

    assert cli.err_many([
        ["delete-policy", "--policy-name", pol],                                    # attached
        ["attach-policy", "--policy-name", pol, "--target", ARN + "cert/" + "0" * 64],
        ["attach-policy", "--policy-name", pol, "--target", "not-an-arn"],
        ["attach-policy", "--policy-name", "no-such-policy", "--target", arn],
        ["list-attached-policies", "--target", ARN + "cert/" + "f" * 64],
        ["attach-policy", "--policy-name", pol, "--target",
         "arn:aws:iot:eu-west-1:%s:cert/%s" % (ACCOUNT, cid)],                      # another region
    ]) == ["DeleteConflictException", "ResourceNotFoundException", "InvalidRequestException",
           "ResourceNotFoundException", "ResourceNotFoundException", "ResourceNotFoundException"]

    # Thing principals (x-amzn-principal).
    thing = h.unique_id("thing")
    cli("create-thing", "--thing-name", thing)
    cli("attach-thing-principal", "--thing-name", thing, "--principal", arn)
    assert cli("list-thing-principals", "--thing-name", thing)["principals"] == [arn]
    assert cli("list-principal-things", "--principal", arn)["things"] == [thing]
    res = cli.many([
        ["attach-thing-principal", "--thing-name", "no-such-thing", "--principal", arn],
        ["list-thing-principals", "--thing-name", "no-such-thing"],
        ["delete-thing", "--thing-name", thing],
        # DeleteCertificate: things block it; policies block it unless forced.
        ["delete-certificate", "--certificate-id", cid, "--force-delete"],
    ])
    assert [getattr(r, "code", r) for r in res] == [
        "ResourceNotFoundException", "ResourceNotFoundException", "InvalidRequestException",
        "DeleteConflictException"]
    assert "principals" in res[2].message
    cli("detach-thing-principal", "--thing-name", thing, "--principal", arn)
    assert cli("list-thing-principals", "--thing-name", thing)["principals"] == []
    assert cli("list-principal-things", "--principal", arn)["things"] == []
    code, _ = cli.err("delete-certificate", "--certificate-id", cid)
    assert code == "DeleteConflictException"
    cli("delete-certificate", "--certificate-id", cid, "--force-delete")
    assert cli("list-targets-for-policy", "--policy-name", pol)["targets"] == []
    cli("delete-policy", "--policy-name", pol)
    cli("delete-policy", "--policy-name", pol2)
    cli("delete-thing", "--thing-name", thing)

    # DetachPolicy of what is not attached succeeds.
    cert = cli("create-keys-and-certificate")
    p3 = h.unique_id("pol")
    cli("create-policy", "--policy-name", p3, "--policy-document", ALLOW_ALL)
    cli("attach-policy", "--policy-name", p3, "--target", cert["certificateArn"])
    cli("detach-policy", "--policy-name", p3, "--target", cert["certificateArn"])
    cli("detach-policy", "--policy-name", p3, "--target", cert["certificateArn"])
    assert cli("list-attached-policies", "--target", cert["certificateArn"])["policies"] == []
    cli("delete-certificate", "--certificate-id", cert["certificateId"])
    cli("delete-policy", "--policy-name", p3)


def test_describe_endpoint(cli):
    outs = cli.many([["describe-endpoint"]] + [
        ["describe-endpoint", "--endpoint-type", t]
        for t in ("iot:Data-ATS", "iot:Data", "iot:CredentialProvider", "iot:Jobs", "iot:Data-ATS", "iot:Nope")])
    assert all(o == {"endpointAddress": "localhost"} for o in outs[:-1]), outs
    assert isinstance(outs[-1], CliError) and outs[-1].code == "InvalidRequestException"


# ---------------------------------------------------------------- authentication

def _creds_file(path, key, secret):
    with open(path, "w") as f:
        f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (key, secret))
    return path


def _real_creds(d):
    text = open(os.path.join(d.data_dir, "aws-credentials")).read()
    key = re.search(r"aws_access_key_id\s*=\s*(\S+)", text).group(1)
    secret = re.search(r"aws_secret_access_key\s*=\s*(\S+)", text).group(1)
    return key, secret


def test_sigv4_refusals(mod_daemon, tmp_path):
    d = mod_daemon
    key, secret = _real_creds(d)
    wrong = Cli(d, str(tmp_path / "w"), _creds_file(str(tmp_path / "wrong"), key, secret[::-1]),
                in_process=False)
    code, _ = wrong.err("list-things")
    assert code == "InvalidSignatureException"
    # With a body too (the signature is checked again once the body is in).
    code, _ = wrong.err("create-thing", "--thing-name", "never-created",
                        "--attribute-payload", json.dumps({"attributes": {"a": "b"}}))
    assert code == "InvalidSignatureException"
    unknown = Cli(d, str(tmp_path / "u"), _creds_file(str(tmp_path / "unknown"), "AKIAUNKNOWNKEY000000", secret),
                  in_process=False)
    code, _ = unknown.err("list-things")
    assert code == "UnrecognizedClientException"
    real = Cli(d, str(tmp_path / "ok"), in_process=False)
    code, _ = real.err("describe-thing", "--thing-name", "never-created")
    assert code == "ResourceNotFoundException"
    assert real("describe-endpoint", "--endpoint-type", "iot:Data-ATS") == {"endpointAddress": "localhost"}

    # Unsigned: 403 MissingAuthenticationTokenException in AWS's shape.
    r = requests.get(d.url("/things"), timeout=10)
    assert r.status_code == 403
    assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert r.json() == {"message": "Missing Authentication Token"}
    r = requests.post(d.url("/things/sneaky"), data="{}", timeout=10)
    assert r.status_code == 403
    # The admin Bearer token works on AWS paths too (DESIGN.md).
    r = d.rest("GET", "/things")
    assert r.status_code == 200 and "things" in r.json()
    r = d.rest("GET", "/things", token="not-the-token")
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    # An unknown path or method in AWS's shape. (A path under a route
    # whose last label could hold a %2F-decoded '/' reaches that route's
    # handler instead, which refuses the name: /things/a/b is thing "a/b".)
    r = d.rest("GET", "/endpoint/nothing-here")
    assert r.status_code == 404 and r.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert r.json() == {"message": "Not Found"}
    r = d.rest("PUT", "/policies", data="")
    assert r.status_code == 404 and r.json() == {"message": "Not Found"}
    r = d.rest("GET", "/things/a/b")
    assert r.status_code == 400 and r.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    # Google routes are untouched.
    r = d.rest("GET", "/v1/projects/proj-aws/locations/us-central1/registries")
    assert r.status_code == 200


def test_signed_body_is_checked(mod_daemon):
    """A valid signature for one body does not authorize another."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    d = mod_daemon
    key, secret = _real_creds(d)
    name = h.unique_id("signed")
    url = d.url("/things/" + name)
    good = json.dumps({"attributePayload": {"attributes": {"k": "v"}}})
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=good,
                                         headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "iot", REGION).add_auth(req)
    headers = dict(req.headers.items())
    r = requests.post(url, data=good.replace('"v"', '"w"'), headers=headers, timeout=10)
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert d.rest("GET", "/things/" + name).status_code == 404       # nothing was written
    r = requests.post(url, data=good, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["thingName"] == name
    assert d.rest("DELETE", "/things/" + name).status_code == 200
