// A device written the way the AWS IoT Device SDK for JavaScript (v1)
// documents its Device Shadow class: awsIot.thingShadow() with a client
// certificate over mqtts, register(), get(), update(), delete(), and the
// 'status', 'delta', 'foreignStateChange' and 'timeout' events. The SDK is
// used unchanged; this script only steps it and reports what happens.
//
// Driven by pytest: reads one JSON command per line on stdin, prints one
// JSON line per event on stdout.
//   {"cmd": "register", "thing": T, "opts": {...}}  -> registered
//   {"cmd": "get" | "delete", "thing": T}           -> op (with the clientToken the SDK chose)
//   {"cmd": "update", "thing": T, "state": {...}}   -> op
//   {"cmd": "subscribe", "topic": F}                -> suback (a non-shadow topic; messages -> message)
//   {"cmd": "end"}                                  -> exits 0 once the connection is closed
// Events: connect, registered, op, status, delta, foreignStateChange,
// timeout, message, sent / received (every PUBLISH on the wire, payload as
// text: what the SDK sent and what the daemon answered), close, error.
// Exits 1 when stdin closes without "end" or after 60 s.
// usage: node aws_shadow.js PORT CA CERT KEY CLIENT_ID
'use strict';
const readline = require('readline');
const awsIot = require('aws-iot-device-sdk');

const [port, ca, cert, key, clientId] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const text = (p) => (p === undefined || p === null ? null : Buffer.isBuffer(p) ? p.toString() : String(p));

const shadows = awsIot.thingShadow({
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
}, {
  operationTimeout: 8000,
});

const guard = setTimeout(() => { out({ event: 'guard-timeout' }); process.exit(1); }, 60000);

shadows.on('connect', () => out({ event: 'connect' }));
shadows.on('close', () => out({ event: 'close' }));
shadows.on('reconnect', () => out({ event: 'reconnect' }));
shadows.on('offline', () => out({ event: 'offline' }));
shadows.on('error', (e) => out({ event: 'error', err: String(e) }));
shadows.on('status', (thing, stat, clientToken, doc) =>
  out({ event: 'status', thing: thing, stat: stat, clientToken: clientToken, doc: doc }));
shadows.on('delta', (thing, doc) => out({ event: 'delta', thing: thing, doc: doc }));
shadows.on('foreignStateChange', (thing, op, doc) =>
  out({ event: 'foreignStateChange', thing: thing, op: op, doc: doc }));
shadows.on('timeout', (thing, clientToken) => out({ event: 'timeout', thing: thing, clientToken: clientToken }));
shadows.on('message', (topic, payload) => out({ event: 'message', topic: topic, payload: text(payload) }));
shadows.on('packetsend', (p) => {
  if (p.cmd === 'publish') out({ event: 'sent', topic: p.topic, qos: p.qos, payload: text(p.payload) });
});
shadows.on('packetreceive', (p) => {
  if (p.cmd === 'publish') out({ event: 'received', topic: p.topic, qos: p.qos, payload: text(p.payload) });
});

let ending = false;

function run(c) {
  switch (c.cmd) {
  case 'register':
    shadows.register(c.thing, c.opts || {}, (err, failed) =>
      out({ event: 'registered', thing: c.thing, err: err ? String(err) : null,
            failed: failed ? failed.map((g) => g.qos) : null }));
    break;
  case 'get':
  case 'delete':
    out({ event: 'op', op: c.cmd, thing: c.thing, clientToken: shadows[c.cmd](c.thing) });
    break;
  case 'update':
    out({ event: 'op', op: 'update', thing: c.thing, clientToken: shadows.update(c.thing, c.state) });
    break;
  case 'subscribe':
    shadows.subscribe(c.topic, { qos: 1 }, (err, granted) =>
      out({ event: 'suback', topic: c.topic, err: err ? String(err) : null,
            granted: granted ? granted.map((g) => g.qos) : null }));
    break;
  case 'end':
    ending = true;
    clearTimeout(guard);
    shadows.end(false, () => { out({ event: 'ended' }); process.exit(0); });
    break;
  default:
    out({ event: 'bad-command', command: c });
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    out({ event: 'bad-command', line: line });
    return;
  }
  run(c);
}).on('close', () => {
  if (ending) return;
  out({ event: 'stdin-closed' });
  process.exit(1);
});
