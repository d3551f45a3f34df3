"""AWS Device Shadow service: a device over MQTT (paho with a client
certificate) and a backend through the data plane (botocore's iot-data
client, and the real `aws iot-data` CLI) round-tripping desired, reported
and delta; version conflicts; named shadows; delete and the version kept
across it; backends on the broker served exactly once by one of several
daemons (shared subscription); persistence across a restart; the policy
on shadow topics; subscription lifecycle events; the data-plane Publish."""
import contextlib
import json
import time

import pytest

import awshelp
import helpers
from awshelp import AwsDevice, policy

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = "arn:aws:iot:%s:%s:" % (REGION, ACCOUNT)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def allow(topics="*"):
    return policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:RetainPublish"],
         "Resource": ARN + "topic/" + topics},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": ARN + "topicfilter/" + topics},
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory, iotcored_bin):
    base = tmp_path_factory.mktemp("shadow")
    with awshelp.daemon_with_broker(base, iotcored_bin) as d:
        iot = awshelp.iot_client(d)
        data = awshelp.iot_client(d, service="iot-data")
        cert = awshelp.new_cert(iot, str(base), policy_doc=allow())
        yield d, iot, data, cert, str(base)


@contextlib.contextmanager
def device(d, cert, client_id=None):
    dev = AwsDevice(d, cert.cert_path, cert.key_path, client_id or helpers.unique_id("sh"))
    assert dev.connect() == 0, dev.describe()
    try:
        yield dev
    finally:
        dev.close()


def docs(dev, topic):
    return [json.loads(p) for t, p, q in list(dev.messages) if t == topic]


def wait_doc(dev, topic, pred=lambda j: True, timeout=helpers.T_DELIVER):
    """The first document on topic that satisfies pred."""
    got = helpers.wait_for(lambda: [j for j in docs(dev, topic) if pred(j)], timeout,
                           "a document on %s; have %r" % (topic, [m[0] for m in dev.messages][-8:]))
    return got[0]


def token_is(tok):
    return lambda j: j.get("clientToken") == tok


def rest_error(fn, **kw):
    import botocore.exceptions
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def rest_doc(resp):
    return json.loads(resp["payload"].read())


def test_device_and_backend_round_trip(env):
    """The backend sets desired through REST; the device gets /delta,
    reports, and the delta is gone; both read the same document."""
    d, iot, data, cert, base = env
    thing = helpers.unique_id("lamp")
    p = "$aws/things/%s/shadow/" % thing
    with device(d, cert) as dev:
        assert dev.subscribe_wait([(p + "update/accepted", 1), (p + "update/delta", 1),
                                   (p + "update/documents", 1), (p + "get/accepted", 1),
                                   (p + "get/rejected", 1), (p + "update/rejected", 1)]) == [1] * 6
        # Nothing yet: get is rejected with AWS's 404 text.
        dev.publish(p + "get", json.dumps({"clientToken": "g0"}), qos=1)
        rej = wait_doc(dev, p + "get/rejected", token_is("g0"))
        assert rej["code"] == 404 and rej["message"] == "No shadow exists with name: '%s'" % thing
        code, _ = rest_error(data.get_thing_shadow, thingName=thing)
        assert code == "ResourceNotFoundException"

        r = data.update_thing_shadow(thingName=thing, payload=json.dumps(
            {"state": {"desired": {"color": "red", "level": 3}}, "clientToken": "be1"}))
        acc = rest_doc(r)
        assert acc["state"] == {"desired": {"color": "red", "level": 3}}
        assert acc["version"] == 1 and acc["clientToken"] == "be1"
        assert isinstance(acc["metadata"]["desired"]["color"]["timestamp"], int)
        delta = wait_doc(dev, p + "update/delta")
        assert delta["state"] == {"color": "red", "level": 3} and delta["version"] == 1
        # The device sees the backend's accepted update too (the SDKs'
        # "foreign state change") and the documents with no previous.
        assert wait_doc(dev, p + "update/accepted", token_is("be1"))["version"] == 1
        first = wait_doc(dev, p + "update/documents")
        assert "previous" not in first and first["current"]["version"] == 1

        dev.publish(p + "update", json.dumps({"state": {"reported": {"color": "red", "level": 1}},
                                              "clientToken": "dev1"}), qos=1)
        acc = wait_doc(dev, p + "update/accepted", token_is("dev1"))
        assert acc["state"] == {"reported": {"color": "red", "level": 1}} and acc["version"] == 2
        docs2 = wait_doc(dev, p + "update/documents", lambda j: j["current"]["version"] == 2)
        assert docs2["previous"]["state"] == {"desired": {"color": "red", "level": 3}}
        assert docs2["current"]["state"]["reported"] == {"color": "red", "level": 1}

        # A delta remains for level only.
        full = rest_doc(data.get_thing_shadow(thingName=thing))
        assert full["state"]["delta"] == {"level": 3} and full["version"] == 2
        dev.publish(p + "get", json.dumps({"clientToken": "g1"}), qos=1)
        got = wait_doc(dev, p + "get/accepted", token_is("g1"))
        assert got["state"] == full["state"] and got["version"] == 2

        dev.publish(p + "update", json.dumps({"state": {"reported": {"level": 3}}}), qos=1)
        helpers.wait_for(lambda: "delta" not in rest_doc(data.get_thing_shadow(thingName=thing))["state"],
                         helpers.T_DELIVER, "the delta to clear")


def test_aws_cli_iot_data(env, tmp_path):
    """The real `aws iot-data` CLI: update, get (written to an outfile),
    list named shadows and delete, SigV4-signed as iotdata."""
    from test_aws_control import Cli
    d, iot, data, cert, base = env
    cli = Cli(d, str(tmp_path / "cli"), service="iot-data")
    thing = helpers.unique_id("cli")
    out = str(tmp_path / "out.json")
    rc, so, se = cli.run("update-thing-shadow", "--thing-name", thing, "--shadow-name", "cfg",
                         "--cli-binary-format", "raw-in-base64-out",
                         "--payload", json.dumps({"state": {"desired": {"mode": "eco"}}}), out)
    assert rc == 0, se
    assert json.load(open(out))["state"] == {"desired": {"mode": "eco"}}
    rc, so, se = cli.run("get-thing-shadow", "--thing-name", thing, "--shadow-name", "cfg", out)
    assert rc == 0, se
    got = json.load(open(out))
    assert got["state"]["desired"] == {"mode": "eco"} and got["state"]["delta"] == {"mode": "eco"}
    rc, so, se = cli.run("list-named-shadows-for-thing", "--thing-name", thing)
    assert rc == 0, se
    assert json.loads(so)["results"] == ["cfg"]
    rc, so, se = cli.run("delete-thing-shadow", "--thing-name", thing, "--shadow-name", "cfg", out)
    assert rc == 0, se
    assert json.load(open(out))["version"] == 1
    rc, so, se = cli.run("get-thing-shadow", "--thing-name", thing, "--shadow-name", "cfg", out)
    assert rc != 0 and "ResourceNotFoundException" in se and "No shadow exists with name: 'cfg'" in se


def test_version_conflict(env):
    d, iot, data, cert, base = env
    thing = helpers.unique_id("ver")
    p = "$aws/things/%s/shadow/" % thing
    data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"a":1}}}')
    data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"a":2}}}')
    code, msg = rest_error(data.update_thing_shadow, thingName=thing,
                           payload=b'{"state":{"reported":{"a":3}},"version":1}')
    assert (code, msg) == ("ConflictException", "Version conflict")
    with device(d, cert) as dev:
        assert dev.subscribe_wait([(p + "update/rejected", 1), (p + "update/accepted", 1)]) == [1, 1]
        dev.publish(p + "update", b'{"state":{"reported":{"a":4}},"version":1,"clientToken":"c1"}', qos=1)
        rej = wait_doc(dev, p + "update/rejected", token_is("c1"))
        assert rej["code"] == 409 and rej["message"] == "Version conflict"
        dev.publish(p + "update", b'{"state":{"reported":{"a":5}},"version":2,"clientToken":"c2"}', qos=1)
        assert wait_doc(dev, p + "update/accepted", token_is("c2"))["version"] == 3
        # Bad documents: AWS's codes and texts on /rejected.
        dev.publish(p + "update", b'{"state":', qos=1)
        assert wait_doc(dev, p + "update/rejected", lambda j: j["code"] == 400)["message"] == "Invalid JSON"
        big = json.dumps({"state": {"reported": {"blob": "x" * 9000}}, "clientToken": "big"})
        dev.publish(p + "update", big, qos=1)
        assert wait_doc(dev, p + "update/rejected", token_is("big"))["code"] == 413
    assert rest_doc(data.get_thing_shadow(thingName=thing))["state"]["reported"] == {"a": 5}


def test_named_shadows_and_delete(env):
    d, iot, data, cert, base = env
    thing = helpers.unique_id("multi")
    pn = "$aws/things/%s/shadow/name/%s/" % (thing, "net")
    with device(d, cert) as dev:
        assert dev.subscribe_wait("$aws/things/%s/shadow/#" % thing) == [1]
        dev.publish(pn + "update", b'{"state":{"reported":{"ip":"10.0.0.2"}},"clientToken":"n1"}', qos=1)
        assert wait_doc(dev, pn + "update/accepted", token_is("n1"))["version"] == 1
        data.update_thing_shadow(thingName=thing, shadowName="power", payload=b'{"state":{"desired":{"on":true}}}')
        data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"fw":"1.0"}}}')
        names = data.list_named_shadows_for_thing(thingName=thing)["results"]
        assert names == ["net", "power"]                     # the classic shadow is not named
        page = data.list_named_shadows_for_thing(thingName=thing, pageSize=1)
        assert page["results"] == ["net"]
        assert data.list_named_shadows_for_thing(thingName=thing, pageSize=1,
                                                 nextToken=page["nextToken"])["results"] == ["power"]
        # The named shadows are separate documents.
        assert rest_doc(data.get_thing_shadow(thingName=thing, shadowName="net"))["state"] == \
            {"reported": {"ip": "10.0.0.2"}}
        # Delete over MQTT; the version survives a recreate.
        dev.publish(pn + "delete", b'{"clientToken":"del"}', qos=1)
        acc = wait_doc(dev, pn + "delete/accepted", token_is("del"))
        assert acc["version"] == 1
        assert data.list_named_shadows_for_thing(thingName=thing)["results"] == ["power"]
        dev.publish(pn + "delete", b'{"clientToken":"del2"}', qos=1)
        rej = wait_doc(dev, pn + "delete/rejected", token_is("del2"))
        assert rej["code"] == 404 and rej["message"] == "No shadow exists with name: 'net'"
        dev.publish(pn + "update", b'{"state":{"reported":{"ip":"10.0.0.3"}},"clientToken":"n2"}', qos=1)
        assert wait_doc(dev, pn + "update/accepted", token_is("n2"))["version"] == 2
        # A REST delete tells the devices too.
        data.delete_thing_shadow(thingName=thing, shadowName="power")
        assert wait_doc(dev, "$aws/things/%s/shadow/name/power/delete/accepted" % thing)["version"] == 1
    code, _ = rest_error(data.get_thing_shadow, thingName="bad name!")
    assert code == "InvalidRequestException"


def test_backends_on_the_broker_served_once(env, tmp_path, iotcored_bin):
    """Backends publish requests to aws/$aws/things/... on the broker; with
    two daemons on one broker each request is answered exactly once."""
    d, iot, data, cert, base = env
    # Several daemons on one broker need service links of their own ids.
    d2 = helpers.Daemon(str(tmp_path / "second"), d.broker.url, binary=iotcored_bin,
                        upstream={"service_client_id": "iotcored-service-2"}).start()
    try:
        thing = helpers.unique_id("be")
        p = "aws/$aws/things/%s/shadow/" % thing
        be = helpers.Backend(d.broker.port, topic=p + "update/+").connect()
        try:
            # Both daemons' service links subscribe when they come up.
            time.sleep(0.3 * helpers.SCALE)
            for i in range(10):
                be.c.publish(p + "update", json.dumps({"state": {"reported": {"n": i}},
                                                       "clientToken": "t%d" % i}), qos=1)
            helpers.wait_for(lambda: len(be.find(p + "update/accepted")) >= 10, helpers.T_DELIVER,
                             "10 accepted")
            time.sleep(0.5 * helpers.SCALE)          # a second answer would be here by now
            acc = [json.loads(m[1]) for m in be.find(p + "update/accepted")]
            assert sorted(a["clientToken"] for a in acc) == sorted("t%d" % i for i in range(10))
        finally:
            be.close()
    finally:
        d2.stop_checked()


def test_shadow_survives_restart(env, tmp_path, iotcored_bin):
    """Shadows live in the store: a restarted daemon serves the same
    document and continues the version. (A daemon of its own: a restart
    moves the ephemeral admin port under the module's clients.)"""
    d0 = env[0]
    d = helpers.Daemon(str(tmp_path / "restarted"), d0.broker.url, binary=iotcored_bin,
                       upstream={"service_client_id": "iotcored-service-3"}).start()
    try:
        data = awshelp.iot_client(d, service="iot-data")
        thing = helpers.unique_id("keep")
        data.update_thing_shadow(thingName=thing, payload=b'{"state":{"desired":{"t":21}}}')
        data.update_thing_shadow(thingName=thing, payload=b'{"state":{"desired":{"t":22}}}')
        d.stop_checked()
        d.start()
        data = awshelp.iot_client(d, service="iot-data")
        got = rest_doc(data.get_thing_shadow(thingName=thing))
        assert got["version"] == 2 and got["state"]["desired"] == {"t": 22}
        acc = rest_doc(data.update_thing_shadow(thingName=thing, payload=b'{"state":{"desired":{"t":23}}}'))
        assert acc["version"] == 3
    finally:
        d.stop_checked()


def test_policy_governs_shadow_topics(env):
    """A device allowed only its own thing's shadow (policy variable
    iot:Connection.Thing.ThingName is not used: the client id names the
    thing, as AWS's examples do) cannot touch another thing's shadow."""
    d, iot, data, cert, base = env
    own = helpers.unique_id("own")
    doc = policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": ARN + "topic/$aws/things/${iot:ClientId}/shadow/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": ARN + "topicfilter/$aws/things/${iot:ClientId}/shadow/*"},
    )
    c2 = awshelp.new_cert(iot, base, policy_doc=doc)
    with device(d, c2, client_id=own) as dev:
        assert dev.subscribe_wait("$aws/things/%s/shadow/update/accepted" % own) == [1]
        assert dev.subscribe_wait("$aws/things/other/shadow/update/accepted") == [0x80]
        dev.publish("$aws/things/%s/shadow/update" % own, b'{"state":{"reported":{"ok":1}}}', qos=1)
        assert wait_doc(dev, "$aws/things/%s/shadow/update/accepted" % own)["version"] == 1
        dev.publish("$aws/things/other/shadow/update", b'{"state":{"reported":{"x":1}}}', qos=1)
        assert dev.wait_closed()                     # AWS disconnects a denied publish
    code, _ = rest_error(data.get_thing_shadow, thingName="other")
    assert code == "ResourceNotFoundException"


def test_devices_cannot_forge_responses(env):
    d, iot, data, cert, base = env
    with device(d, cert) as dev:
        dev.publish("$aws/things/x/shadow/update/accepted", b"{}", qos=1)
        assert dev.wait_closed()


def test_subscription_lifecycle_events(env):
    d, iot, data, cert, base = env
    cid = helpers.unique_id("subev")
    be = helpers.Backend(d.broker.port, topic="aws/$aws/events/subscriptions/#").connect()
    try:
        with device(d, cert, client_id=cid) as dev:
            assert dev.subscribe_wait([("a/b", 1), ("c/+", 0)]) == [1, 0]
            dev.c.unsubscribe("a/b")
            m = be.wait_message("aws/$aws/events/subscriptions/unsubscribed/" + cid)
        sub = json.loads(be.wait_message("aws/$aws/events/subscriptions/subscribed/" + cid)[1])
        unsub = json.loads(m[1])
        assert sub["eventType"] == "subscribed" and sub["topics"] == ["a/b", "c/+"]
        assert sub["clientId"] == cid and sub["principalIdentifier"] == cert.id
        assert unsub["eventType"] == "unsubscribed" and unsub["topics"] == ["a/b"]
        assert unsub["sessionIdentifier"] == sub["sessionIdentifier"]
    finally:
        be.close()


def test_data_plane_publish(env):
    """iot-data Publish on the admin port: a device receives it; QoS 1
    answers after the broker's ack; retain keeps it; reserved topics are
    refused; a shadow request topic is served."""
    d, iot, data, cert, base = env
    t = "fleet/%s/cmd" % helpers.unique_id("pub")
    with device(d, cert) as dev:
        assert dev.subscribe_wait(t) == [1]
        data.publish(topic=t, qos=1, payload=b"reboot")
        helpers.wait_for(lambda: any(m[0] == t and m[1] == b"reboot" for m in dev.messages),
                         helpers.T_DELIVER, "the published command")
        # An empty payload (Content-Length: 0) is published once, not twice.
        data.publish(topic=t, qos=1, payload=b"")
        helpers.wait_for(lambda: any(m[1] == b"" for m in dev.messages), helpers.T_DELIVER,
                         "the empty message")
        time.sleep(0.3 * helpers.SCALE)
        assert len([m for m in dev.messages if m[1] == b""]) == 1
    data.publish(topic=t + "/r", qos=0, retain=True, payload=b"kept")
    with device(d, cert) as dev:
        assert dev.subscribe_wait(t + "/r") == [1]
        helpers.wait_for(lambda: any(m[1] == b"kept" for m in dev.messages), helpers.T_DELIVER,
                         "the retained message")
    code, _ = rest_error(data.publish, topic="$aws/events/presence/connected/x", qos=0, payload=b"{}")
    assert code == "ForbiddenException"
    code, _ = rest_error(data.publish, topic="a/+/b", qos=0, payload=b"")
    assert code == "InvalidRequestException"
    thing = helpers.unique_id("viapub")
    data.publish(topic="$aws/things/%s/shadow/update" % thing, qos=1,
                 payload=b'{"state":{"reported":{"via":"publish"}}}')
    assert rest_doc(data.get_thing_shadow(thingName=thing))["state"]["reported"] == {"via": "publish"}


def test_retained_messages(env):
    """GetRetainedMessage / ListRetainedMessages read what the broker
    retains under the AWS prefix, whoever published it."""
    d, iot, data, cert, base = env
    root = "rt/%s" % helpers.unique_id("ret")
    with device(d, cert) as dev:
        assert dev.publish_acked(root + "/a", b"alpha", qos=1, retain=True)
        assert dev.publish_acked(root + "/b", b"\x00\x01binary", qos=0, retain=True)
        assert dev.publish_acked(root + "/live", b"not kept", qos=1)
    data.publish(topic=root + "/c", qos=1, retain=True, payload=b"from rest")
    got = data.get_retained_message(topic=root + "/a")
    assert got["topic"] == root + "/a" and got["payload"] == b"alpha" and got["qos"] == 1
    assert isinstance(got["lastModifiedTime"], int)
    assert data.get_retained_message(topic=root + "/b")["payload"] == b"\x00\x01binary"
    code, _ = rest_error(data.get_retained_message, topic=root + "/live")
    assert code == "ResourceNotFoundException"
    mine = lambda page: [t for t in page["retainedTopics"] if t["topic"].startswith(root)]
    listed = mine(data.list_retained_messages())
    assert [(t["topic"], t["payloadSize"]) for t in listed] == \
        [(root + "/a", 5), (root + "/b", 8), (root + "/c", 9)]
    # Paging: one by one through the whole list, in topic order.
    seen, token = [], None
    for _ in range(100):
        page = data.list_retained_messages(maxResults=1, **({"nextToken": token} if token else {}))
        seen += [t["topic"] for t in page["retainedTopics"]]
        token = page.get("nextToken")
        if not token:
            break
    assert [t for t in seen if t.startswith(root)] == [root + "/a", root + "/b", root + "/c"]
    assert seen == sorted(seen)
    # An empty retained publish clears it (MQTT), and the API agrees.
    data.publish(topic=root + "/a", qos=1, retain=True, payload=b"")
    code, _ = rest_error(data.get_retained_message, topic=root + "/a")
    assert code == "ResourceNotFoundException"
