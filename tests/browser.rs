//! The viewer page plays in a real browser: Debian's Chromium, headless,
//! driven by playwright-core (from npm), against `livefleet dev --demo-source`;
//! and third-party players (dash.js, Shaka Player, hls.js, at their default
//! settings) play the live channel and a VOD.

mod common;

use common::*;

/// Runs the browser script `tests/browser/<script>` with `args` in Node and
/// returns the JSON of the last line it printed; a script that fails fails
/// the test with its output.
fn browser_script(script: &str, args: &[&str]) -> serde_json::Value {
    let out = run(std::process::Command::new("node")
        .arg(repo().join("tests/browser").join(script))
        .args(args));
    assert!(
        out.status.success(),
        "{script} {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let line = text(&out.stdout);
    serde_json::from_str(line.trim().lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn play(url: &str) -> serde_json::Value {
    browser_script("play.mjs", &[url, "40"])
}

#[test]
fn viewer_page_plays_hls_and_dash_in_chromium() {
    let dev = Dev::start("demo", &["--demo-source"]);
    dev.wait_for(60, "the demo channel's playlists", || {
        http_get(&dev.url("360p/index.m3u8")).0 == 200
    });
    for protocol in ["hls", "dash"] {
        let r = play(&format!("{}/?channel=demo&protocol={protocol}", dev.http));
        assert_eq!(
            r["advanced"], true,
            "{protocol}: playback did not advance: {r}"
        );
        assert!(
            r["errors"].as_array().is_some_and(|e| e.is_empty()),
            "{protocol}: player errors: {r}"
        );
        // The page shows the channel's preview picture until playback starts.
        let poster = r["poster"].as_str().unwrap_or_default();
        assert_eq!(poster, dev.url("thumbnail.jpg"), "{r}");
        let (status, head, jpeg) = http_get(poster);
        assert_eq!(status, 200, "{head}");
        assert_eq!(jpeg_size(&jpeg), Some((640, 360)), "{head}");
    }
}

/// A third-party player on its own page: `player` is `dashjs`, `shaka` or `hlsjs`.
fn play_with(player: &str, url: &str) -> serde_json::Value {
    play_with_storyboard(player, url, None)
}

/// As [`play_with`]; Shaka Player also reads `storyboard`'s thumbnails.
fn play_with_storyboard(player: &str, url: &str, storyboard: Option<&str>) -> serde_json::Value {
    let mut args = vec![player, url, "40"];
    args.extend(storyboard);
    browser_script("players.mjs", &args)
}

#[test]
fn dash_js_shaka_and_hls_js_play_live_and_vod_with_default_settings() {
    let dev = Dev::start("demo", &["--demo-source"]);
    // A VOD beside the live channel, served by the same origin under /vod/.
    small_vod(dev.data.path(), &dev.data.path().join("store/vod/clip"));
    dev.wait_for(60, "the demo channel's playlists", || {
        http_get(&dev.url("360p/index.m3u8"))
            .2
            .windows(4)
            .any(|w| w == b".m4s")
    });
    let vod_url = |m: &str| format!("{}/vod/clip/{m}", dev.http);
    for (player, live, vod) in [
        ("dashjs", dev.url("manifest.mpd"), vod_url("manifest.mpd")),
        ("shaka", dev.url("manifest.mpd"), vod_url("manifest.mpd")),
        ("shaka", dev.url("master.m3u8"), vod_url("master.m3u8")),
        ("hlsjs", dev.url("master.m3u8"), vod_url("master.m3u8")),
    ] {
        for url in [live, vod] {
            // Shaka Player offers the VOD's storyboard for scrubbing.
            let storyboard =
                (player == "shaka" && url.contains("/vod/")).then(|| vod_url("storyboard.vtt"));
            let r = play_with_storyboard(player, &url, storyboard.as_deref());
            assert!(
                r["errors"].as_array().is_some_and(|e| e.is_empty()),
                "{player} {url}: errors: {r}"
            );
            assert_eq!(r["advanced"], true, "{player} {url}: did not play: {r}");
            if storyboard.is_some() {
                check_thumbnails(&r["thumbnails"], &vod_url("storyboard/0.jpg"));
            }
        }
    }
}

/// A 10 s clip (made in `dir`) transcoded with the small CPU profile into
/// `out`: 2 s segments, a storyboard of five tiles.
fn small_vod(dir: &std::path::Path, out: &std::path::Path) {
    let clip = dir.join("clip.flv");
    make_clip(&clip, 10);
    let done = run(livefleet()
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(out));
    assert!(done.status.success(), "{}", text(&done.stderr));
}

/// What Shaka Player read from the storyboard of a 10 s VOD of 2 s
/// segments: five thumbnails of 240x136 along one sprite, each 2 s.
fn check_thumbnails(thumbnails: &serde_json::Value, sprite: &str) {
    let all = thumbnails
        .as_array()
        .unwrap_or_else(|| panic!("{thumbnails}"));
    assert_eq!(all.len(), 5, "{thumbnails}");
    for (i, t) in all.iter().enumerate() {
        let uri = format!("{sprite}#xywh={},0,240,136", 240 * i);
        assert_eq!(t["uri"], uri.as_str(), "{t}");
        assert_eq!(t["start"].as_f64(), Some(2.0 * i as f64), "{t}");
        assert_eq!(t["duration"].as_f64(), Some(2.0), "{t}");
        assert_eq!(
            (&t["x"], &t["y"], &t["width"], &t["height"]),
            (&(240 * i).into(), &0.into(), &240.into(), &136.into()),
            "{t}"
        );
        assert_eq!(t["sprite"], serde_json::json!([1200, 136]), "{t}");
    }
}

/// Copies of sources whose stored pictures are not what they show play in
/// Chromium (hls.js, dash.js, Shaka Player) with the shape of the encoded
/// renditions beside them: a phone's file (coded 640x360, a display matrix
/// that turns it a quarter) upright, an anamorphic 480x360 at 4:3 as 16:9.
/// A copy in HEVC, which this Chromium cannot decode, is skipped: the
/// players pick the H.264 variant of the master and the MPD, without error.
/// A copy in AV1 plays (hls.js on its own playlist, which has no other).
#[test]
fn passthrough_copies_play_in_chromium_as_shown() {
    let data = tempfile::tempdir().unwrap();
    let file = |name: &str| data.path().join(name).to_str().unwrap().to_string();
    let encode = |filter: &str, out: &str| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            filter,
            "-t",
            "6",
            "-g",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            &file(out),
        ])
    };
    encode("testsrc2=size=640x360:rate=30", "coded.mp4");
    ffmpeg(&[
        "-i",
        &file("coded.mp4"),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        &file("sideways.mp4"),
    ]);
    encode("testsrc2=size=480x360:rate=30,setsar=4/3", "anamorphic.mp4");
    make_clip_with(&data.path().join("hevc.mp4"), 6, &HEVC);
    make_clip_with(&data.path().join("av1.mp4"), 6, &AV1);
    let profile = passthrough_profile(data.path());
    // The shape each is shown at: width / height.
    let sources = [
        ("sideways", 360.0 / 640.0),
        ("anamorphic", 16.0 / 9.0),
        ("hevc", 16.0 / 9.0),
        ("av1", 16.0 / 9.0),
    ];
    for (name, _) in sources {
        let done = run(livefleet()
            .arg("transcode")
            .arg(file(&format!("{name}.mp4")))
            .arg("--profile")
            .arg(&profile)
            .arg("--out")
            .arg(data.path().join("vod").join(name)));
        assert!(done.status.success(), "{name}: {}", text(&done.stderr));
    }
    let (_origin, vod) = serve_vod(data.path(), "sideways/master.m3u8");
    for (name, shape) in sources {
        let mut plays = vec![
            ("dashjs", format!("{vod}/{name}/manifest.mpd")),
            ("shaka", format!("{vod}/{name}/manifest.mpd")),
        ];
        if name == "hevc" {
            plays.push(("hlsjs", format!("{vod}/{name}/master.m3u8")));
        } else {
            plays.push(("hlsjs", format!("{vod}/{name}/source/index.m3u8")));
            plays.push(("hlsjs", format!("{vod}/{name}/240p/index.m3u8")));
        }
        for (player, url) in plays {
            let r = play_with(player, &url);
            assert_eq!(r["advanced"], true, "{player} {url}: did not play: {r}");
            assert!(
                r["errors"].as_array().is_some_and(|e| e.is_empty()),
                "{player} {url}: errors: {r}"
            );
            let (w, h) = (r["size"][0].as_f64(), r["size"][1].as_f64());
            assert!(
                matches!((w, h), (Some(w), Some(h)) if h > 0.0 && (w / h / shape - 1.0).abs() < 0.02),
                "{player} {url}: shown {w:?}x{h:?}, not at {shape:.3}: {r}"
            );
        }
    }
}

/// Closed captions the source carries (CEA-608 in its SEI), declared in the
/// profile: Shaka Player (HLS and DASH), dash.js and hls.js offer the
/// declared track and show the caption. (hls.js holds 608 cues until the
/// next video append, so a caption that ends in a VOD's last segment can stay
/// unshown: the clip lasts 8 s. docs/design/captions.md)
#[test]
fn captions_are_offered_and_shown_by_the_players() {
    let data = tempfile::tempdir().unwrap();
    let clip = common::captions::captioned_clip(data.path(), 30, "yuv420p", "HELLO", 8);
    let captioned = common::captions::captioned_profile(
        data.path(),
        "{ channel: CC1, language: en-US, name: English CC }",
    );
    let done = run(livefleet()
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(&captioned)
        .arg("--out")
        .arg(data.path().join("vod/cc")));
    assert!(done.status.success(), "{}", text(&done.stderr));
    let (_origin, vod) = serve_vod(data.path(), "cc/master.m3u8");
    let vod = format!("{vod}/cc");
    for (player, manifest) in [
        ("shaka", "master.m3u8"),
        ("shaka", "manifest.mpd"),
        ("dashjs", "manifest.mpd"),
        ("hlsjs", "master.m3u8"),
    ] {
        let r = browser_script(
            "captions.mjs",
            &[player, &format!("{vod}/{manifest}"), "20"],
        );
        assert!(
            r["errors"].as_array().is_some_and(|e| e.is_empty()),
            "{player} {manifest}: {r}"
        );
        // What the manifests declare (players name an undeclared CC1 track
        // otherwise: hls.js "English"/"en", Shaka "CC1"/"cc1").
        let declared = r["tracks"].as_array().is_some_and(|t| {
            t.iter().any(|t| {
                t["kind"] == "captions"
                    && t["language"] == "en-US"
                    && (player != "hlsjs" || t["label"] == "English CC")
            })
        });
        assert!(
            declared,
            "{player} {manifest}: no declared captions track: {r}"
        );
        let cues = r["cues"].as_array().cloned().unwrap_or_default();
        assert!(
            cues.iter()
                .any(|c| c.as_str().is_some_and(|c| c.contains("HELLO"))),
            "{player} {manifest}: the caption was not shown: {r}"
        );
    }
}

/// A VOD on the viewer page (`?vod=`): it plays, its seek bar shows the
/// storyboard's tile of the moment under the pointer and seeks on a click,
/// and the channel's past broadcasts are listed under it.
#[test]
fn viewer_page_scrubs_a_vod_with_its_storyboard() {
    let data = tempfile::tempdir().unwrap();
    small_vod(
        data.path(),
        &data.path().join("vod/show/20261208T040000Z-1"),
    );
    // The channel's listing as the archive writes it, with an entry of a VOD
    // no longer in the store and two that are not what the archive writes.
    std::fs::write(
        data.path().join("vod/show/broadcasts.json"),
        r#"{"channel":"show","updated_ms":1765170000000,"broadcasts":[
            {"id":"20261208T040000Z-1","started_ms":1765166400000,"ended_ms":1765166410000,"duration_seconds":10.0,"gaps":0},
            {"id":"../../live/show","started_ms":1,"duration_seconds":1.0},
            {"id":"20261207T040000Z-0","started_ms":1765080000000,"ended_ms":1765083723000,"duration_seconds":3723.5,"gaps":0},
            {"id":"20261206T040000Z-0","started_ms":"soon","duration_seconds":null}]}"#,
    )
    .unwrap();
    let (_origin, vod) = serve_vod(data.path(), "show/20261208T040000Z-1/storyboard.vtt");
    let root = vod.trim_end_matches("/vod");
    let page = format!("{root}/?channel=show&vod=20261208T040000Z-1");
    let r = browser_script("scrub.mjs", &[&page, "0.15", "0.55", "0.75"]);
    println!("scrub: {r}");
    assert!(r["errors"].as_array().is_some_and(|e| e.is_empty()), "{r}");
    assert_eq!(r["advanced"], true, "{r}");
    let base = format!("{vod}/show/20261208T040000Z-1/");
    assert_eq!(r["poster"], format!("{base}thumbnail.jpg").as_str(), "{r}");
    assert_eq!(r["chatLive"], false, "a VOD replays its chat: {r}");
    assert_eq!(r["latency"], "-", "a VOD has no live edge: {r}");
    assert_eq!(r["storyboard"]["cues"], 5, "{r}");
    // Five 2 s tiles of 240x136 along one sprite: 1.5 s, 5.5 s and 7.5 s
    // lie in the first, third and fourth.
    for (hover, (tile, label)) in
        r["hovers"]
            .as_array()
            .unwrap()
            .iter()
            .zip([(0, "0:01"), (2, "0:05"), (3, "0:07")])
    {
        assert_eq!(hover["visible"], true, "{hover}");
        let p = &hover["preview"];
        assert_eq!(p["start"].as_f64(), Some(2.0 * tile as f64), "{hover}");
        assert_eq!(
            p["url"],
            format!("{base}storyboard/0.jpg").as_str(),
            "{hover}"
        );
        assert_eq!(
            (&p["x"], &p["w"], &p["h"]),
            (&(240 * tile).into(), &240.into(), &136.into()),
            "{hover}"
        );
        let image = &hover["image"];
        assert_eq!(
            (&image["width"], &image["height"]),
            (&240.into(), &136.into()),
            "{hover}"
        );
        assert_eq!(
            image["backgroundPosition"],
            format!("{}px 0px", -240 * tile).as_str(),
            "{hover}"
        );
        assert!(
            image["backgroundImage"]
                .as_str()
                .is_some_and(|b| b.contains("/storyboard/0.jpg")),
            "{hover}"
        );
        assert_eq!(hover["label"], label, "{hover}");
    }
    assert_eq!(r["sprite"], serde_json::json!([1200, 136]), "{r}");
    // The click at 75% seeks there.
    let target = r["seekTarget"].as_f64().unwrap();
    let at = r["seekedTo"].as_f64().unwrap();
    assert!((target - 7.5).abs() < 0.5, "{r}");
    assert!((at - target).abs() < 1.0, "{r}");
    assert_eq!(r["hiddenAfterLeaving"], true, "{r}");
    // Past broadcasts: the two good entries, this one marked, each a link
    // to the page with its id and a poster where the VOD is still stored.
    let past = &r["past"];
    assert_eq!(past["hidden"], false, "{past}");
    assert_eq!(
        past["ids"],
        serde_json::json!(["20261208T040000Z-1", "20261207T040000Z-0"]),
        "{past}"
    );
    let links = &past["links"];
    assert_eq!(
        links[0]["href"], "?channel=show&vod=20261208T040000Z-1",
        "{past}"
    );
    assert_eq!(links[0]["current"], "page", "{past}");
    assert_eq!(links[0]["length"], "0:10", "{past}");
    assert!(links[1]["current"].is_null(), "{past}");
    assert_eq!(links[1]["length"], "1:02:03", "{past}");
    assert!(
        past["images"][0][0].as_u64().is_some_and(|w| w > 0),
        "{past}"
    );
    assert_eq!(past["images"][1], serde_json::json!([0, 0]), "{past}");
}

/// The scrubber's reader skips what it cannot read in a storyboard from a
/// store (bad times, no rectangle, a bad URL, binary bytes), never throws,
/// and finds the tile of a moment, none in a gap.
#[test]
fn the_scrubber_reads_bad_storyboards_without_throwing() {
    let r = browser_script("storyboard_parse.mjs", &[]);
    assert_eq!(r["thrown"], serde_json::json!([]), "{r}");
    let cases = &r["cases"];
    assert_eq!(
        cases["good"],
        serde_json::json!([
            {"start": 0, "end": 2, "url": "http://origin.test/vod/show/b1/storyboard/0.jpg", "x": 0, "y": 0, "w": 240, "h": 136},
            {"start": 2, "end": 4, "url": "http://origin.test/vod/show/b1/storyboard/0.jpg", "x": 240, "y": 0, "w": 240, "h": 136},
        ]),
        "{r}"
    );
    assert_eq!(cases["crlf_and_hours"][0]["start"], 3600.0, "{r}");
    assert_eq!(cases["crlf_and_hours"][0]["end"], 3602.5, "{r}");
    assert_eq!(cases["crlf_and_hours"][0]["y"], 136, "{r}");
    let starts: Vec<f64> = cases["out_of_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["start"].as_f64().unwrap())
        .collect();
    assert_eq!(starts, [0.0, 4.0], "{r}");
    for empty in [
        "bad_times",
        "no_rectangle",
        "no_payload",
        "bad_url",
        "binary",
        "empty",
        "not_text",
    ] {
        assert_eq!(cases[empty], serde_json::json!([]), "{empty}: {r}");
    }
    let l = &r["lookups"];
    assert_eq!(
        (&l["at_0"], &l["at_1_9"], &l["at_2"], &l["at_3_99"]),
        (&0.into(), &0.into(), &240.into(), &240.into()),
        "{r}"
    );
    for none in ["after_end", "before_start", "in_gap", "none"] {
        assert!(l[none].is_null(), "{none}: {r}");
    }
}

/// `livefleet origin` serving `data`; returns it and the URL of its `vod/`
/// folder once `vod/<ready>` answers.
fn serve_vod(data: &std::path::Path, ready: &str) -> (Proc, String) {
    let port = free_port();
    let origin = Proc::spawn(
        livefleet()
            .arg("origin")
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}")),
        data.join("origin.log"),
    );
    let vod = format!("http://127.0.0.1:{port}/vod");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while http_get(&format!("{vod}/{ready}")).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the origin did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    (origin, vod)
}

fn chat_page(args: &[&str]) -> serde_json::Value {
    browser_script("chat.mjs", args)
}

/// A message typed on one viewer page appears on another; once the
/// broadcast is over, the VOD replays it at its moment, and again after a seek.
#[test]
fn chat_on_the_viewer_page_live_and_replayed_with_the_vod() {
    let dev = Dev::start("talk", &["--grace", "3"]);
    let publisher = Publisher::ffmpeg(&dev.publish_url, 24);
    dev.wait_for(60, "the channel's playlists", || {
        http_get(&dev.url("360p/index.m3u8"))
            .2
            .windows(4)
            .any(|w| w == b".m4s")
    });
    let page = format!("{}/?channel=talk#token={}", dev.http, dev.chat_token);
    let live = chat_page(&["live", &page, &page, "hello from page A"]);
    assert!(
        live["errors"].as_array().is_some_and(|e| e.is_empty()),
        "{live}"
    );
    assert_eq!(live["onPage"], true, "{live}");
    assert!(live["viewers"].as_u64().is_some_and(|v| v >= 2), "{live}");
    let media_time = live["message"]["media_time"]
        .as_i64()
        .expect("a media time");
    let segment = live["message"]["segment"].as_u64().expect("a segment");
    // The broadcast ends: the publisher stops, the grace period passes.
    let (ok, stderr) = publisher.finish();
    assert!(ok, "{stderr}");
    dev.wait_for(40, "the VOD and the message's chat file", || {
        broadcast_ended(&dev.channel_dir())
            && std::fs::read_to_string(dev.channel_dir().join(format!("chat/{segment}.json")))
                .is_ok_and(|f| f.contains("hello from page A"))
    });
    let replay = chat_page(&[
        "replay",
        &format!("{}/?channel=talk", dev.http),
        &media_time.to_string(),
        "hello from page A",
    ]);
    assert!(
        replay["errors"].as_array().is_some_and(|e| e.is_empty()),
        "{replay}"
    );
    println!("replay: {replay}");
    assert_eq!(replay["beforeItsMoment"], false, "{replay}");
    assert_eq!(replay["atItsMoment"], true, "{replay}");
    assert_eq!(replay["afterSeekingBack"], false, "{replay}");
}
