use super::*;

pub(crate) const SPS: [u8; 25] = [
    0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04,
    0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x58, 0xba, 0x80,
];
pub(crate) const PPS: [u8; 4] = [0x68, 0xce, 0x0f, 0xc8];
/// 2024-01-01T00:00:00Z.
pub(crate) const START_MS: i64 = 1_704_067_200_000;

pub(crate) fn video_spec(name: &str, width: u32, height: u32, bandwidth: u64) -> TrackSpec {
    let mut annexb = vec![0, 0, 0, 1];
    annexb.extend_from_slice(&SPS);
    annexb.extend_from_slice(&[0, 0, 0, 1]);
    annexb.extend_from_slice(&PPS);
    TrackSpec {
        name: name.into(),
        media: TrackMedia::Video {
            width,
            height,
            frame_rate: Some((30, 1)),
            codec: VideoCodecConfig::from_extradata(VideoCodec::H264, &annexb).unwrap(),
            pixel_aspect: (1, 1),
            turn: Turn::Upright,
            range: VideoRange::Sdr,
        },
        timescale: 90_000,
        bandwidth,
        average_bandwidth: bandwidth * 4 / 5,
    }
}

pub(crate) fn audio_spec() -> TrackSpec {
    TrackSpec {
        name: "aac".into(),
        media: TrackMedia::Audio {
            codec: AudioConfig::new(Bytes::from_static(&[0x11, 0x90])).unwrap(),
        },
        timescale: 48_000,
        bandwidth: 96_000,
        average_bandwidth: 96_000,
    }
}

pub(super) fn config() -> PackagerConfig {
    PackagerConfig {
        segment_duration: 2.0,
        live_window: 3,
        dvr_window: None,
        start_time_unix_ms: START_MS,
        generation: None,
        utc_timing_url: None,
        expire_segments: false,
        captions: Vec::new(),
    }
}

pub(super) fn specs() -> Vec<TrackSpec> {
    vec![
        video_spec("360p", 640, 360, 800_000),
        video_spec("240p", 426, 240, 300_000),
        audio_spec(),
    ]
}

/// Feeds `seconds` of 30 fps video (keyframe every 2 s, one B-frame pattern)
/// in two renditions and 48 kHz AAC, interleaved as encoder threads would,
/// starting at `from` seconds. Returns every output.
pub(super) fn feed(p: &mut Packager, from: f64, seconds: f64) -> Vec<Output> {
    let mut out = Vec::new();
    let frames = (seconds * 30.0) as i64;
    let first_frame = (from * 30.0) as i64;
    let mut audio_next = (from * 48_000.0 / 1024.0).ceil() as i64;
    for f in first_frame..first_frame + frames {
        let key = f % 60 == 0;
        // Decode order with one B-frame: the IDR keeps dts == pts, P/B shift by a frame.
        let dts = f * 3000;
        let pts = if key {
            dts
        } else if f % 2 == 1 {
            dts + 3000
        } else {
            dts - 3000
        };
        for t in 0..2 {
            let sample = Sample {
                dts,
                pts,
                duration: None,
                keyframe: key,
                segment_start: key,
                data: Bytes::from(vec![0, 0, 0, 2, if key { 0x65 } else { 0x41 }, t as u8]),
            };
            out.extend(p.push(TrackId(t), sample).unwrap());
        }
        while audio_next * 1024 * 90_000 / 48_000 <= dts {
            let t = audio_next * 1024;
            let sample = Sample {
                dts: t,
                pts: t,
                duration: Some(1024),
                keyframe: true,
                segment_start: false,
                data: Bytes::from_static(&[0x21, 0x10, 0x04]),
            };
            out.extend(p.push(TrackId(2), sample).unwrap());
            audio_next += 1;
        }
    }
    out
}

pub(super) fn find<'a>(outputs: &'a [Output], path: &str) -> Option<&'a Bytes> {
    outputs
        .iter()
        .rev()
        .find(|o| o.path() == path)
        .map(|Output::Put { body, .. }| body)
}

pub(super) fn text(outputs: &[Output], path: &str) -> String {
    String::from_utf8(
        find(outputs, path)
            .unwrap_or_else(|| panic!("{path} not written"))
            .to_vec(),
    )
    .unwrap()
}

/// Compares with `tests/golden/<name>`; `LIVEFLEET_BLESS=1` rewrites the file.
pub(crate) fn golden(name: &str, actual: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("LIVEFLEET_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with LIVEFLEET_BLESS=1)", path.display()));
    if expected != actual {
        panic!(
            "{name} differs from its golden file\n--- expected\n{}\n--- actual\n{}",
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual)
        );
    }
}

/// Top-level boxes of an MP4 file: (type, offset, size).
pub(crate) fn boxes(data: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 8 <= data.len() {
        let size = u32::from_be_bytes(data[i..i + 4].try_into().unwrap()) as usize;
        out.push((
            String::from_utf8_lossy(&data[i + 4..i + 8]).into_owned(),
            i,
            size,
        ));
        assert!(size >= 8, "box of size {size}");
        i += size;
    }
    assert_eq!(i, data.len(), "boxes do not cover the file");
    out
}

pub(crate) fn tfdt(segment: &[u8]) -> u64 {
    let at = segment.windows(4).position(|w| w == b"tfdt").unwrap();
    u64::from_be_bytes(segment[at + 8..at + 16].try_into().unwrap())
}

#[test]
fn live_to_vod_golden() {
    let (mut p, init) = Packager::new(config(), specs()).unwrap();
    assert_eq!(
        init.iter().map(Output::path).collect::<Vec<_>>(),
        ["360p/init.mp4", "240p/init.mp4", "aac/init.mp4"]
    );
    golden("360p-init.mp4", find(&init, "360p/init.mp4").unwrap());
    golden("aac-init.mp4", find(&init, "aac/init.mp4").unwrap());
    let mut out = feed(&mut p, 0.0, 7.0);
    golden("live-360p.m3u8", text(&out, "360p/index.m3u8").as_bytes());
    golden("live.mpd", text(&out, "manifest.mpd").as_bytes());
    golden("master.m3u8", text(&out, "master.m3u8").as_bytes());
    out.extend(p.finish());
    golden("vod-360p.m3u8", text(&out, "360p/index.m3u8").as_bytes());
    golden("vod-aac.m3u8", text(&out, "aac/index.m3u8").as_bytes());
    golden("vod.mpd", text(&out, "manifest.mpd").as_bytes());
    golden("vod-master.m3u8", text(&out, "master.m3u8").as_bytes());
    golden("360p-1.m4s", find(&out, "360p/1.m4s").unwrap());
}

#[test]
fn segments_align_and_come_before_their_playlists() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let mut out = feed(&mut p, 0.0, 9.0);
    out.extend(p.finish());
    for n in 0..5 {
        let v: Vec<u64> = ["360p", "240p"]
            .iter()
            .map(|r| tfdt(find(&out, &format!("{r}/{n}.m4s")).unwrap()))
            .collect();
        assert_eq!(v[0], v[1], "segment {n}");
        assert_eq!(v[0], n * 180_000, "segment {n} starts on the 2 s grid");
        // Audio starts at the first AAC frame at or after the boundary.
        let a = tfdt(find(&out, &format!("aac/{n}.m4s")).unwrap()) as i64;
        let boundary = n as i64 * 96_000;
        assert!(
            a >= boundary && a < boundary + 1024,
            "audio segment {n} starts at {a}"
        );
        let kinds: Vec<String> = boxes(find(&out, &format!("360p/{n}.m4s")).unwrap())
            .into_iter()
            .map(|b| b.0)
            .collect();
        assert_eq!(kinds, ["styp", "moof", "mdat"]);
    }
    // Every playlist write comes after the segments it lists.
    let mut written = std::collections::HashSet::new();
    for o in &out {
        let path = o.path();
        if path.ends_with(".m3u8") && path != "master.m3u8" {
            let dir = path.split('/').next().unwrap();
            let Output::Put { body, .. } = o;
            for line in std::str::from_utf8(body)
                .unwrap()
                .lines()
                .filter(|l| l.ends_with(".m4s"))
            {
                assert!(
                    written.contains(&format!("{dir}/{line}")),
                    "{path} names {line} before it is stored"
                );
            }
        }
        written.insert(path.to_string());
    }
}

#[test]
fn sample_table_carries_durations_sizes_flags_and_offsets() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let out = feed(&mut p, 0.0, 4.5);
    let seg = find(&out, "360p/0.m4s").unwrap();
    let at = seg.windows(4).position(|w| w == b"trun").unwrap() - 4;
    let trun = &seg[at..];
    let u32_at = |k: usize| u32::from_be_bytes(trun[k..k + 4].try_into().unwrap());
    assert_eq!(u32_at(8) >> 24, 1, "trun version 1 (signed offsets)");
    assert_eq!(u32_at(8) & 0xfff, 0xf01);
    assert_eq!(u32_at(12), 60, "60 samples in a 2 s segment at 30 fps");
    let data_offset = u32_at(16) as usize;
    let moof = boxes(seg).into_iter().find(|b| b.0 == "moof").unwrap();
    assert_eq!(
        &seg[moof.1 + data_offset - 4..moof.1 + data_offset],
        b"mdat"
    );
    // Sample 0: IDR, sync, cts 0; sample 1: non-sync, cts +3000; sample 2: cts -3000.
    let sample = |k: usize| {
        (
            u32_at(20 + k * 16),
            u32_at(24 + k * 16),
            u32_at(28 + k * 16),
            u32_at(32 + k * 16) as i32,
        )
    };
    assert_eq!(sample(0), (3000, 6, 0x0200_0000, 0));
    assert_eq!(sample(1), (3000, 6, 0x0101_0000, 3000));
    assert_eq!(sample(2), (3000, 6, 0x0101_0000, -3000));
}

#[test]
fn sliding_window_and_dvr() {
    let (mut p, _) = Packager::new(config(), specs()).unwrap();
    let out = feed(&mut p, 0.0, 21.0);
    let playlist = text(&out, "360p/index.m3u8");
    assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:7\n"), "{playlist}");
    assert_eq!(playlist.matches(".m4s").count(), 3);
    assert!(!playlist.contains("ENDLIST"));
    let mpd = text(&out, "manifest.mpd");
    assert!(
        mpd.contains("type=\"dynamic\"") && mpd.contains("startNumber=\"7\""),
        "{mpd}"
    );

    let mut dvr = config();
    dvr.dvr_window = Some(10.0);
    let (mut p, _) = Packager::new(dvr, specs()).unwrap();
    let out = feed(&mut p, 0.0, 21.0);
    let playlist = text(&out, "360p/index.m3u8");
    assert_eq!(playlist.matches(".m4s").count(), 5, "{playlist}");
    assert!(text(&out, "manifest.mpd").contains("timeShiftBufferDepth=\"PT10S\""));
}

#[test]
fn the_mpd_names_its_time_sources_and_every_object_its_content_type() {
    let config = PackagerConfig {
        utc_timing_url: Some("https://play.example.com/time?a=1&b=2".into()),
        ..config()
    };
    let (mut p, init) = Packager::new(config, specs()).unwrap();
    let out = feed(&mut p, 0.0, 5.0);
    let mpd = text(&out, "manifest.mpd");
    let http = mpd
        .find(
            "urn:mpeg:dash:utc:http-iso:2014\" value=\"https://play.example.com/time?a=1&amp;b=2\"",
        )
        .expect("the HTTP time source");
    let direct = mpd
        .find("urn:mpeg:dash:utc:direct:2014")
        .expect("the MPD's own time");
    assert!(http < direct, "the reachable source comes first: {mpd}");
    assert!(
        mpd.find("</Period>").unwrap() < http,
        "UTCTiming follows the periods"
    );
    for o in init.iter().chain(&out) {
        let Output::Put {
            path, content_type, ..
        } = o;
        assert_eq!(
            *content_type,
            livefleet_base::content_type_for_key(path),
            "{path}"
        );
    }
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Put { path, content_type: "video/iso.segment", .. } if path.ends_with(".m4s"))));
}

#[test]
fn a_copy_in_another_codec_gets_an_adaptation_set_of_its_own() {
    // An HEVC source copied beside an H.264 rendition (a phone's HEVC file
    // with a passthrough): the master lists both variants with their CODECS
    // (players skip the one they cannot decode), the MPD one adaptation set
    // per codec, so a DASH player never switches between them.
    let mut annexb = Vec::new();
    for n in crate::video::tests::HEVC_PARAMETER_SETS {
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(n);
    }
    let mut copy = video_spec("source", 640, 360, 2_000_000);
    if let TrackMedia::Video { codec, .. } = &mut copy.media {
        *codec = VideoCodecConfig::from_extradata(VideoCodec::Hevc, &annexb).unwrap();
    }
    let specs = vec![copy, video_spec("240p", 426, 240, 300_000), audio_spec()];
    let (mut p, _) = Packager::new(config(), specs).unwrap();
    let out = feed(&mut p, 0.0, 5.0);
    let master = text(&out, "master.m3u8");
    assert!(
        master.contains("CODECS=\"hvc1.1.6.L63.90,mp4a.40.2\""),
        "{master}"
    );
    assert!(master.contains("CODECS=\"avc1."), "{master}");
    let mpd = text(&out, "manifest.mpd");
    let sets: Vec<&str> = mpd.split("<AdaptationSet ").skip(1).collect();
    assert_eq!(sets.len(), 3, "{mpd}");
    assert!(
        sets[0].starts_with("id=\"0\" contentType=\"video\"")
            && sets[0].contains("id=\"source\"")
            && !sets[0].contains("id=\"240p\""),
        "{mpd}"
    );
    assert!(
        sets[1].starts_with("id=\"1\" contentType=\"video\"") && sets[1].contains("id=\"240p\""),
        "{mpd}"
    );
    assert!(
        sets[2].starts_with("id=\"2\" contentType=\"audio\""),
        "{mpd}"
    );
}
