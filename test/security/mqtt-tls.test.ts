// MQTT over TLS on the embedded broker and on mosquitto, with box identity by client
// certificate (mTLS) beside derived passwords (issue 12, build item 8). The identity comes from
// the certificate (CN or SAN URI), never from the username. SECURITY.md row "broker: TLS".

import { connect } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { MqttClient, type IClientOptions } from 'mqtt';
import { staticCredentials } from '../../headend/broker/broker-auth.ts';
import { type AedesBrokerOptions, type EmbeddedBroker, startAedesBroker } from '../../headend/broker/broker-aedes.ts';
import { ManualClock } from '../../runtime/index.ts';
import { connectMqttTransport, type MqttTransport } from '../../transport/mqtt.ts';
import { liteMqttClient } from '../../transport/mqtt-lite.ts';
import { type MqttTlsOptions, openSocket, resolveMqttOptions } from '../../transport/mqtt-options.ts';
import { boxAddress } from '../../transport/mqtt-topics.ts';
import { type CertFiles, type TestPki, makePki } from '../_helpers/certs.ts';
import { needProgram, which } from '../_helpers/env.ts';
import { startMosquitto } from '../_helpers/mosquitto.ts';
import { USERS, secretOf, until } from '../_helpers/mqtt-fixtures.ts';

// Liveness bounds for two busy cores, not latency goals: a connect attempt waits 3 x 2000 ms + 50.
const WAIT = 8000;
const openssl = which('openssl');
let pki: TestPki | undefined;
test.before(() => {
  if (openssl !== undefined) pki = makePki(openssl);
});
test.after.always(() => pki?.remove());

function have(t: ExecutionContext): TestPki | undefined {
  return needProgram(t, 'openssl', 'test certificates for MQTT over TLS') === undefined ? undefined : pki;
}

function withCert(p: TestPki, c?: CertFiles, ca = p.ca.cert): MqttTlsOptions {
  return { ca, ...(c === undefined ? {} : { cert: c.cert, key: c.key }) };
}

function tlsTransport(url: string, role: 'box' | 'headend', id: string, tls: MqttTlsOptions, password?: string, client?: 'lite'): Promise<MqttTransport> {
  return connectMqttTransport({ role, url, id, tls, ...(password === undefined ? {} : { password }), ...(client === undefined ? {} : { client: liteMqttClient }), log: () => {}, deadPath: { initialRttMs: 2000 } });
}

/** A plain mqtt.js client over TLS; rejects when the broker refuses it. */
function rawTls(url: string, tls: MqttTlsOptions, options: IClientOptions): Promise<MqttClient> {
  const u = new URL(url);
  const o = { host: u.hostname, port: Number(u.port), tls };
  return new Promise((resolve, reject) => {
    const c = new MqttClient(() => openSocket(o), { reconnectPeriod: 0, ...options });
    const fail = (e: Error): void => {
      c.end(true);
      reject(e);
    };
    c.once('error', fail);
    c.once('close', () => fail(new Error('closed before CONNACK')));
    c.once('connect', () => {
      c.removeAllListeners('error');
      c.removeAllListeners('close');
      c.on('error', () => {});
      resolve(c);
    });
  });
}

async function aedesTls(p: TestPki, clientCerts: 'optional' | 'required', extra: Partial<AedesBrokerOptions> = {}): Promise<EmbeddedBroker> {
  return startAedesBroker({
    credentials: staticCredentials(USERS),
    log: () => {},
    tls: { cert: p.server.cert, key: p.server.key, ca: [p.ca.cert, p.nodeCa.cert], clientCerts, nodeCa: p.nodeCa.cert },
    ...extra,
  });
}


/** The node sends to `box`; resolves when it arrived. */
async function roundTrip(node: MqttTransport, box: MqttTransport, boxId: string): Promise<void> {
  const got: unknown[] = [];
  box.onEnvelope((e) => got.push(e.body));
  await node.send({ v: 1, kind: 'msg', id: 1, src: node.address, dst: boxAddress(boxId), body: 'hello' });
  await until(() => got.includes('hello'), WAIT, `message to ${boxId}`);
}

test('aedes mTLS: boxes and nodes are who their certificates say; no password needed', async (t) => {
  const p = have(t);
  if (p === undefined) return;
  const b = await aedesTls(p, 'optional');
  try {
    t.regex(b.url, /^mqtts:\/\//);
    const node = await tlsTransport(b.url, 'headend', 'node-1', withCert(p, p.client('node-1@headend', { by: 'nodeCa' })));
    const box = await tlsTransport(b.url, 'box', 'box-a', withCert(p, p.client('box-a')));
    const byUri = await tlsTransport(b.url, 'box', 'box-c', withCert(p, p.client('not-an-id!', { uri: 'weft://box/box-c' })));
    await roundTrip(node, box, 'box-a');
    await roundTrip(node, byUri, 'box-c');
    await Promise.all([node.close(), box.close(), byUri.close()]);
    t.is(b.stats().authFailed + b.stats().badCertificate + b.stats().tlsFailed, 0);
  } finally {
    await b.close();
  }
});

test('aedes TLS with the box firmware\'s own MQTT client: by certificate and by password', async (t) => {
  const p = have(t);
  if (p === undefined) return;
  const b = await aedesTls(p, 'optional');
  try {
    const node = await tlsTransport(b.url, 'headend', 'node-1', withCert(p, p.client('node-1@headend', { by: 'nodeCa' })));
    const byCert = await tlsTransport(b.url, 'box', 'box-a', withCert(p, p.client('box-a')), undefined, 'lite');
    const byPassword = await tlsTransport(b.url, 'box', 'box-b', withCert(p), secretOf('box-b'), 'lite');
    await roundTrip(node, byCert, 'box-a');
    await roundTrip(node, byPassword, 'box-b');
    // The broker's certificate is checked by the lite client's stream too.
    await t.throwsAsync(tlsTransport(b.url, 'box', 'box-c', withCert(p, undefined, p.nodeCa.cert), secretOf('box-c'), 'lite'));
    await Promise.all([node.close(), byCert.close(), byPassword.close()]);
  } finally {
    await b.close();
  }
});

test('aedes mTLS: the username cannot override the certificate, nor a CA sign beyond its role', async (t) => {
  const p = have(t);
  if (p === undefined) return;
  const b = await aedesTls(p, 'optional');
  try {
    const boxA = withCert(p, p.client('box-a'));
    // box-a's certificate with box-b's username and password: refused, not box-b.
    await t.throwsAsync(rawTls(b.url, boxA, { username: 'box-b', clientId: 'box-b', password: secretOf('box-b') }));
    await t.throwsAsync(rawTls(b.url, boxA, { clientId: 'box-b' }), undefined, 'nor its client id');
    t.is(b.stats().idMismatch, 2);
    // A node name in a certificate of the box CA; a box name from an unknown CA.
    await t.throwsAsync(rawTls(b.url, withCert(p, p.client('node-1@headend')), { clientId: 'node-1@headend' }));
    t.is(b.stats().badCertificate, 1);
    await t.throwsAsync(rawTls(b.url, withCert(p, p.client('box-a', { by: 'rogue' })), { clientId: 'box-a' }));
    await until(() => b.stats().tlsFailed === 1, WAIT, 'the rogue certificate counted');
    t.is(b.stats().connections, 0);
  } finally {
    await b.close();
  }
});

test('aedes TLS: optional certificates keep derived passwords working; required ones do not', async (t) => {
  const p = have(t);
  if (p === undefined) return;
  const optional = await aedesTls(p, 'optional');
  const required = await aedesTls(p, 'required');
  try {
    const box = await tlsTransport(optional.url, 'box', 'box-b', withCert(p), secretOf('box-b'));
    await box.close();
    await t.throwsAsync(tlsTransport(required.url, 'box', 'box-b', withCert(p), secretOf('box-b')));
    await until(() => required.stats().tlsFailed >= 1, WAIT, 'the handshake refusal counted');
    // The client checks the broker too: a CA that did not sign the broker's certificate.
    await t.throwsAsync(tlsTransport(optional.url, 'box', 'box-b', withCert(p, undefined, p.nodeCa.cert), secretOf('box-b')));
  } finally {
    await Promise.all([optional.close(), required.close()]);
  }
});

test('aedes TLS: a stalled handshake holds a pre-authentication slot until the connect timeout', async (t) => {
  const p = have(t);
  if (p === undefined) return;
  const clock = new ManualClock();
  const b = await aedesTls(p, 'optional', { clock, preauth: { maxConnections: 1 }, connectTimeoutMs: 2000 });
  try {
    const stalled = connect({ host: b.host, port: b.port });
    stalled.on('error', () => {});
    const gone = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
    await until(() => b.stats().preauthHeldConnections === 1, WAIT, 'the stalled connection admitted');
    await t.throwsAsync(tlsTransport(b.url, 'box', 'box-b', withCert(p), secretOf('box-b')));
    t.is(b.stats().preauthConnections, 1, 'no second handshake while the slot is held');
    clock.advance(2000);
    await gone;
    t.is(b.stats().connectTimeout, 1);
    const box = await tlsTransport(b.url, 'box', 'box-b', withCert(p), secretOf('box-b'));
    t.is(b.stats().preauthHeldConnections, 0, 'released once authenticated');
    await box.close();
  } finally {
    await b.close();
  }
});

test('client TLS options: mqtts only, validated, unknown names refused', (t) => {
  const base = { role: 'box' as const, id: 'box-a' };
  t.deepEqual(resolveMqttOptions({ ...base, url: 'mqtts://broker.example' }).port, 8883);
  t.throws(() => resolveMqttOptions({ ...base, url: 'mqtt://127.0.0.1:1', tls: {} }), { message: /mqtts/ });
  t.throws(() => resolveMqttOptions({ ...base, url: 'mqtts://127.0.0.1:1', tls: { cafile: 'x' } as never }), { message: /cafile/ });
  t.throws(() => resolveMqttOptions({ ...base, url: 'mqtts://127.0.0.1:1', tls: { ca: 'not pem' } }), { message: /tls\.ca must be PEM/ });
  t.throws(() => resolveMqttOptions({ ...base, url: 'mqtts://127.0.0.1:1', tls: { cert: '-----BEGIN CERTIFICATE-----' } }), { message: /cert and tls\.key go together/ });
  t.throws(() => resolveMqttOptions({ ...base, url: 'ws://127.0.0.1:1' }), { message: /mqtts/ });
});

test('broker TLS options: validated, unknown names refused', async (t) => {
  const p = have(t);
  if (p === undefined) return;
  const tls = { cert: p.server.cert, key: p.server.key };
  await t.throwsAsync(startAedesBroker({ credentials: staticCredentials(USERS), tls: { ...tls, clientCerts: 'required' } }), { message: /ca is required/ });
  await t.throwsAsync(startAedesBroker({ credentials: staticCredentials(USERS), tls: { ...tls, cafile: 'x' } as never }), { message: /cafile/ });
  await t.throwsAsync(startAedesBroker({ credentials: staticCredentials(USERS), tls: { ...tls, nodeCa: 'nope' } }), { message: /nodeCa/ });
});

test('mosquitto mTLS: the certificate CN is the identity, whatever username is sent', async (t) => {
  const p = have(t);
  const program = needProgram(t, 'mosquitto', 'MQTT over TLS on the real broker');
  if (p === undefined || program === undefined) return;
  const m = await startMosquitto(program, {
    users: USERS,
    debugLog: true,
    tls: { caFile: p.ca.certFile, certFile: p.server.certFile, keyFile: p.server.keyFile, requireCertificate: true },
  });
  try {
    const node = await tlsTransport(m.url, 'headend', 'node-1', withCert(p, p.client('node-1@headend')));
    const victim = await tlsTransport(m.url, 'box', 'box-b', withCert(p, p.client('box-b')));
    // box-a's certificate claiming box-b: mosquitto takes box-a from the CN, so box-b's inbox stays shut.
    const spy = await rawTls(m.url, withCert(p, p.client('box-a')), { username: 'box-b', clientId: 'box-b', password: secretOf('box-b') });
    const leaked: string[] = [];
    spy.on('message', (topic) => leaked.push(topic));
    await spy.subscribeAsync('weft/box/box-b/#', { qos: 1 });
    await spy.subscribeAsync('weft/box/box-a/#', { qos: 1 });
    await roundTrip(node, victim, 'box-b');
    await node.send({ v: 1, kind: 'msg', id: 2, src: node.address, dst: boxAddress('box-a'), body: 'marker' });
    await until(() => leaked.some((x) => x.startsWith('weft/box/box-a/')), WAIT, 'the marker in box-a inbox');
    t.deepEqual(leaked.filter((x) => !x.startsWith('weft/box/box-a/')), []);
    t.is(victim.stats().linkDrops, 0, 'box-b was not evicted');
    await spy.endAsync(true);
    await t.throwsAsync(tlsTransport(m.url, 'box', 'box-c', withCert(p), secretOf('box-c')), undefined, 'no certificate, no entry');
    await Promise.all([node.close(), victim.close()]);
  } finally {
    await m.stop();
  }
});
