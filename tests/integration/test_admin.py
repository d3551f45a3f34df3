"""Admin REST API (Google Cloud IoT v1 shapes), its token, and the modes of
the first-start files."""
import os
import re
import stat

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

import helpers as h

P, L = "proj-admin", "us-central1"
REGS = "/v1/projects/%s/locations/%s/registries" % (P, L)


def assert_error(r, code, status):
    assert r.status_code == code, "expected %d %s, got %d %s" % (code, status, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err.get("code") == code, body
    assert err.get("status") == status, body
    assert isinstance(err.get("message"), str) and err["message"], body
    return err


# ---- authentication

@pytest.mark.parametrize("method,path", [
    ("GET", REGS),
    ("POST", REGS),
    ("GET", REGS + "/some-reg"),
    ("DELETE", REGS + "/some-reg"),
    ("GET", REGS + "/some-reg/devices"),
    ("GET", "/metrics"),
])
@pytest.mark.parametrize("auth", ["none", "wrong", "prefix", "suffix", "basic", "lowercase-scheme-wrong"])
def test_requests_without_the_token_are_refused(mod_daemon, method, path, auth):
    d = mod_daemon
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer not-the-token"},
        "prefix": {"Authorization": "Bearer " + d.token[:-1]},
        "suffix": {"Authorization": "Bearer " + d.token + "x"},
        "basic": {"Authorization": "Basic " + d.token},
        "lowercase-scheme-wrong": {"Authorization": "bearer " + d.token[::-1]},
    }[auth]
    body = {"id": "sneaky-reg"} if method == "POST" else None
    r = d.rest(method, path, json=body, token=None, headers=headers)
    if path.startswith("/v1/"):
        assert_error(r, 401, "UNAUTHENTICATED")
    else:
        assert r.status_code == 401, "%s %s: %d %s" % (method, path, r.status_code, r.text)
    # Nothing was created by a refused request.
    if method == "POST":
        assert d.rest("GET", REGS + "/sneaky-reg").status_code == 404


def test_healthz_is_open(mod_daemon):
    r = requests.get(mod_daemon.url("/healthz"), timeout=10)
    assert r.status_code == 200


def test_token_works(mod_daemon):
    r = mod_daemon.rest("GET", REGS)
    assert r.status_code == 200, r.text


# ---- files

def test_data_dir_and_secret_modes(mod_daemon):
    d = mod_daemon
    st = os.stat(d.data_dir)
    assert stat.S_IMODE(st.st_mode) == 0o700, "data_dir mode %o" % stat.S_IMODE(st.st_mode)
    for name in ("ca.key", "server.key", "admin.token", "aws-credentials"):
        p = os.path.join(d.data_dir, name)
        assert os.path.isfile(p), "%s missing from data_dir" % name
        mode = stat.S_IMODE(os.stat(p).st_mode)
        assert mode == 0o600, "%s mode %o, expected 600" % (name, mode)
    for name in ("registry.db", "ca.pem", "server.pem"):
        assert os.path.isfile(os.path.join(d.data_dir, name)), "%s missing from data_dir" % name


def _aws_secret(d):
    with open(os.path.join(d.data_dir, "aws-credentials")) as f:
        m = re.search(r"aws_secret_access_key\s*=\s*(\S+)", f.read())
    return m.group(1) if m else None


def test_log_never_contains_secrets(mod_daemon):
    d = mod_daemon
    # Exercise refusals and successes first.
    d.rest("GET", REGS, token="nope")
    d.rest("GET", REGS)
    log = d.log_text()
    assert d.token and d.token not in log, "the admin token appears in the daemon log"
    secret = _aws_secret(d)
    assert secret, "aws-credentials has no aws_secret_access_key"
    assert secret not in log, "the AWS secret appears in the daemon log"
    with open(os.path.join(d.data_dir, "ca.key")) as f:
        key_lines = [l for l in f.read().splitlines() if l and not l.startswith("-----")]
    assert key_lines and not any(l in log for l in key_lines), "CA key material in the log"


# ---- registries

def test_registry_crud(mod_daemon):
    d = mod_daemon
    rid = h.unique_id("reg")
    r = d.rest("POST", REGS, json={"id": rid})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == rid
    assert body["name"] == "projects/%s/locations/%s/registries/%s" % (P, L, rid)

    r = d.rest("GET", REGS + "/" + rid)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == rid and r.json()["name"] == body["name"]

    assert_error(d.rest("POST", REGS, json={"id": rid}), 409, "ALREADY_EXISTS")

    r = d.rest("GET", REGS)
    assert r.status_code == 200, r.text
    assert rid in [x["id"] for x in r.json().get("deviceRegistries", [])]

    r = d.rest("DELETE", REGS + "/" + rid)
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert_error(d.rest("GET", REGS + "/" + rid), 404, "NOT_FOUND")
    assert_error(d.rest("DELETE", REGS + "/" + rid), 404, "NOT_FOUND")


def test_registries_are_scoped_by_project_and_location(mod_daemon):
    d = mod_daemon
    rid = h.unique_id("reg")
    assert d.rest("POST", REGS, json={"id": rid}).status_code == 200
    assert d.rest("GET", "/v1/projects/other-proj/locations/%s/registries/%s" % (L, rid)).status_code == 404
    assert d.rest("GET", "/v1/projects/%s/locations/europe-west1/registries/%s" % (P, rid)).status_code == 404
    # Same id in another project is a different registry.
    r = d.rest("POST", "/v1/projects/other-proj/locations/%s/registries" % L, json={"id": rid})
    assert r.status_code == 200, r.text


def test_registry_delete_while_not_empty(mod_daemon):
    d = mod_daemon
    rid = h.unique_id("reg")
    assert d.rest("POST", REGS, json={"id": rid}).status_code == 200
    dev = d.new_device(project=P, location=L, registry=rid)
    assert_error(d.rest("DELETE", REGS + "/" + rid), 400, "FAILED_PRECONDITION")
    assert d.rest("GET", REGS + "/" + rid).status_code == 200
    assert d.rest("DELETE", REGS + "/%s/devices/%s" % (rid, dev.id)).status_code == 200
    assert d.rest("DELETE", REGS + "/" + rid).status_code == 200


# ---- devices

def _dev_body(did, key=None, fmt="ES256_PEM"):
    key = key or h.ec_key()
    return {"id": did, "credentials": [{"publicKey": {"format": fmt, "key": h.credential_pem(key, fmt)}}]}


@pytest.fixture(scope="module")
def reg(mod_daemon):
    rid = h.unique_id("reg")
    r = mod_daemon.rest("POST", REGS, json={"id": rid})
    assert r.status_code == 200, r.text
    return REGS + "/" + rid


def test_device_crud(mod_daemon, reg):
    d = mod_daemon
    did = h.unique_id("dev")
    r = d.rest("POST", reg + "/devices", json=_dev_body(did))
    assert r.status_code == 200, r.text
    dev = r.json()
    assert dev["id"] == did
    num = dev["numId"]
    assert isinstance(num, str) and re.fullmatch(r"[1-9][0-9]*", num), "numId %r is not a string of digits" % num
    assert int(num) < 2 ** 64
    assert dev["name"] == reg.lstrip("/").replace("v1/", "", 1) + "/devices/" + num, dev["name"]
    assert dev["credentials"][0]["publicKey"]["format"] == "ES256_PEM"

    by_id = d.rest("GET", reg + "/devices/" + did)
    assert by_id.status_code == 200, by_id.text
    by_num = d.rest("GET", reg + "/devices/" + num)
    assert by_num.status_code == 200, by_num.text
    assert by_id.json()["numId"] == by_num.json()["numId"] == num
    assert by_id.json()["id"] == by_num.json()["id"] == did
    assert by_id.json().get("blocked", False) is False

    assert_error(d.rest("POST", reg + "/devices", json=_dev_body(did)), 409, "ALREADY_EXISTS")

    r = d.rest("GET", reg + "/devices")
    assert r.status_code == 200, r.text
    listed = {x["id"]: x for x in r.json().get("devices", [])}
    assert did in listed and listed[did]["numId"] == num

    r = d.rest("DELETE", reg + "/devices/" + num)
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert_error(d.rest("GET", reg + "/devices/" + did), 404, "NOT_FOUND")
    assert_error(d.rest("DELETE", reg + "/devices/" + did), 404, "NOT_FOUND")


def test_num_ids_are_unique(mod_daemon, reg):
    d = mod_daemon
    nums = set()
    for _ in range(10):
        r = d.rest("POST", reg + "/devices", json=_dev_body(h.unique_id("dev")))
        assert r.status_code == 200, r.text
        nums.add(r.json()["numId"])
    assert len(nums) == 10


def test_device_in_missing_registry(mod_daemon):
    r = mod_daemon.rest("POST", REGS + "/no-such-reg/devices", json=_dev_body("dev-x1"))
    assert_error(r, 404, "NOT_FOUND")


def test_blocked_and_expiration_round_trip(mod_daemon, reg):
    d = mod_daemon
    did = h.unique_id("dev")
    body = _dev_body(did)
    body["blocked"] = True
    body["credentials"][0]["expirationTime"] = "2031-02-03T04:05:06Z"
    r = d.rest("POST", reg + "/devices", json=body)
    assert r.status_code == 200, r.text
    got = d.rest("GET", reg + "/devices/" + did).json()
    assert got["blocked"] is True
    assert got["credentials"][0]["expirationTime"] == "2031-02-03T04:05:06Z"


@pytest.mark.parametrize("did", ["abc", "a" * 255, "d.e_f~g%h-1", "Dev-UPPER"])
def test_valid_ids_accepted(mod_daemon, reg, did):
    r = mod_daemon.rest("POST", reg + "/devices", json=_dev_body(did))
    assert r.status_code == 200, r.text
    assert mod_daemon.rest("GET", reg + "/devices/" + did).status_code == 200


BAD_IDS = ["ab", "a" * 256, "1abc", "-abc", "dev+1", "dev#1", "dev/1", "goog-dev", "GOOGdev", "dev 1", "dév1", ""]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_device_id(mod_daemon, reg, bad):
    assert_error(mod_daemon.rest("POST", reg + "/devices", json=_dev_body(bad)), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_registry_id(mod_daemon, bad):
    assert_error(mod_daemon.rest("POST", REGS, json={"id": bad}), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("project,location", [("bad+proj", L), (P, "bad+loc")])
def test_topic_wildcards_in_project_or_location(mod_daemon, project, location):
    r = mod_daemon.rest("POST", "/v1/projects/%s/locations/%s/registries" % (project, location),
                        json={"id": h.unique_id("reg")})
    assert_error(r, 400, "INVALID_ARGUMENT")


def _cred(key_pem, fmt):
    return {"publicKey": {"format": fmt, "key": key_pem}}


BAD_DEVICE_BODIES = {
    "unknown-format": lambda did: {"id": did, "credentials": [_cred(h.public_pem(h.ec_key()), "FOO_PEM")]},
    "rsa-1024": lambda did: {"id": did, "credentials": [_cred(h.public_pem(h.rsa_key(9, 1024)), "RSA_PEM")]},
    "ec-p384": lambda did: {"id": did, "credentials": [_cred(h.public_pem(h.ec_key(ec.SECP384R1())),
                                                             "ES256_PEM")]},
    "ec-p384-x509": lambda did: {"id": did, "credentials": [
        _cred(h.self_signed_pem(h.ec_key(ec.SECP384R1())), "ES256_X509_PEM")]},
    "key-does-not-parse": lambda did: {"id": did, "credentials": [
        _cred("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n", "ES256_PEM")]},
    "not-pem-at-all": lambda did: {"id": did, "credentials": [_cred("hello", "RSA_PEM")]},
    "rsa-key-as-es256": lambda did: {"id": did, "credentials": [_cred(h.public_pem(h.rsa_key(0)), "ES256_PEM")]},
    "ec-key-as-rsa": lambda did: {"id": did, "credentials": [_cred(h.public_pem(h.ec_key()), "RSA_PEM")]},
    "key-as-x509": lambda did: {"id": did, "credentials": [_cred(h.public_pem(h.ec_key()), "ES256_X509_PEM")]},
    "four-credentials": lambda did: {"id": did, "credentials": [
        _cred(h.public_pem(h.ec_key()), "ES256_PEM") for _ in range(4)]},
    "credentials-not-a-list": lambda did: {"id": did, "credentials": {"publicKey": {}}},
    "id-not-a-string": lambda did: {"id": 12345},
    "missing-id": lambda did: {"credentials": []},
    "bad-expiration": lambda did: {"id": did, "credentials": [
        dict(_cred(h.public_pem(h.ec_key()), "ES256_PEM"), expirationTime="tomorrow")]},
    "blocked-not-bool": lambda did: {"id": did, "blocked": "yes"},
}


@pytest.mark.parametrize("case", sorted(BAD_DEVICE_BODIES))
def test_bad_device_body(mod_daemon, reg, case):
    d = mod_daemon
    did = h.unique_id("dev")
    assert_error(d.rest("POST", reg + "/devices", json=BAD_DEVICE_BODIES[case](did)), 400, "INVALID_ARGUMENT")
    assert d.rest("GET", reg + "/devices/" + did).status_code == 404, "refused device was stored"


@pytest.mark.parametrize("raw", ['{"id": ', "not json", "[1, 2]", '"just a string"', ""])
def test_bad_json(mod_daemon, reg, raw):
    d = mod_daemon
    r = d.rest("POST", reg + "/devices", data=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_ARGUMENT")
    r = d.rest("POST", REGS, data=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_ARGUMENT")


def test_three_credentials_allowed(mod_daemon, reg):
    did = h.unique_id("dev")
    body = {"id": did, "credentials": [_cred(h.public_pem(h.ec_key()), "ES256_PEM"),
                                       _cred(h.public_pem(h.rsa_key(0)), "RSA_PEM"),
                                       _cred(h.self_signed_pem(h.ec_key()), "ES256_X509_PEM")]}
    r = mod_daemon.rest("POST", reg + "/devices", json=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["credentials"]) == 3


def test_unknown_route_is_404_with_envelope(mod_daemon):
    r = mod_daemon.rest("GET", "/v1/projects/%s/nothing-here" % P)
    assert_error(r, 404, "NOT_FOUND")
