// The `weft` command's composition root: each subcommand lives in its own file under cli/ and
// registers itself here. Only this folder (and */main.ts) constructs concrete adapters.
// Errors end as one line (cli/user-error.ts); `--debug` or WEFT_DEBUG=1 adds the stack.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerDemo } from './demo.ts';
import { registerCarousel } from './carousel.ts';
import { registerHeadend } from './headend.ts';
import { registerBox } from './box.ts';
import { registerFleet } from './fleet.ts';
import { registerApp } from './app.ts';
import { registerLab } from './lab.ts';
import { describeError } from './user-error.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const argv = process.argv.filter((a) => a !== '--debug');
const debug = argv.length !== process.argv.length || process.env.WEFT_DEBUG === '1';

function fail(e: unknown): never {
  const { line, hint, user } = describeError(e);
  process.stderr.write(`weft: ${line}${hint === undefined ? '' : `; ${hint}`}\n`);
  if (debug && e instanceof Error && e.stack !== undefined) process.stderr.write(`${e.stack}\n`);
  process.exit(user ? 2 : 1);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

const program = new Command();
program
  .name('weft')
  .description('Weft: distributed applications for set-top boxes and cable head-ends')
  .version(pkg.version, '-V, --version', 'print the weft version')
  .option('--debug', 'print stack traces with errors (also WEFT_DEBUG=1)')
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(s) });

registerDemo(program);
registerCarousel(program);
registerHeadend(program);
registerBox(program);
registerFleet(program);
registerApp(program);
registerLab(program);
for (const c of program.commands) {
  c.exitOverride();
  for (const sub of c.commands) sub.exitOverride();
}

try {
  await program.parseAsync(argv);
} catch (e) {
  // Commander has printed its own one-line message (unknown option, bad value, --help).
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  fail(e);
}
