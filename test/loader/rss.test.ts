// The firmware's RSS figure: /proc's VmRSS wins over Node's `rss`, which reads 0 under qemu-user.
import test from 'ava';
import { residentBytes, vmRssBytes } from '../../loader/rss.ts';

const STATUS = 'Name:\tnode\nVmPeak:\t  200000 kB\nVmRSS:\t   89784 kB\nRssAnon:\t 50000 kB\n';

test('VmRSS is read in bytes, and a missing or odd line gives undefined', (t) => {
  t.is(vmRssBytes(STATUS), 89784 * 1024);
  t.is(vmRssBytes('Name:\tnode\n'), undefined);
  t.is(vmRssBytes('VmRSS:\t 12 MB\n'), undefined);
  t.is(vmRssBytes('VmRSS:\t 99999999999999 kB\n'), undefined);
});

test('under qemu-user (Node reads 0) the figure comes from /proc', (t) => {
  t.is(residentBytes(() => STATUS, () => 0), 89784 * 1024);
});

test('without /proc, Node\'s own figure', (t) => {
  const missing = (): string => {
    throw new Error('ENOENT');
  };
  t.is(residentBytes(missing, () => 5_000_000), 5_000_000);
  t.is(residentBytes(() => 'Name:\tnode\n', () => 7), 7);
});

test('on this machine the figure is a live, non-zero number', (t) => {
  t.true(residentBytes() > 1024 * 1024);
});
