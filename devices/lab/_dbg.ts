import { Plant } from './plant.ts';
const p = new Plant({ boxes: 1, profile: 'hd-dvr', arm64: false, lossPercent: 20, install: false, stepTimeoutMs: 15000, log: console.log });
const r = await p.run().catch((e) => console.log('ERR', e.message));
console.log(JSON.stringify(r));
