// A size guard for the embedded broker's sockets: scans MQTT fixed headers as bytes arrive and
// cuts a connection whose next packet declares more than the limit, before the broker buffers it.
// FrameGuard is pure; guardReads attaches checks to a socket. Must not import aedes.

import type { Socket } from 'node:net';

/**
 * Follows the MQTT framing (1 type byte, a 1-4 byte varint remaining length, then the body)
 * across chunk boundaries. `feed` returns undefined while every packet fits, else the declared
 * size of the first packet that does not (Infinity for a malformed length).
 */
export class FrameGuard {
  readonly maxPacketBytes: number;
  #skip = 0;
  #inLength = false;
  #len = 0;
  #mul = 1;
  #lenBytes = 0;

  constructor(maxPacketBytes: number) {
    this.maxPacketBytes = maxPacketBytes;
  }

  feed(chunk: Uint8Array): number | undefined {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, n - i);
        this.#skip -= take;
        i += take;
        continue;
      }
      if (!this.#inLength) {
        i++; // packet type and flags
        this.#inLength = true;
        this.#len = 0;
        this.#mul = 1;
        this.#lenBytes = 0;
        continue;
      }
      const b = chunk[i++] as number;
      this.#len += (b & 0x7f) * this.#mul;
      this.#mul *= 128;
      this.#lenBytes++;
      if (b & 0x80) {
        if (this.#lenBytes >= 4) return Infinity; // [MQTT-2.2.3] at most four length bytes
        continue;
      }
      this.#inLength = false;
      if (this.#len > this.maxPacketBytes) return this.#len;
      this.#skip = this.#len;
    }
    return undefined;
  }
}

/**
 * Run every read of `socket` through `inspect` (the frame guard, the pre-authentication guard).
 * aedes reads its connection in paused mode (`readable` + `read()`), so wrapping `read` sees
 * every byte without an extra stream hop. When `inspect` says no, the socket is destroyed before
 * the broker sees the chunk.
 */
export function guardReads(socket: Socket, inspect: (chunk: Buffer) => boolean): void {
  const read = socket.read.bind(socket);
  socket.read = (size?: number): Buffer | string | null => {
    const chunk = read(size) as Buffer | string | null;
    if (chunk === null || typeof chunk === 'string') return chunk;
    if (inspect(chunk)) return chunk;
    socket.destroy();
    return null;
  };
}
