//! Periods: discontinuities, resumes, holes, new configurations, and a
//! rendition that misses a boundary.

use crate::tests::*;
use crate::*;

#[test]
fn discontinuity_is_the_same_in_every_rendition() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let mut out = feed(&mut p, 0.0, 5.0);
    out.extend(p.discontinuity(START_MS + 9_000));
    out.extend(feed(&mut p, 5.0, 4.0));
    out.extend(p.finish());
    let mut positions = Vec::new();
    for r in ["360p", "240p", "aac"] {
        let pl = text(&out, &format!("{r}/index.m3u8"));
        assert_eq!(pl.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{pl}");
        let lines: Vec<&str> = pl
            .lines()
            .filter(|l| l.ends_with(".m4s") || *l == "#EXT-X-DISCONTINUITY")
            .collect();
        positions.push(
            lines
                .iter()
                .position(|l| *l == "#EXT-X-DISCONTINUITY")
                .unwrap(),
        );
        assert!(
            pl.contains("#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:09.000Z"),
            "{pl}"
        );
    }
    assert!(positions.windows(2).all(|w| w[0] == w[1]), "{positions:?}");
    let mpd = text(&out, "manifest.mpd");
    assert_eq!(mpd.matches("<Period").count(), 2, "{mpd}");
}

#[test]
fn resume_continues_numbering_with_new_init_segments() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let _ = feed(&mut p, 0.0, 6.5);
    let state = p.state();
    assert_eq!(state.next_number, 3, "segments 0..=2 listed");
    let json = serde_json::to_string(&state).unwrap();
    let state: PackagerState = serde_json::from_str(&json).unwrap();

    let mut cfg = config();
    cfg.start_time_unix_ms = START_MS + 30_000;
    let (mut q, init) = Packager::resume(cfg, specs(), state).unwrap();
    assert!(find(&init, "360p/init-1.mp4").is_some());
    let mut out = feed(&mut q, 6.0, 4.0);
    out.extend(q.finish());
    let pl = text(&out, "360p/index.m3u8");
    assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{pl}");
    assert!(
        pl.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n"),
        "{pl}"
    );
    // Segments of the new generation carry it in their names: a stale writer
    // of the old generation can never overwrite them.
    assert!(pl.contains("\n2.m4s\n#EXT-X-DISCONTINUITY\n"), "{pl}");
    assert!(pl.contains("\n3-g1.m4s\n"), "{pl}");
    assert!(find(&out, "360p/3-g1.m4s").is_some());
    assert_eq!(pl.matches(".m4s").count(), 5, "{pl}");
    let mpd = text(&out, "manifest.mpd");
    assert!(
        mpd.contains("media=\"$RepresentationID$/$Number$-g1.m4s\""),
        "{mpd}"
    );

    // A fleet worker names its generation after its assignment epoch.
    let mut cfg = config();
    cfg.generation = Some(7);
    let (_, init) = Packager::resume(cfg, specs(), q.state()).unwrap();
    assert!(find(&init, "360p/init-7.mp4").is_some());
}

#[test]
fn a_broadcast_above_stored_files_numbers_and_names_past_them() {
    // What a channel whose state was lost starts from: segments up to 41 and
    // generation 2 in the store.
    let (mut p, init) = Packager::resume(config(), specs(), PackagerState::above(42, 3)).unwrap();
    assert!(find(&init, "360p/init-3.mp4").is_some());
    let mut out = feed(&mut p, 0.0, 5.0);
    out.extend(p.finish());
    let pl = text(&out, "360p/index.m3u8");
    assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:42\n"), "{pl}");
    assert!(pl.contains("#EXT-X-MAP:URI=\"init-3.mp4\""), "{pl}");
    assert!(!pl.contains("#EXT-X-DISCONTINUITY\n"), "{pl}");
    assert!(find(&out, "360p/42-g3.m4s").is_some());
    assert_eq!(p.state().first_number, 42);
    let mpd = text(&out, "manifest.mpd");
    assert!(mpd.contains("startNumber=\"42\""), "{mpd}");

    // A fleet worker's epoch above the free generation is taken; below, the free one.
    for (epoch, generation) in [(9, 9), (2, 3)] {
        let mut cfg = config();
        cfg.generation = Some(epoch);
        let (_, init) = Packager::resume(cfg, specs(), PackagerState::above(42, 3)).unwrap();
        assert!(
            find(&init, &format!("360p/init-{generation}.mp4")).is_some(),
            "epoch {epoch}"
        );
    }
    // The default state is a new broadcast, as before.
    let (_, init) = Packager::resume(config(), specs(), PackagerState::above(0, 0)).unwrap();
    assert!(find(&init, "360p/init.mp4").is_some());
}

#[test]
fn bad_samples_are_refused_without_harm() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let s = |dts: i64, key: bool| Sample {
        dts,
        pts: dts,
        duration: None,
        keyframe: key,
        segment_start: key,
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
    };
    // Before the first keyframe: dropped.
    assert!(p.push(TrackId(0), s(0, false)).unwrap().is_empty());
    assert!(p.push(TrackId(0), s(3000, true)).is_ok());
    assert!(matches!(
        p.push(TrackId(0), s(0, false)),
        Err(PackagerError::NonMonotonic { .. })
    ));
    assert!(matches!(
        p.push(TrackId(0), s(-5, false)),
        Err(PackagerError::NonMonotonic { .. })
    ));
    assert!(matches!(
        p.push(TrackId(9), s(6000, false)),
        Err(PackagerError::NoSuchTrack(9))
    ));
    let _ = p.finish();
    assert!(matches!(
        p.push(TrackId(0), s(9000, false)),
        Err(PackagerError::Finished)
    ));
    let mut bad = specs();
    bad[1].name = "../x".into();
    assert!(Packager::new(config(), bad).is_err());
    let mut dup = specs();
    dup[1].name = "360p".into();
    assert!(Packager::new(config(), dup).is_err());
}

#[test]
fn missing_segments_are_gaps_in_hls_and_holes_in_dash() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let mut out = feed(&mut p, 0.0, 9.0);
    assert!(p.set_missing(&["240p/1.m4s", "master.m3u8", "240p/junk.m4s"]));
    assert!(!p.set_missing(&["240p/1.m4s"]), "same set, no change");
    out.extend(p.finish());
    // HLS: the missing segment stays listed behind EXT-X-GAP, in its rendition only.
    let low = text(&out, "240p/index.m3u8");
    assert!(low.contains("#EXT-X-GAP\n#EXTINF:2.000,\n1.m4s\n"), "{low}");
    assert_eq!(low.matches("#EXT-X-GAP").count(), 1, "{low}");
    let high = text(&out, "360p/index.m3u8");
    assert!(!high.contains("#EXT-X-GAP"), "{high}");
    // DASH: the period is split around segment 1 in every representation.
    let mpd = text(&out, "manifest.mpd");
    assert_eq!(mpd.matches("<Period ").count(), 2, "{mpd}");
    assert!(mpd.contains("<Period id=\"p0\" start=\"PT0S\">"), "{mpd}");
    assert!(mpd.contains("<Period id=\"p0-2\" start=\"PT4S\">"), "{mpd}");
    assert!(mpd.contains("startNumber=\"2\""), "{mpd}");
    // The hole is not addressed: period p0 lists only segment 0.
    let first = &mpd[mpd.find("id=\"p0\"").unwrap()..mpd.find("id=\"p0-2\"").unwrap()];
    assert!(!first.contains(" r=\""), "p0 lists one segment: {first}");
    // The state carries the gap to a packager that resumes the broadcast.
    assert_eq!(p.state().missing, vec!["240p/1.m4s".to_string()]);
    // A segment stored late is listed normally again.
    assert!(p.set_missing::<&str>(&[]));
    let again = p.manifests();
    assert!(!text(&again, "240p/index.m3u8").contains("#EXT-X-GAP"));
    assert_eq!(text(&again, "manifest.mpd").matches("<Period ").count(), 1);
}

#[test]
fn reconfigure_gives_the_next_period_new_init_segments() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let mut out = feed(&mut p, 0.0, 5.0);
    let mut bigger = specs();
    bigger[0] = video_spec("360p", 854, 480, 900_000);
    let renamed = vec![video_spec("480p", 854, 480, 1), audio_spec()];
    assert!(
        p.reconfigure(renamed, START_MS).is_err(),
        "tracks must stay"
    );
    let changed = p.reconfigure(bigger, START_MS + 9_000).unwrap();
    for t in ["360p", "240p", "aac"] {
        assert!(
            find(&changed, &format!("{t}/init-0-1.mp4")).is_some(),
            "{t}: no new init segment"
        );
    }
    out.extend(changed);
    out.extend(feed(&mut p, 5.0, 4.0));
    out.extend(p.finish());
    let pl = text(&out, "360p/index.m3u8");
    let maps: Vec<&str> = pl.lines().filter(|l| l.starts_with("#EXT-X-MAP")).collect();
    assert_eq!(
        maps,
        [
            "#EXT-X-MAP:URI=\"init.mp4\"",
            "#EXT-X-MAP:URI=\"init-0-1.mp4\""
        ],
        "{pl}"
    );
    let after = pl.split("#EXT-X-DISCONTINUITY\n").nth(1).unwrap();
    assert!(after.starts_with("#EXT-X-MAP:URI=\"init-0-1.mp4\""), "{pl}");
    let mpd = text(&out, "manifest.mpd");
    assert!(mpd.contains("$RepresentationID$/init.mp4"), "{mpd}");
    assert!(mpd.contains("$RepresentationID$/init-0-1.mp4"), "{mpd}");
    // Each period describes the tracks as they were then.
    let periods: Vec<&str> = mpd.split("<Period").skip(1).collect();
    assert_eq!(periods.len(), 2, "{mpd}");
    assert!(
        periods[0].contains("id=\"360p\"") && periods[0].contains("width=\"640\""),
        "{mpd}"
    );
    assert!(
        periods[1].contains("width=\"854\"") && !periods[1].contains("width=\"640\""),
        "{mpd}"
    );
    // The state carries each period's init version to the next worker.
    let state = p.state();
    assert_eq!(state.periods.last().unwrap().init_version, 1);
}

#[test]
fn a_rendition_that_misses_a_boundary_keeps_the_ladder_numbers() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let mut out = Vec::new();
    for f in 0..(8 * 30) {
        let dts = f * 3000;
        let key = f % 60 == 0;
        for t in 0..2 {
            // The second rendition's encoder placed no keyframe at 2 s.
            let its_key = key && !(t == 1 && f == 60);
            let sample = Sample {
                dts,
                pts: dts,
                duration: None,
                keyframe: its_key,
                segment_start: its_key,
                data: Bytes::from(vec![0, 0, 0, 2, if its_key { 0x65 } else { 0x41 }, t as u8]),
            };
            out.extend(p.push(TrackId(t), sample).unwrap());
        }
    }
    out.extend(p.finish());
    assert!(
        find(&out, "240p/1.m4s").is_none(),
        "no segment 1 in the rendition that missed it"
    );
    for n in [2, 3] {
        let a = find(&out, &format!("360p/{n}.m4s")).unwrap();
        let b = find(&out, &format!("240p/{n}.m4s")).unwrap();
        assert_eq!(tfdt(a), tfdt(b), "segment {n} starts at the same time");
    }
}
