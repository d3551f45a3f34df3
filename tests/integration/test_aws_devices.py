"""AWS-style devices: mTLS on the MQTT port, identity by certificate
fingerprint, policies (with variables, explicit deny, default deny) checked
on CONNECT, PUBLISH, SUBSCRIBE and every delivery, AWS's MQTT behaviour, and
live effects of certificate and policy changes. Real paho clients with
client certificates, a real Mosquitto, the control plane driven by botocore
(the AWS SDK the aws CLI is built on)."""
import contextlib
import json
import os
import subprocess
import time

import pytest

import awshelp
import helpers
from awshelp import AwsDevice, policy

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = "arn:aws:iot:%s:%s:" % (REGION, ACCOUNT)


@pytest.fixture(scope="module")
def env(tmp_path_factory, iotcored_bin):
    base = tmp_path_factory.mktemp("aws")
    with awshelp.daemon_with_broker(base, iotcored_bin) as d:
        iot = awshelp.iot_client(d)
        yield d, iot, str(base)


@contextlib.contextmanager
def backend(d, topic="aws/#"):
    """A subscriber on the broker itself: what the daemon forwarded."""
    be = helpers.Backend(d.broker.port, topic=topic).connect()
    try:
        yield be
    finally:
        be.close()


def device_policy(topics="*"):
    """Connect as any client, publish/subscribe/receive on `topics`."""
    return policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:RetainPublish"],
         "Resource": ARN + "topic/" + topics},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": ARN + "topicfilter/" + topics},
    )


def connect(d, cert, client_id=None, **kw):
    dev = AwsDevice(d, cert.cert_path, cert.key_path, client_id or helpers.unique_id("aws"), **kw)
    return dev, dev.connect()


@contextlib.contextmanager
def device(d, cert, **kw):
    """A device that must be let in (CONNACK 0), closed afterwards."""
    dev, rc = connect(d, cert, **kw)
    try:
        assert rc == 0, dev.describe()
        yield dev
    finally:
        dev.close()


def assert_refused(d, cert, client_id=None):
    """A CONNECT with cert is refused: no CONNACK, or a failure code."""
    dev, rc = connect(d, cert, client_id=client_id)
    dev.close()
    assert rc is None or rc != 0


def wait_delivery(dev, pred, what):
    """Waits (failing the test at the deadline) until dev has received a
    (topic, payload, qos) message for which pred is true."""
    helpers.wait_for(lambda: any(pred(t, bytes(p), q) for t, p, q in dev.messages),
                     helpers.T_DELIVER, what)


def assert_only_delivery(dev, topic):
    """dev gets topic and, once stragglers had time to arrive, nothing else."""
    wait_delivery(dev, lambda t, p, q: t == topic, topic)
    time.sleep(0.3)
    assert [t for t, p, q in dev.messages] == [topic]


def test_publish_subscribe_receive_through_broker(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with backend(d) as be, device(d, cert) as dev:
        assert dev.publish_acked("dt/sensor1/temp", b"21.5", qos=1)
        be.wait_message("aws/dt/sensor1/temp", b"21.5")
        assert dev.subscribe_wait("cmd/sensor1", qos=1) == [1]
        be.c.publish("aws/cmd/sensor1", b"on", qos=1)
        wait_delivery(dev, lambda t, p, q: (t, p, q) == ("cmd/sensor1", b"on", 1), "cmd/sensor1 on")
        # QoS 0 both ways too.
        assert dev.publish_acked("dt/sensor1/q0", b"x", qos=0)
        be.wait_message("aws/dt/sensor1/q0")


def test_unknown_or_self_signed_certificate_refused(env, tmp_path):
    d, iot, base = env
    key = helpers.ec_key()
    cert_pem = helpers.self_signed_pem(key, cn="rogue")
    cp, kp = tmp_path / "rogue.pem", tmp_path / "rogue.key"
    cp.write_text(cert_pem)
    kp.write_bytes(helpers.private_pem(key))
    mark = d.log_mark()
    dev = AwsDevice(d, str(cp), str(kp), "rogue-1")
    try:
        # AWS closes an unauthorized 3.1.1 CONNECT without a CONNACK.
        assert dev.connect() is None or dev.rc != 0
        assert dev.wait_closed()
        d.wait_log(r'client_id="rogue-1" connack=none reason=unknown-certificate', since=mark)
    finally:
        dev.close()


def test_registered_without_ca_connects(env, tmp_path):
    """RegisterCertificateWithoutCA: identity is the fingerprint, whoever signed it."""
    d, iot, base = env
    key = helpers.ec_key()
    pem = helpers.self_signed_pem(key, cn="own-ca-device")
    r = iot.register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
    name = helpers.unique_id("p")
    iot.create_policy(policyName=name, policyDocument=device_policy())
    iot.attach_policy(policyName=name, target=r["certificateArn"])
    cp, kp = tmp_path / "own.pem", tmp_path / "own.key"
    cp.write_text(pem)
    kp.write_bytes(helpers.private_pem(key))
    dev = AwsDevice(d, str(cp), str(kp), helpers.unique_id("own"))
    try:
        assert dev.connect() == 0, dev.describe()
        assert dev.publish_acked("dt/own", b"1", qos=1)
    finally:
        dev.close()


@pytest.mark.parametrize("status", ["INACTIVE", "REVOKED"])
def test_inactive_certificate_refused(env, status):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    iot.update_certificate(certificateId=cert.id, newStatus=status)
    mark = d.log_mark()
    dev, rc = connect(d, cert, client_id=helpers.unique_id("inact"))
    try:
        assert rc is None or rc != 0
        assert dev.wait_closed()
        d.wait_log(r"reason=certificate-not-active", since=mark)
    finally:
        dev.close()


def test_no_policy_is_default_deny(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base)   # active, no policy
    mark = d.log_mark()
    dev, rc = connect(d, cert, client_id=helpers.unique_id("nopol"))
    try:
        assert rc is None or rc != 0
        d.wait_log(r"reason=not-authorized", since=mark)
    finally:
        dev.close()


def test_connect_resource_names_the_client_id(env):
    d, iot, base = env
    doc = policy({"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/good-*"})
    cert = awshelp.new_cert(iot, base, policy_doc=doc)
    with device(d, cert, client_id="good-" + helpers.unique_id("c")):
        pass
    assert_refused(d, cert, client_id="bad-" + helpers.unique_id("c"))


def test_denied_publish_disconnects_and_explicit_deny_wins(env):
    d, iot, base = env
    doc = policy(
        {"Effect": "Allow", "Action": "iot:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["iot:Publish", "iot:Subscribe"],
         "Resource": [ARN + "topic/secret/*", ARN + "topicfilter/secret/*"]},
    )
    cert = awshelp.new_cert(iot, base, policy_doc=doc)
    with backend(d, "aws/secret/#") as be, device(d, cert) as dev:
        assert dev.subscribe_wait([("secret/x", 1), ("open/x", 1)]) == [128, 1]
        mark = d.log_mark()
        dev.publish("secret/plans", b"nope", qos=1)
        assert dev.wait_closed(), "a denied publish must disconnect (AWS)"
        d.wait_log(r"iot:Publish denied", since=mark)
        time.sleep(0.3)
        assert not any(m[0] == "aws/secret/plans" for m in be.messages)


def test_receive_denied_drops_delivery(env):
    d, iot, base = env
    doc = policy(
        {"Effect": "Allow", "Action": ["iot:Connect", "iot:Subscribe"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": ARN + "topic/feed/public"},
    )
    cert = awshelp.new_cert(iot, base, policy_doc=doc)
    with backend(d, "nothing/#") as be, device(d, cert) as dev:
        assert dev.subscribe_wait("feed/+", qos=1) == [1]
        be.c.publish("aws/feed/private", b"hidden", qos=1)
        be.c.publish("aws/feed/public", b"shown", qos=1)
        assert_only_delivery(dev, "feed/public")
        assert dev.is_connected()


def test_client_id_variable_is_literal(env):
    """${iot:ClientId} substitutes literally: a client id with '*' grants
    only the literal topic, never a wildcard."""
    d, iot, base = env
    doc = policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/*"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": ARN + "topic/dev/${iot:ClientId}/data"},
    )
    cert = awshelp.new_cert(iot, base, policy_doc=doc)
    with backend(d, "aws/dev/#") as be, device(d, cert, client_id="a*") as dev:
        assert dev.publish_acked("dev/a*/data", b"1", qos=1)
        be.wait_message("aws/dev/a*/data")
        dev.publish("dev/ab/data", b"2", qos=1)
        assert dev.wait_closed()


def test_thing_variables_and_is_attached(env):
    d, iot, base = env
    doc = policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/${iot:Connection.Thing.ThingName}",
         "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}},
        {"Effect": "Allow", "Action": "iot:Publish",
         "Resource": ARN + "topic/things/${iot:Connection.Thing.ThingName}/${iot:Connection.Thing.Attributes[room]}"},
    )
    cert = awshelp.new_cert(iot, base, policy_doc=doc)
    thing = helpers.unique_id("thing")
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"room": "kitchen"}})
    # Not attached yet: the condition fails.
    assert_refused(d, cert, client_id=thing)
    iot.attach_thing_principal(thingName=thing, principal=cert.arn)
    with backend(d, "aws/things/#") as be, device(d, cert, client_id=thing) as dev:
        assert dev.publish_acked("things/%s/kitchen" % thing, b"t", qos=1)
        be.wait_message("aws/things/%s/kitchen" % thing)
        # Another client id is not the thing.
        assert_refused(d, cert, client_id=thing + "-x")


def test_deactivation_kicks_live_session_within_1s(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with device(d, cert) as dev:
        t0 = time.monotonic()
        iot.update_certificate(certificateId=cert.id, newStatus="INACTIVE")
        assert dev.wait_closed(3)
        assert dev.closed_at - t0 < 1.0
        # And it cannot come back.
        assert_refused(d, cert)


def test_detaching_last_policy_kicks(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with device(d, cert) as dev:
        t0 = time.monotonic()
        iot.detach_policy(policyName=cert.policy, target=cert.arn)
        assert dev.wait_closed(3)
        assert dev.closed_at - t0 < 1.0


def test_new_policy_version_applies_to_live_session(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with device(d, cert) as dev:
        assert dev.publish_acked("open/1", b"1", qos=1)
        narrower = policy(
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": ARN + "topic/only/this"})
        iot.create_policy_version(policyName=cert.policy, policyDocument=narrower, setAsDefault=True)
        time.sleep(0.2)
        assert dev.is_connected()
        assert dev.publish_acked("only/this", b"2", qos=1)
        dev.publish("open/1", b"3", qos=1)
        assert dev.wait_closed()


def test_duplicate_client_id_drops_older(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    cid = helpers.unique_id("dup")
    with device(d, cert, client_id=cid) as first, device(d, cert, client_id=cid) as second:
        assert first.wait_closed(3)
        assert second.is_connected()


def test_sensor_hash_does_not_match_parent(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with backend(d, "nothing/#") as be, device(d, cert) as dev:
        assert dev.subscribe_wait("sensor/#", qos=1) == [1]
        be.c.publish("aws/sensor", b"parent", qos=1)
        be.c.publish("aws/sensor/a", b"child", qos=1)
        assert_only_delivery(dev, "sensor/a")


def test_aws_limits(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    # 9 filters in one SUBSCRIBE: AWS allows 8.
    with device(d, cert) as dev:
        dev.c.subscribe([("f%d" % i, 0) for i in range(9)])
        assert dev.wait_closed()
    # 8 slashes in a topic: over AWS's 7.
    with device(d, cert) as dev:
        dev.publish("a/b/c/d/e/f/g/h/i", b"x", qos=1)
        assert dev.wait_closed()
    # Reserved topics the daemon does not serve are not device topics.
    with device(d, cert) as dev:
        assert dev.subscribe_wait("$aws/things/x/shadow/update/accepted", qos=1) == [1]
        assert dev.subscribe_wait("$aws/sitewise/x", qos=1) == [128]
        dev.publish("$aws/things/x/jobs/get", b"{}", qos=1)
        assert dev.wait_closed()


def test_sdk_metrics_username_is_ignored(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with device(d, cert, username="?SDK=PythonV2&Version=1.0"):
        pass


def test_will_on_vanish_not_on_disconnect(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with backend(d, "aws/lwt/#") as be:
        with device(d, cert, will=("lwt/gone", b"bye", 1, False)):
            pass    # closed with DISCONNECT: no will
        with device(d, cert, will=("lwt/gone2", b"bye2", 1, False)) as dev:
            dev.c.socket().shutdown(2)    # vanish without DISCONNECT
            be.wait_message("aws/lwt/gone2")
            time.sleep(0.3)
            assert not any(m[0] == "aws/lwt/gone" for m in be.messages)


def test_persistent_session_through_broker(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    cid = helpers.unique_id("pers")
    dev, rc = connect(d, cert, client_id=cid, clean_session=False)
    assert rc == 0 and not dev.session_present
    assert dev.subscribe_wait("pers/%s" % cid, qos=1) == [1]
    dev.close()
    # Queued while away, delivered on resume with session-present.
    with backend(d, "nothing/#") as be:
        be.c.publish("aws/pers/%s" % cid, b"queued", qos=1).wait_for_publish(5)
        with device(d, cert, client_id=cid, clean_session=False) as dev:
            assert dev.session_present
            wait_delivery(dev, lambda t, p, q: p == b"queued", "the queued message")


def test_mosquitto_pub_with_client_certificate(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with backend(d, "aws/cli/#") as be:
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.mqtts_port), "--cafile", d.ca_path,
                        "--cert", cert.cert_path, "--key", cert.key_path, "-i", helpers.unique_id("mp"),
                        "-q", "1", "-t", "cli/hello", "-m", "from mosquitto_pub"], check=True, timeout=20)
        be.wait_message("aws/cli/hello", b"from mosquitto_pub")


def test_js_device_sdk(env):
    """The AWS IoT Device SDK for JavaScript (npm aws-iot-device-sdk, device
    class) connects with its certificate, subscribes, publishes, receives."""
    d, iot, base = env
    js = awshelp.js_clients_dir()
    if js is None:
        pytest.skip("node/npm not installed")
    cid = helpers.unique_id("js")
    doc = policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/" + cid},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": ARN + "topic/js/" + cid + "/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": ARN + "topicfilter/js/" + cid + "/*"},
    )
    cert = awshelp.new_cert(iot, base, policy_doc=doc)
    with backend(d, "aws/js/%s/up" % cid) as be:
        p = subprocess.Popen(["node", os.path.join(js, "aws_device.js"), str(d.mqtts_port), d.ca_path,
                              cert.cert_path, cert.key_path, cid, "js/%s/down" % cid, "js/%s/up" % cid],
                             cwd=js, stdout=subprocess.PIPE, text=True)
        try:
            be.wait_message("aws/js/%s/up" % cid, timeout=20)
            be.c.publish("aws/js/%s/down" % cid, b"reply", qos=1)
            out, _ = p.communicate(timeout=20)
            events = [json.loads(line) for line in out.splitlines() if line.strip()]
            kinds = [e["event"] for e in events]
            assert "connect" in kinds and p.returncode == 0, events
            assert {"event": "message", "topic": "js/%s/down" % cid, "payload": "reply"} in events
            assert [e for e in events if e["event"] == "suback"][0]["granted"] == [1]
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_common_name_variable_is_literal(env, tmp_path):
    """${iot:Certificate.Subject.CommonName} holding '*' and '?' grants only
    itself: the certificate is issued from a CSR with that CN."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    d, iot, base = env
    key = helpers.ec_key()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lamp*?")]))
           .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives import serialization
    r = iot.create_certificate_from_csr(
        certificateSigningRequest=csr.public_bytes(serialization.Encoding.PEM).decode(), setAsActive=True)
    name = helpers.unique_id("p")
    iot.create_policy(policyName=name, policyDocument=policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
        {"Effect": "Allow", "Action": "iot:Publish",
         "Resource": ARN + "topic/cn/${iot:Certificate.Subject.CommonName}"}))
    iot.attach_policy(policyName=name, target=r["certificateArn"])
    cp, kp = tmp_path / "cn.pem", tmp_path / "cn.key"
    cp.write_text(r["certificatePem"])
    kp.write_bytes(helpers.private_pem(key))

    class Cert:
        cert_path, key_path = str(cp), str(kp)
    with backend(d, "aws/cn/#") as be:
        with device(d, Cert) as dev:
            assert dev.publish_acked("cn/lamp*?", b"literal", qos=1)
            be.wait_message("aws/cn/lamp*?")
            dev.publish("cn/lamp12", b"wildcard", qos=1)    # what '*?' would match as a pattern
            assert dev.wait_closed()
        assert not any(m[0] == "aws/cn/lamp12" for m in be.messages)


def test_retained_message_through_the_broker(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    topic = "ret/" + helpers.unique_id("t")
    with device(d, cert) as pub:
        assert pub.publish_acked(topic, b"last-known", qos=1, retain=True)
    with device(d, cert) as sub:
        assert sub.subscribe_wait(topic, qos=1) == [1]
        wait_delivery(sub, lambda t, p, q: t == topic and p == b"last-known", "retained message")


def test_retain_needs_retain_publish(env):
    d, iot, base = env
    doc = policy({"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"})
    cert = awshelp.new_cert(iot, base, policy_doc=doc)
    with device(d, cert) as dev:
        assert dev.publish_acked("plain/x", b"ok", qos=1)
        dev.publish("plain/x", b"kept", qos=1, retain=True)
        assert dev.wait_closed(), "RETAIN without iot:RetainPublish must disconnect"


# Keepalive 0 -> 1200 is covered by tests/unit/test_aws_topics.c: paho 1.6
# uses the keepalive as its socket timeout, so it cannot connect with 0.
@pytest.mark.parametrize("asked,applied", [(5, 30), (3000, 1200), (45, 45)])
def test_keepalive_clamped(env, asked, applied):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    cid = helpers.unique_id("ka")
    mark = d.log_mark()
    with device(d, cert, client_id=cid, keepalive=asked):
        d.wait_log(r'client_id="%s" keepalive=%d\b' % (cid, applied), since=mark)


def test_payload_limit_128k(env):
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    with device(d, cert) as dev:
        assert dev.publish_acked("big/ok", b"x" * (128 * 1024), qos=1)
        dev.publish("big/over", b"x" * (128 * 1024 + 1), qos=1)
        assert dev.wait_closed()


def test_lifecycle_presence_events(env):
    """$aws/events/presence/connected|disconnected/CLIENTID with AWS's
    fields, seen by a device subscribed to them (policy-checked like any
    filter) and by a backend under aws/$aws/... on the broker."""
    d, iot, base = env
    cert = awshelp.new_cert(iot, base, policy_doc=device_policy())
    cid = helpers.unique_id("life")
    with backend(d, "aws/$aws/events/presence/#") as be, device(d, cert) as watcher:
        assert watcher.subscribe_wait("$aws/events/presence/+/" + cid, qos=1) == [1]
        with device(d, cert, client_id=cid):
            pass                                            # DISCONNECT
        with device(d, cert, client_id=cid) as dev:
            dev.c.socket().shutdown(2)                      # vanish
            dev.wait_closed()
        first, second = (device(d, cert, client_id=cid) for _ in range(2))
        with first:
            with second:                                    # the newer one wins
                pass

        def events():
            return [json.loads(p) for t, p, q in list(watcher.messages)]

        helpers.wait_for(lambda: len(events()) >= 8, helpers.T_DELIVER, "8 presence events")
        ev = events()
        kinds = [(e["eventType"], e.get("disconnectReason")) for e in ev]
        assert ("disconnected", "CLIENT_INITIATED_DISCONNECT") in kinds
        assert ("disconnected", "CONNECTION_LOST") in kinds
        assert ("disconnected", "DUPLICATE_CLIENTID") in kinds
        con = [e for e in ev if e["eventType"] == "connected"]
        assert len(con) >= 4
        for e in ev:
            assert e["clientId"] == cid and e["principalIdentifier"] == cert.id
            assert len(e["sessionIdentifier"]) == 36 and isinstance(e["timestamp"], int)
        c0 = con[0]
        assert c0["ipAddress"] == "127.0.0.1"
        # A connect and its disconnect share session id and version number.
        d0 = [e for e in ev if e["eventType"] == "disconnected"
              and e["sessionIdentifier"] == c0["sessionIdentifier"]][0]
        assert d0["versionNumber"] == c0["versionNumber"] and d0["clientInitiatedDisconnect"] is True
        assert any(m[0] == "aws/$aws/events/presence/connected/" + cid for m in be.messages)
        # Devices cannot publish events themselves.
        watcher.publish("$aws/events/presence/connected/" + cid, b"{}", qos=1)
        assert watcher.wait_closed()
