"""Live effects of admin changes on connected devices (issue 3): blocking,
deleting, or removing the credential of a connected device closes its
session within 1 s; changes that leave its access intact do not."""

import time

import pytest

import helpers as h


def _dev_path(dev):
    return "/v1/projects/%s/locations/%s/registries/%s/devices/%s" % (
        dev.project, dev.location, dev.registry, dev.id)


def _closed_within(c, seconds):
    start = time.monotonic()
    closed = c.wait_closed(seconds * h.SCALE)
    return closed, time.monotonic() - start


def test_block_closes_session(mod_daemon):
    d = mod_daemon
    dev = d.new_device()
    c = dev.connect()
    try:
        assert c.rc == 0
        r = d.rest("PATCH", _dev_path(dev) + "?updateMask=blocked", json={"blocked": True})
        assert r.status_code == 200, r.text
        closed, took = _closed_within(c, 1.0)
        assert closed, "blocked device still connected after 1 s"
        # And it cannot come back.
        again = dev.client()
        try:
            assert again.connect() == 5
        finally:
            again.close()
    finally:
        c.close()


def test_delete_closes_session(mod_daemon):
    d = mod_daemon
    dev = d.new_device()
    c = dev.connect()
    try:
        assert c.rc == 0
        r = d.rest("DELETE", _dev_path(dev))
        assert r.status_code == 200, r.text
        closed, _ = _closed_within(c, 1.0)
        assert closed, "deleted device still connected after 1 s"
    finally:
        c.close()


def test_removing_the_credential_in_use_closes_session(mod_daemon):
    """Replacing the key the session authenticated with ends the session,
    even though the device still has (another) credential."""
    d = mod_daemon
    dev = d.new_device()
    c = dev.connect()
    other = h.ec_key()
    try:
        assert c.rc == 0
        body = {"credentials": [{"publicKey": {"format": "ES256_PEM", "key": h.public_pem(other)}}]}
        r = d.rest("PATCH", _dev_path(dev) + "?updateMask=credentials", json=body)
        assert r.status_code == 200, r.text
        closed, _ = _closed_within(c, 1.0)
        assert closed, "session authenticated by a removed credential still connected after 1 s"
    finally:
        c.close()


def test_adding_a_credential_keeps_session(mod_daemon):
    """Key rotation step 1 (Google's recipe): adding a second key leaves the
    session that used the first one alone."""
    d = mod_daemon
    dev = d.new_device()
    c = dev.connect()
    other = h.ec_key()
    try:
        assert c.rc == 0
        got = d.rest("GET", _dev_path(dev)).json()
        creds = got["credentials"] + [{"publicKey": {"format": "ES256_PEM", "key": h.public_pem(other)}}]
        r = d.rest("PATCH", _dev_path(dev) + "?updateMask=credentials", json={"credentials": creds})
        assert r.status_code == 200, r.text
        assert not c.wait_closed(1.5 * h.SCALE), "adding a credential closed the session"
        assert c.publish_acked(dev.topic(), b"still here")
    finally:
        c.close()


@pytest.mark.parametrize("mask,body", [
    ("metadata", {"metadata": {"k": "v"}}),
])
def test_unrelated_patch_keeps_session(mod_daemon, mask, body):
    d = mod_daemon
    dev = d.new_device()
    c = dev.connect()
    try:
        assert c.rc == 0
        r = d.rest("PATCH", _dev_path(dev) + "?updateMask=" + mask, json=body)
        assert r.status_code == 200, r.text
        assert not c.wait_closed(1.5 * h.SCALE)
    finally:
        c.close()
