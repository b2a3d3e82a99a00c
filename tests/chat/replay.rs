//! Chat replay files in step with the archived video.

use super::*;

/// Messages of a broadcast land in the chat file of the segment their media time falls in.
#[test]
fn chat_files_hold_the_messages_of_their_segment() {
    let dev = Dev::start("chatty", &[]);
    let chat_url = dev.chat.clone();
    let token = dev.chat_token.clone();
    let _publisher = Publisher::ffmpeg(&dev.publish_url, 60);
    let out = dev.channel_dir();
    let segment_times =
        |out: &Path| -> Vec<(u64, i64, i64)> { program_dates(&out.join("360p/index.m3u8")) };
    dev.wait_for(60, "four segments", || segment_times(&out).len() >= 4);
    // Messages at the media times of the newest segment, at the live edge, and far in the past.
    let segs = segment_times(&out);
    let (n, start, end) = *segs.last().unwrap();
    let mid = (start + end) / 2;
    let sent = js(
        "publish",
        &[
            &chat_url,
            &token,
            "chatty",
            &mid.to_string(),
            "at mid",
            "also at mid",
        ],
    );
    assert_eq!(sent["published"], 2, "{sent}");
    let sent = js(
        "publish",
        &[&chat_url, &token, "chatty", "-", "at the edge"],
    );
    assert_eq!(sent["published"], 1, "{sent}");
    let sent = js(
        "publish",
        &[&chat_url, &token, "chatty", "1000", "long ago"],
    );
    assert_eq!(sent["published"], 1, "{sent}");
    // Each message's file is written once three more segments have closed.
    // The live playlist keeps a window: remember every segment it showed.
    let known = std::cell::RefCell::new(std::collections::BTreeMap::new());
    dev.wait_for(60, "the chat files", || {
        let mut known = known.borrow_mut();
        for (k, s, e) in segment_times(&out) {
            known.insert(k, (s, e));
        }
        known.keys().next_back().is_some_and(|last| *last >= n + 5)
    });
    std::thread::sleep(Duration::from_secs(2));
    let known = known.into_inner();
    let newest = *known.keys().next_back().unwrap();
    let mut seen = Vec::new();
    for (number, (start, end)) in known.iter().filter(|(k, _)| **k + 3 <= newest) {
        let file = out.join(format!("chat/{number}.json"));
        let body = std::fs::read_to_string(&file)
            .unwrap_or_else(|_| panic!("no {}: {}", file.display(), dev.log()));
        let messages: Vec<Value> = serde_json::from_str(&body).unwrap();
        for m in &messages {
            let t = m["media_time"].as_i64().unwrap();
            // EXTINF has millisecond precision: boundaries summed from it may be a few ms off.
            assert!(
                *start - 3 <= t && t < *end + 3,
                "segment {number} [{start}, {end}) holds {m}"
            );
            assert_eq!(m["segment"], json!(number), "{m}");
            seen.push(m["text"].as_str().unwrap().to_owned());
        }
    }
    let segs: Vec<_> = known.iter().collect();
    let http = chat_url
        .replace("ws://", "http://")
        .replace("/connection/websocket", "");
    for t in ["at mid", "also at mid", "at the edge", "long ago"] {
        assert_eq!(
            seen.iter().filter(|s| *s == t).count(),
            1,
            "{t} in exactly one file: {seen:?}; segments {segs:?}; every message: {}",
            text(&http_get(&format!("{http}/v1/chat/chatty")).2)
        );
    }
    // The broadcast's start is in the chat's history.
    let history = js("history", &[&chat_url, "chatty"]);
    assert!(
        history["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["type"] == "broadcast" && d["state"] == "started"),
        "{history}"
    );
    // The range API refuses what it cannot read, and answers by media time.
    for (query, want) in [
        ("chatty?from=yesterday", 400),
        ("chatty?from=20&to=10", 400),
        ("nosuch?from=0", 404),
    ] {
        let (status, _, body) = http_get(&format!("{http}/v1/chat/{query}"));
        assert_eq!(status, want, "{query}: {}", text(&body));
    }
    let (status, _, body) = http_get(&format!("{http}/v1/chat/chatty?from={start}&to={end}"));
    let body = text(&body);
    assert_eq!(status, 200, "{body}");
    let range: Value = serde_json::from_str(&body).unwrap();
    let texts: Vec<&str> = range["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["at mid", "also at mid"], "{body}");
}

/// (number, PROGRAM-DATE-TIME start ms, end ms) of each segment of an HLS media playlist.
fn program_dates(playlist: &Path) -> Vec<(u64, i64, i64)> {
    let Ok(text) = std::fs::read_to_string(playlist) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut at: Option<i64> = None;
    let mut duration = 0.0f64;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            at = livefleet_base::clock::parse_iso8601(t);
        } else if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d
                .trim_end_matches(',')
                .split(',')
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0.0);
        } else if !line.starts_with('#') && line.ends_with(".m4s") {
            let Some(start) = at else { continue };
            let end = start + (duration * 1000.0).round() as i64;
            out.push((segment_number(line), start, end));
            at = Some(end);
        }
    }
    out
}

/// `12.m4s` and `12-g3.m4s` are segment 12.
fn segment_number(uri: &str) -> u64 {
    let name = uri.rsplit('/').next().unwrap_or(uri);
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}
