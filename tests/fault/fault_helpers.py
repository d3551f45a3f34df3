"""Pieces shared by the fault tests, on top of tests/integration/helpers.py
and the Publisher of tests/integration/test_no_loss.py (a device publishing
QoS 1 sequence numbers and remembering which ones were acknowledged)."""
import os
import time

import helpers as h


def phase(pubs, acks, what, timeout=30):
    """Starts the publishers (each first resends what was never
    acknowledged) and waits until every resent message and `acks` new ones
    per device are acknowledged. Returns {device id: acked set before}."""
    before = {p.dev.id: set(p.acked) for p in pubs}
    resend = {}
    for p in pubs:
        p.collect()
        with p.lock:
            resend[p.dev.id] = set(p.pending)
    for p in pubs:
        p.start()

    def done(p):
        p.collect()
        with p.lock:
            return resend[p.dev.id] <= p.acked and \
                len(p.acked - before[p.dev.id]) >= len(resend[p.dev.id]) + acks

    h.wait_for(lambda: all(done(p) for p in pubs), timeout * h.SCALE,
               "%s: resent messages and %d new ones acknowledged per device" % (what, acks))
    return before


def drain(pubs, what, timeout=20):
    """Stops the publishers and waits for the PUBACK of every message still
    in flight on their live connections."""
    for p in pubs:
        p.stop()
    try:
        h.wait_for(lambda: all(p.collect() >= 0 and not p.pending for p in pubs), timeout * h.SCALE,
                   "%s: PUBACKs for the last messages in flight" % what)
    except AssertionError as e:
        raise AssertionError("%s; %s" % (e, "; ".join(
            "%s: %d pending (first %r), connected=%s" % (p.dev.id, len(p.pending), sorted(p.pending)[:5],
                                                         p.client.is_connected()) for p in pubs))) from None


def rss_kib(pid):
    """VmRSS of a process in KiB (/proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def sanitized():
    """True for the ASan+UBSan build (./dev test sets IOTCORED_SANITIZED=1)."""
    return os.environ.get("IOTCORED_SANITIZED") == "1"


def elapsed(t0):
    return round(time.monotonic() - t0, 3)
