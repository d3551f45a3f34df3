"""Command line, config file errors naming file:line, ports.json, first-start
files, restart with an existing data_dir, and signals."""
import glob
import json
import os
import re
import signal
import socket
import ssl
import subprocess

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

import helpers as h


def run(argv, timeout=60):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=timeout * h.SCALE)
    return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


def good_config(tmp_path):
    return h.render_config(str(tmp_path / "data"), "mqtt://127.0.0.1:%d" % h.free_port())


def write(tmp_path, text, name="test.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_check_config_good(iotcored_bin, tmp_path):
    conf = write(tmp_path, good_config(tmp_path))
    rc, out = run([iotcored_bin, "--check-config", "-c", conf])
    assert rc == 0, out


def test_check_config_every_documented_section(iotcored_bin, tmp_path):
    """Every key of the DESIGN.md contract shape is accepted."""
    text = """data_dir = "%s";
log = { level = "info"; };
tls = { min_version = "1.2"; };
listeners = (
  { name = "mqtts";   port = 0; bind = "127.0.0.1"; protocol = "mqtt";         tls = true;  auth = ["jwt", "x509", "password"]; },
  { name = "devices"; port = 0; bind = "127.0.0.1"; protocol = "http-devices"; tls = true;  },
  { name = "admin";   port = 0; bind = "127.0.0.1"; protocol = "admin";        tls = false; }
);
upstream = { url = "mqtt://127.0.0.1:%d"; username = ""; password = ""; client_id_prefix = "iotcored/";
             service_client_id = "iotcored-service"; service_username = ""; service_password = "";
             google_prefix = "google/"; aws_prefix = "aws/"; plain_prefix = "plain/"; pubsub_prefix = "pubsub/"; };
google = { max_token_lifetime = 86400; refresh_interval = 3600; clock_skew = 600;
           max_messages_per_second = 100; max_state_per_second = 1; max_bytes_per_second = 524288; };
aws = { account_id = "123456789012"; region = "us-east-1"; endpoint = "localhost";
        max_messages_per_second = 100; max_bytes_per_second = 524288; };
admin = { tokens = ["0123456789abcdef0123456789abcdef"]; aws_keys = ( { id = "AKIDEXAMPLE"; secret = "secret"; } ); metrics_public = false; };
limits = { connect_timeout = 10; max_connections = 100000; max_connections_per_address = 1000;
           max_handshakes_in_progress = 256; max_handshakes_per_address = 16;
           max_inflight = 32; max_subscriptions = 64; http_max_body = 1048576; };
""" % (tmp_path / "data", h.free_port())
    rc, out = run([iotcored_bin, "--check-config", "-c", write(tmp_path, text)])
    assert rc == 0, out


def _names_line(out, conf, line):
    rx = r"(%s|%s):%d:" % (re.escape(conf), re.escape(os.path.basename(conf)), line)
    return re.search(rx, out)


BAD_LINES = {
    "unknown-top-level-key": "bogus_key = 1;",
    "unknown-key-in-group": "google = { refresh_intervall = 3; };",
    "unknown-key-in-limits": "limits = { connect_timeout = 5; max_bananas = 3; };",
    "wrong-type": 'limits = { connect_timeout = "soon"; };',
    "out-of-range": "limits = { connect_timeout = -5; };",
    "bad-log-level": 'log = { level = "chatty"; };',
    "bad-upstream-url": 'upstream = { url = "http://127.0.0.1:1883"; };',
    "bad-protocol": 'listeners = ( { name = "x"; port = 0; bind = "127.0.0.1"; protocol = "gopher"; tls = false; } );',
    "duplicate-listener-name": 'listeners = ( { name = "a"; port = 0; protocol = "admin"; tls = false; }, '
                               '{ name = "a"; port = 0; protocol = "admin"; tls = false; } );',
    "bad-auth-scheme": 'listeners = ( { name = "m"; port = 0; protocol = "mqtt"; tls = true; auth = ["magic"]; } );',
    "port-out-of-range": 'listeners = ( { name = "m"; port = 70000; protocol = "mqtt"; tls = true; } );',
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_config_error_names_file_and_line(iotcored_bin, tmp_path, case):
    lines = ['data_dir = "%s";' % (tmp_path / "data"),
             "# a comment line",
             'upstream = { url = "mqtt://127.0.0.1:%d"; };' % h.free_port()]
    if case.startswith("bad-upstream-url"):
        lines.pop()
    lines.append("")
    lines.append(BAD_LINES[case])
    bad_line = len(lines)
    lines.append('log = { level = "debug"; };' if case != "bad-log-level" else "")
    conf = write(tmp_path, "\n".join(lines) + "\n")
    rc, out = run([iotcored_bin, "--check-config", "-c", conf])
    assert rc != 0, "%s accepted:\n%s" % (case, out)
    assert _names_line(out, conf, bad_line), "%s: no '%s:%d:' in output:\n%s" % (case, conf, bad_line, out)
    # Starting with it fails the same way, without listening.
    rc, out = run([iotcored_bin, "-c", conf], timeout=30)
    assert rc != 0, "daemon started with a bad config (%s)" % case
    assert _names_line(out, conf, bad_line), out


def test_syntax_error_names_line(iotcored_bin, tmp_path):
    conf = write(tmp_path, 'data_dir = "%s";\nlog = { level = "debug" \n};\nfoo = ;\n' % (tmp_path / "d"))
    rc, out = run([iotcored_bin, "--check-config", "-c", conf])
    assert rc != 0
    assert re.search(r":\d+:", out), out


def test_missing_config_file(iotcored_bin, tmp_path):
    rc, out = run([iotcored_bin, "--check-config", "-c", str(tmp_path / "nope.conf")])
    assert rc != 0
    assert "nope.conf" in out, out


def test_version(iotcored_bin):
    rc, out = run([iotcored_bin, "--version"])
    assert rc == 0, out
    m = re.search(r"\d+\.\d+\.\d+", out)
    assert m, "no version in %r" % out
    root = os.environ.get("IOTCORED_SOURCE_ROOT")
    if root and os.path.exists(os.path.join(root, "meson.build")):
        with open(os.path.join(root, "meson.build")) as f:
            want = re.search(r"version\s*:\s*'([^']+)'", f.read())
        if want:
            assert want.group(1) in out, "--version says %r, meson.build says %s" % (out, want.group(1))


def test_shipped_configs_check(iotcored_bin):
    root = os.environ.get("IOTCORED_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
    confs = [p for p in glob.glob(os.path.join(root, "packaging", "*.conf"))
             if re.search(r"^\s*(listeners|data_dir|upstream)\s*=", open(p).read(), re.M)]
    assert confs, "no iotcored config shipped in packaging/ (DESIGN.md: packaging/iotcored.conf)"
    for conf in confs:
        rc, out = run([iotcored_bin, "--check-config", "-c", conf])
        assert rc == 0, "%s: %s" % (conf, out)


def test_ports_json_lists_every_listener(daemon_factory):
    listeners = h.DEFAULT_LISTENERS + [
        {"name": "mqtts2", "port": 0, "bind": "127.0.0.1", "protocol": "mqtt", "tls": True}]
    d = daemon_factory(listeners=listeners)
    with open(d.ports_path) as f:
        ports = json.load(f)
    assert set(ports) >= {"mqtts", "mqtts2", "admin"}, ports
    assert len({ports["mqtts"], ports["mqtts2"], ports["admin"]}) == 3
    for name in ("mqtts", "mqtts2", "admin"):
        assert 0 < ports[name] < 65536
        assert h.tcp_accepts(ports[name]), "%s port %d not listening" % (name, ports[name])
    assert requests.get(d.url("/healthz"), timeout=10).status_code == 200
    # Both device listeners serve devices.
    dev = d.new_device()
    for name in ("mqtts", "mqtts2"):
        c = h.MqttClient(ports[name], dev.client_id, dev.token(), ca=d.ca_path)
        try:
            assert c.connect() == 0
        finally:
            c.close()


def test_first_start_files(daemon):
    d = daemon
    for name in ("registry.db", "ca.pem", "ca.key", "server.pem", "server.key", "admin.token",
                 "aws-credentials", "ports.json"):
        assert os.path.isfile(os.path.join(d.data_dir, name)), name
    with open(d.ca_path, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(d.data_dir, "server.pem"), "rb") as f:
        server = x509.load_pem_x509_certificate(f.read())
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.issuer == ca.subject
    ca.public_key().verify(server.signature, server.tbs_certificate_bytes,
                           ec.ECDSA(server.signature_hash_algorithm))
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    # A device trusting ca.pem verifies the server as "localhost" too.
    ctx = ssl.create_default_context(cafile=d.ca_path)
    with socket.create_connection(("127.0.0.1", d.mqtts_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            assert t.version() in ("TLSv1.2", "TLSv1.3")


def test_restart_keeps_state(daemon_factory):
    d = daemon_factory()
    dev = d.new_device()
    token, ca = d.token, open(d.ca_path).read()
    with open(os.path.join(d.data_dir, "server.pem")) as f:
        server = f.read()
    d.stop_checked()
    d.start()
    assert d.token == token, "admin.token changed across a restart"
    assert open(d.ca_path).read() == ca, "ca.pem changed across a restart"
    with open(os.path.join(d.data_dir, "server.pem")) as f:
        assert f.read() == server, "server.pem changed across a restart"
    r = d.rest("GET", "/v1/projects/%s/locations/%s/registries/%s/devices/%s" %
               (dev.project, dev.location, dev.registry, dev.id))
    assert r.status_code == 200, r.text
    assert r.json()["numId"] == dev.resource["numId"]
    dev.connect().close()


def test_configured_admin_token(daemon_factory):
    tok = "configured-token-0123456789abcdef"
    d = daemon_factory(extra='admin = { tokens = ["%s"]; };' % tok)
    assert not os.path.exists(os.path.join(d.data_dir, "admin.token")), \
        "admin.token generated although admin.tokens is configured"
    d.token = tok
    assert d.rest("GET", "/v1/projects/p1/locations/l1/registries").status_code == 200
    assert d.rest("GET", "/v1/projects/p1/locations/l1/registries", token="other").status_code == 401
    assert tok not in d.log_text()


def test_admin_refuses_non_loopback_without_tls(iotcored_bin, tmp_path):
    listeners = [{"name": "mqtts", "port": 0, "bind": "127.0.0.1", "protocol": "mqtt", "tls": True},
                 {"name": "admin", "port": 0, "bind": "0.0.0.0", "protocol": "admin", "tls": False}]
    conf = write(tmp_path, h.render_config(str(tmp_path / "data"), "mqtt://127.0.0.1:%d" % h.free_port(),
                                           listeners=listeners))
    p = subprocess.Popen([iotcored_bin, "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        try:
            out, _ = p.communicate(timeout=20 * h.SCALE)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.communicate()
            pytest.fail("daemon kept running with a non-loopback admin listener without TLS")
        assert p.returncode != 0, out.decode("utf-8", "replace")
        assert not os.path.exists(tmp_path / "data" / "ports.json")
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_and_closes_sessions(daemon_factory, sig):
    d = daemon_factory()
    devs = [d.new_device() for _ in range(3)]
    clients = [dev.connect() for dev in devs]
    try:
        for dev, c in zip(devs, clients):
            assert c.publish_acked(dev.topic(), b"before-signal")
        rc = d.stop(sig, timeout=10)
        assert rc == 0, "exit code %s after %s\n%s" % (rc, sig.name, d.log_tail(0, 8192))
        for c in clients:
            assert c.wait_closed(5 * h.SCALE), "device session not closed by %s" % sig.name
        assert not h.tcp_accepts(d.mqtts_port), "device port still accepting after exit"
    finally:
        for c in clients:
            c.close()
