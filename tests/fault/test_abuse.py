"""Abuse: idle half-open TCP connections and slow TLS handshakes from one
address do not stop a device on another from connecting within 1 s;
oversized and malformed packets close only their own connection; a connect
flood from one address is throttled while other addresses connect."""
import random
import re
import resource
import socket
import struct
import threading
import time

import pytest

import fault_helpers as fh
import helpers as h

ABUSER = "127.0.0.2"
DEVICE_ADDR = "127.0.0.3"
N_IDLE = 2000
N_SLOW = 100
CONNECT_BUDGET = 1.0      # seconds from TCP connect to CONNACK, asserted (not scaled)


def raise_nofile(need):
    """Raises this process's soft RLIMIT_NOFILE (inherited by the daemon
    started after it) to at least `need`, or skips."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def metric(d, name):
    r = d.rest("GET", "/metrics")
    assert r.status_code == 200, "/metrics: %s" % r.status_code
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.text, re.M)
    assert m, "no %s in /metrics" % name
    return int(m.group(1))


def timed_connect(dev, bind):
    """Seconds from the TCP connect to CONNACK 0 for a device bound to
    `bind` (the token is minted before the clock starts); then one QoS 1
    PUBLISH must be acknowledged. Raw sockets, not paho: paho 1.6 waits in
    select(), which cannot take the descriptor numbers above 1024 that a
    test holding thousands of sockets hands out."""
    tok = dev.token()
    t0 = time.monotonic()
    raw = h.RawConn(dev.daemon.mqtts_port, ca=dev.daemon.ca_path, bind=bind)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused", password=tok, keepalive=30))
        ack = raw.read_connack()
        took = time.monotonic() - t0
        assert ack == (0, 0), "device from %s: CONNACK %r" % (bind, ack)
        raw.send(h.publish_packet(dev.topic(), b"abuse-witness", qos=1, pid=7))
        assert raw.read_packet(h.T_DELIVER) == (0x40, b"\x00\x07"), "device from %s: no PUBACK" % bind
        raw.send(h.DISCONNECT)
    finally:
        raw.close()
    return took


def open_from(addr, port, n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((addr, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    return socks


def still_open(socks):
    """How many of these sockets the daemon has not closed."""
    n = 0
    for s in socks:
        try:
            if s.recv(4096) == b"":
                continue
            n += 1               # the server said something: still open
        except BlockingIOError:
            n += 1
        except OSError:
            continue
    return n


class Trickler:
    """Sends a real TLS ClientHello one byte at a time over many sockets
    (one byte per socket every `interval` seconds): slow handshakes."""

    def __init__(self, socks, interval=0.5):
        self.socks = socks
        self.hello = h.client_hello()
        self.interval = interval
        self.sent = [0] * len(socks)
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.wait(self.interval):
            for i, s in enumerate(self.socks):
                if self.sent[i] < len(self.hello) - 1:      # never the last byte
                    try:
                        s.send(self.hello[self.sent[i]:self.sent[i] + 1])
                        self.sent[i] += 1
                    except OSError:
                        pass

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join(5)


@pytest.mark.parametrize("limits", ["raised", "default"])
def test_idle_and_slow_handshakes_do_not_block_another_address(daemon_factory, measure, limits):
    """raised: the daemon's limits let 127.0.0.2 hold all 2,000 idle and 100
    trickling connections; default: the per-address limits refuse most of
    them. Either way a device on 127.0.0.3 connects within 1 s."""
    raise_nofile(N_IDLE + N_SLOW + 1024)
    lim = {"connect_timeout": 60}
    if limits == "raised":
        lim.update({"max_connections_per_address": 5000, "max_handshakes_in_progress": 5000,
                    "max_handshakes_per_address": 4000})
    d = daemon_factory(limits=lim, log_level="info")
    dev = d.new_device()
    idle, slow, trickler = [], [], None
    try:
        t0 = time.monotonic()
        idle = open_from(ABUSER, d.mqtts_port, N_IDLE)
        slow = open_from(ABUSER, d.mqtts_port, N_SLOW)
        trickler = Trickler(slow).start()
        measure("open_s", fh.elapsed(t0))
        assert len(idle) + len(slow) >= (N_IDLE + N_SLOW) * 0.99, "could open only %d connections" % (
            len(idle) + len(slow))
        if limits == "raised":
            # The daemon really holds them all before the device tries.
            h.wait_for(lambda: metric(d, "iotcored_connections") >= N_IDLE + N_SLOW, 20 * h.SCALE,
                       "the daemon to accept all %d connections" % (N_IDLE + N_SLOW))
        else:
            h.wait_for(lambda: d.log_text().find("max_handshakes_per_address reached") >= 0, 10 * h.SCALE,
                       "the per-address handshake limit to refuse the flood")
        time.sleep(1.0)             # let a few trickled bytes arrive
        times = [timed_connect(dev, DEVICE_ADDR) for _ in range(5)]
        held = metric(d, "iotcored_connections")
        measure("connect_s_max", round(max(times), 3))
        measure("connect_s_all", " ".join("%.3f" % t for t in times))
        measure("connections_held", held)
        assert max(times) < CONNECT_BUDGET, \
            "device on %s needed %s s to connect while %s held %d connections" % (
                DEVICE_ADDR, ["%.3f" % t for t in times], ABUSER, held)
        if limits == "raised":
            open_idle, open_slow = still_open(idle), still_open(slow)
            assert open_idle == len(idle) and open_slow == len(slow), \
                "the daemon closed abusive connections it was configured to hold: idle %d/%d, slow %d/%d" % (
                    open_idle, len(idle), open_slow, len(slow))
            assert held >= N_IDLE + N_SLOW
    finally:
        if trickler:
            trickler.stop()
        for s in idle + slow:
            s.close()
    # Nothing is left counted once they are gone.
    h.wait_for(lambda: metric(d, "iotcored_connections") == 0, 15 * h.SCALE,
               "iotcored_connections back to 0 after the abusive connections closed")
    assert timed_connect(dev, ABUSER) < 5.0 * h.SCALE, "%s not served again after the abuse" % ABUSER


# ---- oversized and malformed packets, many at once, beside a busy witness

def _connected(d, dev, bind, keepalive=5):
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path, bind=bind)
    raw.send(h.connect_packet(dev.client_id, username="unused", password=dev.token(), keepalive=keepalive))
    assert raw.read_connack() == (0, 0), "%s: no CONNACK 0" % dev.id
    return raw


def _oversized_publish(dev, declared, sent):
    head = bytes([0x32]) + h.enc_len(declared)
    body = h.enc_str(dev.topic()) + struct.pack("!H", 7)
    return head + body + b"x" * (sent - len(body))


def _oversized_connect(dev):
    return b"\x10" + h.enc_len(1 << 20) + h.enc_str(b"MQTT") + b"\x04\xc2\x00\x3c" + b"p" * 65536


def _garbage(seed, first):
    rng = random.Random(seed)
    return bytes([first]) + bytes(rng.getrandbits(8) for _ in range(2047))


# name: (after CONNECT?, tls?, bytes to send(dev), seconds within which it must close)
ABUSE = {
    "publish-declares-256MiB": (True, True, lambda dev: _oversized_publish(dev, 268435455, 1024), 5),
    "publish-over-max-packet-size": (True, True, lambda dev: _oversized_publish(dev, 300 * 1024, 300 * 1024), 5),
    "connect-declares-1MiB": (False, True, _oversized_connect, 5),
    "remaining-length-overlong": (False, True, lambda dev: b"\x10\xff\xff\xff\xff\xff\x01", 5),
    "garbage-reserved-type-before-connect": (False, True, lambda dev: _garbage(1, 0x00), 5),
    "garbage-reserved-type-after-connect": (True, True, lambda dev: _garbage(2, 0xF0), 5),
    "garbage-random-before-connect": (False, True, lambda dev: _garbage(3, 0x47), 10),
    "garbage-random-after-connect": (True, True, lambda dev: _garbage(4, 0x3F), 10),
    "publish-qos3-after-connect": (True, True, lambda dev: h.publish_packet(dev.topic(), b"x", qos=1,
                                                                           first_byte=0x36), 5),
    "not-tls-garbage": (False, False, lambda dev: _garbage(5, 0x16)[:5] + b"\xff" * 2043, 10),
    "tls-record-too-long": (False, False, lambda dev: b"\x16\x03\x01\xff\xff" + b"\x00" * 2048, 10),
}


ROUNDS = 5


def _run_abuse(d, name, dev, addr, results):
    after_connect, tls, make, within = ABUSE[name]
    raw = None
    try:
        if after_connect:
            raw = _connected(d, dev, addr)
        else:
            raw = h.RawConn(d.mqtts_port, ca=d.ca_path, bind=addr, tls=tls)
        t0 = time.monotonic()
        try:
            raw.send(make(dev))
        except OSError:
            pass                     # closed while we were still sending: fine
        closed = raw.wait_closed(within + 2)
        results[name] = (closed, time.monotonic() - t0, within)
    except Exception as e:           # reported by the test
        results[name] = (False, 0.0, repr(e))
    finally:
        if raw:
            raw.close()


def test_oversized_and_malformed_close_only_their_own(daemon_factory, measure):
    d = daemon_factory(limits={"connect_timeout": 5}, log_level="info")
    wdev = d.new_device()
    witness = wdev.connect()
    stop = threading.Event()
    sent, lost = [], []

    def busy():
        n = 0
        while not stop.is_set():
            n += 1
            if not witness.publish_acked(wdev.topic(), ("w%d" % n).encode(), timeout=10):
                lost.append(n)
            sent.append(n)
            time.sleep(0.02)

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    results = {}
    try:
        malformed0 = metric(d, "iotcored_malformed_total")
        devs = {name: d.new_device() for name in ABUSE}
        worst = {}
        for rnd in range(ROUNDS):
            threads = [threading.Thread(target=_run_abuse,
                                        args=(d, name, devs[name], "127.0.%d.%d" % (1 + rnd, 10 + i), results))
                       for i, name in enumerate(sorted(ABUSE))]
            for th in threads:
                th.start()
            for th in threads:
                th.join(60)
            bad = {n: r for n, r in results.items() if not (r[0] and r[1] <= r[2] + 1)}
            assert len(results) == len(ABUSE) and not bad, \
                "round %d: abusive connections not closed in time (closed, seconds, bound): %r" % (rnd + 1, bad)
            for n, r in results.items():
                worst[n] = max(worst.get(n, 0.0), r[1])
            results.clear()
        measure("close_s_max", " ".join("%s=%.2f" % (n, worst[n]) for n in sorted(worst)))
        assert metric(d, "iotcored_malformed_total") > malformed0
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(15)
    try:
        assert witness.is_connected(), "the witness device was disconnected by someone else's abuse"
        assert len(sent) >= 20 and not lost, "witness: %d of %d QoS 1 messages not acknowledged" % (len(lost), len(sent))
        measure("witness_acked", len(sent))
    finally:
        witness.close()
    assert d.alive()
    assert timed_connect(d.new_device(), DEVICE_ADDR) < 5.0 * h.SCALE


# ---- a connect flood from one address

FLOODER = "127.0.0.4"


def test_connect_flood_from_one_address_is_throttled(daemon_factory, measure):
    per_addr = 8
    d = daemon_factory(limits={"connect_timeout": 10, "max_handshakes_per_address": per_addr,
                               "max_handshakes_in_progress": 64}, log_level="info")
    devs = [d.new_device() for _ in range(6)]
    raise_nofile(4096)
    hello = h.client_hello()
    stop = threading.Event()
    stats = {"attempts": 0, "refused": 0, "connect_errors": 0}
    live = []

    def flood():
        # Opens connections as fast as it can, each starting a TLS
        # handshake it never finishes; drops the ones the daemon closed.
        while not stop.is_set():
            s = socket.socket()
            s.bind((FLOODER, 0))
            s.settimeout(2)
            stats["attempts"] += 1
            try:
                s.connect(("127.0.0.1", d.mqtts_port))
                s.send(hello)
            except OSError:
                stats["connect_errors"] += 1
                s.close()
                continue
            s.setblocking(False)
            live.append(s)
            if len(live) >= 32:
                keep = []
                for x in live:
                    try:
                        if x.recv(4096) == b"":
                            stats["refused"] += 1
                            x.close()
                            continue
                        keep.append(x)
                    except BlockingIOError:
                        keep.append(x)
                    except OSError:
                        stats["refused"] += 1
                        x.close()
                live[:] = keep

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    times = []
    try:
        time.sleep(1.0)
        for i, dev in enumerate(devs):
            times.append(timed_connect(dev, "127.0.0.%d" % (20 + i)))
            time.sleep(0.3)
    finally:
        stop.set()
        flooder.join(10)
    try:
        measure("flood_attempts", stats["attempts"])
        measure("flood_refused", stats["refused"])
        measure("other_address_connect_s", " ".join("%.3f" % t for t in times))
        assert stats["attempts"] > 200, "the flood made only %d attempts" % stats["attempts"]
        assert max(times) < CONNECT_BUDGET, "devices on other addresses needed %s s during the flood" % (
            ["%.3f" % t for t in times])
        # Throttled: the daemon holds at most max_handshakes_per_address of
        # the flooder's handshakes and refuses the rest.
        assert stats["refused"] > stats["attempts"] // 2, "only %d of %d flood connections refused" % (
            stats["refused"], stats["attempts"])
        h.wait_for(lambda: still_open(live) <= per_addr, 5 * h.SCALE,
                   "at most %d flood connections held (open: %d)" % (per_addr, still_open(live)))
        assert re.search(r"connection refused peer=%s\S*: max_handshakes_per_address reached" % re.escape(FLOODER),
                         d.log_text()), "no refusal logged for the flooding address"
    finally:
        for s in live:
            s.close()
    assert d.alive()
