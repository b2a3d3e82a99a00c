// Opens the viewer page in headless Chromium (Debian's, driven by
// playwright-core), waits for playback to advance, and prints one JSON line:
// {"advanced": bool, "start": s, "end": s, "errors": [...], "protocol": ...,
// "poster": the video element's poster URL}.
// Usage: node tests/browser/play.mjs URL [seconds]
import { launch } from './chromium.mjs';

const url = process.argv[2];
const seconds = Number(process.argv[3] || 12);
const browser = await launch();
const result = { advanced: false, start: null, end: null, errors: [], console: [] };
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => result.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') result.console.push(m.text()); });
  await page.goto(url, { waitUntil: 'load' });
  result.poster = await page.evaluate(() => document.querySelector('video')?.poster || null);
  const state = () => page.evaluate(() => {
    const p = window.livefleetPlayer || {};
    const v = document.querySelector('video');
    return { time: v ? v.currentTime : 0, errors: p.errors || [], protocol: p.protocol, levels: (p.levels || []).length };
  });
  const deadline = Date.now() + seconds * 1000;
  let first = null;
  while (Date.now() < deadline) {
    const s = await state();
    if (first === null && s.time > 0) first = s.time;
    result.end = s.time;
    result.protocol = s.protocol;
    result.levels = s.levels;
    result.errors = result.errors.concat(s.errors.map(String)).filter((e, i, a) => a.indexOf(e) === i);
    if (first !== null && s.time > first + 2) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  result.start = first;
  result.advanced = first !== null && result.end > first + 2;
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
