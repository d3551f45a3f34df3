"""AWS-side helpers for the integration suite: a real AWS SDK client
(botocore, what the aws CLI is built on) for the daemon's control plane,
signed with the daemon-generated data_dir/aws-credentials, and mTLS device
clients (paho with a client certificate)."""
import configparser
import contextlib
import datetime
import hashlib
import json
import os
import ssl

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import helpers


def credentials(daemon):
    cp = configparser.ConfigParser()
    cp.read(os.path.join(daemon.data_dir, "aws-credentials"))
    sec = cp["default"]
    return sec["aws_access_key_id"], sec["aws_secret_access_key"]


def iot_client(daemon, region="us-east-1", key=None, secret=None, service="iot"):
    # Debian's aws CLI ships its own botocore and maps the name "botocore"
    # to it once awscli is imported; importing awscli first makes this
    # module and test_aws_control.py's in-process CLI share that one copy
    # (two copies under one name break each other).
    import awscli  # noqa: F401
    import botocore.session
    from botocore.config import Config

    kid, sec = credentials(daemon)
    s = botocore.session.Session()
    return s.create_client(
        service, region_name=region, endpoint_url="http://127.0.0.1:%d" % daemon.admin_port,
        aws_access_key_id=key or kid, aws_secret_access_key=secret or sec,
        config=Config(retries={"max_attempts": 1}))


@contextlib.contextmanager
def daemon_with_broker(base, iotcored_bin, **kw):
    """A Mosquitto and a daemon bridging to it under base (d.broker is the
    broker), stopped (and checked for a clean exit) afterwards."""
    brk = helpers.Broker(os.path.join(str(base), "broker")).start()
    try:
        d = helpers.Daemon(os.path.join(str(base), "iotcored"), brk.url, binary=iotcored_bin, **kw)
        d.broker = brk
        d.start()
        try:
            yield d
        finally:
            d.stop_checked()
    finally:
        brk.stop()


def allow_all_policy(resources=None):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": resources or "*"}],
    })


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class Cert:
    """A device certificate the daemon issued (CreateKeysAndCertificate),
    written to files paho can load."""

    def __init__(self, workdir, resp):
        self.id = resp["certificateId"]
        self.arn = resp["certificateArn"]
        os.makedirs(workdir, exist_ok=True)
        self.cert_path = os.path.join(workdir, self.id[:16] + ".pem")
        self.key_path = os.path.join(workdir, self.id[:16] + ".key")
        with open(self.cert_path, "w") as f:
            f.write(resp["certificatePem"])
        with open(self.key_path, "w") as f:
            f.write(resp["keyPair"]["PrivateKey"])
        os.chmod(self.key_path, 0o600)


def new_cert(iot, workdir, active=True, policy_doc=None, policy_name=None):
    resp = iot.create_keys_and_certificate(setAsActive=active)
    c = Cert(workdir, resp)
    if policy_doc is not None:
        name = policy_name or helpers.unique_id("pol")
        iot.create_policy(policyName=name, policyDocument=policy_doc)
        iot.attach_policy(policyName=name, target=c.arn)
        c.policy = name
    return c


class AwsDevice(helpers.MqttClient):
    """paho over TLS with a client certificate, trusting the daemon's CA."""

    def __init__(self, daemon, cert_path, key_path, client_id, clean_session=True, keepalive=60,
                 will=None, username=None):
        super().__init__(daemon.mqtts_port, client_id, None, username=username, ca=daemon.ca_path,
                         clean_session=clean_session, keepalive=keepalive, will=will, tls=False)
        ctx = ssl.create_default_context(cafile=daemon.ca_path)
        ctx.load_cert_chain(cert_path, key_path)
        self.c.tls_set_context(ctx)
        self.subacks = {}
        self.c.on_subscribe = lambda c, ud, mid, granted: self.subacks.__setitem__(mid, granted)

    def subscribe_wait(self, topic, qos=1, timeout=helpers.T_DELIVER):
        """SUBSCRIBE (one filter or a list of (filter, qos)); returns the
        granted codes once the SUBACK arrived, None on timeout or close."""
        rc, mid = self.c.subscribe(topic, qos) if isinstance(topic, str) else self.c.subscribe(topic)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        ok = _poll(lambda: mid in self.subacks or self.is_closed(), timeout)
        return list(self.subacks[mid]) if ok and mid in self.subacks else None


def _poll(pred, timeout):
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


JS_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


def js_clients_dir():
    """A directory holding tests/integration/js with its npm packages
    installed (npm ci, once per directory): IOTCORED_JS_DIR, or a cache
    next to the build. Returns None when node or npm is missing."""
    import shutil
    import subprocess

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None
    d = os.environ.get("IOTCORED_JS_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(helpers.iotcored_bin())), "js-clients")
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(JS_SRC):
        if name.endswith((".json", ".js")):
            shutil.copyfile(os.path.join(JS_SRC, name), os.path.join(d, name))
    if not os.path.isdir(os.path.join(d, "node_modules", "aws-iot-device-sdk")):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=d, check=True,
                       timeout=600)
    return d


# ---------------------------------------------------------------- certificates

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(cn, key=None, issuer_cert=None, issuer_key=None, ca=False, days=365):
    """A certificate for key (new P-256 when None), self-signed or issued.
    Returns (pem, key, cert)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(cn))
         .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=days)))
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = b.sign(issuer_key or key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key, cert


def cert_id(pem):
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()
