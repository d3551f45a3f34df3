"""AWS IoT provisioning templates on the admin port, driven by Debian's
real AWS CLI (/usr/bin/aws, botocore underneath; the Cli wrapper of
test_aws_control.py, which runs the CLI's own entry point in this
interpreter, and once /usr/bin/aws as a process): Create, Describe, List,
Update and DeleteProvisioningTemplate, the version calls (Create,
Describe, List, DeleteProvisioningTemplateVersion) with AWS's rules (at
most 5 versions, ids never reused, the default version cannot be
deleted), paging, and the validation and not-found errors. A few raw
replies are read over HTTP to check the wire types the CLI hides."""
import datetime
import json
import os
import time

import pytest

import helpers as h
from test_aws_control import ACCOUNT, AWS, REGION, Cli, CliError

ARN = "arn:aws:iot:%s:%s:provisioningtemplate/" % (REGION, ACCOUNT)
ROLE = "arn:aws:iam::%s:role/IoTProvisioningRole" % ACCOUNT
HOOK = {"payloadVersion": "2020-04-01",
        "targetArn": "arn:aws:lambda:%s:%s:function:pre-provision" % (REGION, ACCOUNT)}

pytestmark = [
    pytest.mark.skipif(not os.access(AWS, os.X_OK), reason="Debian's awscli (/usr/bin/aws) is not installed"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def body(serial_param="SerialNumber", extra=None):
    """A fleet provisioning template body in AWS's documented shape."""
    b = {
        "Parameters": {serial_param: {"Type": "String"},
                       "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing",
                      "Properties": {"ThingName": {"Fn::Join": ["", ["dev_", {"Ref": serial_param}]]}}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                           "Status": "Active"}},
        },
    }
    if extra:
        b["Resources"].update(extra)
    return json.dumps(b)


def name():
    # TemplateName: [0-9A-Za-z_-]{1,36}; unique_id's form fits.
    return h.unique_id("tmpl")


def ts(s):
    return datetime.datetime.fromisoformat(s)


@pytest.fixture(scope="module")
def cli(mod_daemon, tmp_path_factory):
    return Cli(mod_daemon, str(tmp_path_factory.mktemp("awscli")))


def create(cli, n, *extra, tbody=None):
    return cli("create-provisioning-template", "--template-name", n,
               "--template-body", tbody or body(), "--provisioning-role-arn", ROLE, *extra)


# ---------------------------------------------------------------- templates

def test_template_create_describe_update_delete(cli):
    n = name()
    tb = body()
    out = create(cli, n, "--description", "fleet claim template", "--enabled",
                 "--pre-provisioning-hook", json.dumps(HOOK),
                 "--tags", json.dumps([{"Key": "team", "Value": "edge"}]), tbody=tb)
    assert out == {"templateArn": ARN + n, "templateName": n, "defaultVersionId": 1}

    d = cli("describe-provisioning-template", "--template-name", n)
    created = d.pop("creationDate")
    modified = d.pop("lastModifiedDate")
    assert ts(created) == ts(modified)
    assert d == {"templateArn": ARN + n, "templateName": n, "description": "fleet claim template",
                 "defaultVersionId": 1, "templateBody": tb, "enabled": True,
                 "provisioningRoleArn": ROLE, "preProvisioningHook": HOOK,
                 "type": "FLEET_PROVISIONING"}

    # The name is taken, whatever the rest says.
    code, msg = cli.err("create-provisioning-template", "--template-name", n,
                        "--template-body", body("Other"), "--provisioning-role-arn", ROLE)
    assert code == "ResourceAlreadyExistsException"
    assert msg == "Template with name %s already exists" % n

    listed = {t["templateName"]: t for t in cli("list-provisioning-templates")["templates"]}
    t = listed[n]
    assert t["templateArn"] == ARN + n and t["description"] == "fleet claim template"
    assert t["enabled"] is True and t["type"] == "FLEET_PROVISIONING"
    assert ts(t["creationDate"]) == ts(created) and "templateBody" not in t

    # Update: settings change, the body (the default version) does not.
    time.sleep(0.01)
    role2 = ROLE + "2"
    assert cli("update-provisioning-template", "--template-name", n, "--description", "v2",
               "--no-enabled", "--provisioning-role-arn", role2,
               "--remove-pre-provisioning-hook") == {}
    d = cli("describe-provisioning-template", "--template-name", n)
    assert d["description"] == "v2" and d["enabled"] is False
    assert d["provisioningRoleArn"] == role2 and "preProvisioningHook" not in d
    assert d["templateBody"] == tb and d["defaultVersionId"] == 1
    assert ts(d["lastModifiedDate"]) > ts(modified) and ts(d["creationDate"]) == ts(created)
    # An update without fields keeps everything; a hook comes back.
    cli("update-provisioning-template", "--template-name", n)
    hook2 = {"targetArn": HOOK["targetArn"] + "-2"}
    cli("update-provisioning-template", "--template-name", n, "--pre-provisioning-hook",
        json.dumps(hook2), "--enabled")
    d = cli("describe-provisioning-template", "--template-name", n)
    assert d["preProvisioningHook"] == hook2 and d["enabled"] is True and d["description"] == "v2"

    assert cli("delete-provisioning-template", "--template-name", n) == {}
    codes = cli.err_many([
        ["describe-provisioning-template", "--template-name", n],
        ["delete-provisioning-template", "--template-name", n],
        ["update-provisioning-template", "--template-name", n, "--enabled"],
        ["list-provisioning-template-versions", "--template-name", n],
    ])
    assert codes == ["ResourceNotFoundException"] * 4
    assert n not in [t["templateName"] for t in cli("list-provisioning-templates")["templates"]]


def test_template_defaults_and_jitp(cli):
    n = name()
    create(cli, n)
    d = cli("describe-provisioning-template", "--template-name", n)
    # Not enabled unless asked; FLEET_PROVISIONING; no description, no hook.
    assert d["enabled"] is False and d["type"] == "FLEET_PROVISIONING"
    assert "description" not in d and "preProvisioningHook" not in d

    j = name()
    jitp = json.dumps({"Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"}},
                       "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {
                           "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}}}})
    assert create(cli, j, "--type", "JITP", "--enabled", tbody=jitp)["defaultVersionId"] == 1
    d = cli("describe-provisioning-template", "--template-name", j)
    assert d["type"] == "JITP" and d["templateBody"] == jitp and d["enabled"] is True
    # A pre-provisioning hook is for FLEET_PROVISIONING templates only.
    code, _ = cli.err("update-provisioning-template", "--template-name", j,
                      "--pre-provisioning-hook", json.dumps(HOOK))
    assert code == "InvalidRequestException"
    code, _ = cli.err("create-provisioning-template", "--template-name", name(), "--type", "JITP",
                      "--template-body", jitp, "--provisioning-role-arn", ROLE,
                      "--pre-provisioning-hook", json.dumps(HOOK))
    assert code == "InvalidRequestException"
    cli.ok_many([["delete-provisioning-template", "--template-name", x] for x in (n, j)])


# ---------------------------------------------------------------- versions

def test_template_versions(cli):
    n = name()
    create(cli, n)
    bodies = {1: body()}
    # Versions 2..5, none the default; the sixth is refused.
    for v in range(2, 6):
        bodies[v] = body("Serial%d" % v)
        out = cli("create-provisioning-template-version", "--template-name", n,
                  "--template-body", bodies[v])
        assert out == {"templateArn": ARN + n, "templateName": n, "versionId": v,
                       "isDefaultVersion": False}
    code, msg = cli.err("create-provisioning-template-version", "--template-name", n,
                        "--template-body", body("Six"), "--set-as-default")
    assert code == "VersionsLimitExceededException", msg
    assert cli("describe-provisioning-template", "--template-name", n)["defaultVersionId"] == 1

    versions = cli("list-provisioning-template-versions", "--template-name", n)["versions"]
    assert [(x["versionId"], x["isDefaultVersion"]) for x in versions] == \
        [(1, True), (2, False), (3, False), (4, False), (5, False)]
    assert all(x["creationDate"] for x in versions)
    v3 = cli("describe-provisioning-template-version", "--template-name", n, "--version-id", "3")
    assert v3["versionId"] == 3 and v3["templateBody"] == bodies[3]
    assert v3["isDefaultVersion"] is False and v3["creationDate"]

    # The default moves with UpdateProvisioningTemplate; the body follows it.
    cli("update-provisioning-template", "--template-name", n, "--default-version-id", "3")
    d = cli("describe-provisioning-template", "--template-name", n)
    assert d["defaultVersionId"] == 3 and d["templateBody"] == bodies[3]
    assert cli("describe-provisioning-template-version", "--template-name", n,
               "--version-id", "3")["isDefaultVersion"] is True
    code, _ = cli.err("delete-provisioning-template-version", "--template-name", n,
                      "--version-id", "3")
    assert code == "DeleteConflictException"

    # Ids are never reused: deleting 5 frees a slot, the next one is 6.
    assert cli("delete-provisioning-template-version", "--template-name", n, "--version-id", "5") == {}
    out = cli("create-provisioning-template-version", "--template-name", n,
              "--template-body", bodies[1], "--set-as-default")
    assert out["versionId"] == 6 and out["isDefaultVersion"] is True
    d = cli("describe-provisioning-template", "--template-name", n)
    assert d["defaultVersionId"] == 6 and d["templateBody"] == bodies[1]
    codes = cli.err_many([
        ["describe-provisioning-template-version", "--template-name", n, "--version-id", "5"],
        ["delete-provisioning-template-version", "--template-name", n, "--version-id", "5"],
        ["delete-provisioning-template-version", "--template-name", n, "--version-id", "99"],
        ["update-provisioning-template", "--template-name", n, "--default-version-id", "5"],
        ["describe-provisioning-template-version", "--template-name", "no-such-template",
         "--version-id", "1"],
        ["create-provisioning-template-version", "--template-name", "no-such-template",
         "--template-body", body()],
        ["describe-provisioning-template-version", "--template-name", n, "--version-id", "0"],
        ["create-provisioning-template-version", "--template-name", n, "--template-body", "{}"],
    ])
    assert codes == ["ResourceNotFoundException"] * 6 + ["InvalidRequestException"] * 2
    assert cli("describe-provisioning-template", "--template-name", n)["defaultVersionId"] == 6
    assert [x["versionId"] for x in cli("list-provisioning-template-versions",
                                        "--template-name", n)["versions"]] == [1, 2, 3, 4, 6]

    # A template goes with all its versions (no DeleteConflict for versions).
    cli("delete-provisioning-template", "--template-name", n)
    create(cli, n)
    assert [x["versionId"] for x in cli("list-provisioning-template-versions",
                                        "--template-name", n)["versions"]] == [1]
    cli("delete-provisioning-template", "--template-name", n)


def test_paging(cli):
    names = [name() for _ in range(5)]
    for n in names:                     # one at a time: the listing order is creation order
        create(cli, n)
    # --page-size makes the CLI follow nextToken (maxResults) over 3 requests.
    got = [t["templateName"] for t in cli("list-provisioning-templates", "--page-size", "2")["templates"]]
    assert [x for x in got if x in names] == names
    first = cli("list-provisioning-templates", "--max-items", "2")
    assert len(first["templates"]) == 2 and first.get("NextToken")
    rest = cli("list-provisioning-templates", "--starting-token", first["NextToken"])
    assert [t["templateName"] for t in first["templates"] + rest["templates"]] == got

    n = names[0]
    for i in range(3):
        cli("create-provisioning-template-version", "--template-name", n, "--template-body", body("P%d" % i))
    vs = cli("list-provisioning-template-versions", "--template-name", n, "--page-size", "1")["versions"]
    assert [v["versionId"] for v in vs] == [1, 2, 3, 4]
    first = cli("list-provisioning-template-versions", "--template-name", n, "--max-items", "3")
    assert [v["versionId"] for v in first["versions"]] == [1, 2, 3] and first.get("NextToken")
    rest = cli("list-provisioning-template-versions", "--template-name", n,
               "--starting-token", first["NextToken"])
    assert [v["versionId"] for v in rest["versions"]] == [4]

    codes = cli.err_many([
        ["list-provisioning-templates", "--max-results", "251"],
        ["list-provisioning-templates", "--max-results", "0"],
    ])
    assert codes[0] == "InvalidRequestException"
    assert codes[1] in ("InvalidRequestException", "ParamValidation")
    cli.ok_many([["delete-provisioning-template", "--template-name", x] for x in names])


# ---------------------------------------------------------------- validation

def test_validation(cli):
    long_body = body(extra={"pad": {"Type": "AWS::IoT::Thing", "Properties": {"x": "y" * 10240}}})
    hook_no_target = {"payloadVersion": "2020-04-01"}
    codes = cli.err_many([
        # Names: [0-9A-Za-z_-]{1,36}.
        ["create-provisioning-template", "--template-name", "has space", "--template-body", body(),
         "--provisioning-role-arn", ROLE],
        ["create-provisioning-template", "--template-name", "x" * 37, "--template-body", body(),
         "--provisioning-role-arn", ROLE],
        ["create-provisioning-template", "--template-name", "dot.ted", "--template-body", body(),
         "--provisioning-role-arn", ROLE],
        # Bodies: a JSON object with a Resources object, at most 10240 bytes.
        ["create-provisioning-template", "--template-name", name(), "--template-body", "{not json",
         "--provisioning-role-arn", ROLE],
        ["create-provisioning-template", "--template-name", name(), "--template-body", "[]",
         "--provisioning-role-arn", ROLE],
        ["create-provisioning-template", "--template-name", name(),
         "--template-body", json.dumps({"Parameters": {}}), "--provisioning-role-arn", ROLE],
        ["create-provisioning-template", "--template-name", name(),
         "--template-body", json.dumps({"Resources": []}), "--provisioning-role-arn", ROLE],
        ["create-provisioning-template", "--template-name", name(),
         "--template-body", cli.file(long_body, ".json"), "--provisioning-role-arn", ROLE],
        # Type, description, hook.
        ["create-provisioning-template", "--template-name", name(), "--template-body", body(),
         "--provisioning-role-arn", ROLE, "--type", "BULK"],
        ["create-provisioning-template", "--template-name", name(), "--template-body", body(),
         "--provisioning-role-arn", ROLE, "--description", "bell\x07"],
        ["create-provisioning-template", "--template-name", name(), "--template-body", body(),
         "--provisioning-role-arn", ROLE, "--description", "d" * 501],
        ["create-provisioning-template", "--template-name", name(), "--template-body", body(),
         "--provisioning-role-arn", ROLE, "--pre-provisioning-hook",
         json.dumps(dict(HOOK, payloadVersion="2020_04_01"))],
        # Lookups by a bad name; a '/' travels as %2F and is refused as AWS refuses it.
        ["describe-provisioning-template", "--template-name", "a/b"],
        ["describe-provisioning-template", "--template-name", "y" * 37],
        ["delete-provisioning-template-version", "--template-name", "a.b", "--version-id", "1"],
    ])
    assert codes == ["InvalidRequestException"] * 15
    # botocore refuses these itself (required members, minimum lengths).
    local = cli.err_many([
        ["create-provisioning-template", "--template-name", name(), "--template-body", body(),
         "--provisioning-role-arn", "arn:short"],
        ["create-provisioning-template", "--template-name", name(), "--template-body", body(),
         "--provisioning-role-arn", ROLE, "--pre-provisioning-hook", json.dumps(hook_no_target)],
    ])
    assert local == ["ParamValidation"] * 2
    # Nothing was created by any of them.
    assert not [t for t in cli("list-provisioning-templates")["templates"]
                if t["templateName"] in ("has space", "dot.ted")]

    n = name()
    create(cli, n, "--pre-provisioning-hook", json.dumps(HOOK))
    codes = cli.err_many([
        ["update-provisioning-template", "--template-name", n, "--pre-provisioning-hook",
         json.dumps(HOOK), "--remove-pre-provisioning-hook"],
        ["update-provisioning-template", "--template-name", n, "--description", "tab\there"],
        ["update-provisioning-template", "--template-name", n, "--default-version-id", "-1"],
    ])
    assert codes == ["InvalidRequestException"] * 3
    d = cli("describe-provisioning-template", "--template-name", n)
    assert d["preProvisioningHook"] == HOOK and "description" not in d
    # A body at exactly the limit is fine.
    edge = json.loads(body())
    edge["DeviceConfiguration"] = {"pad": ""}
    pad = 10240 - len(json.dumps(edge))
    edge["DeviceConfiguration"]["pad"] = "p" * pad
    edge_text = json.dumps(edge)
    assert len(edge_text) == 10240
    out = cli("create-provisioning-template-version", "--template-name", n,
              "--template-body", cli.file(edge_text, ".json"))
    assert cli("describe-provisioning-template-version", "--template-name", n, "--version-id",
               str(out["versionId"]))["templateBody"] == edge_text
    cli("delete-provisioning-template", "--template-name", n)


# ---------------------------------------------------------------- the wire

def test_raw_replies(mod_daemon):
    """The JSON on the wire: integers for version ids, epoch seconds for
    dates, AWS's error header; the page token as the service returns it."""
    d = mod_daemon
    n = name()
    r = d.rest("POST", "/provisioning-templates",
               json={"templateName": n, "templateBody": body(), "provisioningRoleArn": ROLE})
    assert r.status_code == 200, r.text
    assert r.json() == {"templateArn": ARN + n, "templateName": n, "defaultVersionId": 1}
    got = d.rest("GET", "/provisioning-templates/" + n).json()
    assert isinstance(got["creationDate"], (int, float)) and got["creationDate"] > 1.6e9
    assert got["defaultVersionId"] == 1 and got["enabled"] is False
    r = d.rest("POST", "/provisioning-templates/%s/versions?setAsDefault=true" % n,
               json={"templateBody": body("S2")})
    assert r.json()["versionId"] == 2 and r.json()["isDefaultVersion"] is True
    r = d.rest("GET", "/provisioning-templates/%s/versions?maxResults=1" % n)
    assert r.json()["versions"][0]["versionId"] == 1 and r.json()["nextToken"]
    r2 = d.rest("GET", "/provisioning-templates/%s/versions?maxResults=1&nextToken=%s"
                % (n, r.json()["nextToken"]))
    assert [v["versionId"] for v in r2.json()["versions"]] == [2] and "nextToken" not in r2.json()

    for method, path, payload, status, etype in [
        ("GET", "/provisioning-templates/no-such", None, 404, "ResourceNotFoundException"),
        ("GET", "/provisioning-templates/%s/versions/abc" % n, None, 400, "InvalidRequestException"),
        ("GET", "/provisioning-templates?nextToken=notatoken", None, 400, "InvalidRequestException"),
        ("POST", "/provisioning-templates", {"templateName": n, "templateBody": body()}, 400,
         "InvalidRequestException"),        # provisioningRoleArn is required
        ("POST", "/provisioning-templates", {"templateName": n, "templateBody": body(),
                                             "provisioningRoleArn": ROLE}, 409,
         "ResourceAlreadyExistsException"),
        ("PATCH", "/provisioning-templates/" + n, {"enabled": "yes"}, 400, "InvalidRequestException"),
        ("DELETE", "/provisioning-templates/%s/versions/2" % n, None, 409, "DeleteConflictException"),
    ]:
        r = d.rest(method, path, json=payload)
        assert r.status_code == status, (method, path, r.text)
        assert r.headers["x-amzn-ErrorType"] == etype
        assert r.json()["message"]
    r = d.rest("POST", "/provisioning-templates", json={"templateName": n, "templateBody": body(),
                                                        "provisioningRoleArn": ROLE})
    assert r.json()["resourceId"] == n and r.json()["resourceArn"] == ARN + n
    assert d.rest("DELETE", "/provisioning-templates/" + n).status_code == 200


def test_cli_binary(mod_daemon, tmp_path):
    """/usr/bin/aws itself, as a process, for one round trip."""
    cli = Cli(mod_daemon, str(tmp_path / "bin"), in_process=False)
    n = name()
    assert create(cli, n, "--enabled")["templateArn"] == ARN + n
    out = cli("create-provisioning-template-version", "--template-name", n,
              "--template-body", body("Bin"), "--set-as-default")
    assert out["versionId"] == 2 and out["isDefaultVersion"] is True
    d = cli("describe-provisioning-template", "--template-name", n)
    assert d["defaultVersionId"] == 2 and d["enabled"] is True
    cli("delete-provisioning-template-version", "--template-name", n, "--version-id", "1")
    cli("delete-provisioning-template", "--template-name", n)
    err = cli._result(["describe-provisioning-template", "--template-name", n])
    assert isinstance(err, CliError) and err.code == "ResourceNotFoundException"
