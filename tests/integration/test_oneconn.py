"""One connection per device: a new CONNECT replaces the old session only
after it authenticated."""
import time

import helpers as h


def test_bad_second_connect_leaves_first_alone(daemon, backend):
    dev = daemon.new_device()
    first = dev.connect()
    try:
        for bad in (h.make_jwt(h.ec_key(), "ES256", dev.project),   # another key
                    dev.token(aud="not-the-project"),
                    h.jwt_alg_none(dev.project),
                    "hello"):
            second = dev.client(bad)
            try:
                rc = second.connect()
                assert rc in (4, 5), "bad second CONNECT got %s" % rc
            finally:
                second.close()
        time.sleep(1.0)
        assert first.is_connected(), "a refused CONNECT closed the live session"
        assert first.publish_acked(dev.topic(), b"first-still-works")
        backend.wait_message(dev.upstream_topic(), b"first-still-works")
    finally:
        first.close()


def test_good_second_connect_replaces_first(daemon, backend):
    dev = daemon.new_device()
    first = dev.connect()
    second = None
    try:
        assert first.publish_acked(dev.topic(), b"from-first")
        second = dev.connect()
        assert first.wait_closed(h.T_CLOSE), "the old session was not closed by the new one"
        # The new session is the one that lives on, upstream included.
        time.sleep(1.0)
        assert second.is_connected(), "the new session was closed too (%s)" % second.describe()
        assert second.publish_acked(dev.topic(), b"from-second")
        backend.wait_message(dev.upstream_topic(), b"from-second")
    finally:
        first.close()
        if second:
            second.close()


def test_replacement_chain(daemon, backend):
    """Several replacements in a row; only the last session survives, and
    other devices are untouched."""
    dev = daemon.new_device()
    bystander_dev = daemon.new_device()
    bystander = bystander_dev.connect()
    clients = []
    try:
        for i in range(4):
            clients.append(dev.connect())
            if i:
                assert clients[i - 1].wait_closed(h.T_CLOSE), "session %d not replaced" % (i - 1)
        time.sleep(1.0)
        assert clients[-1].is_connected()
        assert clients[-1].publish_acked(dev.topic(), b"last")
        backend.wait_message(dev.upstream_topic(), b"last")
        assert bystander.is_connected()
        assert bystander.publish_acked(bystander_dev.topic(), b"bystander")
        backend.wait_message(bystander_dev.upstream_topic(), b"bystander")
    finally:
        for c in clients:
            c.close()
        bystander.close()
