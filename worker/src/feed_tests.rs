//! The live feed cut into publish sessions by the configurations the ingest
//! forwards: audio that changes codec mid-publish starts a new session with
//! a decoder for the new codec; the same configuration sent again does not.

use std::time::Duration;

use bytes::Bytes;
use ff::codec;
use ffmpeg_next as ff;
use livefleet_base::{AudioFormat, Codec, MediaPacket, PacketKind, Track};
use tokio::sync::mpsc;

use crate::feed::{LiveFeed, LiveSource};
use crate::source::PacketSource;

fn packet(kind: PacketKind, track: Track, codec: Codec, dts_ms: i64, data: &[u8]) -> MediaPacket {
    MediaPacket {
        kind,
        track,
        keyframe: true,
        codec,
        session: 4,
        dts_ms,
        pts_ms: dts_ms,
        data: Bytes::copy_from_slice(data),
    }
}

fn video_frames(from: i64, n: i64) -> Vec<MediaPacket> {
    (0..n)
        .map(|i| {
            let dts = from + i * 33;
            packet(
                PacketKind::Frame,
                Track::Video,
                Codec::H264,
                dts,
                &[0, 0, 0, 1, 0x65],
            )
        })
        .collect()
}

/// Packets of the session until it ends, as (track, dts).
fn drain(source: &mut LiveSource<'_>) -> Vec<(Track, i64)> {
    let mut out = Vec::new();
    while let Some((track, p)) = source.next_packet().unwrap() {
        out.push((track, p.dts().unwrap()));
    }
    out
}

#[test]
fn audio_of_another_codec_mid_publish_starts_a_session_with_its_decoder() {
    ff::init().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel(256);
    let aac = [0x11, 0x90];
    let alaw = AudioFormat {
        sample_rate: 8000,
        channels: 1,
    }
    .encode();
    let mut packets = vec![
        packet(PacketKind::Config, Track::Video, Codec::H264, 0, b"avcc"),
        packet(PacketKind::Config, Track::Audio, Codec::Aac, 0, &aac),
    ];
    packets.extend(video_frames(0, 12));
    // The same AAC configuration again: nothing changes.
    packets.push(packet(
        PacketKind::Config,
        Track::Audio,
        Codec::Aac,
        400,
        &aac,
    ));
    packets.push(packet(
        PacketKind::Frame,
        Track::Audio,
        Codec::Aac,
        400,
        b"aac",
    ));
    packets.extend(video_frames(429, 3));
    // The publisher's audio turns into G.711 A-law.
    packets.push(packet(
        PacketKind::Config,
        Track::Audio,
        Codec::Alaw,
        530,
        &alaw,
    ));
    // A session starts on a video keyframe: audio before it is not kept.
    packets.extend(video_frames(528, 1));
    packets.push(packet(
        PacketKind::Frame,
        Track::Audio,
        Codec::Alaw,
        540,
        b"law",
    ));
    packets.extend(video_frames(561, 11));
    for p in packets {
        tx.try_send(p).unwrap();
    }
    drop(tx);
    let mut feed = LiveFeed::new(rx, runtime.handle().clone());
    let wait = Duration::from_millis(200);

    let mut first = LiveSource::start(&mut feed, wait, wait).unwrap();
    let audio = first.info().audio.as_ref().unwrap();
    assert_eq!(audio.parameters.id(), codec::Id::AAC);
    let got = drain(&mut first);
    assert_eq!(got.len(), 12 + 1 + 3, "{got:?}");
    assert!(got.contains(&(Track::Audio, 400)));

    let mut second = LiveSource::start(&mut feed, wait, wait).unwrap();
    let audio = second.info().audio.as_ref().unwrap();
    assert_eq!(audio.parameters.id(), codec::Id::PCM_ALAW);
    assert!(crate::aac::open_audio_decoder(audio).is_ok());
    let got = drain(&mut second);
    assert!(got.contains(&(Track::Audio, 540)), "{got:?}");
    assert_eq!(got.iter().filter(|(t, _)| *t == Track::Video).count(), 12);
}

#[test]
fn a_slideshow_at_one_frame_a_second_starts_after_two_seconds_not_twelve_frames() {
    ff::init().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel(256);
    tx.try_send(packet(
        PacketKind::Config,
        Track::Video,
        Codec::H264,
        0,
        b"avcc",
    ))
    .unwrap();
    for dts in [0, 1000, 2000] {
        let frame = packet(
            PacketKind::Frame,
            Track::Video,
            Codec::H264,
            dts,
            &[0, 0, 0, 1, 0x65],
        );
        tx.try_send(frame).unwrap();
    }
    // The publisher goes on (the feed stays open) but the next frame is a
    // second away: the session starts on what it has.
    let mut feed = LiveFeed::new(rx, runtime.handle().clone());
    let idle = Duration::from_secs(60);
    let started = std::time::Instant::now();
    let source = LiveSource::start(&mut feed, idle, idle).unwrap();
    assert!(started.elapsed() < idle / 2, "waited for more frames");
    assert_eq!(
        source.info().video.frame_rate,
        Some(ff::Rational::new(1, 1))
    );
    drop(tx);
}
