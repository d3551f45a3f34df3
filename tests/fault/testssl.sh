#!/usr/bin/env bash
# Runs Debian's testssl (package testssl.sh) against the daemon's TLS device
# ports and fails on any finding rated HIGH or CRITICAL.
#
#   tests/fault/testssl.sh [--full] [--out DIR]
#       starts a Mosquitto (free 127.0.0.1 port) and an iotcored (IOTCORED_BIN,
#       default build/daemon/iotcored) with the mqtts and devices listeners on
#       ephemeral ports, like the integration harness, tests both, stops both
#   tests/fault/testssl.sh [--full] [--out DIR] --ca CA.pem NAME=HOST:PORT...
#       tests a daemon that is already running (test_testssl.py does this)
#
# testssl runs with --add-ca (the daemon's development CA, so the chain is
# judged as trusted) on each port, all in parallel. By default it runs
# every check group of testssl's default run but the client simulations
# (-p -s -f -P -S -U -h: protocols, cipher categories, forward secrecy,
# server preferences, certificate, vulnerabilities, HTTP headers), which rate
# nothing and take half the time; --full is testssl's default run. For each
# NAME it writes DIR/NAME.json (testssl --jsonfile: a flat list of findings, each
# with "id", "severity", "finding") and DIR/NAME.log. Prints every finding
# rated HIGH or CRITICAL whose id is not in IOTCORED_TESTSSL_WAIVE (a comma
# list of testssl ids, empty by default). Exit status: 0 none, 1 some, 2
# testssl missing or a run failed to produce its JSON file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
out=""
ca=""
targets=()
groups=("-p -s" "-f -P" "-S -h" "-U")

while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --ca) ca=$2; shift 2 ;;
        --full) groups=(""); shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *=*:*) targets+=("$1"); shift ;;
        *) echo "usage: $0 [--full] [--out DIR] [--ca CA.pem NAME=HOST:PORT...]" >&2; exit 2 ;;
    esac
done

testssl=$(command -v testssl || command -v testssl.sh || true)
if [ -z "$testssl" ]; then
    echo "testssl not found (apt-get install testssl.sh)" >&2
    exit 2
fi
[ -n "$out" ] || out=$(mktemp -d /tmp/iotcored-testssl.XXXXXX)
mkdir -p "$out"

# On exit, stop what this script started and is still running (its own
# background jobs, by PID: the broker, the daemon, testssl runs).
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local p
    for p in $(jobs -p); do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

if [ ${#targets[@]} -eq 0 ]; then
    # Own broker and daemon, as helpers.Broker / helpers.Daemon(http_devices=True) set them up.
    bin=${IOTCORED_BIN:-$root/build/daemon/iotcored}
    [ -x "$bin" ] || { echo "iotcored not found at $bin (set IOTCORED_BIN)" >&2; exit 2; }
    work=$out/daemon
    mkdir -p "$work"
    mport=$("$py" -c "import sys; sys.path.insert(0, '$root/tests/integration'); import helpers; print(helpers.free_port())")
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n' "$mport" \
        > "$work/mosquitto.conf"
    /usr/sbin/mosquitto -c "$work/mosquitto.conf" 2> "$work/mosquitto.log" &
    "$py" - "$root/tests/integration" "$work" "$mport" > "$work/iotcored.conf" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import helpers
work, port = sys.argv[2], int(sys.argv[3])
print(helpers.render_config(os.path.join(work, "data"), "mqtt://127.0.0.1:%d" % port, "info",
                            helpers.DEFAULT_LISTENERS + [helpers.DEVICES_LISTENER]), end="")
PY
    "$bin" -c "$work/iotcored.conf" > "$work/iotcored.log" 2>&1 &
    dpid=$!
    ports=""
    for _ in $(seq 400); do
        kill -0 "$dpid" 2>/dev/null || { echo "iotcored exited; log:" >&2; tail -20 "$work/iotcored.log" >&2; exit 2; }
        ports=$("$py" -c "
import json, sys
p = json.load(open(sys.argv[1]))
print('%d %d' % (p['mqtts'], p['devices']))" "$work/data/ports.json" 2>/dev/null || true)
        [ -n "$ports" ] && break
        sleep 0.1
    done
    [ -n "$ports" ] || { echo "iotcored did not write ports.json" >&2; exit 2; }
    ca=$work/data/ca.pem
    targets=("mqtts=127.0.0.1:${ports% *}" "devices=127.0.0.1:${ports#* }")
    echo "== iotcored pid $dpid: mqtts ${ports% *}, devices ${ports#* } (work dir $work)"
fi
if [ -z "$ca" ] || [ ! -f "$ca" ]; then
    echo "--ca CA.pem is required with targets" >&2
    exit 2
fi

# --warnings off: never wait for a keypress; --nodns none/--ip: loopback only,
# no lookups outside; --sneaky: a neutral user agent on the HTTPS port.
# Each port's check groups run as parallel testssl processes (testssl mostly
# waits on sockets: ~30 s instead of ~70 s); their JSON lists are merged.
jobs_=()
for t in "${targets[@]}"; do
    name=${t%%=*}
    hostport=${t#*=}
    rm -f "$out/$name".*json "$out/$name".*log
    echo "== testssl $hostport ($name) -> $out/$name.log"
    for i in "${!groups[@]}"; do
        # shellcheck disable=SC2086 # a group is a list of options
        "$testssl" --quiet --color 0 --warnings off --nodns none --ip "${hostport%:*}" --sneaky \
            --connect-timeout 10 --openssl-timeout 10 --add-ca "$ca" ${groups[$i]} \
            --jsonfile "$out/$name.$i.json" "$hostport" > "$out/$name.$i.log" 2>&1 &
        jobs_+=($!)
    done
done
for j in "${jobs_[@]}"; do
    wait "$j" || true         # testssl's exit status counts findings, not errors
done
for t in "${targets[@]}"; do
    name=${t%%=*}
    for i in "${!groups[@]}"; do
        cat "$out/$name.$i.log" >> "$out/$name.log"
    done
    "$py" - "$out/$name.json" "$out/$name".[0-9]*.json <<'PY' || true
import json, sys
merged = []
for path in sys.argv[2:]:
    try:
        with open(path) as f:
            merged += json.load(f)
    except (OSError, ValueError) as e:
        print("%s: %s" % (path, e), file=sys.stderr)
        sys.exit(1)
with open(sys.argv[1], "w") as f:
    json.dump(merged, f, indent=1)
PY
done

status=0
for t in "${targets[@]}"; do
    name=${t%%=*}
    if [ ! -s "$out/$name.json" ]; then
        echo "!! $name: testssl wrote no JSON; log tail:" >&2
        tail -20 "$out/$name.log" >&2
        status=2
        continue
    fi
    "$py" - "$out/$name.json" "$name" <<'PY' || { [ $status -eq 2 ] || status=1; }
import json, os, sys
findings = json.load(open(sys.argv[1]))
waived = {w.strip() for w in os.environ.get("IOTCORED_TESTSSL_WAIVE", "").split(",") if w.strip()}
bad = [f for f in findings if str(f.get("severity", "")).upper() in ("HIGH", "CRITICAL")]
for f in bad:
    if f.get("id") in waived:
        print("-- %s %s %s (waived): %s" % (sys.argv[2], f.get("severity"), f.get("id"), f.get("finding")))
bad = [f for f in bad if f.get("id") not in waived]
by = {}
for f in findings:
    s = str(f.get("severity", "")).upper()
    by[s] = by.get(s, 0) + 1
print("%s: %d findings %s" % (sys.argv[2], len(findings), " ".join("%s=%d" % kv for kv in sorted(by.items()))))
for f in bad:
    print("!! %s %s %s: %s" % (sys.argv[2], f.get("severity"), f.get("id"), f.get("finding")))
sys.exit(1 if bad else 0)
PY
done
exit $status
