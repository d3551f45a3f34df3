"""Side-by-side benchmark of iotcored (bridging to Mosquitto) against
Mosquitto alone (TLS + password file), driven by iotcored-loadgen.

Started by bench/run (which builds first). Every process it starts is
stopped by PID; ports are free ephemeral ports on 127.0.0.1 (never 1883).
See bench/README.md for what each scenario measures.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
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
# iotcored's default is Google's 100 msg/s per connection: raised for the
# throughput runs (and said so in the results).
MAX_MSGS_PER_SECOND = 1000000
SOURCES = ("127.0.0.2", 8)          # loadgen spreads connections over 8 loopback addresses

PROFILES = {
    # connect: devices per run; tput_*: messages per device; lat_s: seconds at lat_rate
    "full": {"runs": 3, "connect": 2000, "tput_q0": 500, "tput_q1": 300, "tput_devices": 100,
             "lat_s": 10, "lat_rate": 1000, "speed_s": 3, "resume": True, "tput_fixed": (5000, 6)},
    "quick": {"runs": 3, "connect": 300, "tput_q0": 100, "tput_q1": 60, "tput_devices": 100,
              "lat_s": 4, "lat_rate": 1000, "speed_s": 1, "resume": False},
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


class Env:
    """Certificates, keys, one Mosquitto (plain listener for iotcored and the
    backend subscriber, TLS + password listener for direct devices) and one
    iotcored bridging to it."""

    def __init__(self, workdir, build_dir):
        self.dir = workdir
        self.build = build_dir
        self.iotcored_bin = os.path.join(build_dir, "daemon", "iotcored")
        self.loadgen_bin = os.path.join(build_dir, "bench", "iotcored-loadgen")
        self.procs = []
        self.mosq = self.iot = None

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

    # ---- Mosquitto
    def start_mosquitto(self):
        d = os.path.join(self.dir, "mosquitto")
        os.makedirs(d, exist_ok=True)
        pw = os.path.join(d, "passwd")
        open(pw, "w").close()
        run_cmd([MOSQUITTO_PASSWD, "-b", pw, BENCH_USER, BENCH_PASSWORD])
        for attempt in range(5):
            self.mq_plain, self.mq_tls = free_port(), free_port()
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
                    "",
                ]))
            self.mosq_conf = conf
            p = Proc("mosquitto", [MOSQUITTO, "-c", conf], os.path.join(d, "mosquitto.log"), cwd=d)
            try:
                wait_for(lambda: not p.alive() or (tcp_accepts(self.mq_plain) and tcp_accepts(self.mq_tls)),
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
    def start_iotcored(self):
        d = os.path.join(self.dir, "iotcored")
        self.data = os.path.join(d, "data")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "iotcored.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "# generated by bench/run",
                'data_dir = "%s";' % self.data,
                'log = { level = "warn"; };',
                'tls = { cert = "%s"; key = "%s"; };' % (self.srv_cert, self.srv_key),
                "listeners = (",
                '  { name = "mqtts"; port = 0; bind = "127.0.0.1"; protocol = "mqtt"; tls = true; },',
                '  { name = "admin"; port = 0; bind = "127.0.0.1"; protocol = "admin"; tls = false; }',
                ");",
                'upstream = { url = "mqtt://127.0.0.1:%d"; };' % self.mq_plain,
                "google = { max_messages_per_second = %d; };" % MAX_MSGS_PER_SECOND,
                "",
            ]))
        self.iot_conf = conf
        ports_json = os.path.join(self.data, "ports.json")
        if os.path.exists(ports_json):
            os.unlink(ports_json)
        p = Proc("iotcored", [self.iotcored_bin, "-c", conf], os.path.join(d, "iotcored.log"), cwd=d)
        self.procs.append(p)

        def ready():
            if not p.alive():
                raise RuntimeError("iotcored exited:\n" + p.tail())
            try:
                with open(ports_json) as f:
                    ports = json.load(f)
                return ports if ports.get("mqtts") and ports.get("admin") else None
            except (OSError, ValueError):
                return None

        ports = wait_for(ready, 60, "iotcored ports.json")
        self.iot = p
        self.iot_mqtt, self.iot_admin = ports["mqtts"], ports["admin"]
        self.token_file = os.path.join(self.data, "admin.token")
        wait_for(lambda: os.path.exists(self.token_file) and tcp_accepts(self.iot_admin), 30, "admin port")

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

    def common(self):
        return ["--ca", self.ca, "--src-base", SOURCES[0], "--src-count", str(SOURCES[1]),
                "--watch", "iotcored=%d" % self.iot.pid, "--watch", "mosquitto=%d" % self.mosq.pid]

    def target_iot(self, scheme):
        key = self.es_key if scheme == "es256" else self.rs_key
        prefix = "es-" if scheme == "es256" else "rs-"
        return ["--port", str(self.iot_mqtt), "--scheme", scheme, "--key", key, "--project", PROJECT,
                "--location", LOCATION, "--registry", REGISTRY, "--device-prefix", prefix]

    def target_mosq(self):
        return ["--port", str(self.mq_tls), "--scheme", "password", "--username", BENCH_USER, "--password",
                BENCH_PASSWORD, "--device-prefix", "pw-"]

    def provision(self, n):
        for key, prefix in ((self.es_key, "es-"), (self.rs_key, "rs-")):
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


def measured(env, args, label):
    """One loadgen run with machine-wide noise: CPU used by processes other
    than loadgen, iotcored and Mosquitto during the run, in cores."""
    b0, t0 = machine_busy()
    ours0 = cpu_us(env.iot.pid) + cpu_us(env.mosq.pid)
    ch0 = os.times()
    res = env.loadgen(args, label)
    b1, t1 = machine_busy()
    ours1 = cpu_us(env.iot.pid) + cpu_us(env.mosq.pid)
    ch1 = os.times()
    hz = os.sysconf("SC_CLK_TCK")
    busy_us = (b1 - b0) * 1e6 / hz
    ours = (ours1 - ours0) + ((ch1.children_user + ch1.children_system) -
                              (ch0.children_user + ch0.children_system)) * 1e6
    res["_other_cores"] = max(0.0, (busy_us - ours) / 1e6 / max(res["_wall"], 1e-3))
    res["_rss_kib"] = {"iotcored": rss_kib(env.iot.pid), "mosquitto": rss_kib(env.mosq.pid)}
    return res


def scenario_connect(env, prof, run_no, out, resume=False):
    n = prof["connect"]
    base = ["-n", str(n), "--concurrency", "32", "--settle", "1.5"] + env.common()
    cases = [
        ("1-iot-es256", env.target_iot("es256")),
        ("1-mosq-tls-password", env.target_mosq()),
        ("1-iot-rs256", env.target_iot("rs256")),
    ]
    if resume:
        cases += [("1r-iot-es256-resume", env.target_iot("es256") + ["--resume"]),
                  ("1r-mosq-tls-password-resume", env.target_mosq() + ["--resume"])]
    if run_no % 2:                     # alternate which server goes first
        cases = cases[1:2] + cases[0:1] + cases[2:]
    for label, tgt in cases:
        res = measured(env, tgt + base, label)
        out.append(res)
        log("%s run %d: %d/%d up, %.0f conn/s, iotcored %.0f us, mosquitto %.0f us per connect" % (
            label, run_no, res["connected"], n, res["connect"]["rate"],
            res["cpu"]["connect"]["iotcored_us"] / max(1, res["connected"]),
            res["cpu"]["connect"]["mosquitto_us"] / max(1, res["connected"])))
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


def scenario_latency(env, prof, run_no, out):
    dev = prof["tput_devices"]
    base = ["-n", str(dev), "--concurrency", "32", "--settle", "0.5", "--publish", "--qos", "1", "--size", "64",
            "--pub-rate", str(prof["lat_rate"]), "--hold", str(prof["lat_s"]), "--window", "16",
            "--drain", "5"] + env.common()
    iot = env.target_iot("es256") + ["--sub", "127.0.0.1:%d" % env.mq_plain, "--sub-filter",
                                     "google/%s/%s/%s/+/events" % (PROJECT, LOCATION, REGISTRY)]
    mq = env.target_mosq() + ["--sub", "127.0.0.1:%d" % env.mq_plain, "--sub-filter", "bench/#"]
    cases = [("3-iot-1k", iot), ("3-mosq-1k", mq)]
    if run_no % 2:
        cases.reverse()
    for label, tgt in cases:
        res = measured(env, tgt + base, label)
        out.append(res)
        lat = res["e2e"]["latency"]
        log("%s run %d: %d received, p50 %.3f ms, p99 %.3f ms, max %.3f ms" % (
            label, run_no, res["e2e"]["received"], lat["p50_ms"], lat["p99_ms"], lat["max_ms"]))
        quiesce(env)


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
    ref = groups.get("1-mosq-tls-password", [])
    ref_cpu = med([per_op(r, "connect", "mosquitto", lambda r: r["connected"]) for r in ref])
    order = [("1-iot-es256", "iotcored, JWT ES256, full handshake", True, ref_cpu),
             ("1-iot-rs256", "iotcored, JWT RS256, full handshake", True, ref_cpu),
             ("1-mosq-tls-password", "Mosquitto alone, TLS + password, full handshake", False, ref_cpu),
             ("1r-iot-es256-resume", "iotcored, JWT ES256, TLS resumption offered", True, ref_cpu),
             ("1r-mosq-tls-password-resume", "Mosquitto alone, TLS + password, resumption offered", False,
              ref_cpu)]
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


def latency_rows(groups):
    rows = []
    d = {}
    for label, what in (("3-iot-1k", "iotcored -> Mosquitto"), ("3-mosq-1k", "Mosquitto alone (TLS)")):
        rs = groups.get(label)
        if not rs:
            continue
        lat = lambda k: med([r["e2e"]["latency"][k] for r in rs])
        d[label] = (lat("p50_ms"), lat("p99_ms"))
        sent = lambda r: r["publish"]["sent"]
        is_iot = label.startswith("3-iot")
        rows.append([what,
                     fmt(med([r["e2e"]["rate"] for r in rs])),
                     "%d / %d" % (max(r["e2e"]["lost"] for r in rs), max(r["e2e"]["dup"] for r in rs)),
                     fmt(lat("p50_ms")), fmt(lat("p99_ms")) + " (" + spread([r["e2e"]["latency"]["p99_ms"] for r in rs])
                     + ")", fmt(med([r["e2e"]["latency"]["max_ms"] for r in rs])),
                     fmt(med([r["publish"]["ack_latency"]["p99_ms"] for r in rs])),
                     fmt(med([per_op(r, "hold", "iotcored" if is_iot else "mosquitto", sent) for r in rs])),
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


def goal_lines(groups, lat):
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
    lines.append("- daemon CPU per mTLS connect <= Mosquitto's: not measured (X.509 devices are later work)")
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
    lines.append("- RSS per idle TLS device <= Mosquitto's: not measured here (scenario 4, later work)")
    return lines


def write_report(path, prof_name, prof, env, speed, results, started, finished, argv, build_cmds, noise):
    groups = by_label(results)
    lat_rows, lat = latency_rows(groups)
    mach = machine()
    ver = versions(env)
    L = []
    L.append("# iotcored vs Mosquitto, %s (%s mode)" % (started.strftime("%Y-%m-%d"), prof_name))
    L.append("")
    L.append("Produced by `%s`; raw loadgen JSON per run in `%s`." % (
        " ".join(shlex.quote(a) for a in argv), os.path.basename(path)[:-3] + ".jsonl"))
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
    L.append("- One Mosquitto with two listeners: plain TCP on 127.0.0.1 (iotcored's upstream and the backend "
             "subscriber) and TLS + password file (devices connecting to Mosquitto alone). Both servers use the "
             "same ECDSA P-256 server certificate from a generated CA (one-link chain), both log warnings only, "
             "both set TCP_NODELAY; Mosquitto `max_queued_messages 1000000`, `max_inflight_messages 100`, no "
             "persistence.")
    L.append("- iotcored: release build, generated config (port 0 listeners, `data_dir/ports.json`), upstream = "
             "that Mosquitto's plain listener, log level warn, **`google.max_messages_per_second = %d`** (raised "
             "from Google's 100 so the throughput runs are not throttled), other limits at their defaults. Devices "
             "are provisioned through the REST API with one shared key per algorithm." % MAX_MSGS_PER_SECOND)
    L.append("- Load: `iotcored-loadgen` (bench/), one process, epoll + OpenSSL 3, connections spread over "
             "%d source addresses from %s; each JWT run uses one token minted at start (the server verifies it "
             "per connect either way)." % (SOURCES[1], SOURCES[0]))
    L.append("- **Server CPU per operation**: utime+stime from `/proc/PID/stat` of iotcored and of Mosquitto, "
             "sampled by the loadgen at phase boundaries (connect phase including a 1.5 s settle after the last "
             "CONNACK, so deferred work such as batched last-seen writes is counted; publish phase including the "
             "drain), divided by successful connects or by messages published. Clock-tick resolution is 10 ms, so "
             "runs are sized to take seconds of CPU. Through iotcored both processes work: the table shows the "
             "daemon alone (what the goals compare), the upstream Mosquitto's share, and the sum.")
    L.append("- %d runs per case, interleaved (scenario 1, 2, 3 in turn in each round, and within a scenario the "
             "server order alternates between rounds); medians reported, (min-max) beside the CPU figures." %
             prof["runs"])
    L.append("")
    L.append("## Floor: `%s`" % " ".join(speed["argv"]))
    L.append("")
    L.append(table(["operation", "us/op (one core)"], [
        ["ECDSA P-256 sign (server side of an ECDSA handshake)", fmt(speed.get("p256_sign_us"))],
        ["ECDSA P-256 verify (ES256 JWT check)", fmt(speed.get("p256_verify_us"))],
        ["RSA-2048 sign", fmt(speed.get("rsa2048_sign_us"))],
        ["RSA-2048 verify (RS256 JWT check)", fmt(speed.get("rsa2048_verify_us"))],
    ]))
    L.append("")
    L.append("## Scenario 1: connect + auth (%d devices per run, 32 handshakes in flight, connections held)" %
             prof["connect"])
    L.append("")
    L.append(table(["case", "up", "resumed", "connects/s", "connect p50 ms", "connect p99 ms",
                    "server CPU us/connect (min-max)", "upstream Mosquitto us/connect", "sum us/connect",
                    "loadgen us/connect", "ratio vs Mosquitto", "other load"], connect_rows(groups)))
    L.append("")
    L.append("Ratio = the serving process's CPU per connect divided by Mosquitto-alone's per TLS+password connect "
             "with full handshakes (also for the resumption rows: the goal is resumption <= 0.3x of that). With "
             "resumption offered, each ticket is used once (as a reconnecting device would); the first 32 "
             "handshakes of a run have no ticket yet and are full ones (column resumed). Connects/s and latency are bounded by the loadgen's own TLS client cost on 2 shared "
             "cores (column loadgen us/connect), not by the servers.")
    L.append("")
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
    L.append("## Scenario 3: added latency at a fixed %d msg/s (QoS 1, %d devices, %d s)" % (
        prof["lat_rate"], prof["tput_devices"], prof["lat_s"]))
    L.append("")
    L.append(table(["path", "received msg/s", "lost / dup", "e2e p50 ms", "e2e p99 ms (min-max)", "e2e max ms",
                    "PUBACK p99 ms", "server CPU us/msg", "other load"], lat_rows))
    if "3-iot-1k" in lat and "3-mosq-1k" in lat:
        L.append("")
        d50 = lat["3-iot-1k"][0] - lat["3-mosq-1k"][0]
        d99 = lat["3-iot-1k"][1] - lat["3-mosq-1k"][1]
        L.append("Added by iotcored: p50 %s%s ms, p99 %s%s ms (medians of the per-run quantiles)." % (
            "+" if d50 >= 0 else "", fmt(d50), "+" if d99 >= 0 else "", fmt(d99)))
    L.append("")
    L.append("## Goals of issue 6 measured here")
    L.append("")
    L += goal_lines(groups, lat)
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
    L.append("```")
    L.append("")
    L.append("Mosquitto configuration:")
    L.append("")
    L.append("```")
    with open(env.mosq_conf) as f:
        L.append("\n".join(line if not line.startswith(("password_file", "certfile", "keyfile"))
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
    with open(path, "w") as f:
        f.write("\n".join(L))
    with open(path[:-3] + ".jsonl", "w") as f:
        for r in results:
            rr = {k: v for k, v in r.items() if k not in ("_table",)}
            rr["_argv"] = [os.path.basename(a) if a.startswith("/") else a for a in r["_argv"]]
            f.write(json.dumps(rr, sort_keys=True) + "\n")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small runs (under 2 minutes)")
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--out", help="Markdown file (default bench/results/YYYY-MM-DD[-quick].md)")
    ap.add_argument("--runs", type=int, help="rounds per case (3)")
    ap.add_argument("--scenarios", default="1,2,3", help="comma list of 1, 2, 3")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--build-cmd", action="append", default=[], help=argparse.SUPPRESS)
    a = ap.parse_args()
    prof_name = "quick" if a.quick else "full"
    prof = dict(PROFILES[prof_name])
    if a.runs:
        prof["runs"] = a.runs
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

    def on_term(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    ok = False
    try:
        log("working directory %s" % workdir)
        load_before = open("/proc/loadavg").read().split()[0]
        env.make_pki()
        env.start_mosquitto()
        env.start_iotcored()
        log("mosquitto pid %d (plain %d, tls %d); iotcored pid %d (mqtts %d, admin %d)" % (
            env.mosq.pid, env.mq_plain, env.mq_tls, env.iot.pid, env.iot_mqtt, env.iot_admin))
        env.provision(max(prof["connect"], prof["tput_devices"]))
        log("openssl speed (%d s per algorithm and operation)" % prof["speed_s"])
        speed = openssl_speed(prof["speed_s"])
        for run_no in range(prof["runs"]):
            log("round %d of %d" % (run_no + 1, prof["runs"]))
            if 1 in scen:
                scenario_connect(env, prof, run_no, results, resume=prof["resume"])
            if 2 in scen:
                scenario_throughput(env, prof, run_no, results)
            if 3 in scen:
                scenario_latency(env, prof, run_no, results)
            for p in (env.iot, env.mosq):
                if not p.alive():
                    raise RuntimeError("%s died:\n%s" % (p.name, p.tail()))
        load_after = open("/proc/loadavg").read().split()[0]
        os.makedirs(os.path.dirname(out), exist_ok=True)
        build_cmds = a.build_cmd or ["ninja -C %s" % a.build_dir]
        write_report(out, prof_name, prof, env, speed, results, started, datetime.datetime.now(),
                     ["bench/run"] + (["--quick"] if a.quick else []), build_cmds, (load_before, load_after))
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
