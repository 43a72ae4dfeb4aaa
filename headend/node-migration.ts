// Live migration of a portion instance between nodes [c31-c33], on the node's public parts only.

import { Codes, RemoteError, formatVaddr, type Envelope, type Result } from '../runtime/index.ts';
import type { HeadendNode } from './node.ts';

/**
 * Live migration [c31-c33]: hold new envelopes for the instance, let its in-flight requests
 * finish, snapshot its modules, start it on `to` with that state (which moves the registry
 * records), stop it here, then forward what was held. Nothing is lost or delivered twice:
 * each envelope reaches either this instance (before the hold) or the new one.
 */
export async function movePortion(node: HeadendNode, iid: string, to: string, drainMs: number): Promise<Result<string, Error>> {
  const spec = node.portions.spec(iid);
  const udp = node.peerUdp(to);
  if (spec === undefined) return { ok: false, error: new RemoteError(Codes.NOT_FOUND, `no instance ${iid} here`) };
  if (udp === undefined || to === node.id) return { ok: false, error: new RemoteError(Codes.NOT_FOUND, `no peer node "${to}"`) };
  // Threads added for a shared portion go first: the state that moves is the first instance's.
  await node.elastic.stopping(iid);
  const held: Envelope[] = [];
  node.holding.set(iid, held);
  const resume = (): void => {
    node.holding.delete(iid);
    for (const e of held) node.dispatch(e);
  };
  const end = Date.now() + drainMs;
  while (node.portions.inflightOf(iid) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
  const snap = await node.portions.snapshot(iid);
  if (!snap.ok) {
    resume();
    return snap;
  }
  try {
    await node.request({ vaddr: formatVaddr({ app: 'headend', session: to, module: 'control' }), udp }, { app: spec.app, session: spec.session, modules: spec.modules, states: snap.value, from: node.id, ...boxOf(node, spec) }, 'portion.start', 10_000);
  } catch (e) {
    resume();
    return { ok: false, error: e as Error };
  }
  await node.stopPortion(iid, false);
  node.sessions.moved(spec.session);
  for (const m of spec.modules) node.resolver.invalidate(formatVaddr({ app: spec.app, session: spec.session, module: m }));
  node.counters.moved++;
  resume();
  return { ok: true, value: to };
}

// The session's box goes with its portion, so the new host records the session [c41].
function boxOf(node: HeadendNode, spec: { app: string; session: string }): { box?: string } {
  const box = node.sessions.boxOfSession(spec.app, spec.session);
  return box === undefined ? {} : { box };
}
