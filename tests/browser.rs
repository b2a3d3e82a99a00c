//! The viewer page plays in a real browser: Debian's Chromium, headless,
//! driven by playwright-core (from npm), against `livefleet dev --demo-source`.

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
