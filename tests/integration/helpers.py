"""Harness pieces for the iotcored integration suite: processes (a real
mosquitto, the daemon), keys and JWTs, MQTT clients (paho over TLS, and raw
sockets for exact bytes), and a backend subscriber on the broker.

Everything waits with a deadline (wait_for) instead of sleeping a fixed time,
and every wait is generous: the suite also runs against an ASan build on a
slow 2-core machine. IOTCORED_TEST_TIMEOUT_SCALE multiplies the generic
waits (not the windows a test asserts on).
"""
import base64
import datetime
import functools
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid

import jwt as pyjwt
import paho.mqtt.client as mqtt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

SCALE = float(os.environ.get("IOTCORED_TEST_TIMEOUT_SCALE", "1") or "1")
# Generic waits (start-up, CONNACK, delivery). Asserted windows are separate.
T_START = 40 * SCALE
T_CONNACK = 15 * SCALE
T_DELIVER = 10 * SCALE
T_CLOSE = 10 * SCALE

MOSQUITTO = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
LOG_TAIL_BYTES = 96 * 1024
_dumps = json.dumps


# ---------------------------------------------------------------- waiting

def wait_for(pred, timeout, what="condition", interval=0.05):
    """Polls pred() until it returns a truthy value, which is returned.
    Raises AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago (never 1883)."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port != 1883:
            return port


def tcp_accepts(port, host="127.0.0.1", timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_ADDR_COUNTER = itertools.count(10)


def unique_loopback():
    """A loopback address other than 127.0.0.1/127.0.0.2, unique within this
    run, so log lines about one peer can be told apart."""
    n = next(_ADDR_COUNTER)
    return "127.0.%d.%d" % (1 + (n // 250) % 250, 2 + n % 250)


# ---------------------------------------------------------------- processes

# Every process object ever made this session, for the failure-log hook in
# conftest.py (pruned there when stopped).
REGISTRY = []


class Proc:
    """A child process whose stdout+stderr go to an append-only log file."""

    name = "proc"

    def __init__(self, log_path):
        self.log_path = str(log_path)
        self.proc = None
        self.last_rc = None
        REGISTRY.append(self)

    # ---- logs
    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_mark(self):
        return self.log_size()

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, since=0, limit=LOG_TAIL_BYTES):
        size = self.log_size()
        start = max(since, size - limit)
        text = self.log_text(start)
        if start > since:
            text = "[... %d bytes cut ...]\n" % (start - since) + text
        return text

    def wait_log(self, pattern, timeout=T_DELIVER, since=0, flags=0):
        """Waits for a regex to match the log written since offset `since`;
        returns the match."""
        rx = re.compile(pattern, flags)

        def look():
            return rx.search(self.log_text(since))

        try:
            return wait_for(look, timeout, "log line /%s/ in %s" % (pattern, self.log_path), 0.1)
        except AssertionError as e:
            raise AssertionError("%s\n--- %s log since mark ---\n%s" %
                                 (e, self.name, self.log_tail(since, 8192))) from None

    # ---- process
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _spawn(self, argv, cwd=None, env=None):
        log = open(self.log_path, "ab")
        try:
            log.write(("\n==== %s: starting %s\n" % (time.strftime("%H:%M:%S"), " ".join(argv))).encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=cwd, env=env, start_new_session=True)
        finally:
            log.close()

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        """Returns the exit code, or None if still running at the deadline."""
        if self.proc is None:
            return self.last_rc
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.last_rc = rc
        return rc

    def kill(self):
        """SIGKILL (by PID) and reap."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            try:
                self.last_rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


# ---------------------------------------------------------------- mosquitto

class Broker(Proc):
    """A real mosquitto on 127.0.0.1:PORT (never 1883), plain TCP, anonymous."""

    name = "mosquitto"

    def __init__(self, workdir, persistence=False, port=None, extra="", users=None):
        """users: {"name": "password"} makes the broker refuse anonymous clients."""
        workdir = str(workdir)
        os.makedirs(workdir, exist_ok=True)
        super().__init__(os.path.join(workdir, "mosquitto.log"))
        self.dir = workdir
        self.persistence = persistence
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.extra = extra
        self.users = users
        self.conf_path = os.path.join(workdir, "mosquitto.conf")

    @property
    def url(self):
        return "mqtt://127.0.0.1:%d" % self.port

    def _write_conf(self):
        lines = [
            "listener %d 127.0.0.1" % self.port,
            "allow_anonymous %s" % ("false" if self.users else "true"),
            "log_dest stderr",
            "log_timestamp true",
            "user root",
            "max_queued_messages 100000",
        ]
        if self.persistence:
            pdir = os.path.join(self.dir, "persist")
            os.makedirs(pdir, exist_ok=True)
            lines += ["persistence true", "persistence_location %s/" % pdir, "autosave_interval 0"]
        else:
            lines.append("persistence false")
        if self.users:
            pwfile = os.path.join(self.dir, "passwd")
            open(pwfile, "w").close()
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", pwfile, user, password], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lines.append("password_file %s" % pwfile)
        if self.extra:
            lines.append(self.extra)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=T_START):
        assert not self.alive(), "broker already running"
        for attempt in range(5):
            self._write_conf()
            self._spawn([MOSQUITTO, "-c", self.conf_path], cwd=self.dir)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self.alive():
                    break
                if tcp_accepts(self.port):
                    return self
                time.sleep(0.05)
            if self.alive():
                self.kill()
                raise AssertionError("mosquitto did not listen on %d within %.0fs\n%s" %
                                     (self.port, timeout, self.log_tail(0, 4096)))
            # It exited: port taken? Pick another one unless it must stay.
            if self.fixed_port or "Address already in use" not in self.log_text():
                raise AssertionError("mosquitto exited rc=%s\n%s" % (self.proc.returncode, self.log_tail(0, 4096)))
            self.port = free_port()
        raise AssertionError("mosquitto could not find a free port")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Graceful stop (SIGTERM: mosquitto saves persistence), SIGKILL fallback."""
        if not self.alive():
            return self.last_rc
        self.signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
            rc = self.last_rc
        return rc

    def restart(self, timeout=T_START):
        """Graceful stop, then start again on the same port."""
        self.stop()
        self.fixed_port = True
        return self.start(timeout)


# ---------------------------------------------------------------- iotcored

def _cfg_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_cfg_value(x) for x in v) + "]"
    raise TypeError("no libconfig rendering for %r" % (v,))


def _cfg_group(d):
    return "{ " + " ".join("%s = %s;" % (k, _cfg_value(v)) for k, v in d.items()) + " }"


DEFAULT_LISTENERS = [
    {"name": "mqtts", "port": 0, "bind": "127.0.0.1", "protocol": "mqtt", "tls": True},
    {"name": "admin", "port": 0, "bind": "127.0.0.1", "protocol": "admin", "tls": False},
]
# Added by Daemon(http_devices=True): the device HTTPS bridge.
DEVICES_LISTENER = {"name": "devices", "port": 0, "bind": "127.0.0.1", "protocol": "http-devices", "tls": True}

# Defaults for the test daemon; rate limits raised so tests are not throttled
# by the per-connection message rate or the 1/s state rule unless they ask.
DEFAULT_GOOGLE = {"max_token_lifetime": 86400, "refresh_interval": 3600, "clock_skew": 600,
                  "max_messages_per_second": 1000, "max_state_per_second": 100,
                  "max_bytes_per_second": 1073741824}
DEFAULT_LIMITS = {"connect_timeout": 10}


def render_config(data_dir, upstream_url, log_level="debug", listeners=None, google=None, limits=None,
                  upstream=None, extra=""):
    """The libconfig text of DESIGN.md "Config" (one group per line)."""
    g = dict(DEFAULT_GOOGLE)
    g.update(google or {})
    lim = dict(DEFAULT_LIMITS)
    lim.update(limits or {})
    up = {"url": upstream_url}
    up.update(upstream or {})
    out = [
        "# generated by tests/integration",
        "data_dir = %s;" % _cfg_value(str(data_dir)),
        "log = { level = %s; };" % _cfg_value(log_level),
        "listeners = (",
        ",\n".join("  " + _cfg_group(l) for l in (listeners or DEFAULT_LISTENERS)),
        ");",
        "upstream = %s;" % _cfg_group(up),
        "google = %s;" % _cfg_group(g),
        "limits = %s;" % _cfg_group(lim),
    ]
    if extra:
        out.append(extra)
    return "\n".join(out) + "\n"


def iotcored_bin():
    b = os.environ.get("IOTCORED_BIN")
    if b:
        return b
    root = os.environ.get("IOTCORED_SOURCE_ROOT") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))
    return os.path.join(root, "build", "daemon", "iotcored")


_ID_COUNTER = itertools.count(1)


def unique_id(prefix="dev"):
    return "%s-%d-%s" % (prefix, next(_ID_COUNTER), uuid.uuid4().hex[:6])


class Daemon(Proc):
    """iotcored started from a generated config with a temporary data_dir and
    port = 0 listeners read back from data_dir/ports.json."""

    name = "iotcored"
    DEFAULT_PROJECT = "proj-it"
    DEFAULT_LOCATION = "us-central1"
    DEFAULT_REGISTRY = "reg-it"

    def __init__(self, workdir, upstream_url, binary=None, google=None, limits=None, upstream=None,
                 listeners=None, log_level="debug", extra="", data_dir=None, http_devices=False):
        """http_devices=True adds the "devices" listener (DEVICES_LISTENER)."""
        workdir = str(workdir)
        os.makedirs(workdir, exist_ok=True)
        super().__init__(os.path.join(workdir, "iotcored.log"))
        self.dir = workdir
        self.binary = binary or iotcored_bin()
        self.data_dir = str(data_dir or os.path.join(workdir, "data"))
        self.conf_path = os.path.join(workdir, "iotcored.conf")
        self.upstream_url = upstream_url
        self.google = dict(DEFAULT_GOOGLE, **(google or {}))
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        self.upstream = upstream or {}
        self.listeners = list(listeners or DEFAULT_LISTENERS)
        if http_devices and not any(l.get("protocol") == "http-devices" for l in self.listeners):
            self.listeners.append(dict(DEVICES_LISTENER))
        self.log_level = log_level
        self.extra = extra
        self.ports = {}
        self.token = None
        self._registries = set()
        self.expect_clean_exit = True

    # ---- files
    @property
    def ca_path(self):
        return os.path.join(self.data_dir, "ca.pem")

    @property
    def ports_path(self):
        return os.path.join(self.data_dir, "ports.json")

    @property
    def mqtts_port(self):
        return self.ports["mqtts"]

    @property
    def admin_port(self):
        return self.ports["admin"]

    @property
    def devices_port(self):
        return self.ports["devices"]

    def write_config(self):
        text = render_config(self.data_dir, self.upstream_url, self.log_level, self.listeners, self.google,
                             self.limits, self.upstream, self.extra)
        with open(self.conf_path, "w") as f:
            f.write(text)
        return self.conf_path

    # ---- lifecycle
    def start(self, timeout=T_START):
        assert not self.alive(), "daemon already running"
        self.write_config()
        try:
            os.unlink(self.ports_path)
        except FileNotFoundError:
            pass
        self._spawn([self.binary, "-c", self.conf_path], cwd=self.dir)
        names = [l["name"] for l in self.listeners]

        def ready():
            if not self.alive():
                raise AssertionError("iotcored exited rc=%s during start-up\n%s" %
                                     (self.proc.returncode, self.log_tail(0, 16384)))
            try:
                with open(self.ports_path) as f:
                    ports = json.load(f)
            except (OSError, ValueError):
                return None
            if all(isinstance(ports.get(n), int) and ports[n] > 0 for n in names):
                return ports
            return None

        try:
            self.ports = wait_for(ready, timeout, "ports.json with %s" % names, 0.05)
        except AssertionError as e:
            if self.alive():
                self.kill()
            raise AssertionError("%s\n%s" % (e, self.log_tail(0, 16384))) from None
        if "admin" in self.ports and not any(l.get("name") == "admin" and l.get("tls") for l in self.listeners):
            if os.path.exists(os.path.join(self.data_dir, "admin.token")):
                with open(os.path.join(self.data_dir, "admin.token")) as f:
                    self.token = f.read().strip()
            wait_for(lambda: self._healthz_ok(), timeout, "admin /healthz")
        return self

    def _healthz_ok(self):
        try:
            return requests.get(self.url("/healthz"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the daemon by PID and returns its exit code (None if it had
        to be killed after `timeout`)."""
        if not self.alive():
            return self.last_rc
        self.signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
            return None
        return rc

    def stop_checked(self, timeout=10):
        """SIGTERM; asserts exit 0 within timeout (teardown)."""
        if self.proc is None:
            return
        was_alive = self.alive()
        rc = self.stop(signal.SIGTERM, timeout)
        if was_alive:
            assert rc == 0, ("iotcored did not exit 0 within %ds of SIGTERM (rc=%s)\n--- log tail ---\n%s"
                             % (timeout, rc, self.log_tail(0, 16384)))

    # ---- admin REST
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.admin_port, path)

    _DEFAULT = object()

    def rest(self, method, path, json=None, token=_DEFAULT, data=None, headers=None, timeout=15 * SCALE):
        h = dict(headers or {})
        tok = self.token if token is Daemon._DEFAULT else token
        if tok is not None:
            h["Authorization"] = "Bearer " + tok
        if json is not None:
            data = _dumps(json)
            h.setdefault("Content-Type", "application/json")
        return requests.request(method, self.url(path), data=data, headers=h, timeout=timeout)

    @staticmethod
    def reg_path(project, location, registry=None):
        p = "/v1/projects/%s/locations/%s/registries" % (project, location)
        return p if registry is None else p + "/" + registry

    def create_registry(self, registry=None, project=None, location=None, body=None):
        project = project or self.DEFAULT_PROJECT
        location = location or self.DEFAULT_LOCATION
        registry = registry or unique_id("reg")
        r = self.rest("POST", self.reg_path(project, location), json=body or {"id": registry})
        assert r.status_code == 200, "create registry %s: %s %s" % (registry, r.status_code, r.text)
        self._registries.add((project, location, registry))
        return r.json()

    def ensure_registry(self, project, location, registry):
        if (project, location, registry) not in self._registries:
            r = self.rest("POST", self.reg_path(project, location), json={"id": registry})
            assert r.status_code in (200, 409), "create registry: %s %s" % (r.status_code, r.text)
            self._registries.add((project, location, registry))

    def new_device(self, fmt="ES256_PEM", key=None, device_id=None, registry=None, project=None,
                   location=None, blocked=None, expiration=None, credentials=None):
        """Registers a device over REST and returns a Device. fmt picks the
        key type and credential format (ES256_PEM, RSA_PEM, ES256_X509_PEM,
        RSA_X509_PEM); key defaults to a fresh EC key or a cached RSA key."""
        project = project or self.DEFAULT_PROJECT
        location = location or self.DEFAULT_LOCATION
        registry = registry or self.DEFAULT_REGISTRY
        device_id = device_id or unique_id("dev")
        self.ensure_registry(project, location, registry)
        if key is None:
            key = ec_key() if fmt.startswith("ES256") else rsa_key(next(_ID_COUNTER) % 4)
        alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
        if credentials is None:
            cred = {"publicKey": {"format": fmt, "key": credential_pem(key, fmt)}}
            if expiration is not None:
                cred["expirationTime"] = expiration
            credentials = [cred]
        body = {"id": device_id, "credentials": credentials}
        if blocked is not None:
            body["blocked"] = blocked
        r = self.rest("POST", self.reg_path(project, location, registry) + "/devices", json=body)
        assert r.status_code == 200, "create device %s: %s %s" % (device_id, r.status_code, r.text)
        return Device(self, project, location, registry, device_id, key, alg, r.json())


class Device:
    """A registered device: identity, its private key, token minting and
    connecting."""

    def __init__(self, daemon, project, location, registry, device_id, key, alg, resource=None):
        self.daemon = daemon
        self.project = project
        self.location = location
        self.registry = registry
        self.id = device_id
        self.key = key
        self.alg = alg
        self.resource = resource or {}

    @property
    def client_id(self):
        return "projects/%s/locations/%s/registries/%s/devices/%s" % (
            self.project, self.location, self.registry, self.id)

    def topic(self, kind="events", sub=None):
        t = "/devices/%s/%s" % (self.id, kind)
        return t + "/" + sub if sub else t

    def upstream_topic(self, kind="events", sub=None, prefix="google/"):
        t = "%s%s/%s/%s/%s/%s" % (prefix, self.project, self.location, self.registry, self.id, kind)
        return t + "/" + sub if sub else t

    def token(self, **kw):
        kw.setdefault("aud", self.project)
        return make_jwt(self.key, self.alg, **kw)

    def client(self, token=None, **kw):
        return MqttClient(self.daemon.mqtts_port, self.client_id, token if token is not None else self.token(),
                          ca=self.daemon.ca_path, **kw)

    def connect(self, token=None, timeout=T_CONNACK, **kw):
        """Connects and asserts CONNACK 0; returns the MqttClient."""
        c = self.client(token, **kw)
        rc = c.connect(timeout)
        if rc != 0:
            c.close()
            raise AssertionError("device %s: expected CONNACK 0, got %s (%s)" % (self.id, rc, c.describe()))
        return c


# ---------------------------------------------------------------- keys, JWTs

def ec_key(curve=None):
    return ec.generate_private_key(curve or ec.SECP256R1())


@functools.lru_cache(maxsize=None)
def rsa_key(i=0, bits=2048):
    """RSA keys are slow to make: cached per (i, bits) for the session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def self_signed_pem(key, cn="device", days=365):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def credential_pem(key, fmt):
    return self_signed_pem(key) if fmt.endswith("X509_PEM") else public_pem(key)


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_seg(obj):
    return b64url(json.dumps(obj, separators=(",", ":")))


def claims(aud, iat=None, exp=None, lifetime=3600, omit=(), extra=None):
    now = int(time.time())
    iat = now if iat is None else iat
    exp = iat + lifetime if exp is None else exp
    c = {"iat": iat, "exp": exp, "aud": aud}
    for k in omit:
        c.pop(k, None)
    c.update(extra or {})
    return c


def make_jwt(key, alg, aud, iat=None, exp=None, lifetime=3600, omit=(), extra=None, headers=None):
    """A signed RS256/ES256 JWT (PyJWT; ES256 signatures are JOSE r||s).
    omit drops claims (e.g. ("exp",)); iat/exp are absolute unix seconds."""
    return pyjwt.encode(claims(aud, iat, exp, lifetime, omit, extra), private_pem(key), algorithm=alg,
                        headers=headers)


def jwt_alg_none(aud, **kw):
    """alg "none" with an empty signature (PyJWT refuses to make it)."""
    return "%s.%s." % (_json_seg({"alg": "none", "typ": "JWT"}), _json_seg(claims(aud, **kw)))


def jwt_hs256(secret, aud, **kw):
    """HS256 keyed with `secret` (the device's public-key PEM text for the
    algorithm-confusion attack; PyJWT refuses to make it)."""
    if isinstance(secret, str):
        secret = secret.encode()
    signing_input = "%s.%s" % (_json_seg({"alg": "HS256", "typ": "JWT"}), _json_seg(claims(aud, **kw)))
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


# ---------------------------------------------------------------- paho device client

class MqttClient:
    """A paho 1.6 (v1 API) client over TLS trusting the daemon's CA, that
    never reconnects by itself. connect() returns the CONNACK code, or None
    when the server closed (or TLS failed) before any CONNACK."""

    def __init__(self, port, client_id, password, username="unused", ca=None, host="127.0.0.1",
                 clean_session=True, keepalive=60, bind_address="", will=None, tls=True):
        self.host, self.port, self.keepalive, self.bind_address = host, port, keepalive, bind_address
        self.client_id = client_id
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311, clean_session=clean_session,
                             reconnect_on_failure=False)
        if tls:
            self.c.tls_set_context(ssl.create_default_context(cafile=ca))
        if username is not None or password is not None:
            self.c.username_pw_set(username, password)
        if will:
            self.c.will_set(*will)
        self.rc = None
        self.session_present = None
        self.connect_error = None
        self.connected_at = None
        self.closed_at = None
        self.disconnect_rc = None
        self._connack = threading.Event()
        self._closed = threading.Event()
        self.messages = []
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.qos))
        self._loop = False

    def _on_connect(self, c, ud, flags, rc):
        self.rc = rc
        self.session_present = flags.get("session present")
        if rc == 0:
            self.connected_at = time.monotonic()
        self._connack.set()

    def _on_disconnect(self, c, ud, rc):
        self.disconnect_rc = rc
        self.closed_at = time.monotonic()
        self._closed.set()
        self._connack.set()

    def connect(self, timeout=T_CONNACK):
        try:
            self.c.connect(self.host, self.port, self.keepalive, bind_address=self.bind_address)
        except (OSError, ssl.SSLError) as e:
            self.connect_error = e
            self.closed_at = time.monotonic()
            self._closed.set()
            return None
        self.c.loop_start()
        self._loop = True
        if not self._connack.wait(timeout):
            raise AssertionError("no CONNACK and no close within %.1fs (%s)" % (timeout, self.client_id))
        return self.rc

    def describe(self):
        return "rc=%s connect_error=%r disconnect_rc=%s" % (self.rc, self.connect_error, self.disconnect_rc)

    def is_connected(self):
        return self.rc == 0 and not self._closed.is_set()

    def is_closed(self):
        return self._closed.is_set()

    def wait_closed(self, timeout=T_CLOSE):
        return self._closed.wait(timeout)

    def publish(self, topic, payload, qos=0, retain=False):
        return self.c.publish(topic, payload, qos=qos, retain=retain)

    def publish_acked(self, topic, payload, qos=1, timeout=T_DELIVER, retain=False):
        """Publishes and waits for the PUBACK (QoS 1) or the write (QoS 0).
        Returns True if acknowledged before the deadline or a close."""
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if published(info):
                return True
            if self.is_closed():
                return published(info)
            time.sleep(0.01)
        return False

    def subscribe(self, topic, qos=0):
        return self.c.subscribe(topic, qos)

    def close(self):
        """DISCONNECT if still connected, stop the loop thread. Idempotent,
        and bounded in time even if the server never closes."""
        try:
            if self.is_connected():
                self.c.disconnect()
        except Exception:
            pass
        if self._loop:
            if not self._closed.wait(2):
                s = self.c.socket()
                try:
                    if s:
                        s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if self._closed.wait(5):
                self._loop = False
                self.c.loop_stop()
        try:
            s = self.c.socket()
            if s:
                s.close()
        except Exception:
            pass


def published(info):
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False


# ---------------------------------------------------------------- backend subscriber

class Backend:
    """A paho client connected to the broker directly (plain TCP), subscribed
    (QoS 1 by default) to `topic`, collecting (topic, payload, qos, retain)."""

    def __init__(self, broker_port, topic="google/#", qos=1, client_id=None, clean_session=True, username=None,
                 password=None):
        self.port = broker_port
        self.username, self.password = username, password
        self.topic = topic
        self.qos = qos
        self.client_id = client_id or unique_id("backend")
        self.clean_session = clean_session
        self.lock = threading.Condition()
        self.messages = []
        self.c = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()

    def connect(self, subscribe=True, timeout=T_CONNACK):
        self.connected.clear()
        self.disconnected.clear()
        c = mqtt.Client(client_id=self.client_id, protocol=mqtt.MQTTv311, clean_session=self.clean_session,
                        reconnect_on_failure=False)
        subacked = threading.Event()
        state = {}

        def on_connect(cl, ud, flags, rc):
            state["rc"] = rc
            state["session_present"] = flags.get("session present")
            if rc == 0:
                self.connected.set()

        def on_message(cl, ud, m):
            with self.lock:
                self.messages.append((m.topic, bytes(m.payload), m.qos, bool(m.retain)))
                self.lock.notify_all()

        if self.username is not None:
            c.username_pw_set(self.username, self.password)
        c.on_connect = on_connect
        c.on_message = on_message
        c.on_subscribe = lambda cl, ud, mid, granted: subacked.set()
        c.on_disconnect = lambda cl, ud, rc: self.disconnected.set()
        c.connect("127.0.0.1", self.port, 30)
        c.loop_start()
        self.c = c
        wait_for(self.connected.is_set, timeout, "backend CONNACK on broker :%d" % self.port)
        self.session_present = state.get("session_present")
        if subscribe:
            topics = [self.topic] if isinstance(self.topic, str) else list(self.topic)
            c.subscribe([(t, self.qos) for t in topics])
            wait_for(subacked.is_set, timeout, "backend SUBACK")
        return self

    def close(self):
        if self.c is not None:
            try:
                self.c.disconnect()
            except Exception:
                pass
            self.c.loop_stop()
            self.c = None

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def find(self, topic=None, payload=None):
        return [m for m in self.snapshot()
                if (topic is None or m[0] == topic) and (payload is None or m[1] == payload)]

    def wait_message(self, topic=None, payload=None, timeout=T_DELIVER):
        """Waits for a message matching topic and/or payload; returns it."""
        if isinstance(payload, str):
            payload = payload.encode()
        got = wait_for(lambda: self.find(topic, payload), timeout,
                       "upstream message topic=%r payload=%r; have %r" %
                       (topic, payload if payload is None or len(payload) < 64 else payload[:64] + b"...",
                        [(m[0], m[1][:40]) for m in self.snapshot()[-10:]]))
        return got[0]


# ---------------------------------------------------------------- raw MQTT bytes

def enc_len(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def enc_str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


def packet(first_byte, body):
    return bytes([first_byte]) + enc_len(len(body)) + body


def connect_packet(client_id, username=None, password=None, clean=True, keepalive=60, will=None,
                   proto=b"MQTT", level=4, flags=None):
    """A CONNECT. will = (topic, payload, qos, retain). flags overrides the
    computed connect-flags byte."""
    f = 0x02 if clean else 0
    payload = enc_str(client_id)
    if will:
        wt, wp, wq, wr = will
        f |= 0x04 | (wq << 3) | (0x20 if wr else 0)
        payload += enc_str(wt) + enc_str(wp)
    if username is not None:
        f |= 0x80
        payload += enc_str(username)
    if password is not None:
        f |= 0x40
        payload += enc_str(password)
    if flags is not None:
        f = flags
    body = enc_str(proto) + bytes([level, f]) + struct.pack("!H", keepalive) + payload
    return packet(0x10, body)


def connect_flags(pkt):
    """The connect-flags byte of a CONNECT made by connect_packet."""
    i = 1
    while pkt[i] & 0x80:
        i += 1
    i += 1
    name_len = struct.unpack("!H", pkt[i:i + 2])[0]
    return pkt[i + 2 + name_len + 1]


def publish_packet(topic, payload=b"", qos=0, pid=1, retain=False, dup=False, first_byte=None):
    if isinstance(payload, str):
        payload = payload.encode()
    fb = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = enc_str(topic) + (struct.pack("!H", pid) if qos > 0 else b"") + payload
    return packet(first_byte if first_byte is not None else fb, body)


def subscribe_packet(topic, qos=0, pid=1, first_byte=0x82):
    return packet(first_byte, struct.pack("!H", pid) + enc_str(topic) + bytes([qos]))


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


class RawConn:
    """A raw TCP (optionally TLS) connection for exact bytes."""

    def __init__(self, port, ca=None, tls=True, bind=None, alpn=None, host="127.0.0.1", timeout=15 * SCALE):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(bind, 0) if bind else None)
        self.local = self.sock.getsockname()
        if tls:
            ctx = ssl.create_default_context(cafile=ca)
            if alpn:
                ctx.set_alpn_protocols(alpn)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Reads more bytes; False on EOF/reset. Raises TimeoutError at deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(min(remaining, 0.5))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (ConnectionError, ssl.SSLError, OSError):
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_packet(self, timeout=T_CONNACK):
        """Returns (first_byte, body) of the next packet, or None if the
        connection closed first. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            pk = self._take_packet()
            if pk is not None:
                return pk
            if self.eof or not self._fill(deadline):
                return self._take_packet()

    def _take_packet(self):
        b = self.buf
        if len(b) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(b):
                return None
            n += (b[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if not b[i - 1] & 0x80:
                break
            if i > 4:
                return None
        if len(b) < i + n:
            return None
        self.buf = b[i + n:]
        return b[0], b[i:i + n]

    def read_connack(self, timeout=T_CONNACK):
        """(session_present, rc) or None if closed without a CONNACK."""
        pk = self.read_packet(timeout)
        if pk is None:
            return None
        assert pk[0] == 0x20 and len(pk[1]) == 2, "expected CONNACK, got %r" % (pk,)
        return pk[1][0], pk[1][1]

    def wait_closed(self, timeout=T_CLOSE):
        """True if the peer closed within timeout (any data is discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                self._fill(deadline)
                self.buf = b""
        except TimeoutError:
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def client_hello():
    """The bytes of a real TLS ClientHello (for stalled-handshake tests)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tcp_wait_closed(sock, timeout):
    """For a plain socket: True if the peer closed (EOF/reset) within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(min(remaining, 0.5))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return True
        if not data:
            return True
