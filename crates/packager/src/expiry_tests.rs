//! Segments expiring behind the live window.

use crate::tests::{config, feed, specs, text};
use crate::{Packager, PackagerConfig, PackagerState};

fn expiring() -> PackagerConfig {
    PackagerConfig {
        expire_segments: true,
        captions: Vec::new(),
        ..config()
    }
}

fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no media sequence in {playlist}"))
}

fn number(path: &str) -> u64 {
    crate::segment_number(path).unwrap_or_else(|| panic!("{path} is no media segment"))
}

#[test]
fn segments_expire_a_window_and_a_segment_after_they_leave_it() {
    let (mut p, _) = Packager::new(expiring(), specs()).unwrap();
    let mut expired: Vec<String> = Vec::new();
    for step in 0..20 {
        let out = feed(&mut p, f64::from(step) * 2.0, 2.0);
        let now = p.take_expired();
        if now.is_empty() {
            continue;
        }
        // The playlist of this step lists 3 segments; what expires left
        // the window at least as many segments plus one ago.
        let first = media_sequence(&text(&out, "360p/index.m3u8"));
        for path in &now {
            assert!(
                number(path) + 3 + 1 < first,
                "{path} expired at window start {first}"
            );
        }
        expired.extend(now);
    }
    // 40 s: segments 0..=18 published, the window 16..=18, 0..=11 gone.
    let mut want = Vec::new();
    for n in 0..=11 {
        for track in ["360p", "240p", "aac"] {
            want.push(format!("{track}/{n}.m4s"));
        }
    }
    let mut got = expired.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "each segment of each rendition expires once");

    // Finished: the last segment closes (19), 12 expires, and the manifests
    // name only what is stored.
    let out = p.finish();
    let mut last = p.take_expired();
    last.sort();
    assert_eq!(last, ["240p/12.m4s", "360p/12.m4s", "aac/12.m4s"]);
    let playlist = text(&out, "360p/index.m3u8");
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    assert_eq!(media_sequence(&playlist), 13, "{playlist}");
    assert!(!playlist.contains("\n12.m4s"), "{playlist}");
    let mpd = text(&out, "manifest.mpd");
    assert!(mpd.contains("type=\"static\""), "{mpd}");
    assert!(
        mpd.contains("mediaPresentationDuration=\"PT14S\""),
        "7 segments of 2 s: {mpd}"
    );
    assert!(mpd.contains("startNumber=\"13\""), "{mpd}");
    assert!(mpd.contains("<Period id=\"p0\" start=\"PT0S\">"), "{mpd}");
    let _ = p.finish();
    assert!(p.take_expired().is_empty(), "nothing expires once finished");
}

#[test]
fn nothing_expires_unless_asked() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let _ = feed(&mut p, 0.0, 40.0);
    assert!(p.take_expired().is_empty());
    let out = p.finish();
    assert_eq!(media_sequence(&text(&out, "360p/index.m3u8")), 0);
    assert_eq!(p.state().retained_from, None);
}

#[test]
fn a_resumed_broadcast_goes_on_from_what_is_stored_and_drops_old_init_segments() {
    let (mut p, _) = Packager::new(expiring(), specs()).unwrap();
    let _ = feed(&mut p, 0.0, 30.0);
    let before = p.take_expired();
    assert!(!before.is_empty());
    let state = p.state();
    let kept = state.retained_from.expect("the state says what is stored");
    let json = serde_json::to_string(&state).unwrap();
    let state: PackagerState = serde_json::from_str(&json).unwrap();

    let (mut q, _) = Packager::resume(expiring(), specs(), state).unwrap();
    let mut after = Vec::new();
    for step in 15..40 {
        let _ = feed(&mut q, f64::from(step) * 2.0, 2.0);
        after.extend(q.take_expired());
    }
    for path in after.iter().filter(|p| p.ends_with(".m4s")) {
        assert!(number(path) >= kept, "{path} expired twice");
    }
    // The first worker's init segments go once none of its segments is stored.
    let inits: Vec<&String> = after.iter().filter(|p| p.ends_with(".mp4")).collect();
    assert_eq!(
        inits,
        ["360p/init.mp4", "240p/init.mp4", "aac/init.mp4"]
            .iter()
            .collect::<Vec<_>>()
    );
    let out = q.finish();
    let playlist = text(&out, "360p/index.m3u8");
    assert!(!playlist.contains("URI=\"init.mp4\""), "{playlist}");
    assert!(playlist.contains("-g1.m4s"), "{playlist}");
}

#[test]
fn states_no_packager_could_have_written_are_refused() {
    let (mut p, _) = Packager::new(expiring(), specs()).unwrap();
    let _ = feed(&mut p, 0.0, 20.0);
    let good = p.state();
    assert!(good.check().is_ok());
    let mut states = Vec::new();
    let mut s = good.clone();
    s.next_number = s.first_number.saturating_sub(1);
    s.first_number += 1;
    states.push(("numbering backwards", s));
    let mut s = good.clone();
    s.tracks[0].runs[0].count = u32::MAX;
    states.push(("a huge run", s));
    let mut s = good.clone();
    s.tracks[0].runs[0].duration = i64::MAX / 2;
    states.push(("a run past the end of time", s));
    let mut s = good.clone();
    s.tracks[0].runs[0].duration = 0;
    states.push(("segments of no duration", s));
    let mut s = good.clone();
    s.tracks[1].timescale = 0;
    states.push(("timescale 0", s));
    let mut s = good.clone();
    s.tracks[0].runs.reverse();
    let first = s.tracks[0].runs[0].clone();
    s.tracks[0].runs.push(first);
    states.push(("runs out of order", s));
    for (what, state) in states {
        assert!(state.check().is_err(), "{what} accepted");
        assert!(
            Packager::resume(expiring(), specs(), state).is_err(),
            "{what}: resumed"
        );
    }
    // A retained number past what was ever written is taken as "nothing kept".
    let mut s = good.clone();
    s.retained_from = Some(u64::MAX);
    let (mut q, _) = Packager::resume(expiring(), specs(), s).unwrap();
    let _ = feed(&mut q, 20.0, 10.0);
    let out = q.finish();
    assert!(text(&out, "360p/index.m3u8").contains("#EXT-X-ENDLIST"));
}

/// The manifests among a step's outputs, by path.
fn manifests(out: &[crate::Output]) -> Vec<(String, bytes::Bytes)> {
    out.iter()
        .filter(|o| o.is_manifest())
        .map(|o| {
            let crate::Output::Put { path, body, .. } = o;
            (path.clone(), body.clone())
        })
        .collect()
}

#[test]
fn expired_segments_leave_the_history_and_the_live_manifests_do_not_change() {
    let (mut kept, _) = Packager::new(config(), specs()).unwrap();
    let (mut trimmed, _) = Packager::new(expiring(), specs()).unwrap();
    let mut at = 0.0;
    for step in 0..60 {
        // A hole early on, a new session (period) later: both need the
        // start of segments long gone from the trimmed history.
        if step == 5 {
            assert!(kept.set_missing(&["240p/3.m4s"]));
            assert!(trimmed.set_missing(&["240p/3.m4s"]));
        }
        let (a, b) = if step == 20 {
            (
                kept.discontinuity(1_704_067_200_000 + 45_000),
                trimmed.discontinuity(1_704_067_200_000 + 45_000),
            )
        } else {
            (feed(&mut kept, at, 2.0), feed(&mut trimmed, at, 2.0))
        };
        if step != 20 {
            at += 2.0;
        }
        assert_eq!(manifests(&a), manifests(&b), "step {step}");
        let _ = trimmed.take_expired();
        for t in &trimmed.tracks {
            assert!(
                t.history.len() <= 3 + 3 + 2,
                "step {step}: {} keeps {} segments",
                t.spec.name,
                t.history.len()
            );
        }
    }
    // Another worker goes on from each state: the same manifests again.
    let state = trimmed.state();
    assert!(state.tracks.iter().all(|t| !t.origins.is_empty()));
    let json = serde_json::to_string(&state).unwrap();
    let back: PackagerState = serde_json::from_str(&json).unwrap();
    back.check().unwrap();
    let (mut a, _) = Packager::resume(config(), specs(), kept.state()).unwrap();
    let (mut b, _) = Packager::resume(expiring(), specs(), back).unwrap();
    let (out_a, out_b) = (feed(&mut a, at, 6.0), feed(&mut b, at, 6.0));
    assert_eq!(manifests(&out_a), manifests(&out_b), "after the failover");
    let mpd = text(&out_b, "manifest.mpd");
    assert!(mpd.contains("<Period id=\"p1\""), "{mpd}");
}

#[test]
fn a_resumed_packager_asks_once_for_what_the_one_before_may_have_left() {
    let (mut p, _) = Packager::new(expiring(), specs()).unwrap();
    assert_eq!(
        p.take_sweep(),
        None,
        "a new broadcast has nothing behind it"
    );
    for step in 0..12 {
        let _ = feed(&mut p, f64::from(step) * 2.0, 2.0);
    }
    let state = p.state();
    let below = state.retained_from.expect("segments expired");
    let (mut resumed, _) = Packager::resume(expiring(), specs(), state.clone()).unwrap();
    assert_eq!(resumed.take_sweep(), Some((0, below)));
    assert_eq!(resumed.take_sweep(), None, "once");
    let (mut keeping, _) = Packager::resume(config(), specs(), state).unwrap();
    assert_eq!(
        keeping.take_sweep(),
        None,
        "a packager that keeps segments deletes none"
    );
}

/// The next broadcast of the channel continues from the state the last one
/// ended with: the window that one left stored (its ENDLIST named it) expires
/// under the new window's rule, and its init segments with it.
#[test]
fn the_next_broadcast_expires_the_window_the_last_one_left() {
    let (mut p, _) = Packager::new(expiring(), specs()).unwrap();
    for step in 0..20 {
        feed(&mut p, f64::from(step) * 2.0, 2.0);
    }
    let _ = p.finish();
    let _ = p.take_expired();
    // 13..=19 stay stored for the ended broadcast's VOD playlists.
    let (mut q, _) = Packager::resume(expiring(), specs(), p.state()).unwrap();
    assert_eq!(q.take_sweep(), Some((0, 13)));
    let mut expired = Vec::new();
    // Its window and one segment more after the new broadcast's window
    // moved past them: 8 segments of the new broadcast.
    for step in 0..8 {
        feed(&mut q, 100.0 + f64::from(step) * 2.0, 2.0);
        expired.extend(q.take_expired());
    }
    for track in ["360p", "240p", "aac"] {
        for n in 13..=19 {
            let path = format!("{track}/{n}.m4s");
            assert_eq!(
                expired.iter().filter(|p| **p == path).count(),
                1,
                "{path}: {expired:?}"
            );
        }
        assert!(
            expired.contains(&format!("{track}/init.mp4")),
            "{expired:?}"
        );
    }
}

/// An ended broadcast's state says so; the next broadcast as a presentation
/// of its own lists none of the last one's segments and names its files
/// above them.
#[test]
fn the_next_broadcast_of_its_own_starts_above_the_ended_one() {
    let (mut p, _) = Packager::new(expiring(), specs()).unwrap();
    for step in 0..5 {
        feed(&mut p, f64::from(step) * 2.0, 2.0);
    }
    assert!(!p.state().ended, "live");
    let _ = p.finish();
    let ended = p.state();
    assert!(ended.ended);
    let next = ended.next_broadcast();
    assert!(!next.ended && next.periods.is_empty() && next.tracks.is_empty());
    assert_eq!(next.first_number, ended.next_number);
    assert_eq!(next.init_generation, ended.init_generation + 1);
    let (mut q, inits) = Packager::resume(expiring(), specs(), next).unwrap();
    assert!(
        inits.iter().all(|o| o.path().contains("init-1")),
        "{inits:?}"
    );
    for step in 0..3 {
        feed(&mut q, 100.0 + f64::from(step) * 2.0, 2.0);
    }
    let state = q.state();
    assert_eq!(state.periods.len(), 1);
    assert_eq!(state.periods[0].first_number, ended.next_number);
    assert!(!state.ended);
}
