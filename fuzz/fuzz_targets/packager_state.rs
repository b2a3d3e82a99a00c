//! The failover state a worker reads back from the bus (JetStream KV) and
//! resumes a broadcast from: any state is refused with an error or resumed,
//! and a resumed packager takes samples, a discontinuity and the end
//! without panicking. Input starting with `{` is read as JSON; anything
//! else is read field by field, so the fuzzer reaches odd states quickly.
//! Each line of the input is also read as an object name from a store's
//! listing, which a channel without a state starts numbering above
//! (`file_generation`, `segment_number`).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livefleet_packager::{
    file_generation, segment_number, AudioConfig, Origin, Packager, PackagerConfig, PackagerState, PeriodState, Sample, SegmentRun,
    TrackHistory, TrackId, TrackMedia, TrackSpec, Turn, VideoCodec, VideoCodecConfig, VideoRange,
};

const SPS_PPS: [u8; 37] = [
    0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03,
    0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x58, 0xba, 0x80, 0, 0, 0, 1, 0x68, 0xce, 0x0f,
    0xc8,
];

fn specs() -> Vec<TrackSpec> {
    let codec = VideoCodecConfig::from_extradata(VideoCodec::H264, &SPS_PPS).expect("test SPS");
    vec![
        TrackSpec {
            name: "360p".into(),
            media: TrackMedia::Video {
                width: 640,
                height: 360,
                frame_rate: Some((30, 1)),
                codec,
                pixel_aspect: (1, 1),
                turn: Turn::Upright,
                range: VideoRange::Sdr,
            },
            timescale: 90_000,
            bandwidth: 800_000,
            average_bandwidth: 700_000,
        },
        TrackSpec {
            name: "aac".into(),
            media: TrackMedia::Audio {
                codec: AudioConfig::new(Bytes::from_static(&[0x11, 0x90])).expect("test ASC"),
            },
            timescale: 48_000,
            bandwidth: 96_000,
            average_bandwidth: 96_000,
        },
    ]
}

/// Reads fields off the front of the input (zeros once it runs out).
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let n = self.0.len().min(N);
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        b
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn small(&mut self, max: u8) -> usize {
        usize::from(self.take::<1>()[0] % (max + 1))
    }
}

fn state_from_fields(data: &[u8]) -> PackagerState {
    let mut f = Fields(data);
    let first_number = f.u64() % 1_000_000;
    let next_number = first_number + f.u64() % 1000;
    let retained_from = Some(f.u64()).filter(|v| v % 2 == 0);
    let periods = (0..f.small(3))
        .map(|_| PeriodState {
            first_number: f.u64() % 1_001_000,
            wallclock_ms: f.i64(),
            init_generation: f.u32() % 8,
            init_version: f.u32() % 4,
        })
        .collect();
    let tracks = ["360p", "aac"]
        .iter()
        .map(|name| TrackHistory {
            name: (*name).into(),
            timescale: [90_000, 48_000, 0, f.u32()][f.small(3)],
            runs: (0..f.small(4))
                .map(|_| SegmentRun {
                    number: f.u64() % 1_001_000,
                    start: f.i64(),
                    duration: f.i64(),
                    count: f.u32() % 4096,
                })
                .collect(),
            bytes: f.u64(),
            peak_bps: f.u64(),
            origins: (0..f.small(3))
                .map(|_| Origin {
                    number: f.u64() % 1_001_000,
                    start: f.i64(),
                })
                .collect(),
        })
        .collect();
    PackagerState {
        first_number,
        next_number,
        init_generation: f.u32(),
        periods,
        tracks,
        missing: vec!["360p/3.m4s".into()],
        retained_from,
        ended: f.u32() % 2 == 0,
    }
}

fn feed(p: &mut Packager, from_frame: i64, frames: i64) {
    for f in from_frame..from_frame + frames {
        let key = f % 60 == 0;
        let dts = f * 3000;
        let video = Sample {
            dts,
            pts: dts,
            duration: None,
            keyframe: key,
            segment_start: key,
            data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0]),
        };
        let _ = p.push(TrackId(0), video);
        let audio = Sample {
            dts: f * 1600,
            pts: f * 1600,
            duration: Some(1600),
            keyframe: true,
            segment_start: false,
            data: Bytes::from_static(&[0x21, 0x10, 0x04]),
        };
        let _ = p.push(TrackId(1), audio);
        let _ = p.take_expired();
    }
}

fuzz_target!(|data: &[u8]| {
    for name in String::from_utf8_lossy(data).lines() {
        let number = segment_number(name);
        let generation = file_generation(name);
        assert!(number.is_none() || generation.is_some(), "{name}: a segment carries a generation");
        if let (Some(n), Some(g)) = (number, generation) {
            let above = PackagerState::above(n.saturating_add(1), g.saturating_add(1).min(u32::MAX - 1));
            assert!(above.check().is_ok(), "{name}: no state above it");
        }
    }
    let state = if data.first() == Some(&b'{') {
        match serde_json::from_slice::<PackagerState>(data) {
            Ok(s) => s,
            Err(_) => return,
        }
    } else {
        state_from_fields(data)
    };
    let config = PackagerConfig {
        segment_duration: 2.0,
        live_window: 2,
        dvr_window: None,
        start_time_unix_ms: 1_704_067_200_000,
        generation: Some(3),
        utc_timing_url: None,
        expire_segments: true,
        captions: Vec::new(),
    };
    let checked = state.check().is_ok();
    let Ok((mut p, _)) = Packager::resume(config, specs(), state) else {
        assert!(!checked, "a state that passed its check was refused");
        return;
    };
    feed(&mut p, 0, 200);
    let _ = p.discontinuity(1_704_067_300_000);
    feed(&mut p, 1000, 200);
    let _ = p.finish();
    let _ = p.take_expired();
    let again = p.state();
    assert!(
        again.check().is_ok(),
        "the packager wrote a state it refuses: {again:?}"
    );
    // The next broadcast as a presentation of its own starts where this ended.
    let next = again.next_broadcast();
    if again.init_generation < u32::MAX - 1 {
        assert!(next.check().is_ok(), "no next broadcast above {again:?}");
    }
    assert_eq!(next.first_number, again.next_number);
});
