//! The fallback of a broadcast whose GPU piece fails, run on any machine: the
//! broadcast is told it has every GPU piece, the zero-copy path then fails
//! for want of a CUDA device, and the broadcast must go on down to the CPU
//! path, say so, count it, and end with a complete output.

use std::process::Command;
use std::sync::Arc;

use livefleet_profile::LadderProfile;
use livefleet_storage::LocalDir;
use prometheus::Registry;

use crate::broadcast::{Broadcast, BroadcastConfig, Progress};
use crate::encoder::{EncoderKind, Selection};
use crate::metrics::WorkerMetrics;
use crate::sink::StorageSink;
use crate::source::FileSource;
use crate::video_path::{Offer, VideoPath};

const PROFILE: &str = "name: t\nsegment_duration: 1\ngop: 1\nencoder: auto\npreset: p1\nvideo:\n  - name: 240p\n    width: 320\n    height: 240\n    bitrate: 300k\n  - name: 120p\n    width: 160\n    height: 120\n    bitrate: 100k\naudio: []\n";

fn clip(dir: &std::path::Path) -> String {
    let path = dir.join("in.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=320x240:rate=30")
        .args([
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "15",
        ])
        .arg(&path)
        .status()
        .expect("the ffmpeg CLI runs");
    assert!(ok.success());
    path.to_string_lossy().into_owned()
}

#[test]
fn a_failed_gpu_path_falls_back_to_the_cpu_and_the_output_is_complete() {
    ffmpeg_next::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("out");
    let registry = Registry::new();
    let metrics = WorkerMetrics::new(&registry).unwrap();
    let progress = Arc::new(Progress {
        meter: Some(metrics.channel("gpu-fallback")),
        ..Progress::default()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let storage = Arc::new(LocalDir::new(out.clone()).unwrap());
    let sink = StorageSink::with_runtime(runtime, storage, "");
    let config = BroadcastConfig {
        label: "gpu-fallback".into(),
        profile: LadderProfile::from_yaml("t", PROFILE).unwrap(),
        encoder: Selection {
            kind: EncoderKind::Nvenc,
            nvenc_unavailable: None,
        },
        live_window: 6,
        dvr_window: None,
        start_time_unix_ms: 0,
        generation: None,
        utc_timing_url: None,
        pace: crate::threads::Pace::RealTime,
        expire_segments: false,
    };
    let mut broadcast = Broadcast::new(config, Box::new(sink), progress.clone()).unwrap();
    broadcast.pretend = Some(Offer {
        gpu_decode: Ok(()),
        nvenc: Ok(()),
    });
    let mut source = FileSource::open(&input).unwrap();
    broadcast
        .run_session(&mut source)
        .expect("the broadcast survives the GPU failure");
    broadcast.finish().unwrap();

    assert_eq!(progress.paths(), [VideoPath::ZeroCopy, VideoPath::Cpu]);
    let paths = progress.paths.lock().unwrap();
    assert!(
        paths[1].1.contains("failed in this broadcast") && paths[1].1.contains("CUDA device"),
        "the fallback says why: {:?}",
        paths[1]
    );
    let mut text = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&registry.gather(), &mut text)
        .unwrap();
    assert!(
        text.contains(
            "livefleet_worker_video_path_fallbacks_total{from=\"zero_copy\",to=\"cpu\"} 1"
        ),
        "{text}"
    );
    for rendition in ["240p", "120p"] {
        let playlist = std::fs::read_to_string(out.join(rendition).join("index.m3u8")).unwrap();
        assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
        let segments = playlist.lines().filter(|l| l.ends_with(".m4s")).count();
        assert!(
            segments >= 3,
            "most of 4 s kept after the fallback: {playlist}"
        );
    }
}
