//! Several encoded media packets of one channel in one NATS message, so
//! that the bus carries a message per video frame instead of one per packet
//! (`docs/design/media-transport.md`, "Batching"). Sans-IO: packets in,
//! bytes out, and back.
//!
//! Wire form: [`BATCH_TAG`], a big-endian `u16` count, then per packet a
//! big-endian `u32` length and the packet's bytes. A message that does not
//! start with the tag is one packet on its own (what a single packet, and an
//! ingest from before batching, sends): the tag is not a valid first byte of
//! an encoded `MediaPacket`.

use bytes::{BufMut, Bytes, BytesMut};

/// First byte of a batch.
pub const BATCH_TAG: u8 = 0xB7;
/// Most packets one batch may hold.
pub const MAX_PACKETS: usize = 1024;

/// Why a batch was refused. The caller logs it and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("media batch of {0} bytes is shorter than its 3-byte header")]
    Short(usize),
    #[error("media batch says it holds {0} packets (1 to {MAX_PACKETS})")]
    Count(usize),
    #[error("media batch ends inside packet {index} of {count}")]
    Truncated { index: usize, count: usize },
    #[error("media batch has {0} bytes after its last packet")]
    Trailing(usize),
}

/// One message for `packets` (each an encoded `MediaPacket`): the packet
/// itself when there is one, a batch otherwise.
///
/// # Panics
/// When `packets` is empty or holds more than [`MAX_PACKETS`] (the
/// publisher's own bound, not input from outside).
pub fn pack(packets: &[Bytes]) -> Bytes {
    assert!(
        (1..=MAX_PACKETS).contains(&packets.len()),
        "a batch holds 1 to {MAX_PACKETS} packets, not {}",
        packets.len()
    );
    if let [one] = packets {
        return one.clone();
    }
    let len = 3 + packets.iter().map(|p| 4 + p.len()).sum::<usize>();
    let mut b = BytesMut::with_capacity(len);
    b.put_u8(BATCH_TAG);
    b.put_u16(packets.len() as u16);
    for p in packets {
        b.put_u32(u32::try_from(p.len()).unwrap_or(u32::MAX));
        b.extend_from_slice(p);
    }
    b.freeze()
}

/// The packets of one message, in order, sharing its buffer. Never panics.
pub fn unpack(message: Bytes) -> Result<Vec<Bytes>, BatchError> {
    if message.first() != Some(&BATCH_TAG) {
        return Ok(vec![message]);
    }
    if message.len() < 3 {
        return Err(BatchError::Short(message.len()));
    }
    let count = usize::from(u16::from_be_bytes([message[1], message[2]]));
    if !(1..=MAX_PACKETS).contains(&count) {
        return Err(BatchError::Count(count));
    }
    let mut packets = Vec::with_capacity(count);
    let mut at = 3;
    for index in 0..count {
        let truncated = BatchError::Truncated { index, count };
        let head = message.get(at..at + 4).ok_or(truncated.clone())?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        at += 4;
        let end = at.checked_add(len).filter(|end| *end <= message.len());
        let end = end.ok_or(truncated)?;
        packets.push(message.slice(at..end));
        at = end;
    }
    if at != message.len() {
        return Err(BatchError::Trailing(message.len() - at));
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets() -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"\x01audio"),
            Bytes::new(),
            Bytes::from(vec![1u8; 70_000]),
        ]
    }

    #[test]
    fn round_trips() {
        let p = packets();
        let message = pack(&p);
        assert_eq!(message[0], BATCH_TAG);
        assert_eq!(unpack(message).unwrap(), p);
    }

    #[test]
    fn one_packet_travels_as_itself() {
        let one = Bytes::from_static(b"\x01video");
        assert_eq!(pack(std::slice::from_ref(&one)), one);
        assert_eq!(unpack(one.clone()).unwrap(), vec![one]);
    }

    #[test]
    fn refuses_broken_batches() {
        let whole = pack(&packets());
        let cut = whole.slice(..whole.len() - 1);
        assert_eq!(
            unpack(cut),
            Err(BatchError::Truncated { index: 2, count: 3 })
        );
        let mut long = whole.to_vec();
        long.push(0);
        assert_eq!(unpack(Bytes::from(long)), Err(BatchError::Trailing(1)));
        assert_eq!(
            unpack(Bytes::from_static(&[BATCH_TAG, 0])),
            Err(BatchError::Short(2))
        );
        assert_eq!(
            unpack(Bytes::from_static(&[BATCH_TAG, 0, 0])),
            Err(BatchError::Count(0))
        );
        // A length that points past the end, even near usize::MAX.
        assert!(unpack(Bytes::from_static(&[
            BATCH_TAG, 0, 1, 255, 255, 255, 255, 1
        ]))
        .is_err());
    }
}
