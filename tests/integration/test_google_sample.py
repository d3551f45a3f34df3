"""A device written the way Google's own Python sample was
(python-docs-samples iot/api-client/mqtt_example/cloudiot_mqtt_example.py):
paho + PyJWT, client id projects/.../devices/D, username "unused", the JWT
as password, subscriptions to /devices/D/config (QoS 1) and
/devices/D/commands/# (QoS 0), events at QoS 1, and a token refresh done by
reconnecting with a fresh JWT. It must run against iotcored unchanged."""

import ssl
import threading
import time

import jwt
import paho.mqtt.client as mqtt

import helpers as h


def create_jwt(project_id, private_key, algorithm, minutes):
    # The sample's create_jwt(): iat, exp, aud = project.
    now = int(time.time())
    token = {"iat": now, "exp": now + 60 * minutes, "aud": project_id}
    return jwt.encode(token, private_key, algorithm=algorithm)


class SampleDevice:
    """The sample's get_client() and callbacks, nearly line for line."""

    def __init__(self, d, dev, private_pem, algorithm):
        self.d, self.dev, self.private_pem, self.algorithm = d, dev, private_pem, algorithm
        self.lock = threading.Lock()
        self.configs = []
        self.commands = []
        self.connects = 0
        self.connected = threading.Event()
        self.client = None

    def get_client(self):
        client = mqtt.Client(client_id=self.dev.client_id)
        client.username_pw_set(username="unused",
                               password=create_jwt(self.dev.project, self.private_pem, self.algorithm, 20))
        client.tls_set(ca_certs=self.d.ca_path, tls_version=ssl.PROTOCOL_TLSv1_2)
        client.on_connect = self.on_connect
        client.on_disconnect = lambda c, u, rc: self.connected.clear()
        client.on_message = self.on_message
        client.connect("127.0.0.1", self.d.mqtts_port)
        mqtt_config_topic = "/devices/{}/config".format(self.dev.id)
        client.subscribe(mqtt_config_topic, qos=1)
        mqtt_command_topic = "/devices/{}/commands/#".format(self.dev.id)
        client.subscribe(mqtt_command_topic, qos=0)
        return client

    def on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            with self.lock:
                self.connects += 1
            self.connected.set()

    def on_message(self, client, userdata, message):
        with self.lock:
            if message.topic.endswith("/config"):
                self.configs.append(bytes(message.payload))
            else:
                self.commands.append((message.topic, bytes(message.payload)))

    def start(self):
        self.client = self.get_client()
        self.client.loop_start()
        h.wait_for(self.connected.is_set, h.T_CONNACK, "sample device CONNACK")

    def refresh(self):
        # The sample: "Process network events ... if seconds_since_issue >
        # 60 * jwt_exp_mins: client.loop_stop(); jwt_iat = ...; client =
        # get_client(...)". iotcored closes at the refresh deadline; the
        # sample just reconnects with a fresh token.
        self.client.loop_stop()
        self.client.disconnect()
        self.start()

    def stop(self):
        if self.client:
            self.client.disconnect()
            self.client.loop_stop()


def test_sample_device_runs_unchanged(daemon_factory):
    d = daemon_factory(google={"refresh_interval": 4})
    backend = h.Backend(d.broker.port).connect()
    key = h.ec_key()
    dev = d.new_device(fmt="ES256_PEM", key=key)
    sample = SampleDevice(d, dev, h.private_pem(key), "ES256")
    try:
        sample.start()
        # The config subscription gets the current config (version 1, empty)
        # at once.
        h.wait_for(lambda: sample.configs, h.T_DELIVER, "initial config")
        assert sample.configs[0] == b""

        # Telemetry at QoS 1, as publish_mqtt_message did, across the
        # hourly-refresh close (shortened here to 4 s) and a reconnect.
        sent = []
        deadline = time.monotonic() + 9 * h.SCALE
        i = 0
        while time.monotonic() < deadline:
            if not sample.connected.is_set():
                sample.refresh()
            payload = "{}/{}-payload-{}".format(dev.registry, dev.id, i).encode()
            info = sample.client.publish("/devices/{}/events".format(dev.id), payload, qos=1)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
            if info.is_published():
                sent.append(payload)
            i += 1
            time.sleep(0.25)
        assert sample.connects >= 2, "the session was never closed at the refresh deadline"
        assert len(sent) > 10
        for payload in sent:
            backend.wait_message(dev.upstream_topic(), payload)

        # A backend command on the broker reaches the subscribed device.
        if not sample.connected.is_set():
            sample.refresh()
        cmd = h.Backend(d.broker.port, topic=[]).connect(subscribe=False)
        try:
            cmd.c.publish(dev.upstream_topic("commands", "reboot"), b"now", qos=1).wait_for_publish(5)
        finally:
            cmd.close()
        h.wait_for(lambda: sample.commands, h.T_DELIVER, "command at the device")
        assert sample.commands[0] == ("/devices/{}/commands/reboot".format(dev.id), b"now")
    finally:
        sample.stop()
        backend.close()
