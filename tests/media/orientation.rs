//! Orientation and size: portrait sources, sources smaller than every
//! rendition, files recorded on their side (a display matrix).

use super::*;

/// Width and height of the last segment of the rendition in `dir`.
pub(super) fn last_segment_size(dir: &Path) -> (u32, u32) {
    let (_, size) = probe_last_segment(dir, "stream=width,height");
    let mut wh = size.split(',').map(|v| v.parse().unwrap_or(0));
    (wh.next().unwrap_or(0), wh.next().unwrap_or(0))
}

/// A 4 s clip of `video` (a lavfi graph) with a sine as audio when `audio`,
/// H.264 veryfast (+ AAC), with `extra` output options.
pub(super) fn make_clip(path: &Path, video: &str, audio: bool, extra: &[&str]) {
    let mut args = vec!["-f", "lavfi", "-i", video];
    if audio {
        args.extend(["-f", "lavfi", "-i", "sine=sample_rate=48000"]);
    }
    args.extend(["-t", "4", "-c:v", "libx264", "-preset", "veryfast"]);
    if audio {
        args.extend(["-c:a", "aac"]);
    }
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

#[test]
fn a_portrait_source_gets_portrait_renditions() {
    // A phone's picture: cpu-small's 640x360 and 426x240 boxes turn to it.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("portrait.mp4");
    make_clip(&clip, "testsrc2=size=360x640:rate=30", true, &[]);
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 2);
    assert_eq!(last_segment_size(&out.join("360p")), (360, 640));
    assert_eq!(last_segment_size(&out.join("240p")), (240, 426));
    let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
    for size in ["RESOLUTION=360x640", "RESOLUTION=240x426"] {
        assert!(master.contains(size), "{size} missing:\n{master}");
    }
    let mpd = fs::read_to_string(out.join("manifest.mpd")).unwrap();
    assert!(
        mpd.contains(r#"width="360" height="640""#),
        "the MPD's 360p is not 360x640:\n{mpd}"
    );
}

#[test]
fn a_source_smaller_than_every_rendition_keeps_the_smallest_at_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("tiny.mp4");
    make_clip(&clip, "testsrc2=size=320x180:rate=30", false, &[]);
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    assert_eq!(last_segment_size(&out.join("240p")), (320, 180));
    assert!(!out.join("360p").exists(), "360p would be an upscale");
}

/// PSNR of the first frame of `a` against the first frame of `b`.
pub(super) fn first_frame_psnr(a: &Path, b: &Path) -> f64 {
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args([
            "-lavfi",
            "[0:v][1:v]psnr",
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ]));
    let err = text(&out.stderr);
    err.lines()
        .filter_map(|l| l.split("average:").nth(1))
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .next_back()
        .unwrap_or(0.0)
}

/// Coded 640x360 with a display matrix that turns it a quarter, as a phone
/// writes it (4 s, a keyframe every 2 s); the ffmpeg CLI shows (and
/// transcodes) it as 360x640.
pub(super) fn sideways_clip(dir: &Path) -> std::path::PathBuf {
    let coded = dir.join("coded.mp4");
    lavfi_clip(&coded, 4, "sine=sample_rate=48000", &["-g", "60"]);
    let clip = dir.join("sideways.mp4");
    ffmpeg(&[
        "-i",
        coded.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        clip.to_str().unwrap(),
    ]);
    clip
}

/// The init segment and the first media segment of the rendition in
/// `dir`, joined into one file that ffmpeg reads.
pub(super) fn first_segment_file(dir: &Path, into: &Path) -> std::path::PathBuf {
    let playlist = fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let map = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .unwrap()
        .trim_end_matches('"');
    let first = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap();
    let file = into.join("first.mp4");
    fs::write(
        &file,
        [
            fs::read(dir.join(map)).unwrap(),
            fs::read(dir.join(first)).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    file
}

/// Asserts that ffmpeg shows the first frame of `ours` as it shows the
/// first frame of `clip` (it turns both by their matrices unless told not
/// to), and not turned the other way.
pub(super) fn assert_shown_as_the_cli_shows(clip: &Path, ours: &Path, tmp: &Path) {
    let reference = |name: &str, filter: Option<&str>| {
        let p = tmp.join(name);
        let mut args = Vec::new();
        if filter.is_some() {
            args.push("-noautorotate");
        }
        args.extend(["-i", clip.to_str().unwrap()]);
        if let Some(f) = filter {
            args.extend(["-vf", f]);
        }
        args.extend(["-frames:v", "1", "-c:v", "libx264", "-crf", "10"]);
        args.push(p.to_str().unwrap());
        ffmpeg(&args);
        p
    };
    let shown = reference("shown.mp4", None);
    let opposite = reference("opposite.mp4", Some("transpose=clock"));
    assert!(
        first_frame_psnr(&shown, &opposite) < 15.0,
        "the two turns differ"
    );
    let right = first_frame_psnr(ours, &shown);
    let wrong = first_frame_psnr(ours, &opposite);
    assert!(
        right > 25.0 && right > wrong + 5.0,
        "against the CLI's picture: {right:.1} dB, against the opposite turn: {wrong:.1} dB"
    );
}

#[test]
fn a_file_recorded_on_its_side_is_turned_upright() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = sideways_clip(tmp.path());
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 2);
    assert_eq!(last_segment_size(&out.join("360p")), (360, 640));
    // Turned the way the CLI turns it, not the other way.
    let ours = first_segment_file(&out.join("360p"), tmp.path());
    assert_shown_as_the_cli_shows(&clip, &ours, tmp.path());
}

#[test]
fn non_square_pixels_are_encoded_as_shown() {
    // 480x360 stored, shown 16:9 (an anamorphic picture, as HDV's
    // 1440x1080 or DV's 720x480 are): the 640x360 box is filled, not
    // squeezed to 480x360.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("anamorphic.mp4");
    make_clip(
        &clip,
        "testsrc2=size=480x360:rate=30,setsar=4/3",
        false,
        &[],
    );
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    assert_eq!(last_segment_size(&out.join("360p")), (640, 360));
    assert_eq!(last_segment_size(&out.join("240p")), (426, 240));
    let probe = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=sample_aspect_ratio",
            "-of",
            "csv=p=0",
        ])
        .arg(
            out.join("360p")
                .join(last_segment_width(&out.join("360p")).0),
        ));
    let sar = text(&probe.stdout);
    assert!(
        matches!(sar.trim(), "1:1" | "N/A" | "0:1" | ""),
        "the rendition's pixels are not square: {sar}"
    );
}

/// idet's multi-frame counts (interlaced, progressive) over `input`.
fn idet(input: &Path) -> (u32, u32) {
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(input)
        .args(["-vf", "idet", "-f", "null", "-"]));
    let err = text(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("Multi frame detection"))
        .unwrap_or_else(|| panic!("no idet line: {err}"));
    let count = |key: &str| -> u32 {
        line.split(key)
            .nth(1)
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (count("TFF:") + count("BFF:"), count("Progressive:"))
}

#[test]
fn an_interlaced_source_is_deinterlaced_once_for_every_rendition() {
    // 1080i-style: two fields of a 60 fps picture in every 30 fps frame.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("interlaced.mp4");
    make_clip(
        &clip,
        "testsrc2=size=640x360:rate=60,tinterlace=mode=interleave_top,setfield=tff",
        false,
        &["-flags", "+ildct+ilme", "-x264-params", "tff=1"],
    );
    let (fields, _) = idet(&clip);
    assert!(
        fields > 100,
        "the source looks interlaced to idet ({fields} frames)"
    );
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 2);
    // The 360p rendition is the source's size: nothing but the
    // deinterlacer stands between its frames and the source's.
    let (fields, progressive) = idet(&out.join("360p/index.m3u8"));
    assert!(
        progressive > 100 && fields * 10 < progressive,
        "360p still looks interlaced: {fields} interlaced, {progressive} progressive frames"
    );
}

#[test]
fn an_interlaced_publisher_is_deinterlaced_live() {
    // RTMP carries no field order: the first decoded frame's flag decides.
    let dev = Dev::start("interlaced", &["--grace", "3"]);
    publish(
        &dev.publish_url,
        "640x360",
        6,
        true,
        &[
            "-vf",
            "tinterlace=mode=interleave_top,setfield=tff",
            "-flags",
            "+ildct+ilme",
            "-x264-params",
            "tff=1",
            "-g",
            "30",
            "-keyint_min",
            "30",
        ],
    );
    let dir = dev.channel_dir();
    dev.wait_for(30, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("360p/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let (fields, progressive) = idet(&dir.join("360p/index.m3u8"));
    assert!(
        progressive > 40 && fields * 10 < progressive,
        "360p still looks interlaced: {fields} interlaced, {progressive} progressive frames"
    );
}
