// Plays a manifest in headless Chromium with a third-party player at its
// default settings, turns its captions on, and prints one JSON line:
// {"tracks": [{"kind", "label", "language"}], "cues": ["text", ...], "errors": [...]}
// Usage: node tests/browser/captions.mjs dashjs|shaka|hlsjs MANIFEST_URL [seconds]
import { launch, playerLibrary } from './chromium.mjs';

const [player, url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 30);
const library = playerLibrary(player);

const browser = await launch();
const result = { player, tracks: [], cues: [], errors: [] };
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => result.errors.push(`page: ${e}`));
  await page.goto(new URL('/healthz', url).href);
  await page.setContent('<video muted playsinline style="width:640px"></video>');
  await page.addScriptTag({ path: library });
  await page.evaluate(async ({ player, url }) => {
    const video = document.querySelector('video');
    const errors = (window.playerErrors = []);
    // What a viewer does: pick the first caption track the player offers.
    window.turnOn = () => {};
    if (player === 'dashjs') {
      const p = window.dashjs.MediaPlayer().create();
      p.on(window.dashjs.MediaPlayer.events.ERROR, (e) => errors.push(`dash.js ${e.error && e.error.code}`));
      p.initialize(video, url, true);
      window.turnOn = () => { if (p.getTracksFor('text').length) { p.enableText(true); p.setTextTrack(0); } };
    } else if (player === 'shaka') {
      window.shaka.polyfill.installAll();
      const p = new window.shaka.Player();
      p.addEventListener('error', (e) => errors.push(`shaka ${e.detail && e.detail.code}`));
      await p.attach(video);
      try { await p.load(url); } catch (e) { errors.push(`shaka load ${e.code}`); }
      window.turnOn = () => {
        const t = p.getTextTracks();
        if (t.length) { p.selectTextTrack(t[0]); p.setTextTrackVisibility(true); }
      };
      video.play().catch(() => {});
    } else {
      const h = new window.Hls();
      h.on(window.Hls.Events.ERROR, (_, d) => { if (d.fatal) errors.push(`hls.js ${d.details}`); });
      h.loadSource(url);
      h.attachMedia(video);
      window.turnOn = () => { if (h.subtitleTracks.length === 0) for (const t of video.textTracks) if (t.mode !== 'showing') t.mode = 'showing'; };
      video.play().catch(() => {});
    }
  }, { player, url });
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const s = await page.evaluate(() => {
      window.turnOn();
      const video = document.querySelector('video');
      const tracks = [];
      const cues = [];
      for (const t of video.textTracks) {
        tracks.push({ kind: t.kind, label: t.label, language: t.language, mode: t.mode });
        for (const c of (t.cues || [])) cues.push(c.text);
      }
      return { tracks, cues, time: video.currentTime, errors: window.playerErrors || [] };
    });
    result.tracks = s.tracks;
    result.cues = [...new Set(result.cues.concat(s.cues))];
    result.time = s.time;
    result.errors = [...new Set(result.errors.concat(s.errors))];
    if (result.cues.length && s.time > 2.5) break;
    await new Promise((r) => setTimeout(r, 250));
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
