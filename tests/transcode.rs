//! `livefleet transcode` end to end: a real clip made with the ffmpeg CLI,
//! transcoded with a shipped profile, read back by ffmpeg/ffprobe and by
//! third-party HLS and DASH parsers.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::*;

const CHECK_MANIFESTS: &str = r#"
import sys, os, m3u8
from mpegdash.parser import MPEGDASHParser
root = sys.argv[1]
master = m3u8.load(os.path.join(root, "master.m3u8"))
assert master.is_variant, "master.m3u8 is not a master playlist"
hls = set()
for pl in master.playlists:
    media = m3u8.load(os.path.join(root, pl.uri))
    assert media.is_endlist, pl.uri + " has no ENDLIST"
    assert media.version is None or int(media.version) >= 6, "EXT-X-VERSION < 6"
    d = os.path.dirname(pl.uri)
    assert media.segment_map, pl.uri + " has no EXT-X-MAP"
    for s in media.segments:
        hls.add(d + "/" + s.uri)
    print("variant", pl.uri, pl.stream_info.bandwidth, pl.stream_info.codecs, pl.stream_info.resolution)
for m in master.media:
    media = m3u8.load(os.path.join(root, m.uri))
    d = os.path.dirname(m.uri)
    for s in media.segments:
        hls.add(d + "/" + s.uri)
mpd = MPEGDASHParser.parse(os.path.join(root, "manifest.mpd"))
assert mpd.type == "static", "MPD is not static after the end: " + str(mpd.type)
dash = set()
for period in mpd.periods:
    for aset in period.adaptation_sets:
        for rep in aset.representations:
            tmpl = rep.segment_templates[0] if rep.segment_templates else aset.segment_templates[0]
            n = int(tmpl.start_number or 1)
            for s in tmpl.segment_timelines[0].Ss:
                for _ in range(1 + int(s.r or 0)):
                    dash.add(tmpl.media.replace("$RepresentationID$", rep.id).replace("$Number$", str(n)))
                    n += 1
assert hls == dash, "HLS and DASH name different files: only HLS %s, only DASH %s" % (sorted(hls - dash)[:5], sorted(dash - hls)[:5])
for f in hls:
    assert os.path.exists(os.path.join(root, f)), f + " is named but missing"
print("files", len(hls))
"#;

fn transcode(input: &Path, profile: &Path, out: &Path) -> std::process::Output {
    run(livefleet().arg("transcode").arg(input).arg("--profile").arg(profile).arg("--out").arg(out))
}

#[test]
fn small_ladder_is_aligned_decodable_and_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 12);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "transcode failed: {}{}", text(&r.stdout), text(&r.stderr));

    // Every rendition directory: init + numbered segments.
    let renditions: Vec<String> = ["360p", "240p", "audio"].iter().map(|s| s.to_string()).collect();
    let mut tfdts: BTreeMap<u64, Vec<(String, f64)>> = BTreeMap::new();
    let mut counts = Vec::new();
    for r in &renditions {
        let dir = out.join(r);
        let init = fs::read(dir.join("init.mp4")).unwrap();
        let scale = timescale(&init) as f64;
        let segs = segments(&dir);
        counts.push(segs.len());
        for (i, (n, path)) in segs.iter().enumerate() {
            let seg = fs::read(path).unwrap();
            let start = tfdt(&seg) as f64 / scale;
            tfdts.entry(*n).or_default().push((r.clone(), start));
            if r == "audio" {
                continue;
            }
            assert!(starts_with_sync_sample(&seg), "{r}/{n}.m4s does not start with a keyframe");
            // Each segment decodes on its own after the init segment.
            let joined = tmp.path().join(format!("{r}-{n}.mp4"));
            fs::write(&joined, [init.clone(), seg.clone()].concat()).unwrap();
            let errors = decode_errors(&joined);
            assert!(errors.trim().is_empty(), "{r}/{n}.m4s: {errors}");
            // 2 s segments, within one frame, except the last one.
            let d = segment_duration(&seg) as f64 / scale;
            if i + 1 < segs.len() {
                assert!((d - 2.0).abs() <= 1.0 / 30.0 + 1e-6, "{r}/{n}.m4s lasts {d} s, profile says 2 s");
            }
        }
    }
    assert!(counts[0] >= 6, "only {} segments for 12 s", counts[0]);
    assert!(counts.iter().all(|c| *c == counts[0]), "segment counts differ: {counts:?}");
    for (n, starts) in &tfdts {
        let video: Vec<f64> = starts.iter().filter(|(r, _)| r != "audio").map(|(_, s)| *s).collect();
        assert!(video.windows(2).all(|w| w[0] == w[1]), "segment {n} starts differ across renditions: {starts:?}");
        let audio = starts.iter().find(|(r, _)| r == "audio").map(|(_, s)| *s).unwrap();
        assert!((audio - video[0]).abs() <= 1.0 / 30.0 + 0.025, "segment {n}: audio starts at {audio}, video at {}", video[0]);
    }
    let first = &tfdts[tfdts.keys().next().unwrap()];
    assert!(first.iter().all(|(_, s)| *s <= 1.0 / 30.0 + 0.025), "audio and video must both start at the beginning: {first:?}");

    // Third-party parsers; HLS and DASH name the same files.
    let report = python(CHECK_MANIFESTS, &[out.to_str().unwrap()]);
    assert!(report.contains("variant 360p/index.m3u8"), "{report}");
    assert!(report.contains("avc1.") && report.contains("mp4a.40.2"), "CODECS missing: {report}");

    // ffmpeg reads both manifests to the end, every stream, without an error.
    for manifest in ["master.m3u8", "manifest.mpd"] {
        let errors = decode_errors(&out.join(manifest));
        assert!(errors.trim().is_empty(), "{manifest}: {errors}");
        let probe = run(std::process::Command::new("ffprobe").args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]).arg(out.join(manifest)));
        let d: f64 = text(&probe.stdout).trim().parse().unwrap_or(0.0);
        assert!((d - 12.0).abs() < 0.6, "{manifest} lasts {d} s, the input 12 s");
    }
}

#[test]
fn input_without_video_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("audio.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:a", "aac", clip.to_str().unwrap()]);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(!r.status.success());
    assert!(text(&r.stderr).contains("no video stream"), "{}", text(&r.stderr));
    assert!(!out.join("master.m3u8").exists());
}

#[test]
fn unknown_video_codec_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("odd.avi");
    // Raw video under a FourCC no decoder knows.
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=5", "-t", "1", "-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-vtag", "QQQQ", clip.to_str().unwrap()]);
    let r = transcode(&clip, &profile("cpu-small.yaml"), &tmp.path().join("out"));
    assert!(!r.status.success());
    let err = text(&r.stderr);
    assert!(err.contains("not supported") || err.contains("no video stream"), "{err}");
}

#[test]
fn missing_input_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let r = transcode(&tmp.path().join("nope.mp4"), &profile("cpu-small.yaml"), &tmp.path().join("out"));
    assert!(!r.status.success());
    assert!(text(&r.stderr).contains("cannot open input"), "{}", text(&r.stderr));
}

#[test]
fn truncated_input_never_looks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 8);
    let bytes = fs::read(&clip).unwrap();
    let cut = tmp.path().join("cut.flv");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let r = transcode(&cut, &profile("cpu-small.yaml"), &out);
    assert!(!r.status.success(), "a truncated input must fail");
    assert!(text(&r.stderr).contains("truncated"), "{}", text(&r.stderr));
    // Whatever was written stays a live (unfinished) presentation.
    for entry in walk(&out) {
        if entry.extension().is_some_and(|e| e == "m3u8") {
            assert!(!fs::read_to_string(&entry).unwrap().contains("#EXT-X-ENDLIST"), "{} has ENDLIST", entry.display());
        }
    }
}

#[test]
fn corrupt_frames_mid_stream_are_concealed_and_the_output_stays_playable() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.ts");
    make_clip(&clip, 8);
    let mut bytes = fs::read(&clip).unwrap();
    // Scramble payload bytes of a few TS packets in the middle, keeping the sync bytes.
    let mid = bytes.len() / 2 / 188 * 188;
    for p in 0..6 {
        let at = mid + p * 188 * 7;
        for b in &mut bytes[at + 8..at + 188] {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
    }
    let bad = tmp.path().join("bad.ts");
    fs::write(&bad, &bytes).unwrap();
    let out = tmp.path().join("out");
    let r = transcode(&bad, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let errors = decode_errors(&out.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
    assert!(fs::read_to_string(out.join("360p/index.m3u8")).unwrap().contains("#EXT-X-ENDLIST"));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
