//! Each stage of the pipeline run alone, through its own push / pull API,
//! with nothing of the others around it: decode (packets in, frames out), a
//! rendition (frames and boundaries in, samples out), audio (packets or
//! video progress in, AAC samples out) and package (messages in, objects to
//! store out).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;
use ff::{format, frame, Rational};
use ffmpeg_next as ff;
use livefleet_base::{RenditionName, Track};
use livefleet_packager::{Output, PackagerConfig, PackagerState, Sample, TrackId};
use livefleet_profile::{AudioRendition, H264Profile, Preset, VideoCodec};

use crate::audio::{AudioLadder, AudioMsg};
use crate::boundary::Boundary;
use crate::decode::VideoDecode;
use crate::encoder::VideoSettings;
use crate::pack::{PackMsg, PackSender};
use crate::rendition::{Picture, RenditionEncoder, VideoJob};
use crate::sink::{OutputSink, SinkError};
use crate::source::{FileSource, PacketSource};
use crate::timeline::Timeline;
use crate::video_path::VideoPath;

/// The samples a stage sent, by track, in order.
fn samples(rx: &Receiver<PackMsg>) -> Vec<(TrackId, Sample)> {
    rx.try_iter()
        .filter_map(|m| match m {
            PackMsg::Sample(t, s) => Some((t, s)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_decode_stage_alone_turns_every_packet_into_a_frame() {
    ff::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    crate::gpu_check::clip::write(&clip, 1.0).unwrap();
    let mut source = FileSource::open(clip.to_str().unwrap()).unwrap();
    let mut decode = VideoDecode::open(&source.info().video, None).unwrap();
    let (mut packets, mut frames) = (0, Vec::new());
    while let Some((track, packet)) = source.next_packet().unwrap() {
        if track != Track::Video {
            continue;
        }
        packets += 1;
        decode.push(&packet).expect("a clean packet");
        while let Some(f) = decode.pull().unwrap() {
            frames.push(f);
        }
    }
    decode.finish();
    while let Some(f) = decode.pull().unwrap() {
        frames.push(f);
    }
    assert_eq!(packets, 30, "one second at 30 fps");
    assert_eq!(
        frames.len(),
        packets,
        "every packet decoded, the last ones after finish"
    );
    let f = &frames[0];
    assert_eq!((f.width(), f.height()), (1280, 720));
    let pts: Vec<_> = frames.iter().map(|f| f.pts().unwrap()).collect();
    assert!(
        pts.windows(2).all(|w| w[0] < w[1]),
        "in presentation order: {pts:?}"
    );
}

#[test]
fn the_rendition_stage_alone_scales_encodes_and_keys_every_boundary() {
    ff::init().unwrap();
    let settings = VideoSettings {
        width: 320,
        height: 180,
        frame_rate: Rational::new(30, 1),
        bitrate: 300_000,
        max_bitrate: 400_000,
        gop_frames: 30,
        codec: VideoCodec::H264,
        h264_profile: H264Profile::Main,
        level: None,
        preset: Preset::default(),
        threads: 1,
        colour: Default::default(),
    };
    let name = RenditionName::new("180p").unwrap();
    let (encoder, spec) =
        RenditionEncoder::open(VideoPath::Cpu, None, &settings, &name, TrackId(0)).unwrap();
    assert_eq!(spec.name, "180p");
    let (jobs, rx) = crossbeam_channel::unbounded();
    let (out, sent) = PackSender::pair();
    let max_end = AtomicU64::new(0);
    // 3 s, a segment boundary every second: 640x360 source frames, then
    // from 2.5 s the last one held (`crate::hold`).
    for n in 0..90i64 {
        let mut f = frame::Video::new(format::Pixel::YUV420P, 640, 360);
        crate::calibrate::pattern(&mut f, n as usize);
        let start = n % 30 == 0;
        jobs.send(VideoJob {
            picture: if n < 75 {
                Picture::Decoded(Arc::new(f))
            } else {
                Picture::Held
            },
            pts: n * 3000,
            boundary: Boundary {
                segment_start: start,
                force_key: start,
                due: start.then_some(n * 3000),
            },
        })
        .unwrap();
    }
    drop(jobs);
    encoder.run(rx, &out, &max_end).unwrap();
    let got = samples(&sent);
    assert_eq!(got.len(), 90, "a sample per frame");
    let starts: Vec<_> = got
        .iter()
        .filter(|(_, s)| s.segment_start)
        .map(|(_, s)| s.pts)
        .collect();
    assert_eq!(starts, [0, 90_000, 180_000], "a segment at every boundary");
    assert!(got.iter().all(|(_, s)| !s.segment_start || s.keyframe));
    assert_eq!(
        max_end.into_inner(),
        90 * 3000,
        "the media end, where the next session goes on"
    );
}

#[test]
fn the_audio_stage_alone_carries_silence_when_the_source_has_none() {
    ff::init().unwrap();
    let profile = livefleet_profile::LadderProfile::from_yaml(
        "t",
        "name: t\nsegment_duration: 2\ngop: 2\nencoder: x264\nvideo:\n  - { name: 180p, width: 320, height: 180, bitrate: 300k }\naudio:\n  - { name: audio, bitrate: 96k, channels: 2, sample_rate: 48000 }\n",
    )
    .unwrap();
    let rendition: AudioRendition = profile.audio[0].clone();
    let timeline = Timeline::new(0, Rational::new(1, 90_000), 0);
    let mut ladder = AudioLadder::open(&[rendition], None, timeline).unwrap();
    assert_eq!(ladder.track_specs().unwrap().len(), 1);
    let (msgs, rx) = crossbeam_channel::unbounded();
    for s in 1..=4 {
        msgs.send(AudioMsg::VideoAt(s * 90_000)).unwrap();
    }
    drop(msgs);
    let (out, sent) = PackSender::pair();
    ladder.run(rx, &out, 3).unwrap();
    let got = samples(&sent);
    assert!(
        got.iter().all(|(t, _)| *t == TrackId(3)),
        "the track asked for"
    );
    let dts: Vec<_> = got.iter().map(|(_, s)| s.dts).collect();
    assert_eq!(dts[0], 0);
    assert!(
        dts.windows(2).all(|w| w[1] - w[0] == 1024),
        "AAC frames back to back"
    );
    let covered = dts.last().unwrap() + 1024;
    assert!(
        (4 * 48_000..4 * 48_000 + 2048).contains(&covered),
        "silence up to the video's end (4 s): {covered} samples"
    );
}

/// Objects a stage handed to the store, and the state it ended with.
#[derive(Default, Clone)]
struct Collected(Arc<Mutex<(Vec<String>, Option<PackagerState>)>>);

impl OutputSink for Collected {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), SinkError> {
        let mut c = self.0.lock().unwrap();
        c.0.extend(outputs.iter().map(|o| o.path().to_owned()));
        Ok(())
    }

    fn expire(&mut self, _paths: Vec<String>) {}

    fn sweep(&mut self, _numbers: (u64, u64)) {}

    fn ended(&mut self, _manifests: Vec<Output>, state: &PackagerState) {
        self.0.lock().unwrap().1 = Some(state.clone());
    }
}

#[test]
fn the_package_stage_alone_makes_segments_and_a_finished_presentation() {
    let sink = Collected::default();
    let config = PackagerConfig {
        segment_duration: 2.0,
        live_window: 3,
        dvr_window: None,
        start_time_unix_ms: 0,
        generation: None,
        utc_timing_url: None,
        expire_segments: false,
        captions: Vec::new(),
    };
    let progress = Arc::new(crate::progress::Progress::default());
    let (tx, handle) =
        crate::pack::spawn("stage-test", config, Box::new(sink.clone()), progress).unwrap();
    let track = livefleet_packager::TrackSpec {
        name: "audio".into(),
        media: livefleet_packager::TrackMedia::Audio {
            codec: livefleet_packager::AudioConfig::new(bytes::Bytes::from_static(&[0x11, 0x90]))
                .unwrap(),
        },
        timescale: 48_000,
        bandwidth: 96_000,
        average_bandwidth: 96_000,
    };
    tx.send(PackMsg::Start {
        tracks: vec![track],
        state: None,
    })
    .unwrap();
    // 5 s of AAC frames: segments at 2 and 4 s, the rest at the end.
    for n in 0..(5 * 48_000 / 1024) {
        let at = n * 1024;
        let sample = Sample {
            dts: at,
            pts: at,
            duration: Some(1024),
            keyframe: true,
            segment_start: false,
            data: bytes::Bytes::from_static(&[0x21, 0x10, 0x04]),
        };
        tx.sample(TrackId(0), sample).unwrap();
    }
    tx.send(PackMsg::Finish).unwrap();
    drop(tx);
    let state = handle.join().unwrap().unwrap();
    let (paths, ended) = sink.0.lock().unwrap().clone();
    assert!(paths.iter().any(|p| p == "audio/init.mp4"), "{paths:?}");
    let segments = paths.iter().filter(|p| p.ends_with(".m4s")).count();
    assert_eq!(segments, 3, "2 + 2 + 1 s: {paths:?}");
    for manifest in ["master.m3u8", "audio/index.m3u8", "manifest.mpd"] {
        assert!(paths.iter().any(|p| p == manifest), "{manifest}: {paths:?}");
    }
    assert_eq!(
        ended.as_ref(),
        Some(&state),
        "the sink heard of the end, with the final state"
    );
}
