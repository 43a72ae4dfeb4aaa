// Envelopes <-> topics for the MQTT adapter: which topic an outgoing envelope goes to (by its
// destination vaddr, and on the head-end by the box hosting it), and the checks every incoming
// message passes before it is delivered. Each failed check is a counted, logged rejection;
// nothing here throws on bad input. No mqtt import (transport/mqtt.ts does the I/O).

import { AddressError, VADDR_SCHEME, type Address, type Envelope, type EnvelopeCodec } from '../runtime/index.ts';
import { BoxRoutes, DedupWindow, type MqttLogEvent, TokenBuckets } from './mqtt-ingress.ts';
import { headendOnly } from './firmware-build.ts';
import type { ResolvedMqttOptions } from './mqtt-options.ts';
import { type TopicScheme, boxOf } from './mqtt-topics.ts';

export type Rejection = 'badTopic' | 'tooLarge' | 'malformed' | 'rateLimited' | 'spoofed' | 'duplicate';

/** The adapter's counters, for the statistics process. */
export type MqttStats = Record<
  'sent' | 'received' | 'dropped' | 'queued' | 'handlerErrors' | 'connects' | 'connectFailures' | 'linkDrops' | 'lateAdopted' | 'lateAbandoned' | 'rttMs' | Rejection,
  number
>;

/** Kinds that expect or carry an answer: sent at QoS 1, and the ones a broker may redeliver. */
export const QOS1_KINDS: ReadonlySet<string> = new Set(['req', 'rep', 'err', 'ctl', 'ack']);
const SCHEME = VADDR_SCHEME;
/** `ext.by` of an envelope a box sent: `box:<authenticated id>` (docs/PROTOCOL.md). */
export const BOX_PRINCIPAL = 'box:';

interface RoutingOptions {
  role: 'box' | 'headend';
  /** This endpoint's box id (box) or node id (head-end). */
  id: string;
  topics: TopicScheme;
  codec: EnvelopeCodec;
  maxBytes: number;
  /** Head-end: per-box ingress rate. */
  buckets: TokenBuckets;
  /** Only with a persistent session: drops broker redeliveries of QoS 1 messages. */
  dedup: DedupWindow | undefined;
  /** Head-end: the registry's answer to "which box hosts this vaddr". */
  locate: ((vaddr: string) => string | undefined) | undefined;
  /** Head-end, MQTT 5: read the ingress through this shared-subscription group. */
  shareGroup: string | undefined;
  log: (e: MqttLogEvent) => void;
}

export class MqttRouting {
  readonly rejected: Record<Rejection, number> = { badTopic: 0, tooLarge: 0, malformed: 0, rateLimited: 0, spoofed: 0, duplicate: 0 };
  readonly routes: BoxRoutes = globalThis.WEFT_FIRMWARE === true ? headendOnly('BoxRoutes') : new BoxRoutes();
  #o: RoutingOptions;
  #topics = new Map<string, { box: string; topic: string }>();
  #inboxRoot: string;

  constructor(r: ResolvedMqttOptions, codec: EnvelopeCodec) {
    const o: RoutingOptions = {
      role: r.role,
      id: r.id,
      topics: r.topics,
      codec,
      maxBytes: r.maxBytes,
      buckets: globalThis.WEFT_FIRMWARE === true ? headendOnly('TokenBuckets') : new TokenBuckets(r.rateLimit, r.clock),
      // Only a persistent session (MQTT 5 session expiry) can have QoS 1 messages redelivered.
      // The firmware's client speaks MQTT 3.1.1 only (transport/mqtt-lite.ts): never a persistent session there.
      dedup: globalThis.WEFT_FIRMWARE !== true && r.protocolVersion === 5 && r.sessionExpirySec > 0 ? new DedupWindow(r.dedupWindow) : undefined,
      locate: r.locate,
      shareGroup: r.shareGroup,
      log: r.log,
    };
    this.#o = o;
    this.#inboxRoot = `${o.topics.boxRoot}${o.id}/`;
  }

  /** Head-end: box `boxId` hosts `vaddr` now (placed or moved there) [c31, c32]. */
  bind(vaddr: string, boxId: string): void {
    this.routes.bind(vaddr, boxId);
    this.#topics.delete(vaddr);
  }

  unbind(vaddr: string): void {
    this.routes.unbind(vaddr);
    this.#topics.delete(vaddr);
  }

  /** The one filter this endpoint subscribes to: its inbox (box), or the ingress (head-end). */
  subscription(sharedAvailable: boolean): string {
    const o = this.#o;
    if (globalThis.WEFT_FIRMWARE === true || o.role === 'box') return o.topics.downFilter(o.id); // the firmware is a box: the ingress is head-end code
    if (o.shareGroup === undefined) return o.topics.upFilter();
    if (sharedAvailable) return o.topics.sharedUpFilter(o.shareGroup);
    o.log({ event: 'fallback', reason: 'noSharedSubscriptions', detail: 'the broker offers no shared subscriptions; reading the whole ingress' });
    return o.topics.upFilter();
  }

  /** The topic for an envelope to `dst`. Throws AddressError when there is none. */
  topicFor(dst: Address): string {
    const v = dst.vaddr;
    if (v === undefined) throw new AddressError('the mqtt transport routes by virtual address; dst has none', dst);
    const o = this.#o;
    const box = o.role === 'box' ? o.id : (boxOf(v) ?? o.locate?.(v) ?? this.routes.get(v));
    if (box === undefined) throw new AddressError(`no box is known to host ${v}`, v);
    const hit = this.#topics.get(v);
    if (hit !== undefined && hit.box === box) return hit.topic;
    const topic = o.role === 'box' ? o.topics.up(box, v) : o.topics.down(box, v);
    if (this.#topics.size >= 50_000) this.#topics.clear();
    this.#topics.set(v, { box, topic });
    return topic;
  }

  /** An incoming message: the envelope to deliver, or undefined after a counted rejection. */
  accept(topic: string, payload: Uint8Array): Envelope | undefined {
    return this.#o.role === 'headend' ? this.#ingress(topic, payload) : this.#inbox(topic, payload);
  }

  /** Head-end: everything from boxes. The topic proves which box sent it (the broker ACL). */
  #ingress(topic: string, payload: Uint8Array): Envelope | undefined {
    // A box has no ingress: the firmware build drops this head-end path (its size budget).
    if (globalThis.WEFT_FIRMWARE !== true) {
      const o = this.#o;
      const root = o.topics.upRoot;
      const slash = topic.startsWith(root) ? topic.indexOf('/', root.length) : -1;
      if (slash < 0) return this.#reject('badTopic', undefined, topic);
      const box = topic.slice(root.length, slash);
      if (!o.buckets.take(box)) return this.#reject('rateLimited', box, topic);
      const env = this.#decode(payload, box, topic);
      if (env === undefined) return undefined;
      if (!namesTopic(env.dst.vaddr, topic, slash + 1)) return this.#reject('badTopic', box, topic, 'topic and envelope dst differ');
      // The source it claims must be that box's: never a local queue or a server's IP/UDP pair
      // (a reply would go there), never another box's address.
      const src = env.src;
      const sv = src.vaddr;
      if (sv === undefined || src.queue !== undefined || src.udp !== undefined) {
        return this.#reject('spoofed', box, topic, 'a box names itself by virtual address only');
      }
      const owner = boxOf(sv) ?? o.locate?.(sv);
      if (owner !== undefined ? owner !== box : !this.routes.learn(sv, box)) {
        return this.#reject('spoofed', box, topic, `source ${sv} is not on this box`);
      }
      if (o.dedup !== undefined && QOS1_KINDS.has(env.kind) && o.dedup.seen(`${sv}|${env.id}`)) return this.#reject('duplicate', box, topic);
      // Identity from authentication, never from the body: the topic's box is the broker login
      // (the ACL confines it to up/<own id>/#); whatever principal the box claimed is overwritten.
      const by = BOX_PRINCIPAL + box;
      // The spread only when the box sent an ext (a trace): most envelopes carry none.
      env.ext = env.ext === undefined ? { by } : { ...env.ext, by };
      return env;
    }
    return undefined;
  }

  /** Box: its inbox. Only the head-end can publish here (the broker ACL); still checked. */
  #inbox(topic: string, payload: Uint8Array): Envelope | undefined {
    const o = this.#o;
    const root = this.#inboxRoot;
    if (!topic.startsWith(root)) return this.#reject('badTopic', undefined, topic);
    const env = this.#decode(payload, undefined, topic);
    if (env === undefined) return undefined;
    if (env.dst.vaddr !== SCHEME + topic.slice(root.length)) return this.#reject('badTopic', undefined, topic, 'topic and envelope dst differ');
    if (o.dedup !== undefined && QOS1_KINDS.has(env.kind) && o.dedup.seen(`${env.src.vaddr ?? ''}|${env.id}`)) {
      return this.#reject('duplicate', undefined, topic);
    }
    return env;
  }

  #decode(payload: Uint8Array, box: string | undefined, topic: string): Envelope | undefined {
    if (payload.length > this.#o.maxBytes) return this.#reject('tooLarge', box, topic, `${payload.length} bytes`);
    try {
      return this.#o.codec.decode(payload);
    } catch (e) {
      return this.#reject('malformed', box, topic, (e as Error).message);
    }
  }

  #reject(reason: Rejection, box: string | undefined, topic: string, detail?: string): undefined {
    this.rejected[reason]++;
    const e: MqttLogEvent = { event: 'reject', reason, topic: topic.length > 200 ? `${topic.slice(0, 200)}...` : topic };
    if (box !== undefined) e.box = box;
    if (detail !== undefined) e.detail = detail;
    this.#o.log(e);
    return undefined;
  }
}

/** Whether `vaddr` is `weft://` and then exactly the topic from `at` on: compared in place, no string made. */
function namesTopic(vaddr: string | undefined, topic: string, at: number): boolean {
  return vaddr !== undefined && vaddr.length - SCHEME.length === topic.length - at && vaddr.startsWith(SCHEME) && topic.startsWith(vaddr.slice(SCHEME.length), at);
}
