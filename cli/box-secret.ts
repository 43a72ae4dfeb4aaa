// `weft box secret <id>`: prints the broker password a box derives from the head-end's box master
// key, for labs that provision boxes with derived passwords. The key comes from --master-key
// <file>, else WEFT_MASTER_KEY, else .weft/master.key. Mistakes get one line on stderr, no stack.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { isEndpointId } from '../transport/mqtt-topics.ts';

export type Outcome = { ok: true; value: string } | { ok: false; error: string };

export interface SecretSource {
  /** --master-key: a file holding the key (trimmed). */
  masterKeyFile?: string;
  /** The environment (WEFT_MASTER_KEY). */
  env: Readonly<Record<string, string | undefined>>;
  /** Where the head-end keeps its key by default. */
  defaultFile?: string;
}

/** The derived secret of box `id`, or a one-line reason. */
export function boxSecret(id: string, src: SecretSource): Outcome {
  const given: string = id;
  if (!isEndpointId(id)) {
    const why = given.includes('@') ? 'node credentials never derive from the box key' : 'one topic level: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}';
    return { ok: false, error: `bad box id "${given.slice(0, 80)}" (${why})` };
  }
  const key = masterKey(src);
  if (!key.ok) return key;
  if (key.value.length < 16) return { ok: false, error: `the master key is ${key.value.length} bytes; at least 16 are needed` };
  return { ok: true, value: derivedBoxSecret(key.value, id) };
}

function masterKey(src: SecretSource): Outcome {
  const file = src.masterKeyFile ?? (src.env.WEFT_MASTER_KEY === undefined ? (src.defaultFile ?? '.weft/master.key') : undefined);
  if (file === undefined) return { ok: true, value: (src.env.WEFT_MASTER_KEY ?? '').trim() };
  try {
    return { ok: true, value: readFileSync(file, 'utf8').trim() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { ok: false, error: `cannot read the master key from ${file} (${code}); give --master-key <file> or WEFT_MASTER_KEY` };
  }
}

export function registerBoxSecret(box: Command): void {
  box
    .command('secret <id>')
    .description("print a box's derived broker password (labs using derived passwords)")
    .option('--master-key <file>', "the head-end's box master key (default: WEFT_MASTER_KEY, else .weft/master.key)")
    .action((id: string, f: { masterKey?: string }) => {
      const r = boxSecret(id, { env: process.env, ...(f.masterKey === undefined ? {} : { masterKeyFile: f.masterKey }) });
      if (r.ok) return void process.stdout.write(`${r.value}\n`);
      process.stderr.write(`weft box secret: ${r.error}\n`);
      process.exitCode = 1;
    });
}
