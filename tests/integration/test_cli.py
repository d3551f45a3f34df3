"""iotcorectl (cli/) against a real daemon: a full provisioning flow through
the built binary, checked on the admin REST API and by devices connecting
over MQTT with the keys the CLI registered; the exit codes and error lines
scripts rely on (0 success, 1 API error, 2 usage, 3 connection).

The binary comes from IOTCORECTL_BIN (meson sets it), else
$IOTCORED_SOURCE_ROOT/build/cli/iotcorectl; the tests skip when neither
exists and fail when IOTCORECTL_BIN names no executable.

The verbs that reach live devices or span resources (configs update,
commands send, gateways bind/unbind, devices import) run against the routes
tested in depth by test_admin_google.py.
"""
import base64
import json
import os
import re
import subprocess

import pytest

import helpers as h

P, L = "proj-cli", "us-central1"
ERR = "ERROR: (iotcorectl) "


@pytest.fixture(scope="session")
def ctl_bin():
    b = os.environ.get("IOTCORECTL_BIN") or os.path.join(
        os.environ.get("IOTCORED_SOURCE_ROOT", "."), "build", "cli", "iotcorectl")
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        if os.environ.get("IOTCORECTL_BIN"):
            pytest.fail("IOTCORECTL_BIN=%s is not an executable file" % b)
        pytest.skip("iotcorectl binary not found at %s (set IOTCORECTL_BIN)" % b)
    return b


class Ctl:
    """Runs iotcorectl against one daemon, with an environment free of the
    caller's IOTCORED_* variables and a working directory without an
    ./iotcored-data, so only what a test passes is in effect."""

    def __init__(self, binary, daemon, cwd):
        self.binary, self.d, self.cwd = binary, daemon, str(cwd)

    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("IOTCORED_")}
        e.update(extra or {})
        return e

    def raw(self, *args, env=None):
        """The binary with exactly these arguments."""
        return subprocess.run([self.binary] + list(args), cwd=self.cwd, env=self.env(env),
                              capture_output=True, text=True, timeout=60 * h.SCALE)

    def __call__(self, *args, env=None, project=P):
        """With --endpoint, --token and --project of the daemon."""
        base = ["--endpoint", self.d.url(""), "--token", self.d.token]
        if project is not None:
            base += ["--project", project]
        return self.raw(*(base + list(args)), env=env)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.returncode == 0, "iotcorectl %s: rc=%d\nstdout: %s\nstderr: %s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def json(self, *args, **kw):
        return json.loads(self.ok(*(list(args) + ["--format=json"]), **kw).stdout)


@pytest.fixture
def ctl(ctl_bin, mod_daemon, tmp_path):
    return Ctl(ctl_bin, mod_daemon, tmp_path)


def table(text):
    """Rows of an aligned table as lists of cells, checking the alignment:
    every cell of a row starts at its header's column."""
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines, "no table in %r" % text
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    rows = []
    for line in lines:
        cells = [m.group() for m in re.finditer(r"\S+", line)]
        got = [m.start() for m in re.finditer(r"\S+", line)]
        # A blank last cell (DEVICE_ACK_TIME never set) shortens the row.
        assert got == starts[:len(got)], "misaligned row %r under %r" % (line, lines[0])
        rows.append(cells)
    return rows


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def rest_ok(d, method, path, body=None):
    r = d.rest(method, path, json=body)
    assert r.status_code == 200, "%s %s: %d %s" % (method, path, r.status_code, r.text)
    return r.json()


REGS = h.Daemon.reg_path(P, L)


# ---------------------------------------------------------------- provisioning flow

def test_registry_lifecycle(ctl, tmp_path):
    d = ctl.d
    reg = h.unique_id("clireg")
    r = ctl.ok("registries", "create", reg)
    assert r.stderr.strip() == "Created registry [%s]." % reg
    assert r.stdout == ""
    assert rest_ok(d, "GET", REGS + "/" + reg)["id"] == reg

    reg2 = h.unique_id("clireg")
    ctl.ok("registries", "create", reg2, "--no-enable-http-config",
           "--event-notification-config", "topic=events-a,subfolder=alerts",
           "--state-pubsub-topic", "projects/other/topics/states", "--log-level", "info")
    got = rest_ok(d, "GET", REGS + "/" + reg2)
    assert got["httpConfig"] == {"httpEnabledState": "HTTP_DISABLED"}
    assert got["eventNotificationConfigs"] == [
        {"pubsubTopicName": "projects/%s/topics/events-a" % P, "subfolderMatches": "alerts"}]
    assert got["stateNotificationConfig"] == {"pubsubTopicName": "projects/other/topics/states"}
    assert got["logLevel"] == "INFO"

    # The table: gcloud's columns, aligned.
    rows = table(ctl.ok("registries", "list").stdout)
    assert rows[0] == ["ID", "LOCATION", "MQTT_ENABLED", "HTTP_ENABLED"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id[reg] == [reg, L, "MQTT_ENABLED", "HTTP_ENABLED"]
    assert by_id[reg2] == [reg2, L, "MQTT_ENABLED", "HTTP_DISABLED"]

    # JSON: the API's resources, every page of them (one per page here).
    listed = ctl.json("registries", "list", "--page-size", "1")
    assert isinstance(listed, list)
    ids = [x["id"] for x in listed]
    assert reg in ids and reg2 in ids and len(ids) == len(set(ids))
    assert ids == [x["id"] for x in rest_ok(d, "GET", REGS + "?pageSize=500")["deviceRegistries"]]

    desc = ctl.json("registries", "describe", reg2)
    assert desc == got
    # describe without --format prints the resource as JSON too.
    assert json.loads(ctl.ok("registries", "describe", reg2).stdout) == got

    r = ctl.ok("registries", "update", reg2, "--enable-http-config", "--log-level", "debug")
    assert r.stderr.strip() == "Updated registry [%s]." % reg2
    got = rest_ok(d, "GET", REGS + "/" + reg2)
    assert got["httpConfig"] == {"httpEnabledState": "HTTP_ENABLED"}
    assert got["logLevel"] == "DEBUG"
    # Fields not named by a flag are not in the updateMask, so they stay.
    assert got["eventNotificationConfigs"][0]["subfolderMatches"] == "alerts"

    for rid in (reg, reg2):
        r = ctl.ok("registries", "delete", rid)
        assert r.stderr.strip() == "Deleted registry [%s]." % rid
        assert d.rest("GET", REGS + "/" + rid).status_code == 404
    ids = [x["id"] for x in ctl.json("registries", "list")]
    assert reg not in ids and reg2 not in ids


def test_device_lifecycle(ctl, tmp_path):
    d = ctl.d
    reg = h.unique_id("clireg")
    ctl.ok("registries", "create", reg)
    ec_key, rsa_key = h.ec_key(), h.rsa_key(1)
    ec_pub = write(tmp_path, "ec_public.pem", h.public_pem(ec_key))
    rsa_pub = write(tmp_path, "rsa_public.pem", h.public_pem(rsa_key))
    rsa_cert = write(tmp_path, "rsa_cert.pem", h.self_signed_pem(rsa_key))

    r = ctl.ok("devices", "create", "dev-ec", "--registry", reg,
               "--public-key", "path=%s,type=es256-pem" % ec_pub, "--metadata", "site=lab,floor=2")
    assert r.stderr.strip() == "Created device [dev-ec]."
    ctl.ok("devices", "create", "dev-rsa", "--registry", reg,
           "--public-key", "path=%s,type=rsa-pem,expiration-time=2100-01-01T00:00:00Z" % rsa_pub,
           "--public-key", "path=%s,type=rsa-x509-pem" % rsa_cert)
    # An id with '%' must reach the server percent-encoded, not decoded.
    ctl.ok("devices", "create", "dev%41", "--registry", reg, "--blocked")

    devs = REGS + "/" + reg + "/devices"
    got = rest_ok(d, "GET", devs + "/dev-ec")
    assert got["credentials"] == [{"publicKey": {"format": "ES256_PEM", "key": h.public_pem(ec_key)},
                                   "expirationTime": "1970-01-01T00:00:00Z"}]
    assert got["metadata"] == {"site": "lab", "floor": "2"}
    got = rest_ok(d, "GET", devs + "/dev-rsa")
    assert [c["publicKey"]["format"] for c in got["credentials"]] == ["RSA_PEM", "RSA_X509_PEM"]
    assert got["credentials"][0]["expirationTime"] == "2100-01-01T00:00:00Z"
    assert rest_ok(d, "GET", devs + "/dev%2541")["id"] == "dev%41"
    assert d.rest("GET", devs + "/devA").status_code == 404
    num = {x["id"]: x["numId"] for x in rest_ok(d, "GET", devs)["devices"]}

    rows = table(ctl.ok("devices", "list", "--registry", reg).stdout)
    assert rows[0] == ["ID", "NUM_ID", "BLOCKED"]
    assert sorted(rows[1:]) == sorted([["dev-ec", num["dev-ec"], "False"],
                                       ["dev-rsa", num["dev-rsa"], "False"],
                                       ["dev%41", num["dev%41"], "True"]])

    listed = ctl.json("devices", "list", "--registry", reg)
    assert {x["id"]: x["numId"] for x in listed} == num
    assert [x.get("blocked", False) for x in listed if x["id"] == "dev%41"] == [True]
    # Every page is followed: one device per page still lists all three.
    assert ctl.json("devices", "list", "--registry", reg, "--page-size", "1") == listed

    desc = ctl.json("devices", "describe", "dev-ec", "--registry", reg)
    assert desc["id"] == "dev-ec" and desc["numId"] == num["dev-ec"]
    assert desc["credentials"][0]["publicKey"]["key"] == h.public_pem(ec_key)
    assert desc["name"].endswith("/devices/" + num["dev-ec"])

    r = ctl.ok("devices", "update", "dev-ec", "--registry", reg, "--blocked")
    assert r.stderr.strip() == "Updated device [dev-ec]."
    assert rest_ok(d, "GET", devs + "/dev-ec")["blocked"] is True
    assert ["dev-ec", num["dev-ec"], "True"] in table(ctl.ok("devices", "list", "--registry", reg).stdout)
    updated = ctl.json("devices", "update", "dev-ec", "--registry", reg, "--no-blocked",
                       "--metadata", "site=attic")
    assert updated["id"] == "dev-ec" and not updated.get("blocked", False)
    got = rest_ok(d, "GET", devs + "/dev-ec")
    assert not got.get("blocked", False)
    assert got["metadata"] == {"site": "attic"}
    # The credentials were not in the mask: unchanged.
    assert got["credentials"][0]["publicKey"]["key"] == h.public_pem(ec_key)

    for did in ("dev-ec", "dev-rsa", "dev%41"):
        r = ctl.ok("devices", "delete", did, "--registry", reg)
        assert r.stderr.strip() == "Deleted device [%s]." % did
    assert rest_ok(d, "GET", devs) == {}
    r = ctl("devices", "list", "--registry", reg)
    assert r.returncode == 0 and r.stdout == "" and "Listed 0 items." in r.stderr
    assert ctl.json("devices", "list", "--registry", reg) == []
    ctl.ok("registries", "delete", reg)


def test_configs_and_states_list(ctl):
    d = ctl.d
    dev = d.new_device("ES256_PEM", registry=h.unique_id("clireg"), project=P)
    args = ["--device", dev.id, "--registry", dev.registry]
    rows = table(ctl.ok("devices", "configs", "list", *args).stdout)
    # A new device has config version 1, not yet sent or acknowledged.
    assert rows[0] == ["VERSION", "CLOUD_UPDATE_TIME", "DEVICE_ACK_TIME"]
    assert len(rows) == 2 and rows[1][0] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", rows[1][1]), rows
    got = ctl.json("devices", "configs", "list", *args, "--limit", "1")
    assert [c["version"] for c in got] == ["1"]

    r = ctl.ok("devices", "states", "list", *args)
    assert r.stdout == "" and "Listed 0 items." in r.stderr
    c = dev.connect()
    try:
        assert c.publish_acked(dev.topic("state"), b"warm", qos=1)
        states = h.wait_for(lambda: ctl.json("devices", "states", "list", *args), h.T_DELIVER,
                            "state listed")
    finally:
        c.close()
    assert base64.b64decode(states[0]["binaryData"]) == b"warm"
    rows = table(ctl.ok("devices", "states", "list", *args).stdout)
    assert rows[0] == ["UPDATE_TIME", "BINARY_DATA"]
    assert rows[1][1] == base64.b64encode(b"warm").decode()


# ---------------------------------------------------------------- devices it made connect

@pytest.mark.parametrize("kind", ["es256", "es256-x509", "rs256-pem", "rs256-cert"])
def test_cli_registered_keys_authenticate(ctl, tmp_path, kind):
    """The key the CLI read from a file is the one the MQTT bridge checks.
    rs256/es256 are gcloud's old type names: the file's PEM label picks the
    format."""
    d = ctl.d
    reg = h.unique_id("clireg")
    ctl.ok("registries", "create", reg)
    key = h.ec_key() if kind.startswith("es") else h.rsa_key(2)
    pem = h.self_signed_pem(key) if kind.endswith(("x509", "cert")) else h.public_pem(key)
    ktype = {"es256": "es256", "es256-x509": "es256-x509-pem", "rs256-pem": "rs256",
             "rs256-cert": "rs256"}[kind]
    path = write(tmp_path, "key.pem", pem)
    did = h.unique_id("clidev")
    ctl.ok("devices", "create", did, "--registry", reg, "--public-key", "path=%s,type=%s" % (path, ktype))
    want = {"es256": "ES256_PEM", "es256-x509": "ES256_X509_PEM", "rs256-pem": "RSA_PEM",
            "rs256-cert": "RSA_X509_PEM"}[kind]
    got = ctl.json("devices", "describe", did, "--registry", reg)
    assert got["credentials"][0]["publicKey"]["format"] == want

    dev = h.Device(d, P, L, reg, did, key, "ES256" if kind.startswith("es") else "RS256")
    dev.connect().close()

    # Blocked through the CLI: refused with Google's CONNACK 5.
    ctl.ok("devices", "update", did, "--registry", reg, "--blocked")
    c = dev.client()
    try:
        assert c.connect() == 5, c.describe()
    finally:
        c.close()
    # A key the device does not hold does not authenticate.
    other = h.Device(d, P, L, reg, did, h.ec_key() if kind.startswith("es") else h.rsa_key(3), dev.alg)
    ctl.ok("devices", "update", did, "--registry", reg, "--no-blocked")
    c = other.client()
    try:
        assert c.connect() == 5, c.describe()
    finally:
        c.close()


# ---------------------------------------------------------------- exit codes and messages

def test_duplicate_is_api_error(ctl, tmp_path):
    reg = h.unique_id("clireg")
    ctl.ok("registries", "create", reg)
    r = ctl("registries", "create", reg)
    assert r.returncode == 1
    assert r.stderr == ERR + "ALREADY_EXISTS: Resource already exists in the project (resource=%s).\n" % reg
    assert r.stdout == ""
    ctl.ok("devices", "create", "dup-dev", "--registry", reg)
    r = ctl("devices", "create", "dup-dev", "--registry", reg, "--format=json")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(ERR + "ALREADY_EXISTS: ")
    # Not empty: deleting the registry is refused, and says so.
    r = ctl("registries", "delete", reg)
    assert r.returncode == 1 and r.stderr.startswith(ERR + "FAILED_PRECONDITION: "), r.stderr
    ctl.ok("devices", "delete", "dup-dev", "--registry", reg)
    ctl.ok("registries", "delete", reg)


def test_missing_device_is_api_error(ctl):
    reg = h.unique_id("clireg")
    ctl.ok("registries", "create", reg)
    name = "projects/%s/locations/%s/registries/%s/devices/nope-dev" % (P, L, reg)
    for verb in ("describe", "delete"):
        r = ctl("devices", verb, "nope-dev", "--registry", reg)
        assert r.returncode == 1
        assert r.stderr == ERR + "NOT_FOUND: A device with the name '%s' doesn't exist.\n" % name
    r = ctl("devices", "update", "nope-dev", "--registry", reg, "--blocked")
    assert r.returncode == 1 and r.stderr.startswith(ERR + "NOT_FOUND: ")
    r = ctl("devices", "list", "--registry", "no-such-reg")
    assert r.returncode == 1 and r.stderr.startswith(ERR + "NOT_FOUND: ")
    # Invalid input is the server's to judge, in Google's words.
    r = ctl("devices", "create", "goog-dev", "--registry", reg)
    assert r.returncode == 1 and r.stderr.startswith(ERR + "INVALID_ARGUMENT: "), r.stderr


def test_token_sources(ctl, tmp_path):
    d = ctl.d
    url, tok = d.url(""), d.token
    # --data-dir and IOTCORED_DATA_DIR: the daemon's admin.token file.
    r = ctl.raw("--endpoint", url, "--project", P, "--data-dir", d.data_dir, "registries", "list")
    assert r.returncode == 0, r.stderr
    r = ctl.raw("registries", "list", env={"IOTCORED_ENDPOINT": url, "IOTCORED_PROJECT": P,
                                           "IOTCORED_DATA_DIR": d.data_dir})
    assert r.returncode == 0, r.stderr
    # IOTCORED_TOKEN, and --token over it.
    r = ctl.raw("registries", "list", env={"IOTCORED_ENDPOINT": url, "IOTCORED_PROJECT": P,
                                           "IOTCORED_TOKEN": tok})
    assert r.returncode == 0, r.stderr
    r = ctl.raw("--token", "wrong-token", "registries", "list",
                env={"IOTCORED_ENDPOINT": url, "IOTCORED_PROJECT": P, "IOTCORED_TOKEN": tok})
    assert r.returncode == 1
    assert r.stderr.startswith(ERR + "UNAUTHENTICATED: "), r.stderr
    # No token anywhere (no ./iotcored-data here): a usage error naming the file.
    r = ctl.raw("--endpoint", url, "--project", P, "registries", "list")
    assert r.returncode == 2
    assert r.stderr.startswith(ERR + "admin token: cannot open ./iotcored-data/admin.token"), r.stderr
    # The token never shows in what the CLI prints.
    r = ctl("devices", "list", "--registry", "no-such-reg")
    assert tok not in r.stdout + r.stderr


def test_closed_port_is_connection_error(ctl):
    port = h.free_port()
    r = ctl.raw("--endpoint", "http://127.0.0.1:%d" % port, "--token", "t", "--project", P,
                "registries", "list")
    assert r.returncode == 3
    assert r.stderr.startswith(ERR + "cannot reach http://127.0.0.1:%d: " % port), r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:1", "127.0.0.1:8080", ""])
def test_bad_endpoint_is_usage_error(ctl, endpoint):
    r = ctl.raw("--endpoint", endpoint, "--token", "t", "--project", P, "registries", "list")
    assert r.returncode == 2
    assert r.stderr == ERR + '--endpoint "%s": not an http:// or https:// URL\n' % endpoint


USAGE_CASES = [
    [],
    ["frobnicate"],
    ["devices", "frobnicate"],
    ["registries", "list", "--bogus"],
    ["registries", "list", "--format=yaml"],
    ["registries", "create"],
    ["registries", "create", "a-reg", "b-reg"],
    ["registries", "describe", "a-reg", "--registry", "x"],
    ["registries", "update", "a-reg"],
    ["registries", "create", "a-reg", "--enable-mqtt-config", "--no-enable-mqtt-config"],
    ["registries", "create", "a-reg", "--log-level", "verbose"],
    ["registries", "list", "--page-size", "0"],
    ["devices", "list"],
    ["devices", "list", "--registry"],
    ["devices", "list", "--registry", ""],
    ["devices", "list", "--registry", "r", "--registry", "s"],
    ["devices", "create", "a-dev", "--registry", "r", "--blocked", "--no-blocked"],
    ["devices", "create", "a-dev", "--registry", "r", "--blocked=yes"],
    ["devices", "create", "a-dev", "--registry", "r", "--public-key", "path=/nonexistent.pem,type=es256"],
    ["devices", "create", "a-dev", "--registry", "r", "--public-key", "path=KEY,type=dsa"],
    ["devices", "create", "a-dev", "--registry", "r", "--public-key", "type=es256"],
    ["devices", "create", "a-dev", "--registry", "r", "--public-key", "path=KEY,type=es256,color=red"],
    ["devices", "create", "a-dev", "--registry", "r", "--metadata", "novalue"],
    ["devices", "create", "a-dev", "--registry", "r", "--device-type", "router"],
    ["devices", "update", "a-dev", "--registry", "r"],
    ["devices", "update", "a-dev", "--registry", "r", "--device-type", "gateway"],
    ["devices", "configs", "update", "--device", "d", "--registry", "r"],
    ["devices", "configs", "update", "--device", "d", "--registry", "r", "--config-data", "x",
     "--config-file", "KEY"],
    ["devices", "configs", "update", "--device", "d", "--registry", "r", "--config-data", "x",
     "--version-to-update", "-1"],
    ["devices", "configs", "list", "--registry", "r"],
    ["devices", "states", "list", "--device", "d", "--registry", "r", "--limit", "11"],
    ["devices", "commands", "send", "--device", "d", "--registry", "r"],
    ["devices", "commands", "send", "--device", "d", "--registry", "r", "--command-file", "/nonexistent"],
    ["gateways", "bind", "--device", "d", "--registry", "r"],
    ["devices", "import"],
    ["devices", "import", "/nonexistent.jsonl"],
    ["devices", "import", "EMPTY"],
    ["devices", "import", "BADJSON"],
]


@pytest.mark.parametrize("args", USAGE_CASES, ids=lambda a: " ".join(a) or "no-args")
def test_usage_error_exit_2(ctl, tmp_path, args):
    subs = {"KEY": write(tmp_path, "k.pem", h.public_pem(h.ec_key())),
            "EMPTY": write(tmp_path, "empty.jsonl", "\n\n"),
            "BADJSON": write(tmp_path, "bad.jsonl", '{"id": "ok-dev"}\n{"id": \n')}
    args = [a.replace("KEY", subs["KEY"]) if a.startswith("path=KEY") else subs.get(a, a) for a in args]
    before = rest_ok(ctl.d, "GET", REGS + "?pageSize=500")
    r = ctl(*args)
    assert r.returncode == 2, "rc=%d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith(ERR) or r.stderr.startswith("Usage:"), r.stderr
    assert r.stdout == ""
    # Nothing reached the server.
    assert rest_ok(ctl.d, "GET", REGS + "?pageSize=500") == before


def test_project_is_required(ctl):
    r = ctl("registries", "list", project=None)
    assert r.returncode == 2
    assert r.stderr.startswith(ERR + "no project: pass --project or set IOTCORED_PROJECT")
    r = ctl("registries", "list", project=None, env={"IOTCORED_PROJECT": P})
    assert r.returncode == 0, r.stderr


def test_import_reports_the_bad_line(ctl, tmp_path):
    path = write(tmp_path, "devs.jsonl", '{"id": "a-dev"}\n\n[1, 2]\n')
    r = ctl("devices", "import", path)
    assert r.returncode == 2
    assert r.stderr == ERR + "%s:3: not a JSON object\n" % path


def test_help_and_version(ctl):
    r = ctl.raw("--help")
    assert r.returncode == 0 and "iotcorectl devices configs update" in r.stdout
    assert "Exit codes: 0 success, 1 API error, 2 usage error, 3 connection error." in r.stdout
    r = ctl.raw("devices", "create", "--help")
    assert r.returncode == 0 and "iotcorectl devices create DEVICE --registry R" in r.stdout
    assert "registries" not in r.stdout
    r = ctl.raw("--version")
    assert r.returncode == 0 and re.fullmatch(r"iotcorectl \d+\.\d+\.\d+\n", r.stdout)


# ---------------------------------------------------------------- device data, gateways, import

def test_configs_update(ctl, tmp_path):
    d = ctl.d
    dev = d.new_device("ES256_PEM", registry=h.unique_id("clireg"), project=P)
    args = ["--device", dev.id, "--registry", dev.registry]
    c = dev.connect()
    try:
        c.subscribe(dev.topic("config"), qos=1)
        r = ctl("devices", "configs", "update", *args, "--config-data", "mode=eco")
        assert r.returncode == 0, r.stderr
        assert r.stderr.strip() == "Updated configuration of device [%s] to version [2]." % dev.id
        h.wait_for(lambda: any(m[1] == b"mode=eco" for m in c.messages), h.T_DELIVER, "config delivered")
    finally:
        c.close()
    cfg = write(tmp_path, "cfg.bin", "\x00binary\xff")
    got = ctl.json("devices", "configs", "update", *args, "--config-file", cfg, "--version-to-update", "2")
    assert got["version"] == "3"
    assert base64.b64decode(got["binaryData"]) == open(cfg, "rb").read()
    # A stale version is refused by the server: an API error.
    r = ctl("devices", "configs", "update", *args, "--config-data", "x", "--version-to-update", "2")
    assert r.returncode == 1 and r.stderr.startswith(ERR + "FAILED_PRECONDITION: "), r.stderr
    assert [x["version"] for x in ctl.json("devices", "configs", "list", *args)] == ["3", "2", "1"]


def test_commands_send(ctl):
    d = ctl.d
    dev = d.new_device("ES256_PEM", registry=h.unique_id("clireg"), project=P)
    args = ["--device", dev.id, "--registry", dev.registry]
    # Not connected: Google's FAILED_PRECONDITION.
    r = ctl("devices", "commands", "send", *args, "--command-data", "reboot")
    assert r.returncode == 1 and r.stderr.startswith(ERR + "FAILED_PRECONDITION: "), r.stderr
    c = dev.connect()
    try:
        c.subscribe(dev.topic("commands") + "/#", qos=1)
        h.wait_for(lambda: ctl("devices", "commands", "send", *args, "--command-data", "reboot",
                               "--subfolder", "ops").returncode == 0, h.T_DELIVER, "command accepted")
        h.wait_for(lambda: (dev.topic("commands", "ops"), b"reboot") in [(m[0], m[1]) for m in c.messages],
                   h.T_DELIVER, "command delivered")
    finally:
        c.close()


def test_gateways_bind_unbind(ctl):
    d = ctl.d
    reg = h.unique_id("clireg")
    ctl.ok("registries", "create", reg)
    ctl.ok("devices", "create", "gw-1", "--registry", reg, "--device-type", "gateway",
           "--auth-method", "association-only")
    ctl.ok("devices", "create", "leaf-1", "--registry", reg)
    bound = REGS + "/%s/devices?gatewayListOptions.associationsGatewayId=gw-1" % reg
    r = ctl.ok("gateways", "bind", "--gateway", "gw-1", "--device", "leaf-1", "--registry", reg)
    assert r.stderr.strip() == "Bound device [leaf-1] to gateway [gw-1]."
    assert [x["id"] for x in rest_ok(d, "GET", bound).get("devices", [])] == ["leaf-1"]
    r = ctl.ok("gateways", "unbind", "--gateway", "gw-1", "--device", "leaf-1", "--registry", reg)
    assert r.stderr.strip() == "Unbound device [leaf-1] from gateway [gw-1]."
    assert rest_ok(d, "GET", bound).get("devices", []) == []


def test_devices_import(ctl, tmp_path):
    # The route's record shape: {"registry": {DeviceRegistry}} creates a
    # registry, {"registry": "ID", "device": {Device}} a device in it.
    d = ctl.d
    reg = h.unique_id("clireg")
    key = h.ec_key()
    lines = [{"registry": {"id": reg}}]
    for i in range(50):
        lines.append({"registry": reg, "device": {"id": "imp-%d" % i, "credentials": [
            {"publicKey": {"format": "ES256_PEM", "key": h.public_pem(key)}}]}})
    path = write(tmp_path, "import.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    r = ctl("devices", "import", path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "Imported 51 records from [%s]." % path
    assert json.loads(r.stdout) == {"registriesCreated": 1, "devicesCreated": 50}
    assert len(ctl.json("devices", "list", "--registry", reg)) == 50
    # All or nothing: a file whose last line fails stores none of it.
    bad = write(tmp_path, "bad.jsonl", json.dumps({"registry": {"id": reg + "-b"}}) + "\n" +
                json.dumps({"registry": reg + "-b", "device": {"id": "x", "nope": 1}}) + "\n")
    r = ctl("devices", "import", bad)
    assert r.returncode == 1 and r.stderr.startswith(ERR + "INVALID_ARGUMENT: line 2: "), r.stderr
    assert d.rest("GET", REGS + "/" + reg + "-b").status_code == 404
    h.Device(d, P, L, reg, "imp-7", key, "ES256").connect().close()
