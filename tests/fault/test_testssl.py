"""testssl (Debian's testssl.sh) against the MQTT and HTTPS device ports:
no finding rated HIGH or CRITICAL. testssl.sh here does the running; this
test starts the daemon, hands it the ports and reads the JSON findings."""
import json
import os
import shutil
import signal
import subprocess

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testssl.sh")
TIMEOUT = 600


# cert_revocation: testssl rates HIGH any certificate without a CRL or OCSP
# URI. The generated development server certificate has none (there is no
# revocation service for a local dev CA; operators with tls.cert/key bring
# their own). Waived by name only, every other finding is enforced; the
# issue note records it as open.
DEFAULT_WAIVED = "cert_revocation"


def _waived():
    spec = os.environ.get("IOTCORED_TESTSSL_WAIVE", DEFAULT_WAIVED)
    return {w.strip() for w in spec.split(",") if w.strip()}


def test_no_high_or_critical_findings(daemon_factory, tmp_path, measure):
    if not (shutil.which("testssl") or shutil.which("testssl.sh")):
        pytest.skip("testssl not installed (Debian package testssl.sh)")
    d = daemon_factory(http_devices=True, log_level="info")
    out = tmp_path / "testssl"
    targets = ["mqtts=127.0.0.1:%d" % d.mqtts_port, "devices=127.0.0.1:%d" % d.devices_port]
    # Its own process group, so a timeout stops testssl and its openssl
    # children too.
    p = subprocess.Popen(["bash", SCRIPT, "--out", str(out), "--ca", d.ca_path] + targets,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        stdout, _ = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        stdout, _ = p.communicate(timeout=30)
        pytest.fail("testssl.sh took more than %d s:\n%s" % (TIMEOUT, stdout.decode("utf-8", "replace")))
    text = stdout.decode("utf-8", "replace")
    print(text)
    assert p.returncode in (0, 1), "testssl.sh failed (rc=%d):\n%s" % (p.returncode, text)

    bad = []
    for t in targets:
        name = t.split("=")[0]
        with open(out / (name + ".json")) as f:
            findings = json.load(f)
        assert findings, "%s: testssl reported nothing" % name
        by = {}
        for x in findings:
            sev = str(x.get("severity", "")).upper()
            by[sev] = by.get(sev, 0) + 1
            if sev in ("HIGH", "CRITICAL") and x.get("id") not in _waived():
                bad.append("%s %s %s: %s" % (name, sev, x.get("id"), x.get("finding")))
        measure("testssl_" + name, " ".join("%s=%d" % kv for kv in sorted(by.items())))
        # Every check ran: a port that refused testssl's connections would
        # otherwise pass with a short, clean list.
        ids = {x.get("id") for x in findings}
        for must in ("SSLv3", "TLS1", "TLS1_3", "cert_chain_of_trust", "heartbleed", "ROBOT"):
            assert must in ids, "%s: testssl did not report %r (did its checks run?)\n%s" % (name, must, text)
    assert not bad, "testssl findings rated HIGH or CRITICAL (logs in %s):\n  %s" % (out, "\n  ".join(bad))
    assert d.alive()
