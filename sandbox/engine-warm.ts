// A warm-up of a QuickJS engine (issue 18.6): one throwaway runtime and context that compile and
// run a small module and a host call, then go; no guest code is involved and nothing of QuickJS is
// kept. What stays is the host's side: V8's compiled glue and, under an emulator, QuickJS's code
// already translated, which the first app's start otherwise pays for (under qemu-user ~0.35 s of
// CPU for the first runtime, context and compile, against ~25 ms for the second: docs/LAB.md).

import type { QuickJSRuntime } from 'quickjs-emscripten';
import type { Engine } from './engine.ts';
import { disposePrepared, type PreparedContext, prepareContext } from './warm.ts';

/** What the warm-up evaluates: the shapes a module's first entry goes through (closures, template, JSON, a host call). */
const SOURCE = 'export const a=[1].map((x)=>({s:`${x}`}));h(JSON.stringify(a));';

/** Warm `engine` up once; false (and nothing left alive) when it could not: the app's own start then reports why. */
export function warmEngine(engine: Engine): boolean {
  let rt: QuickJSRuntime | undefined;
  let p: PreparedContext | undefined;
  try {
    rt = engine.newRuntime(); // a broken engine refuses (SandboxError 'engine'): false
    p = prepareContext(rt);
    const { ctx } = p;
    const h = ctx.newFunction('h', (s) => ctx.newString(ctx.getString(s)));
    ctx.setProp(ctx.global, 'h', h);
    h.dispose();
    const r = ctx.evalCode(SOURCE, 'warm.js', { type: 'module', strict: true });
    (r.error ?? r.value).dispose();
    rt.executePendingJobs().dispose();
    return r.error === undefined;
  } catch {
    return false;
  } finally {
    // Handles first, then the context, then the runtime (warm.ts).
    if (p !== undefined) disposePrepared(p);
    if (rt?.alive === true) rt.dispose();
  }
}
