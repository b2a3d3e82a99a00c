//! Sources faster than the ladder: a rate divided evenly under the cap,
//! renditions at half the source's rate in line with the full-rate one.

use super::*;

/// A 50 fps source under the profile's cap of 30 is encoded at 25 fps, every
/// other frame, evenly 40 ms apart. Before, it was taken to 30 fps by
/// dropping two frames in five unevenly, and motion juddered.
#[test]
fn a_source_over_the_cap_is_divided_evenly() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.mp4");
    make_clip_with(
        &clip,
        4,
        &["-r", "50", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert_eq!(master.matches("FRAME-RATE=25.000").count(), 2, "{master}");
    let probe = run(std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["packet=pts_time", "-of", "csv=p=0"])
        .arg(out.join("360p/index.m3u8")));
    let mut times: Vec<f64> = text(&probe.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    assert!((98..=101).contains(&times.len()), "{} frames", times.len());
    for pair in times.windows(2) {
        let step = pair[1] - pair[0];
        assert!(
            (step - 0.04).abs() < 0.002,
            "frames {step} s apart: {times:?}"
        );
    }
}

/// A 59.94 fps source into a ladder of one rendition at the source's rate
/// and one capped at 30 (29.97, every other frame): every segment starts at
/// the same instant in both. Before, the capped rendition took the half-way
/// frames stamped a tick late, and its segments started a frame after the
/// others' (2.035 s against 2.002).
#[test]
fn renditions_at_half_the_source_rate_stay_in_line() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=60000/1001",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    let profile = tmp.path().join("two.yaml");
    fs::write(
        &profile,
        "name: two\nsegment_duration: 2\ngop: 2\nencoder: x264\npreset: p1\nallow_cpu: true\nvideo:\n  - name: full\n    width: 640\n    height: 360\n    bitrate: 900k\n    frame_rate: source\n  - name: half\n    width: 426\n    height: 240\n    bitrate: 300k\n    frame_rate: 30\naudio:\n  - name: audio\n    bitrate: 96k\n    channels: 2\n    sample_rate: 48000\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile, &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    check_presentation(&out, &["full", "half"], "audio", 2.0, 3);
    let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(
        master.contains("FRAME-RATE=59.940") && master.contains("FRAME-RATE=29.970"),
        "{master}"
    );
}
