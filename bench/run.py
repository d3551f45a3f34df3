"""Side-by-side benchmark of iotcored (bridging to Mosquitto) against
Mosquitto alone (TLS + password file, and TLS + client certificate for the
mTLS rows), driven by iotcored-loadgen.

Started by bench/run (which builds first). Every process it starts is
stopped by PID; ports are free ephemeral ports on 127.0.0.1 (never 1883).
See bench/README.md for what each scenario measures.
"""
import argparse
import configparser
import datetime
import fnmatch
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

PROJECT, LOCATION, REGISTRY = "bench", "us-central1", "bench"
BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-0123456789"
# mTLS (scenario 1): one AWS-style device certificate per key type, issued by
# iotcored's control plane (so signed by its data_dir/ca.pem), each shared by
# every connection of a run with client ids PREFIX + N (AWS allows that).
AWS_REGION = "us-east-1"
AWS_POLICY = "bench-allow-all"
X509_KINDS = (
    # kind, device prefix, how the certificate is made, row text
    ("rsa", "x5r-", "CreateKeysAndCertificate (RSA-2048, as AWS issues them)", "RSA-2048"),
    ("ec", "x5e-", "CreateCertificateFromCsr (ECDSA P-256 key and CSR made here)", "ECDSA P-256"),
)
# iotcored's default is Google's 100 msg/s per connection: raised for the
# throughput runs (and said so in the results).
MAX_MSGS_PER_SECOND = 1000000
MAX_BYTES_PER_SECOND = 1073741824
SOURCES = ("127.0.0.2", 8)          # loadgen spreads connections over 8 loopback addresses

PROFILES = {
    # connect: devices per run; tput_*: messages per device; lat_s: seconds at each of lat_rates (msg/s)
    # mem_*: scenario 4 (held devices per size, hold seconds, rounds it runs in);
    # reg_*: scenario 5 (store sizes, devices per import request, restarts
    # timed per store, REST creates per round, rounds of connect + create)
    "full": {"runs": 3, "connect": 2000, "tput_q0": 500, "tput_q1": 300, "tput_devices": 100,
             "lat_s": 10, "lat_rates": (1000, 10000), "speed_s": 3, "resume": True, "tput_fixed": (5000, 6),
             "mem_sizes": (2000, 9900), "mem_hold": 30, "mem_runs": 3,
             "reg_sizes": (2000, 100000, 1000000), "reg_chunk": 100000, "reg_restarts": 3, "reg_create": 2000,
             "reg_runs": 3},
    "quick": {"runs": 3, "connect": 300, "tput_q0": 100, "tput_q1": 60, "tput_devices": 100,
              "lat_s": 4, "lat_rates": (1000,), "speed_s": 1, "resume": False,
              "mem_sizes": (300,), "mem_hold": 2, "mem_runs": 1,
              "reg_sizes": (300, 10000), "reg_chunk": 10000, "reg_restarts": 1, "reg_create": 300, "reg_runs": 1},
}


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def free_port():
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port != 1883:
            return port


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for %s" % what)


def tcp_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def run_cmd(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def cpu_us(pid):
    """utime + stime of a process, microseconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine_busy():
    """(busy jiffies, total jiffies) of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


# ---------------------------------------------------------------- processes

class Proc:
    def __init__(self, name, argv, log_path, cwd=None):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.logf = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  cwd=cwd, start_new_session=True)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        """SIGTERM by PID, SIGKILL by PID after timeout."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(10)
        self.logf.close()
        return self.p.returncode

    def tail(self, n=3000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Daemon:
    """One running iotcored: its process, config, data dir and ports."""

    def __init__(self, name, proc, conf, data, mqtt, admin, startup_s):
        self.name, self.proc, self.conf, self.data = name, proc, conf, data
        self.mqtt, self.admin, self.startup_s = mqtt, admin, startup_s
        self.token_file = os.path.join(data, "admin.token")


class Env:
    """Certificates, keys, one Mosquitto (plain listener for iotcored and the
    backend subscriber, TLS + password listener for direct devices, and once
    the AWS device certificates exist a TLS listener requiring a client
    certificate) and one iotcored bridging to it."""

    def __init__(self, workdir, build_dir):
        self.dir = workdir
        self.build = build_dir
        self.iotcored_bin = os.path.join(build_dir, "daemon", "iotcored")
        self.loadgen_bin = os.path.join(build_dir, "bench", "iotcored-loadgen")
        self.procs = []
        self.mosq = self.iot = None
        # Set by make_x509_certs: {kind: (cert, key)} and the CA that signed
        # them (iotcored's data_dir/ca.pem), trusted by Mosquitto's mTLS listener.
        self.x509 = {}
        self.x509_ca = None
        self.mq_mtls = None
        self.x509_why = None            # why the mTLS rows were skipped, if they were
        # Scenario 6: an RSA-2048 server certificate (same CA) and Mosquitto
        # listeners serving it (TLS + password; mTLS once x509_ca exists).
        self.srv_rsa_cert = self.srv_rsa_key = None
        self.mq_tls_rsa = self.mq_mtls_rsa = None

    # ---- PKI: one CA, one ECDSA P-256 server certificate used by both servers
    def make_pki(self):
        d = os.path.join(self.dir, "pki")
        os.makedirs(d, exist_ok=True)
        self.ca = os.path.join(d, "ca.pem")
        self.ca_key = os.path.join(d, "ca.key")
        self.srv_cert = os.path.join(d, "server.pem")
        self.srv_key = os.path.join(d, "server.key")
        self.es_key = os.path.join(d, "device-es256.key")
        self.rs_key = os.path.join(d, "device-rs256.key")
        o = OPENSSL
        run_cmd([o, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.ca_key])
        run_cmd([o, "req", "-x509", "-new", "-key", self.ca_key, "-sha256", "-days", "30", "-subj",
                 "/CN=iotcored bench CA", "-out", self.ca])
        run_cmd([o, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.srv_key])
        csr = os.path.join(d, "server.csr")
        run_cmd([o, "req", "-new", "-key", self.srv_key, "-subj", "/CN=localhost", "-out", csr])
        ext = os.path.join(d, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        run_cmd([o, "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                 "-days", "30", "-sha256", "-extfile", ext, "-out", self.srv_cert])
        run_cmd([o, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.es_key])
        run_cmd([o, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.rs_key])
        for k in (self.ca_key, self.srv_key, self.es_key, self.rs_key):
            os.chmod(k, 0o600)

    def make_rsa_server_cert(self):
        """Scenario 6: an RSA-2048 server key and certificate, signed by the
        same CA (P-256) with the same names and extensions as server.pem."""
        d = os.path.join(self.dir, "pki")
        o = OPENSSL
        self.srv_rsa_cert = os.path.join(d, "server-rsa.pem")
        self.srv_rsa_key = os.path.join(d, "server-rsa.key")
        run_cmd([o, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.srv_rsa_key])
        os.chmod(self.srv_rsa_key, 0o600)
        csr = os.path.join(d, "server-rsa.csr")
        run_cmd([o, "req", "-new", "-key", self.srv_rsa_key, "-subj", "/CN=localhost", "-out", csr])
        run_cmd([o, "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                 "-days", "30", "-sha256", "-extfile", os.path.join(d, "server.ext"), "-out", self.srv_rsa_cert])

    # ---- Mosquitto
    def start_mosquitto(self):
        d = os.path.join(self.dir, "mosquitto")
        os.makedirs(d, exist_ok=True)
        pw = os.path.join(d, "passwd")
        open(pw, "w").close()
        run_cmd([MOSQUITTO_PASSWD, "-b", pw, BENCH_USER, BENCH_PASSWORD])
        for attempt in range(5):
            self.mq_plain, self.mq_tls = free_port(), free_port()
            self.mq_mtls = free_port() if self.x509_ca else None
            # Devices with a client certificate (scenario 1's mTLS rows): the
            # chain is checked against iotcored's CA, which issued them, and
            # the certificate's CN becomes the username (no password file).
            mtls = [
                "listener %d 127.0.0.1" % self.mq_mtls,
                "allow_anonymous false",
                "certfile %s" % self.srv_cert,
                "keyfile %s" % self.srv_key,
                "cafile %s" % self.x509_ca,
                "require_certificate true",
                "use_identity_as_username true",
            ] if self.mq_mtls else []
            # Scenario 6: the same two device listeners with the RSA-2048 server certificate.
            self.mq_tls_rsa = free_port() if self.srv_rsa_cert else None
            self.mq_mtls_rsa = free_port() if (self.srv_rsa_cert and self.x509_ca) else None
            if self.mq_tls_rsa:
                mtls += [
                    "listener %d 127.0.0.1" % self.mq_tls_rsa,
                    "allow_anonymous false",
                    "password_file %s" % pw,
                    "certfile %s" % self.srv_rsa_cert,
                    "keyfile %s" % self.srv_rsa_key,
                ]
            if self.mq_mtls_rsa:
                mtls += [
                    "listener %d 127.0.0.1" % self.mq_mtls_rsa,
                    "allow_anonymous false",
                    "certfile %s" % self.srv_rsa_cert,
                    "keyfile %s" % self.srv_rsa_key,
                    "cafile %s" % self.x509_ca,
                    "require_certificate true",
                    "use_identity_as_username true",
                ]
            conf = os.path.join(d, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write("\n".join([
                    "# generated by bench/run",
                    "per_listener_settings true",
                    "persistence false",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_timestamp true",
                    "set_tcp_nodelay true",
                    "max_queued_messages 1000000",
                    "max_inflight_messages 100",
                    "user root",
                    "listener %d 127.0.0.1" % self.mq_plain,
                    "allow_anonymous true",
                    "listener %d 127.0.0.1" % self.mq_tls,
                    "allow_anonymous false",
                    "password_file %s" % pw,
                    "certfile %s" % self.srv_cert,
                    "keyfile %s" % self.srv_key,
                ] + mtls + [""]))
            self.mosq_conf = conf
            p = Proc("mosquitto", [MOSQUITTO, "-c", conf], os.path.join(d, "mosquitto.log"), cwd=d)
            try:
                extra_ports = [x for x in (self.mq_mtls, self.mq_tls_rsa, self.mq_mtls_rsa) if x]
                wait_for(lambda: not p.alive() or (tcp_accepts(self.mq_plain) and tcp_accepts(self.mq_tls) and
                                                   all(tcp_accepts(x) for x in extra_ports)),
                         20, "mosquitto listeners")
            except RuntimeError:
                p.stop()
                raise
            if p.alive():
                self.mosq = p
                self.procs.append(p)
                return
            p.stop()
            if "Address already in use" not in p.tail():
                raise RuntimeError("mosquitto exited:\n" + p.tail())
        raise RuntimeError("mosquitto found no free ports")

    # ---- iotcored
    def launch_iotcored(self, name="iotcored", cert=None, key=None, upstream_extra=""):
        """Starts one iotcored (config and data dir under WORKDIR/name, the
        data dir kept across restarts) bridging to this Mosquitto; returns a
        Daemon once data_dir/ports.json names both listeners. Start-up time =
        exec to ports.json appearing, polled every 2 ms. cert/key: another
        server certificate (scenario 6's RSA-2048 one); upstream_extra: more
        keys of the upstream group (a second daemon on the same broker needs
        its own service_client_id)."""
        d = os.path.join(self.dir, name)
        data = os.path.join(d, "data")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "iotcored.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "# generated by bench/run",
                'data_dir = "%s";' % data,
                'log = { level = "warn"; };',
                'tls = { cert = "%s"; key = "%s"; };' % (cert or self.srv_cert, key or self.srv_key),
                "listeners = (",
                '  { name = "mqtts"; port = 0; bind = "127.0.0.1"; protocol = "mqtt"; tls = true; },',
                '  { name = "admin"; port = 0; bind = "127.0.0.1"; protocol = "admin"; tls = false; }',
                ");",
                'upstream = { url = "mqtt://127.0.0.1:%d";%s };' % (self.mq_plain, upstream_extra),
                "google = { max_messages_per_second = %d; max_bytes_per_second = %d; };"
                % (MAX_MSGS_PER_SECOND, MAX_BYTES_PER_SECOND),
                "",
            ]))
        ports_json = os.path.join(data, "ports.json")
        if os.path.exists(ports_json):
            os.unlink(ports_json)
        t0 = time.monotonic()
        # IOTCORED_BENCH_WRAP (e.g. "heaptrack -o /tmp/ht") runs the daemon
        # under a profiler: for finding where memory or CPU goes, never for
        # the figures (it changes both).
        wrap = os.environ.get("IOTCORED_BENCH_WRAP", "").split()
        p = Proc(name, wrap + [self.iotcored_bin, "-c", conf], os.path.join(d, "iotcored.log"), cwd=d)
        self.procs.append(p)
        ports = None
        deadline = t0 + 300
        while True:
            if os.path.exists(ports_json):
                try:
                    with open(ports_json) as f:
                        ports = json.load(f)
                except (OSError, ValueError):
                    ports = None
                if ports and ports.get("mqtts") and ports.get("admin"):
                    break
            if not p.alive():
                raise RuntimeError("%s exited:\n%s" % (name, p.tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("timed out waiting for %s ports.json" % name)
            time.sleep(0.002)
        startup_s = time.monotonic() - t0
        dm = Daemon(name, p, conf, data, ports["mqtts"], ports["admin"], startup_s)
        wait_for(lambda: os.path.exists(dm.token_file) and tcp_accepts(dm.admin), 30, "%s admin port" % name)
        return dm

    def start_iotcored(self):
        dm = self.launch_iotcored("iotcored")
        self.iot, self.iot_conf, self.data = dm.proc, dm.conf, dm.data
        self.iot_mqtt, self.iot_admin, self.token_file = dm.mqtt, dm.admin, dm.token_file

    def stop_proc(self, p):
        p.stop()
        if p in self.procs:
            self.procs.remove(p)

    def restart_servers(self):
        """Fresh Mosquitto and iotcored (the store is kept): RSS deltas are
        only meaningful in processes whose allocator has not already grown
        for an earlier run's connections."""
        self.stop_proc(self.iot)
        self.stop_proc(self.mosq)
        self.start_mosquitto()
        self.start_iotcored()

    def stop(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:      # keep stopping the others
                log("stopping %s: %s" % (p.name, e))
        self.procs = []

    # ---- loadgen
    def loadgen(self, args, label, timeout=600):
        argv = [self.loadgen_bin, "--json", "--label", label] + args
        t0 = time.monotonic()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        wall = time.monotonic() - t0
        line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        try:
            res = json.loads(line)
        except ValueError:
            raise RuntimeError("loadgen %s failed rc=%d\n%s\n%s" % (label, r.returncode, r.stdout, r.stderr))
        res["_rc"] = r.returncode
        res["_wall"] = wall
        res["_argv"] = argv
        res["_table"] = r.stderr
        if r.returncode != 0 or res.get("fatal"):
            raise RuntimeError("loadgen %s rc=%d: %s\n%s" % (label, r.returncode, res.get("fatal"), r.stderr))
        return res

    def common(self, src_count=SOURCES[1], iot_pid=None):
        return ["--ca", self.ca, "--src-base", SOURCES[0], "--src-count", str(src_count),
                "--watch", "iotcored=%d" % (iot_pid or self.iot.pid), "--watch", "mosquitto=%d" % self.mosq.pid]

    def target_iot(self, scheme, port=None):
        key = self.es_key if scheme == "es256" else self.rs_key
        prefix = "es-" if scheme == "es256" else "rs-"
        return ["--port", str(port or self.iot_mqtt), "--scheme", scheme, "--key", key, "--project", PROJECT,
                "--location", LOCATION, "--registry", REGISTRY, "--device-prefix", prefix]

    def target_mosq(self):
        return ["--port", str(self.mq_tls), "--scheme", "password", "--username", BENCH_USER, "--password",
                BENCH_PASSWORD, "--device-prefix", "pw-"]

    def target_iot_x509(self, kind, port=None):
        cert, key = self.x509[kind]
        prefix = dict((k, p) for k, p, _, _ in X509_KINDS)[kind]
        return ["--port", str(port or self.iot_mqtt), "--scheme", "x509", "--cert", cert, "--key", key,
                "--device-prefix", prefix]

    def target_mosq_x509(self, kind):
        cert, key = self.x509[kind]
        prefix = dict((k, p) for k, p, _, _ in X509_KINDS)[kind]
        return ["--port", str(self.mq_mtls), "--scheme", "x509", "--cert", cert, "--key", key,
                "--device-prefix", prefix]

    def make_x509_certs(self):
        """AWS-style device certificates through iotcored's AWS control plane
        (botocore, SigV4 with data_dir/aws-credentials): an RSA-2048 key pair
        issued by CreateKeysAndCertificate and an ECDSA P-256 certificate
        issued from a CSR (CreateCertificateFromCsr), both ACTIVE with one
        allow-all policy attached. Both are signed by data_dir/ca.pem, which
        Mosquitto's mTLS listener then trusts. Returns False (and sets
        x509_why) when botocore is missing: the mTLS rows are then skipped."""
        try:
            import awscli  # noqa: F401  (Debian's aws CLI maps "botocore" to its own copy)
            import botocore.session
            from botocore.config import Config
        except ImportError as e:
            self.x509_why = "botocore not importable (%s): apt-get install awscli" % e
            return False
        cp = configparser.ConfigParser()
        cp.read(os.path.join(self.data, "aws-credentials"))
        sec = cp["default"]
        iot = botocore.session.Session().create_client(
            "iot", region_name=AWS_REGION, endpoint_url="http://127.0.0.1:%d" % self.iot_admin,
            aws_access_key_id=sec["aws_access_key_id"], aws_secret_access_key=sec["aws_secret_access_key"],
            config=Config(retries={"max_attempts": 1}))
        iot.create_policy(policyName=AWS_POLICY, policyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
        d = os.path.join(self.dir, "pki")
        for kind, prefix, _, _ in X509_KINDS:
            cert, key = os.path.join(d, "x509-%s.pem" % kind), os.path.join(d, "x509-%s.key" % kind)
            if kind == "rsa":
                r = iot.create_keys_and_certificate(setAsActive=True)
                with open(key, "w") as f:
                    f.write(r["keyPair"]["PrivateKey"])
            else:
                run_cmd([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-out", key])
                # A CN: Mosquitto's use_identity_as_username refuses a certificate without one.
                csr = run_cmd([OPENSSL, "req", "-new", "-key", key, "-subj", "/CN=bench-ec-device"]).stdout
                r = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
            os.chmod(key, 0o600)
            with open(cert, "w") as f:
                f.write(r["certificatePem"])
            iot.attach_policy(policyName=AWS_POLICY, target=r["certificateArn"])
            self.x509[kind] = (cert, key)
            log("x509 %s: certificate %s..., devices %sN" % (kind, r["certificateId"][:16], prefix))
        self.x509_ca = os.path.join(self.data, "ca.pem")
        return True

    def provision(self, n_es, n_rs):
        for key, prefix, n in ((self.es_key, "es-", n_es), (self.rs_key, "rs-", n_rs)):
            argv = [self.loadgen_bin, "--provision", str(n), "--provision-only", "--admin-url",
                    "http://127.0.0.1:%d" % self.iot_admin, "--admin-token-file", self.token_file,
                    "--key", key, "--project", PROJECT, "--location", LOCATION, "--registry", REGISTRY,
                    "--device-prefix", prefix]
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError("provisioning failed: %s" % r.stderr)
            log(r.stderr.strip())


# ---------------------------------------------------------------- scenarios

def quiesce(env, limit=5.0):
    """Lets both servers finish tearing down the previous run's sessions:
    waits until neither used a clock tick in 0.3 s (at most `limit` s)."""
    deadline = time.monotonic() + limit
    time.sleep(0.3)
    while time.monotonic() < deadline:
        c0 = cpu_us(env.iot.pid) + cpu_us(env.mosq.pid)
        time.sleep(0.3)
        if cpu_us(env.iot.pid) + cpu_us(env.mosq.pid) - c0 <= 10000:
            return


def measured(env, args, label, iot=None):
    """One loadgen run with machine-wide noise: CPU used by processes other
    than loadgen, the iotcored under test (env.iot unless `iot` names another
    Proc) and Mosquitto during the run, in cores."""
    iot = iot or env.iot
    b0, t0 = machine_busy()
    ours0 = cpu_us(iot.pid) + cpu_us(env.mosq.pid)
    ch0 = os.times()
    res = env.loadgen(args, label)
    b1, t1 = machine_busy()
    ours1 = cpu_us(iot.pid) + cpu_us(env.mosq.pid)
    ch1 = os.times()
    hz = os.sysconf("SC_CLK_TCK")
    busy_us = (b1 - b0) * 1e6 / hz
    ours = (ours1 - ours0) + ((ch1.children_user + ch1.children_system) -
                              (ch0.children_user + ch0.children_system)) * 1e6
    res["_other_cores"] = max(0.0, (busy_us - ours) / 1e6 / max(res["_wall"], 1e-3))
    res["_rss_kib"] = {"iotcored": rss_kib(iot.pid), "mosquitto": rss_kib(env.mosq.pid)}
    return res


def connect_cases(env, resume):
    """Scenario 1's cases as pairs (iotcored, Mosquitto alone) that are
    compared with each other; (label, loadgen target args)."""
    pairs = [
        [("1-iot-es256", env.target_iot("es256")), ("1-mosq-tls-password", env.target_mosq())],
        [("1-iot-rs256", env.target_iot("rs256"))],
    ]
    for kind, _, _, _ in X509_KINDS:
        if kind in env.x509:
            pairs.append([("1-iot-x509-%s" % kind, env.target_iot_x509(kind)),
                          ("1-mosq-x509-%s" % kind, env.target_mosq_x509(kind))])
    if resume:
        pairs.append([("1r-iot-es256-resume", env.target_iot("es256") + ["--resume"]),
                      ("1r-mosq-tls-password-resume", env.target_mosq() + ["--resume"])])
        for kind, _, _, _ in X509_KINDS:
            if kind in env.x509:
                pairs.append([("1r-iot-x509-%s-resume" % kind, env.target_iot_x509(kind) + ["--resume"]),
                              ("1r-mosq-x509-%s-resume" % kind, env.target_mosq_x509(kind) + ["--resume"])])
    return pairs


def scenario_connect(env, prof, run_no, out, resume=False, only=None):
    """Scenario 1. `only`: label globs (--cases); None runs every case."""
    n = prof["connect"]
    base = ["-n", str(n), "--concurrency", "32", "--settle", "1.5"] + env.common()
    cases = []
    for pair in connect_cases(env, resume):
        # Alternate which server goes first within each compared pair.
        cases += pair[::-1] if run_no % 2 else pair
    if only:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c[0], g) for g in only)]
    for label, tgt in cases:
        res = measured(env, tgt + base, label)
        out.append(res)
        log("%s run %d: %d/%d up (%d resumed), %.0f conn/s, iotcored %.0f us, mosquitto %.0f us per connect%s" % (
            label, run_no, res["connected"], n, res["resumed"], res["connect"]["rate"],
            res["cpu"]["connect"]["iotcored_us"] / max(1, res["connected"]),
            res["cpu"]["connect"]["mosquitto_us"] / max(1, res["connected"]),
            (", errors %s" % json.dumps(res.get("errors"))) if res.get("errors") else ""))
        quiesce(env)


def scenario_throughput(env, prof, run_no, out):
    dev = prof["tput_devices"]
    for qos, count in ((0, prof["tput_q0"]), (1, prof["tput_q1"])):
        base = ["-n", str(dev), "--concurrency", "32", "--settle", "0.5", "--publish", "--qos", str(qos),
                "--size", "64", "--count", str(count), "--window", "16", "--drain", "5"] + env.common()
        iot = env.target_iot("es256") + ["--sub", "127.0.0.1:%d" % env.mq_plain, "--sub-filter",
                                         "google/%s/%s/%s/+/events" % (PROJECT, LOCATION, REGISTRY)]
        mq = env.target_mosq() + ["--sub", "127.0.0.1:%d" % env.mq_plain, "--sub-filter", "bench/#"]
        cases = [("2-iot-qos%d" % qos, iot), ("2-mosq-qos%d" % qos, mq)]
        if run_no % 2:
            cases.reverse()
        if qos == 1 and prof.get("tput_fixed"):
            # Per-message cost depends on batching, hence on the rate: also
            # compare both paths at one offered rate (3.2b's 5,000 msg/s).
            rate, secs = prof["tput_fixed"]
            fixed = ["-n", str(dev), "--concurrency", "32", "--settle", "0.5", "--publish", "--qos", "1",
                     "--size", "64", "--pub-rate", str(rate), "--hold", str(secs), "--window", "16",
                     "--drain", "5"] + env.common()
            extra = [("2-iot-qos1-%dk" % (rate // 1000), iot, fixed), ("2-mosq-qos1-%dk" % (rate // 1000), mq, fixed)]
            if run_no % 2:
                extra.reverse()
        else:
            extra = []
        cases = [(l, t, base) for l, t in cases] + extra
        for label, tgt, args in cases:
            res = measured(env, tgt + args, label)
            out.append(res)
            log("%s run %d: %d sent, %d received (%.0f msg/s), lost %d, iotcored %.1f us, mosquitto %.1f us per msg"
                % (label, run_no, res["publish"]["sent"], res["e2e"]["received"], res["e2e"]["rate"],
                   res["e2e"]["lost"], res["cpu"]["hold"]["iotcored_us"] / max(1, res["publish"]["sent"]),
                   res["cpu"]["hold"]["mosquitto_us"] / max(1, res["publish"]["sent"])))
            quiesce(env)


def lat_label(server, rate):
    return "3-%s-%dk" % (server, rate // 1000)


def scenario_latency(env, prof, run_no, out):
    """Scenario 3: end-to-end latency at each fixed rate of prof["lat_rates"]."""
    dev = prof["tput_devices"]
    iot = env.target_iot("es256") + ["--sub", "127.0.0.1:%d" % env.mq_plain, "--sub-filter",
                                     "google/%s/%s/%s/+/events" % (PROJECT, LOCATION, REGISTRY)]
    mq = env.target_mosq() + ["--sub", "127.0.0.1:%d" % env.mq_plain, "--sub-filter", "bench/#"]
    for rate in prof["lat_rates"]:
        base = ["-n", str(dev), "--concurrency", "32", "--settle", "0.5", "--publish", "--qos", "1",
                "--size", "64", "--pub-rate", str(rate), "--hold", str(prof["lat_s"]), "--window", "16",
                "--drain", "5"] + env.common()
        cases = [(lat_label("iot", rate), iot), (lat_label("mosq", rate), mq)]
        if run_no % 2:
            cases.reverse()
        for label, tgt in cases:
            res = measured(env, tgt + base, label)
            out.append(res)
            lat = res["e2e"]["latency"]
            log("%s run %d: %d received, p50 %.3f ms, p99 %.3f ms, max %.3f ms" % (
                label, run_no, res["e2e"]["received"], lat["p50_ms"], lat["p99_ms"], lat["max_ms"]))
            quiesce(env)


def mem_sources(n):
    """Source addresses for n held devices: iotcored admits 1,000 connections
    per address (limits.max_connections_per_address), so at most 250 each."""
    return max(SOURCES[1], -(-n // 250))


def scenario_memory(env, prof, run_no, out):
    """Scenario 4: N idle TLS devices held --hold seconds (keepalive 60, so
    each pings once in a 30 s hold), iotcored vs Mosquitto alone, each case
    in freshly started servers. VmRSS is sampled by the loadgen."""
    for n in prof["mem_sizes"]:
        base = ["-n", str(n), "--concurrency", "32", "--settle", "1.5", "--keepalive", "60",
                "--hold", str(prof["mem_hold"])]
        cases = [("4-iot-%d" % n, True), ("4-mosq-%d" % n, False)]
        if run_no % 2:
            cases.reverse()
        for label, is_iot in cases:
            env.restart_servers()
            quiesce(env)
            tgt = env.target_iot("es256") if is_iot else env.target_mosq()
            res = measured(env, tgt + base + env.common(src_count=mem_sources(n)), label)
            out.append(res)
            who = "iotcored" if is_iot else "mosquitto"
            rss = res["rss_kib"][who]
            hold = res["cpu"]["hold"]
            log("%s run %d: %d/%d up (%d at the end), %s RSS %d -> %d KiB (%.1f KiB/device), idle %.1f ms CPU/s" % (
                label, run_no, res["connected"], n, res["up_at_end"], who, rss["before"], rss["end"],
                (rss["end"] - rss["before"]) / max(1, res["connected"]),
                hold[who + "_us"] / 1000.0 / max(hold["wall_s"], 1e-3)))
    # Leave fresh servers for whatever runs next.
    env.restart_servers()


# ---- scenario 5: registry scale

def public_pem(key):
    return run_cmd([OPENSSL, "pkey", "-in", key, "-pubout"]).stdout


def ndjson_devices(pem, ids, with_registry):
    """The bulk import's records (webui/google_api_import.c): an optional
    registry line, then one device line per id, one shared ES256 key."""
    head = json.dumps({"registry": {"id": REGISTRY}}) + "\n" if with_registry else ""
    cred = json.dumps([{"publicKey": {"format": "ES256_PEM", "key": pem}}])
    return (head + "".join('{"registry": "%s", "device": {"id": "es-%d", "credentials": %s}}\n' % (REGISTRY, i, cred)
                           for i in ids)).encode()


def http_call(port, token, method, path, body=None, ctype="application/json", timeout=900):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdr = {"Authorization": "Bearer " + token}
        if body is not None:
            hdr["Content-Type"] = ctype
        c.request(method, path, body=body, headers=hdr)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def dir_mib(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total / 1048576.0


def import_devices(env, dm, n, chunk, seed):
    """Imports es-0..es-(n-1) in a shuffled order (so the rows of the devices
    a later connect run uses are spread over the table, not adjacent), in
    requests of at most `chunk` devices (the route caps a body at 256 MiB;
    each request is one transaction). Returns the timing record."""
    import random
    ids = list(range(n))
    random.Random(seed).shuffle(ids)
    pem = public_pem(env.es_key)
    token = open(dm.token_file).read().strip()
    path = "/v1/projects/%s/locations/%s:importDevices" % (PROJECT, LOCATION)
    bodies = [ndjson_devices(pem, ids[i:i + chunk], i == 0) for i in range(0, n, chunk)]
    c0 = cpu_us(dm.proc.pid)
    t0 = time.monotonic()
    created = 0
    for body in bodies:
        status, reply = http_call(dm.admin, token, "POST", path, body, "application/x-ndjson")
        if status != 200:
            raise RuntimeError("import into %s: HTTP %d %s" % (dm.name, status, reply[:300]))
        created += json.loads(reply).get("devicesCreated", 0)
    wall = time.monotonic() - t0
    cpu = cpu_us(dm.proc.pid) - c0
    return {"label": "5-import-%d" % n, "kind": "import", "devices": n, "created": created,
            "requests": len(bodies), "body_mib": sum(len(b) for b in bodies) / 1048576.0,
            "wall_s": wall, "daemon_cpu_s": cpu / 1e6, "rate": n / wall,
            "_argv": ["POST", "http://127.0.0.1:ADMIN" + path, "Content-Type: application/x-ndjson",
                      "(%d requests of <= %d records, shuffled ids, one shared ES256 key)" % (len(bodies), chunk)]}


def restart_timed(env, dm):
    """Stops dm and starts it again on the same store; returns the new Daemon."""
    env.stop_proc(dm.proc)
    return env.launch_iotcored(dm.name)


def rest_create(env, dm, n, prefix):
    """n devices created one by one (POST .../devices) by the loadgen's
    provisioning client, one keep-alive connection."""
    argv = [env.loadgen_bin, "--provision", str(n), "--provision-only", "--admin-url",
            "http://127.0.0.1:%d" % dm.admin, "--admin-token-file", dm.token_file, "--key", env.es_key,
            "--project", PROJECT, "--location", LOCATION, "--registry", REGISTRY, "--device-prefix", prefix]
    c0 = cpu_us(dm.proc.pid)
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    wall = time.monotonic() - t0
    cpu = cpu_us(dm.proc.pid) - c0
    if r.returncode != 0:
        raise RuntimeError("REST create on %s failed: %s" % (dm.name, r.stderr))
    m = re.search(r"\((\d+) new, (\d+) existed\) in ([\d.]+) s", r.stderr)
    created, secs = (int(m.group(1)), float(m.group(3))) if m else (n, wall)
    return {"kind": "create", "devices": n, "created": created, "wall_s": secs, "rate": created / max(secs, 1e-6),
            "daemon_cpu_us": cpu / max(1, created), "_argv": argv}


def scenario_registry(env, prof, out, extra):
    """Scenario 5: one iotcored per store size (own store, same Mosquitto
    upstream): bulk import time, start-up time with the registry in place,
    CPU per connect (scenario 1's ES256 case) and REST create rate. The first
    (smallest) size is the reference for the connect cost."""
    stores = []
    for n in prof["reg_sizes"]:
        dm = env.launch_iotcored("iotcored-reg-%d" % n)
        extra.append({"label": "5-startup-empty", "kind": "startup", "devices": 0, "store_devices": n,
                      "startup_s": dm.startup_s, "rss_kib": rss_kib(dm.proc.pid)})
        log("%s: empty store, up in %.0f ms; importing %d devices" % (dm.name, dm.startup_s * 1000, n))
        rec = import_devices(env, dm, n, prof["reg_chunk"], seed=6)
        rec.update(store_devices=n, store_mib=dir_mib(dm.data), rss_kib=rss_kib(dm.proc.pid))
        extra.append(rec)
        log("%s: imported %d devices in %.2f s (%.0f/s, %d requests, %.1f MiB of NDJSON), store %.1f MiB" % (
            dm.name, rec["created"], rec["wall_s"], rec["rate"], rec["requests"], rec["body_mib"],
            rec["store_mib"]))
        quiesce_proc(dm.proc)
        stores.append([n, dm])
    # Start-up with the registry in place: restarts, alternating the order.
    for i in range(prof["reg_restarts"]):
        for st in (stores if i % 2 == 0 else stores[::-1]):
            st[1] = restart_timed(env, st[1])
            time.sleep(0.5)
            extra.append({"label": "5-startup-%d" % st[0], "kind": "startup", "devices": st[0],
                          "store_devices": st[0], "startup_s": st[1].startup_s, "rss_kib": rss_kib(st[1].proc.pid)})
            log("%s: %d devices, up in %.0f ms" % (st[1].name, st[0], st[1].startup_s * 1000))
    # Connect-lookup cost: scenario 1's ES256 case against each store, interleaved.
    n = prof["connect"]
    for run_no in range(prof["reg_runs"]):
        order = stores if run_no % 2 == 0 else stores[::-1]
        for size, dm in order:
            quiesce_proc(dm.proc)
            label = "5-connect-%d" % size
            args = env.target_iot("es256", port=dm.mqtt) + ["-n", str(n), "--concurrency", "32", "--settle", "1.5"] \
                + env.common(iot_pid=dm.proc.pid)
            res = measured(env, args, label, iot=dm.proc)
            res["_store_devices"] = size
            out.append(res)
            log("%s run %d: %d/%d up, %.0f us per connect" % (
                label, run_no, res["connected"], n, res["cpu"]["connect"]["iotcored_us"] / max(1, res["connected"])))
        for size, dm in order:
            quiesce_proc(dm.proc)
            rec = rest_create(env, dm, prof["reg_create"], "cr%d-" % run_no)
            rec.update(label="5-create-%d" % size, store_devices=size)
            extra.append(rec)
            log("%s: %d REST creates at %.0f/s, %.0f us daemon CPU each" % (
                dm.name, rec["created"], rec["rate"], rec["daemon_cpu_us"]))
    for size, dm in stores:
        env.stop_proc(dm.proc)


def quiesce_proc(p, limit=5.0):
    deadline = time.monotonic() + limit
    time.sleep(0.3)
    while time.monotonic() < deadline:
        c0 = cpu_us(p.pid)
        time.sleep(0.3)
        if cpu_us(p.pid) - c0 <= 10000:
            return


# ---- scenario 6: auth cost per scheme (bytes on the wire, round trips)

S6_REPS = 3                             # connections per cell (full + resumed each); bytes barely vary
S6_DEVICES = 8                          # Google devices per key provisioned when scenario 6 runs alone
S6_SERVER_KEYS = (("ecdsa", "ECDSA P-256"), ("rsa", "RSA-2048"))
S6_TLS = (("1.3", "TLSv1_3"), ("1.2", "TLSv1_2"))
# key, row text, scenario 1's labels (full handshake, resumption offered) for the CPU column
S6_SCHEMES = (
    ("iot-es256", "iotcored, Google JWT ES256 (password)", "1-iot-es256", "1r-iot-es256-resume"),
    ("iot-rs256", "iotcored, Google JWT RS256 (password)", "1-iot-rs256", None),
    ("iot-x509-rsa", "iotcored, AWS mTLS, RSA-2048 client certificate", "1-iot-x509-rsa", "1r-iot-x509-rsa-resume"),
    ("iot-x509-ec", "iotcored, AWS mTLS, ECDSA P-256 client certificate", "1-iot-x509-ec", "1r-iot-x509-ec-resume"),
    ("mosq-password", "Mosquitto alone, TLS + username/password", "1-mosq-tls-password",
     "1r-mosq-tls-password-resume"),
    ("mosq-x509-rsa", "Mosquitto alone, mTLS, RSA-2048 client certificate", "1-mosq-x509-rsa",
     "1r-mosq-x509-rsa-resume"),
    ("mosq-x509-ec", "Mosquitto alone, mTLS, ECDSA P-256 client certificate", "1-mosq-x509-ec",
     "1r-mosq-x509-ec-resume"),
)
CONNACK_CODES = {1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
                 4: "bad user name or password", 5: "not authorized"}
TLS_CONTENT = {20: "ccs", 21: "alert", 22: "handshake", 23: "data"}


def mqtt_connect_packet(client_id, username=None, password=None, keepalive=60):
    """MQTT 3.1.1 CONNECT, clean session."""
    import struct

    def s(x):
        b = x.encode() if isinstance(x, str) else x
        return struct.pack("!H", len(b)) + b
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = s("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + s(client_id)
    if username is not None:
        body += s(username)
    if password is not None:
        body += s(password)
    n, rl = len(body), b""
    while True:
        n, d = n >> 7, n & 0x7F
        rl += bytes([d | (0x80 if n else 0)])
        if not n:
            break
    return b"\x10" + rl + body


def tls_records(data):
    """[(content type, record length incl. the 5-byte header)] of whole records."""
    out, i = [], 0
    while i + 5 <= len(data):
        n = 5 + int.from_bytes(data[i + 3:i + 5], "big")
        out.append((TLS_CONTENT.get(data[i], str(data[i])), n))
        i += n
    return out


def auth_cost_connect(ctx, port, packet, session=None, want_session=False, timeout=10.0):
    """One device connection over a plain socket with ssl.SSLObject on memory
    BIOs, from the ClientHello to the CONNACK. Counts the TLS record bytes
    sent and received (TCP payload, no TCP/IP headers) and the round trips:
    each time the client blocks waiting for the server after having sent
    something since it last blocked (a flight), up to and including the
    CONNACK. Received bytes are fed to TLS one whole record at a time, so the
    count stops exactly at the record that carried the CONNACK. The client
    flushes lazily: its Finished and the CONNECT go out together."""
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inb, outb, server_hostname="localhost", session=session)
    # flights: per round trip, what the client sent before that wait and
    # what it then received.
    st = {"c2s": 0, "s2c": 0, "round_trips": 0, "flights": [], "records": [], "after_connack_s2c": 0}
    raw = bytearray()
    pending = [0]                       # bytes sent since the client last waited

    def flush():
        data = outb.read()
        if data:
            sock.sendall(data)
            st["c2s"] += len(data)
            st["records"] += [["c", t, n] for t, n in tls_records(data)]
            pending[0] += len(data)

    def whole_record():
        return len(raw) >= 5 and len(raw) >= 5 + int.from_bytes(raw[3:5], "big")

    def feed(count=True):
        """Feeds the next whole server record to TLS, blocking for it if needed."""
        while not whole_record():
            flush()
            if pending[0] and count:    # a new wait for the server: one more round trip
                st["round_trips"] += 1
                st["flights"].append({"c2s": pending[0], "s2c": 0})
                pending[0] = 0
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            raw.extend(chunk)
        n = 5 + int.from_bytes(raw[3:5], "big")
        rec = bytes(raw[:n])
        del raw[:n]
        inb.write(rec)
        if count:
            st["s2c"] += n
            st["flights"][-1]["s2c"] += n
            st["records"].append(["s", TLS_CONTENT.get(rec[0], str(rec[0])), n])
        else:
            st["after_connack_s2c"] += n

    result = None
    try:
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                feed()
        obj.write(packet)
        buf = b""
        while len(buf) < 4:
            try:
                d = obj.read(4 - len(buf))
                if not d:
                    raise ConnectionError("closed by server (close_notify)")
                buf += d
            except ssl.SSLWantReadError:
                feed()
        if buf[0] != 0x20:
            result = "not a CONNACK (0x%02x)" % buf[0]
        elif buf[3] != 0:
            result = "refused: CONNACK %d (%s)" % (buf[3], CONNACK_CODES.get(buf[3], "?"))
        else:
            result = "CONNACK 0"
        st["ms"] = (time.monotonic() - t0) * 1000.0
        if want_session and result == "CONNACK 0" and not (obj.session and obj.session.has_ticket):
            # Tickets not in before the CONNACK: wait briefly for them (not counted).
            sock.settimeout(0.5)
            try:
                while not (obj.session and obj.session.has_ticket):
                    try:
                        obj.read(1)
                    except ssl.SSLWantReadError:
                        feed(count=False)
            except (OSError, ssl.SSLError, ConnectionError):
                pass
    except ssl.SSLError as e:
        result = "TLS error: %s" % (e.reason or e)
    except (OSError, ConnectionError) as e:
        result = "%s" % e
    st.update(result=result, ok=result == "CONNACK 0", version=obj.version(),
              cipher=obj.cipher()[0] if obj.cipher() else None, resumed=bool(obj.session_reused))
    st["session"] = obj.session if st["ok"] else None
    st.setdefault("ms", (time.monotonic() - t0) * 1000.0)
    try:
        if st["ok"]:
            obj.write(b"\xe0\x00")      # DISCONNECT, then close
            data = outb.read()
            if data:
                sock.sendall(data)
    except (OSError, ssl.SSLError):
        pass
    sock.close()
    return st


def s6_jwt(key_path, alg):
    import jwt
    now = int(time.time())
    with open(key_path, "rb") as f:
        key = f.read()
    tok = jwt.encode({"iat": now, "exp": now + 3600, "aud": PROJECT}, key, algorithm=alg)
    return tok if isinstance(tok, str) else tok.decode()


def der_len(pem_path):
    with open(pem_path) as f:
        return len(ssl.PEM_cert_to_DER_cert(f.read()))


def s6_targets(env, rsa_iot):
    """{(scheme, server key): (port, client cert or None, key or None, packet maker(i))} for what
    this run has (the mTLS schemes only with the AWS certificates)."""
    google = "projects/%s/locations/%s/registries/%s/devices/%%s" % (PROJECT, LOCATION, REGISTRY)
    ports = {"ecdsa": {"iot": env.iot_mqtt, "pw": env.mq_tls, "mtls": env.mq_mtls},
             "rsa": {"iot": rsa_iot.mqtt if rsa_iot else None, "pw": env.mq_tls_rsa, "mtls": env.mq_mtls_rsa}}
    out = {}
    try:
        import jwt  # noqa: F401
        env.s6_why = None
    except ImportError as e:
        env.s6_why = "JWT rows skipped: python3-jwt not importable (%s): apt-get install python3-jwt" % e
        log(env.s6_why)
    for sk, _ in S6_SERVER_KEYS:
        pt = ports[sk]
        if not env.s6_why:
            out[("iot-es256", sk)] = (pt["iot"], None, None, lambda i: mqtt_connect_packet(
                google % ("es-%d" % i), "unused", s6_jwt(env.es_key, "ES256")))
            out[("iot-rs256", sk)] = (pt["iot"], None, None, lambda i: mqtt_connect_packet(
                google % ("rs-%d" % i), "unused", s6_jwt(env.rs_key, "RS256")))
        out[("mosq-password", sk)] = (pt["pw"], None, None, lambda i: mqtt_connect_packet(
            "pw-%d" % i, BENCH_USER, BENCH_PASSWORD))
        for kind, prefix, _, _ in X509_KINDS:
            if kind not in env.x509:
                continue
            cert, key = env.x509[kind]
            out[("iot-x509-%s" % kind, sk)] = (pt["iot"], cert, key,
                                               lambda i, p=prefix: mqtt_connect_packet("%s%d" % (p, i)))
            out[("mosq-x509-%s" % kind, sk)] = (pt["mtls"], cert, key,
                                                lambda i, p=prefix: mqtt_connect_packet("%s%d" % (p, i)))
    return {k: v for k, v in out.items() if v[0]}


def scenario_auth_cost(env, extra):
    """Scenario 6: per scheme, server key and TLS version, one connection
    with a full handshake and then one resuming its session (the ticket from
    that first connection of the same client), S6_REPS times; bytes and round
    trips from the ClientHello to the CONNACK. The RSA-2048 server key is
    served by Mosquitto's extra listeners and by a second iotcored on a copy
    of the first one's data dir (same devices, CA and certificates; its own
    upstream client ids), stopped at the end."""
    # The clone: the store can only be copied with its daemon stopped.
    env.stop_proc(env.iot)
    rsa_dir = os.path.join(env.dir, "iotcored-rsa")
    shutil.rmtree(rsa_dir, ignore_errors=True)
    os.makedirs(rsa_dir)
    shutil.copytree(env.data, os.path.join(rsa_dir, "data"), ignore=shutil.ignore_patterns("ports.json"))
    env.start_iotcored()
    rsa_iot = env.launch_iotcored("iotcored-rsa", cert=env.srv_rsa_cert, key=env.srv_rsa_key,
                                  upstream_extra=' client_id_prefix = "iotcored-rsa/"; '
                                                 'service_client_id = "iotcored-service-rsa";')
    env.rsa_iot_conf = rsa_iot.conf
    log("scenario 6: iotcored-rsa pid %d (mqtts %d); Mosquitto RSA listeners %s (password), %s (mTLS)" % (
        rsa_iot.proc.pid, rsa_iot.mqtt, env.mq_tls_rsa, env.mq_mtls_rsa))
    try:
        targets = s6_targets(env, rsa_iot)
        for (sk, sk_text), (tls, tls_attr) in [(a, b) for a in S6_SERVER_KEYS for b in S6_TLS]:
            dev = 2 * [k for k, _ in S6_SERVER_KEYS].index(sk) + [t for t, _ in S6_TLS].index(tls)
            for scheme, what, _, _ in S6_SCHEMES:
                if (scheme, sk) not in targets:
                    continue
                port, cert, key, packet = targets[(scheme, sk)]
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(env.ca)
                ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, tls_attr)
                if cert:
                    ctx.load_cert_chain(cert, key)
                label = "6-%s-%s-tls%s" % (scheme, sk, tls.replace(".", ""))
                for rep in range(S6_REPS):
                    full = auth_cost_connect(ctx, port, packet(dev), want_session=True)
                    runs = [("full", full)]
                    if full["ok"] and full["session"]:
                        runs.append(("resumed", auth_cost_connect(ctx, port, packet(dev), session=full["session"])))
                    for mode, st in runs:
                        st.pop("session", None)
                        st.update(label=label, kind="authcost", scheme=scheme, scheme_text=what, server_key=sk,
                                  server_key_text=sk_text, tls=tls, mode=mode, rep=rep, port=port, device=dev)
                        extra.append(st)
                    res = runs[-1][1] if len(runs) > 1 else None
                    log("%s rep %d: full %s, %d -> %d B, %d round trips%s" % (
                        label, rep, full["result"], full["c2s"], full["s2c"], full["round_trips"],
                        "; resumed%s %s, %d -> %d B, %d round trips" % (
                            "" if res["resumed"] else " (NOT reused)", res["result"], res["c2s"], res["s2c"],
                            res["round_trips"]) if res else "; no session to resume"))
        # The rows pin one TLS version. A client offering 1.2 and 1.3 (the usual
        # default) sends a larger ClientHello, and Python's default options
        # include OpenSSL's padding extension (SSL_OP_TLSEXT_PADDING, 0x10 in
        # SSL_OP_ALL: a ClientHello of 256-511 B is padded to 512 B): measured
        # once each against Mosquitto's password listener, for the method text.
        env.s6_hello = []
        for what, pad in (("with Python's default options (they include OpenSSL's padding extension)", True),
                          ("without the padding extension", False)):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(env.ca)
            if not pad:
                ctx.options &= ~0x10
            pkt = mqtt_connect_packet("pw-0", BENCH_USER, BENCH_PASSWORD)
            full = auth_cost_connect(ctx, env.mq_tls, pkt, want_session=True)
            res = auth_cost_connect(ctx, env.mq_tls, pkt, session=full["session"]) if full["session"] else None
            for mode, st in (("full", full), ("resumed", res)):
                if not st:
                    continue
                st.pop("session", None)
                st.update(label="6-clienthello-%s" % ("padded" if pad else "unpadded"), kind="authcost-hello",
                          what=what, mode=mode, hello=st["records"][0][2] if st["records"] else None)
                extra.append(st)
            env.s6_hello.append((what, full, res))
            log("ClientHello offering TLS 1.2 and 1.3 %s: %s B full (%s), %s B resumed" % (
                what, full["records"][0][2] if full["records"] else "-", full["version"],
                res["records"][0][2] if res and res["records"] else "-"))
    finally:
        env.stop_proc(rsa_iot.proc)
    env.s6_sizes = {
        "server cert ECDSA P-256": der_len(env.srv_cert), "server cert RSA-2048": der_len(env.srv_rsa_cert),
        "CA cert (never sent)": der_len(env.ca)}
    if not env.s6_why:
        env.s6_sizes.update({"JWT ES256": len(s6_jwt(env.es_key, "ES256")),
                             "JWT RS256": len(s6_jwt(env.rs_key, "RS256"))})
    for kind, _, _, what in X509_KINDS:
        if kind in env.x509:
            env.s6_sizes["client cert %s" % what] = der_len(env.x509[kind][0])
    extra.append({"label": "6-sizes", "kind": "authcost-sizes", "sizes": env.s6_sizes})


def openssl_speed(seconds):
    argv = [OPENSSL, "speed", "-seconds", str(seconds), "ecdsap256", "rsa2048"]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    out = {"argv": argv}
    # Use the ops/s columns: the seconds columns are rounded to 4 decimals.
    for line in r.stdout.splitlines():
        m = re.match(r"\s*rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            out["rsa2048_sign_us"] = 1e6 / float(m.group(1))
            out["rsa2048_verify_us"] = 1e6 / float(m.group(2))
        m = re.match(r"\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            out["p256_sign_us"] = 1e6 / float(m.group(1))
            out["p256_verify_us"] = 1e6 / float(m.group(2))
    return out


# ---------------------------------------------------------------- report

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return ""
    return "%s-%s" % (fmt(min(xs)), fmt(max(xs)))


def fmt(x, nd=None):
    if x is None:
        return "-"
    if nd is not None:
        return "%.*f" % (nd, x)
    ax = abs(x)
    if ax >= 100:
        return "%.0f" % x
    if ax >= 10:
        return "%.1f" % x
    if ax >= 1:
        return "%.2f" % x
    return "%.3f" % x


def by_label(results):
    d = {}
    for r in results:
        d.setdefault(r["label"], []).append(r)
    return d


def per_op(r, phase, who, ops_key):
    ops = ops_key(r)
    v = r["cpu"][phase].get(who + "_us")
    return v / ops if ops and v is not None and v >= 0 else None


def connect_rows(groups):
    rows = []
    def mosq_full(label):
        return med([per_op(r, "connect", "mosquitto", lambda r: r["connected"]) for r in groups.get(label, [])])
    ref_cpu = mosq_full("1-mosq-tls-password")
    order = [("1-iot-es256", "iotcored, JWT ES256, full handshake", True, ref_cpu),
             ("1-iot-rs256", "iotcored, JWT RS256, full handshake", True, ref_cpu),
             ("1-mosq-tls-password", "Mosquitto alone, TLS + password, full handshake", False, ref_cpu)]
    # mTLS rows compare with Mosquitto's mTLS full handshake with the same certificate.
    for kind, _, _, what in X509_KINDS:
        ref_x = mosq_full("1-mosq-x509-%s" % kind)
        order += [("1-iot-x509-%s" % kind, "iotcored, mTLS %s client certificate, full handshake" % what, True,
                   ref_x),
                  ("1-mosq-x509-%s" % kind, "Mosquitto alone, mTLS %s client certificate, full handshake" % what,
                   False, ref_x)]
    order += [("1r-iot-es256-resume", "iotcored, JWT ES256, TLS resumption offered", True, ref_cpu),
              ("1r-mosq-tls-password-resume", "Mosquitto alone, TLS + password, resumption offered", False,
               ref_cpu)]
    for kind, _, _, what in X509_KINDS:
        ref_x = mosq_full("1-mosq-x509-%s" % kind)
        order += [("1r-iot-x509-%s-resume" % kind, "iotcored, mTLS %s, TLS resumption offered" % what, True, ref_x),
                  ("1r-mosq-x509-%s-resume" % kind, "Mosquitto alone, mTLS %s, resumption offered" % what, False,
                   ref_x)]
    for label, what, is_iot, refv in order:
        rs = groups.get(label)
        if not rs:
            continue
        conn = lambda r: r["connected"]
        daemon = med([per_op(r, "connect", "iotcored" if is_iot else "mosquitto", conn) for r in rs])
        upstream = med([per_op(r, "connect", "mosquitto", conn) for r in rs]) if is_iot else None
        total = med([(per_op(r, "connect", "iotcored", conn) or 0) + (per_op(r, "connect", "mosquitto", conn) or 0)
                     for r in rs]) if is_iot else daemon
        client = med([per_op(r, "connect", "client", conn) for r in rs])
        rows.append([what,
                     "%d/%d" % (min(r["connected"] for r in rs), rs[0]["conns"]),
                     "%d" % med([r["resumed"] for r in rs]),
                     fmt(med([r["connect"]["rate"] for r in rs])),
                     fmt(med([r["connect"]["latency"]["p50_ms"] for r in rs])),
                     fmt(med([r["connect"]["latency"]["p99_ms"] for r in rs])),
                     fmt(daemon) + " (" + spread([per_op(r, "connect", "iotcored" if is_iot else "mosquitto", conn)
                                                  for r in rs]) + ")",
                     fmt(upstream) if is_iot else "-",
                     fmt(total),
                     fmt(client),
                     fmt(daemon / refv, 2) if (daemon and refv) else "-",
                     fmt(med([r["_other_cores"] for r in rs]), 2)])
    return rows


TPUT_CASES = [("", 0, "as fast as possible"), ("", 1, "as fast as possible"), ("-5k", 1, "at 5,000 msg/s")]


def tput_rows(groups):
    rows = []
    for suffix, qos, how in TPUT_CASES:
        ref = groups.get("2-mosq-qos%d%s" % (qos, suffix), [])
        ref_cpu = med([per_op(r, "hold", "mosquitto", lambda r: r["publish"]["sent"]) for r in ref])
        for label, what, is_iot in (("2-iot-qos%d%s" % (qos, suffix), "iotcored -> Mosquitto, QoS %d, %s" % (qos, how), True),
                                    ("2-mosq-qos%d%s" % (qos, suffix), "Mosquitto alone (TLS), QoS %d, %s" % (qos, how), False)):
            rs = groups.get(label)
            if not rs:
                continue
            sent = lambda r: r["publish"]["sent"]
            daemon = med([per_op(r, "hold", "iotcored" if is_iot else "mosquitto", sent) for r in rs])
            upstream = med([per_op(r, "hold", "mosquitto", sent) for r in rs]) if is_iot else None
            total = med([(per_op(r, "hold", "iotcored", sent) or 0) + (per_op(r, "hold", "mosquitto", sent) or 0)
                         for r in rs]) if is_iot else daemon
            rows.append([what,
                         fmt(med([r["publish"]["sent"] for r in rs]), 0),
                         fmt(med([r["e2e"]["rate"] for r in rs])),
                         "%d / %d" % (max(r["e2e"]["lost"] for r in rs), max(r["e2e"]["dup"] for r in rs)),
                         str(max(r["e2e"]["lost_acked"] for r in rs)) if qos == 1 else "-",
                         fmt(daemon) + " (" + spread([per_op(r, "hold", "iotcored" if is_iot else "mosquitto", sent)
                                                      for r in rs]) + ")",
                         fmt(upstream) if is_iot else "-",
                         fmt(total),
                         fmt(daemon / ref_cpu, 2) if (daemon and ref_cpu) else "-",
                         fmt(total / ref_cpu, 2) if (total and ref_cpu) else "-",
                         fmt(med([r["e2e"]["latency"]["p50_ms"] for r in rs])),
                         fmt(med([r["e2e"]["latency"]["p99_ms"] for r in rs])),
                         fmt(med([r["_other_cores"] for r in rs]), 2)])
    return rows


def latency_rows(groups, rates):
    """Rows per rate and path; d maps each label to its (p50, p99) medians."""
    rows = []
    d = {}
    for rate in rates:
        for server, what in (("iot", "iotcored -> Mosquitto"), ("mosq", "Mosquitto alone (TLS)")):
            label = lat_label(server, rate)
            rs = groups.get(label)
            if not rs:
                continue
            lat = lambda k: med([r["e2e"]["latency"][k] for r in rs])
            d[label] = (lat("p50_ms"), lat("p99_ms"))
            sent = lambda r: r["publish"]["sent"]
            rows.append([count(rate), what,
                         fmt(med([r["e2e"]["rate"] for r in rs])),
                         "%d / %d" % (max(r["e2e"]["lost"] for r in rs), max(r["e2e"]["dup"] for r in rs)),
                         fmt(lat("p50_ms")), fmt(lat("p99_ms")) + " ("
                         + spread([r["e2e"]["latency"]["p99_ms"] for r in rs]) + ")",
                         fmt(med([r["e2e"]["latency"]["max_ms"] for r in rs])),
                         fmt(med([r["publish"]["ack_latency"]["p99_ms"] for r in rs])),
                         fmt(med([per_op(r, "hold", "iotcored" if server == "iot" else "mosquitto", sent)
                                  for r in rs])),
                         fmt(med([r["_other_cores"] for r in rs]), 2)])
    return rows, d


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def versions(env):
    def first_line(argv):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=10)
            return r.stdout.strip().splitlines()[0]
        except Exception as e:
            return "unknown (%s)" % e
    git = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"], stdout=subprocess.PIPE, text=True).stdout
    lws = first_line(["pkg-config", "--modversion", "libwebsockets"])
    return {
        "iotcored": "%s (git %s%s), %s" % (first_line([env.iotcored_bin, "--version"]), git,
                                          ", uncommitted changes in the tree" if dirty.strip() else "",
                                          env.build),
        "mosquitto": first_line([MOSQUITTO, "-h"]),
        "openssl": first_line([OPENSSL, "version"]),
        "libwebsockets": lws,
        "kernel": platform.release(),
    }


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": "%.1f" % (int(mem) / 1048576.0)}


def count(n):
    """2,000 / 100,000 / 1M, for labels."""
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    return "{:,}".format(n)


def rss_delta(r, who):
    """VmRSS growth of `who` over a run, KiB per connected device (end of hold
    minus before the connect phase)."""
    x = r.get("rss_kib", {}).get(who)
    if not x or x["end"] < 0 or x["before"] < 0 or not r["connected"]:
        return None
    return (x["end"] - x["before"]) / r["connected"]


def idle_ms_per_s(r, who):
    h = r["cpu"]["hold"]
    v = h.get(who + "_us")
    return v / 1000.0 / h["wall_s"] if v is not None and v >= 0 and h["wall_s"] > 0 else None


def memory_summary(groups, sizes):
    """{(n, 'iot'|'mosq'): dict of medians} for scenario 4."""
    d = {}
    for n in sizes:
        for kind, who in (("iot", "iotcored"), ("mosq", "mosquitto")):
            rs = groups.get("4-%s-%d" % (kind, n))
            if not rs:
                continue
            e = {"runs": rs, "who": who,
                 "per_dev": med([rss_delta(r, who) for r in rs]),
                 "per_dev_all": [rss_delta(r, who) for r in rs],
                 "before_mib": med([r["rss_kib"][who]["before"] / 1024.0 for r in rs]),
                 "end_mib": med([r["rss_kib"][who]["end"] / 1024.0 for r in rs]),
                 "idle": med([idle_ms_per_s(r, who) for r in rs]),
                 "idle_all": [idle_ms_per_s(r, who) for r in rs],
                 "delta_kib": med([r["rss_kib"][who]["end"] - r["rss_kib"][who]["before"] for r in rs])}
            if kind == "iot":
                e["up_per_dev"] = med([rss_delta(r, "mosquitto") for r in rs])
                e["up_idle"] = med([idle_ms_per_s(r, "mosquitto") for r in rs])
                e["up_delta_kib"] = med([r["rss_kib"]["mosquitto"]["end"] - r["rss_kib"]["mosquitto"]["before"]
                                         for r in rs])
            d[(n, kind)] = e
    return d


def memory_rows(groups, sizes):
    ms = memory_summary(groups, sizes)
    rows = []
    for n in sizes:
        ref = ms.get((n, "mosq"))
        for kind, what in (("iot", "iotcored (JWT ES256) -> Mosquitto"), ("mosq", "Mosquitto alone (TLS + password)")):
            e = ms.get((n, kind))
            if not e:
                continue
            rs = e["runs"]
            is_iot = kind == "iot"
            tot = (e["per_dev"] or 0) + (e.get("up_per_dev") or 0) if is_iot else e["per_dev"]
            refv = ref["per_dev"] if ref else None
            rows.append(["%s, %s devices" % (what, count(n)),
                         "%d/%d" % (min(min(r["connected"], r["up_at_end"]) for r in rs), n),
                         str(mem_sources(n)),
                         fmt(e["before_mib"]), fmt(e["end_mib"]),
                         fmt(e["per_dev"]) + " (" + spread(e["per_dev_all"]) + ")",
                         fmt(e.get("up_per_dev")) if is_iot else "-",
                         fmt(tot),
                         fmt(e["per_dev"] / refv, 2) if (e["per_dev"] and refv) else "-",
                         fmt(tot / refv, 2) if (is_iot and tot and refv) else "-",
                         fmt(e["idle"]) + " (" + spread(e["idle_all"]) + ")",
                         fmt(e.get("up_idle")) if is_iot else "-",
                         fmt(e["idle"] * 1000.0 / n) if e["idle"] is not None else "-",
                         fmt(med([r["_other_cores"] for r in rs]), 2)])
    return rows, ms


def registry_tables(groups, extra, sizes):
    """Scenario 5's four tables (import, start-up, connect lookup, REST create)."""
    out = {}
    by = lambda kind, key, n: [e for e in extra if e["kind"] == kind and e.get(key) == n]
    rows = []
    for n in sizes:
        for e in by("import", "store_devices", n):
            rows.append([count(n), str(e["requests"]), fmt(e["body_mib"]), fmt(e["wall_s"]), fmt(e["rate"]),
                         fmt(e["daemon_cpu_s"]), fmt(e["store_mib"]), fmt(e["rss_kib"] / 1024.0)])
    out["import"] = rows
    rows = []
    empty = [e for e in extra if e["kind"] == "startup" and e["devices"] == 0]
    if empty:
        ms = [e["startup_s"] * 1000 for e in empty]
        rows.append(["empty (before each import)", str(len(ms)), fmt(med(ms)) + " (" + spread(ms) + ")",
                     fmt(med([e["rss_kib"] / 1024.0 for e in empty]))])
    for n in sizes:
        es = [e for e in extra if e["kind"] == "startup" and e["devices"] == n]
        if es:
            ms = [e["startup_s"] * 1000 for e in es]
            rows.append([count(n), str(len(ms)), fmt(med(ms)) + " (" + spread(ms) + ")",
                         fmt(med([e["rss_kib"] / 1024.0 for e in es]))])
    out["startup"] = rows
    rows = []
    conn = lambda r: r["connected"]
    ref = med([per_op(r, "connect", "iotcored", conn) for r in groups.get("5-connect-%d" % sizes[0], [])])
    out["connect"] = {}
    for n in sizes:
        rs = groups.get("5-connect-%d" % n)
        if not rs:
            continue
        v = med([per_op(r, "connect", "iotcored", conn) for r in rs])
        out["connect"][n] = v
        rows.append([count(n), "%d/%d" % (min(r["connected"] for r in rs), rs[0]["conns"]),
                     fmt(med([r["connect"]["rate"] for r in rs])),
                     fmt(med([r["connect"]["latency"]["p50_ms"] for r in rs])),
                     fmt(med([r["connect"]["latency"]["p99_ms"] for r in rs])),
                     fmt(v) + " (" + spread([per_op(r, "connect", "iotcored", conn) for r in rs]) + ")",
                     ("%+.0f" % (v - ref)) if (v is not None and ref is not None) else "-",
                     fmt(v / ref, 2) if (v and ref) else "-",
                     fmt(med([per_op(r, "connect", "mosquitto", conn) for r in rs])),
                     fmt(med([r["_other_cores"] for r in rs]), 2)])
    out["connect_rows"] = rows
    rows = []
    for n in sizes:
        es = by("create", "store_devices", n)
        if es:
            rates = [e["rate"] for e in es]
            rows.append([count(n), "%d x %d" % (len(es), es[0]["devices"]), fmt(med(rates)) + " (" + spread(rates) + ")",
                         fmt(med([e["daemon_cpu_us"] for e in es]))])
    out["create"] = rows
    return out


def goal_lines(groups, lat, mem_sizes=(), mtls_why=None):
    """Each issue-6 goal this part measures: met, missed, or not measured."""
    lines = []
    def m(label, phase, who, ops):
        return med([per_op(r, phase, who, ops) for r in groups.get(label, [])])
    conn = lambda r: r["connected"]
    sent = lambda r: r["publish"]["sent"]
    mq = m("1-mosq-tls-password", "connect", "mosquitto", conn)
    for label, name in (("1-iot-es256", "JWT ES256"), ("1-iot-rs256", "JWT RS256")):
        v = m(label, "connect", "iotcored", conn)
        if v and mq:
            lines.append("- daemon CPU per %s connect <= Mosquitto's per TLS+password connect: **%s** "
                         "(%s us vs %s us, ratio %.2f)" % (name, "met" if v <= mq else "missed", fmt(v), fmt(mq),
                                                           v / mq))
    v = m("1r-iot-es256-resume", "connect", "iotcored", conn)
    if v and mq:
        res = med([r["resumed"] for r in groups.get("1r-iot-es256-resume", [])])
        lines.append("- with resumption <= 0.3x: **%s** (%s us, ratio %.2f against Mosquitto's full handshake; "
                     "%s of the connects resumed)" % ("met" if v <= 0.3 * mq else "missed", fmt(v), v / mq, fmt(res)))
    else:
        lines.append("- with resumption <= 0.3x: not measured in this mode")
    got_mtls = False
    for kind, _, how, what in X509_KINDS:
        v = m("1-iot-x509-%s" % kind, "connect", "iotcored", conn)
        ref = m("1-mosq-x509-%s" % kind, "connect", "mosquitto", conn)
        if not (v and ref):
            continue
        got_mtls = True
        vr = m("1r-iot-x509-%s-resume" % kind, "connect", "iotcored", conn)
        rr = m("1r-mosq-x509-%s-resume" % kind, "connect", "mosquitto", conn)
        resumed = "; resumption offered: %s us vs %s us, %.2fx of Mosquitto's full mTLS handshake" % (
            fmt(vr), fmt(rr), vr / ref) if (vr and rr) else ""
        lines.append("- daemon CPU per mTLS connect <= Mosquitto's (%s client certificate, %s): **%s** (%s us vs "
                     "%s us, ratio %.2f%s)" % (what, how.split(" (")[0], "met" if v <= ref else "missed", fmt(v),
                                               fmt(ref), v / ref, resumed))
    if not got_mtls:
        lines.append("- daemon CPU per mTLS connect <= Mosquitto's: not measured in this run%s" % (
            " (%s)" % mtls_why if mtls_why else ""))
    for suffix, how in (("", "as fast as possible"), ("-5k", "at 5,000 msg/s")):
        q1 = m("2-iot-qos1" + suffix, "hold", "iotcored", sent)
        q1m = m("2-mosq-qos1" + suffix, "hold", "mosquitto", sent)
        if q1 and q1m:
            tot = med([(per_op(r, "hold", "iotcored", sent) or 0) + (per_op(r, "hold", "mosquitto", sent) or 0)
                       for r in groups.get("2-iot-qos1" + suffix, [])])
            lines.append("- daemon CPU per forwarded QoS 1 message <= Mosquitto's per message (%s): **%s** (%s us vs "
                         "%s us, ratio %.2f; with the upstream Mosquitto's share the iotcored path costs %s us, "
                         "%.2fx)" % (how, "met" if q1 <= q1m else "missed", fmt(q1), fmt(q1m), q1 / q1m, fmt(tot),
                                     tot / q1m))
    if "3-iot-1k" in lat and "3-mosq-1k" in lat:
        added = lat["3-iot-1k"][1] - lat["3-mosq-1k"][1]
        diffs = [a["e2e"]["latency"]["p99_ms"] - b["e2e"]["latency"]["p99_ms"]
                 for a, b in zip(groups["3-iot-1k"], groups["3-mosq-1k"])]
        pairs = [("+" if d >= 0 else "") + fmt(d) for d in diffs]
        other = med([r["_other_cores"] for r in groups["3-iot-1k"] + groups["3-mosq-1k"]])
        caveat = ""
        if other is not None and other > 0.5:
            caveat = "; other processes used %s cores during these runs, so the tails are mostly noise: " \
                     "indicative only" % fmt(other, 2)
        lines.append("- added p99 <= 1 ms at 1k msg/s: **%s** (p99 %s ms through iotcored vs %s ms direct: "
                     "%s%s ms; per round %s ms%s)" % ("met" if added <= 1.0 else "missed", fmt(lat["3-iot-1k"][1]),
                                                      fmt(lat["3-mosq-1k"][1]), "+" if added >= 0 else "",
                                                      fmt(added), ", ".join(pairs), caveat))
    if "3-iot-10k" in lat and "3-mosq-10k" in lat:
        added = lat["3-iot-10k"][1] - lat["3-mosq-10k"][1]
        lines.append("- added p99 at 10k msg/s (no goal; the issue asks for the figure): %s%s ms (p99 %s ms through "
                     "iotcored vs %s ms direct)" % ("+" if added >= 0 else "", fmt(added), fmt(lat["3-iot-10k"][1]),
                                                    fmt(lat["3-mosq-10k"][1])))
    ms = memory_summary(groups, mem_sizes)
    got = [n for n in mem_sizes if (n, "iot") in ms and (n, "mosq") in ms
           and ms[(n, "iot")]["per_dev"] and ms[(n, "mosq")]["per_dev"]]
    if got:
        parts = []
        for n in got:
            i, q = ms[(n, "iot")], ms[(n, "mosq")]
            tot = i["per_dev"] + (i.get("up_per_dev") or 0)
            parts.append("%s devices: %s KiB vs %s KiB, ratio %.2f; with the upstream Mosquitto's growth %s KiB, "
                         "%.2fx" % (count(n), fmt(i["per_dev"]), fmt(q["per_dev"]), i["per_dev"] / q["per_dev"],
                                    fmt(tot), tot / q["per_dev"]))
        verdicts = set("met" if ms[(n, "iot")]["per_dev"] <= ms[(n, "mosq")]["per_dev"] else "missed" for n in got)
        lines.append("- RSS per idle TLS device <= Mosquitto's: **%s** (%s; 10k and 50k devices cannot be reached "
                     "under this container's descriptor limit, see scenario 4)" % (
                         "/".join(sorted(verdicts)), "; ".join(parts)))
    else:
        lines.append("- RSS per idle TLS device <= Mosquitto's: not measured in this run (scenario 4)")
    return lines


def hold_drift(groups, sizes, key):
    """Largest |end - key| of the servers' VmRSS in scenario 4, KiB per device."""
    worst = 0.0
    for n in sizes:
        for kind in ("iot", "mosq"):
            for r in groups.get("4-%s-%d" % (kind, n), []):
                for who, x in r.get("rss_kib", {}).items():
                    if x["end"] >= 0 and x[key] >= 0 and r["connected"]:
                        worst = max(worst, abs(x["end"] - x[key]) / r["connected"])
    return fmt(worst)


def port_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return "-".join(f.read().split())
    except OSError:
        return "unknown"


def memory_section(prof, groups):
    sizes = prof["mem_sizes"]
    rows, ms = memory_rows(groups, sizes)
    hard = fd_hard_limit()
    L = []
    L.append("## Scenario 4: memory and idle CPU, %s idle TLS devices held %d s (keepalive 60)" % (
        " and ".join(count(n) for n in sizes), prof["mem_hold"]))
    L.append("")
    L.append(table(["case", "up (held to the end)", "sources", "server RSS before MiB", "RSS held MiB",
                    "server KiB/device (min-max)", "upstream Mosquitto KiB/device", "sum KiB/device",
                    "daemon ratio", "sum ratio", "server idle CPU ms/s (min-max)", "upstream Mosquitto idle ms/s",
                    "idle us/s per device", "other load"], rows))
    L.append("")
    L.append("KiB/device = (VmRSS at the end of the %d s hold, all devices connected and idle - VmRSS just before "
             "the connect phase) / devices up. VmRSS comes from `/proc/PID/status`, read by the loadgen (`--watch`) "
             "before connecting, at the start of the hold (after the 1.5 s settle), every second during it and at "
             "its end (the end value is used; between the start of the hold and its end the servers' RSS moved by "
             "at most %s KiB per device, the per-second maximum exceeded the end value by at most %s KiB per "
             "device). Each case runs in a freshly "
             "started Mosquitto and iotcored (the device store is kept), so neither allocator has already grown for "
             "an earlier run's connections; RSS before is that fresh process. **The bridge's cost includes the "
             "upstream Mosquitto's growth**: through iotcored each device also holds a plain-TCP MQTT session in "
             "Mosquitto (column upstream, and the sum). Kernel socket buffers are in neither process's RSS. Ratios "
             "divide by Mosquitto alone's KiB/device at the same size. Idle CPU = utime+stime during the hold / "
             "hold seconds (ms of CPU per second = thousandths of a core); the loadgen pings at half the keepalive, "
             "so %s; clock ticks are 10 ms, so the resolution is %.2f ms/s." % (
                 prof["mem_hold"], hold_drift(groups, sizes, "held"), hold_drift(groups, sizes, "max"),
                 "a %d s hold sees about one PINGREQ per device" % prof["mem_hold"] if prof["mem_hold"] >= 30 else
                 "this %d s hold sees none (shorter than the 30 s ping interval)" % prof["mem_hold"],
                 10.0 / prof["mem_hold"]))
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        parts = []
        for kind, name, key in (("iot", "iotcored", "delta_kib"), ("iot", "its upstream Mosquitto", "up_delta_kib"),
                                ("mosq", "Mosquitto alone", "delta_kib")):
            ea, eb = ms.get((a, kind)), ms.get((b, kind))
            if ea and eb and ea.get(key) is not None and eb.get(key) is not None:
                parts.append("%s %s KiB" % (name, fmt((eb[key] - ea[key]) / float(b - a))))
        if parts:
            L.append("")
            L.append("Marginal RSS per device between %s and %s devices (difference of the median growths, which "
                     "removes one-time allocations such as the first TLS session or SQLite's page cache): %s." % (
                         count(a), count(b), ", ".join(parts)))
    L.append("")
    L.append("Sizes: this container's hard descriptor limit is %s (`ulimit -Hn`; raising it is not permitted "
             "here), and iotcored holds two descriptors per device (the device's socket and its upstream session), "
             "so it cannot hold more than about %s devices; %s is the largest size run. The issue's 10k and 50k "
             "devices **cannot be reached on this machine**. Devices connect from %s consecutive source addresses "
             "from %s (iotcored admits 1,000 connections per address by default, "
             "`limits.max_connections_per_address`); the upstream sessions come from 127.0.0.1's ephemeral ports "
             "(%s here), enough for %s, not for the issue's 50k." % (
                 count(hard), count(hard // 2 - 50), count(sizes[-1]), "/".join(str(mem_sources(n)) for n in sizes),
                 SOURCES[0], port_range(), count(sizes[-1])))
    L.append("")
    return L


def registry_section(prof, groups, extra):
    sizes = prof["reg_sizes"]
    t = registry_tables(groups, extra, sizes)
    L = []
    L.append("## Scenario 5: registry scale (%s devices)" % ", ".join(count(n) for n in sizes))
    L.append("")
    L.append("One iotcored per store size (own data dir and store, same Mosquitto upstream, same config as above), "
             "filled through the bulk import route (`POST /v1/projects/%s/locations/%s:importDevices`, NDJSON: a "
             "registry line then one `{\"registry\": ..., \"device\": {\"id\": \"es-N\", \"credentials\": "
             "[ES256_PEM]}}` line per device, one shared ES256 key, device ids in a shuffled order so that the "
             "rows of the devices connected later are spread over the table). The route caps a body at 256 MiB, so "
             "imports go in requests of at most %s devices, each one transaction." % (
                 PROJECT, LOCATION, count(prof["reg_chunk"])))
    L.append("")
    L.append("Import (wall time from the first request sent to the last reply):")
    L.append("")
    L.append(table(["store", "requests", "NDJSON MiB", "import s", "devices/s", "daemon CPU s",
                    "store on disk MiB", "daemon RSS after MiB"], t["import"]))
    L.append("")
    L.append("Start-up (exec to `data_dir/ports.json` appearing, polled every 2 ms; restarts alternate between the "
             "stores; the store files are in the page cache, as on any restart that is not a cold boot):")
    L.append("")
    L.append(table(["store", "starts", "start-up ms (min-max)", "RSS after start MiB"], t["startup"]))
    L.append("")
    L.append("Connect lookup (scenario 1's ES256 case: %s full-handshake connects of devices es-0..es-%d, held; the "
             "stores alternate between rounds; daemon CPU per connect including the 1.5 s settle):" % (
                 count(prof["connect"]), prof["connect"] - 1))
    L.append("")
    L.append(table(["store", "up", "connects/s", "connect p50 ms", "connect p99 ms", "server CPU us/connect (min-max)",
                    "us vs %s" % count(sizes[0]), "ratio vs %s" % count(sizes[0]), "upstream Mosquitto us/connect",
                    "other load"], t["connect_rows"]))
    L.append("")
    L.append("REST create rate (`POST .../registries/%s/devices` one by one over one keep-alive connection, the "
             "loadgen's `--provision` client, after the connect runs; each round adds its devices to every store):" %
             REGISTRY)
    L.append("")
    L.append(table(["store", "runs x devices", "creates/s (min-max)", "daemon CPU us/create"], t["create"]))
    L.append("")
    big = max(sizes)
    imp = [e for e in extra if e["kind"] == "import" and e["store_devices"] == big]
    if big >= 1000000 and imp:
        L.append("The issue's 1M devices: imported in %s s here (%s devices/s), so it is part of the full run." % (
            fmt(imp[0]["wall_s"]), fmt(imp[0]["rate"])))
    elif imp:
        L.append("The issue's 1M devices are not imported in this mode; at the %s devices/s measured for %s, 1M "
                 "would take about %s s." % (fmt(imp[0]["rate"]), count(big), fmt(1e6 / imp[0]["rate"])))
    L.append("")
    return L


def s6_cell(rs, key):
    xs = [r[key] for r in rs]
    v = med(xs)
    txt = "{:,}".format(int(round(v)))
    if min(xs) != max(xs):
        txt += " (%s-%s)" % ("{:,}".format(min(xs)), "{:,}".format(max(xs)))
    return txt


def s6_flights(rs):
    """Per round trip 'client->server/server->client' of the first good run."""
    return ", ".join("%d/%d" % (f["c2s"], f["s2c"]) for f in rs[0]["flights"]) if rs else "-"


def auth_cost_section(env, groups, extra, scen):
    recs = [e for e in extra if e.get("kind") == "authcost"]
    sizes = getattr(env, "s6_sizes", {})
    conn = lambda r: r["connected"]
    have_s1 = 1 in scen and any(l.startswith("1-") for l in groups)

    def s1_cpu(label, is_iot):
        rs = groups.get(label) if label else None
        if not rs:
            return None
        v = med([per_op(r, "connect", "iotcored" if is_iot else "mosquitto", conn) for r in rs])
        if v is None:
            return None
        if is_iot:
            up = med([per_op(r, "connect", "mosquitto", conn) for r in rs])
            return "%s (+%s upstream)" % (fmt(v), fmt(up))
        return fmt(v)

    L = ["## Scenario 6: auth cost per scheme", ""]
    L.append("One device connection per scheme, from the TLS ClientHello to the CONNACK, by a client in `run.py` "
             "(Python `ssl.SSLObject` on memory BIOs over a plain TCP socket to 127.0.0.1, OpenSSL %s; MQTT 3.1.1 "
             "CONNECT encoded by hand, clean session, keepalive 60; SNI `localhost`, no ALPN, the server "
             "certificate verified against the bench CA; X25519 key share, Python's default). **Bytes** are TLS "
             "record bytes, i.e. TCP payload, counted at the socket (no TCP/IP headers, no TCP handshake, which "
             "adds one more round trip before the ClientHello): client->server is every record the client sent "
             "up to its CONNECT; server->client stops at the record that carried the CONNACK (records are fed "
             "to TLS one at a time; TLS 1.3 session tickets the server sends before the CONNACK are included). "
             "**Round trips** count the times the client has to wait for the server before it can go on (it "
             "sent something since it last waited), up to and including the wait for the CONNACK; the client "
             "sends its CONNECT together with its last handshake flight (TLS 1.3: with its Finished; TLS 1.2 "
             "full handshake: after the server's Finished, no False Start; TLS 1.2 resumption: with its "
             "Finished). No 0-RTT early data (Python's `ssl` has none). **Full** = no session offered; "
             "**resumption** = the same client (same `SSLContext`) offers the session ticket it got in the full "
             "handshake just before (each ticket used once). Each cell is %d such pairs (median; (min-max) when "
             "they differ); device ids per server key and TLS version (`es-N`, `rs-N`, `x5r-N`, `x5e-N`, `pw-N`, "
             "N = 0-3). Per round trip: the bytes the client sent before that wait / the bytes it then "
             "received, of the first pair, in order." % (
                 ssl.OPENSSL_VERSION.split()[1], S6_REPS))
    L.append("")
    L.append("Server keys: the ECDSA P-256 server certificate every other scenario uses, and an RSA-2048 one "
             "signed by the same CA (P-256, so both certificates carry an ECDSA signature), served by two more "
             "Mosquitto listeners (TLS + password file, and `require_certificate` like the mTLS one) and by a "
             "second iotcored (`iotcored-rsa`: the same configuration with `tls.cert`/`tls.key` pointing at the "
             "RSA pair and its own `upstream.client_id_prefix = \"iotcored-rsa/\"` and `service_client_id`, on "
             "a copy of the first daemon's data dir, so the same devices, CA, AWS certificates and policy; "
             "stopped after the scenario). Both servers send only their own certificate (no chain).")
    for why in (getattr(env, "s6_why", None), None if env.x509 else "mTLS rows skipped: %s" % env.x509_why):
        if why:
            L.append("")
            L.append(why + ".")
    hello = getattr(env, "s6_hello", [])
    pinned = [e for e in recs if e["scheme"] == "mosq-password" and e["server_key"] == "ecdsa" and e["tls"] == "1.3"
              and e["ok"] and e["records"]]
    if hello and pinned:
        one = lambda st: st["records"][0][2] if st and st["ok"] and st["records"] else None
        pf = med([e["records"][0][2] for e in pinned if e["mode"] == "full"])
        pr = med([e["records"][0][2] for e in pinned if e["mode"] == "resumed"])
        L.append("")
        L.append("ClientHello: the rows pin the TLS version (minimum = maximum), so a TLS 1.3 row's ClientHello "
                 "(%s B record full, %s B resumed) offers 1.3 only. The same client offering TLS 1.2 and 1.3, as "
                 "clients usually do, measured once against Mosquitto's password listener (negotiating %s), "
                 "sends: %s. "
                 "Add the difference to every TLS 1.3 row's client->server bytes for such a client; the server's "
                 "bytes and the round trips do not change." % (
                     fmt(pf, 0), fmt(pr, 0), hello[0][1]["version"],
                     "; ".join("%s, %s B full, %s B resumed" % (what, fmt(one(f), 0), fmt(one(r), 0))
                               for what, f, r in hello)))
    if sizes:
        L.append("")
        L.append("Sizes (DER bytes; JWT characters): " + ", ".join(
            "%s %s" % (k, "{:,}".format(v)) for k, v in sizes.items()) + ".")
    L.append("")
    for tls, _ in S6_TLS:
        rows = []
        cpu_col = have_s1 and tls == "1.3"
        for sk, sk_text in S6_SERVER_KEYS:
            for scheme, what, l_full, l_res in S6_SCHEMES:
                mine = [e for e in recs if e["scheme"] == scheme and e["server_key"] == sk and e["tls"] == tls]
                if not mine:
                    continue
                full = [e for e in mine if e["mode"] == "full" and e["ok"]]
                res_all = [e for e in mine if e["mode"] == "resumed"]
                res = [e for e in res_all if e["ok"] and e["resumed"]]
                bad = sorted(set(e["result"] for e in mine if not e["ok"]))
                if res_all and not res and not bad:
                    bad = ["ticket offered but not accepted (full handshake again)"]
                outcome = "CONNACK 0" if not bad else "; ".join(bad)
                if full and len(full) < len([e for e in mine if e["mode"] == "full"]):
                    outcome += " (%d of %d)" % (len(full), len([e for e in mine if e["mode"] == "full"]))
                row = [what, sk_text]
                row += [s6_cell(full, "c2s"), s6_cell(full, "s2c"), s6_cell(full, "round_trips")] if full \
                    else ["-", "-", "-"]
                row += [s6_cell(res, "c2s"), s6_cell(res, "s2c"), s6_cell(res, "round_trips")] if res \
                    else ["-", "-", "-"]
                row += [outcome, s6_flights(full) + ((" (resumed: %s)" % s6_flights(res)) if res else "")]
                if cpu_col:
                    if sk != "ecdsa":
                        row.append("not measured (scenario 1 uses the ECDSA key)")
                    else:
                        is_iot = scheme.startswith("iot-")
                        a, b = s1_cpu(l_full, is_iot), s1_cpu(l_res, is_iot)
                        row.append("%s; %s" % (a or "-", b or "-"))
                rows.append(row)
        if not rows:
            continue
        L.append("TLS %s%s:" % (tls, " (what devices negotiate by default)" if tls == "1.3" else
                                " (both servers allow it; iotcored's `tls.min_version` is 1.2)"))
        L.append("")
        hdr = ["scheme", "server key", "full: client->server B", "full: server->client B", "full: round trips",
               "resumed: client->server B", "resumed: server->client B", "resumed: round trips", "result",
               "per round trip, client->server/server->client B: full (resumed)"]
        if cpu_col:
            hdr.append("server CPU us/connect, scenario 1 of this run: full; resumption offered")
        L.append(table(hdr, rows))
        L.append("")
    if have_s1:
        L.append("Server CPU per connect is not measured by this scenario: the last column quotes scenario 1 of "
                 "this same run (same schemes, %s connects per run, ECDSA P-256 server key, TLS 1.3, median "
                 "daemon CPU per connect, for iotcored plus the upstream Mosquitto's share; \"resumption "
                 "offered\" rows include the first 32 full handshakes of each run; `-` where scenario 1 has no "
                 "such case in this mode). With the RSA-2048 key the server signs with RSA instead of P-256: "
                 "the floor table's RSA-2048 sign (%s us) against P-256 sign (%s us) is the difference to "
                 "expect per full handshake, not a measurement." % (
                     "{:,}".format(min(r["conns"] for r in groups.get("1-iot-es256", [{"conns": 0}]))),
                     fmt(getattr(env, "speed", {}).get("rsa2048_sign_us")),
                     fmt(getattr(env, "speed", {}).get("p256_sign_us"))))
    else:
        L.append("Server CPU per connect: see scenario 1 (not run in this invocation; it measures the ECDSA "
                 "P-256 server key with TLS 1.3). With the RSA-2048 key the server signs with RSA instead of "
                 "P-256: see the floor table (RSA-2048 sign %s us, P-256 sign %s us), an expectation, not a "
                 "measurement." % (fmt(getattr(env, "speed", {}).get("rsa2048_sign_us")),
                                   fmt(getattr(env, "speed", {}).get("p256_sign_us"))))
    L.append("")
    return L


def fd_hard_limit():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


CARRIED = "*Carried over by `bench/run`"


def hand_notes(path):
    """The "Notes added by hand" section of an existing results file at path
    (analysis written after an earlier run), so rewriting the file keeps it."""
    try:
        with open(path) as f:
            txt = f.read()
    except OSError:
        return None
    i = txt.find("\n## Notes added by hand")
    if i < 0:
        return None
    body = txt[i + 1:].split("\n", 1)[1] if "\n" in txt[i + 1:] else ""
    body = body.strip("\n")
    if body.startswith(CARRIED):            # carried over once already
        body = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    return body.strip("\n")


def write_report(path, prof_name, prof, env, speed, results, started, finished, argv, build_cmds, noise,
                 extra=(), scen=(1, 2, 3), ver=None):
    groups = by_label(results)
    lat_rows, lat = latency_rows(groups, prof["lat_rates"])
    mach = machine()
    ver = ver or versions(env)
    L = []
    L.append("# iotcored vs Mosquitto, %s (%s mode)" % (started.strftime("%Y-%m-%d"), prof_name))
    L.append("")
    L.append("Produced by `%s`; raw loadgen JSON per run in `%s`%s." % (
        " ".join(shlex.quote(a) for a in argv), os.path.basename(path)[:-3] + ".jsonl",
        " (scenario 6: one line per connection, `kind` `authcost`, with every TLS record's type and size)"
        if 6 in scen else ""))
    L.append("Started %s, finished %s (%.1f min)." % (started.strftime("%H:%M:%S"), finished.strftime("%H:%M:%S"),
                                                      (finished - started).total_seconds() / 60))
    L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append("- machine: %s cores (`nproc`), %s, %s GiB RAM, kernel %s" % (mach["nproc"], mach["cpu"],
                                                                          mach["mem_gib"], ver["kernel"]))
    for k in ("iotcored", "mosquitto", "openssl", "libwebsockets"):
        L.append("- %s: %s" % (k, ver[k]))
    L.append("- build: `%s`" % "` && `".join(build_cmds))
    L.append("- noise: the machine is shared (other engineers build and test on the same 2 cores). Column "
             "\"other load\" is the CPU used by processes other than the loadgen, iotcored and Mosquitto during "
             "each run, in cores (median over runs); load average before/after: %s / %s. Rates and latencies "
             "move with it; CPU time per operation much less, which is why the comparison uses it." % noise)
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("- One Mosquitto with %s listeners: plain TCP on 127.0.0.1 (iotcored's upstream and the backend "
             "subscriber) and TLS + password file (devices connecting to Mosquitto alone)%s. Both servers use the "
             "same ECDSA P-256 server certificate from a generated CA (one-link chain), both log warnings only, "
             "both set TCP_NODELAY; Mosquitto `max_queued_messages 1000000`, `max_inflight_messages 100`, no "
             "persistence%s." % (
                 ({2: "two", 3: "three", 4: "four", 5: "five"}[2 + bool(env.mq_mtls) + bool(env.mq_tls_rsa) +
                                                               bool(env.mq_mtls_rsa)]),
                 ", and TLS requiring a client certificate (`require_certificate true`, `cafile` = iotcored's "
                 "`data_dir/ca.pem`, `use_identity_as_username true`, no password file) for the mTLS rows"
                 if env.mq_mtls else "",
                 " (scenario 6 adds the same TLS + password and, with the AWS certificates, `require_certificate` "
                 "listeners with an RSA-2048 server certificate from the same CA)" if env.mq_tls_rsa else ""))
    if env.x509:
        L.append("- mTLS devices (scenarios 1 and 6): AWS-style certificates made through iotcored's AWS control plane "
                 "with botocore (SigV4, `data_dir/aws-credentials`): %s; both ACTIVE, with one allow-all policy "
                 "attached, both signed by iotcored's CA (ECDSA P-256, `data_dir/ca.pem`). One certificate serves "
                 "every connection of a run, with client ids %s (AWS allows that); the loadgen loads it once "
                 "(`--scheme x509 --cert --key`). iotcored identifies the device by the certificate's SHA-256 "
                 "(a verify callback accepts any certificate; no chain building) and checks the policy's "
                 "iot:Connect; Mosquitto builds and checks the chain against the CA and takes the CN as the "
                 "username. Both check CertificateVerify (the device's signature)." % (
                     "; ".join("%s via %s" % (what, how) for kind, _, how, what in X509_KINDS if kind in env.x509),
                     ", ".join("`%sN` (%s)" % (p, what) for kind, p, _, what in X509_KINDS if kind in env.x509)))
    L.append("- iotcored: release build, generated config (port 0 listeners, `data_dir/ports.json`), upstream = "
             "that Mosquitto's plain listener, log level warn, **`google.max_messages_per_second = %d`** and "
             "`google.max_bytes_per_second` (raised from Google's 100/s and 512 KB/s so the throughput runs are "
             "not throttled), other limits at their defaults. Devices "
             "are provisioned through the REST API with one shared key per algorithm." % MAX_MSGS_PER_SECOND)
    if scen & {1, 2, 3, 4, 5}:        # the loadgen's scenarios (6 has its own client)
        L.append("- Load: `iotcored-loadgen` (bench/), one process, epoll + OpenSSL 3, connections spread over "
                 "%d source addresses from %s; each JWT run uses one token minted at start (the server verifies it "
                 "per connect either way)." % (SOURCES[1], SOURCES[0]))
        L.append("- **Server CPU per operation**: utime+stime from `/proc/PID/stat` of iotcored and of Mosquitto, "
                 "sampled by the loadgen at phase boundaries (connect phase including a 1.5 s settle after the last "
                 "CONNACK, so deferred work such as batched last-seen writes is counted; publish phase including the "
                 "drain), divided by successful connects or by messages published. Clock-tick resolution is 10 ms, so "
                 "runs are sized to take seconds of CPU. Through iotcored both processes work: the table shows the "
                 "daemon alone (what the goals compare), the upstream Mosquitto's share, and the sum.")
        L.append("- %d runs per case, interleaved (scenario 1, 2, 3, 4 in turn in each round, and within a scenario "
                 "the server order alternates between rounds; scenario 4 in the first %d rounds, each of its cases "
                 "in freshly started servers; scenario 5 after the rounds, its own cases interleaved); medians "
                 "reported, (min-max) beside the CPU figures." % (prof["runs"], prof["mem_runs"]))
    L.append("")
    L.append("## Floor: `%s`" % " ".join(speed["argv"]))
    L.append("")
    L.append(table(["operation", "us/op (one core)"], [
        ["ECDSA P-256 sign (server side of an ECDSA handshake)", fmt(speed.get("p256_sign_us"))],
        ["ECDSA P-256 verify (ES256 JWT check; an ECDSA client certificate's CertificateVerify; Mosquitto's "
         "chain check of either device certificate, signed by iotcored's P-256 CA)", fmt(speed.get("p256_verify_us"))],
        ["RSA-2048 sign (device side of an RSA mTLS handshake: the loadgen's cost, not the server's%s)" % (
            "; the server's with scenario 6's RSA-2048 server key" if 6 in scen else ""),
         fmt(speed.get("rsa2048_sign_us"))],
        ["RSA-2048 verify (RS256 JWT check; an RSA client certificate's CertificateVerify)",
         fmt(speed.get("rsa2048_verify_us"))],
    ]))
    L.append("")
    # Only the scenarios this invocation ran (a --scenarios 6 file has no empty tables).
    if 1 in scen:
        L.append("## Scenario 1: connect + auth (%d devices per run, 32 handshakes in flight, connections held)" %
                 prof["connect"])
        L.append("")
        L.append(table(["case", "up", "resumed", "connects/s", "connect p50 ms", "connect p99 ms",
                        "server CPU us/connect (min-max)", "upstream Mosquitto us/connect", "sum us/connect",
                        "loadgen us/connect", "ratio vs Mosquitto", "other load"], connect_rows(groups)))
        L.append("")
        L.append("Ratio = the serving process's CPU per connect divided by Mosquitto-alone's per TLS+password connect "
                 "with full handshakes (also for the resumption rows: the goal is resumption <= 0.3x of that); for "
                 "the mTLS rows, divided by Mosquitto-alone's mTLS full handshake with the same client certificate "
                 "(also for their resumption rows). With "
                 "resumption offered, each ticket is used once (as a reconnecting device would); the first 32 "
                 "handshakes of a run have no ticket yet and are full ones (column resumed). Connects/s and latency "
                 "are bounded by the loadgen's own TLS client cost on 2 shared cores (column loadgen us/connect; "
                 "with an RSA client certificate it also signs CertificateVerify with RSA-2048), not by the servers. "
                 "Per-connect floor for a full handshake: the server's ECDHE and P-256 signature, plus for mTLS one "
                 "verify of the device's CertificateVerify (RSA-2048 or P-256), plus in Mosquitto one P-256 verify "
                 "of the certificate's chain; see the floor table." + (
                     "" if env.x509 else " mTLS rows: not run (%s)." % (env.x509_why or "scenario 1 not run")))
        L.append("")
    if 2 in scen:
        L.append("## Scenario 2: throughput, %d devices -> backend subscriber (64-byte payloads, QoS 1 window 16 per "
                 "device)" % prof["tput_devices"])
        L.append("")
        L.append(table(["case", "messages", "received msg/s", "lost / dup", "acked but lost",
                        "server CPU us/msg (min-max)", "upstream Mosquitto us/msg", "sum us/msg",
                        "daemon ratio", "sum ratio", "e2e p50 ms", "e2e p99 ms", "other load"], tput_rows(groups)))
        L.append("")
        L.append("Through iotcored, Mosquitto still does the broker work (a plain-TCP publisher session per device and "
                 "the delivery to the subscriber): \"sum\" is the whole path's cost against Mosquitto alone doing TLS "
                 "itself. \"As fast as possible\": each device keeps its QoS 1 window full (QoS 0: bursts of 16 per "
                 "device per loop turn), %d (QoS 0) or %d (QoS 1) messages per device; the achieved rate differs "
                 "between the paths, and so does batching, which is why a fixed-rate row is added in full mode. "
                 "\"Server CPU\" for iotcored is the daemon alone." % (prof["tput_q0"], prof["tput_q1"]))
        L.append("")
    if 3 in scen:
        L.append("## Scenario 3: added latency at fixed rates (QoS 1, %d devices, %d s per rate)" % (
            prof["tput_devices"], prof["lat_s"]))
        L.append("")
        L.append(table(["msg/s offered", "path", "received msg/s", "lost / dup", "e2e p50 ms",
                        "e2e p99 ms (min-max)", "e2e max ms", "PUBACK p99 ms", "server CPU us/msg", "other load"],
                       lat_rows))
        added = []
        for rate in prof["lat_rates"]:
            i, m = lat_label("iot", rate), lat_label("mosq", rate)
            if i in lat and m in lat:
                d50, d99 = lat[i][0] - lat[m][0], lat[i][1] - lat[m][1]
                added.append("at %s msg/s p50 %s%s ms, p99 %s%s ms" % (
                    count(rate), "+" if d50 >= 0 else "", fmt(d50), "+" if d99 >= 0 else "", fmt(d99)))
        if added:
            L.append("")
            L.append("Added by iotcored: %s (medians of the per-run quantiles)." % "; ".join(added))
        L.append("")
    if 4 in scen:
        L += memory_section(prof, groups)
    if 5 in scen:
        L += registry_section(prof, groups, extra)
    if 6 in scen:
        L += auth_cost_section(env, groups, extra, scen)
    L.append("## Goals of issue 6 measured here")
    L.append("")
    L += goal_lines(groups, lat, prof["mem_sizes"] if 4 in scen else (), mtls_why=env.x509_why)
    if 5 in scen:
        L.append("- registry scale (scenario 5) has no numeric goal in the issue: see its tables")
    if 6 in scen:
        L.append("- auth cost per scheme (scenario 6) has no numeric goal in the issue: see its tables")
    L.append("")
    L.append("## Exact commands")
    L.append("")
    L.append("Paths are in the run's temporary directory; `<PID>` and ports change per run.")
    L.append("")
    L.append("```")
    L.append(" ".join(speed["argv"]))
    seen = set()
    for r in results:
        if r["label"] in seen:
            continue
        seen.add(r["label"])
        argv = [os.path.basename(a) if a.startswith("/") else a for a in r["_argv"]]
        L.append(" ".join(shlex.quote(a) for a in argv))
    for e in extra:
        if e["kind"] in ("import", "create") and e["label"] not in seen:
            seen.add(e["label"])
            argv = [os.path.basename(a) if a.startswith("/") else a for a in e["_argv"]]
            L.append(("# %s: " % e["label"]) + " ".join(argv if e["kind"] == "import" else
                                                       [shlex.quote(a) for a in argv]))
    if 6 in scen:
        L.append("# scenario 6: no external command; run.py's own client (auth_cost_connect), see above")
    L.append("```")
    L.append("")
    L.append("Mosquitto configuration:")
    L.append("")
    L.append("```")
    with open(env.mosq_conf) as f:
        L.append("\n".join(line.replace(env.dir, "$WORKDIR") if line.startswith("cafile") else
                           line if not line.startswith(("password_file", "certfile", "keyfile"))
                           else line.split()[0] + " " + os.path.basename(line.split()[1]) for line in f.read().splitlines()))
    L.append("```")
    L.append("")
    L.append("iotcored configuration:")
    L.append("")
    L.append("```")
    with open(env.iot_conf) as f:
        txt = f.read().replace(env.dir, "$WORKDIR")
    L.append(txt.rstrip())
    L.append("```")
    L.append("")
    notes = hand_notes(path)
    if notes:
        L.append("## Notes added by hand after an earlier run")
        L.append("")
        L.append(CARRIED + " from the previous version of this file, unchanged: they describe the run they were "
                 "written for (see the file's git history), not necessarily the tables above.*")
        L.append("")
        L.append(notes)
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))
    with open(path[:-3] + ".jsonl", "w") as f:
        for r in list(results) + list(extra):
            rr = {k: v for k, v in r.items() if k not in ("_table",)}
            rr["_argv"] = [os.path.basename(a) if a.startswith("/") else a for a in r["_argv"]] \
                if "_argv" in r else None
            f.write(json.dumps(rr, sort_keys=True) + "\n")


# ---------------------------------------------------------------- main

def user_args(argv):
    """The options bench/run was given (for the report), without the build
    plumbing bench/run adds itself."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x in ("--build-dir", "--build-cmd"):
            skip = True
        elif not x.startswith(("--build-dir=", "--build-cmd=")):
            out.append(x)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small runs (under 2 minutes)")
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--out", help="Markdown file (default bench/results/YYYY-MM-DD[-quick].md)")
    ap.add_argument("--runs", type=int, help="rounds per case (3; quick: 3, scenarios 4 and 5 once)")
    ap.add_argument("--scenarios", default="1,2,3,4,5,6", help="comma list of 1 to 6")
    ap.add_argument("--registry-sizes", help="scenario 5's store sizes, comma list (2000,100000,1000000; "
                    "300,10000 quick); the first is the reference")
    ap.add_argument("--mem-sizes", help="scenario 4's device counts, comma list (2000,9900; 500 quick)")
    ap.add_argument("--cases", help="scenario 1 only: run just the cases whose labels match these globs, "
                    "comma list (e.g. '1-*-x509-*,1r-*-x509-*' for the mTLS rows)")
    ap.add_argument("--connects", type=int, help="devices per scenario 1 run (2000; quick: 300)")
    ap.add_argument("--no-mtls", action="store_true", help="skip scenario 1's and 6's mTLS rows (no AWS "
                    "certificates)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--build-cmd", action="append", default=[], help=argparse.SUPPRESS)
    a = ap.parse_args()
    prof_name = "quick" if a.quick else "full"
    prof = dict(PROFILES[prof_name])
    if a.runs:
        prof["runs"] = a.runs
        prof["mem_runs"] = prof["reg_runs"] = a.runs
    if a.connects:
        prof["connect"] = a.connects
    if a.registry_sizes:
        prof["reg_sizes"] = tuple(int(x) for x in a.registry_sizes.split(","))
    if a.mem_sizes:
        prof["mem_sizes"] = tuple(int(x) for x in a.mem_sizes.split(","))
    scen = set(int(x) for x in a.scenarios.split(","))
    started = datetime.datetime.now()
    out = a.out or os.path.join(HERE, "results", "%s%s.md" % (started.strftime("%Y-%m-%d"),
                                                            "-quick" if a.quick else ""))
    workdir = tempfile.mkdtemp(prefix="iotcored-bench-")
    env = Env(workdir, os.path.abspath(a.build_dir))
    for b in (env.iotcored_bin, env.loadgen_bin):
        if not os.access(b, os.X_OK):
            sys.exit("bench: %s missing (build first)" % b)
    results = []
    extra = []                          # scenario 5's measurements other than loadgen runs

    def on_term(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    ok = False
    try:
        log("working directory %s" % workdir)
        # The tree the binaries were built from (others may commit during the run).
        ver = versions(env)
        load_before = open("/proc/loadavg").read().split()[0]
        env.make_pki()
        if 6 in scen:
            env.make_rsa_server_cert()
        env.start_mosquitto()
        env.start_iotcored()
        log("mosquitto pid %d (plain %d, tls %d); iotcored pid %d (mqtts %d, admin %d)" % (
            env.mosq.pid, env.mq_plain, env.mq_tls, env.iot.pid, env.iot_mqtt, env.iot_admin))
        n_es = max(prof["connect"], prof["tput_devices"])
        if 4 in scen:
            n_es = max([n_es] + list(prof["mem_sizes"]))
        n_rs = prof["connect"]
        if scen <= {6}:
            n_es = n_rs = S6_DEVICES
        env.provision(n_es, n_rs)
        if (1 in scen or 6 in scen) and not a.no_mtls:
            if env.make_x509_certs():
                # Mosquitto reads its cafile (iotcored's CA, created at the
                # daemon's first start) only at start: restart both with the
                # mTLS listener added (the store is kept).
                env.restart_servers()
                log("mosquitto pid %d (mTLS %d, cafile %s); iotcored pid %d (mqtts %d)" % (
                    env.mosq.pid, env.mq_mtls, env.x509_ca, env.iot.pid, env.iot_mqtt))
            else:
                log("mTLS rows skipped: %s" % env.x509_why)
        elif 1 in scen or 6 in scen:
            env.x509_why = "--no-mtls"
        log("openssl speed (%d s per algorithm and operation)" % prof["speed_s"])
        speed = openssl_speed(prof["speed_s"])
        env.speed = speed
        for run_no in range(prof["runs"]):
            log("round %d of %d" % (run_no + 1, prof["runs"]))
            if 1 in scen:
                scenario_connect(env, prof, run_no, results, resume=prof["resume"],
                                 only=a.cases.split(",") if a.cases else None)
            if 2 in scen:
                scenario_throughput(env, prof, run_no, results)
            if 3 in scen:
                scenario_latency(env, prof, run_no, results)
            if 4 in scen and run_no < prof["mem_runs"]:
                scenario_memory(env, prof, run_no, results)
            for p in (env.iot, env.mosq):
                if not p.alive():
                    raise RuntimeError("%s died:\n%s" % (p.name, p.tail()))
        if 6 in scen:
            log("scenario 6: auth cost per scheme (bytes, round trips)")
            scenario_auth_cost(env, extra)
            for p in (env.iot, env.mosq):
                if not p.alive():
                    raise RuntimeError("%s died:\n%s" % (p.name, p.tail()))
        if 5 in scen:
            log("scenario 5: registry scale (%s devices)" % ", ".join(str(n) for n in prof["reg_sizes"]))
            scenario_registry(env, prof, results, extra)
        load_after = open("/proc/loadavg").read().split()[0]
        os.makedirs(os.path.dirname(out), exist_ok=True)
        build_cmds = a.build_cmd or ["ninja -C %s" % a.build_dir]
        write_report(out, prof_name, prof, env, speed, results, started, datetime.datetime.now(),
                     ["bench/run"] + user_args(sys.argv[1:]), build_cmds, (load_before, load_after),
                     extra=extra, scen=scen, ver=ver)
        log("wrote %s" % out)
        ok = True
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        env.stop()
        if ok and not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log("kept %s (logs of both servers inside)" % workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
