// The viewer page's storyboard scrubber: a seek bar under a VOD that shows
// the thumbnail of the moment under the pointer, from the VOD's
// `storyboard.vtt` (WebVTT cues naming a tile of a sprite sheet, made by the
// archive and by `livefleet transcode`), and seeks where it is released.
// The video element's own controls cannot show pictures; this bar can.
(function () {
  "use strict";

  // Seconds of a WebVTT timestamp ("01:02:03.500" or "02:03.500"); NaN if malformed.
  function seconds(text) {
    var parts = text.split(":");
    if (parts.length < 2 || parts.length > 3) { return NaN; }
    return parts.reduce(function (total, part) {
      return /^\d+(\.\d+)?$/.test(part) ? total * 60 + Number(part) : NaN;
    }, 0);
  }

  // The cues of a storyboard's text, in time order, image URLs resolved
  // against `base`. A cue that cannot be read is skipped, never thrown on:
  // the file comes from a store, and a bad one must not break playback.
  function parse(text, base) {
    var cues = [];
    var lines = String(text).split(/\r?\n/);
    for (var i = 0; i < lines.length; i++) {
      var timing = /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i]);
      if (!timing) { continue; }
      var start = seconds(timing[1]), end = seconds(timing[2]);
      var payload = (lines[i + 1] || "").trim();
      var tile = /#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(payload);
      if (!tile || !(end > start)) { continue; }
      var url;
      try { url = new URL(payload.slice(0, tile.index), base).href; } catch (e) { continue; }
      cues.push({ start: start, end: end, url: url, x: +tile[1], y: +tile[2], w: +tile[3], h: +tile[4] });
      i += 1;
    }
    return cues.sort(function (a, b) { return a.start - b.start; });
  }

  // The cue covering `t`, or null (a gap in the broadcast has none).
  function cueAt(cues, t) {
    var lo = 0, hi = cues.length - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (cues[mid].end <= t) { lo = mid + 1; } else if (cues[mid].start > t) { hi = mid - 1; } else { return cues[mid]; }
    }
    return null;
  }

  // "m:ss", or "h:mm:ss" from an hour: a moment or a length on the page.
  function clock(t) {
    var s = Math.floor(t), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    var mmss = String(m).padStart(h ? 2 : 1, "0") + ":" + String(s % 60).padStart(2, "0");
    return h ? h + ":" + mmss : mmss;
  }

  // What the page's tests read: cues loaded, the last error, the tile shown.
  var state = { url: null, cues: 0, error: null, preview: null };

  // Loads `url` and, if it has cues, puts the bar into `parent`, driving `video`.
  function attach(video, url, parent) {
    url = new URL(url, document.baseURI).href;  // The base of the sprites' URLs.
    state.url = url;
    return fetch(url).then(function (r) {
      if (!r.ok) { throw new Error("no storyboard (" + r.status + ")"); }
      return r.text();
    }).then(function (text) {
      var cues = parse(text, url);
      state.cues = cues.length;
      if (!cues.length) { throw new Error("the storyboard has no cue"); }
      build(video, cues, parent);
    }).catch(function (e) { state.error = String(e.message || e); });
  }

  function build(video, cues, parent) {
    var seek = document.createElement("input");
    seek.type = "range";
    seek.id = "seek";
    seek.min = "0";
    seek.step = "0.01";
    seek.value = "0";
    seek.setAttribute("aria-label", "Seek");
    var preview = document.createElement("div");
    preview.id = "preview";
    var image = document.createElement("div");
    image.id = "preview-image";
    var label = document.createElement("span");
    label.id = "preview-time";
    preview.appendChild(image);
    preview.appendChild(label);
    parent.appendChild(preview);
    parent.appendChild(seek);
    parent.hidden = false;
    // The sprites are few (one per 100 tiles): fetch them before the first hover.
    cues.map(function (c) { return c.url; })
      .filter(function (u, i, all) { return all.indexOf(u) === i; })
      .slice(0, 10)
      .forEach(function (u) { new Image().src = u; });

    var dragging = false;
    function duration() {
      return isFinite(video.duration) && video.duration > 0 ? video.duration : cues[cues.length - 1].end;
    }
    function show(t) {
      var cue = cueAt(cues, t);
      if (!cue) { hide(); return; }
      image.style.width = cue.w + "px";
      image.style.height = cue.h + "px";
      image.style.backgroundImage = 'url("' + cue.url.replace(/["\\]/g, "\\$&") + '")';
      image.style.backgroundPosition = -cue.x + "px " + -cue.y + "px";
      label.textContent = clock(t);
      var width = seek.getBoundingClientRect().width;
      var left = Math.min(Math.max(t / duration() * width - cue.w / 2, 0), Math.max(width - cue.w, 0));
      preview.style.left = left + "px";
      preview.style.display = "block";
      state.preview = { time: t, start: cue.start, end: cue.end, url: cue.url, x: cue.x, y: cue.y, w: cue.w, h: cue.h };
    }
    function hide() {
      preview.style.display = "none";
      state.preview = null;
    }
    function timeAt(clientX) {
      var rect = seek.getBoundingClientRect();
      return Math.min(Math.max((clientX - rect.left) / rect.width, 0), 1) * duration();
    }
    seek.max = String(duration());
    video.addEventListener("durationchange", function () { seek.max = String(duration()); });
    video.addEventListener("timeupdate", function () { if (!dragging) { seek.value = String(video.currentTime); } });
    seek.addEventListener("pointermove", function (e) { show(timeAt(e.clientX)); });
    seek.addEventListener("pointerleave", function () { if (!dragging) { hide(); } });
    seek.addEventListener("input", function () { dragging = true; show(Number(seek.value)); });
    seek.addEventListener("change", function () {
      dragging = false;
      video.currentTime = Number(seek.value);
    });
  }

  window.livefleetStoryboard = { attach: attach, parse: parse, cueAt: cueAt, clock: clock, state: state };
})();
