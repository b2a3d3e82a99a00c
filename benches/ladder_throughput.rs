//! Ladder throughput, side by side with the ffmpeg CLI in the same run.
//!
//! A 20 s 1080p30 source (testsrc2 + sine) is encoded to 1080/720/480/360 +
//! AAC with libx264 veryfast at equal bitrates and GOP, once by
//! `livefleet transcode` and once by `ffmpeg -filter_complex split` writing
//! fMP4 HLS. Printed: wall-clock throughput ratio (ours / CLI), CPU-seconds
//! per content-second, peak RSS, per-rendition PSNR against the source, and
//! decode-once versus one decode per rendition (four single-rendition
//! transcodes in parallel), and the floor: the four encoders alone from
//! pre-scaled raw frames, one thread each, summed (ours / floor says what
//! decoding, scaling, audio and packaging add), and the lower bound: the
//! floor plus decoding, the bicubic scaling and the AAC encode, each
//! measured alone on one thread, as a ratio to the CLI: about the least a
//! decode-once ladder with these encoders and this scaler can spend.
//!
//! Ours and the CLI run in alternating rounds (LIVEFLEET_BENCH_ROUNDS,
//! default 3); the CPU ratio printed is the median of the rounds' ratios.
//! Then as many rounds with both started at once: sharing the host's state
//! (a VM's speed drifts by tens of percent within a minute), their ratio is
//! the steadier one.
//!
//! Run: `cargo bench --bench ladder_throughput` (LIVEFLEET_BENCH_SECONDS
//! shortens the source). Figures only; nothing here passes or fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{ffmpeg, measure, median, reap, Usage};

const LADDER: [(&str, u32, u32, u32); 4] = [
    ("1080p", 1920, 1080, 6000),
    ("720p", 1280, 720, 3000),
    ("480p", 854, 480, 1200),
    ("360p", 640, 360, 730),
];

fn profile_yaml(renditions: &[(&str, u32, u32, u32)]) -> String {
    let mut y = String::from(
        "name: bench\nsegment_duration: 2\ngop: 2\nencoder: x264\npreset: p3\naudio:\n  - name: audio\n    bitrate: 128k\n    channels: 2\n    sample_rate: 48000\nvideo:\n",
    );
    for (name, w, h, kbps) in renditions {
        y.push_str(&format!(
            "  - name: {name}\n    width: {w}\n    height: {h}\n    bitrate: {kbps}k\n    max_bitrate: {}k\n",
            kbps * 13 / 10
        ));
    }
    y
}

/// PSNR of `distorted` against the source scaled to the distorted picture's
/// own size (a rendition may be a pixel narrower than asked, to keep the
/// aspect ratio and even dimensions).
fn psnr(distorted: &Path, source: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(distorted)
        .arg("-i")
        .arg(source)
        .args(["-lavfi", "[1:v][0:v]scale2ref=flags=bicubic[r0][d0];[d0]setpts=PTS-STARTPTS[d];[r0]setpts=PTS-STARTPTS[r];[d][r]psnr", "-f", "null", "-"])
        .output()
        .expect("ffmpeg psnr");
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .filter_map(|l| l.split("average:").nth(1))
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .next_back()
        .unwrap_or(f64::NAN)
}

/// The round whose `key` is the median.
fn median_by<T: Copy>(v: &[T], key: impl Fn(&T) -> f64) -> T {
    let mut v = v.to_vec();
    v.sort_by(|a, b| key(a).total_cmp(&key(b)));
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: u32 = common::setting("LIVEFLEET_BENCH_SECONDS", 20);
    let rounds_wanted: usize = common::setting("LIVEFLEET_BENCH_ROUNDS", 3usize).max(1);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_livefleet"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let source = dir.join("source.mp4");
    println!("making a {secs} s 1080p30 source ...");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1920x1080:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        source.to_str().unwrap(),
    ]);

    // Ours.
    let prof = dir.join("bench.yaml");
    std::fs::write(&prof, profile_yaml(&LADDER)).unwrap();
    let ours_out = dir.join("ours");
    // The ffmpeg CLI: one decode, split, four libx264 encoders, fMP4 HLS.
    let cli_out = dir.join("cli");
    std::fs::create_dir_all(&cli_out).unwrap();
    let mut filter = String::from("[0:v]split=4");
    for i in 0..4 {
        filter.push_str(&format!("[s{i}]"));
    }
    for (i, (_, w, h, _)) in LADDER.iter().enumerate() {
        filter.push_str(&format!(";[s{i}]scale={w}:{h}:flags=bicubic[v{i}]"));
    }
    let mut args: Vec<String> = vec![
        "-hide_banner".into(),
        "-loglevel".into(),
        "error".into(),
        "-y".into(),
        "-i".into(),
        source.display().to_string(),
        "-filter_complex".into(),
        filter,
    ];
    for (i, (_, _, _, kbps)) in LADDER.iter().enumerate() {
        args.extend([
            "-map".to_string(),
            format!("[v{i}]"),
            format!("-c:v:{i}"),
            "libx264".into(),
            format!("-b:v:{i}"),
            format!("{kbps}k"),
            format!("-maxrate:v:{i}"),
            format!("{}k", kbps * 13 / 10),
            format!("-bufsize:v:{i}"),
            format!("{}k", kbps * 26 / 10),
        ]);
    }
    args.extend(
        [
            "-map",
            "0:a",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-preset",
            "veryfast",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            "fmp4",
            "-master_pl_name",
            "master.m3u8",
            "-var_stream_map",
            "v:0,a:0 v:1 v:2 v:3",
            "-hls_segment_filename",
            &format!("{}/v%v/%d.m4s", cli_out.display()),
        ]
        .map(String::from),
    );
    args.push(format!("{}/v%v/index.m3u8", cli_out.display()));

    // Ours and the CLI in alternating rounds: the development VM's speed
    // drifts by tens of percent within a minute, so one run of each says
    // little; the median of the rounds' ratios says more.
    let ours_cmd = || {
        let _ = std::fs::remove_dir_all(&ours_out);
        let mut c = Command::new(&bin);
        c.arg("transcode")
            .arg(&source)
            .arg("--profile")
            .arg(&prof)
            .arg("--out")
            .arg(&ours_out);
        c
    };
    let cli_cmd = || {
        let mut c = Command::new("ffmpeg");
        c.args(&args);
        c
    };
    let mut rounds: Vec<(Usage, Usage)> = Vec::new();
    for round in 0..rounds_wanted {
        let pair = if round % 2 == 0 {
            let o = measure(&mut ours_cmd());
            (o, measure(&mut cli_cmd()))
        } else {
            let c = measure(&mut cli_cmd());
            (measure(&mut ours_cmd()), c)
        };
        println!(
            "round {}: cpu s ours {:.1}, CLI {:.1}, ratio {:.2}",
            round + 1,
            pair.0.cpu,
            pair.1.cpu,
            pair.0.cpu / pair.1.cpu
        );
        rounds.push(pair);
    }
    // Both at once: the two share whatever state the host is in, so their
    // ratio moves far less from round to round than that of runs in turn
    // (each is slower, as the two contend for the cores).
    let mut together = Vec::new();
    for round in 0..rounds_wanted {
        let start = Instant::now();
        let spawn = |mut c: Command| {
            c.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (o, c) = (spawn(ours_cmd()), spawn(cli_cmd()));
        let (o, c) = (
            reap(o, start, "livefleet transcode"),
            reap(c, start, "ffmpeg CLI"),
        );
        println!(
            "side by side {}: cpu s ours {:.1}, CLI {:.1}, ratio {:.2}",
            round + 1,
            o.cpu,
            c.cpu,
            o.cpu / c.cpu
        );
        together.push(o.cpu / c.cpu);
    }
    let ratios: Vec<f64> = rounds.iter().map(|(o, c)| o.cpu / c.cpu).collect();
    let ours = median_by(&rounds, |(o, _)| o.cpu).0;
    let cli = median_by(&rounds, |(_, c)| c.cpu).1;

    // The floor: the four encoders alone, from pre-scaled raw frames, one
    // thread each, summed: what no ladder can go below with these encoders.
    let mut floor = Usage::default();
    for (name, w, h, kbps) in LADDER {
        let raw = dir.join(format!("{name}.yuv"));
        ffmpeg(&[
            "-i",
            source.to_str().unwrap(),
            "-vf",
            &format!("scale={w}:{h}:flags=bicubic"),
            "-pix_fmt",
            "yuv420p",
            "-f",
            "rawvideo",
            raw.to_str().unwrap(),
        ]);
        let u = measure(Command::new("ffmpeg").args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            &format!("{w}x{h}"),
            "-r",
            "30",
            "-i",
            raw.to_str().unwrap(),
            "-c:v",
            "libx264",
            "-threads",
            "1",
            "-preset",
            "veryfast",
            "-b:v",
            &format!("{kbps}k"),
            "-maxrate",
            &format!("{}k", kbps * 13 / 10),
            "-bufsize",
            &format!("{}k", kbps * 26 / 10),
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-f",
            "null",
            "-",
        ]));
        let _ = std::fs::remove_file(&raw);
        floor.wall += u.wall;
        floor.cpu += u.cpu;
        floor.max_rss_mb = floor.max_rss_mb.max(u.max_rss_mb);
    }

    // What any decode-once ladder with these encoders and this scaler adds
    // to the floor, measured alone with the CLI: decoding, the bicubic
    // scaling of the three smaller rungs, and the AAC encode.
    let quiet = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-filter_threads",
        "1",
        "-threads",
        "1",
        "-i",
    ];
    let decode = measure(
        Command::new("ffmpeg")
            .args(quiet)
            .arg(&source)
            .args(["-an", "-f", "null", "-"]),
    );
    let mut scale_graph = String::from("[0:v]split=3");
    for i in 1..4 {
        scale_graph.push_str(&format!("[s{i}]"));
    }
    let mut maps = Vec::new();
    for (i, (_, w, h, _)) in LADDER.iter().enumerate().skip(1) {
        scale_graph.push_str(&format!(";[s{i}]scale={w}:{h}:flags=bicubic[v{i}]"));
        maps.extend(["-map".to_string(), format!("[v{i}]")]);
    }
    let decode_scale = measure(
        Command::new("ffmpeg")
            .args(quiet)
            .arg(&source)
            .args(["-filter_complex", &scale_graph])
            .args(&maps)
            .args(["-f", "null", "-"]),
    );
    let aac = measure(
        Command::new("ffmpeg")
            .args(quiet)
            .arg(&source)
            .args(["-vn", "-c:a", "aac", "-b:a", "128k", "-ar", "48000"])
            .args(["-ac", "2", "-f", "null", "-"]),
    );
    let bound = floor.cpu + decode_scale.cpu + aac.cpu;

    // One decode per rendition: four single-rendition transcodes in parallel.
    let start = Instant::now();
    let mut children = Vec::new();
    for (i, r) in LADDER.iter().enumerate() {
        let p = dir.join(format!("single{i}.yaml"));
        std::fs::write(&p, profile_yaml(std::slice::from_ref(r))).unwrap();
        children.push(
            Command::new(&bin)
                .arg("transcode")
                .arg(&source)
                .arg("--profile")
                .arg(&p)
                .arg("--out")
                .arg(dir.join(format!("single{i}")))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let mut cpu_each = 0.0;
    for c in children {
        let pid = c.id() as libc::pid_t;
        let mut status = 0;
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: our own child; zeroed rusage is a valid out-parameter.
        unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        cpu_each += ru.ru_utime.tv_sec as f64
            + ru.ru_utime.tv_usec as f64 / 1e6
            + ru.ru_stime.tv_sec as f64
            + ru.ru_stime.tv_usec as f64 / 1e6;
    }
    let per_rendition_wall = start.elapsed().as_secs_f64();

    let content = f64::from(secs);
    println!();
    println!(
        "ladder 1080/720/480/360 + AAC, libx264 veryfast, {secs} s of 1080p30, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<28} {:>10} {:>14} {:>12}",
        "", "wall s", "cpu s / content s", "peak RSS MB"
    );
    println!(
        "{:<28} {:>10.1} {:>14.2} {:>12.0}",
        "livefleet (decode once)",
        ours.wall,
        ours.cpu / content,
        ours.max_rss_mb
    );
    println!(
        "{:<28} {:>10.1} {:>14.2} {:>12.0}",
        "ffmpeg CLI split",
        cli.wall,
        cli.cpu / content,
        cli.max_rss_mb
    );
    println!(
        "{:<28} {:>10.1} {:>14.2} {:>12.0}",
        "floor (encoders alone, 1 thr)",
        floor.wall,
        floor.cpu / content,
        floor.max_rss_mb
    );
    println!(
        "{:<28} {:>10.1} {:>14.2} {:>12}",
        "livefleet, 1 decode/rendition",
        per_rendition_wall,
        cpu_each / content,
        "-"
    );
    println!(
        "throughput ratio (ours / CLI, wall): {:.2}x",
        cli.wall / ours.wall
    );
    println!(
        "cpu ratio (ours / CLI): {:.2} (median of {} rounds: {})",
        median(&ratios),
        ratios.len(),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "cpu ratio side by side (ours / CLI, both at once): {:.2} (median of {} rounds: {})",
        median(&together),
        together.len(),
        together
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("cpu ratio (ours / floor): {:.2}", ours.cpu / floor.cpu);
    println!(
        "lower bound (floor + decode {:.1} + scaling {:.1} + AAC {:.1} CPU-s): {:.2} cpu s / content s, {:.2}x the CLI",
        decode.cpu,
        (decode_scale.cpu - decode.cpu).max(0.0),
        aac.cpu,
        bound / content,
        bound / cli.cpu
    );
    println!(
        "peak RSS ratio (ours / CLI): {:.2}",
        ours.max_rss_mb / cli.max_rss_mb
    );
    println!(
        "decode once vs one decode per rendition: wall {:.2}x, cpu {:.2}x",
        per_rendition_wall / ours.wall,
        cpu_each / ours.cpu
    );
    println!();
    println!(
        "{:<8} {:>12} {:>12} {:>8}",
        "PSNR dB", "livefleet", "ffmpeg CLI", "delta"
    );
    for (i, (name, _, _, _)) in LADDER.iter().enumerate() {
        let a = psnr(&ours_out.join(name).join("index.m3u8"), &source);
        let b = psnr(&cli_out.join(format!("v{i}")).join("index.m3u8"), &source);
        println!("{name:<8} {a:>12.2} {b:>12.2} {:>8.2}", a - b);
    }
}
