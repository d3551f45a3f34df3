"""The session is closed at the token's deadline: exp + clock_skew (Google's
rule), or earlier at iat + refresh_interval when refresh_interval > 0."""
import time

import helpers as h


def wall_of(monotonic_t):
    """Converts a time.monotonic() stamp to wall-clock seconds."""
    return time.time() - (time.monotonic() - monotonic_t)


def test_refresh_interval_closes_session(daemon_factory):
    d = daemon_factory(google={"refresh_interval": 3})
    dev = d.new_device()
    iat = int(time.time())
    tok = dev.token(iat=iat, lifetime=3600)
    c = dev.connect(tok)
    try:
        assert c.wait_closed(15 * h.SCALE), "session not closed by refresh_interval = 3"
        after = wall_of(c.closed_at) - iat
        assert 2.0 <= after <= 8.0, "closed %.2fs after iat, expected about 3s" % after
    finally:
        c.close()
    # The same token is now past its deadline.
    mark = d.log_mark()
    c2 = dev.client(tok)
    try:
        assert c2.connect() == 5
    finally:
        c2.close()
    d.wait_log(r"reason=\"?expired(?![\w-])", since=mark)
    # A fresh token works again.
    dev.connect().close()


def test_refresh_interval_zero_keeps_googles_rule(daemon_factory):
    d = daemon_factory(google={"refresh_interval": 0, "clock_skew": 2})
    dev = d.new_device()
    now = int(time.time())
    exp = now + 3
    c = dev.connect(dev.token(iat=now, exp=exp))
    try:
        # Still connected past exp, until exp + 1 at least.
        while time.time() < exp + 1:
            assert not c.is_closed(), "closed %.2fs before exp + 1" % (exp + 1 - wall_of(c.closed_at))
            time.sleep(0.05)
        assert c.is_connected()
        assert c.wait_closed(max(0.0, exp + 8 - time.time()) + 0.5), "not closed by exp + clock_skew"
        at = wall_of(c.closed_at) - exp
        assert 1.0 <= at <= 8.0, "closed at exp%+.2fs, expected about exp+2s" % at
    finally:
        c.close()


def test_deadline_is_the_earlier_rule(daemon_factory):
    """refresh_interval 60 but exp + clock_skew sooner: exp + skew wins."""
    d = daemon_factory(google={"refresh_interval": 60, "clock_skew": 2})
    dev = d.new_device()
    now = int(time.time())
    exp = now + 2
    c = dev.connect(dev.token(iat=now, exp=exp))
    try:
        assert c.wait_closed(15 * h.SCALE), "not closed at exp + clock_skew"
        at = wall_of(c.closed_at) - exp
        assert 1.0 <= at <= 8.0, "closed at exp%+.2fs, expected about exp+2s" % at
    finally:
        c.close()
