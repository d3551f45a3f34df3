// A device written the way the AWS IoT Device SDK for JavaScript (v1)
// documents it: awsIot.device() with a client certificate over mqtts.
// Prints one JSON line per event for the pytest driver; exits 0 after the
// first message on the subscribed topic, 1 on timeout.
// usage: node aws_device.js PORT CA CERT KEY CLIENT_ID SUB_TOPIC PUB_TOPIC
'use strict';
const awsIot = require('aws-iot-device-sdk');

const [port, ca, cert, key, clientId, subTopic, pubTopic] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const device = awsIot.device({
  host: '127.0.0.1',
  port: Number(port),
  protocol: 'mqtts',
  caPath: ca,
  certPath: cert,
  keyPath: key,
  clientId: clientId,
  keepalive: 30,
  baseReconnectTimeMs: 500,
  maximumReconnectTimeMs: 1000,
});

const timer = setTimeout(() => { out({ event: 'timeout' }); process.exit(1); }, 15000);

device.on('connect', () => {
  out({ event: 'connect' });
  device.subscribe(subTopic, { qos: 1 }, (err, granted) => {
    out({ event: 'suback', err: err ? String(err) : null, granted: granted && granted.map((g) => g.qos) });
    device.publish(pubTopic, 'hello from the js sdk', { qos: 1 }, (e) => {
      out({ event: 'published', err: e ? String(e) : null });
    });
  });
});
device.on('message', (topic, payload) => {
  out({ event: 'message', topic: topic, payload: payload.toString() });
  clearTimeout(timer);
  device.end(false, () => process.exit(0));
});
device.on('close', () => out({ event: 'close' }));
device.on('error', (e) => out({ event: 'error', err: String(e) }));
