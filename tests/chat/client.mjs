// A chat client on centrifuge-js (the Centrifugo SDK from npm), driven by
// tests/chat.rs. Each mode prints one JSON line with what it saw.
//
//   share URL1 URL2 WRITER_TOKEN READER_TOKEN CHANNEL COUNT
//   position URL TOKEN CHANNEL           -> subscribe, print the stream position
//   publish URL TOKEN CHANNEL MEDIA_TIME TEXT...
//   recover URL TOKEN CHANNEL OFFSET EPOCH
//   history URL CHANNEL                  -> every publication's data, oldest first
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';

const [mode, ...args] = process.argv.slice(2);
const within = (ms, what, p) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout: ' + what)), ms))]);
const client = (url, token) => new Centrifuge(url, { websocket: WebSocket, ...(token ? { token } : {}) });
const subscribed = (sub) => new Promise((res, rej) => {
  sub.on('subscribed', res);
  sub.on('error', (e) => rej(new Error('subscription error ' + JSON.stringify(e.error))));
});
const done = (result) => { console.log(JSON.stringify(result)); process.exit(0); };
// Publishes as a polite client does: over the rate limit (code 111), it waits and tries again.
const send = async (sub, data) => {
  for (let attempt = 0; ; attempt++) {
    try { return await within(10000, 'publish', sub.publish(data)); } catch (e) {
      if (e.code !== 111 || attempt > 20) throw e;
      await new Promise((r) => setTimeout(r, 400));
    }
  }
};

if (mode === 'share') {
  const [u1, u2, writer, reader, channel, count] = args;
  const n = Number(count);
  const a = client(u1, writer), b = client(u2, reader);
  const subB = b.newSubscription(channel, { joinLeave: true }), subA = a.newSubscription(channel);
  const received = [], joins = [];
  subB.on('join', (ctx) => joins.push(ctx.info.user));
  const all = new Promise((res) => subB.on('publication', (ctx) => {
    if (ctx.data.type !== 'message') return;
    received.push({ text: ctx.data.text, offset: ctx.offset, user: ctx.info && ctx.info.user, data: ctx.data });
    if (received.length === n) res();
  }));
  const readyB = subscribed(subB); subB.subscribe(); b.connect();
  await within(10000, 'subscribe on relay 2', readyB);
  const readyA = subscribed(subA); subA.subscribe(); a.connect();
  await within(10000, 'subscribe on relay 1', readyA);
  const sentAt = [];
  for (let i = 0; i < n; i++) {
    sentAt.push(Date.now());
    await send(subA, { text: 'message ' + i });
  }
  await within(10000, 'delivery on relay 2', all);
  const history = await within(10000, 'history', subB.history({ limit: 100 }));
  const stats = await within(10000, 'presence stats', subB.presenceStats());
  done({
    received,
    history: history.publications.filter((p) => p.data.type === 'message').map((p) => p.data.text),
    epoch: history.epoch,
    offset: history.offset,
    stats,
    joins,
  });
} else if (mode === 'history') {
  const [url, channel] = args;
  const c = client(url, null);
  const sub = c.newSubscription(channel);
  const ready = subscribed(sub); sub.subscribe(); c.connect();
  await within(10000, 'subscribe', ready);
  const h = await within(10000, 'history', sub.history({ limit: -1 }));
  done({ data: h.publications.map((p) => p.data) });
} else if (mode === 'position') {
  const [url, token, channel] = args;
  const c = client(url, token);
  const sub = c.newSubscription(channel);
  const ready = subscribed(sub); sub.subscribe(); c.connect();
  const ctx = await within(10000, 'subscribe', ready);
  done({ offset: ctx.streamPosition.offset, epoch: ctx.streamPosition.epoch });
} else if (mode === 'publish') {
  const [url, token, channel, mediaTime, ...texts] = args;
  const c = client(url, token);
  const sub = c.newSubscription(channel);
  const ready = subscribed(sub); sub.subscribe(); c.connect();
  await within(10000, 'subscribe', ready);
  const errors = [];
  for (const text of texts) {
    const data = mediaTime === '-' ? { text } : { text, media_time: Number(mediaTime) };
    try { await send(sub, data); } catch (e) { errors.push(e.code ?? String(e)); }
  }
  done({ published: texts.length - errors.length, errors });
} else if (mode === 'recover') {
  const [url, token, channel, offset, epoch] = args;
  const c = client(url, token);
  const sub = c.newSubscription(channel, { since: { offset: Number(offset), epoch } });
  const texts = [];
  sub.on('publication', (ctx) => { if (ctx.data.type === 'message') texts.push(ctx.data.text); });
  const ready = subscribed(sub); sub.subscribe(); c.connect();
  const ctx = await within(10000, 'subscribe', ready);
  await new Promise((r) => setTimeout(r, 1500));
  done({ recovered: ctx.recovered, wasRecovering: ctx.wasRecovering, texts });
} else {
  console.error('unknown mode ' + mode);
  process.exit(2);
}
