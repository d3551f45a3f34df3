"""The upstream link (DESIGN.md "Upstream link"): one broker session per
device with the configured identity and prefixes, PUBACK to the device only
after the broker's PUBACK, and Google sessions always ended with DISCONNECT.
"""
import re
import signal
import time

import helpers as h


def upstream_cid(dev, prefix="iotcored/"):
    return "%sg:%s/%s/%s/%s" % (prefix, dev.project, dev.location, dev.registry, dev.id)


def test_per_device_session_identity(broker, daemon):
    dev = daemon.new_device()
    mark = broker.log_mark()
    c = dev.connect()
    try:
        broker.wait_log(r"New client connected from \S+ as %s " % re.escape(upstream_cid(dev)), since=mark)
    finally:
        c.close()


def test_configured_prefixes(broker, daemon_factory):
    d = daemon_factory(upstream={"client_id_prefix": "edge-7/", "google_prefix": "gcp/"})
    backend = h.Backend(broker.port, topic="gcp/#").connect()
    try:
        dev = d.new_device()
        mark = broker.log_mark()
        c = dev.connect()
        try:
            assert c.publish_acked(dev.topic("events", "x"), b"prefixed")
            assert c.publish_acked(dev.topic("state"), b"prefixed-state")
        finally:
            c.close()
        backend.wait_message(dev.upstream_topic("events", "x", prefix="gcp/"), b"prefixed")
        backend.wait_message(dev.upstream_topic("state", prefix="gcp/"), b"prefixed-state")
        broker.wait_log(r"as %s " % re.escape(upstream_cid(dev, "edge-7/")), since=mark)
    finally:
        backend.close()


def test_upstream_credentials(broker_factory, daemon_factory):
    brk = broker_factory(users={"bridge": "s3cret-bridge-pw", "backend": "backend-pw"})
    d = daemon_factory(broker=brk, upstream={"username": "bridge", "password": "s3cret-bridge-pw"})
    backend = h.Backend(brk.port, username="backend", password="backend-pw").connect()
    try:
        dev = d.new_device()
        c = dev.connect()
        try:
            assert c.publish_acked(dev.topic(), b"with-credentials")
        finally:
            c.close()
        backend.wait_message(dev.upstream_topic(), b"with-credentials")
        assert "s3cret-bridge-pw" not in d.log_text(), "the upstream password appears in the log"
    finally:
        backend.close()


def test_wrong_upstream_credentials_refuse_device(broker_factory, daemon_factory):
    brk = broker_factory(users={"bridge": "right-password"})
    d = daemon_factory(broker=brk, upstream={"username": "bridge", "password": "wrong-password"})
    dev = d.new_device()
    c = dev.client()
    try:
        rc = c.connect()
        assert rc not in (None, 0), "device accepted although the broker refused its upstream session"
    finally:
        c.close()
    assert d.alive()


def test_puback_waits_for_the_broker(broker, daemon, backend):
    """A device's QoS 1 PUBLISH is acknowledged only after the broker's
    PUBACK: with the broker frozen (SIGSTOP) no PUBACK comes."""
    dev = daemon.new_device()
    c = dev.connect()
    try:
        assert c.publish_acked(dev.topic(), b"before-freeze")
        broker.signal(signal.SIGSTOP)
        try:
            info = c.publish(dev.topic(), b"while-frozen", qos=1)
            time.sleep(2.0)
            assert not h.published(info), "PUBACK sent to the device while the broker could not ack"
        finally:
            broker.signal(signal.SIGCONT)
        h.wait_for(lambda: h.published(info), h.T_DELIVER, "PUBACK once the broker is back")
        backend.wait_message(dev.upstream_topic(), b"while-frozen")
    finally:
        c.close()


def test_google_session_ends_with_disconnect(broker, daemon):
    """Google devices had no Will: even when the device vanishes without
    DISCONNECT, the upstream session is ended with DISCONNECT."""
    dev = daemon.new_device()
    raw = h.RawConn(daemon.mqtts_port, ca=daemon.ca_path)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token()))
        assert raw.read_connack() == (0, 0)
        broker.wait_log(r"as %s " % re.escape(upstream_cid(dev)))
        mark = broker.log_mark()
    finally:
        raw.close()  # TCP close, no DISCONNECT
    broker.wait_log(r"Client %s disconnected\." % re.escape(upstream_cid(dev)), since=mark)


def test_shutdown_ends_upstream_sessions_with_disconnect(broker, daemon_factory):
    d = daemon_factory()
    devs = [d.new_device() for _ in range(2)]
    clients = [dev.connect() for dev in devs]
    try:
        mark = broker.log_mark()
        assert d.stop(signal.SIGTERM) == 0
        for dev in devs:
            broker.wait_log(r"Client %s disconnected\." % re.escape(upstream_cid(dev)), since=mark)
    finally:
        for c in clients:
            c.close()
