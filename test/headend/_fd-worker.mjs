// A worker for test/headend/worker-pool-fds.test.ts: keeps a file open for its whole life, as a
// portion thread keeps its schedstat file (headend/portions/thread-cpu.ts), and never closes it.
import { openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

openSync(workerData.data.path, 'r');
parentPort.postMessage({ t: 'ready' });
parentPort.on('message', () => {}); // alive until the pool ends it, as a portion thread is
