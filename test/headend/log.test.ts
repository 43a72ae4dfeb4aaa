// Structured head-end logs (issue 17): JSON lines with a level name, the time, the component
// and the event's fields; the level filters; an unknown level is refused by name.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { checkLevel, createLogger, lineLog } from '../../headend/log.ts';

test('lines carry level, time, component and fields; below the level nothing is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'headend.log');
  const log = createLogger({ component: 'headend', level: 'info', file });
  log.debug('not written');
  log.child({ node: 'n1' }).info({ event: 'ready', session: 's1' }, 'ready');
  lineLog(log, 'warn')('mqtt reject: bad topic');
  log.flush();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(lines.length, 2);
  t.like(lines[0], { level: 'info', component: 'headend', node: 'n1', event: 'ready', session: 's1', msg: 'ready' });
  t.is(typeof lines[0]?.time, 'number');
  t.like(lines[1], { level: 'warn', msg: 'mqtt reject: bad topic' });
});

test('levels are checked by name', (t) => {
  t.is(checkLevel('debug'), 'debug');
  t.throws(() => checkLevel('loud'), { message: /"loud" is not one of trace, debug, info/ });
});
