// The viewer page's chat in headless Chromium (playwright-core), against
// `livefleet dev`. Prints one JSON line.
//
//   live URL_A URL_B TEXT   -> types TEXT on page A, waits for it on page B
//   replay URL MEDIA_TIME TEXT -> plays the VOD, checks TEXT shows only once
//                              playback passes MEDIA_TIME, and again after a seek
import { launch, until } from './chromium.mjs';

const [mode, ...args] = process.argv.slice(2);
const browser = await launch();
const chat = (page) => page.evaluate(() => window.livefleetChat);
const result = { errors: [] };
try {
  if (mode === 'live') {
    const [urlA, urlB, text] = args;
    const a = await browser.newPage(), b = await browser.newPage();
    for (const p of [a, b]) p.on('pageerror', (e) => result.errors.push(String(e)));
    await a.goto(urlA, { waitUntil: 'load' });
    await b.goto(urlB, { waitUntil: 'load' });
    for (const p of [a, b]) {
      await until(p, 'chat connected', () => window.livefleetChat && window.livefleetChat.connected);
      await until(p, 'playback', () => document.querySelector('video').currentTime > 0.5);
    }
    // Sent 5 s into the broadcast, so that the replay can check the
    // message is not shown 4 s before its moment.
    await until(a, 'playback 5 s in', () => document.querySelector('video').currentTime > 5);
    await a.fill('#chat-text', text);
    await a.click('#chat-send');
    await until(b, 'the message on page B', (t) => window.livefleetChat.shown.includes(t), text);
    const shownB = await chat(b);
    result.message = shownB.messages.find((m) => m.text === text);
    result.onPage = await b.evaluate((t) => document.getElementById('messages').textContent.includes(t), text);
    result.viewers = await until(b, 'the viewer count', () => window.livefleetChat.viewers >= 2 && window.livefleetChat.viewers, null, 20000);
    result.errors = result.errors.concat((await chat(a)).errors.map(JSON.stringify));
  } else if (mode === 'replay') {
    const [url, mediaTime, text] = args;
    const target = Number(mediaTime);
    const page = await browser.newPage();
    page.on('pageerror', (e) => result.errors.push(String(e)));
    await page.goto(url, { waitUntil: 'load' });
    await until(page, 'replay mode', () => window.livefleetChat && window.livefleetChat.live === false);
    // Where the video's timeline meets the wall clock (PROGRAM-DATE-TIME).
    const origin = await until(page, 'a program date', () => {
      const v = document.querySelector('video');
      const h = window.livefleetHls;
      return h && h.playingDate && v.currentTime > 0 ? h.playingDate.getTime() - v.currentTime * 1000 : null;
    });
    const at = (target - origin) / 1000;
    // Paused 4 s before the message (or at the start, if it came earlier):
    // the check does not depend on how far playback runs in the wait.
    const pauseAt = (t) => page.evaluate((t) => {
      const v = document.querySelector('video');
      v.pause();
      v.currentTime = Math.max(0, t);
    }, t);
    const shown = () => page.evaluate((t) => window.livefleetChat.shown.includes(t), text);
    await pauseAt(at - 4);
    await new Promise((r) => setTimeout(r, 1500));
    result.at = at;
    result.beforeItsMoment = await shown();
    await page.evaluate(() => document.querySelector('video').play());
    await until(page, 'playback past the message', (at) => document.querySelector('video').currentTime > at + 1, at);
    await until(page, 'the message replayed', (t) => window.livefleetChat.shown.includes(t), text, 10000)
      .then(() => { result.atItsMoment = true; }, () => { result.atItsMoment = false; });
    await pauseAt(at - 4);
    await new Promise((r) => setTimeout(r, 1500));
    result.afterSeekingBack = await shown();
  }
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
