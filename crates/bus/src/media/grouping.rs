//! Which packets of a channel travel together in one message. Sans-IO:
//! packets in, messages to send out, in publish order.
//!
//! - A video frame ends a message: it goes with the audio packets held
//!   since the previous message, so a channel costs about one message per
//!   video frame instead of one per packet.
//! - A video keyframe starts a random access point: what is held goes first
//!   (on `.data`), then one message on `.key` with the channel's current
//!   video and audio configs and the keyframe.
//! - Audio is held until a video frame comes, or for at most
//!   [`AUDIO_HOLD_MS`] of media (an audio-only channel, a paused video
//!   track), or [`MAX_HELD`] packets.
//! - Configs and the end of a publish are sent at once, with what is held.
//! - A new session sends what the old one held first.

use bytes::Bytes;
use livefleet_base::{MediaPacket, PacketKind, Track};

/// Most media time audio packets are held for a video frame to go with.
pub const AUDIO_HOLD_MS: i64 = 100;
/// Most packets held back.
pub const MAX_HELD: usize = 32;

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Starts a random access point (goes to the channel's `.key` subject).
    pub random_access: bool,
    /// Encoded packets, in order.
    pub packets: Vec<Bytes>,
}

/// What the publisher remembers of a channel: its current codec configs and
/// the packets held back for the next message.
#[derive(Default)]
pub struct ChannelGroup {
    session: u32,
    video_config: Option<Bytes>,
    audio_config: Option<Bytes>,
    held: Vec<Bytes>,
    held_since_ms: i64,
}

impl ChannelGroup {
    /// The messages to send now that `packet` (encoded as `encoded`) is
    /// published, in order; possibly none (the packet is held).
    pub fn push(&mut self, packet: &MediaPacket, encoded: Bytes) -> Vec<Outgoing> {
        let mut out = Vec::new();
        if packet.session != self.session {
            out.extend(self.take_held());
            *self = Self {
                session: packet.session,
                ..Default::default()
            };
        }
        match (packet.kind, packet.track) {
            (PacketKind::Frame, Track::Video) if packet.keyframe => {
                out.extend(self.take_held());
                let mut packets: Vec<Bytes> = [&self.video_config, &self.audio_config]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                packets.push(encoded);
                out.push(Outgoing {
                    random_access: true,
                    packets,
                });
            }
            (PacketKind::Frame, Track::Audio) => {
                if self.held.is_empty() {
                    self.held_since_ms = packet.dts_ms;
                }
                self.held.push(encoded);
                let held_for = packet.dts_ms.saturating_sub(self.held_since_ms);
                // A timestamp that jumped back also ends the wait.
                if self.held.len() >= MAX_HELD || !(0..AUDIO_HOLD_MS).contains(&held_for) {
                    out.extend(self.take_held());
                }
            }
            (kind, track) => {
                if kind == PacketKind::Config {
                    let slot = match track {
                        Track::Video => &mut self.video_config,
                        Track::Audio => &mut self.audio_config,
                    };
                    *slot = Some(encoded.clone());
                }
                self.held.push(encoded);
                out.extend(self.take_held());
            }
        }
        out
    }

    /// The held packets as one message, if any.
    pub fn take_held(&mut self) -> Option<Outgoing> {
        (!self.held.is_empty()).then(|| Outgoing {
            random_access: false,
            packets: std::mem::take(&mut self.held),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: PacketKind, track: Track, keyframe: bool, dts_ms: i64) -> MediaPacket {
        MediaPacket {
            kind,
            track,
            keyframe,
            codec: livefleet_base::Codec::default_for(track),
            session: 1,
            dts_ms,
            pts_ms: dts_ms,
            data: Bytes::from(format!("{kind:?}{track:?}{dts_ms}")),
        }
    }

    /// Pushes `packets`, returns the messages as lists of the packets' data.
    fn run(group: &mut ChannelGroup, packets: &[MediaPacket]) -> Vec<(bool, Vec<String>)> {
        let mut out = Vec::new();
        for p in packets {
            for m in group.push(p, p.data.clone()) {
                let names = m
                    .packets
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect();
                out.push((m.random_access, names));
            }
        }
        out
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn audio_rides_with_the_next_video_frame_and_keyframes_start_on_key() {
        use PacketKind::*;
        let mut g = ChannelGroup::default();
        let sent = run(
            &mut g,
            &[
                packet(Config, Track::Video, false, 0),
                packet(Config, Track::Audio, false, 0),
                packet(Frame, Track::Video, true, 0),
                packet(Frame, Track::Audio, false, 10),
                packet(Frame, Track::Audio, false, 31),
                packet(Frame, Track::Video, false, 33),
                packet(Frame, Track::Audio, false, 52),
                packet(Frame, Track::Video, true, 66),
                packet(End, Track::Video, false, 66),
            ],
        );
        assert_eq!(
            sent,
            vec![
                (false, names(&["ConfigVideo0"])),
                (false, names(&["ConfigAudio0"])),
                (
                    true,
                    names(&["ConfigVideo0", "ConfigAudio0", "FrameVideo0"])
                ),
                (
                    false,
                    names(&["FrameAudio10", "FrameAudio31", "FrameVideo33"])
                ),
                (false, names(&["FrameAudio52"])),
                (
                    true,
                    names(&["ConfigVideo0", "ConfigAudio0", "FrameVideo66"])
                ),
                (false, names(&["EndVideo66"])),
            ]
        );
        assert_eq!(g.take_held(), None);
    }

    #[test]
    fn audio_alone_is_held_at_most_a_tenth_of_a_second() {
        let mut g = ChannelGroup::default();
        let audio: Vec<MediaPacket> = (0..10)
            .map(|i| packet(PacketKind::Frame, Track::Audio, false, i * 21))
            .collect();
        let sent = run(&mut g, &audio);
        // 0..=105 ms in the first message (105 - 0 >= 100), the rest held.
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.len(), 6);
        assert_eq!(g.take_held().map(|m| m.packets.len()), Some(4));
    }

    #[test]
    fn a_new_session_sends_the_old_ones_held_packets_first() {
        let mut g = ChannelGroup::default();
        run(
            &mut g,
            &[packet(PacketKind::Frame, Track::Audio, false, 500)],
        );
        let mut next = packet(PacketKind::Config, Track::Video, false, 0);
        next.session = 2;
        let sent = run(&mut g, &[next]);
        assert_eq!(
            sent,
            vec![
                (false, names(&["FrameAudio500"])),
                (false, names(&["ConfigVideo0"]))
            ]
        );
    }

    #[test]
    fn a_timestamp_jumping_back_sends_what_is_held() {
        let mut g = ChannelGroup::default();
        let sent = run(
            &mut g,
            &[
                packet(PacketKind::Frame, Track::Audio, false, 5000),
                packet(PacketKind::Frame, Track::Audio, false, 10),
            ],
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, names(&["FrameAudio5000", "FrameAudio10"]));
    }
}
