"""Hostile or broken peers affect only their own connection: malformed
packets, silent peers, stalled TLS handshakes, keepalive, floods."""
import re
import socket
import time

import pytest

import helpers as h


def addr_rx(addr):
    return r"(?<![\d.])%s(?![\d])" % re.escape(addr)


def connected_raw(d, dev, bind=None):
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path, bind=bind)
    raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token()))
    assert raw.read_connack() == (0, 0)
    return raw


def assert_fresh_device_connects_at_once(d, budget=5.0):
    dev = d.new_device()
    t0 = time.monotonic()
    c = dev.connect()
    try:
        took = time.monotonic() - t0
        assert took < budget * h.SCALE, "a fresh device needed %.2fs to connect" % took
        assert c.publish_acked(dev.topic(), b"fresh")
    finally:
        c.close()


# ---- malformed packets. Each: (needs a CONNECTed session first, bytes to send(dev))
MALFORMED = {
    # before CONNECT
    "connect-remaining-length-5-bytes": (False, lambda dev: b"\x10\xff\xff\xff\xff\x7f"),
    "connect-wrong-protocol-name": (False, lambda dev: h.connect_packet(
        dev.client_id, username="unused", password=dev.token(), proto=b"MQTX")),
    "connect-reserved-flag": (False, lambda dev: h.connect_packet(
        dev.client_id, username="unused", password=dev.token(), flags=0xC3)),
    "connect-will-qos-without-will": (False, lambda dev: h.connect_packet(
        dev.client_id, username="unused", password=dev.token(), flags=0xCA)),
    "connect-reserved-fixed-header-flags": (False, lambda dev: b"\x11" + h.connect_packet(
        dev.client_id, username="unused", password=dev.token())[1:]),
    # "GE" frames as a PUBACK with flags 7 and 69 bytes: send more than that.
    "garbage-http": (False, lambda dev: b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"),
    "garbage-zeros": (False, lambda dev: b"\x00" * 64),
    "first-packet-not-connect": (False, lambda dev: h.PINGREQ),
    # after CONNECT
    "publish-remaining-length-5-bytes": (True, lambda dev: b"\x30\xff\xff\xff\xff\x7f"),
    "publish-qos3": (True, lambda dev: h.publish_packet(dev.topic(), b"q3", qos=1, first_byte=0x36)),
    "publish-packet-id-0": (True, lambda dev: h.publish_packet(dev.topic(), b"p0", qos=1, pid=0)),
    "publish-wildcard-topic": (True, lambda dev: h.publish_packet(dev.topic("events", "+"), b"w")),
    "publish-truncated-topic": (True, lambda dev: b"\x30\x05\x00\x40abc"),
    "subscribe-reserved-flags": (True, lambda dev: h.subscribe_packet("/devices/x/config", first_byte=0x80)),
    "pingreq-reserved-flags": (True, lambda dev: b"\xc1\x00"),
    "second-connect": (True, lambda dev: h.connect_packet(dev.client_id, username="unused",
                                                          password=dev.token())),
    "server-only-packet-connack": (True, lambda dev: b"\x20\x02\x00\x00"),
    "reserved-type-0": (True, lambda dev: b"\x00\x00"),
    "reserved-type-15": (True, lambda dev: b"\xf0\x00"),
}


@pytest.fixture
def witness(mod_daemon):
    """A device that stays connected while a malformed case runs."""
    dev = mod_daemon.new_device()
    c = dev.connect()
    yield dev, c
    c.close()


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_closes_only_its_connection(mod_daemon, witness, case):
    d = mod_daemon
    after_connect, make = MALFORMED[case]
    wdev, wclient = witness
    assert wclient.is_connected(), "witness device not connected"
    dev = d.new_device()
    addr = h.unique_loopback()
    mark = d.log_mark()
    if after_connect:
        raw = connected_raw(d, dev, bind=addr)
    else:
        raw = h.RawConn(d.mqtts_port, ca=d.ca_path, bind=addr)
    try:
        raw.send(make(dev))
        # Well before connect_timeout (10 s): the bytes alone are enough.
        if not after_connect:
            pk = raw.read_packet(5 * h.SCALE)
            if pk is not None:
                assert pk[0] == 0x20 and pk[1][1] != 0, "%s: malformed CONNECT got %r" % (case, pk)
        assert raw.wait_closed(5 * h.SCALE), "%s: connection not closed within 5 s" % case
    finally:
        raw.close()
    d.wait_log(addr_rx(addr), since=mark)
    assert d.alive()
    assert wclient.is_connected(), "%s: the witness device was disconnected" % case
    assert wclient.publish_acked(wdev.topic(), ("witness-" + case).encode())
    assert_fresh_device_connects_at_once(d)


@pytest.mark.parametrize("level", [3, 5])
def test_unsupported_protocol_level_gets_connack_1(mod_daemon, level):
    d = mod_daemon
    dev = d.new_device()
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    mark = d.log_mark()
    try:
        proto = b"MQIsdp" if level == 3 else b"MQTT"
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token(), proto=proto,
                                  level=level))
        got = raw.read_connack()
        assert got is not None and got[1] == 1, "protocol level %d: expected CONNACK 1, got %r" % (level, got)
        assert raw.wait_closed()
    finally:
        raw.close()
    d.wait_log(r"reason=\"?bad-protocol(?![\w-])", since=mark)


def test_plaintext_on_tls_port_gets_no_connack(mod_daemon):
    """The device port must never serve MQTT without TLS."""
    d = mod_daemon
    dev = d.new_device()
    raw = h.RawConn(d.mqtts_port, tls=False)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token()))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not raw.eof:
            try:
                raw._fill(deadline)
            except TimeoutError:
                break
        assert not raw.buf.startswith(b"\x20\x02"), "plaintext CONNECT answered with a CONNACK: TLS is off"
    finally:
        raw.close()
    assert_fresh_device_connects_at_once(d)


# ---- deadlines

@pytest.fixture(scope="module")
def quick_daemon(mod_pool):
    return mod_pool(limits={"connect_timeout": 2})


def _closed_within(sock_closed, lo, hi, what):
    t0 = time.monotonic()
    assert sock_closed(hi + 2), "%s not dropped within %.0fs" % (what, hi + 2)
    took = time.monotonic() - t0
    assert lo <= took <= hi, "%s dropped after %.2fs, expected %.0f-%.0fs" % (what, took, lo, hi)


def test_silent_tcp_peer_dropped_after_connect_timeout(quick_daemon):
    d = quick_daemon
    s = socket.create_connection(("127.0.0.1", d.mqtts_port), timeout=5)
    try:
        _closed_within(lambda t: h.tcp_wait_closed(s, t), 1.5, 6.0, "silent TCP peer")
    finally:
        s.close()
    assert_fresh_device_connects_at_once(d)


def test_stalled_tls_handshake_dropped_after_connect_timeout(quick_daemon):
    d = quick_daemon
    hello = h.client_hello()
    s = socket.create_connection(("127.0.0.1", d.mqtts_port), timeout=5)
    try:
        s.sendall(hello[:len(hello) // 2])
        _closed_within(lambda t: h.tcp_wait_closed(s, t), 1.5, 6.0, "stalled TLS handshake")
    finally:
        s.close()
    assert_fresh_device_connects_at_once(d)


def test_session_outlives_connect_timeout(quick_daemon):
    """connect_timeout bounds the way to CONNACK, not the session after it."""
    d = quick_daemon
    dev = d.new_device()
    c = dev.connect()
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5.0:
            assert c.is_connected(), "session closed %.2fs after CONNACK (connect_timeout = 2)" % (
                time.monotonic() - t0)
            time.sleep(0.1)
        assert c.publish_acked(dev.topic(), b"still here")
    finally:
        c.close()


def test_tls_without_connect_dropped_after_connect_timeout(quick_daemon):
    """The CONNECT deadline runs from accept, across the TLS handshake."""
    d = quick_daemon
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    try:
        _closed_within(raw.wait_closed, 1.0, 6.0, "TLS peer that never sends CONNECT")
    finally:
        raw.close()


def test_slow_connect_bytes_dropped_after_connect_timeout(quick_daemon):
    """A CONNECT trickled byte by byte cannot extend the deadline."""
    d = quick_daemon
    dev = d.new_device()
    pkt = h.connect_packet(dev.client_id, username="unused", password=dev.token())
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    t0 = time.monotonic()
    try:
        for i in range(len(pkt) - 1):
            if raw.eof:
                break
            try:
                raw.send(pkt[i:i + 1])
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - t0 > 10:
                break
            try:
                raw._fill(time.monotonic() + 0.01)
            except TimeoutError:
                pass
        assert raw.wait_closed(max(0.1, t0 + 8 - time.monotonic())), "trickling peer was never dropped"
        took = time.monotonic() - t0
        assert took <= 8.0, "trickling peer dropped after %.2fs" % took
    finally:
        raw.close()


def test_keepalive_enforced_at_one_and_a_half(mod_daemon):
    d = mod_daemon
    dev = d.new_device()
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token(), keepalive=2))
        assert raw.read_connack() == (0, 0)
        _closed_within(raw.wait_closed, 2.5, 8.0, "silent device with keepalive 2")
    finally:
        raw.close()


def test_keepalive_pings_keep_session(mod_daemon):
    d = mod_daemon
    dev = d.new_device()
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token(), keepalive=2))
        assert raw.read_connack() == (0, 0)
        for _ in range(5):
            time.sleep(1.0)
            raw.send(h.PINGREQ)
            assert raw.read_packet() == (0xD0, b""), "no PINGRESP"
    finally:
        raw.close()


# ---- floods

def test_connection_flood_from_one_address(daemon_factory):
    d = daemon_factory(limits={"connect_timeout": 10, "max_handshakes_per_address": 4,
                               "max_connections_per_address": 20})
    dev_other = d.new_device()
    dev_same = d.new_device()
    flood = []
    try:
        for _ in range(40):
            try:
                flood.append(socket.create_connection(("127.0.0.1", d.mqtts_port), timeout=5))
            except OSError:
                pass
        # A device from another address connects at once.
        t0 = time.monotonic()
        c = dev_other.connect(bind_address="127.0.0.2", keepalive=10)
        took = time.monotonic() - t0
        try:
            assert took < 2.0 * h.SCALE, "device from 127.0.0.2 needed %.2fs to connect during the flood" % took
            assert c.publish_acked(dev_other.topic(), b"during-flood")
        finally:
            c.close()

        def still_open():
            n = 0
            for s in flood:
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        continue
                except BlockingIOError:
                    n += 1
                    continue
                except OSError:
                    continue
            return n

        # Silent peers are all mid-handshake: at most max_handshakes_per_address stay.
        h.wait_for(lambda: still_open() <= 4, 6, "the per-address limits to close the excess flood "
                                                 "connections (open: %d of %d)" % (still_open(), len(flood)))
    finally:
        for s in flood:
            s.close()
    # Once the flood is gone, 127.0.0.1 is served again.
    deadline = time.monotonic() + 15 * h.SCALE
    while True:
        c = dev_same.client(keepalive=10)
        rc = c.connect()
        c.close()
        if rc == 0:
            break
        assert time.monotonic() < deadline, "127.0.0.1 not served after the flood ended (rc=%s)" % rc
        time.sleep(0.5)
    assert d.alive()


def test_many_handshakes_from_many_addresses(daemon_factory):
    """Limits are per address: silent peers on several addresses below the
    per-address cap do not stop a device from connecting."""
    d = daemon_factory(limits={"connect_timeout": 10, "max_handshakes_per_address": 4})
    socks = []
    try:
        for i in range(8):
            for _ in range(3):
                s = socket.socket()
                s.bind(("127.0.1.%d" % (10 + i), 0))
                s.settimeout(5)
                s.connect(("127.0.0.1", d.mqtts_port))
                socks.append(s)
        dev = d.new_device()
        t0 = time.monotonic()
        c = dev.connect(bind_address="127.0.0.2", keepalive=10)
        c.close()
        assert time.monotonic() - t0 < 3.0 * h.SCALE
    finally:
        for s in socks:
            s.close()
