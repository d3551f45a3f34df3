"""The device HTTPS bridge (Google's DeviceService v1 on the "http-devices"
listener): publishEvent, setState and getConfig with a device JWT as Bearer
token on every request, driven with python requests over real TLS trusting
the daemon's CA, the way Google's own HTTP samples did."""
import base64
import json
import signal
import socket
import ssl
import time

import pytest
import requests

import helpers as h

T_HTTP = 15 * h.SCALE


@pytest.fixture(scope="module")
def hd(mod_pool):
    """One daemon with the devices listener, shared by this module."""
    return mod_pool(http_devices=True)


@pytest.fixture
def hd_backend(hd):
    b = h.Backend(hd.broker.port, topic=["google/#", "pubsub/#"]).connect()
    yield b
    b.close()


def b64(data):
    return base64.b64encode(data).decode()


def b64url_nopad(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def dev_url(d, dev, suffix, name=None):
    return "https://127.0.0.1:%d/v1/projects/%s/locations/%s/registries/%s/devices/%s%s" % (
        d.devices_port, dev.project, dev.location, dev.registry, name or dev.id, suffix)


_DEFAULT = object()


def call(d, dev, method, suffix, body=None, token=_DEFAULT, name=None, params=None, headers=None,
         data=None, session=None):
    hdr = {"cache-control": "no-cache"}     # as the samples sent
    tok = dev.token() if token is _DEFAULT else token
    if tok is not None:
        hdr["authorization"] = "Bearer " + tok
    if body is not None:
        data = json.dumps(body)
        hdr["content-type"] = "application/json"
    hdr.update(headers or {})
    return (session or requests).request(method, dev_url(d, dev, suffix, name), data=data, headers=hdr,
                                         params=params, verify=d.ca_path, timeout=T_HTTP)


def publish(d, dev, payload, sub=None, **kw):
    body = {"binaryData": b64(payload)}
    if sub is not None:
        body["subFolder"] = sub
    return call(d, dev, "POST", ":publishEvent", body, **kw)


def set_state(d, dev, payload, **kw):
    return call(d, dev, "POST", ":setState", {"state": {"binaryData": b64(payload)}}, **kw)


def get_config(d, dev, **kw):
    return call(d, dev, "GET", "/config", **kw)


def assert_error(r, code, status, message=None):
    assert r.status_code == code, "%s %s" % (r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == code and err["status"] == status, r.text
    if message is not None:
        assert message in err["message"], r.text
    return err


def modify_config(d, dev, data):
    r = d.rest("POST", "%s/devices/%s:modifyCloudToDeviceConfig" % (
        d.reg_path(dev.project, dev.location, dev.registry), dev.id), json={"binaryData": b64(data)})
    if r.status_code == 501:
        pytest.skip("the admin API does not implement modifyCloudToDeviceConfig yet")
    assert r.status_code == 200, r.text
    return r.json()


def still_serves(d):
    """After a refusal the daemon must serve a fresh, valid device."""
    dev = d.new_device()
    r = get_config(d, dev)
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- publishEvent

def test_publish_event_arrives_byte_for_byte(hd, hd_backend):
    dev = hd.new_device()
    payload = bytes(range(256)) + b"\x00\xff" + dev.id.encode()
    r = publish(hd, dev, payload)
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert r.headers["content-type"].startswith("application/json")
    _, got, qos, retain = hd_backend.wait_message(dev.upstream_topic("events"), payload)
    assert got == payload and qos == 1 and not retain


@pytest.mark.parametrize("fmt", ["RSA_PEM", "ES256_X509_PEM"])
def test_publish_event_with_subfolder(hd, hd_backend, fmt):
    dev = hd.new_device(fmt)
    payload = b"sub-" + dev.id.encode()
    r = publish(hd, dev, payload, sub="a/b")
    assert r.status_code == 200, r.text
    hd_backend.wait_message(dev.upstream_topic("events", "a/b"), payload)
    # An empty subfolder is no subfolder (proto3 default).
    r = publish(hd, dev, payload + b"-empty", sub="")
    assert r.status_code == 200, r.text
    hd_backend.wait_message(dev.upstream_topic("events"), payload + b"-empty")


def test_snake_case_and_url_safe_base64(hd, hd_backend):
    """Google's Python sample: binary_data / sub_folder, URL-safe base64."""
    dev = hd.new_device()
    payload = b"\xfb\xff\xbf?>" + dev.id.encode()
    assert "-" in b64url_nopad(payload) or "_" in b64url_nopad(payload)
    r = call(hd, dev, "POST", ":publishEvent", {"binary_data": b64url_nopad(payload), "sub_folder": "snake"})
    assert r.status_code == 200, r.text
    hd_backend.wait_message(dev.upstream_topic("events", "snake"), payload)
    r = call(hd, dev, "POST", ":setState", {"state": {"binary_data": b64url_nopad(payload)}})
    assert r.status_code == 200, r.text
    hd_backend.wait_message(dev.upstream_topic("state"), payload)


def test_device_named_by_num_id(hd, hd_backend):
    dev = hd.new_device()
    num_id = dev.resource["numId"]
    payload = b"by-num-id-" + dev.id.encode()
    r = publish(hd, dev, payload, name=num_id)
    assert r.status_code == 200, r.text
    # The upstream topic names the device by its string id, as on MQTT.
    hd_backend.wait_message(dev.upstream_topic("events"), payload)
    r = get_config(hd, dev, name=num_id)
    assert r.status_code == 200, r.text


def test_event_payload_limit(hd):
    dev = hd.new_device()
    r = publish(hd, dev, b"x" * (256 * 1024))
    assert r.status_code == 200, r.text
    r = publish(hd, dev, b"x" * (256 * 1024 + 1))
    assert_error(r, 400, "INVALID_ARGUMENT", "exceeds the limit")
    still_serves(hd)


# ---------------------------------------------------------------- setState

def test_set_state_stored_and_published(hd, hd_backend):
    dev = hd.new_device()
    payload = b'{"on": true, "id": "%s"}' % dev.id.encode()
    r = set_state(hd, dev, payload)
    assert r.status_code == 200, r.text
    assert r.json() == {}
    hd_backend.wait_message(dev.upstream_topic("state"), payload)
    r = hd.rest("GET", "%s/devices/%s/states" % (hd.reg_path(dev.project, dev.location, dev.registry), dev.id))
    assert r.status_code == 200, r.text
    states = r.json()["deviceStates"]
    assert base64.b64decode(states[0]["binaryData"]) == payload
    assert states[0]["updateTime"].endswith("Z")
    # lastStateTime follows (marks are flushed once a second).
    path = "%s/devices/%s" % (hd.reg_path(dev.project, dev.location, dev.registry), dev.id)
    h.wait_for(lambda: hd.rest("GET", path).json().get("lastStateTime", "1970").startswith("20"), T_HTTP,
               "lastStateTime set")


def test_state_payload_limit(hd):
    dev = hd.new_device()
    assert set_state(hd, dev, b"s" * (64 * 1024)).status_code == 200
    assert_error(set_state(hd, dev, b"s" * (64 * 1024 + 1)), 400, "INVALID_ARGUMENT", "exceeds the limit")


def test_state_rate_limit(daemon_factory):
    """Google: 1 state update per second per device; over it, 429."""
    d = daemon_factory(http_devices=True, google={"max_state_per_second": 1})
    dev = d.new_device()
    other = d.new_device()
    assert set_state(d, dev, b"one").status_code == 200
    r = set_state(d, dev, b"two")
    assert_error(r, 429, "RESOURCE_EXHAUSTED")
    assert set_state(d, other, b"other device").status_code == 200
    time.sleep(1.1)
    assert set_state(d, dev, b"three").status_code == 200
    r = d.rest("GET", "%s/devices/%s/states" % (d.reg_path(dev.project, dev.location, dev.registry), dev.id))
    got = [base64.b64decode(s["binaryData"]) for s in r.json()["deviceStates"]]
    assert got == [b"three", b"one"]
    d.wait_log(r"setState refused client_id=\"[^\"]*%s\" peer=\S+ reason=rate-limit" % dev.id)


# ---------------------------------------------------------------- getConfig

def test_get_config_initial_version(hd):
    dev = hd.new_device()
    # A new device has version 1 with an empty payload.
    r = get_config(hd, dev)
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert cfg["version"] == "1" and cfg["binaryData"] == ""
    assert cfg["cloudUpdateTime"].endswith("Z")
    for params in ({"localVersion": "0"}, {"local_version": "0"}, {"localVersion": "1"}):
        r = get_config(hd, dev, params=params)
        assert r.status_code == 200 and r.json()["version"] == "1", r.text
    # Google: a local version above the latest is OUT_OF_RANGE.
    assert_error(get_config(hd, dev, params={"localVersion": "2"}), 400, "OUT_OF_RANGE")
    assert_error(get_config(hd, dev, params={"local_version": "-1"}), 400, "INVALID_ARGUMENT")
    assert_error(get_config(hd, dev, params={"localVersion": "x"}), 400, "INVALID_ARGUMENT")
    # lastConfigSendTime follows (marks are flushed once a second).
    path = "%s/devices/%s" % (hd.reg_path(dev.project, dev.location, dev.registry), dev.id)
    h.wait_for(lambda: hd.rest("GET", path).json().get("lastConfigSendTime", "1970").startswith("20"), T_HTTP,
               "lastConfigSendTime set")


def test_get_config_after_update(hd):
    dev = hd.new_device()
    modify_config(hd, dev, b"cfg-two\x00\xff")
    for params in ({"localVersion": "0"}, {"local_version": "1"}, None):
        r = get_config(hd, dev, params=params)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == "2"
        assert base64.b64decode(r.json()["binaryData"]) == b"cfg-two\x00\xff"
    # The device already has the latest: answered at once, with the latest
    # (Google long-polled here).
    r = get_config(hd, dev, params={"localVersion": "2"})
    assert r.status_code == 200 and r.json()["version"] == "2", r.text
    assert_error(get_config(hd, dev, params={"localVersion": "3"}), 400, "OUT_OF_RANGE")


# ---------------------------------------------------------------- authentication

def test_missing_token_is_401(hd):
    dev = hd.new_device()
    r = get_config(hd, dev, token=None)
    assert_error(r, 401, "UNAUTHENTICATED")
    assert r.headers.get("www-authenticate", "").startswith("Bearer")
    r = get_config(hd, dev, token=None, headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert_error(r, 401, "UNAUTHENTICATED")
    r = publish(hd, dev, b"x", token=None)
    assert_error(r, 401, "UNAUTHENTICATED")


def test_bad_tokens_are_403_and_logged_by_reason(hd):
    dev = hd.new_device()
    now = int(time.time())
    cases = [
        ("not-jwt", "not.a-jwt"),
        ("aud", dev.token(aud="another-project")),
        ("bad-signature", h.make_jwt(h.ec_key(), "ES256", dev.project)),
        ("expired", dev.token(iat=now - 7200, exp=now - 3600)),
        ("missing-claim", dev.token(omit=("exp",))),
        ("alg-mismatch", h.jwt_hs256(h.public_pem(dev.key), dev.project)),
    ]
    for reason, tok in cases:
        mark = hd.log_mark()
        for r in (publish(hd, dev, b"nope", token=tok), get_config(hd, dev, token=tok),
                  set_state(hd, dev, b"nope", token=tok)):
            err = assert_error(r, 403, "PERMISSION_DENIED")
            assert err["message"] == "The caller does not have permission"
        hd.wait_log(r"refused client_id=\"projects/%s/locations/%s/registries/%s/devices/%s\" peer=\S+ reason=%s"
                    % (dev.project, dev.location, dev.registry, dev.id, reason), since=mark)
        assert tok not in hd.log_text(mark), "the token was logged"
    still_serves(hd)


def test_unknown_and_blocked_devices_are_403(hd):
    dev = hd.new_device()
    ghost = h.Device(hd, dev.project, dev.location, dev.registry, "no-such-device", dev.key, dev.alg)
    mark = hd.log_mark()
    assert_error(publish(hd, ghost, b"x"), 403, "PERMISSION_DENIED", "The caller does not have permission")
    hd.wait_log(r"reason=unknown-device", since=mark)
    blocked = hd.new_device(blocked=True)
    mark = hd.log_mark()
    assert_error(get_config(hd, blocked), 403, "PERMISSION_DENIED", "The caller does not have permission")
    hd.wait_log(r"reason=blocked", since=mark)
    # Blocking an existing device takes effect on its next request.
    path = "%s/devices/%s" % (hd.reg_path(dev.project, dev.location, dev.registry), dev.id)
    assert get_config(hd, dev).status_code == 200
    r = hd.rest("PATCH", path + "?updateMask=blocked", json={"blocked": True})
    assert r.status_code == 200, r.text
    assert_error(publish(hd, dev, b"x"), 403, "PERMISSION_DENIED")


def test_http_disabled_registry(hd):
    reg = h.unique_id("reg-nohttp")
    hd.create_registry(reg)
    dev = hd.new_device(registry=reg)
    assert get_config(hd, dev).status_code == 200
    r = hd.rest("PATCH", hd.reg_path(dev.project, dev.location, reg) + "?updateMask=httpConfig",
                json={"httpConfig": {"httpEnabledState": "HTTP_DISABLED"}})
    assert r.status_code == 200, r.text
    for r in (get_config(hd, dev), publish(hd, dev, b"x"), set_state(hd, dev, b"x")):
        assert_error(r, 403, "PERMISSION_DENIED", "HTTP is disabled for this registry")


# ---------------------------------------------------------------- routing and refusals

def test_notification_configs_route_events_and_state(hd, hd_backend):
    reg = h.unique_id("reg-routes")
    hd.create_registry(reg, body={
        "id": reg,
        "eventNotificationConfigs": [
            {"subfolderMatches": "alerts", "pubsubTopicName": "projects/%s/topics/alerts" % hd.DEFAULT_PROJECT},
            {"pubsubTopicName": "projects/%s/topics/all-events" % hd.DEFAULT_PROJECT}],
        "stateNotificationConfig": {"pubsubTopicName": "projects/%s/topics/states" % hd.DEFAULT_PROJECT},
    })
    dev = hd.new_device(registry=reg)
    tag = dev.id.encode()
    assert publish(hd, dev, b"alert-" + tag, sub="alerts").status_code == 200
    assert publish(hd, dev, b"plain-" + tag).status_code == 200
    assert set_state(hd, dev, b"state-" + tag).status_code == 200
    hd_backend.wait_message("pubsub/%s/alerts" % hd.DEFAULT_PROJECT, b"alert-" + tag)
    hd_backend.wait_message("pubsub/%s/all-events" % hd.DEFAULT_PROJECT, b"plain-" + tag)
    hd_backend.wait_message("pubsub/%s/states" % hd.DEFAULT_PROJECT, b"state-" + tag)


# ---------------------------------------------------------------- gateways
#
# GatewayInfo is a oneof [reference 2, ClearBlade's GatewayInfo page]:
# delegatedDeviceId when the path and the JWT are the GATEWAY's, acting for
# a device; gatewayId when the path and the JWT are the DEVICE's, coming
# through a gateway.

def new_gateway(d, method="ASSOCIATION_ONLY", registry=None):
    """A GATEWAY device with its own EC key (method None: no auth method)."""
    key = h.ec_key()
    gid = h.unique_id("gw")
    registry = registry or d.DEFAULT_REGISTRY
    d.ensure_registry(d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, registry)
    cfg = {"gatewayType": "GATEWAY"}
    if method:
        cfg["gatewayAuthMethod"] = method
    body = {"id": gid, "gatewayConfig": cfg,
            "credentials": [{"publicKey": {"format": "ES256_PEM", "key": h.public_pem(key)}}]}
    r = d.rest("POST", d.reg_path(d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, registry) + "/devices", json=body)
    assert r.status_code == 200, r.text
    return h.Device(d, d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, registry, gid, key, "ES256", r.json())


def bind(d, gw, dev):
    r = d.rest("POST", "%s:bindDeviceToGateway" % d.reg_path(gw.project, gw.location, gw.registry),
               json={"gatewayId": gw.id, "deviceId": dev.id})
    assert r.status_code == 200, r.text


def device_json(d, dev):
    r = d.rest("GET", "%s/devices/%s" % (d.reg_path(dev.project, dev.location, dev.registry), dev.id))
    assert r.status_code == 200, r.text
    return r.json()


def for_device(dev, body=None, snake=False):
    """A body with gatewayInfo.delegatedDeviceId naming dev."""
    body = dict(body or {})
    if snake:
        body["gateway_info"] = {"delegated_device_id": dev}
    else:
        body["gatewayInfo"] = {"delegatedDeviceId": dev}
    return body


def test_gateway_publishes_for_bound_device(hd, hd_backend):
    gw = new_gateway(hd)
    dev = hd.new_device()
    bind(hd, gw, dev)
    # The gateway's path and its own JWT; the event is the device's.
    payload = b"via-gw-" + dev.id.encode()
    r = call(hd, gw, "POST", ":publishEvent", for_device(dev.id, {"binaryData": b64(payload)}))
    assert r.status_code == 200, r.text
    assert r.json() == {}
    _, got, qos, _ = hd_backend.wait_message(dev.upstream_topic("events"), payload)
    assert got == payload and qos == 1
    # Snake case, a subfolder, and the device named by its numId: still
    # the device's topics, by its string id.
    r = call(hd, gw, "POST", ":publishEvent",
             for_device(dev.resource["numId"], {"binary_data": b64url_nopad(payload + b"-sub"), "sub_folder": "s/t"},
                        snake=True))
    assert r.status_code == 200, r.text
    hd_backend.wait_message(dev.upstream_topic("events", "s/t"), payload + b"-sub")
    # Google's gatewayConfig bookkeeping on the device, and its event time.
    h.wait_for(lambda: device_json(hd, dev).get("lastEventTime", "1970").startswith("20"), T_HTTP,
               "the device's lastEventTime set")
    gc = device_json(hd, dev)["gatewayConfig"]
    assert gc["lastAccessedGatewayId"] == gw.id
    assert gc["lastAccessedGatewayTime"].endswith("Z")
    assert not device_json(hd, gw).get("lastEventTime", "1970").startswith("20")
    hd.wait_log(r"publishEvent client_id=\"[^\"]*/devices/%s\" peer=\S+ delegatedDeviceId=\"%s\" acts for "
                r"device \"%s\"" % (gw.id, dev.id, dev.id))


def test_gateway_sets_state_for_bound_device(hd, hd_backend):
    gw = new_gateway(hd)
    dev = hd.new_device()
    bind(hd, gw, dev)
    payload = b'{"via": "%s"}' % gw.id.encode()
    r = call(hd, gw, "POST", ":setState", for_device(dev.id, {"state": {"binaryData": b64(payload)}}))
    assert r.status_code == 200, r.text
    hd_backend.wait_message(dev.upstream_topic("state"), payload)
    reg = hd.reg_path(dev.project, dev.location, dev.registry)
    r = hd.rest("GET", "%s/devices/%s/states" % (reg, dev.id))
    assert r.status_code == 200, r.text
    assert [base64.b64decode(s["binaryData"]) for s in r.json()["deviceStates"]] == [payload]
    # Nothing was recorded for the gateway itself.
    r = hd.rest("GET", "%s/devices/%s/states" % (reg, gw.id))
    assert r.status_code == 200 and not r.json().get("deviceStates"), r.text
    h.wait_for(lambda: device_json(hd, dev).get("lastStateTime", "1970").startswith("20"), T_HTTP,
               "the device's lastStateTime set")
    assert device_json(hd, dev)["gatewayConfig"]["lastAccessedGatewayId"] == gw.id


def test_gateway_gets_config_for_bound_device(hd):
    gw = new_gateway(hd)
    dev = hd.new_device()
    bind(hd, gw, dev)
    modify_config(hd, dev, b"device-cfg\x00")
    for params in ({"gatewayInfo.delegatedDeviceId": dev.id},
                   {"gateway_info.delegated_device_id": dev.id, "local_version": "1"},
                   {"gatewayInfo.delegated_device_id": dev.resource["numId"], "localVersion": "0"}):
        r = get_config(hd, gw, params=params)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == "2"
        assert base64.b64decode(r.json()["binaryData"]) == b"device-cfg\x00"
    assert_error(get_config(hd, gw, params={"gatewayInfo.delegatedDeviceId": dev.id, "localVersion": "3"}),
                 400, "OUT_OF_RANGE")
    # Without gatewayInfo the gateway reads its own config.
    r = get_config(hd, gw)
    assert r.status_code == 200 and r.json()["version"] == "1" and r.json()["binaryData"] == "", r.text
    h.wait_for(lambda: device_json(hd, dev).get("lastConfigSendTime", "1970").startswith("20"), T_HTTP,
               "the device's lastConfigSendTime set")


def _refused(d, gw, dev_id, reason, message, token=None):
    """publishEvent, setState and getConfig by gw for dev_id: each 403 with
    message, logged with reason, the token never logged."""
    tok = token or gw.token()
    mark = d.log_mark()
    for r in (call(d, gw, "POST", ":publishEvent", for_device(dev_id, {"binaryData": b64(b"no")}), token=tok),
              call(d, gw, "POST", ":setState", for_device(dev_id, {"state": {"binaryData": b64(b"no")}}),
                   token=tok),
              get_config(d, gw, params={"gatewayInfo.delegatedDeviceId": dev_id}, token=tok)):
        assert_error(r, 403, "PERMISSION_DENIED", message)
    for verb in ("publishEvent", "setState", "getConfig"):
        d.wait_log(r"%s refused client_id=\"[^\"]*/devices/%s\" peer=\S+ gateway=\"%s\" device=\"%s\" reason=%s"
                   % (verb, gw.id, gw.id, dev_id, reason), since=mark)
    assert tok not in d.log_text(mark), "the token was logged"


def test_gateway_refusals(hd):
    reg = hd.reg_path(hd.DEFAULT_PROJECT, hd.DEFAULT_LOCATION, hd.DEFAULT_REGISTRY)
    gw = new_gateway(hd)
    unbound = hd.new_device()
    _refused(hd, gw, unbound.id, "not-bound", "is not bound to the gateway")
    assert "lastAccessedGatewayId" not in device_json(hd, unbound).get("gatewayConfig", {})

    # A device that is not a gateway cannot act for another, bound or not.
    plain = hd.new_device()
    _refused(hd, plain, unbound.id, "not-a-gateway", "is not a gateway")

    # The delegated device must exist, in the gateway's registry.
    _refused(hd, gw, "no-such-device", "unknown-device", "does not exist")
    other_reg = h.unique_id("reg-gw")
    hd.create_registry(other_reg)
    elsewhere = hd.new_device(registry=other_reg)
    _refused(hd, gw, elsewhere.id, "unknown-device", "does not exist")

    # A blocked delegated device, even when bound.
    blocked = hd.new_device()
    bind(hd, gw, blocked)
    assert call(hd, gw, "POST", ":publishEvent", for_device(blocked.id, {"binaryData": b64(b"ok")})).status_code == 200
    r = hd.rest("PATCH", "%s/devices/%s?updateMask=blocked" % (reg, blocked.id), json={"blocked": True})
    assert r.status_code == 200, r.text
    _refused(hd, gw, blocked.id, "blocked-device", "is blocked")

    # The methods that need the device's own JWT: a gateway cannot present
    # it over HTTP.
    for method in ("DEVICE_AUTH_TOKEN_ONLY", "ASSOCIATION_AND_DEVICE_AUTH_TOKEN"):
        tgw = new_gateway(hd, method)
        dev = hd.new_device()
        bind(hd, tgw, dev)
        _refused(hd, tgw, dev.id, "device-token-required", "needs the device's own JWT")
    # No auth method: no device may use the gateway.
    ugw = new_gateway(hd, None)
    dev = hd.new_device()
    bind(hd, ugw, dev)
    _refused(hd, ugw, dev.id, "auth-method-unspecified", "no gatewayAuthMethod")
    # A gateway naming itself.
    _refused(hd, gw, gw.id, "self", "leave gatewayInfo unset")

    # The gateway is authenticated as always: a bad JWT is the usual 403.
    bound = hd.new_device()
    bind(hd, gw, bound)
    r = call(hd, gw, "POST", ":publishEvent", for_device(bound.id, {"binaryData": b64(b"x")}),
             token=h.make_jwt(h.ec_key(), "ES256", gw.project))
    assert_error(r, 403, "PERMISSION_DENIED", "The caller does not have permission")
    # The device's own JWT on the gateway's path is not the gateway's.
    r = call(hd, gw, "POST", ":publishEvent", for_device(bound.id, {"binaryData": b64(b"x")}), token=bound.token())
    assert_error(r, 403, "PERMISSION_DENIED", "The caller does not have permission")
    still_serves(hd)


def test_device_through_gateway(hd, hd_backend):
    """gatewayInfo.gatewayId: the device's own path and JWT, through a
    gateway; the gateway's rules still apply."""
    gw = new_gateway(hd)
    dev = hd.new_device()
    bind(hd, gw, dev)
    payload = b"through-" + dev.id.encode()
    r = call(hd, dev, "POST", ":publishEvent", {"binaryData": b64(payload), "gatewayInfo": {"gatewayId": gw.id}})
    assert r.status_code == 200, r.text
    hd_backend.wait_message(dev.upstream_topic("events"), payload)
    assert device_json(hd, dev)["gatewayConfig"]["lastAccessedGatewayId"] == gw.id
    r = call(hd, dev, "POST", ":setState",
             {"state": {"binaryData": b64(payload)}, "gateway_info": {"gateway_id": gw.resource["numId"]}})
    assert r.status_code == 200, r.text
    r = get_config(hd, dev, params={"gatewayInfo.gatewayId": gw.id})
    assert r.status_code == 200 and r.json()["version"] == "1", r.text

    # The gateway's JWT does not stand for the device's.
    r = call(hd, dev, "POST", ":publishEvent", {"binaryData": b64(b"x"), "gatewayInfo": {"gatewayId": gw.id}},
             token=gw.token())
    assert_error(r, 403, "PERMISSION_DENIED", "The caller does not have permission")

    def refused(d, via, reason, message):
        mark = hd.log_mark()
        r = call(hd, d, "POST", ":publishEvent", {"binaryData": b64(b"x"), "gatewayInfo": {"gatewayId": via}})
        assert_error(r, 403, "PERMISSION_DENIED", message)
        hd.wait_log(r"publishEvent refused client_id=\"[^\"]*/devices/%s\" peer=\S+ gateway=\"%s\" "
                    r"device=\"%s\" reason=%s" % (d.id, via, d.id, reason), since=mark)

    unbound = hd.new_device()
    refused(unbound, gw.id, "not-bound", "is not bound")
    refused(unbound, dev.id, "not-a-gateway", "is not a gateway")
    refused(unbound, "no-such-gw", "unknown-gateway", "does not exist")
    refused(gw, gw.id, "self", "leave gatewayInfo unset")
    # DEVICE_AUTH_TOKEN_ONLY: the device's JWT is the whole rule, no binding.
    tgw = new_gateway(hd, "DEVICE_AUTH_TOKEN_ONLY")
    r = call(hd, unbound, "POST", ":publishEvent", {"binaryData": b64(b"tok"), "gatewayInfo": {"gatewayId": tgw.id}})
    assert r.status_code == 200, r.text
    # ASSOCIATION_AND_DEVICE_AUTH_TOKEN: the JWT and the binding.
    agw = new_gateway(hd, "ASSOCIATION_AND_DEVICE_AUTH_TOKEN")
    refused(unbound, agw.id, "not-bound", "is not bound")
    bind(hd, agw, unbound)
    r = call(hd, unbound, "POST", ":publishEvent", {"binaryData": b64(b"both"), "gatewayInfo": {"gatewayId": agw.id}})
    assert r.status_code == 200, r.text
    refused(unbound, new_gateway(hd, None).id, "auth-method-unspecified", "no gatewayAuthMethod")
    # A blocked gateway carries nothing.
    reg = hd.reg_path(gw.project, gw.location, gw.registry)
    r = hd.rest("PATCH", "%s/devices/%s?updateMask=blocked" % (reg, agw.id), json={"blocked": True})
    assert r.status_code == 200, r.text
    refused(unbound, agw.id, "blocked-gateway", "is blocked")


@pytest.mark.parametrize("info", [{"gatewayId": "gw-1", "delegatedDeviceId": "dev-1"}, {"gatewayNumId": "1"},
                                  {"gatewayId": ""}, {"gatewayId": 5}, {"gatewayId": "bad/id"}, "gw-1"])
def test_bad_gateway_info_is_400(hd, info):
    dev = hd.new_device()
    r = call(hd, dev, "POST", ":publishEvent", {"binaryData": b64(b"x"), "gatewayInfo": info})
    assert_error(r, 400, "INVALID_ARGUMENT")
    r = call(hd, dev, "POST", ":setState", {"state": {}, "gatewayInfo": info})
    assert_error(r, 400, "INVALID_ARGUMENT")
    r = get_config(hd, dev, params=[("gatewayInfo.gatewayId", "gw-1"), ("gatewayInfo.delegatedDeviceId", "d-1")])
    assert_error(r, 400, "INVALID_ARGUMENT", "Oneof")
    r = get_config(hd, dev, params={"gatewayInfo.gatewayNumId": "1"})
    assert_error(r, 400, "INVALID_ARGUMENT", "Unknown name")
    still_serves(hd)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"binaryData": 5}', b'{"binaryData": "a"}',
                                 b'{"binaryData": "aGk=", "unknownField": 1}',
                                 b'{"binaryData": "aGk=", "binary_data": "aGk="}',
                                 b'{"subFolder": "a/#"}', b"\xff\xfe"])
def test_bad_bodies_are_400(hd, raw):
    dev = hd.new_device()
    r = call(hd, dev, "POST", ":publishEvent", data=raw, headers={"content-type": "application/json"})
    assert_error(r, 400, "INVALID_ARGUMENT")
    still_serves(hd)


def test_routes_methods_and_sizes(hd):
    dev = hd.new_device()
    base = "https://127.0.0.1:%d" % hd.devices_port
    r = requests.get(base + "/v1/projects/p/locations/l/registries/r/devices/d:sendCommand", verify=hd.ca_path,
                     timeout=T_HTTP)
    assert_error(r, 404, "NOT_FOUND")
    r = requests.get(base + "/", verify=hd.ca_path, timeout=T_HTTP)
    assert_error(r, 404, "NOT_FOUND")
    r = call(hd, dev, "GET", ":publishEvent")
    assert r.status_code == 405 and r.headers.get("allow") == "POST", r.text
    r = call(hd, dev, "POST", "/config", {})
    assert r.status_code == 405 and r.headers.get("allow") == "GET", r.text
    r = call(hd, dev, "DELETE", ":setState")
    assert r.status_code == 405
    still_serves(hd)


def test_body_over_max_body_is_413(hd):
    """limits.http_max_body (1 MiB by default) bounds what is read at all:
    refused from the Content-Length, before any of the body is sent."""
    dev = hd.new_device()
    path = "/v1/projects/%s/locations/%s/registries/%s/devices/%s:publishEvent" % (
        dev.project, dev.location, dev.registry, dev.id)
    s = _tls(hd)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                   "Content-Length: %d\r\n\r\n" % (path, dev.token(), 1024 * 1024 + 1)).encode())
        status, hdrs, body = _read_response(s)
        assert status == 413 and hdrs.get("connection") == "close"
        assert json.loads(body)["error"]["status"] == "INVALID_ARGUMENT"
    finally:
        s.close()
    still_serves(hd)


# ---------------------------------------------------------------- the wire

def _tls(d):
    ctx = ssl.create_default_context(cafile=d.ca_path)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.devices_port), timeout=T_HTTP),
                        server_hostname="127.0.0.1")
    return s


def _read_response(s):
    """(status, headers dict, body) of one HTTP/1.1 response with Content-Length."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed mid-response: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, hdrs, rest[:n]


def _request(method, path, tok, body=b"", extra=""):
    return ("%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n%s"
            "Content-Length: %d\r\n\r\n" % (method, path, tok, extra, len(body))).encode() + body


def test_keep_alive_and_http11_only(hd, hd_backend):
    dev = hd.new_device()
    path = "/v1/projects/%s/locations/%s/registries/%s/devices/%s" % (dev.project, dev.location, dev.registry,
                                                                      dev.id)
    s = _tls(hd)
    try:
        # A client offering h2 still speaks HTTP/1.1 here.
        assert s.selected_alpn_protocol() in (None, "http/1.1")
        tok = dev.token()
        body = json.dumps({"binaryData": b64(b"ka-1")}).encode()
        s.sendall(_request("POST", path + ":publishEvent", tok, body))
        status, _, got = _read_response(s)
        assert status == 200 and json.loads(got) == {}
        s.sendall(_request("GET", path + "/config?localVersion=0", tok))
        status, _, got = _read_response(s)
        assert status == 200 and json.loads(got)["version"] == "1"
        # A refusal on the same connection does not end it.
        s.sendall(_request("GET", path + "/config", "bad.token.x"))
        status, _, _ = _read_response(s)
        assert status == 403
        body = json.dumps({"binaryData": b64(b"ka-2")}).encode()
        s.sendall(_request("POST", path + ":publishEvent", tok, body))
        status, _, _ = _read_response(s)
        assert status == 200
    finally:
        s.close()
    hd_backend.wait_message(dev.upstream_topic("events"), b"ka-2")


def test_length_required_and_chunked_refused(hd):
    dev = hd.new_device()
    path = "/v1/projects/%s/locations/%s/registries/%s/devices/%s:publishEvent" % (
        dev.project, dev.location, dev.registry, dev.id)
    s = _tls(hd)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (path, dev.token())).encode())
        status, hdrs, _ = _read_response(s)
        assert status == 411 and hdrs.get("connection") == "close"
    finally:
        s.close()
    s = _tls(hd)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % (path, dev.token())).encode())
        status, _, _ = _read_response(s)
        assert status == 411
    finally:
        s.close()
    still_serves(hd)


def test_plaintext_is_not_served(hd):
    """The bridge is HTTPS only (deps-probe gotcha A would serve plaintext)."""
    with socket.create_connection(("127.0.0.1", hd.devices_port), timeout=T_HTTP) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            data = s.recv(4096)
        except (ConnectionError, socket.timeout):
            data = b""
        assert not data.startswith(b"HTTP/"), data


def test_broker_down_is_503(daemon_factory, broker_factory):
    brk = broker_factory()
    d = daemon_factory(broker=brk, http_devices=True)
    dev = d.new_device()
    h.wait_for(lambda: publish(d, dev, b"up").status_code == 200, T_HTTP, "service link up")
    brk.stop()
    # (a Response is falsy when not ok: wrap it for wait_for)
    r = h.wait_for(lambda: (lambda x: [x] if x.status_code != 200 else None)(publish(d, dev, b"down")), T_HTTP,
                   "a refusal while the broker is down")[0]
    assert_error(r, 503, "UNAVAILABLE")
    assert r.headers.get("retry-after") == "1"
    # The state is the store's record: kept even while the broker is away.
    assert set_state(d, dev, b"kept").status_code == 200
    brk.restart()
    h.wait_for(lambda: publish(d, dev, b"back").status_code == 200, 60 * h.SCALE, "service link back")


def test_client_gone_before_broker_ack(daemon_factory, broker_factory):
    """A device that hangs up while its event waits for the broker's PUBACK:
    the completion is cancelled (no reply to a freed connection), and the
    daemon goes on serving once the broker answers again."""
    brk = broker_factory()
    d = daemon_factory(broker=brk, http_devices=True)
    dev = d.new_device()
    h.wait_for(lambda: publish(d, dev, b"up").status_code == 200, T_HTTP, "service link up")
    brk.signal(signal.SIGSTOP)
    try:
        for i in range(3):
            with pytest.raises(requests.exceptions.Timeout):
                call(d, dev, "POST", ":publishEvent", {"binaryData": b64(b"late-%d" % i)},
                     session=_OneShot(timeout=0.5))
        d.wait_log(r"peer=\S+ went away before the broker acknowledged its event")
    finally:
        brk.signal(signal.SIGCONT)
    h.wait_for(lambda: publish(d, dev, b"after").status_code == 200, T_HTTP, "serving after the broker woke")


class _OneShot:
    """requests with a short read timeout and a connection closed after."""

    def __init__(self, timeout):
        self.timeout = timeout

    def request(self, method, url, **kw):
        kw["timeout"] = (T_HTTP, self.timeout)
        with requests.Session() as s:
            return s.request(method, url, **kw)
