// Plays a manifest in headless Chromium (Debian's, driven by playwright-core)
// with a third-party player at its default settings, loaded from its npm
// package, and prints one JSON line:
// {"advanced": bool, "start": s, "end": s, "errors": [...], "size": [videoWidth, videoHeight]}
// (the picture as the browser shows it, turned by the track's matrix).
// With a storyboard (shaka only), also "thumbnails": what Shaka Player reads
// from it (getAllThumbnails), each with the size its sprite loads at.
// Usage: node tests/browser/players.mjs dashjs|shaka|hlsjs MANIFEST_URL [seconds] [STORYBOARD_URL]
import { launch, playerLibrary } from './chromium.mjs';

const [player, url, secondsArg, storyboard] = process.argv.slice(2);
const seconds = Number(secondsArg || 30);
const library = playerLibrary(player);

const browser = await launch();
const result = { player, advanced: false, start: null, end: null, errors: [] };
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => result.errors.push(`page: ${e}`));
  // A page on the origin itself, so the player's requests are same-origin.
  await page.goto(new URL('/healthz', url).href);
  await page.setContent('<video muted playsinline style="width:640px"></video>');
  await page.addScriptTag({ path: library });
  await page.evaluate(async ({ player, url, storyboard }) => {
    const video = document.querySelector('video');
    const errors = (window.playerErrors = []);
    if (player === 'dashjs') {
      const p = window.dashjs.MediaPlayer().create();
      p.on(window.dashjs.MediaPlayer.events.ERROR, (e) => errors.push(
        e.error ? `dash.js ${e.error.code}: ${e.error.message}` : `dash.js ${JSON.stringify(e)}`));
      p.initialize(video, url, true);
    } else if (player === 'shaka') {
      window.shaka.polyfill.installAll();
      const p = new window.shaka.Player();
      p.addEventListener('error', (e) => errors.push(`shaka ${e.detail && e.detail.code}: ${JSON.stringify(e.detail).slice(0, 300)}`));
      await p.attach(video);
      try {
        await p.load(url);
      } catch (e) {
        errors.push(`shaka load ${e.code}: ${JSON.stringify(e).slice(0, 300)}`);
      }
      if (storyboard) {
        try {
          const track = await p.addThumbnailsTrack(storyboard, 'text/vtt');
          const all = (await p.getAllThumbnails(track.id)) || [];
          window.thumbnails = await Promise.all(all.map(async (t) => {
            const image = new Image();
            image.src = t.uris[0];
            await image.decode().catch((e) => errors.push(`sprite ${t.uris[0]}: ${e}`));
            return {
              start: t.startTime, duration: t.duration, uri: t.uris[0],
              x: t.positionX, y: t.positionY, width: t.width, height: t.height,
              sprite: [image.naturalWidth, image.naturalHeight],
            };
          }));
        } catch (e) {
          errors.push(`shaka thumbnails ${e.code}: ${JSON.stringify(e).slice(0, 300)}`);
        }
      }
      video.play().catch(() => {});
    } else {
      const h = new window.Hls();
      h.on(window.Hls.Events.ERROR, (_, d) => { if (d.fatal) errors.push(`hls.js ${d.type}: ${d.details}`); });
      h.loadSource(url);
      h.attachMedia(video);
      video.play().catch(() => {});
    }
  }, { player, url, storyboard });
  const deadline = Date.now() + seconds * 1000;
  let first = null;
  while (Date.now() < deadline) {
    const s = await page.evaluate(() => {
      const video = document.querySelector('video');
      return {
        time: video.currentTime,
        size: [video.videoWidth, video.videoHeight],
        errors: window.playerErrors || [],
      };
    });
    if (first === null && s.time > 0) first = s.time;
    result.end = s.time;
    result.size = s.size;
    result.errors = result.errors.concat(s.errors).filter((e, i, a) => a.indexOf(e) === i);
    if (first !== null && s.time > first + 2) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  result.start = first;
  if (storyboard) result.thumbnails = await page.evaluate(() => window.thumbnails || null);
  result.advanced = first !== null && result.end > first + 2;
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
