#!/usr/bin/python3
"""A device's side of AWS IoT fleet provisioning by claim, as the AWS
device SDKs do it, with paho-mqtt: connect with the claim certificate,
CreateKeysAndCertificate ($aws/certificates/create/json), RegisterThing
($aws/provisioning-templates/TEMPLATE/provision/json) with the parameters,
and write the new certificate and key.

usage: aws_fleet_provision.py HOST PORT CA CLAIM_CERT CLAIM_KEY TEMPLATE OUT_PREFIX [NAME=VALUE...]
Writes OUT_PREFIX.pem and OUT_PREFIX.key and prints RegisterThing's answer."""
import json
import os
import queue
import ssl
import sys
import uuid

import paho.mqtt.client as mqtt


def main(argv):
    host, port, ca, cert, key, template, out = argv[1:8]
    params = dict(a.split("=", 1) for a in argv[8:])
    answers = queue.Queue()
    c = mqtt.Client(client_id="claim-" + uuid.uuid4().hex[:12], protocol=mqtt.MQTTv311)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    c.tls_set_context(ctx)
    c.on_message = lambda cl, ud, m: answers.put((m.topic, json.loads(m.payload)))
    subscribed = queue.Queue()
    c.on_subscribe = lambda cl, ud, mid, granted: subscribed.put(granted)
    c.connect(host, int(port), 60)
    c.loop_start()

    def call(topic, body):
        c.subscribe([(topic + "/accepted", 1), (topic + "/rejected", 1)])
        subscribed.get(timeout=10)
        c.publish(topic, json.dumps(body), qos=1)
        got_topic, doc = answers.get(timeout=10)
        if got_topic.endswith("/rejected"):
            sys.exit("%s rejected: %s" % (topic, doc))
        return doc

    created = call("$aws/certificates/create/json", {})
    thing = call("$aws/provisioning-templates/%s/provision/json" % template,
                 {"certificateOwnershipToken": created["certificateOwnershipToken"],
                  "parameters": params})
    c.disconnect()
    c.loop_stop()
    with open(out + ".pem", "w") as f:
        f.write(created["certificatePem"])
    fd = os.open(out + ".key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(created["privateKey"])
    print(json.dumps(thing))


if __name__ == "__main__":
    main(sys.argv)
