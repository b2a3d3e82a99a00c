// What the browser scripts share: Debian's Chromium, headless, driven by
// playwright-core, and the third-party players loaded from their npm packages.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The player scripts by name, as the tests pass them.
const libraries = {
  dashjs: 'node_modules/dashjs/dist/modern/umd/dash.all.min.js',
  shaka: 'node_modules/shaka-player/dist/shaka-player.compiled.js',
  hlsjs: 'node_modules/hls.js/dist/hls.min.js',
};

// The path of `player`'s script; throws on a name the tests do not know.
export function playerLibrary(player) {
  if (!libraries[player]) throw new Error(`unknown player ${player}`);
  return path.join(root, libraries[player]);
}

// Headless Chromium ($CHROMIUM, else Debian's), media playing without a gesture.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
}

// Polls `fn(arg)` in `page` every 200 ms until it is truthy, and returns it;
// throws "timeout: <what>" after `ms`.
export async function until(page, what, fn, arg = null, ms = 40000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('timeout: ' + what);
}
