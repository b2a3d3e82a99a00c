//! Splitting media messages larger than the server's `max_payload` into
//! fragments, and putting them back together. Sans-IO: header values and
//! payloads in, whole messages out.
//!
//! Every fragment carries two headers: [`FRAG_HEADER`] = `<index>/<count>`
//! (index from 0) and [`FRAG_ID_HEADER`] = a per-message id in hex. A message
//! that fits travels without either header. Fragments of one message are
//! published in order on one connection, so the ordered consumer sees them
//! back to back unless a second publisher writes the same channel.

use bytes::{Bytes, BytesMut};

/// `<index>/<count>` of a fragment.
pub const FRAG_HEADER: &str = "Livefleet-Frag";
/// The id shared by the fragments of one message, lower-case hex.
pub const FRAG_ID_HEADER: &str = "Livefleet-Frag-Id";
/// Most fragments one message may have.
pub const MAX_FRAGMENTS: u32 = 1024;
/// Largest message that is reassembled; a bigger group is refused.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Which part of a message a NATS message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole message.
    Whole,
    /// Fragment `index` of `count` of message `id`.
    Fragment { id: u64, index: u32, count: u32 },
}

/// Why a fragment was refused. The caller logs it and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("bad {FRAG_HEADER} header {0:?}; expected <index>/<count>")]
    BadHeader(String),
    #[error("bad or missing {FRAG_ID_HEADER} header {0:?}")]
    BadId(String),
    #[error("fragment {index}/{count} is out of range (at most {MAX_FRAGMENTS} fragments)")]
    OutOfRange { index: u32, count: u32 },
    #[error("fragments add up to more than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("fragment {index}/{count} of message {id:x} arrived without the fragments before it")]
    Orphan { id: u64, index: u32, count: u32 },
}

impl Part {
    /// Reads the two header values (absent headers are `None`).
    pub fn parse(frag: Option<&str>, id: Option<&str>) -> Result<Part, FragmentError> {
        let Some(frag) = frag else {
            return Ok(Part::Whole);
        };
        let bad = || FragmentError::BadHeader(frag.chars().take(64).collect());
        let (index, count) = frag.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_FRAGMENTS || index >= count {
            return Err(FragmentError::OutOfRange { index, count });
        }
        let id_text = id.unwrap_or("");
        let id = u64::from_str_radix(id_text.trim(), 16)
            .map_err(|_| FragmentError::BadId(id_text.chars().take(64).collect()))?;
        Ok(Part::Fragment { id, index, count })
    }

    /// The values of [`FRAG_HEADER`] and [`FRAG_ID_HEADER`], `None` for a whole message.
    pub fn header_values(&self) -> Option<(String, String)> {
        match *self {
            Part::Whole => None,
            Part::Fragment { id, index, count } => {
                Some((format!("{index}/{count}"), format!("{id:x}")))
            }
        }
    }
}

/// Splits `message` into pieces of at most `max` bytes (at least one piece).
pub fn split(message: &Bytes, max: usize) -> Vec<Bytes> {
    let max = max.max(1);
    if message.len() <= max {
        return vec![message.clone()];
    }
    (0..message.len())
        .step_by(max)
        .map(|at| message.slice(at..(at + max).min(message.len())))
        .collect()
}

struct Partial {
    id: u64,
    count: u32,
    next: u32,
    first_seq: u64,
    buf: BytesMut,
}

/// Puts fragments back together, one message at a time.
pub struct Reassembler {
    label: String,
    partial: Option<Partial>,
}

impl Reassembler {
    /// `label` names the stream in log lines (e.g. the channel).
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            partial: None,
        }
    }

    /// Takes the message at stream sequence `seq`. Returns a whole message
    /// with the sequence of its first fragment once complete. An unfinished
    /// message interrupted by another one is dropped with a warning; the new
    /// one is kept.
    pub fn push(
        &mut self,
        seq: u64,
        part: Part,
        payload: Bytes,
    ) -> Result<Option<(u64, Bytes)>, FragmentError> {
        let (id, index, count) = match part {
            Part::Whole => {
                self.abandon(seq);
                return Ok(Some((seq, payload)));
            }
            Part::Fragment { id, index, count } => (id, index, count),
        };
        if count > MAX_FRAGMENTS || index >= count {
            self.abandon(seq);
            return Err(FragmentError::OutOfRange { index, count });
        }
        if index == 0 {
            self.abandon(seq);
            if payload.len() > MAX_MESSAGE {
                return Err(FragmentError::TooLarge);
            }
            let mut buf =
                BytesMut::with_capacity(payload.len().saturating_mul(count as usize).min(16 << 20));
            buf.extend_from_slice(&payload);
            self.partial = Some(Partial {
                id,
                count,
                next: 1,
                first_seq: seq,
                buf,
            });
        } else {
            let Some(partial) = self
                .partial
                .as_mut()
                .filter(|p| p.id == id && p.count == count && p.next == index)
            else {
                self.abandon(seq);
                return Err(FragmentError::Orphan { id, index, count });
            };
            if partial.buf.len() + payload.len() > MAX_MESSAGE {
                self.partial = None;
                return Err(FragmentError::TooLarge);
            }
            partial.buf.extend_from_slice(&payload);
            partial.next += 1;
        }
        match self.partial.take() {
            Some(p) if p.next == p.count => Ok(Some((p.first_seq, p.buf.freeze()))),
            other => {
                self.partial = other;
                Ok(None)
            }
        }
    }

    fn abandon(&mut self, seq: u64) {
        if let Some(p) = self.partial.take() {
            tracing::warn!(
                stream = %self.label,
                seq,
                "dropping message {:x} from seq {}: got {} of its {} fragments before seq {seq}",
                p.id,
                p.first_seq,
                p.next,
                p.count
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        assert_eq!(Part::parse(None, None), Ok(Part::Whole));
        assert_eq!(
            Part::parse(Some("1/3"), Some("ff")),
            Ok(Part::Fragment {
                id: 255,
                index: 1,
                count: 3
            })
        );
        assert!(matches!(
            Part::parse(Some("3/3"), Some("1")),
            Err(FragmentError::OutOfRange { .. })
        ));
        assert!(matches!(
            Part::parse(Some("0/0"), Some("1")),
            Err(FragmentError::OutOfRange { .. })
        ));
        assert!(matches!(
            Part::parse(Some("x"), Some("1")),
            Err(FragmentError::BadHeader(_))
        ));
        assert!(matches!(
            Part::parse(Some("0/2"), None),
            Err(FragmentError::BadId(_))
        ));
        let p = Part::Fragment {
            id: 0xabc,
            index: 2,
            count: 5,
        };
        let (f, i) = p.header_values().unwrap();
        assert_eq!(Part::parse(Some(&f), Some(&i)), Ok(p));
    }

    #[test]
    fn splits_and_reassembles() {
        let msg = Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let pieces = split(&msg, 3000);
        assert_eq!(pieces.len(), 4);
        let count = pieces.len() as u32;
        let mut r = Reassembler::new("test");
        let mut out = None;
        for (i, piece) in pieces.into_iter().enumerate() {
            out = r
                .push(
                    10 + i as u64,
                    Part::Fragment {
                        id: 7,
                        index: i as u32,
                        count,
                    },
                    piece,
                )
                .unwrap();
        }
        assert_eq!(out, Some((10, msg)));
    }

    #[test]
    fn drops_orphans_and_interrupted_messages() {
        let mut r = Reassembler::new("test");
        let b = Bytes::from_static(b"ab");
        assert!(matches!(
            r.push(
                1,
                Part::Fragment {
                    id: 1,
                    index: 1,
                    count: 2
                },
                b.clone()
            ),
            Err(FragmentError::Orphan { .. })
        ));
        assert_eq!(
            r.push(
                2,
                Part::Fragment {
                    id: 1,
                    index: 0,
                    count: 2
                },
                b.clone()
            ),
            Ok(None)
        );
        // A whole message interrupts: the partial one is dropped.
        assert_eq!(r.push(3, Part::Whole, b.clone()), Ok(Some((3, b.clone()))));
        assert!(r
            .push(
                4,
                Part::Fragment {
                    id: 1,
                    index: 1,
                    count: 2
                },
                b.clone()
            )
            .is_err());
        // A new first fragment replaces an unfinished message.
        assert_eq!(
            r.push(
                5,
                Part::Fragment {
                    id: 2,
                    index: 0,
                    count: 2
                },
                b.clone()
            ),
            Ok(None)
        );
        assert_eq!(
            r.push(
                6,
                Part::Fragment {
                    id: 3,
                    index: 0,
                    count: 2
                },
                b.clone()
            ),
            Ok(None)
        );
        let done = r
            .push(
                7,
                Part::Fragment {
                    id: 3,
                    index: 1,
                    count: 2,
                },
                b.clone(),
            )
            .unwrap();
        assert_eq!(done, Some((6, Bytes::from_static(b"abab"))));
    }
}
