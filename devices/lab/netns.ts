// Network namespaces for the plant: a bridge namespace and endpoint namespaces joined to it by
// veth pairs, a 224.0.0.0/4 route in each, and nft rules inside them. Every step is recorded with
// its undo, and undo() takes them back in reverse (deleting a namespace takes its links and
// rules with it). Nothing here touches the host's own namespace beyond `ip netns add/del`.

import { LabError, run } from './exec.ts';
import { systemProgram } from './fetch.ts';

/** Names the plant makes start with this, so a leftover one is recognisable (`weft lab plant --clean`). */
export const NETNS_PREFIX = 'weftlab-';

const PACKAGES: Record<string, string> = { ip: 'iproute2', nft: 'nftables', sysctl: 'procps' };

export class Netns {
  readonly #undo: { what: string; cmd: string; args: string[] }[] = [];
  readonly log: (s: string) => void;
  readonly #ip: string;
  constructor(log: (s: string) => void) {
    this.log = log;
    this.#ip = systemProgram('ip', 'iproute2');
  }

  /** Run a system program (ip, nft, sysctl: by absolute path) inside namespace `ns` (`ip netns exec`). */
  async exec(ns: string, cmd: string, args: string[], step?: string): Promise<string> {
    const prog = systemProgram(cmd, PACKAGES[cmd] ?? cmd);
    return run(this.#ip, ['netns', 'exec', ns, prog, ...args], { step: step ?? `${ns}: ${cmd} ${args.slice(0, 3).join(' ')}`, timeoutMs: 30_000 });
  }

  async addNamespace(ns: string): Promise<void> {
    if (!ns.startsWith(NETNS_PREFIX) || !/^[a-z0-9-]{1,40}$/.test(ns)) throw new LabError('netns', `refusing namespace name "${ns}"`);
    await run(this.#ip, ['netns', 'add', ns], { step: `ip netns add ${ns}` });
    this.#undo.push({ what: `namespace ${ns}`, cmd: this.#ip, args: ['netns', 'del', ns] });
    await this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
  }

  /** A bridge `br0` inside `ns`, multicast snooping off so the carousel reaches every port. */
  async addBridge(ns: string): Promise<void> {
    await this.exec(ns, 'ip', ['link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
    await this.exec(ns, 'ip', ['link', 'set', 'br0', 'up']);
  }

  /** Join `ns` to the bridge in `bridgeNs` as `eth0` with `addr/24`, and route multicast out of it. */
  async join(bridgeNs: string, port: string, ns: string, addr: string): Promise<void> {
    await this.exec(bridgeNs, 'ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await this.exec(bridgeNs, 'ip', ['link', 'set', port, 'master', 'br0', 'up']);
    await this.exec(ns, 'ip', ['addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    await this.exec(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    await this.exec(ns, 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
  }

  /** TCP to `addr:port` in `ns` goes to 127.0.0.1:port (the embedded broker binds loopback only). */
  async dnatToLoopback(ns: string, port: number): Promise<void> {
    await this.exec(ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1']);
    await this.exec(ns, 'sysctl', ['-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
    await this.nft(ns, ['add', 'table', 'ip', 'weft_nat']);
    await this.nft(ns, ['add', 'chain', 'ip', 'weft_nat', 'pre', '{ type nat hook prerouting priority dstnat; policy accept; }']);
    await this.nft(ns, ['add', 'rule', 'ip', 'weft_nat', 'pre', 'iifname', 'eth0', 'tcp', 'dport', String(port), 'dnat', 'to', `127.0.0.1:${port}`]);
  }

  /** A filter table `weft` with `in` and `out` chains in `ns`, for the faults. */
  async addFaultTable(ns: string): Promise<void> {
    await this.nft(ns, ['add', 'table', 'inet', 'weft']);
    await this.nft(ns, ['add', 'chain', 'inet', 'weft', 'in', '{ type filter hook input priority 0; policy accept; }']);
    await this.nft(ns, ['add', 'chain', 'inet', 'weft', 'out', '{ type filter hook output priority 0; policy accept; }']);
  }

  nft(ns: string, args: string[]): Promise<string> {
    return this.exec(ns, 'nft', args, `${ns}: nft ${args.slice(0, 4).join(' ')}`);
  }

  /** Take back everything made, newest first; failures are logged and the rest still undone. */
  async undo(): Promise<void> {
    for (let u = this.#undo.pop(); u !== undefined; u = this.#undo.pop()) {
      await run(u.cmd, u.args, { step: `removing ${u.what}` }).catch((e: unknown) => this.log(`lab: ${(e as Error).message}`));
    }
  }
}

/** Namespaces left by a plant that did not get to clean up (killed hard), by prefix. */
export async function leftoverNamespaces(): Promise<string[]> {
  const out = await run(systemProgram('ip', 'iproute2'), ['netns', 'list'], { step: 'ip netns list' });
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(NETNS_PREFIX));
}
