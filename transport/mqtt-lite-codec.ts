// The MQTT 3.1.1 packets a box needs, sans-IO: encoders for what it sends (CONNECT, PUBLISH,
// PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT) and a strict, bounded reader of what a broker may send
// it (CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP). No sockets or timers here; anything else from
// the broker, or anything malformed, is a DecodeError (OASIS MQTT 3.1.1, sections cited as [MQTT-x]).

import { DecodeError } from '../runtime/index.ts';

export type LitePacket =
  | { type: 'connack'; sessionPresent: boolean; returnCode: number }
  | { type: 'publish'; topic: string; payload: Buffer; qos: 0 | 1; dup: boolean; retain: boolean; id: number }
  | { type: 'puback'; id: number }
  | { type: 'suback'; id: number; granted: number[] }
  | { type: 'pingresp' };

export interface ConnectFields {
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  clean: boolean;
  keepaliveSec: number;
}

/** Largest remaining length the 4-byte varint can carry [MQTT-2.2.3]. */
export const MAX_REMAINING = 268_435_455;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A UTF-8 string field: 2-byte length, then the bytes; at most 65535 bytes [MQTT-1.5.3]. */
function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 0xffff) throw new RangeError('mqtt: a string field is over 65535 bytes');
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

function packet(first: number, parts: Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  if (n > MAX_REMAINING) throw new RangeError('mqtt: packet over 256 MiB');
  return Buffer.concat([Buffer.from([first, ...remainingLength(n)]), ...parts], 1 + remainingLength(n).length + n);
}

export function encodeConnect(f: ConnectFields): Buffer {
  const flags = (f.username === undefined ? 0 : 0x80) | (f.password === undefined ? 0 : 0x40) | (f.clean ? 0x02 : 0);
  const head = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, f.keepaliveSec >> 8, f.keepaliveSec & 0xff]);
  const parts = [head, str(f.clientId)];
  if (f.username !== undefined) parts.push(str(f.username));
  if (f.password !== undefined) parts.push(str(f.password));
  return packet(0x10, parts);
}

export function encodePublish(topic: string, payload: Uint8Array, qos: 0 | 1, id: number): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const idBytes = qos === 0 ? [] : [Buffer.from([id >> 8, id & 0xff])];
  return packet(0x30 | (qos << 1), [str(topic), ...idBytes, body]);
}

export function encodeSubscribe(id: number, filter: string, qos: 0 | 1): Buffer {
  return packet(0x82, [Buffer.from([id >> 8, id & 0xff]), str(filter), Buffer.from([qos])]);
}

export function encodePuback(id: number): Buffer {
  return Buffer.from([0x40, 2, id >> 8, id & 0xff]);
}

export const PINGREQ = Buffer.from([0xc0, 0]);
export const DISCONNECT = Buffer.from([0xe0, 0]);

function fail(reason: string): never {
  throw new DecodeError(`mqtt: ${reason}`);
}

function id16(b: Buffer, at: number): number {
  const id = b.readUInt16BE(at);
  if (id === 0) fail('packet id 0'); // [MQTT-2.3.1-1]
  return id;
}

/** One packet's body, checked against what a 3.1.1 broker may send a client. */
export function parsePacket(first: number, body: Buffer): LitePacket {
  const type = first >> 4;
  const flags = first & 0x0f;
  if (type !== 3 && flags !== 0) fail(`reserved flags ${flags} on packet type ${type}`); // [MQTT-2.2.2-2]
  switch (type) {
    case 2: {
      if (body.length !== 2) fail('CONNACK length');
      const ack = body[0] as number;
      const rc = body[1] as number;
      if ((ack & 0xfe) !== 0 || rc > 5 || (rc !== 0 && ack !== 0)) fail('CONNACK flags or return code'); // [MQTT-3.2.2-1, -4]
      return { type: 'connack', sessionPresent: ack === 1, returnCode: rc };
    }
    case 3:
      return parsePublish(flags, body);
    case 4:
      if (body.length !== 2) fail('PUBACK length');
      return { type: 'puback', id: id16(body, 0) };
    case 9: {
      if (body.length < 3) fail('SUBACK length');
      const granted = [...body.subarray(2)];
      if (granted.some((g) => g > 2 && g !== 0x80)) fail('SUBACK return code'); // [MQTT-3.9.3-2]
      return { type: 'suback', id: id16(body, 0), granted };
    }
    case 13:
      if (body.length !== 0) fail('PINGRESP length');
      return { type: 'pingresp' };
    default:
      return fail(`packet type ${type} from a broker`);
  }
}

function parsePublish(flags: number, body: Buffer): LitePacket {
  const qos = (flags >> 1) & 3;
  if (qos > 1) fail(`PUBLISH QoS ${qos}`); // [MQTT-3.3.1-4], [MQTT-3.8.4-6]
  if (qos === 0 && (flags & 8) !== 0) fail('DUP on a QoS 0 PUBLISH'); // [MQTT-3.3.1-2]
  if (body.length < 2) fail('PUBLISH length');
  const n = body.readUInt16BE(0);
  const idAt = 2 + n;
  if (idAt + (qos === 1 ? 2 : 0) > body.length) fail('PUBLISH topic past the end');
  let topic: string;
  try {
    topic = utf8.decode(body.subarray(2, idAt));
  } catch {
    return fail('PUBLISH topic is not UTF-8'); // [MQTT-1.5.3-1]
  }
  if (topic === '' || /[+#\0]/.test(topic)) fail('PUBLISH topic empty, wildcard or NUL'); // [MQTT-3.3.2-1, -2], [MQTT-1.5.3-2]
  const id = qos === 1 ? id16(body, idAt) : 0;
  return { type: 'publish', topic, payload: body.subarray(idAt + (qos === 1 ? 2 : 0)), qos: qos as 0 | 1, dup: (flags & 8) !== 0, retain: (flags & 1) !== 0, id };
}

/**
 * Cuts a TCP byte stream into packets. A packet's remaining length is read first and checked
 * against `maxPacketBytes` before anything of its body is kept; the body is then copied into
 * one buffer of that size (no concatenation per chunk).
 */
export class PacketReader {
  #max: number;
  #head: number[] = [];
  #body: Buffer | undefined;
  #filled = 0;

  constructor(maxPacketBytes: number) {
    if (!Number.isInteger(maxPacketBytes) || maxPacketBytes < 2 || maxPacketBytes > MAX_REMAINING) throw new RangeError('PacketReader: maxPacketBytes must be an integer in 2..268435455');
    this.#max = maxPacketBytes;
  }

  /** Bytes in; whole packets out, in order. Throws DecodeError on the first violation (the stream is then unusable). */
  push(chunk: Buffer, out: LitePacket[] = []): LitePacket[] {
    let at = 0;
    for (;;) {
      if (this.#body === undefined) {
        at = this.#readHead(chunk, at);
        if (this.#body === undefined) return out; // the chunk ended inside a fixed header
      }
      const body: Buffer = this.#body;
      const n = Math.min(body.length - this.#filled, chunk.length - at);
      chunk.copy(body, this.#filled, at, at + n);
      this.#filled += n;
      at += n;
      if (this.#filled < body.length) return out; // the chunk ended inside a body
      this.#complete(out);
      if (at >= chunk.length) return out;
    }
  }

  #readHead(chunk: Buffer, at: number): number {
    while (at < chunk.length && this.#body === undefined) {
      const b = chunk[at++] as number;
      this.#head.push(b);
      if (this.#head.length === 1) continue;
      if (this.#head.length > 5) fail('remaining length over 4 bytes'); // [MQTT-2.2.3]
      if ((b & 0x80) !== 0) continue;
      let n = 0;
      for (let i = this.#head.length - 1; i >= 1; i--) n = n * 128 + ((this.#head[i] as number) & 0x7f);
      if (this.#head.length > 2 && b === 0) fail('remaining length not in its shortest form');
      if (n + this.#head.length > this.#max) fail(`packet of ${n + this.#head.length} bytes is over the limit of ${this.#max}`);
      this.#body = Buffer.allocUnsafe(n);
      this.#filled = 0;
    }
    return at;
  }

  #complete(out: LitePacket[]): void {
    const body = this.#body as Buffer;
    const first = this.#head[0] as number;
    this.#body = undefined;
    this.#head = [];
    out.push(parsePacket(first, body));
  }
}
