"""Google token rules (DESIGN.md): every refusal gets its CONNACK code and its
stable reason= word in the log, the token never appears in the log, and the
daemon keeps serving a fresh valid device after each refusal."""
import re
import time

import pytest

import helpers as h

LONG_AGO = "2001-01-01T00:00:00Z"


def _now():
    return int(time.time())


# Each case: daemon -> (client_id, username, password, CONNACK code, reason word)
def case_alg_none(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", h.jwt_alg_none(dev.project), 5, "alg-mismatch"


def case_alg_none_rsa(d):
    dev = d.new_device("RSA_PEM")
    return dev.client_id, "unused", h.jwt_alg_none(dev.project), 5, "alg-mismatch"


def case_hs256_ec_public_pem(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", h.jwt_hs256(h.public_pem(dev.key), dev.project), 5, "alg-mismatch"


def case_hs256_rsa_public_pem(d):
    dev = d.new_device("RSA_PEM")
    return dev.client_id, "unused", h.jwt_hs256(h.public_pem(dev.key), dev.project), 5, "alg-mismatch"


def case_other_key_es256(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", h.make_jwt(h.ec_key(), "ES256", dev.project), 5, "bad-signature"


def case_other_key_rs256(d):
    dev = d.new_device("RSA_PEM", key=h.rsa_key(0))
    return dev.client_id, "unused", h.make_jwt(h.rsa_key(1), "RS256", dev.project), 5, "bad-signature"


def case_tampered_payload(d):
    dev = d.new_device("ES256_PEM")
    head, _, sig = dev.token().split(".")
    forged = h.b64url('{"iat":%d,"exp":%d,"aud":"%s"}' % (_now(), _now() + 7200, dev.project))
    return dev.client_id, "unused", "%s.%s.%s" % (head, forged, sig), 5, "bad-signature"


def case_wrong_aud(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", dev.token(aud="some-other-project"), 5, "aud"


def case_expired(d):
    dev = d.new_device("ES256_PEM")
    n = _now()
    return dev.client_id, "unused", dev.token(iat=n - 7200, exp=n - 3600), 5, "expired"


def case_iat_future(d):
    dev = d.new_device("ES256_PEM")
    n = _now()
    return dev.client_id, "unused", dev.token(iat=n + 3600, exp=n + 4200), 5, "iat-future"


def case_lifetime(d):
    dev = d.new_device("ES256_PEM")
    n = _now()
    return dev.client_id, "unused", dev.token(iat=n, exp=n + 2 * 86400), 5, "lifetime"


def case_missing_exp(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", dev.token(omit=("exp",)), 5, "missing-claim"


def case_missing_iat(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", dev.token(omit=("iat",)), 5, "missing-claim"


def case_bad_typ(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", dev.token(headers={"typ": "JWS"}), 5, "bad-typ"


def case_es256_for_rsa_credential(d):
    dev = d.new_device("RSA_PEM")
    return dev.client_id, "unused", h.make_jwt(h.ec_key(), "ES256", dev.project), 5, "alg-mismatch"


def case_rs256_for_ec_credential(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", h.make_jwt(h.rsa_key(2), "RS256", dev.project), 5, "alg-mismatch"


def case_credential_expired(d):
    dev = d.new_device("ES256_PEM", expiration=LONG_AGO)
    return dev.client_id, "unused", dev.token(), 5, "credential-expired"


def case_blocked(d):
    dev = d.new_device("ES256_PEM", blocked=True)
    return dev.client_id, "unused", dev.token(), 5, "blocked"


def case_unknown_device(d):
    dev = d.new_device("ES256_PEM")
    cid = dev.client_id.rsplit("/", 1)[0] + "/no-such-device"
    return cid, "unused", dev.token(), 5, "unknown-device"


def case_unknown_registry(d):
    dev = d.new_device("ES256_PEM")
    cid = "projects/%s/locations/%s/registries/no-such-registry/devices/%s" % (dev.project, dev.location, dev.id)
    return cid, "unused", dev.token(), 5, "unknown-device"


def case_client_id_no_device(d):
    dev = d.new_device("ES256_PEM")
    cid = "projects/%s/locations/%s/registries/%s" % (dev.project, dev.location, dev.registry)
    return cid, "unused", dev.token(), 2, "bad-client-id"


def case_client_id_short(d):
    return "projects/x", "unused", h.make_jwt(h.ec_key(), "ES256", "x"), 2, "bad-client-id"


def case_client_id_empty_part(d):
    dev = d.new_device("ES256_PEM")
    cid = "projects/%s/locations//registries/%s/devices/%s" % (dev.project, dev.registry, dev.id)
    return cid, "unused", dev.token(), 2, "bad-client-id"


def case_client_id_extra_level(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id + "/extra", "unused", dev.token(), 2, "bad-client-id"


def case_not_jwt(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", "hello", 4, "not-jwt"


def case_two_parts(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", ".".join(dev.token().split(".")[:2]), 4, "not-jwt"


def case_no_password(d):
    dev = d.new_device("ES256_PEM")
    return dev.client_id, "unused", None, 4, "not-jwt"


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def reason_rx(word):
    return r"reason=\"?%s(?![\w-])" % re.escape(word)


def assert_serves_fresh_device(d):
    dev = d.new_device("ES256_PEM")
    t0 = time.monotonic()
    c = dev.connect()
    try:
        assert c.publish_acked(dev.topic(), b"still-serving"), "fresh device got no PUBACK"
    finally:
        c.close()
    return time.monotonic() - t0


def refusal_count(d, word):
    """The refusal counter for a reason word in /metrics (0 if absent)."""
    r = d.rest("GET", "/metrics")
    assert r.status_code == 200, r.text
    m = re.search(r'^\w+\{[^}]*reason="%s"[^}]*\}\s+(\d+)' % re.escape(word), r.text, re.M)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusal(mod_daemon, case):
    d = mod_daemon
    cid, username, password, want_rc, reason = CASES[case](d)
    counted = refusal_count(d, reason)
    mark = d.log_mark()
    c = h.MqttClient(d.mqtts_port, cid, password, username=username, ca=d.ca_path)
    try:
        rc = c.connect()
        assert rc == want_rc, "%s: expected CONNACK %d, got %s (%s)" % (case, want_rc, rc, c.describe())
        assert c.wait_closed(h.T_CLOSE), "%s: connection left open after CONNACK %s" % (case, rc)
    finally:
        c.close()
    d.wait_log(reason_rx(reason), since=mark)
    log = d.log_text()
    if password and len(password) > 20:
        assert password not in log, "the token appears in the daemon log"
        sig = password.rsplit(".", 1)[-1]
        if len(sig) > 16:
            assert sig not in log, "the token's signature appears in the daemon log"
    assert refusal_count(d, reason) >= counted + 1, "refusal not counted under reason=%s in /metrics" % reason
    assert d.alive()
    assert_serves_fresh_device(d)


# ---- what must be accepted

def test_typ_absent_is_tolerated(mod_daemon):
    dev = mod_daemon.new_device("ES256_PEM")
    tok = dev.token(headers={"typ": None})
    assert "typ" not in h.pyjwt.get_unverified_header(tok)
    dev.connect(tok).close()


def test_iat_within_skew_is_accepted(mod_daemon):
    """Default clock_skew 600 s: iat five minutes ahead is fine."""
    dev = mod_daemon.new_device("ES256_PEM")
    n = _now()
    dev.connect(dev.token(iat=n + 300, exp=n + 900)).close()


def test_exp_in_past_within_skew_is_accepted(mod_daemon):
    """Google's rule: the deadline is exp + clock_skew (600 s by default)."""
    dev = mod_daemon.new_device("ES256_PEM")
    n = _now()
    dev.connect(dev.token(iat=n - 60, exp=n - 30)).close()


def test_max_lifetime_is_accepted(mod_daemon):
    dev = mod_daemon.new_device("ES256_PEM")
    n = _now()
    dev.connect(dev.token(iat=n, exp=n + 86400)).close()


def test_any_credential_of_the_device_verifies(mod_daemon):
    """Rotation: a device with an RSA and an EC credential connects with
    tokens signed by either key; an expired credential next to a valid one
    does not block the valid one."""
    d = mod_daemon
    ek, rk = h.ec_key(), h.rsa_key(3)
    creds = [
        {"publicKey": {"format": "RSA_PEM", "key": h.public_pem(rk)}},
        {"publicKey": {"format": "ES256_PEM", "key": h.public_pem(h.ec_key())}, "expirationTime": LONG_AGO},
        {"publicKey": {"format": "ES256_PEM", "key": h.public_pem(ek)}},
    ]
    dev = d.new_device(credentials=creds, key=ek)
    dev.connect(h.make_jwt(ek, "ES256", dev.project)).close()
    dev.connect(h.make_jwt(rk, "RS256", dev.project)).close()


def test_refusals_do_not_leak_sessions(mod_daemon):
    """Many refused attempts in a row, then a valid device connects at once."""
    d = mod_daemon
    dev = d.new_device("ES256_PEM")
    bad = h.make_jwt(h.ec_key(), "ES256", dev.project)
    for _ in range(30):
        c = h.MqttClient(d.mqtts_port, dev.client_id, bad, ca=d.ca_path)
        try:
            assert c.connect() == 5
        finally:
            c.close()
    assert assert_serves_fresh_device(d) < 5 * h.SCALE
    dev.connect().close()


def test_refused_connect_is_answered_then_closed_by_the_server(mod_daemon):
    """On the wire: CONNACK (0, 5) and then the server ends the connection."""
    d = mod_daemon
    dev = d.new_device("ES256_PEM")
    raw = h.RawConn(d.mqtts_port, ca=d.ca_path)
    try:
        raw.send(h.connect_packet(dev.client_id, username="unused",
                                  password=h.make_jwt(h.ec_key(), "ES256", dev.project)))
        assert raw.read_connack() == (0, 5)
        assert raw.wait_closed(h.T_CLOSE), "server left a refused connection open"
    finally:
        raw.close()
