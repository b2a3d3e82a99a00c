//! The viewer page plays in a real browser: Debian's Chromium, headless,
//! driven by playwright-core (from npm), against `livefleet dev --demo-source`;
//! and third-party players (dash.js, Shaka Player, hls.js, at their default
//! settings) play the live channel and a VOD.

mod common;

use common::*;

fn play(url: &str) -> serde_json::Value {
    let out = run(std::process::Command::new("node")
        .arg(repo().join("tests/browser/play.mjs"))
        .arg(url)
        .arg("40"));
    assert!(
        out.status.success(),
        "browser script failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let line = text(&out.stdout);
    serde_json::from_str(line.trim().lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("{e}: {line}"))
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
    }
}

/// A third-party player on its own page: `player` is `dashjs`, `shaka` or `hlsjs`.
fn play_with(player: &str, url: &str) -> serde_json::Value {
    let out = run(std::process::Command::new("node")
        .arg(repo().join("tests/browser/players.mjs"))
        .args([player, url, "40"]));
    assert!(
        out.status.success(),
        "{player}: browser script failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let line = text(&out.stdout);
    serde_json::from_str(line.trim().lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn dash_js_shaka_and_hls_js_play_live_and_vod_with_default_settings() {
    let dev = Dev::start("demo", &["--demo-source"]);
    // A VOD beside the live channel, served by the same origin under /vod/.
    let clip = dev.data.path().join("clip.flv");
    make_clip(&clip, 10);
    let vod = dev.data.path().join("store/vod/clip");
    let done = run(livefleet()
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(&vod));
    assert!(done.status.success(), "{}", text(&done.stderr));
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
            let r = play_with(player, &url);
            assert!(
                r["errors"].as_array().is_some_and(|e| e.is_empty()),
                "{player} {url}: errors: {r}"
            );
            assert_eq!(r["advanced"], true, "{player} {url}: did not play: {r}");
        }
    }
}
