"""AWS IoT's HTTPS publish on the device HTTPS port ("http-devices"
listener): POST /topics/TOPIC?qos=0|1[&retain=true] with the TLS client
certificate as the identity, exactly as a device using AWS's 8443 endpoint
does it with real curl (--cert/--key/--cacert). Policies (iot:Publish,
iot:RetainPublish) decide per request; messages reach a real Mosquitto under
the AWS prefix; refusals answer AWS's {"message", "traceId"} JSON. Google's
Bearer-JWT requests on the same port keep working."""
import base64
import json
import os
import re
import subprocess
import uuid

import pytest
import requests

import awshelp
import helpers
from awshelp import policy

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = "arn:aws:iot:%s:%s:" % (REGION, ACCOUNT)
T_HTTP = 15 * helpers.SCALE
CURL = "/usr/bin/curl"


@pytest.fixture(scope="module")
def env(mod_pool, tmp_path_factory):
    if not os.access(CURL, os.X_OK):
        pytest.skip("curl is not installed")
    d = mod_pool(http_devices=True)
    iot = awshelp.iot_client(d)
    return d, iot, str(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def be(env):
    d = env[0]
    b = helpers.Backend(d.broker.port, topic="aws/#").connect()
    yield b
    b.close()


def publish_policy(topics="*", retain=False):
    actions = ["iot:Publish"] + (["iot:RetainPublish"] if retain else [])
    return policy({"Effect": "Allow", "Action": actions, "Resource": ARN + "topic/" + topics})


@pytest.fixture(scope="module")
def dev(env):
    """A certificate that may publish (and retain) under dt/ only."""
    d, iot, work = env
    return awshelp.new_cert(iot, work, policy_doc=publish_policy("dt/*", retain=True))


@pytest.fixture(scope="module")
def plain(env):
    """A certificate that may publish under dt/ but not retain."""
    d, iot, work = env
    return awshelp.new_cert(iot, work, policy_doc=publish_policy("dt/*"))


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "HTTP %s %r" % (self.status, self.body[:200])


def curl(d, path, data=b"", cert=None, key=None, method="POST", extra=()):
    """One request with real curl; returns the last answer (status, lower-
    case headers, body). cert is an awshelp.Cert or a PEM path."""
    url = "https://127.0.0.1:%d%s" % (d.devices_port, path)
    argv = [CURL, "-sS", "--max-time", str(int(T_HTTP)), "--cacert", d.ca_path, "-X", method,
            "-D", "-", "-H", "Expect:"]
    if cert is not None:
        if isinstance(cert, awshelp.Cert):
            cert, key = cert.cert_path, cert.key_path
        argv += ["--cert", cert, "--key", key]
    if data is not None:
        argv += ["--data-binary", "@-"]
    argv += list(extra) + [url]
    p = subprocess.run(argv, input=data if data is not None else b"", capture_output=True,
                       timeout=T_HTTP + 5)
    assert p.returncode == 0, "curl rc=%d: %s" % (p.returncode, p.stderr.decode(errors="replace"))
    return parse_answers(p.stdout)[-1]


def parse_answers(raw):
    """Splits curl's -D - output (headers then body, per transfer)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append(Answer(status, headers, rest[:n]))
        raw = rest[n:]
    return out


UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def assert_ok(a):
    assert a.status == 200, a
    body = a.json()
    assert body["message"] == "OK", a
    assert UUID_RE.match(body["traceId"]), a
    assert a.headers.get("x-amzn-requestid") == body["traceId"]
    assert a.headers["content-type"].startswith("application/json")


def assert_refused(a, status, message=None):
    assert a.status == status, a
    body = a.json()
    assert set(body) == {"message", "traceId"}, a
    assert UUID_RE.match(body["traceId"]), a
    if message is not None:
        assert body["message"] == message, a


def sentinel(d, be, cert):
    """A QoS 1 publish that must arrive: anything refused before it and
    sent on the same link would have arrived first."""
    mark = uuid.uuid4().hex
    assert_ok(curl(d, "/topics/dt%2Fsentinel?qos=1", mark.encode(), cert))
    be.wait_message("aws/dt/sentinel", mark)


def test_qos1_publish_reaches_the_broker(env, be, dev):
    d = env[0]
    a = curl(d, "/topics/dt%2Fsensor1?qos=1", b'{"t":21}', dev)
    assert_ok(a)
    # Answered only after the PUBACK: the broker has it already.
    m = be.wait_message("aws/dt/sensor1", b'{"t":21}')
    assert m[2] == 1 and m[3] is False


def test_qos0_publish_and_default_qos(env, be, dev):
    d = env[0]
    assert_ok(curl(d, "/topics/dt%2Fq0?qos=0", b"zero", dev))
    assert be.wait_message("aws/dt/q0", b"zero")[2] == 0
    # No qos at all: AWS's default is 0.
    assert_ok(curl(d, "/topics/dt%2Fq0", b"default", dev))
    assert be.wait_message("aws/dt/q0", b"default")[2] == 0


def test_topic_with_plain_slashes_and_empty_payload(env, be, dev):
    """AWS's own curl example sends /topics/my/topic unencoded; an empty
    body is an empty payload."""
    d = env[0]
    assert_ok(curl(d, "/topics/dt/plain/x?qos=1", b"p", dev))
    be.wait_message("aws/dt/plain/x", b"p")
    assert_ok(curl(d, "/topics/dt%2Fempty?qos=1", b"", dev))
    be.wait_message("aws/dt/empty", b"")


def test_binary_payload_is_forwarded_unchanged(env, be, dev):
    d = env[0]
    payload = bytes(range(256)) * 4
    assert_ok(curl(d, "/topics/dt%2Fbin?qos=1", payload, dev))
    be.wait_message("aws/dt/bin", payload)


def test_keep_alive_connection_serves_several_publishes(env, be, dev):
    d = env[0]
    url = "https://127.0.0.1:%d/topics/dt%%2Fka?qos=1" % d.devices_port
    p = subprocess.run([CURL, "-sS", "--cacert", d.ca_path, "--cert", dev.cert_path, "--key",
                        dev.key_path, "-D", "-", "--data-binary", "ka", url, url, url],
                       capture_output=True, timeout=T_HTTP + 5)
    assert p.returncode == 0, p.stderr
    answers = parse_answers(p.stdout)
    assert len(answers) == 3
    for a in answers:
        assert_ok(a)
    assert len({a.json()["traceId"] for a in answers}) == 3
    helpers.wait_for(lambda: len(be.find("aws/dt/ka", b"ka")) == 3, helpers.T_DELIVER, "3 messages")


def test_mqtt5_query_extras_are_ignored(env, be, dev):
    """AWS's contentType, responseTopic and messageExpiry are accepted (not
    forwarded); a long one does not hide the qos after it."""
    d = env[0]
    q = "contentType=application%2Fjson&responseTopic=" + "r" * 1100 + "&messageExpiry=60&qos=1"
    assert_ok(curl(d, "/topics/dt%2Fextras?" + q, b"extras", dev))
    assert be.wait_message("aws/dt/extras", b"extras")[2] == 1


def test_retain_true_is_retained(env, dev):
    d = env[0]
    assert_ok(curl(d, "/topics/dt%2Fretained?qos=1&retain=true", b"kept", dev))
    late = helpers.Backend(d.broker.port, topic="aws/dt/retained").connect()
    try:
        m = late.wait_message("aws/dt/retained", b"kept")
        assert m[3] is True
    finally:
        late.close()
    # AWS: an empty retained publish deletes the retained message.
    assert_ok(curl(d, "/topics/dt%2Fretained?qos=1&retain=TRUE", b"", dev))
    late = helpers.Backend(d.broker.port, topic="aws/dt/retained").connect()
    try:
        assert_ok(curl(d, "/topics/dt%2Fretained?qos=1", b"live", dev))
        late.wait_message("aws/dt/retained", b"live")
        assert not late.find(payload=b"kept")
    finally:
        late.close()


def test_topic_outside_policy_is_forbidden(env, be, dev):
    d = env[0]
    a = curl(d, "/topics/other%2Fsensor?qos=1", b"denied", dev)
    assert_refused(a, 403, "Forbidden")
    assert a.headers.get("x-amzn-requestid") == a.json()["traceId"]
    sentinel(d, be, dev)
    assert not be.find(payload=b"denied")
    assert d.wait_log(r"aws-publish refused cert=%s peer=\S+ topic=\"other/sensor\" "
                      r"reason=publish-denied trace=%s" % (dev.id, a.json()["traceId"]))


def test_retain_without_retain_publish_is_forbidden(env, be, plain):
    d = env[0]
    assert_refused(curl(d, "/topics/dt%2Fr?qos=1&retain=true", b"no-retain", plain), 403,
                   "Forbidden")
    # The same publish without retain is allowed.
    assert_ok(curl(d, "/topics/dt%2Fr?qos=1&retain=false", b"fine", plain))
    be.wait_message("aws/dt/r", b"fine")
    assert not be.find(payload=b"no-retain")


def test_no_client_certificate_is_forbidden(env, be, dev):
    d = env[0]
    assert_refused(curl(d, "/topics/dt%2Fanon?qos=1", b"anon"), 403, "Forbidden")
    assert d.wait_log(r"aws-publish refused cert=- peer=\S+ topic=\"dt/anon\" reason=no-certificate")
    sentinel(d, be, dev)
    assert not be.find(payload=b"anon")


def test_unknown_self_signed_certificate_is_forbidden(env, be, dev):
    d, iot, work = env
    pem, key, _ = awshelp.make_cert("stranger")
    cp, kp = os.path.join(work, "stranger.pem"), os.path.join(work, "stranger.key")
    with open(cp, "w") as f:
        f.write(pem)
    with open(kp, "wb") as f:
        f.write(helpers.private_pem(key))
    assert_refused(curl(d, "/topics/dt%2Fstranger?qos=1", b"stranger", cp, kp), 403, "Forbidden")
    assert d.wait_log(r"cert=%s .*reason=unknown-certificate" % awshelp.cert_id(pem))
    sentinel(d, be, dev)
    assert not be.find(payload=b"stranger")


def test_inactive_certificate_is_forbidden(env, be, dev):
    d, iot, work = env
    c = awshelp.new_cert(iot, work, active=False, policy_doc=publish_policy("dt/*"))
    assert_refused(curl(d, "/topics/dt%2Finactive?qos=1", b"inactive", c), 403, "Forbidden")
    assert d.wait_log(r"cert=%s .*reason=certificate-not-active" % c.id)
    # Activated, it publishes; deactivated again, the next request is refused.
    iot.update_certificate(certificateId=c.id, newStatus="ACTIVE")
    assert_ok(curl(d, "/topics/dt%2Finactive?qos=1", b"active", c))
    be.wait_message("aws/dt/inactive", b"active")
    iot.update_certificate(certificateId=c.id, newStatus="INACTIVE")
    assert_refused(curl(d, "/topics/dt%2Finactive?qos=1", b"inactive-again", c), 403)
    sentinel(d, be, dev)
    assert not be.find(payload=b"inactive")
    assert not be.find(payload=b"inactive-again")


def test_policy_changes_apply_to_the_next_request(env, be):
    d, iot, work = env
    c = awshelp.new_cert(iot, work, policy_doc=publish_policy("live/*"))
    assert_ok(curl(d, "/topics/live%2Fa?qos=1", b"before", c))
    be.wait_message("aws/live/a", b"before")
    iot.detach_policy(policyName=c.policy, target=c.arn)
    assert_refused(curl(d, "/topics/live%2Fa?qos=1", b"after", c), 403)


def test_reserved_topics_are_forbidden(env, be):
    d, iot, work = env
    c = awshelp.new_cert(iot, work, policy_doc=awshelp.allow_all_policy())
    for t in ["%24aws%2Fthings%2Fx%2Fshadow%2Fupdate", "%24aws%2Fevents%2Fpresence%2Fconnected%2Fx",
              "%24aws%2Frules%2Fr%2Fx", "%24SYS%2Fx", "$aws/things/x/shadow/get"]:
        assert_refused(curl(d, "/topics/%s?qos=1" % t, b'{"state":{}}', c), 403, "Forbidden")
    assert d.wait_log(r"reason=reserved-topic")
    sentinel(d, be, c)
    assert not be.find(payload=b'{"state":{}}')


def test_bad_query_and_topics_are_400(env, be, dev):
    d = env[0]
    for q in ["qos=2", "qos=", "qos=x", "qos=1&qos=0", "retain=yes", "qos=1&retain=1"]:
        assert_refused(curl(d, "/topics/dt%2Fq?" + q, b"badq", dev), 400)
    for t in ["dt%2F%2B", "dt%2F%23", "dt/+/x", "", "dt%2F" + "%2F".join(["l"] * 8),
              "dt%2F" + "x" * 260]:
        assert_refused(curl(d, "/topics/%s?qos=1" % t, b"badt", dev), 400)
    sentinel(d, be, dev)
    assert not be.find(payload=b"badq")
    assert not be.find(payload=b"badt")


def test_topic_at_the_limits_is_accepted(env, be):
    d, iot, work = env
    c = awshelp.new_cert(iot, work, policy_doc=publish_policy("*"))
    seven = "/".join(["l"] * 8)                       # 7 slashes
    assert_ok(curl(d, "/topics/%s?qos=1" % seven.replace("/", "%2F"), b"levels", c))
    be.wait_message("aws/" + seven, b"levels")
    long_topic = "x" * 256
    assert_ok(curl(d, "/topics/%s?qos=1" % long_topic, b"long", c))
    be.wait_message("aws/" + long_topic, b"long")


def test_payload_limit_is_128_kib(env, be, dev):
    d = env[0]
    assert_ok(curl(d, "/topics/dt%2Fbig?qos=1", b"a" * (128 * 1024), dev))
    be.wait_message("aws/dt/big", b"a" * (128 * 1024))
    a = curl(d, "/topics/dt%2Fbig?qos=1", b"b" * (128 * 1024 + 1), dev)
    assert_refused(a, 413)
    assert d.wait_log(r"topic=\"dt/big\" reason=payload-too-large")
    sentinel(d, be, dev)
    assert not be.find(payload=b"b" * (128 * 1024 + 1))


def test_client_id_policy_variable_grants_nothing(env, be):
    """HTTPS has no client id: ${iot:ClientId} cannot be resolved, so a
    statement using it never applies."""
    d, iot, work = env
    c = awshelp.new_cert(iot, work, policy_doc=policy(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": ARN + "topic/cid/${iot:ClientId}/*"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": ARN + "topic/cid/ok"}))
    assert_refused(curl(d, "/topics/cid%2Fsome-id%2Fx?qos=1", b"cid", c), 403)
    assert_refused(curl(d, "/topics/cid%2F%24%7Biot%3AClientId%7D%2Fx?qos=1", b"cid", c), 403)
    assert_ok(curl(d, "/topics/cid%2Fok?qos=1", b"ok", c))
    be.wait_message("aws/cid/ok", b"ok")
    assert not be.find(payload=b"cid")


def test_wrong_method_is_405(env, dev):
    d = env[0]
    a = curl(d, "/topics/dt%2Fx?qos=1", None, dev, method="GET")
    assert_refused(a, 405)
    assert a.headers.get("allow") == "POST"


def test_google_publish_event_on_the_same_port(env):
    """Google devices (Bearer JWT, no certificate) are served as before."""
    d = env[0]
    g = helpers.Backend(d.broker.port, topic="google/#").connect()
    try:
        gd = d.new_device()
        url = "https://127.0.0.1:%d/v1/projects/%s/locations/%s/registries/%s/devices/%s:publishEvent" % (
            d.devices_port, gd.project, gd.location, gd.registry, gd.id)
        r = requests.post(url, json={"binaryData": base64.b64encode(b"g-event").decode()},
                          headers={"authorization": "Bearer " + gd.token()}, verify=d.ca_path,
                          timeout=T_HTTP)
        assert r.status_code == 200, r.text
        assert r.json() == {}
        g.wait_message(gd.upstream_topic(), b"g-event")
        # A bad token is still refused in Google's envelope.
        r = requests.post(url, json={"binaryData": ""}, headers={"authorization": "Bearer x.y.z"},
                          verify=d.ca_path, timeout=T_HTTP)
        assert r.status_code in (401, 403) and "error" in r.json()
    finally:
        g.close()


def test_broker_down_is_503(env, dev):
    """Last: stops the module's broker (the daemon keeps running and must
    exit cleanly at teardown)."""
    d = env[0]
    d.broker.stop()
    try:
        helpers.wait_for(lambda: curl(d, "/topics/dt%2Fdown?qos=1", b"down", dev).status == 503,
                         helpers.T_DELIVER, "503 with the broker down", interval=0.2)
        assert_refused(curl(d, "/topics/dt%2Fdown?qos=1", b"down", dev), 503)
        assert_refused(curl(d, "/topics/dt%2Fdown?qos=0", b"down", dev), 503)
    finally:
        d.broker.fixed_port = True
        d.broker.start()
