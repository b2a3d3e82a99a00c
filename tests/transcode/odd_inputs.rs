//! Files as real tools write them: clips shorter than the decoder's delay,
//! AVI with B-frames and PCM of unstated layout, MPEG-TS spliced end to end.

use super::*;

/// Clips shorter than what the H.264 decoder holds back (B-frame reordering):
/// a single frame, and three frames with B-frames. They used to be refused
/// as "no decodable video frame": the frames the decoder still held at the
/// end of the input were never drained while looking for the first one.
#[test]
fn clips_shorter_than_the_decoder_delay_are_transcoded() {
    let tmp = tempfile::tempdir().unwrap();
    for frames in [1, 3] {
        let clip = tmp.path().join(format!("{frames}.mp4"));
        let n = frames.to_string();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-frames:v",
            &n,
            "-c:v",
            "libx264",
            "-bf",
            "2",
            clip.to_str().unwrap(),
        ]);
        let out = tmp.path().join(format!("out{frames}"));
        let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
        assert!(r.status.success(), "{frames} frames: {}", text(&r.stderr));
        let probe = run(std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(out.join("360p/index.m3u8")));
        // ffprobe lists the playlist's stream once per program it finds.
        let counts = text(&probe.stdout);
        assert!(
            counts.lines().any(|l| l.trim() == n)
                && counts.lines().all(|l| l.trim().is_empty() || l.trim() == n),
            "{frames} frames in, 360p has {counts:?}: {}",
            text(&probe.stderr)
        );
    }
}

/// What a camera or an old capture tool writes: AVI with H.264 B-frames
/// (its packets carry a decode time only) and PCM audio whose channel layout
/// is not stated, and the same PCM in Matroska. The unstated layout crashed
/// the process in the resampler (a segfault), and the AVI's last frames,
/// drained without a time, went back to the start, so the file seemed to end
/// at 0 s and was refused as truncated.
#[test]
fn avi_with_b_frames_and_pcm_audio_of_unstated_layout() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, video) in [
        ("camera.avi", "libx264"),
        ("webcam.avi", "mjpeg"),
        ("capture.mkv", "libx264"),
    ] {
        let clip = tmp.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            "4",
            "-c:v",
            video,
            "-c:a",
            "pcm_s16le",
            clip.to_str().unwrap(),
        ]);
        let out = tmp.path().join(format!("out-{name}"));
        let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
        assert!(
            r.status.success(),
            "{name}: {:?}: {}",
            r.status,
            text(&r.stderr)
        );
        assert!(
            text(&r.stdout).contains("4.0 s of media, 120 frames"),
            "{name}: {}",
            text(&r.stdout)
        );
        let errors = decode_errors(&out.join("master.m3u8"));
        assert!(errors.trim().is_empty(), "{name}: {errors}");
        let mean = mean_volume(&out.join("audio/index.m3u8"));
        assert!(mean > -40.0, "{name}: the audio is silent ({mean} dB)");
    }
}

/// MPEG-TS recordings joined end to end (`cat a.ts b.ts`, a broadcast
/// splice) carry timestamps that jump: back to the second recording's start,
/// or forward over a gap. Before, the part after a jump back was dropped
/// without a word (a 6 s file gave 3 s), and a jump forward made a segment
/// as long as the gap with one frame held all through it. Both now join, as
/// the ffmpeg CLI joins them: the part after the jump continues the timeline.
#[test]
fn spliced_mpeg_ts_is_joined_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let part = |name: &str, size: &str, tone: &str, offset: &str| {
        let path = tmp.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={tone}"),
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-output_ts_offset",
            offset,
            "-f",
            "mpegts",
            path.to_str().unwrap(),
        ]);
        fs::read(path).unwrap()
    };
    let first = part("a.ts", "640x360", "440", "0");
    for (name, offset) in [("back", "0"), ("gap", "100")] {
        let mut spliced = first.clone();
        spliced.extend(part(&format!("b-{name}.ts"), "1280x720", "660", offset));
        let clip = tmp.path().join(format!("{name}.ts"));
        fs::write(&clip, spliced).unwrap();
        let out = tmp.path().join(format!("out-{name}"));
        let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
        assert!(r.status.success(), "{name}: {}", text(&r.stderr));
        let said = text(&r.stdout);
        assert!(
            said.contains("6.0 s of media, 180 frames") && said.contains("1 timestamp jump joined"),
            "{name}: {said}"
        );
        check_presentation(&out, &["360p", "240p"], "audio", 2.0, 3);
        let errors = decode_errors(&out.join("master.m3u8"));
        assert!(errors.trim().is_empty(), "{name}: {errors}");
        for playlist in ["360p/index.m3u8", "audio/index.m3u8"] {
            let d = probed_seconds(&out.join(playlist));
            assert!(
                (d - 6.0).abs() < 0.2,
                "{name}: {playlist} lasts {d} s, the input 6 s"
            );
        }
    }
}
