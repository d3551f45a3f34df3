"""The Device Shadow service against an unchanged AWS IoT Device SDK for
JavaScript (npm aws-iot-device-sdk v1, its thingShadow class): register,
get, update of reported state with the SDK's clientToken bookkeeping
('status' events), a backend's desired change through the data-plane REST
(botocore's iot-data client, UpdateThingShadow) reaching the device as a
'delta' and a 'foreignStateChange', and the SDK's optimistic versioning
(enableVersioning, on by default) refused with 409 after a backend update
the device did not see.

js/aws_shadow.js runs the SDK and is stepped over stdin; it prints every
SDK event and every PUBLISH on the wire (what the SDK sent, what the
daemon answered) as one JSON line, which the tests assert on."""
import json
import os
import subprocess
import threading

import pytest

import awshelp
import helpers
from awshelp import policy

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = "arn:aws:iot:%s:%s:" % (REGION, ACCOUNT)


def data_client(daemon, region="us-east-1"):
    """botocore's "iot-data" client (the data plane), signed like iot_client."""
    import awscli  # noqa: F401  (see awshelp.iot_client: one botocore copy)
    import botocore.session
    from botocore.config import Config

    kid, sec = awshelp.credentials(daemon)
    return botocore.session.Session().create_client(
        "iot-data", region_name=region, endpoint_url="http://127.0.0.1:%d" % daemon.admin_port,
        aws_access_key_id=kid, aws_secret_access_key=sec, config=Config(retries={"max_attempts": 1}))


def payload_of(resp):
    return json.loads(resp["payload"].read())


@pytest.fixture(scope="module")
def js():
    d = awshelp.js_clients_dir()
    if d is None:
        pytest.skip("node/npm not installed")
    return d


@pytest.fixture(scope="module")
def env(tmp_path_factory, iotcored_bin):
    base = tmp_path_factory.mktemp("awsshadow")
    with awshelp.daemon_with_broker(base, iotcored_bin) as d:
        yield d, awshelp.iot_client(d), data_client(d), str(base)


def shadow_policy(thing):
    """What AWS's shadow examples grant a device: connect, and publish /
    receive / subscribe on its own thing's shadow topics only."""
    return policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": ARN + "topic/$aws/things/%s/shadow/*" % thing},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": ARN + "topicfilter/$aws/things/%s/shadow/*" % thing},
    )


class ShadowDevice:
    """node js/aws_shadow.js: the SDK's thingShadow, stepped over stdin;
    its stdout events collected by a reader thread."""

    def __init__(self, js_dir, d, cert, client_id, workdir):
        self.client_id = client_id
        self.stderr_path = os.path.join(workdir, "%s.stderr" % client_id)
        self.events = []
        self.lock = threading.Lock()
        self.cursor = 0
        self.ended_at = None    # events index when "end" was sent
        with open(self.stderr_path, "w") as err:
            self.p = subprocess.Popen(
                ["node", os.path.join(js_dir, "aws_shadow.js"), str(d.mqtts_port), d.ca_path,
                 cert.cert_path, cert.key_path, client_id],
                cwd=js_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "raw", "line": line}
            with self.lock:
                self.events.append(ev)

    def send(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def describe(self):
        with open(self.stderr_path) as f:
            err = f.read()
        return "events:\n%s\nstderr:\n%s" % ("\n".join(json.dumps(e) for e in self.snapshot()), err[-4000:])

    def wait(self, what, timeout=helpers.T_DELIVER, since=None, **match):
        """The first event after the cursor (or from index `since`: for
        events whose order is not specified) whose fields equal `match`; the
        cursor moves past it. Fails the test at the deadline."""
        def find():
            evs = self.snapshot()
            for i in range(self.cursor if since is None else since, len(evs)):
                if all(evs[i].get(k) == v for k, v in match.items()):
                    return i + 1, evs[i]
            if self.p.poll() is not None:
                raise AssertionError("aws_shadow.js exited rc=%s waiting for %s\n%s" %
                                     (self.p.returncode, what, self.describe()))
            return None
        try:
            at, ev = helpers.wait_for(find, timeout, what, interval=0.01)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.describe())) from None
        self.cursor = max(self.cursor, at)
        return ev

    def since(self, mark, **match):
        """Events from index mark on whose fields equal `match`."""
        return [e for e in self.snapshot()[mark:] if all(e.get(k) == v for k, v in match.items())]

    def mark(self):
        with self.lock:
            return len(self.events)

    # ---- SDK steps
    def register(self, thing, **opts):
        self.send(cmd="register", thing=thing, opts=opts)
        ev = self.wait("register " + thing, event="registered", thing=thing)
        assert ev["err"] is None and ev["failed"] is None, ev

    def op(self, op, thing, **kw):
        """Starts get/update/delete; returns the SDK's clientToken."""
        self.send(cmd=op, thing=thing, **kw)
        ev = self.wait(op + " started", event="op", op=op, thing=thing)
        assert ev["clientToken"], "the SDK refused to start the %s: %s" % (op, self.describe())
        return ev["clientToken"]

    def status(self, thing, token):
        """The 'status' event the SDK emits for the operation `token`."""
        ev = self.wait("status for " + token, event="status", thing=thing)
        assert ev["clientToken"] == token, ev
        return ev

    def sent(self, topic, mark=0):
        """Payloads (parsed) the SDK published on topic since mark."""
        return [json.loads(e["payload"]) for e in self.since(mark, event="sent", topic=topic)]

    def close(self):
        try:
            if self.p.poll() is None:
                self.ended_at = self.mark()
                self.send(cmd="end")
                self.p.wait(timeout=helpers.T_CLOSE)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.reader.join(timeout=5)


@pytest.fixture
def device(env, js, tmp_path):
    """start(thing) -> a connected ShadowDevice allowed on thing's shadow."""
    d, iot, data, base = env
    made = []

    def start(thing):
        cert = awshelp.new_cert(iot, base, policy_doc=shadow_policy(thing))
        dev = ShadowDevice(js, d, cert, helpers.unique_id("sdk"), str(tmp_path))
        made.append(dev)
        dev.wait("connect", timeout=helpers.T_CONNACK, event="connect")
        return dev

    yield start
    for dev in made:
        dev.close()
    for dev in made:
        assert not dev.since(0, event="timeout"), "an SDK operation timed out\n" + dev.describe()
        # Up to "end": a reset while closing (after its DISCONNECT) is no
        # failure of the shadow service.
        errors = [e for e in dev.snapshot()[:dev.ended_at] if e["event"] == "error"]
        assert not errors, dev.describe()


def topic(thing, suffix):
    return "$aws/things/%s/shadow/%s" % (thing, suffix)


def assert_metadata_timestamps(meta, state):
    """Every leaf of state has {"timestamp": int} at the same place in meta."""
    assert set(meta) == set(state), (meta, state)
    for k, v in state.items():
        if isinstance(v, dict):
            assert_metadata_timestamps(meta[k], v)
        else:
            assert isinstance(meta[k]["timestamp"], int) and meta[k]["timestamp"] > 1600000000, meta


def test_register_get_update_with_client_tokens(env, device):
    d, iot, data, base = env
    thing = helpers.unique_id("lamp")
    dev = device(thing)
    dev.register(thing)
    cid = dev.client_id

    # A get before any update: get/rejected 404, matched by its clientToken.
    tok = dev.op("get", thing)
    assert tok == cid + "-0"    # the SDK's own token: clientId-operationCount
    st = dev.status(thing, tok)
    assert st["stat"] == "rejected"
    assert st["doc"]["code"] == 404
    assert st["doc"]["message"] == "No shadow exists with name: '%s'" % thing
    assert dev.sent(topic(thing, "get")) == [{"clientToken": tok}]

    # First update: no version known yet, so the SDK sends none.
    reported = {"temp": 21.5, "led": "off", "cfg": {"mode": "eco"}}
    mark = dev.mark()
    tok = dev.op("update", thing, state={"state": {"reported": reported}})
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted", st
    assert dev.sent(topic(thing, "update"), mark) == [{"state": {"reported": reported}, "clientToken": tok}]
    doc = st["doc"]
    assert doc["state"] == {"reported": reported}
    assert doc["version"] == 1
    assert isinstance(doc["timestamp"], int)
    assert_metadata_timestamps(doc["metadata"]["reported"], reported)
    # On the wire the accepted document echoes the token (the SDK strips it).
    raw = [json.loads(e["payload"]) for e in dev.since(mark, event="received", topic=topic(thing, "update/accepted"))]
    assert [r["clientToken"] for r in raw] == [tok]

    # get/accepted: the whole document, version 1, no delta.
    tok = dev.op("get", thing)
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted", st
    assert st["doc"]["state"] == {"reported": reported}
    assert st["doc"]["version"] == 1
    assert_metadata_timestamps(st["doc"]["metadata"], {"reported": reported})

    # Second update: the SDK now sends the version it learnt (1); a partial
    # report merges, and a null deletes a key.
    mark = dev.mark()
    tok = dev.op("update", thing, state={"state": {"reported": {"temp": 22, "cfg": None}}})
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted", st
    assert dev.sent(topic(thing, "update"), mark) == [
        {"state": {"reported": {"temp": 22, "cfg": None}}, "version": 1, "clientToken": tok}]
    assert st["doc"]["version"] == 2
    assert st["doc"]["state"] == {"reported": {"temp": 22, "cfg": None}}

    whole = payload_of(data.get_thing_shadow(thingName=thing))
    assert whole["state"] == {"reported": {"temp": 22, "led": "off"}}
    assert whole["version"] == 2
    # Its own operations are never "foreign".
    assert not dev.since(0, event="foreignStateChange")
    assert not dev.since(0, event="delta")


def test_backend_desired_reaches_device_as_delta_and_foreign_change(env, device):
    d, iot, data, base = env
    thing = helpers.unique_id("valve")
    dev = device(thing)
    dev.register(thing)
    # The SDK passes non-shadow topics (update/documents is one to it)
    # through to 'message'.
    dev.send(cmd="subscribe", topic=topic(thing, "update/documents"))
    ev = dev.wait("documents suback", event="suback")
    assert ev["err"] is None and ev["granted"] == [1], ev

    mark = dev.mark()
    tok = dev.op("update", thing, state={"state": {"reported": {"open": False, "flow": 0}}})
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted" and st["doc"]["version"] == 1, st
    docs = dev.wait("documents v1", since=mark, event="message", topic=topic(thing, "update/documents"))
    assert json.loads(docs["payload"])["current"]["version"] == 1

    # The backend asks for open=true (no clientToken: AWS's console / a
    # backend service rarely sends one).
    mark = dev.mark()
    resp = payload_of(data.update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"desired": {"open": True}}}).encode()))
    assert resp["state"] == {"desired": {"open": True}} and resp["version"] == 2, resp

    # update/accepted, /delta and /documents go out on three topics: AWS
    # does not order them for the subscriber.
    delta = dev.wait("delta", since=mark, event="delta", thing=thing)["doc"]
    assert delta["state"] == {"open": True}
    assert delta["version"] == 2
    assert isinstance(delta["timestamp"], int)
    assert_metadata_timestamps(delta["metadata"], {"open": True})
    assert "clientToken" not in delta

    fsc = dev.wait("foreignStateChange", since=mark, event="foreignStateChange", thing=thing)
    assert fsc["op"] == "update"
    assert fsc["doc"]["state"] == {"desired": {"open": True}}
    assert fsc["doc"]["version"] == 2
    assert_metadata_timestamps(fsc["doc"]["metadata"], {"desired": {"open": True}})

    docs = json.loads(dev.wait("documents v2", since=mark, event="message",
                               topic=topic(thing, "update/documents"))["payload"])
    assert docs["previous"]["version"] == 1 and docs["current"]["version"] == 2
    assert docs["previous"]["state"] == {"reported": {"open": False, "flow": 0}}
    assert docs["current"]["state"] == {"desired": {"open": True}, "reported": {"open": False, "flow": 0}}
    # Nothing of it was the device's own: no status event.
    assert not dev.since(mark, event="status")

    # The device acts on the delta the way the SDK's samples do: it reports
    # the new state, with the version it learnt from the delta (2).
    mark = dev.mark()
    tok = dev.op("update", thing, state={"state": {"reported": {"open": True, "flow": 7}}})
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted", st
    assert dev.sent(topic(thing, "update"), mark) == [
        {"state": {"reported": {"open": True, "flow": 7}}, "version": 2, "clientToken": tok}]
    assert st["doc"]["version"] == 3
    docs = json.loads(dev.wait("documents v3", since=mark, event="message",
                               topic=topic(thing, "update/documents"))["payload"])
    assert docs["current"]["version"] == 3
    # desired == reported now: no delta for version 3 (documents came after
    # where it would have been), and the shadow has no delta.
    assert not dev.since(mark, event="delta"), dev.describe()
    whole = payload_of(data.get_thing_shadow(thingName=thing))
    assert whole["version"] == 3
    assert whole["state"] == {"desired": {"open": True}, "reported": {"open": True, "flow": 7}}

    # A backend's DeleteThingShadow is a foreign change too.
    resp = payload_of(data.delete_thing_shadow(thingName=thing))
    assert resp["version"] == 3
    fsc = dev.wait("foreign delete", event="foreignStateChange", thing=thing)
    assert fsc["op"] == "delete" and fsc["doc"]["version"] == 3, fsc
    assert set(fsc["doc"]) == {"version", "timestamp"}, fsc


def test_version_conflict_through_the_sdk(env, device):
    """enableVersioning (the SDK's default) sends the last version it saw;
    a backend update the device did not hear about in between makes the
    update rejected with 409, reported by the SDK as a 'rejected' status for
    that clientToken. The device is registered without persistent
    subscriptions and deltas, so it only hears the replies to its own
    operations (as a device that subscribes per operation does)."""
    d, iot, data, base = env
    thing = helpers.unique_id("pump")
    resp = payload_of(data.update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"reported": {"rpm": 0}}}).encode()))
    assert resp["version"] == 1

    dev = device(thing)
    dev.register(thing, persistentSubscribe=False, ignoreDeltas=True)
    tok = dev.op("get", thing)
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted" and st["doc"]["version"] == 1, st

    resp = payload_of(data.update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"desired": {"rpm": 1200}}}).encode()))
    assert resp["version"] == 2

    mark = dev.mark()
    tok = dev.op("update", thing, state={"state": {"reported": {"rpm": 10}}})
    st = dev.status(thing, tok)
    assert dev.sent(topic(thing, "update"), mark) == [
        {"state": {"reported": {"rpm": 10}}, "version": 1, "clientToken": tok}]
    assert st["stat"] == "rejected", st
    assert st["doc"]["code"] == 409 and st["doc"]["message"] == "Version conflict", st
    assert isinstance(st["doc"]["timestamp"], int)
    raw = [json.loads(e["payload"]) for e in dev.since(mark, event="received", topic=topic(thing, "update/rejected"))]
    assert len(raw) == 1 and raw[0]["clientToken"] == tok, raw
    # Refused: nothing changed.
    whole = payload_of(data.get_thing_shadow(thingName=thing))
    assert whole["version"] == 2 and whole["state"]["reported"] == {"rpm": 0}

    # The SDK's way out: get (learns version 2), then update again.
    tok = dev.op("get", thing)
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted" and st["doc"]["version"] == 2, st
    assert st["doc"]["state"] == {"desired": {"rpm": 1200}, "reported": {"rpm": 0}, "delta": {"rpm": 1200}}
    mark = dev.mark()
    tok = dev.op("update", thing, state={"state": {"reported": {"rpm": 1200}}})
    st = dev.status(thing, tok)
    assert st["stat"] == "accepted" and st["doc"]["version"] == 3, st
    assert dev.sent(topic(thing, "update"), mark)[0]["version"] == 2
    whole = payload_of(data.get_thing_shadow(thingName=thing))
    assert whole["version"] == 3 and "delta" not in whole["state"], whole
    # The device never heard the backend's update: no delta, no foreign change.
    assert not dev.since(0, event="delta") and not dev.since(0, event="foreignStateChange")
