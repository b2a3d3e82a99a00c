// The viewer page's storyboard scrubber in headless Chromium (playwright-core):
// opens a VOD on the page, waits for it to play, moves the mouse over the
// seek bar at each fraction given, reads the tile shown there, then clicks
// at the last fraction and reads where playback went. Prints one JSON line:
// {"advanced": bool, "errors": [...], "storyboard": {url, cues, error},
//  "hovers": [{fraction, preview, image: {width, height, backgroundImage,
//  backgroundPosition}, label, visible}], "sprite": [w, h], "seekedTo": s,
//  "duration": s, "poster": url, "chatLive": bool, "past": {ids, error,
//  hidden, links: [{href, current, length}], images: [[w, h]]}}
// Usage: node tests/browser/scrub.mjs URL FRACTION...
import { launch, until } from './chromium.mjs';

const [url, ...fractions] = process.argv.slice(2);
const browser = await launch();
const result = { advanced: false, errors: [], hovers: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => result.errors.push(`page: ${e}`));
  await page.goto(url, { waitUntil: 'load' });
  result.poster = await page.evaluate(() => document.querySelector('video').poster);
  await until(page, 'playback', () => document.querySelector('video').currentTime > 1);
  result.advanced = true;
  await until(page, 'the storyboard', () => {
    const s = window.livefleetStoryboard && window.livefleetStoryboard.state;
    return s && (s.cues > 0 || s.error);
  });
  result.storyboard = await page.evaluate(() => {
    const s = window.livefleetStoryboard.state;
    return { url: s.url, cues: s.cues, error: s.error };
  });
  result.duration = await page.evaluate(() => document.querySelector('video').duration);
  const seek = await page.$('#seek');
  if (seek) {
    const box = await seek.boundingBox();
    const y = box.y + box.height / 2;
    for (const f of fractions.map(Number)) {
      await page.mouse.move(box.x + box.width * f, y, { steps: 3 });
      result.hovers.push(await page.evaluate((fraction) => {
        const image = document.getElementById('preview-image');
        const style = getComputedStyle(image);
        return {
          fraction,
          preview: window.livefleetStoryboard.state.preview,
          image: {
            width: image.offsetWidth - 2, height: image.offsetHeight - 2,
            backgroundImage: style.backgroundImage, backgroundPosition: style.backgroundPosition,
          },
          label: document.getElementById('preview-time').textContent,
          visible: getComputedStyle(document.getElementById('preview')).display !== 'none',
        };
      }, f));
    }
    // The sprite behind the last tile decodes.
    result.sprite = await page.evaluate(async () => {
      const p = window.livefleetStoryboard.state.preview;
      if (!p) return null;
      const image = new Image();
      image.src = p.url;
      await image.decode();
      return [image.naturalWidth, image.naturalHeight];
    });
    const last = Number(fractions[fractions.length - 1]);
    await page.mouse.click(box.x + box.width * last, y);
    const target = await page.evaluate(() => Number(document.getElementById('seek').value));
    await until(page, 'the seek', (t) => Math.abs(document.querySelector('video').currentTime - t) < 1, target, 10000)
      .catch(() => {});
    result.seekTarget = target;
    result.seekedTo = await page.evaluate(() => document.querySelector('video').currentTime);
    await page.mouse.move(0, 0);
    result.hiddenAfterLeaving = await page.evaluate(() =>
      getComputedStyle(document.getElementById('preview')).display === 'none');
  }
  // The channel's past broadcasts under the player, from its listing.
  await until(page, 'the listing', () => window.livefleetPast && window.livefleetPast.loaded);
  await page.evaluate(() => document.getElementById('past').scrollIntoView());
  result.past = await page.evaluate(async () => {
    const links = [...document.querySelectorAll('#broadcasts a')];
    const images = [...document.querySelectorAll('#broadcasts img')];
    await Promise.all(images.map((i) => i.decode().catch(() => {})));
    return {
      ids: window.livefleetPast.ids,
      error: window.livefleetPast.error,
      hidden: document.getElementById('past').hidden,
      links: links.map((a) => ({ href: a.getAttribute('href'), current: a.getAttribute('aria-current'), length: a.querySelector('.length').textContent })),
      images: images.map((i) => [i.naturalWidth, i.naturalHeight]),
    };
  });
  const page2 = await page.evaluate(() => ({ live: window.livefleetChat.live, errors: window.livefleetPlayer.errors }));
  result.chatLive = page2.live;
  result.latency = await page.evaluate(() => document.getElementById('latency').textContent);
  result.errors = result.errors.concat(page2.errors.map(String));
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
