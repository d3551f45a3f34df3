"""Google-style devices publish events and state; each arrives on the broker
under google/P/L/R/D/..., byte for byte, at the QoS the device used."""
import time

import pytest

import helpers as h

FORMATS = ["ES256_PEM", "RSA_PEM", "ES256_X509_PEM", "RSA_X509_PEM"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_events_and_state_arrive_upstream(daemon, backend, fmt):
    dev = daemon.new_device(fmt)
    tag = ("%s-%s" % (fmt, dev.id)).encode()
    cases = [
        ("events", None, 0, b"ev-q0-" + tag),
        ("events", None, 1, b"ev-q1-" + tag),
        ("events", "a/b", 0, b"ev-ab-q0-" + tag),
        ("events", "a/b", 1, b"ev-ab-q1-" + tag),
        ("events", "bin", 1, bytes(range(256)) + b"\x00\xff" + tag),
        ("state", None, 0, b"st-q0-" + tag),
        ("state", None, 1, bytes(range(255, -1, -1)) + tag),
    ]
    c = dev.connect()
    try:
        for kind, sub, qos, payload in cases:
            if qos == 1:
                assert c.publish_acked(dev.topic(kind, sub), payload, qos=1), \
                    "no PUBACK for QoS 1 %s (%s)" % (dev.topic(kind, sub), c.describe())
            else:
                c.publish(dev.topic(kind, sub), payload, qos=0)
                time.sleep(0.05)
        for kind, sub, qos, payload in cases:
            topic, got, got_qos, _ = backend.wait_message(dev.upstream_topic(kind, sub), payload)
            assert got == payload
            assert got_qos == qos, "%s arrived upstream at QoS %d, device used %d" % (topic, got_qos, qos)
        assert c.is_connected(), "device was disconnected: %s" % c.describe()
    finally:
        c.close()


@pytest.mark.parametrize("size", [1, 4000, 8192, 9000, 12000, 16384, 30000, 65536, 100000])
def test_payload_sizes(mod_daemon, mod_backend, size):
    """One QoS 1 event of each size, alone on its connection: PUBACK and
    delivery must not wait for more bytes from the device."""
    dev = mod_daemon.new_device()
    payload = (b"%d-%s-" % (size, dev.id.encode()) * (size // 8 + 1))[:size]
    c = dev.connect()
    try:
        assert c.publish_acked(dev.topic(), payload, timeout=h.T_DELIVER), \
            "%d-byte event not acknowledged (%s)" % (size, c.describe())
        mod_backend.wait_message(dev.upstream_topic(), payload)
    finally:
        c.close()


def test_qos1_puback_means_message_is_upstream(daemon, backend):
    """A burst of QoS 1 events: every PUBACKed one is on the broker."""
    dev = daemon.new_device()
    c = dev.connect()
    try:
        infos = [(i, c.publish(dev.topic(), b"burst-%d-%s" % (i, dev.id.encode()), qos=1)) for i in range(50)]
        h.wait_for(lambda: all(h.published(info) for _, info in infos), h.T_DELIVER, "50 PUBACKs")
        for i, _ in infos:
            backend.wait_message(dev.upstream_topic(), b"burst-%d-%s" % (i, dev.id.encode()))
    finally:
        c.close()


FORBIDDEN = {
    "other-device-events": lambda dev, other: "/devices/%s/events" % other.id,
    "other-device-state": lambda dev, other: "/devices/%s/state" % other.id,
    "root-topic": lambda dev, other: "/foo",
    "no-leading-slash": lambda dev, other: "devices/%s/events" % dev.id,
    "config-topic": lambda dev, other: "/devices/%s/config" % dev.id,
    "commands-topic": lambda dev, other: "/devices/%s/commands" % dev.id,
    "state-subfolder": lambda dev, other: "/devices/%s/state/x" % dev.id,
    "events-prefix": lambda dev, other: "/devices/%s/eventsx" % dev.id,
    "upstream-namespace": lambda dev, other: dev.upstream_topic(),
    "control-namespace": lambda dev, other: "$iotcored/control/x",
}


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("case", sorted(FORBIDDEN))
def test_publish_to_other_topic_closes_connection(mod_daemon, case, qos):
    d = mod_daemon
    # Everything on the broker, including $-topics that "#" does not match.
    spy = h.Backend(d.broker.port, topic=["#", "$iotcored/#"]).connect()
    dev = d.new_device()
    other = d.new_device()
    topic = FORBIDDEN[case](dev, other)
    payload = b"forbidden-%s-%d-%s" % (case.encode(), qos, dev.id.encode())
    c = dev.connect()
    try:
        c.publish(topic, payload, qos=qos)
        assert c.wait_closed(h.T_CLOSE), "publish to %r did not close the connection" % topic
    finally:
        c.close()
    try:
        # Nothing of it reached the broker, under any topic.
        time.sleep(0.5)
        assert not spy.find(payload=payload), "forbidden publish reached the broker: %r" % spy.find(payload=payload)
        # The device (and the daemon) carry on.
        c2 = dev.connect()
        try:
            assert c2.publish_acked(dev.topic(), b"after-" + payload)
            spy.wait_message(dev.upstream_topic(), b"after-" + payload)
        finally:
            c2.close()
    finally:
        spy.close()


def test_qos2_publish_closes_connection(mod_daemon, mod_backend):
    dev = mod_daemon.new_device()
    c = dev.connect()
    payload = b"qos2-" + dev.id.encode()
    try:
        c.publish(dev.topic(), payload, qos=2)
        assert c.wait_closed(h.T_CLOSE), "QoS 2 publish did not close the connection"
    finally:
        c.close()
    time.sleep(0.5)
    assert not mod_backend.find(payload=payload)


def test_password_without_username(mod_daemon, mod_backend):
    """Arduino-era clients send a password without a username (flags 0x42)."""
    d = mod_daemon
    dev = d.new_device()
    pkt = h.connect_packet(dev.client_id, password=dev.token(), keepalive=30)
    assert h.connect_flags(pkt) == 0x42, "test bug: connect flags are not 0x42"
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    try:
        raw.send(pkt)
        assert raw.read_connack() == (0, 0)
        raw.send(h.PINGREQ)
        assert raw.read_packet() == (0xD0, b""), "no PINGRESP"
        payload = b"no-username-" + dev.id.encode()
        raw.send(h.publish_packet(dev.topic(), payload, qos=1, pid=7))
        assert raw.read_packet() == (0x40, b"\x00\x07"), "no PUBACK for pid 7"
        mod_backend.wait_message(dev.upstream_topic(), payload)
        raw.send(h.DISCONNECT)
    finally:
        raw.close()


def test_clean_session_0_gets_session_present_0(mod_daemon):
    d = mod_daemon
    dev = d.new_device()
    for attempt in range(2):
        raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
        try:
            pkt = h.connect_packet(dev.client_id, username="unused", password=dev.token(), clean=False)
            assert h.connect_flags(pkt) == 0xC0
            raw.send(pkt)
            assert raw.read_connack() == (0, 0), "attempt %d: expected session-present 0, rc 0" % attempt
            raw.send(h.DISCONNECT)
            assert raw.wait_closed(), "DISCONNECT did not end the connection"
        finally:
            raw.close()


def test_paho_clean_session_false_connects(mod_daemon):
    dev = mod_daemon.new_device()
    c = dev.connect(clean_session=False)
    try:
        assert c.session_present == 0
    finally:
        c.close()


def test_payload_limits(mod_daemon, mod_backend):
    """256 KiB telemetry and 64 KiB state are accepted; one byte more closes."""
    d = mod_daemon
    dev = d.new_device()
    limits = [("events", 256 * 1024), ("state", 64 * 1024)]
    for kind, size in limits:
        c = dev.connect()
        try:
            unit = (dev.id + kind).encode()
            payload = unit * (size // len(unit) + 1)
            payload = payload[:size]
            assert c.publish_acked(dev.topic(kind), payload, timeout=30 * h.SCALE), \
                "%d-byte %s not acknowledged (%s)" % (size, kind, c.describe())
            _, got, _, _ = mod_backend.wait_message(dev.upstream_topic(kind), payload, timeout=30 * h.SCALE)
            assert len(got) == size
            time.sleep(0.1)
            too_big = b"X" + payload
            assert not c.publish_acked(dev.topic(kind), too_big, timeout=h.T_CLOSE), \
                "%d-byte %s was acknowledged" % (len(too_big), kind)
            assert c.wait_closed(h.T_CLOSE), "oversized %s did not close the connection" % kind
        finally:
            c.close()
        assert not mod_backend.find(payload=too_big)


@pytest.mark.parametrize("alpn", [["mqtt"], ["x-amzn-mqtt-ca"], ["h2", "http/1.1", "mqtt"]])
def test_alpn(mod_daemon, alpn):
    """The device listener speaks MQTT whatever ALPN list the client offers
    (lws would switch a raw vhost to HTTP/2 if it accepted h2)."""
    d = mod_daemon
    dev = d.new_device()
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path, alpn=alpn)
    try:
        selected = raw.sock.selected_alpn_protocol()
        assert selected in ("mqtt", "x-amzn-mqtt-ca"), "server selected ALPN %r for offer %r" % (selected, alpn)
        assert selected in alpn
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token()))
        assert raw.read_connack() == (0, 0)
        raw.send(h.DISCONNECT)
    finally:
        raw.close()


def test_no_alpn_still_mqtt(mod_daemon):
    d = mod_daemon
    dev = d.new_device()
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token()))
        assert raw.read_connack() == (0, 0)
    finally:
        raw.close()


def test_retain_flag_is_not_kept(mod_daemon, mod_backend):
    """Google had no retained messages: RETAIN on an inbound PUBLISH is 0."""
    d = mod_daemon
    dev = d.new_device()
    payload = b"retained?-" + dev.id.encode()
    c = dev.connect()
    try:
        assert c.publish_acked(dev.topic(), payload, qos=1, retain=True)
    finally:
        c.close()
    mod_backend.wait_message(dev.upstream_topic(), payload)
    late = h.Backend(d.broker.port, topic=dev.upstream_topic()).connect()
    try:
        time.sleep(1.0)
        assert not late.find(), "a retained message was left on the broker: %r" % late.snapshot()
    finally:
        late.close()


def test_will_is_dropped(mod_daemon, mod_backend):
    """Google devices had no Will: one sent in CONNECT never reaches the broker,
    even when the device vanishes without DISCONNECT."""
    d = mod_daemon
    dev = d.new_device()
    will_payload = b"will-" + dev.id.encode()
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token(),
                                  will=(dev.topic(), will_payload, 1, False)))
        assert raw.read_connack() == (0, 0)
    finally:
        raw.close()  # no DISCONNECT
    # The daemon is still up and the device can come back; no Will anywhere.
    c = dev.connect()
    c.close()
    time.sleep(2.0)
    assert not mod_backend.find(payload=will_payload), "the Will was published upstream"
