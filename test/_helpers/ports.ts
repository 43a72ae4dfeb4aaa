// Free loopback ports for servers a test starts (bound, read, released). No ava imports: the
// benchmarks use these too.

import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

// A UDP port free on loopback now: the carousel exports it (cli/demo.ts uses it), so tests use that one.
export { freeUdpPort } from '../../carousel/index.ts';
