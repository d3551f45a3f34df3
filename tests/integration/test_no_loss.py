"""No acknowledged message is lost across a broker restart, and the daemon
keeps no queue: upstream loss closes the devices, which reconnect and resend.
"""
import threading
import time

import helpers as h

N_DEVICES = 3
PACE = 0.02          # seconds between publishes per device (about 50/s)
PHASE_ACKS = 20      # acknowledged messages per device before moving on


class Publisher:
    """One device publishing QoS 1 sequence numbers; remembers which ones the
    daemon acknowledged (PUBACK) on any of its connections."""

    def __init__(self, dev):
        self.dev = dev
        self.lock = threading.Lock()
        self.next_seq = 0
        self.pending = {}        # seq -> MQTTMessageInfo of its latest send
        self.acked = set()
        self.client = None
        self.thread = None
        self.stop_flag = threading.Event()
        self.connections = 0

    def payload(self, seq):
        return ("%s:%d" % (self.dev.id, seq)).encode()

    def collect(self):
        with self.lock:
            for seq, info in list(self.pending.items()):
                if h.published(info):
                    self.acked.add(seq)
                    del self.pending[seq]
            return len(self.acked)

    def connect(self, timeout=30 * h.SCALE):
        """Connects with a fresh JWT, retrying until CONNACK 0."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            c = self.dev.client()
            rc = c.connect()
            if rc == 0:
                self.client = c
                self.connections += 1
                return c
            last = c.describe()
            c.close()
            time.sleep(0.5)
        raise AssertionError("device %s could not reconnect: %s" % (self.dev.id, last))

    def start(self):
        """Resends every unacknowledged seq, then publishes new ones until
        stopped or disconnected."""
        self.collect()
        self.stop_flag.clear()
        c = self.connect()

        def run():
            with self.lock:
                resend = sorted(self.pending)
            for seq in resend:
                if self.stop_flag.is_set() or c.is_closed():
                    return
                info = c.publish(self.dev.topic(), self.payload(seq), qos=1)
                with self.lock:
                    self.pending[seq] = info
                time.sleep(PACE)
            while not self.stop_flag.is_set() and not c.is_closed():
                with self.lock:
                    seq = self.next_seq
                    self.next_seq += 1
                    self.pending[seq] = c.publish(self.dev.topic(), self.payload(seq), qos=1)
                time.sleep(PACE)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_flag.set()
        if self.thread:
            self.thread.join(10)
        self.collect()

    def close(self):
        self.stop()
        if self.client:
            self.client.close()


def received_seqs(backends):
    got = set()
    for b in backends:
        for topic, payload, qos, _ in b.snapshot():
            if topic.endswith("/events"):
                dev, _, seq = payload.decode().rpartition(":")
                got.add((dev, int(seq)))
    return got


def test_no_acknowledged_message_lost_across_broker_restart(broker_factory, daemon_factory):
    brk = broker_factory(persistence=True)
    d = daemon_factory(broker=brk)
    backend_id = h.unique_id("noloss-backend")
    backends = [h.Backend(brk.port, client_id=backend_id, clean_session=False).connect()]
    pubs = [Publisher(d.new_device()) for _ in range(N_DEVICES)]
    try:
        for p in pubs:
            p.start()
        h.wait_for(lambda: all(p.collect() >= PHASE_ACKS for p in pubs), 30 * h.SCALE,
                   "%d acknowledged messages per device before the broker stop" % PHASE_ACKS)

        # Stop the broker gracefully (it saves its state) while devices publish.
        rc = brk.stop()
        assert rc == 0, "mosquitto did not exit cleanly: %s" % rc
        for p in pubs:
            assert p.client.wait_closed(10 * h.SCALE), \
                "device %s not disconnected after the broker went away" % p.dev.id
        for p in pubs:
            p.stop()
        acked_before = {p.dev.id: len(p.acked) for p in pubs}
        unacked_at_stop = sum(len(p.pending) for p in pubs)
        backends[0].close()

        brk.fixed_port = True
        brk.start()
        backends.append(h.Backend(brk.port, client_id=backend_id, clean_session=False).connect())
        assert backends[-1].session_present == 1, "broker lost the backend's session across the restart"

        for p in pubs:
            p.start()
        h.wait_for(lambda: all(p.collect() >= acked_before[p.dev.id] + PHASE_ACKS for p in pubs),
                   40 * h.SCALE, "%d more acknowledged messages per device after the restart" % PHASE_ACKS)
        for p in pubs:
            p.stop()
        # Whatever was still in flight gets its PUBACK on the live connection.
        h.wait_for(lambda: all(p.collect() >= 0 and not p.pending for p in pubs), 20 * h.SCALE,
                   "PUBACKs for the last messages in flight")
        for p in pubs:
            assert p.client.is_connected(), "device %s dropped after the restart" % p.dev.id
            assert p.connections >= 2

        expected = {(p.dev.id, seq) for p in pubs for seq in p.acked}
        assert len(expected) >= N_DEVICES * 2 * PHASE_ACKS

        def all_there():
            return expected <= received_seqs(backends)

        try:
            h.wait_for(all_there, 30 * h.SCALE, "every acknowledged message upstream")
        except AssertionError:
            missing = sorted(expected - received_seqs(backends))
            raise AssertionError("%d acknowledged messages missing upstream (of %d; %d were unacked at the "
                                 "broker stop), first: %r" % (len(missing), len(expected), unacked_at_stop,
                                                              missing[:20])) from None
    finally:
        for p in pubs:
            p.close()
        for b in backends:
            b.close()


def test_broker_unreachable_gives_connack_3(broker, daemon_factory):
    d = daemon_factory()
    dev = d.new_device()
    dev.connect().close()
    broker.stop()
    c = dev.client()
    try:
        rc = c.connect()
        assert rc == 3, "broker down: expected CONNACK 3, got %s (%s)" % (rc, c.describe())
    finally:
        c.close()
    assert d.alive()
    broker.fixed_port = True
    broker.start()
    # The daemon serves again once the broker is back.
    pub = Publisher(dev)
    c = pub.connect(30 * h.SCALE)
    try:
        assert c.publish_acked(dev.topic(), b"back")
    finally:
        c.close()


def test_upstream_loss_closes_device(broker, daemon_factory):
    """The daemon keeps no queue: when the broker goes, devices are closed."""
    d = daemon_factory()
    devs = [d.new_device() for _ in range(2)]
    clients = [dev.connect() for dev in devs]
    try:
        broker.stop()
        for c in clients:
            assert c.wait_closed(10 * h.SCALE), "device not closed after upstream loss"
    finally:
        for c in clients:
            c.close()
