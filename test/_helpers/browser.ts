// A real browser for console tests: Debian's chromium driven by playwright-core (no browser
// download). Skips with a message where chromium is missing; fails under WEFT_REQUIRE_ALL=1.
import type { ExecutionContext } from 'ava';
import { chromium, type Browser } from 'playwright-core';
import { needProgram } from './env.ts';

export async function launchBrowser(t: ExecutionContext): Promise<Browser | undefined> {
  const path = needProgram(t, 'chromium', 'the console is tested in a real browser');
  if (path === undefined) return undefined;
  const browser = await chromium.launch({ executablePath: path, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  t.teardown(() => browser.close());
  return browser;
}
