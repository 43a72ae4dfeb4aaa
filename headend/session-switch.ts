// A box that switches app version (a rollout's candidate, a commit's new live, a revert) opens its
// session again naming the one it had (`previous`, issue 15.6-7). The session keeps its id and
// its virtual addresses; its server portion switches version in place on the node that hosts it,
// state included (node/version-upgrade.ts), so the box's client and the head-end's server change
// formats at the same point and no request to the session is lost. Anything else (an unknown
// session, another box's) is a fresh open; a switch that fails ends the old session and opens anew.

import { Codes, RemoteError, type Address, type OpenReply, type OpenRequest, type Result, type UdpAddress } from '../runtime/index.ts';
import { placeModules, type ModulePlacement } from '../runtime/app/index.ts';
import type { AppCatalog, PublishedApp } from './app-catalog.ts';
import type { BoxLocations } from './node/box-locations.ts';
import type { Registry, SessionRecord } from './registry/registry.ts';
import { Endpoint } from './node/endpoints.ts';
import { Membership } from './node/membership.ts';
import { appWideModules } from './portions/shared-app.ts';
import { openReply, placedModules } from './session-reply.ts';
import { recordVersion } from './session-pairing.ts';
import { ControlOps, checkUpgradeBody, type UpgradeBody } from './session-wire.ts';
import { SwitchOrder, isSuperseded } from './session-switch-order.ts';
import { KeyedChain } from './keyed-chain.ts';

export interface SwitchHost {
  readonly id: string;
  readonly registry: Registry;
  readonly catalog: AppCatalog;
  readonly boxes: BoxLocations;
  peerUdp(node: string): UdpAddress | undefined;
  request(dst: Address, body: unknown, op: string, timeoutMs?: number): Promise<unknown>;
  /** Switch a session's portion on this node to `version` (HeadendNode.upgradeSession). */
  upgradeSession?(session: string, version: string, modules?: string[]): Promise<Result<string, Error>>;
}

export interface SwitchStats {
  /** Sessions that switched version in place. */
  switched: number;
  /** Opens naming a session that is not this box's (or gone): opened fresh. */
  unknown: number;
  /** Switches that failed: the old session ended, a fresh one opened (its server state lost). */
  failed: number;
  /** Switches whose new version could not be written to the session record (it went meanwhile). */
  unrecorded: number;
  /** Opens that waited for an earlier switch of the same box's session on this node (D93). */
  queued: number;
  /** Switches this host refused because their box sent a later one, applied first (D96). */
  superseded: number;
  /** Switches sent again without their order to a host of the release before D96 (a rolling upgrade). */
  olderHost: number;
  /** [D99] Switches whose session record could not be read for its last id (the registry failed): ordered by this node's memory alone. */
  orderUnread: number;
}

/** How long the hosting node may take to switch, ms (it waits for in-flight requests first). */
const UPGRADE_TIMEOUT_MS = 15_000;

export class SessionSwitch {
  readonly #h: SwitchHost;
  readonly stats: SwitchStats = { switched: 0, unknown: 0, failed: 0, unrecorded: 0, queued: 0, superseded: 0, olderHost: 0, orderUnread: 0 };
  /** One chain per `box session`: the switches of it begun here, in turn (gone once nothing follows). */
  readonly #last = new KeyedChain<string>();
  /** [D96] The box's order of the switches of the sessions hosted here, whichever node they reached. */
  readonly order: SwitchOrder;

  constructor(host: SwitchHost) {
    this.#h = host;
    this.order = new SwitchOrder((s) => host.catalog.pinned(s) !== undefined);
  }

  /**
   * The open of a box that names its previous session: the reply for that session on `pub`'s
   * version, or undefined when a fresh open must follow (after `end(old)` when a switch failed).
   * VERSION_MISMATCH from the hosting node goes to the box as it is.
   * [D93] Switches of one box's session run one after another in the order their opens came (a
   * box that goes back before its forward open is answered sends two), so the last one the box
   * sent is the version the session ends on. At most one chain per session in flight, each
   * bounded by the setups admission lets run; keyed by the box too, so another box naming the
   * session queues nothing ahead of its own.
   * [D96] `id`, the open's envelope id, is the box's order across nodes: the host applies no switch
   * the box sent before the last it applied (a shared ingress may hand the two to two nodes).
   */
  open(req: OpenRequest & { previous: string }, pub: PublishedApp, end: (old: SessionRecord) => Promise<void>, id?: number): Promise<OpenReply | undefined> {
    const key = `${req.boxId} ${req.previous}`;
    if (this.#last.busy(key)) this.stats.queued++;
    return this.#last.run(key, () => this.#open(req, pub, end, id));
  }

  async #open(req: OpenRequest & { previous: string }, pub: PublishedApp, end: (old: SessionRecord) => Promise<void>, id: number | undefined): Promise<OpenReply | undefined> {
    const h = this.#h;
    const rec = await h.registry.getSession(req.previous);
    if (rec === undefined || rec.box !== req.boxId || rec.app !== req.app) {
      this.stats.unknown++;
      return undefined;
    }
    const wide = appWideModules(pub.manifest);
    // [c5] the new version places its mutable modules where the session had them (their state is there).
    const placements: ModulePlacement[] = placeModules(pub.manifest, { memory: req.report.freeMemoryBytes, storage: req.report.storageFreeBytes, cpu: req.report.cpuClass })
      .filter((p) => !wide.includes(p.module))
      .map((p) => ({ ...p, side: rec.placements[p.module] ?? p.side }));
    const onHeadend = placements.filter((p) => p.side === 'headend').map((p) => p.module);
    const version = pub.manifest.version;
    if (onHeadend.length === 0 && rec.node !== h.id) {
      // Nothing runs on the head-end to switch, and the pairing lives on another node: open afresh.
      await end(rec);
      return undefined;
    }
    // The host upgrades, pins and records, in the box's order (a superseded switch is VERSION_MISMATCH).
    const r = await this.#upgrade(rec, { session: rec.id, version, modules: onHeadend, ...(id === undefined ? {} : { id }) });
    if (!r.ok) {
      if (r.error instanceof RemoteError && r.error.remoteCode === Codes.VERSION_MISMATCH) throw r.error;
      this.stats.failed++;
      await end(rec);
      return undefined;
    }
    const modules = placedModules(pub.manifest, rec.id, placements, wide);
    for (const m of modules) if (m.side === 'box') h.boxes.set(m.vaddr, req.boxId);
    this.stats.switched++;
    return openReply(pub.manifest, rec.id, rec.node, modules, onHeadend, wide);
  }

  /** `portion.upgrade` from the node a box's open reached: switch here. */
  async control(body: unknown): Promise<unknown> {
    const b = checkUpgradeBody(body);
    const r = await this.#here(b);
    if (!r.ok) throw r.error instanceof RemoteError ? r.error : new RemoteError(Codes.UNAVAILABLE, r.error.message);
    return { iid: r.value, node: this.#h.id };
  }

  async #upgrade(rec: SessionRecord, b: UpgradeBody): Promise<Result<string, Error>> {
    const h = this.#h;
    if (rec.node === h.id) return this.#here(b, rec); // [D99] its switch id read in this box's turn (memory covers this node's later ones)
    const udp = h.peerUdp(rec.node);
    if (udp === undefined) return { ok: false, error: new RemoteError(Codes.NO_SESSION, `session ${rec.id} is on ${rec.node}, which is gone`) };
    const at = { vaddr: Membership.vaddr(rec.node, Endpoint.control), udp };
    const r = await this.#ask(at, b);
    if (r.ok || b.id === undefined || !olderHost(r.error)) return r;
    // A host of the release before D96 (a rolling upgrade) refuses the id: it switches unordered, and records nothing.
    this.stats.olderHost++;
    const { id: _, ...plain } = b;
    const again = await this.#ask(at, plain);
    if (again.ok && !(await recordVersion(h.registry, rec, b.version))) this.stats.unrecorded++;
    return again;
  }

  async #ask(at: Address, b: UpgradeBody): Promise<Result<string, Error>> {
    try {
      const r = (await this.#h.request(at, b, ControlOps.upgrade, UPGRADE_TIMEOUT_MS)) as { iid?: unknown };
      return { ok: true, value: typeof r?.iid === 'string' ? r.iid : '' };
    } catch (e) {
      return { ok: false, error: e as Error };
    }
  }

  /**
   * [D96] Switch a session hosted here, after its earlier switches and unless the box sent a later
   * one. [D99] The record's last switch id orders it too: as this node read it for the open (`read`),
   * else read in turn before the upgrade (the write after it reads the record afresh).
   */
  async #here(b: UpgradeBody, read?: SessionRecord): Promise<Result<string, Error>> {
    const recorded = (): Promise<number | undefined> =>
      this.#h.registry.getSession(b.session).then(
        (rec) => rec?.switchId,
        () => void this.stats.orderUnread++, // ordered by memory alone; the write counts `unrecorded` if it fails too
      );
    const r = await this.order.run(b.session, b.id, () => this.#switchHere(b), (x) => x.ok, read === undefined ? recorded : read.switchId);
    if (!isSuperseded(r)) return r;
    this.stats.superseded++;
    const data = { superseded: true, session: b.session, version: b.version };
    return { ok: false, error: new RemoteError(Codes.VERSION_MISMATCH, `session ${b.session} is not switched to ${b.version}: its box sent a later switch (${r.by})`, data) };
  }

  async #switchHere(b: UpgradeBody): Promise<Result<string, Error>> {
    const up = b.modules.length === 0 ? ({ ok: true, value: '' } as const) : await this.#local(b);
    if (!up.ok) return up;
    // A survivor that re-places the session later starts this version (session-pairing.ts). The
    // instance switched already: a record that cannot be written is counted, the switch stands.
    if (!(await this.#record(b).catch(() => false))) this.stats.unrecorded++;
    return up;
  }

  /** Pin `b`'s version and record it with [D99] its id, in one write. */
  async #record(b: UpgradeBody): Promise<boolean> {
    const h = this.#h;
    const rec = await h.registry.getSession(b.session);
    if (rec === undefined) return false;
    h.catalog.pin(rec.id, rec.app, b.version);
    return recordVersion(h.registry, rec, b.version, b.id);
  }

  #local(b: UpgradeBody): Promise<Result<string, Error>> {
    const up = this.#h.upgradeSession;
    if (up === undefined) return Promise.resolve({ ok: false, error: new RemoteError(Codes.UNAVAILABLE, `node ${this.#h.id} cannot switch versions`) });
    return up.call(this.#h, b.session, b.version, b.modules);
  }
}

/** The answer of a host that predates D96 to a `portion.upgrade` carrying the box's order. */
function olderHost(e: Error): boolean {
  return e instanceof RemoteError && e.remoteCode === Codes.BAD_REQUEST && e.message.includes('unknown field "id"');
}
