// Resolves `cbor-x` to runtime/cbor-lite.ts, as the firmware build does, so the codec tests of
// the box's CBOR path run against the small codec unchanged:
//   NODE_OPTIONS=--import=./test/_helpers/cbor-lite-alias.mjs npx ava test/runtime/envelope.test.ts test/runtime/app-state.test.ts
import { register } from 'node:module';

const lite = new URL('../../runtime/cbor-lite.ts', import.meta.url).href;
const hooks = `export async function resolve(s, c, next) { return s === 'cbor-x' ? { url: ${JSON.stringify(lite)}, shortCircuit: true } : next(s, c); }`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
