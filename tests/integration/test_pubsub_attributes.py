"""Google's Pub/Sub message attributes on forwarded telemetry (checklist row
19): every event and state message a device sends (over MQTT, through a
gateway, or over the HTTP bridge) reaches the broker carrying deviceId,
deviceNumId, deviceRegistryLocation, deviceRegistryId, projectId and, for
events with a subfolder, subFolder, as MQTT 5 user properties, read here by
a real MQTT 5 subscriber (paho, MQTTv5). With upstream.protocol_version = 4
the messages still flow, without attributes (3.1.1 cannot carry them)."""
import base64
import json
import threading

import paho.mqtt.client as mqtt
import pytest
import requests

import helpers as h


class V5Backend:
    """paho MQTT 5 subscriber on the broker collecting (topic, payload, user properties)."""

    def __init__(self, port, topic="google/#"):
        self.messages = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(client_id=h.unique_id("v5"), protocol=mqtt.MQTTv5)
        subacked = threading.Event()
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *a: subacked.set()
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        self.c.subscribe(topic, qos=1)
        assert subacked.wait(h.T_CONNACK), "v5 backend SUBACK"

    def _on_message(self, c, ud, m):
        props = getattr(m.properties, "UserProperty", None) or []
        with self.lock:
            self.messages.append((m.topic, bytes(m.payload), list(props)))

    def wait(self, topic, payload):
        def find():
            with self.lock:
                for t, p, props in self.messages:
                    if t == topic and p == payload:
                        return (props,)     # a tuple: [] (no attributes) is an answer too
            return None
        return h.wait_for(find, h.T_DELIVER, "%s on %s" % (payload, topic))[0]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def expected(dev, num_id, sub=None):
    a = [("deviceId", dev.id), ("deviceNumId", str(num_id)), ("deviceRegistryLocation", dev.location),
         ("deviceRegistryId", dev.registry), ("projectId", dev.project)]
    return a + [("subFolder", sub)] if sub else a


@pytest.fixture
def hd(daemon_factory):
    return daemon_factory(http_devices=True)


def test_mqtt_events_and_state_carry_attributes(hd):
    d = hd
    be = V5Backend(d.broker.port)
    dev = d.new_device()
    num = int(dev.resource["numId"])
    c = dev.connect()
    try:
        assert c.publish_acked(dev.topic("events", "sensors/temp"), b"21.5")
        assert c.publish_acked(dev.topic("events"), b"plain")
        assert c.publish_acked(dev.topic("state"), b"on")
        assert be.wait(dev.upstream_topic("events", "sensors/temp"), b"21.5") == \
            expected(dev, num, "sensors/temp")
        assert be.wait(dev.upstream_topic("events"), b"plain") == expected(dev, num)
        assert be.wait(dev.upstream_topic("state"), b"on") == expected(dev, num)
    finally:
        c.close()
        be.close()


def test_http_bridge_events_carry_attributes(hd):
    d = hd
    be = V5Backend(d.broker.port)
    dev = d.new_device()
    num = int(dev.resource["numId"])
    try:
        url = "https://127.0.0.1:%d/v1/projects/%s/locations/%s/registries/%s/devices/%s:publishEvent" % (
            d.devices_port, dev.project, dev.location, dev.registry, dev.id)
        r = requests.post(url, json={"binaryData": base64.b64encode(b"via-http").decode(), "subFolder": "h"},
                          headers={"authorization": "Bearer " + dev.token()}, verify=d.ca_path, timeout=15)
        assert r.status_code == 200, r.text
        assert be.wait(dev.upstream_topic("events", "h"), b"via-http") == expected(dev, num, "h")
    finally:
        be.close()


def test_gateway_message_carries_the_attached_device(daemon_factory):
    d = daemon_factory()
    be = V5Backend(d.broker.port)
    reg = d.DEFAULT_REGISTRY
    d.ensure_registry(d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, reg)
    gw_key, leaf = h.ec_key(), d.new_device(registry=reg)
    r = d.rest("POST", d.reg_path(d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, reg) + "/devices",
               json={"id": "gw-attr", "gatewayConfig": {"gatewayType": "GATEWAY",
                                                       "gatewayAuthMethod": "ASSOCIATION_ONLY"},
                     "credentials": [{"publicKey": {"format": "ES256_PEM", "key": h.public_pem(gw_key)}}]})
    assert r.status_code == 200, r.text
    gw = h.Device(d, d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, reg, "gw-attr", gw_key, "ES256", r.json())
    r = d.rest("POST", d.reg_path(d.DEFAULT_PROJECT, d.DEFAULT_LOCATION, reg) + ":bindDeviceToGateway",
               json={"gatewayId": "gw-attr", "deviceId": leaf.id})
    assert r.status_code == 200, r.text
    c = gw.connect()
    try:
        assert c.publish_acked(leaf.topic("attach"), json.dumps({"authorization": ""}).encode())
        assert c.publish_acked(leaf.topic("events"), b"for-leaf")
        assert be.wait(leaf.upstream_topic("events"), b"for-leaf") == \
            expected(leaf, int(leaf.resource["numId"]))
    finally:
        c.close()
        be.close()


def test_mqtt_311_upstream_still_forwards(daemon_factory):
    d = daemon_factory(upstream={"protocol_version": 4})
    be = V5Backend(d.broker.port)
    dev = d.new_device()
    c = dev.connect()
    try:
        assert c.publish_acked(dev.topic("events"), b"old-broker")
        assert be.wait(dev.upstream_topic("events"), b"old-broker") == []
    finally:
        c.close()
        be.close()
