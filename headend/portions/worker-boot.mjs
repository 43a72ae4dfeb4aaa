// Worker thread bootstrap: Node 20 workers cannot start from a .ts file, so the pool starts
// this plain module, which registers tsx when the entry is TypeScript and imports the entry.
import { workerData } from 'node:worker_threads';

const entry = workerData?.entry;
if (typeof entry !== 'string') throw new Error('worker-boot: workerData.entry (a file: or data: URL) is required');
if (entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(entry);
