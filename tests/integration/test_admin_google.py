"""Google admin routes that reach live devices or span resources:
modifyCloudToDeviceConfig (delivery to subscribed devices, resend until
PUBACK, supersede, ack times, optimistic concurrency, rate and size
limits), sendCommandToDevice (Google's FAILED_PRECONDITION texts, delivery
with and without subfolder), gateway bindings (bind/unbind, association
filters, delete refused while bound, gateways attaching bound devices end
to end), registry CA certificates (x509Details, device certificates that
must be signed by a CA), the bulk import (:importDevices) and Google's
metadata and page-size limits."""
import base64
import datetime
import json
import signal
import struct
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

import helpers as h

P, L = "proj-adm-g", "us-central1"
REGS = h.Daemon.reg_path(P, L)
EPOCH = "1970-01-01T00:00:00Z"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def assert_error(r, code, status, text=None):
    assert r.status_code == code, "expected %d %s, got %d %s" % (code, status, r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == code and err["status"] == status, r.text
    if text is not None:
        assert text in err["message"], "%r not in %r" % (text, err["message"])
    return err


def ok(r):
    assert r.status_code == 200, "%d %s" % (r.status_code, r.text)
    return r.json()


@pytest.fixture(scope="module")
def d(mod_daemon):
    return mod_daemon


@pytest.fixture
def reg(d):
    rid = h.unique_id("reg")
    ok(d.rest("POST", REGS, json={"id": rid}))
    return rid


def new_device(d, reg, fmt="ES256_PEM", key=None):
    return d.new_device(fmt, key=key, registry=reg, project=P, location=L)


def dpath(dev_or_reg, device=None):
    if device is None:
        return "%s/%s/devices/%s" % (REGS, dev_or_reg.registry, dev_or_reg.id)
    return "%s/%s/devices/%s" % (REGS, dev_or_reg, device)


def modify(d, dev, data, version=None):
    body = {"binaryData": b64(data)}
    if version is not None:
        body["versionToUpdate"] = version
    return d.rest("POST", dpath(dev) + ":modifyCloudToDeviceConfig", json=body)


def command(d, dev, data, subfolder=None):
    body = {"binaryData": b64(data)}
    if subfolder is not None:
        body["subfolder"] = subfolder
    return d.rest("POST", dpath(dev) + ":sendCommandToDevice", json=body)


def config_versions(d, dev):
    path = dev if isinstance(dev, str) else dpath(dev)
    return ok(d.rest("GET", path + "/configVersions"))["deviceConfigs"]


# ---------------------------------------------------------------- raw MQTT

def parse_publish(pk):
    """(dup, qos, topic, packet id or None, payload) of a PUBLISH packet."""
    fb, body = pk
    assert fb & 0xF0 == 0x30, "expected PUBLISH, got %r" % (pk,)
    qos = (fb >> 1) & 3
    tl = struct.unpack("!H", body[:2])[0]
    topic = body[2:2 + tl].decode()
    rest = body[2 + tl:]
    pid = None
    if qos:
        pid = struct.unpack("!H", rest[:2])[0]
        rest = rest[2:]
    return bool(fb & 0x08), qos, topic, pid, rest


def raw_device(d, dev):
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    raw.send(h.connect_packet(dev.client_id, "unused", dev.token()))
    assert raw.read_connack() == (0, 0)
    return raw


def next_publish(raw, timeout=h.T_DELIVER):
    """The next PUBLISH, skipping SUBACKs."""
    deadline = time.monotonic() + timeout
    while True:
        pk = raw.read_packet(max(0.1, deadline - time.monotonic()))
        assert pk is not None, "connection closed while waiting for a PUBLISH"
        if pk[0] & 0xF0 == 0x90:
            continue
        return parse_publish(pk)


# ---------------------------------------------------------------- configs

def test_create_with_config_is_version_1(d, reg):
    did = h.unique_id("dev")
    r = ok(d.rest("POST", REGS + "/%s/devices" % reg, json={"id": did, "config": {"binaryData": b64("first")}}))
    assert r["config"]["version"] == "1"
    assert base64.b64decode(r["config"]["binaryData"]) == b"first"
    got = config_versions(d, dpath(reg, did))
    assert [c["version"] for c in got] == ["1"]
    # Without a config: version 1, empty.
    dev = new_device(d, reg)
    assert [(c["version"], c["binaryData"]) for c in config_versions(d, dev)] == [("1", "")]


def test_config_reaches_subscribed_device_and_ack_times(d, reg):
    dev = new_device(d, reg)
    c = dev.connect()
    try:
        c.subscribe(dev.topic("config"), qos=1)
        # On subscribe: the current version (1, empty).
        h.wait_for(lambda: (dev.topic("config"), b"", 1) in c.messages, h.T_DELIVER, "initial config")
        r = modify(d, dev, b"mode=eco")
        got = ok(r)
        assert got["version"] == "2" and base64.b64decode(got["binaryData"]) == b"mode=eco"
        assert got["cloudUpdateTime"] != EPOCH
        assert set(got) <= {"version", "cloudUpdateTime", "deviceAckTime", "binaryData"}
        h.wait_for(lambda: (dev.topic("config"), b"mode=eco", 1) in c.messages, h.T_DELIVER, "config v2")
        # paho acknowledged it: deviceAckTime on the version, lastConfigAckTime
        # and lastConfigSendTime on the device (marks are flushed each second).
        h.wait_for(lambda: "deviceAckTime" in config_versions(d, dev)[0], h.T_DELIVER, "deviceAckTime")
        dev_json = h.wait_for(lambda: (lambda j: j if j["lastConfigAckTime"] != EPOCH else None)(
            ok(d.rest("GET", dpath(dev)))), 5 * h.SCALE, "lastConfigAckTime")
        assert dev_json["lastConfigSendTime"] != EPOCH
        assert dev_json["config"]["version"] == "2" and "deviceAckTime" in dev_json["config"]
    finally:
        c.close()


@pytest.mark.slow
def test_config_resent_until_acked_and_superseded(d, reg):
    """A device that does not PUBACK: the version in flight is resent with
    DUP after ~5 s; a newer version replaces it and is the one resent; the
    PUBACK of the newer one acks it alone."""
    dev = new_device(d, reg)
    raw = raw_device(d, dev)
    try:
        raw.send(h.subscribe_packet(dev.topic("config"), qos=1, pid=1))
        dup, qos, topic, pid1, payload = next_publish(raw)
        assert (dup, qos, topic, payload) == (False, 1, dev.topic("config"), b"")
        t0 = time.monotonic()
        dup, qos, topic, pid, payload = next_publish(raw, 10 * h.SCALE)
        waited = time.monotonic() - t0
        assert (dup, topic, pid, payload) == (True, dev.topic("config"), pid1, b""), "not a DUP resend"
        assert 3.5 < waited < 8 * h.SCALE, "resent after %.1f s" % waited

        got = ok(modify(d, dev, b"v2"))
        assert got["version"] == "2"
        dup, qos, topic, pid2, payload = next_publish(raw)
        assert (dup, qos, payload) == (False, 1, b"v2")
        # The resend is of version 2 only.
        dup, qos, topic, pid, payload = next_publish(raw, 10 * h.SCALE)
        assert (dup, pid, payload) == (True, pid2, b"v2")
        raw.send(h.packet(0x40, struct.pack("!H", pid2)))
        versions = h.wait_for(lambda: (lambda v: v if "deviceAckTime" in v[0] else None)(
            config_versions(d, dev)), h.T_DELIVER, "deviceAckTime of version 2")
        assert versions[0]["version"] == "2"
        assert "deviceAckTime" not in versions[1], "the superseded version 1 was never acked"
        h.wait_for(lambda: ok(d.rest("GET", dpath(dev)))["lastConfigAckTime"] != EPOCH, 5 * h.SCALE,
                   "lastConfigAckTime")
        # Acked: no more resends.
        with pytest.raises(TimeoutError):
            raw.read_packet(6.5)
    finally:
        raw.close()


def test_config_version_to_update(d, reg):
    dev = new_device(d, reg)
    err = assert_error(modify(d, dev, b"x", version="7"), 400, "FAILED_PRECONDITION")
    assert "7" in err["message"]
    assert ok(modify(d, dev, b"a", version="1"))["version"] == "2"
    assert ok(modify(d, dev, b"b", version=2))["version"] == "3"      # a number is fine too
    # A stale writer is told so even when it is also too fast.
    assert_error(modify(d, dev, b"c", version="2"), 400, "FAILED_PRECONDITION")
    assert [c["version"] for c in config_versions(d, dev)] == ["3", "2", "1"]


def test_config_rate_limit(d, reg):
    """Google: 1 update per second per device. Three versions (the one made
    with the device included) may come at once; the fourth within 3 s is
    RESOURCE_EXHAUSTED, and the next one later is accepted."""
    dev = new_device(d, reg)
    ok(modify(d, dev, b"a"))
    ok(modify(d, dev, b"b"))
    assert_error(modify(d, dev, b"c"), 429, "RESOURCE_EXHAUSTED", "once per second")
    assert [c["version"] for c in config_versions(d, dev)] == ["3", "2", "1"]
    h.wait_for(lambda: modify(d, dev, b"c").status_code == 200, 6 * h.SCALE, "rate window to pass")
    assert config_versions(d, dev)[0]["version"] == "4"


def test_config_keeps_ten_versions(d, reg):
    dev = new_device(d, reg)
    for i in range(11):
        h.wait_for(lambda: modify(d, dev, b"v%d" % i).status_code == 200, 6 * h.SCALE, "update %d" % i,
                   interval=0.25)
    got = config_versions(d, dev)
    assert [c["version"] for c in got] == [str(v) for v in range(12, 2, -1)]


@pytest.mark.parametrize("body,why", [
    ({"binaryData": b64(b"x" * 65537)}, "65536"),
    ({"binaryData": "!!!not base64"}, "base64"),
    ({"versionToUpdate": "-1", "binaryData": ""}, "versionToUpdate"),
    ({"versionToUpdate": "abc"}, "versionToUpdate"),
    ({"data": "eA=="}, "Unknown name"),
])
def test_config_bad_requests(d, reg, body, why):
    dev = new_device(d, reg)
    r = d.rest("POST", dpath(dev) + ":modifyCloudToDeviceConfig", json=body)
    assert_error(r, 400, "INVALID_ARGUMENT", why)
    assert len(config_versions(d, dev)) == 1


def test_config_of_64k_is_accepted(d, reg):
    dev = new_device(d, reg)
    data = bytes(range(256)) * 256
    got = ok(modify(d, dev, data))
    assert base64.b64decode(got["binaryData"]) == data


def test_custom_methods_answer_post_only(d, reg):
    dev = new_device(d, reg)
    r = d.rest("GET", dpath(dev) + ":modifyCloudToDeviceConfig")
    assert r.status_code == 405 and r.headers.get("Allow") == "POST"
    assert_error(d.rest("POST", dpath(reg, "no-such-dev") + ":modifyCloudToDeviceConfig",
                        json={"binaryData": ""}), 404, "NOT_FOUND")
    assert_error(d.rest("POST", REGS + "/%s:setIamPolicy" % reg, json={}), 501, "UNIMPLEMENTED")


# ---------------------------------------------------------------- commands

def test_command_not_connected_then_not_subscribed(d, reg):
    dev = new_device(d, reg)
    assert_error(command(d, dev, b"reboot"), 400, "FAILED_PRECONDITION",
                 "Device `%s` is not connected." % dev.id)
    c = dev.connect()
    try:
        assert_error(command(d, dev, b"reboot"), 400, "FAILED_PRECONDITION",
                     "Device `%s` is not subscribed to the commands topic." % dev.id)
        # Only the exact topic: a subfolder does not match it.
        c.subscribe(dev.topic("commands"), qos=1)
        h.wait_for(lambda: command(d, dev, b"plain").status_code == 200, h.T_DELIVER, "command accepted")
        assert_error(command(d, dev, b"x", subfolder="ops"), 400, "FAILED_PRECONDITION",
                     "is not subscribed to the commands topic")
        h.wait_for(lambda: (dev.topic("commands"), b"plain", 1) in c.messages, h.T_DELIVER,
                   "command delivered")
    finally:
        c.close()
    h.wait_for(lambda: command(d, dev, b"x").status_code == 400, h.T_CLOSE, "device gone")


def test_commands_with_and_without_subfolder(d, reg):
    dev = new_device(d, reg)
    c = dev.connect()
    try:
        c.subscribe(dev.topic("commands") + "/#", qos=1)
        h.wait_for(lambda: command(d, dev, b"one", subfolder="ops/deep").status_code == 200,
                   h.T_DELIVER, "command accepted")
        assert ok(command(d, dev, bytes(range(256)))) == {}
        assert ok(command(d, dev, b"", subfolder="empty")) == {}
        want = [(dev.topic("commands", "ops/deep"), b"one"), (dev.topic("commands"), bytes(range(256))),
                (dev.topic("commands", "empty"), b"")]
        h.wait_for(lambda: all(w in [(m[0], m[1]) for m in c.messages] for w in want), h.T_DELIVER,
                   "commands delivered: %r" % (c.messages,))
    finally:
        c.close()


@pytest.mark.slow
def test_command_waits_for_the_broker(daemon, broker):
    """The reply to sendCommandToDevice waits for the broker's PUBACK: with
    the broker frozen, a client that gives up leaves nothing behind (the
    publish is cancelled), and one that waits gets Google's 504
    DEADLINE_EXCEEDED after the daemon's 10 s; the daemon serves on."""
    d = daemon
    dev = d.new_device(registry=h.unique_id("reg"), project=P, location=L)
    c = dev.connect()
    try:
        c.subscribe(dev.topic("commands") + "/#", qos=1)
        h.wait_for(lambda: command(d, dev, b"warm-up").status_code == 200, h.T_DELIVER, "command accepted")
        broker.signal(signal.SIGSTOP)
        try:
            with pytest.raises(requests.exceptions.ReadTimeout):
                d.rest("POST", dpath(dev) + ":sendCommandToDevice", json={"binaryData": b64("gone")},
                       timeout=1)
            t = time.monotonic()
            r = d.rest("POST", dpath(dev) + ":sendCommandToDevice", json={"binaryData": b64("late")},
                       timeout=30)
            assert_error(r, 504, "DEADLINE_EXCEEDED")
            assert 8 < time.monotonic() - t < 20
        finally:
            broker.signal(signal.SIGCONT)
        assert requests.get(d.url("/healthz"), timeout=10).status_code == 200
        h.wait_for(lambda: command(d, dev, b"after").status_code == 200, h.T_DELIVER, "commands again")
        h.wait_for(lambda: (dev.topic("commands"), b"after", 1) in c.messages, h.T_DELIVER, "delivered")
    finally:
        c.close()


@pytest.mark.parametrize("body,why", [
    ({"binaryData": "", "subfolder": "a/+"}, "'+'"),
    ({"binaryData": "", "subfolder": "a/#"}, "'#'"),
    ({"binaryData": "", "subfolder": "s" * 257}, "256"),
    ({"binaryData": b64(b"x" * (256 * 1024 + 1))}, "262144"),
    ({"binaryData": "", "topic": "x"}, "Unknown name"),
])
def test_command_bad_requests(d, reg, body, why):
    dev = new_device(d, reg)
    r = d.rest("POST", dpath(dev) + ":sendCommandToDevice", json=body)
    assert_error(r, 400, "INVALID_ARGUMENT", why)


# ---------------------------------------------------------------- gateways

def create(d, reg, did, **fields):
    body = dict(fields, id=did)
    return ok(d.rest("POST", REGS + "/%s/devices" % reg, json=body))


def create_keyed(d, reg, did, key=None, **fields):
    key = key or h.ec_key()
    create(d, reg, did, credentials=[{"publicKey": {"format": "ES256_PEM", "key": h.public_pem(key)}}],
           **fields)
    return h.Device(d, P, L, reg, did, key, "ES256")


def gateway_body(method="ASSOCIATION_ONLY"):
    return {"gatewayType": "GATEWAY", "gatewayAuthMethod": method}


def bind(d, reg, gw, dev, verb="bindDeviceToGateway"):
    return d.rest("POST", REGS + "/%s:%s" % (reg, verb), json={"gatewayId": gw, "deviceId": dev})


def listed(d, reg, query):
    return [x["id"] for x in ok(d.rest("GET", REGS + "/%s/devices?%s" % (reg, query))).get("devices", [])]


def test_bind_unbind_and_associations(d, reg):
    gw = create(d, reg, "gw-a", gatewayConfig=gateway_body())
    create(d, reg, "leaf-a")
    create(d, reg, "leaf-b")
    assert ok(bind(d, reg, "gw-a", "leaf-a")) == {}
    assert ok(bind(d, reg, "gw-a", "leaf-a")) == {}            # again: same end state
    assert ok(bind(d, reg, gw["numId"], "leaf-b")) == {}       # a numId names the gateway too
    assert listed(d, reg, "gatewayListOptions.associationsGatewayId=gw-a") == ["leaf-a", "leaf-b"]
    assert listed(d, reg, "gatewayListOptions.associationsGatewayId=%s" % gw["numId"]) == ["leaf-a", "leaf-b"]
    assert listed(d, reg, "gatewayListOptions.associationsDeviceId=leaf-b") == ["gw-a"]
    assert listed(d, reg, "gatewayListOptions.associationsGatewayId=gw-a&pageSize=1") == ["leaf-a"]
    page = ok(d.rest("GET", REGS + "/%s/devices?gatewayListOptions.associationsGatewayId=gw-a&pageSize=1" % reg))
    assert [x["id"] for x in ok(d.rest("GET", REGS + "/%s/devices?gatewayListOptions.associationsGatewayId=gw-a"
                                       "&pageSize=1&pageToken=%s" % (reg, page["nextPageToken"])))["devices"]] \
        == ["leaf-b"]
    full = ok(d.rest("GET", REGS + "/%s/devices?gatewayListOptions.associationsDeviceId=leaf-a"
                     "&fieldMask=gatewayConfig" % reg))["devices"]
    assert full[0]["gatewayConfig"]["gatewayType"] == "GATEWAY"
    assert listed(d, reg, "gatewayListOptions.gatewayType=GATEWAY") == ["gw-a"]
    assert_error(d.rest("GET", REGS + "/%s/devices?gatewayListOptions.associationsGatewayId=nope-dev" % reg),
                 404, "NOT_FOUND")
    assert_error(d.rest("GET", REGS + "/%s/devices?gatewayListOptions.associationsGatewayId=gw-a"
                        "&gatewayListOptions.gatewayType=GATEWAY" % reg), 400, "INVALID_ARGUMENT")

    # Delete refused while bound, as gateway or as device [FIELD udmi#378].
    assert_error(d.rest("DELETE", dpath(reg, "leaf-a")), 400, "FAILED_PRECONDITION", "unbind")
    assert_error(d.rest("DELETE", dpath(reg, "gw-a")), 400, "FAILED_PRECONDITION", "unbind")

    assert ok(bind(d, reg, "gw-a", "leaf-a", "unbindDeviceFromGateway")) == {}
    assert_error(bind(d, reg, "gw-a", "leaf-a", "unbindDeviceFromGateway"), 404, "NOT_FOUND", "not bound")
    assert listed(d, reg, "gatewayListOptions.associationsGatewayId=gw-a") == ["leaf-b"]
    assert listed(d, reg, "gatewayListOptions.associationsDeviceId=leaf-a") == []
    assert ok(d.rest("DELETE", dpath(reg, "leaf-a"))) == {}
    assert ok(bind(d, reg, "gw-a", "leaf-b", "unbindDeviceFromGateway")) == {}
    assert ok(d.rest("DELETE", dpath(reg, "gw-a"))) == {}


def test_bind_rules(d, reg):
    other = h.unique_id("reg")
    ok(d.rest("POST", REGS, json={"id": other}))
    create(d, reg, "gw-r", gatewayConfig=gateway_body())
    create(d, reg, "gw-r2", gatewayConfig=gateway_body())
    create(d, reg, "plain-r")
    create(d, reg, "plain-r2", gatewayConfig={"gatewayType": "NON_GATEWAY"})
    create(d, other, "elsewhere")
    assert_error(bind(d, reg, "plain-r", "plain-r2"), 400, "FAILED_PRECONDITION", "not a gateway")
    assert_error(bind(d, reg, "gw-r", "gw-r2"), 400, "FAILED_PRECONDITION", "is a gateway")
    assert_error(bind(d, reg, "gw-r", "gw-r"), 400, "INVALID_ARGUMENT")
    assert_error(bind(d, reg, "gw-r", "elsewhere"), 404, "NOT_FOUND")      # same registry only
    assert_error(bind(d, reg, "gw-r", "no-such"), 404, "NOT_FOUND")
    assert_error(d.rest("POST", REGS + "/%s:bindDeviceToGateway" % reg, json={"gatewayId": "gw-r"}),
                 400, "INVALID_ARGUMENT", "deviceId")
    assert_error(d.rest("POST", REGS + "/nope-reg:bindDeviceToGateway",
                        json={"gatewayId": "gw-r", "deviceId": "plain-r"}), 404, "NOT_FOUND")
    assert listed(d, reg, "gatewayListOptions.associationsGatewayId=gw-r") == []


def test_gateway_auth_method_patch(d, reg):
    create(d, reg, "gw-p", gatewayConfig=gateway_body("ASSOCIATION_ONLY"))
    r = ok(d.rest("PATCH", dpath(reg, "gw-p") + "?updateMask=gatewayConfig.gatewayAuthMethod",
                  json={"gatewayConfig": {"gatewayAuthMethod": "DEVICE_AUTH_TOKEN_ONLY", "gatewayType": "NON_GATEWAY"}}))
    assert r["gatewayConfig"] == {"gatewayType": "GATEWAY", "gatewayAuthMethod": "DEVICE_AUTH_TOKEN_ONLY"}
    r = ok(d.rest("PATCH", dpath(reg, "gw-p") + "?updateMask=gateway_config.gateway_auth_method",
                  json={"gatewayConfig": {"gatewayAuthMethod": 3}}))
    assert r["gatewayConfig"]["gatewayAuthMethod"] == "ASSOCIATION_AND_DEVICE_AUTH_TOKEN"
    # gatewayType is fixed at create [PROTO].
    for mask in ("gatewayConfig.gatewayType", "gatewayConfig"):
        assert_error(d.rest("PATCH", dpath(reg, "gw-p") + "?updateMask=" + mask,
                            json={"gatewayConfig": {"gatewayType": "NON_GATEWAY"}}), 400, "INVALID_ARGUMENT")
    assert ok(d.rest("GET", dpath(reg, "gw-p")))["gatewayConfig"]["gatewayType"] == "GATEWAY"


def wait_errors(c, gw_id, device_id):
    def find():
        for topic, payload, _ in list(c.messages):
            if topic == "/devices/%s/errors" % gw_id:
                e = json.loads(payload)
                if e.get("device_id") == device_id:
                    return e
        return None
    return h.wait_for(find, h.T_DELIVER, "GATEWAY_ATTACHMENT_ERROR for %s" % device_id)


def test_gateway_attach_end_to_end(d, reg, mod_backend):
    gw = create_keyed(d, reg, "gw-e", gatewayConfig=gateway_body("ASSOCIATION_ONLY"))
    leaf = create_keyed(d, reg, "leaf-e")
    stray = create_keyed(d, reg, "stray-e")
    ok(bind(d, reg, "gw-e", "leaf-e"))
    c = gw.connect()
    try:
        c.subscribe(gw.topic("errors"), qos=0)
        assert c.publish_acked(leaf.topic("attach"), b'{"authorization":""}', qos=1), c.describe()
        assert c.publish_acked(leaf.topic("events"), b"via-gateway", qos=1), c.describe()
        mod_backend.wait_message(leaf.upstream_topic("events"), b"via-gateway")
        # Not bound: refused on the errors topic, the connection stays.
        assert c.publish_acked(stray.topic("attach"), b'{"authorization":""}', qos=1)
        e = wait_errors(c, "gw-e", "stray-e")
        assert e["error_type"] == "GATEWAY_ATTACHMENT_ERROR"
        assert c.is_connected()

        # Config and commands of the attached device go to the gateway.
        c.subscribe(leaf.topic("config"), qos=1)
        h.wait_for(lambda: (leaf.topic("config"), b"", 1) in c.messages, h.T_DELIVER, "leaf config v1")
        ok(modify(d, leaf, b"leaf-cfg"))
        h.wait_for(lambda: (leaf.topic("config"), b"leaf-cfg", 1) in c.messages, h.T_DELIVER, "leaf config v2")
        c.subscribe(leaf.topic("commands") + "/#", qos=1)
        h.wait_for(lambda: command(d, leaf, b"leaf-cmd", subfolder="x").status_code == 200, h.T_DELIVER,
                   "command for the attached device accepted")
        h.wait_for(lambda: (leaf.topic("commands", "x"), b"leaf-cmd", 1) in c.messages, h.T_DELIVER,
                   "command delivered to the gateway")
        dev_json = ok(d.rest("GET", dpath(leaf)))
        assert dev_json["gatewayConfig"].get("lastAccessedGatewayId") == "gw-e"
        # Unbinding the device is allowed while it is attached.
        ok(bind(d, reg, "gw-e", "leaf-e", "unbindDeviceFromGateway"))
    finally:
        c.close()


def test_gateway_device_token_only(d, reg, mod_backend):
    gw = create_keyed(d, reg, "gw-t", gatewayConfig=gateway_body("DEVICE_AUTH_TOKEN_ONLY"))
    leaf = create_keyed(d, reg, "leaf-t")          # not bound: the token alone decides
    other = h.ec_key()
    c = gw.connect()
    try:
        c.subscribe(gw.topic("errors"), qos=0)
        forged = h.make_jwt(other, "ES256", aud=P)
        assert c.publish_acked(leaf.topic("attach"), json.dumps({"authorization": forged}).encode(), qos=1)
        wait_errors(c, "gw-t", "leaf-t")
        assert c.publish_acked(leaf.topic("attach"), b'{"authorization":""}', qos=1)
        assert c.publish_acked(leaf.topic("attach"), json.dumps({"authorization": leaf.token()}).encode(), qos=1)
        assert c.publish_acked(leaf.topic("events"), b"token-attached", qos=1), c.describe()
        mod_backend.wait_message(leaf.upstream_topic("events"), b"token-attached")
    finally:
        c.close()


def test_non_gateway_attach_is_disconnected(d, reg):
    dev = create_keyed(d, reg, "plain-x")
    create_keyed(d, reg, "plain-y")
    c = dev.connect()
    try:
        c.publish("/devices/plain-y/attach", b'{"authorization":""}', qos=1)
        assert c.wait_closed(h.T_CLOSE), "a non-gateway sending attach was not disconnected"
    finally:
        c.close()


# ---------------------------------------------------------------- registry CAs

def make_ca(key, cn="test-ca", days=365):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, cert.public_bytes(serialization.Encoding.PEM).decode()


def issue(key, ca_cert, ca_key, cn="device"):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ca_cred(pem):
    return {"publicKeyCertificate": {"format": "X509_CERTIFICATE_PEM", "certificate": pem}}


def dev_cred(pem, fmt="ES256_X509_PEM"):
    return {"publicKey": {"format": fmt, "key": pem}}


DENIED = "The signature of device credential in position %d could not be verified against any registry certificate."


def test_ca_registry(d):
    ca_key = h.ec_key()
    ca_cert, ca_pem = make_ca(ca_key)
    rid = h.unique_id("careg")
    r = ok(d.rest("POST", REGS, json={"id": rid, "credentials": [ca_cred(ca_pem)]}))
    det = r["credentials"][0]["publicKeyCertificate"]["x509Details"]
    assert det["subject"] == "CN=test-ca" and det["issuer"] == "CN=test-ca"
    assert det["publicKeyType"] == "EC" and det["signatureAlgorithm"] == "ecdsa-with-SHA256"
    assert det["startTime"].endswith("Z") and det["expiryTime"] > det["startTime"]
    assert ok(d.rest("GET", REGS + "/" + rid))["credentials"][0]["publicKeyCertificate"]["x509Details"] == det

    dev_key = h.ec_key()
    signed = issue(dev_key, ca_cert, ca_key)
    ok(d.rest("POST", REGS + "/%s/devices" % rid, json={"id": "signed-dev", "credentials": [dev_cred(signed)]}))
    # The device signs its JWT with the key the CA vouched for.
    h.Device(d, P, L, rid, "signed-dev", dev_key, "ES256").connect().close()

    self_signed = h.self_signed_pem(h.ec_key())
    for creds, pos in (([dev_cred(self_signed)], 0),
                       ([dev_cred(signed), dev_cred(h.public_pem(h.ec_key()), "ES256_PEM")], 1),
                       ([dev_cred(ca_pem)], 0)):
        r = d.rest("POST", REGS + "/%s/devices" % rid, json={"id": h.unique_id("refused"), "credentials": creds})
        assert_error(r, 403, "PERMISSION_DENIED", DENIED % pos)

    # A credentials patch: the device's stored key is not checked again, a new one is.
    path = REGS + "/%s/devices/signed-dev?updateMask=credentials" % rid
    assert_error(d.rest("PATCH", path, json={"credentials": [dev_cred(signed), dev_cred(self_signed)]}),
                 403, "PERMISSION_DENIED", DENIED % 1)
    signed2 = issue(h.ec_key(), ca_cert, ca_key, "second")
    assert len(ok(d.rest("PATCH", path, json={"credentials": [dev_cred(signed), dev_cred(signed2)]}))["credentials"]) == 2


def test_ca_added_later_spares_existing_devices(d):
    rid = h.unique_id("careg")
    ok(d.rest("POST", REGS, json={"id": rid}))
    dev = d.new_device("ES256_PEM", registry=rid, project=P, location=L)
    rsa_ca_key = h.rsa_key(0)
    ca_cert, ca_pem = make_ca(rsa_ca_key, "rsa-ca")
    r = ok(d.rest("PATCH", REGS + "/%s?updateMask=credentials" % rid, json={"credentials": [ca_cred(ca_pem)]}))
    det = r["credentials"][0]["publicKeyCertificate"]["x509Details"]
    assert det["publicKeyType"] == "RSA" and det["signatureAlgorithm"] == "sha256WithRSAEncryption"
    dev.connect().close()
    ok(d.rest("PATCH", dpath(dev) + "?updateMask=metadata", json={"metadata": {"k": "v"}}))
    # Same credentials again: nothing new to verify.
    creds = ok(d.rest("GET", dpath(dev)))["credentials"]
    for c in creds:
        c.pop("expirationTime", None)
    ok(d.rest("PATCH", dpath(dev) + "?updateMask=credentials", json={"credentials": creds}))
    # But a new device needs a certificate from the CA.
    r = d.rest("POST", REGS + "/%s/devices" % rid,
               json={"id": "raw-key", "credentials": [dev_cred(h.public_pem(h.ec_key()), "ES256_PEM")]})
    assert_error(r, 403, "PERMISSION_DENIED", DENIED % 0)
    rsa_dev = h.rsa_key(1)
    ok(d.rest("POST", REGS + "/%s/devices" % rid,
              json={"id": "rsa-signed", "credentials": [dev_cred(issue(rsa_dev, ca_cert, rsa_ca_key), "RSA_X509_PEM")]}))


def test_ca_limits(d):
    key = h.ec_key()
    _, pem = make_ca(key)
    r = d.rest("POST", REGS, json={"id": h.unique_id("careg"), "credentials": [ca_cred(pem)] * 11})
    assert_error(r, 400, "INVALID_ARGUMENT", "10")
    _, weak = make_ca(h.rsa_key(9, 1024))
    assert_error(d.rest("POST", REGS, json={"id": h.unique_id("careg"), "credentials": [ca_cred(weak)]}),
                 400, "INVALID_ARGUMENT")
    assert_error(d.rest("POST", REGS, json={"id": h.unique_id("careg"),
                                            "credentials": [ca_cred(h.public_pem(key))]}), 400, "INVALID_ARGUMENT")


# ---------------------------------------------------------------- bulk import

def ndjson(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def import_(d, text, content_type="application/x-ndjson"):
    return d.rest("POST", "/v1/projects/%s/locations/%s:importDevices" % (P, L), data=text.encode(),
                  headers={"Content-Type": content_type})


def test_import_2000_devices(d):
    rid = h.unique_id("impreg")
    key = h.ec_key()
    pem = h.public_pem(key)
    recs = [{"registry": {"id": rid, "mqttConfig": {"mqttEnabledState": "MQTT_ENABLED"}}}]
    for i in range(2000):
        dev = {"id": "imp-%04d" % i, "credentials": [{"publicKey": {"format": "ES256_PEM", "key": pem}}],
               "metadata": {"n": str(i)}}
        if i % 500 == 0:
            dev["config"] = {"binaryData": b64("cfg-%d" % i)}
        recs.append({"device": dev, "registry": rid})
    assert ok(import_(d, ndjson(recs))) == {"registriesCreated": 1, "devicesCreated": 2000}
    got = ok(d.rest("GET", dpath(rid, "imp-1234")))
    assert got["metadata"] == {"n": "1234"} and got["credentials"][0]["publicKey"]["key"] == pem
    assert got["config"]["version"] == "1"
    got = ok(d.rest("GET", dpath(rid, "imp-1000")))
    assert base64.b64decode(got["config"]["binaryData"]) == b"cfg-1000" and got["config"]["version"] == "1"
    # ListDevices pages: pageSize is clamped to 500.
    page = ok(d.rest("GET", REGS + "/%s/devices?pageSize=1000" % rid))
    assert len(page["devices"]) == 500 and "nextPageToken" in page
    seen = [x["id"] for x in page["devices"]]
    while "nextPageToken" in page:
        page = ok(d.rest("GET", REGS + "/%s/devices?pageSize=500&pageToken=%s" % (rid, page["nextPageToken"])))
        seen += [x["id"] for x in page.get("devices", [])]
    assert seen == ["imp-%04d" % i for i in range(2000)]
    h.Device(d, P, L, rid, "imp-1999", key, "ES256").connect().close()


def test_import_into_existing_registry_with_json_content_type(d, reg):
    key = h.ec_key()
    recs = [{"registry": reg, "device": {"id": "j-%d" % i, "credentials": [
        {"publicKey": {"format": 2, "key": h.public_pem(key)}}]}} for i in range(3)]
    assert ok(import_(d, "\r\n".join(json.dumps(r) for r in recs) + "\n\n", "application/json")) == \
        {"registriesCreated": 0, "devicesCreated": 3}
    assert listed(d, reg, "deviceIds=j-0,j-2") == ["j-0", "j-2"]


@pytest.mark.parametrize("bad_line,code,status,why", [
    ('{"device": {"id": "x-1", "credentials": [{"publicKey": {"format": "ES256_PEM", "key": "nope"}}]}, '
     '"registry": "REG"}', 400, "INVALID_ARGUMENT", "credentials[0].publicKey.key"),
    ('{"device": {"id": "dup-0"}, "registry": "REG"}', 409, "ALREADY_EXISTS", "dup-0"),
    ('{"device": {"id": "x-2"}, "registry": "no-such-reg"}', 404, "NOT_FOUND", "no-such-reg"),
    ('{"device": {"id": "x-3"}}', 400, "INVALID_ARGUMENT", "expected"),
    ('{"registry": {"id": "REG"}}', 409, "ALREADY_EXISTS", "resource=impreg"),
    ('{"registry": {"id": "REG2"}, "extra": 1}', 400, "INVALID_ARGUMENT", "Unknown name"),
    ('{"device": {"id": "x-4"}, "registry": "REG"', 400, "INVALID_ARGUMENT", "Invalid JSON"),
    ('[1, 2]', 400, "INVALID_ARGUMENT", "expected"),
])
def test_import_is_all_or_nothing(d, bad_line, code, status, why):
    rid = h.unique_id("impreg")
    rid2 = h.unique_id("impreg")
    recs = [{"registry": {"id": rid}}, {"registry": {"id": rid2}}, {"device": {"id": "dup-0"}, "registry": rid},
            {"device": {"id": "ok-1"}, "registry": rid2}]
    text = ndjson(recs) + "\n" + bad_line.replace("REG2", rid2 + "x").replace("REG", rid) + "\n" + \
        ndjson([{"device": {"id": "after"}, "registry": rid}])
    err = assert_error(import_(d, text), code, status, why)
    assert err["message"].startswith("line 6: "), err["message"]
    # Nothing of the file is stored.
    assert_error(d.rest("GET", REGS + "/" + rid), 404, "NOT_FOUND")
    assert_error(d.rest("GET", REGS + "/" + rid2), 404, "NOT_FOUND")


def test_import_checks_registry_cas(d):
    ca_key = h.ec_key()
    ca_cert, ca_pem = make_ca(ca_key)
    rid = h.unique_id("impca")
    good = issue(h.ec_key(), ca_cert, ca_key)
    recs = [{"registry": {"id": rid, "credentials": [ca_cred(ca_pem)]}},
            {"registry": rid, "device": {"id": "good", "credentials": [dev_cred(good)]}},
            {"registry": rid, "device": {"id": "bad", "credentials": [dev_cred(h.self_signed_pem(h.ec_key()))]}}]
    err = assert_error(import_(d, ndjson(recs)), 403, "PERMISSION_DENIED", DENIED % 0)
    assert err["message"].startswith("line 3: ")
    assert ok(import_(d, ndjson(recs[:2]))) == {"registriesCreated": 1, "devicesCreated": 1}


def test_import_refusals(d):
    assert_error(import_(d, "\n\n"), 400, "INVALID_ARGUMENT", "no records")
    r = import_(d, ndjson([{"registry": {"id": h.unique_id("impreg")}}]), "text/csv")
    assert r.status_code == 415, r.text
    r = d.rest("GET", "/v1/projects/%s/locations/%s:importDevices" % (P, L))
    assert r.status_code == 405
    r = d.rest("POST", "/v1/projects/%s/locations/%s:importDevices" % (P, L), data=b"{}", token=None,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 401


def test_import_body_may_exceed_http_max_body(d):
    """The import alone may carry more than limits.http_max_body (1 MiB by
    default); other routes may not."""
    rid = h.unique_id("impreg")
    pad = "p" * 30000
    recs = [{"registry": {"id": rid}}] + [{"registry": rid, "device": {"id": "big-%d" % i, "metadata": {
        "a": pad, "b": pad}}} for i in range(30)]
    text = ndjson(recs)
    assert len(text) > 1024 * 1024
    assert ok(import_(d, text)) == {"registriesCreated": 1, "devicesCreated": 30}
    try:
        r = d.rest("POST", REGS, data=text.encode(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text[:200]
    except requests.ConnectionError:
        pass    # refused (and closed) before the client finished sending


# ---------------------------------------------------------------- Google's limits

@pytest.mark.parametrize("metadata,why", [
    ({"1abc": "v"}, "invalid key"),
    ({"a b": "v"}, "invalid key"),
    ({"k" * 129: "v"}, "invalid key"),
    ({"": "v"}, "invalid key"),
    ({"k": "v" * (32 * 1024 + 1)}, "at most 32768 bytes"),
    ({"k%d" % i: "v" for i in range(501)}, "at most 500"),
    ({"k%d" % i: "v" * 32 * 1024 for i in range(8)}, "under 262144 bytes"),
    ({"k": 5}, "strings"),
])
def test_metadata_limits(d, reg, metadata, why):
    r = d.rest("POST", REGS + "/%s/devices" % reg, json={"id": h.unique_id("dev"), "metadata": metadata})
    assert_error(r, 400, "INVALID_ARGUMENT", why)


def test_metadata_at_the_limits(d, reg):
    md = {"k" * 128: "v" * 32 * 1024, "a-b_c.d+e~f%g": "x"}
    md.update({"k%d" % i: "" for i in range(498)})
    got = ok(d.rest("POST", REGS + "/%s/devices" % reg, json={"id": h.unique_id("dev"), "metadata": md}))
    assert got["metadata"] == md
