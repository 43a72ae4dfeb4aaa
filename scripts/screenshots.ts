// Regenerates docs/console.png: runs `weft demo` and photographs its operator console in
// Debian's chromium once every box has a state. `npm run screenshots`.
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const root = new URL('../', import.meta.url).pathname;
const demo = spawn(process.execPath, ['cli/bin.mjs', 'demo', '--seconds', '40', '--console', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
const url = await new Promise<string>((resolve, reject) => {
  demo.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /console (http:\/\/[^ ]+\/)/.exec(out);
    if (m?.[1] !== undefined) resolve(m[1]);
  });
  demo.once('exit', () => reject(new Error(`the demo ended before its console started:\n${out.slice(-1000)}`)));
});
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(url);
  // Every demo box settled: up or degraded.
  await page.locator('#boxes tbody tr td:nth-child(3)', { hasText: /^(up|degraded)$/ }).nth(4).waitFor({ timeout: 60_000 });
  await page.screenshot({ path: `${root}docs/console.png`, fullPage: true });
  console.log('wrote docs/console.png');
} finally {
  await browser.close();
  demo.kill('SIGINT');
}
