#!/usr/bin/env node
// The `weft` command: installs the npm dependencies on a fresh clone (plain Node, as `npm start`
// does), registers tsx so the TypeScript sources run as they are, then hands over.
await import('../scripts/ensure-deps.mjs');
const { register } = await import('tsx/esm/api');
register();
await import('./main.ts');
