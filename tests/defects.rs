//! Regression tests for the defects of the hostile-user and failing-disk
//! sweep: each one failed before its fix. Real processes throughout: the
//! release-built `livefleet`, ffmpeg publishers and files, nats-server, a
//! tmpfs filled to the brim, a directory made read-only.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// Seconds listed by the EXTINF tags of a media playlist.
fn listed_seconds(playlist: &Path) -> f64 {
    segment_durations(playlist).iter().sum()
}

/// One AAC frame of audio at `rate` Hz, in seconds.
fn aac_frame(rate: u32) -> f64 {
    1024.0 / f64::from(rate)
}

/// A 10 s 640x360 clip with AAC audio at `rate` Hz.
fn clip_with_audio_rate(path: &Path, rate: u32) {
    let sine = format!("sine=frequency=440:sample_rate={rate}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        &sine,
        "-t",
        "10",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-c:a",
        "aac",
        "-ac",
        "2",
        path.to_str().unwrap(),
    ]);
}

/// The audio lasts as long as the video, give or take the AAC framing: the
/// source's last frame (padded to 1024 samples at its rate) and the output's.
fn assert_audio_matches_video(out: &Path, source_rate: u32, what: &str) {
    let video = listed_seconds(&out.join("360p/index.m3u8"));
    let audio = listed_seconds(&out.join("audio/index.m3u8"));
    let slack = aac_frame(source_rate) + aac_frame(48_000) + 0.005;
    assert!(
        video > 9.0 && (audio - video).abs() <= slack,
        "{what}: audio lasts {audio:.3} s, video {video:.3} s (allowed {slack:.3} s apart)"
    );
}

#[test]
fn resampled_audio_keeps_its_full_length_in_transcode() {
    let tmp = tempfile::tempdir().unwrap();
    for rate in [44_100, 22_050] {
        let clip = tmp.path().join(format!("a{rate}.mp4"));
        clip_with_audio_rate(&clip, rate);
        let out = tmp.path().join(format!("out{rate}"));
        let r = run(livefleet()
            .arg("transcode")
            .arg(&clip)
            .arg("--profile")
            .arg(profile("cpu-small.yaml"))
            .arg("--out")
            .arg(&out));
        assert!(r.status.success(), "{}", text(&r.stderr));
        assert_audio_matches_video(&out, rate, &format!("{rate} Hz transcode"));
    }
}

#[test]
fn live_44k_audio_keeps_pace_with_video() {
    let dev = Dev::start("a441", &["--grace", "2"]);
    let (ok, err) = Publisher::ffmpeg_audio(&dev.publish_url, 10, 44_100).finish();
    assert!(ok, "publisher failed: {err}");
    let dir = dev.channel_dir();
    dev.wait_for(30, "the live-to-VOD ending", || {
        ["360p", "audio"].iter().all(|r| {
            fs::read_to_string(dir.join(r).join("index.m3u8"))
                .is_ok_and(|p| p.contains("#EXT-X-ENDLIST"))
        })
    });
    assert_audio_matches_video(&dir, 44_100, "44.1 kHz live");
    // Segment n of audio is written no later than one segment after video's.
    let modified = |p: PathBuf| fs::metadata(p).and_then(|m| m.modified()).ok();
    let segments = |r: &str| segments(&dir.join(r));
    let audio = segments("audio");
    for (n, video_path) in segments("360p") {
        let Some((_, audio_path)) = audio.iter().find(|(m, _)| *m == n) else {
            panic!("segment {n} has video but no audio");
        };
        let (v, a) = (
            modified(video_path).unwrap(),
            modified(audio_path.clone()).unwrap(),
        );
        let apart = a
            .duration_since(v)
            .or_else(|_| v.duration_since(a))
            .unwrap();
        assert!(
            apart <= Duration::from_secs(2),
            "segment {n}: audio and video written {apart:?} apart"
        );
    }
}

/// Every segment a playlist names is on disk, or marked `EXT-X-GAP`.
/// Returns the number of gaps.
fn check_named_segments(playlist: &Path) -> Result<usize, String> {
    let Ok(text) = fs::read_to_string(playlist) else {
        return Ok(0);
    };
    let dir = playlist.parent().unwrap();
    let (mut gap, mut gaps) = (false, 0);
    for line in text.lines() {
        if line == "#EXT-X-GAP" {
            gap = true;
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            if gap {
                gaps += 1;
            } else if !dir.join(line.trim()).exists() {
                return Err(format!("{} names missing {line}", playlist.display()));
            }
            gap = false;
        }
    }
    Ok(gaps)
}

fn channel_playlists(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("index.m3u8"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default()
}

/// Unmounts on drop, so a failed test does not leave a mount behind.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem under `dir` until `free` bytes are left.
fn fill(dir: &Path, free: u64) -> PathBuf {
    let filler = dir.join("filler");
    let out = run(std::process::Command::new("sh").arg("-c").arg(format!(
        "dd if=/dev/zero of={0} bs=64k 2>/dev/null; truncate -s -{free} {0}",
        filler.display()
    )));
    assert!(out.status.success(), "{}", text(&out.stderr));
    filler
}

#[test]
fn a_full_disk_never_leaves_a_playlist_naming_a_missing_segment() {
    if !is_root() {
        eprintln!("not root: no tmpfs can be mounted; this test needs root (CI runs as root)");
        return;
    }
    let dev = Dev::start_with_store("fulldisk", &["--grace", "2"], |store| {
        Tmpfs::mount(&store.join("live"), "48m").expect("mount a tmpfs")
    });
    let dir = dev.channel_dir();
    let publisher = Publisher::ffmpeg(&dev.publish_url, 34);
    dev.wait_for(30, "the first segments", || {
        dir.join("360p").exists() && segments(&dir.join("360p")).len() >= 3
    });
    let filler = fill(dir.parent().unwrap(), 160 << 10);
    // While the disk is full, every playlist version on disk names only stored segments.
    let full_until = Instant::now() + Duration::from_secs(12);
    let mut versions = 0;
    while Instant::now() < full_until {
        for p in channel_playlists(&dir) {
            check_named_segments(&p).unwrap_or_else(|e| panic!("while full: {e}\n{}", dev.log()));
            versions += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    fs::remove_file(filler).unwrap();
    let (ok, err) = publisher.finish();
    assert!(ok, "publisher failed: {err}");
    dev.wait_for(40, "the live-to-VOD ending", || {
        channel_playlists(&dir)
            .iter()
            .all(|p| fs::read_to_string(p).is_ok_and(|t| t.contains("#EXT-X-ENDLIST")))
            && !channel_playlists(&dir).is_empty()
    });
    // Space came back before the end: the background retries stored every
    // lost segment, so the archive is complete and names nothing missing.
    for p in channel_playlists(&dir) {
        let gaps = check_named_segments(&p).unwrap_or_else(|e| panic!("VOD: {e}\n{}", dev.log()));
        assert_eq!(
            gaps,
            0,
            "{} still marks gaps after space came back",
            p.display()
        );
    }
    let log = dev.log();
    assert!(
        log.contains("parked") || log.contains("trying again"),
        "the full disk left no trace in the log ({versions} playlist versions checked)\n{log}"
    );
}

#[test]
fn segments_lost_for_good_are_marked_as_gaps_in_the_vod() {
    if !is_root() {
        eprintln!("not root: no tmpfs can be mounted; this test needs root (CI runs as root)");
        return;
    }
    let dev = Dev::start_with_store("lost", &["--grace", "2"], |store| {
        Tmpfs::mount(&store.join("live"), "48m").expect("mount a tmpfs")
    });
    let dir = dev.channel_dir();
    let publisher = Publisher::ffmpeg(&dev.publish_url, 16);
    dev.wait_for(30, "the first segments", || {
        dir.join("360p").exists() && segments(&dir.join("360p")).len() >= 2
    });
    // Full until after the broadcast ends: what is lost stays lost.
    let filler = fill(dir.parent().unwrap(), 160 << 10);
    let (ok, err) = publisher.finish();
    assert!(ok, "publisher failed: {err}");
    std::thread::sleep(Duration::from_secs(6));
    for p in channel_playlists(&dir) {
        check_named_segments(&p).unwrap_or_else(|e| panic!("full at the end: {e}\n{}", dev.log()));
    }
    // Space comes back: the parked final playlists and segments land, and
    // whatever the playlists name is there or marked.
    fs::remove_file(filler).unwrap();
    dev.wait_for(30, "the VOD playlists", || {
        let pls = channel_playlists(&dir);
        !pls.is_empty()
            && pls
                .iter()
                .all(|p| fs::read_to_string(p).is_ok_and(|t| t.contains("#EXT-X-ENDLIST")))
    });
    for p in channel_playlists(&dir) {
        check_named_segments(&p).unwrap_or_else(|e| panic!("VOD: {e}\n{}", dev.log()));
    }
}

fn is_root() -> bool {
    run(std::process::Command::new("id").arg("-u")).stdout == b"0\n"
}

fn transcode(input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    run(livefleet()
        .arg("transcode")
        .arg(input)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(out)
        .args(extra))
}

fn last_line(out: &std::process::Output) -> String {
    text(&out.stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_failed_transcode_over_a_previous_vod_leaves_nothing_complete_looking() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 6);
    let out = tmp.path().join("out");
    assert!(transcode(&clip, &out, &[]).status.success());
    let vod = fs::read_to_string(out.join("360p/index.m3u8")).unwrap();
    assert!(vod.contains("#EXT-X-ENDLIST"));

    // Without --force a non-empty --out is refused, and the VOD is untouched.
    let r = transcode(&clip, &out, &[]);
    assert!(!r.status.success());
    assert!(last_line(&r).contains("--force"), "{}", last_line(&r));
    assert_eq!(
        fs::read_to_string(out.join("360p/index.m3u8")).unwrap(),
        vod
    );

    // With --force, a run that fails (a truncated input) leaves no ENDLIST,
    // no static MPD, nothing of the old VOD that looks complete.
    let long = tmp.path().join("long.flv");
    make_clip(&long, 12);
    let bytes = fs::read(&long).unwrap();
    let cut = tmp.path().join("cut.flv");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = transcode(&cut, &out, &["--force"]);
    assert!(!r.status.success(), "a truncated input must fail");
    for p in channel_playlists(&out) {
        let t = fs::read_to_string(&p).unwrap();
        assert!(
            !t.contains("#EXT-X-ENDLIST"),
            "{} looks complete:\n{t}",
            p.display()
        );
    }
    if let Ok(mpd) = fs::read_to_string(out.join("manifest.mpd")) {
        assert!(!mpd.contains("type=\"static\""), "the MPD looks complete");
    }
    if let Ok(master) = fs::read_to_string(out.join("master.m3u8")) {
        // Whatever the master names decodes with the init segment beside it.
        assert!(master.contains("360p/index.m3u8"));
    }
}

#[test]
fn transcode_errors_name_the_path_and_the_os_error() {
    if !is_root() {
        eprintln!("not root: cannot drop privileges or mount a tmpfs; this test needs root (CI runs as root)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.mp4");
    clip_with_audio_rate(&clip, 48_000);
    // A read-only directory, written by an unprivileged user (root ignores modes).
    let ro = tmp.path().join("ro");
    fs::create_dir(&ro).unwrap();
    run(std::process::Command::new("chmod")
        .arg("755")
        .arg(tmp.path()));
    run(std::process::Command::new("chmod").arg("555").arg(&ro));
    run(std::process::Command::new("chmod").arg("644").arg(&clip));
    let r = run(std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_livefleet"))
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(&ro));
    assert!(!r.status.success(), "exit status {:?}", r.status);
    let line = last_line(&r);
    assert!(
        line.contains("Permission denied") && line.contains(ro.to_str().unwrap()),
        "read-only --out: {line}"
    );
    // A full filesystem.
    let full = tmp.path().join("full");
    let _mount = Tmpfs::mount(&full, "256k").expect("mount a tmpfs");
    let r = transcode(&clip, &full, &[]);
    assert!(!r.status.success(), "exit status {:?}", r.status);
    let line = last_line(&r);
    assert!(
        line.contains("No space left on device") && line.contains(full.to_str().unwrap()),
        "full --out: {line}"
    );
}

#[test]
fn a_stalled_bus_loses_no_more_than_a_gop_and_keeps_the_publisher() {
    let dev = Dev::start("stall", &["--grace", "4"]);
    let dir = dev.channel_dir();
    let publisher = Publisher::ffmpeg(&dev.publish_url, 26);
    dev.wait_for(30, "the first segments", || {
        dir.join("360p").exists() && segments(&dir.join("360p")).len() >= 2
    });
    let nats = text(
        &run(std::process::Command::new("pgrep").args([
            "-P",
            &dev.child.id().to_string(),
            "nats-server",
        ]))
        .stdout,
    )
    .trim()
    .to_string();
    assert!(!nats.is_empty(), "dev's nats-server child not found");
    let signal = |sig: &str| {
        run(std::process::Command::new("kill").args([sig, &nats]));
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_secs(8));
    signal("-CONT");
    let (ok, err) = publisher.finish();
    assert!(ok, "the publisher was cut off by the stall: {err}");
    dev.wait_for(40, "the live-to-VOD ending", || {
        fs::read_to_string(dir.join("360p/index.m3u8")).is_ok_and(|p| p.contains("#EXT-X-ENDLIST"))
    });
    // The stalled media reached the worker once the bus answered: at most
    // the GOP where the worker picked the stream up again is missing.
    let listed = listed_seconds(&dir.join("360p/index.m3u8"));
    assert!(
        listed >= 26.0 - 2.0 - 0.5,
        "{listed:.1} s of 26 s published are listed\n{}",
        dev.log()
    );
    let (_, _, metrics) = http_get(&format!("{}/metrics", dev.http));
    assert!(
        text(&metrics).contains("livefleet_ingest_media_unacked_bytes"),
        "the ingest's buffer is not measured"
    );
}

/// (offset, size) of the top-level box `kind`, and of the boxes directly in it.
fn boxes_of(data: &[u8], kind: &[u8; 4]) -> Option<(usize, Vec<(usize, usize)>)> {
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        if &data[at + 4..at + 8] == kind {
            let mut inner = Vec::new();
            let mut j = at + 8;
            while j + 8 <= at + size {
                let s = u32::from_be_bytes(data[j..j + 4].try_into().unwrap()) as usize;
                inner.push((j, s));
                j += s;
            }
            return Some((at, inner));
        }
        at += size.max(8);
    }
    None
}

#[test]
fn an_mp4_whose_moov_is_cut_short_is_refused_not_silently_muted() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole.mp4");
    make_clip(&whole, 4);
    let data = fs::read(&whole).unwrap();
    let (_, inner) = boxes_of(&data, b"moov").expect("moov at the end of the file");
    // Cut right after the first track: FFmpeg opens what is left as video only.
    let second_trak = inner
        .iter()
        .filter(|(j, _)| &data[j + 4..j + 8] == b"trak")
        .nth(1)
        .expect("two tracks")
        .0;
    let cut = tmp.path().join("cut.mp4");
    fs::write(&cut, &data[..second_trak]).unwrap();
    let r = transcode(&cut, &tmp.path().join("out"), &[]);
    assert!(!r.status.success(), "a cut file transcoded with exit 0");
    let line = last_line(&r);
    assert!(
        line.contains("cut short") && line.contains("moov"),
        "{line}"
    );
    // The whole file still transcodes.
    assert!(transcode(&whole, &tmp.path().join("out2"), &[])
        .status
        .success());
}
