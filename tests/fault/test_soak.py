"""Churn soak: devices connect, publish, subscribe, disconnect (cleanly or
not), get refused, send garbage, replace each other's sessions, and run
into their token deadline (refresh_interval = 2) for IOTCORED_SOAK_SECONDS
(default 60; 600 for the 10-minute soak, not in CI). The daemon's RSS must
stay flat (end <= start * 1.5 + 8 MiB, start taken after a short warm-up of
the churn, end after the churn), and it must exit 0 at SIGTERM:
under ASan (IOTCORED_SANITIZED=1) LeakSanitizer makes any leak a non-zero
exit."""
import collections
import os
import random
import signal
import struct
import threading
import time

import fault_helpers as fh
import helpers as h

SOAK_S = int(os.environ.get("IOTCORED_SOAK_SECONDS") or 60)
WORKERS = 4
DEVICES_PER_WORKER = 4
REFRESH = 2
RSS_EVERY = 5.0
WARMUP = min(10.0, SOAK_S / 6)

# op: weight, for the churn workers; one more worker only lets sessions
# run into their token deadline, DEVICES_PER_WORKER at a time.
OPS = {"publish": 40, "abrupt": 20, "refused": 12, "malformed": 12, "takeover": 16}


class Worker:
    def __init__(self, d, devices, seed, deadline, expiry_only=False):
        self.expiry_only = expiry_only
        self.d = d
        self.devices = devices
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.ops = collections.Counter()
        self.errors = []
        self.stray_key = h.ec_key()
        self.thread = threading.Thread(target=self.run, daemon=True)

    # ---- pieces
    @staticmethod
    def token(dev):
        """iat on the next whole second (within clock_skew): the session
        then lives 2 to 3 s, never less, whatever the clock's fraction."""
        return dev.token(iat=int(time.time()) + 1)

    def connect(self, dev, token=None, keepalive=30):
        raw = h.RawConn(self.d.mqtts_port, ca=self.d.ca_path)
        raw.send(h.connect_packet(dev.client_id, username="unused",
                                  password=token if token is not None else self.token(dev), keepalive=keepalive))
        return raw, raw.read_connack()

    def session(self, dev, **kw):
        raw, ack = self.connect(dev, **kw)
        if ack != (0, 0):
            raw.close()
            raise AssertionError("CONNACK %r" % (ack,))
        return raw

    @staticmethod
    def wait_pubacks(raw, pids, timeout=h.T_DELIVER):
        """Reads until every pid in `pids` is acknowledged (SUBACK counts for
        its pid); acknowledges what the daemon delivers (config) on the way."""
        pids = set(pids)
        deadline = time.monotonic() + timeout
        while pids:
            pk = raw.read_packet(max(0.1, deadline - time.monotonic()))
            if pk is None:
                raise AssertionError("closed with %r unacknowledged" % sorted(pids))
            kind = pk[0] & 0xF0
            if kind in (0x40, 0x90):
                pids.discard(struct.unpack("!H", pk[1][:2])[0])
            elif kind == 0x30 and (pk[0] & 0x06):
                tlen = struct.unpack("!H", pk[1][:2])[0]
                pid = pk[1][2 + tlen:4 + tlen]
                raw.send(b"\x40\x02" + pid)

    # ---- operations
    def op_publish(self, dev):
        raw = self.session(dev)
        try:
            raw.send(h.subscribe_packet("/devices/%s/config" % dev.id, qos=1, pid=1))
            raw.send(h.subscribe_packet("/devices/%s/commands/#" % dev.id, qos=0, pid=2))
            pids = [1, 2]
            for i in range(5):
                raw.send(h.publish_packet(dev.topic(), b"soak-%d" % i, qos=1, pid=10 + i))
                raw.send(h.publish_packet(dev.topic("events", "sub"), b"q0-%d" % i, qos=0))
                pids.append(10 + i)
            raw.send(h.publish_packet(dev.topic("state"), b"state", qos=1, pid=20))
            pids.append(20)
            self.wait_pubacks(raw, pids)
            raw.send(h.DISCONNECT)
            raw.wait_closed(5)
        finally:
            raw.close()

    def op_abrupt(self, dev):
        raw = self.session(dev)
        for i in range(3):
            raw.send(h.publish_packet(dev.topic(), b"abrupt-%d" % i, qos=1, pid=30 + i))
        raw.close()              # no DISCONNECT, PUBACKs unread

    def op_expire(self, dev):
        """Sessions that idle into their token deadline, several at once on
        this worker's devices (a thread each: the wait is the point)."""
        results = []

        def one(dv):
            iat = int(time.time()) + 1
            try:
                raw = self.session(dv, token=dv.token(iat=iat))
            except Exception as e:
                results.append("connect: %r" % e)
                return
            try:
                if not raw.wait_closed(REFRESH + 5):
                    results.append("session outlived its token deadline (iat + %d s) by 5 s" % REFRESH)
                elif time.time() < iat + REFRESH - 0.5:
                    results.append("session closed %.1f s before its token deadline" % (iat + REFRESH - time.time()))
            finally:
                raw.close()

        threads = [threading.Thread(target=one, args=(dv,)) for dv in self.devices]
        for t in threads:
            t.start()
        for t in threads:
            t.join(REFRESH + 20)
        if results:
            raise AssertionError("; ".join(results))

    def op_refused(self, dev):
        tok = h.make_jwt(self.stray_key, "ES256", aud=dev.project)
        raw, ack = self.connect(dev, token=tok)
        try:
            if ack is not None and ack[1] == 0:
                raise AssertionError("a token signed by a stranger's key was accepted")
        finally:
            raw.close()

    def op_malformed(self, dev):
        raw = self.session(dev)
        try:
            raw.send(b"\xf0\x00" + bytes(self.rng.getrandbits(8) for _ in range(64)))
            if not raw.wait_closed(5):
                raise AssertionError("malformed packet did not close the connection")
        finally:
            raw.close()

    def op_takeover(self, dev):
        first = self.session(dev)
        try:
            second = self.session(dev)
            try:
                if not first.wait_closed(5):
                    raise AssertionError("old session not closed after the new one authenticated")
                second.send(h.publish_packet(dev.topic(), b"takeover", qos=1, pid=40))
                self.wait_pubacks(second, [40])
                second.send(h.DISCONNECT)
            finally:
                second.close()
        finally:
            first.close()

    def run(self):
        names = list(OPS)
        weights = [OPS[n] for n in names]
        while time.monotonic() < self.deadline:
            op = self.rng.choices(names, weights)[0] if not self.expiry_only else "expire"
            dev = self.rng.choice(self.devices)
            try:
                getattr(self, "op_" + op)(dev)
                self.ops[op] += 1
            except Exception as e:       # the test reports them all
                self.errors.append("%s %s: %r" % (op, dev.id, e))
                if len(self.errors) > 50:
                    return


def test_churn_soak(daemon_factory, measure, monkeypatch):
    if fh.sanitized():
        # ASan holds freed memory in a quarantine (256 MiB by default) that
        # fills during the warm-up; a small one keeps the RSS figures about
        # the daemon. And it records the stack of every allocation in a
        # depot it never frees, which this churn keeps growing (measured:
        # +10 MiB in 150 s with stacks, flat without; the same churn without
        # ASan is flat either way), so stacks are off unless asked for: a
        # leak still fails the exit check, re-run with malloc_context_size
        # set to see where it was allocated. Only the daemon started here
        # sees these options.
        opts = [os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=16"]
        if "malloc_context_size" not in opts[0]:
            opts.append("malloc_context_size=0")
        monkeypatch.setenv("ASAN_OPTIONS", ":".join(x for x in opts if x))
    d = daemon_factory(google={"refresh_interval": REFRESH}, limits={"connect_timeout": 5}, log_level="info")
    d.expect_clean_exit = False          # checked here, with a longer grace under ASan
    devices = [[d.new_device() for _ in range(DEVICES_PER_WORKER)] for _ in range(WORKERS + 1)]
    before = fh.rss_kib(d.pid)
    t_start = time.monotonic()
    workers = [Worker(d, devs, seed, t_start + SOAK_S) for seed, devs in enumerate(devices[:WORKERS])]
    workers.append(Worker(d, devices[WORKERS], WORKERS, t_start + SOAK_S, expiry_only=True))
    for w in workers:
        w.thread.start()
    # The start figure is taken once the churn has run WARMUP seconds: TLS,
    # SQLite and allocator caches grow to their working size first.
    time.sleep(WARMUP)
    rss = [fh.rss_kib(d.pid)]
    while any(w.thread.is_alive() for w in workers):
        left = t_start + SOAK_S - time.monotonic()
        time.sleep(min(RSS_EVERY, left) if left > 0.1 else 0.5)
        if d.alive():
            rss.append(fh.rss_kib(d.pid))
        assert d.alive(), "iotcored died during the soak (rc=%s)\n%s" % (d.proc.returncode, d.log_tail(0, 8192))
        if time.monotonic() > t_start + SOAK_S + 60:
            break
    for w in workers:
        w.thread.join(30)
    # Let the last sessions and their upstream links close.
    time.sleep(REFRESH + 1)
    end = fh.rss_kib(d.pid)

    ops = collections.Counter()
    errors = []
    for w in workers:
        ops.update(w.ops)
        errors += w.errors
    start = rss[0]
    measure("seconds", SOAK_S)
    measure("operations", " ".join("%s=%d" % kv for kv in sorted(ops.items())))
    measure("rss_kib_before_churn", before)
    measure("rss_kib_start", start)
    measure("rss_kib_end", end)
    measure("rss_kib_max", max(rss + [end]))
    measure("rss_kib_samples", " ".join(str(x) for x in rss[::max(1, len(rss) // 12)]))
    assert not errors, "%d unexpected outcomes, first: %s" % (len(errors), "\n  ".join(errors[:10]))
    assert sum(ops.values()) >= SOAK_S, "only %d operations in %d s" % (sum(ops.values()), SOAK_S)
    assert end <= start * 1.5 + 8 * 1024, "RSS grew from %d KiB to %d KiB over the soak (samples %r)" % (
        start, end, rss)

    # Under ASan, LeakSanitizer runs at exit and makes any leak rc != 0.
    grace = 120 if fh.sanitized() else 15
    mark = d.log_mark()
    rc = d.stop(signal.SIGTERM, grace)
    tail = d.log_tail(mark, 16384)
    assert rc == 0, "iotcored exited rc=%s at SIGTERM after the soak%s\n%s" % (
        rc, " (LeakSanitizer)" if "LeakSanitizer" in tail else "", tail)
    assert "LeakSanitizer" not in tail and "AddressSanitizer" not in tail, tail
