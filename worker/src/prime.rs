//! The start of a session: packets are read until the decoder gives its
//! first frame, which tells the source's size and the timeline's origin.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use ff::frame;
use ffmpeg_next as ff;
use livefleet_base::Track;

use crate::decode::{Refused, VideoDecode};
use crate::progress::Progress;
use crate::source::PacketSource;
use crate::PipelineError;

/// The packets read before the first decoded frame, and that frame.
pub(crate) struct Primed {
    pub first: frame::Video,
    pub pending: VecDeque<(Track, ff::Packet)>,
    /// The source ended before the decoder gave its first frame (a clip of
    /// fewer frames than the decoder holds back): nothing more to read.
    pub ended: bool,
}

/// Reads until the first decoded frame: it tells the source's size and the timeline's origin.
pub(crate) fn prime(
    source: &mut dyn PacketSource,
    decode: &mut VideoDecode,
    progress: &Progress,
) -> Result<Option<Primed>, PipelineError> {
    let mut pending = VecDeque::new();
    loop {
        let Some((track, packet)) = source.next_packet()? else {
            // What the decoder still holds: a one-frame clip is a frame, not "no frames".
            decode.finish();
            return Ok(decode.pull()?.map(|first| Primed {
                first,
                pending,
                ended: true,
            }));
        };
        let mut first = None;
        if track == Track::Video {
            match decode.push(&packet) {
                Ok(()) => {}
                Err(Refused::Corrupt(_)) => {
                    progress.corrupt_packets.fetch_add(1, Ordering::Relaxed);
                }
                Err(Refused::Gpu(message)) => return Err(PipelineError::nvdec_failed(message)),
            }
            first = decode.pull()?;
        }
        pending.push_back((track, packet));
        if let Some(first) = first {
            return Ok(Some(Primed {
                first,
                pending,
                ended: false,
            }));
        }
    }
}
