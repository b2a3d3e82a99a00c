// The viewer page's storyboard reader (origin/assets/storyboard.js) on good
// and bad WebVTT, in Node without a browser: a file from a store is
// untrusted, so a bad cue must be skipped, never thrown on. Prints one JSON
// line: {"cases": {name: cues}, "lookups": {...}, "thrown": [...]}.
// Usage: node tests/browser/storyboard_parse.mjs
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const source = fs.readFileSync(path.join(root, 'origin/assets/storyboard.js'), 'utf8');
const context = { window: {}, URL };
vm.runInNewContext(source, context);
const { parse, cueAt } = context.window.livefleetStoryboard;

const base = 'http://origin.test/vod/show/b1/storyboard.vtt';
const inputs = {
  good: 'WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard/0.jpg#xywh=0,0,240,136\n\n'
    + '00:00:02.000 --> 00:00:04.000\nstoryboard/0.jpg#xywh=240,0,240,136\n',
  crlf_and_hours: 'WEBVTT\r\n\r\n01:00:00.000 --> 01:00:02.500\r\nstoryboard/6.jpg#xywh=480,136,240,136\r\n',
  out_of_order: 'WEBVTT\n\n00:04.000 --> 00:06.000\na.jpg#xywh=0,0,1,1\n\n00:00.000 --> 00:02.000\nb.jpg#xywh=0,0,1,1\n',
  bad_times: 'WEBVTT\n\naa:bb.000 --> 00:00:02.000\nx.jpg#xywh=0,0,1,1\n\n00:00:03.000 --> 00:00:02.000\nx.jpg#xywh=0,0,1,1\n\n1:2:3:4.0 --> 1:2:3:5.0\nx.jpg#xywh=0,0,1,1\n',
  no_rectangle: 'WEBVTT\n\n00:00.000 --> 00:02.000\nstoryboard/0.jpg\n\n00:02.000 --> 00:04.000\nstoryboard/0.jpg#xywh=1,2,3\n',
  no_payload: 'WEBVTT\n\n00:00.000 --> 00:02.000\n',
  bad_url: 'WEBVTT\n\n00:00.000 --> 00:02.000\nhttp://[::1#xywh=0,0,1,1\n',
  binary: '\u0000\u00ff\ufffd-->\u0000 --> \n#xywh=1,1,1,1',
  empty: '',
  not_text: null,
};
const cases = {};
const thrown = [];
for (const [name, text] of Object.entries(inputs)) {
  try {
    cases[name] = JSON.parse(JSON.stringify(parse(text, base)));
  } catch (e) {
    thrown.push(`${name}: ${e}`);
  }
}
const good = parse(inputs.good, base);
const lookups = {
  at_0: cueAt(good, 0)?.x ?? null,
  at_1_9: cueAt(good, 1.9)?.x ?? null,
  at_2: cueAt(good, 2)?.x ?? null,
  at_3_99: cueAt(good, 3.99)?.x ?? null,
  after_end: cueAt(good, 4),
  before_start: cueAt(good, -1),
  in_gap: cueAt(parse(inputs.out_of_order, base), 3),
  none: cueAt([], 1),
};
console.log(JSON.stringify({ cases, lookups, thrown }));
