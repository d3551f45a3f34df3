"""iotcored killed with SIGKILL under QoS 1 load and restarted: every
sequence number a device saw acknowledged is upstream, what the REST API
confirmed is still there, and the store passes PRAGMA integrity_check after
each kill (on a copy, before the daemon recovers it) and after the last
clean stop."""
import os
import random
import shutil
import sqlite3
import threading
import time

import fault_helpers as fh
import helpers as h
from test_no_loss import Publisher, received_seqs

N_DEVICES = 4
KILLS = 3
ACKS_PER_PHASE = 15       # acknowledged messages per device before each kill


def check_store(db_dir, label):
    """PRAGMA integrity_check (and foreign_key_check) on db_dir/registry.db
    with its WAL, which SQLite recovers on open. Only on files no daemon has
    open: a crash snapshot, or data_dir after the daemon exited."""
    db = os.path.join(db_dir, "registry.db")
    assert os.path.exists(db), "%s: no registry.db in %s" % (label, db_dir)
    con = sqlite3.connect(db)
    try:
        rows = con.execute("PRAGMA integrity_check").fetchall()
        assert rows == [("ok",)], "%s: integrity_check: %r" % (label, rows[:20])
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        assert fk == [], "%s: foreign_key_check: %r" % (label, fk[:20])
    finally:
        con.close()


def snapshot_store(data_dir, dest):
    """Copies registry.db with its -wal and -shm, as a crash left them."""
    os.makedirs(dest)
    for suffix in ("", "-wal", "-shm"):
        src = os.path.join(data_dir, "registry.db" + suffix)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(dest, "registry.db" + suffix))
    return dest


class RestWriter:
    """Registers devices over REST as fast as the daemon answers; remembers
    the ids the daemon confirmed (200)."""

    def __init__(self, d):
        self.d = d
        self.confirmed = []
        self.errors = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        key = h.ec_key()
        body_key = h.public_pem(key)
        path = self.d.reg_path(self.d.DEFAULT_PROJECT, self.d.DEFAULT_LOCATION, self.d.DEFAULT_REGISTRY)
        while not self.stop_flag.is_set():
            dev_id = h.unique_id("rest")
            try:
                r = self.d.rest("POST", path + "/devices", timeout=5,
                                json={"id": dev_id, "credentials": [
                                    {"publicKey": {"format": "ES256_PEM", "key": body_key}}]})
            except Exception:
                self.errors += 1
                time.sleep(0.05)
                continue
            if r.status_code == 200:
                self.confirmed.append(dev_id)
            time.sleep(0.01)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join(15)


def test_sigkill_under_qos1_load(broker, daemon_factory, tmp_path, measure):
    d = daemon_factory(log_level="info")
    backend_id = h.unique_id("kill-backend")
    backend = h.Backend(broker.port, client_id=backend_id, clean_session=False).connect()
    pubs = [Publisher(d.new_device()) for _ in range(N_DEVICES)]
    writer = RestWriter(d).start()
    rng = random.Random(6)
    try:
        for k in range(KILLS):
            fh.phase(pubs, ACKS_PER_PHASE, "before kill %d" % (k + 1))
            time.sleep(rng.uniform(0.05, 0.5))
            d.kill()
            assert d.last_rc == -9, "kill %d: daemon rc %r" % (k + 1, d.last_rc)
            for p in pubs:
                assert p.client.wait_closed(10 * h.SCALE), "device %s still connected to a dead daemon" % p.dev.id
                p.stop()
            check_store(snapshot_store(d.data_dir, str(tmp_path / ("crash%d" % (k + 1)))),
                        "after SIGKILL %d" % (k + 1))
            d.start()

        # A last phase on the restarted daemon; everything in flight drains.
        fh.phase(pubs, ACKS_PER_PHASE, "after the last restart")
        writer.stop()
        fh.drain(pubs, "after the last restart")

        expected = {(p.dev.id, seq) for p in pubs for seq in p.acked}
        assert len(expected) >= N_DEVICES * (KILLS + 1) * ACKS_PER_PHASE
        try:
            h.wait_for(lambda: expected <= received_seqs([backend]), 30 * h.SCALE,
                       "every acknowledged message upstream")
        except AssertionError:
            missing = sorted(expected - received_seqs([backend]))
            raise AssertionError("%d of %d acknowledged messages missing upstream, first: %r" %
                                 (len(missing), len(expected), missing[:20])) from None
        measure("acked_messages", len(expected))

        # Every device the REST API confirmed survived the kills.
        assert writer.confirmed, "the REST writer never got a device created"
        path = d.reg_path(d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, d.DEFAULT_REGISTRY)
        lost = [i for i in writer.confirmed if d.rest("GET", path + "/devices/" + i).status_code != 200]
        assert not lost, "%d of %d devices confirmed by REST are gone after the kills: %r" % (
            len(lost), len(writer.confirmed), lost[:10])
        measure("rest_devices_confirmed", len(writer.confirmed))
    finally:
        writer.stop()
        for p in pubs:
            p.close()
        backend.close()

    d.stop_checked()
    check_store(d.data_dir, "after the final SIGTERM")
