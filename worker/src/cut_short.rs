//! An MP4/MOV file cut short (copied or uploaded only in part), found from
//! its top-level boxes before FFmpeg opens it.

/// Where an MP4/MOV file was cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CutShort {
    #[error("box header at byte {at} is cut off")]
    Header { at: u64 },
    #[error("its '{kind}' box at byte {at} declares {size} bytes, but the file ends {left} bytes later (copied or uploaded only in part?)")]
    Box {
        kind: String,
        at: u64,
        size: u64,
        left: u64,
    },
}

/// An MP4/MOV file whose top-level boxes run past its end was cut short.
/// FFmpeg opens such a file when only the end of `moov` is missing, with
/// whatever tracks the part that is there describes (typically the video
/// without the audio) and without a word: refused here, naming the box.
/// Not a local file, or not ISO BMFF: nothing to check.
pub(crate) fn check_boxes(path: &std::path::Path) -> Result<(), CutShort> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return Ok(());
    };
    let mut at = 0u64;
    let mut first = true;
    while at + 8 <= len {
        let mut head = [0u8; 16];
        if file.seek(SeekFrom::Start(at)).is_err() || file.read_exact(&mut head[..8]).is_err() {
            return Ok(());
        }
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        if first && &kind != b"ftyp" {
            return Ok(()); // not ISO BMFF
        }
        first = false;
        if !kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Ok(()); // not a box header: leave the judgement to FFmpeg
        }
        let size = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
            0 => return Ok(()), // the last box runs to the end of the file
            1 => {
                if file.read_exact(&mut head[8..16]).is_err() {
                    return Err(CutShort::Header { at });
                }
                u64::from_be_bytes(head[8..16].try_into().unwrap_or_default())
            }
            n => u64::from(n),
        };
        if size < 8 {
            return Ok(());
        }
        if at.saturating_add(size) > len {
            return Err(CutShort::Box {
                kind: String::from_utf8_lossy(&kind).into_owned(),
                at,
                size,
                left: len - at,
            });
        }
        at += size;
    }
    Ok(())
}
