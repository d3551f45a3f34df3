"""Mosquitto killed with SIGKILL and restarted under QoS 1 load: the daemon
never acknowledges a device's message before the broker did. The broker is
first frozen (SIGSTOP) so that it cannot acknowledge anything: every
sequence number published after the freeze must stay unacknowledged until
the devices are disconnected by the kill. After the restart the devices
reconnect and every message acknowledged from then on is upstream. What
Mosquitto itself loses on SIGKILL is not ours to test."""
import signal
import time

import fault_helpers as fh
import helpers as h
from test_no_loss import Publisher, received_seqs

N_DEVICES = 3
ACKS = 20
FROZEN = 3.0          # seconds the broker stays stopped while devices publish


def acked_since(pubs, marks):
    """{device: sorted seqs >= its mark that the daemon acknowledged}."""
    out = {}
    for p in pubs:
        p.collect()
        with p.lock:
            early = sorted(s for s in p.acked if s >= marks[p.dev.id])
        if early:
            out[p.dev.id] = early
    return out


def restart_and_check(brk, d, pubs, measure, label):
    """Restarts the broker on its port; devices reconnect and publish; every
    message acknowledged after the restart reaches a fresh subscriber."""
    brk.fixed_port = True
    brk.start()
    backend = h.Backend(brk.port).connect()
    try:
        t0 = time.monotonic()
        before = fh.phase(pubs, ACKS, label)
        measure(label + "_recovered_s", fh.elapsed(t0))
        fh.drain(pubs, label)
        expected = {(p.dev.id, s) for p in pubs for s in p.acked - before[p.dev.id]}
        try:
            h.wait_for(lambda: expected <= received_seqs([backend]), 20 * h.SCALE,
                       "%s: every message acknowledged after the restart upstream" % label)
        except AssertionError:
            missing = sorted(expected - received_seqs([backend]))
            raise AssertionError("%s: %d of %d messages acknowledged after the restart are not upstream: %r" %
                                 (label, len(missing), len(expected), missing[:20])) from None
        assert d.alive()
    finally:
        backend.close()


def test_broker_sigstop_then_sigkill_under_load(broker, daemon_factory, measure):
    brk = broker
    d = daemon_factory(log_level="info")
    pubs = [Publisher(d.new_device()) for _ in range(N_DEVICES)]
    stopped = False
    try:
        fh.phase(pubs, ACKS, "before the freeze")

        # Freeze the broker. Anything published from now on cannot have
        # been acknowledged by it.
        brk.signal(signal.SIGSTOP)
        stopped = True
        marks = {}
        for p in pubs:
            with p.lock:
                marks[p.dev.id] = p.next_seq
        time.sleep(FROZEN)
        sent = sum(p.next_seq - marks[p.dev.id] for p in pubs)
        assert sent >= N_DEVICES * 10, "devices published only %d messages while the broker was frozen" % sent
        early = acked_since(pubs, marks)
        assert not early, "PUBACK for messages the frozen broker never acknowledged: %r" % early
        for p in pubs:
            assert p.client.is_connected(), "device %s dropped while the broker was only frozen" % p.dev.id
        measure("published_while_frozen", sent)

        # Kill it: the upstream sessions drop, so the devices are closed,
        # still without a PUBACK for anything sent during the freeze.
        t0 = time.monotonic()
        brk.kill()
        stopped = False
        for p in pubs:
            assert p.client.wait_closed(10 * h.SCALE), "device %s not closed after the broker was killed" % p.dev.id
        measure("devices_closed_after_kill_s", round(time.monotonic() - t0, 2))
        for p in pubs:
            p.stop()
        early = acked_since(pubs, marks)
        assert not early, "PUBACK for messages the killed broker never acknowledged: %r" % early
        assert d.alive()

        restart_and_check(brk, d, pubs, measure, "after_stop_kill")

        # Once more without the freeze: a plain SIGKILL in the middle of
        # traffic, then the same recovery.
        fh.phase(pubs, ACKS, "before the second kill")
        brk.kill()
        for p in pubs:
            assert p.client.wait_closed(10 * h.SCALE), "device %s not closed after the second kill" % p.dev.id
            p.stop()
        restart_and_check(brk, d, pubs, measure, "after_kill")
    finally:
        if stopped:
            brk.signal(signal.SIGCONT)
        for p in pubs:
            p.close()
