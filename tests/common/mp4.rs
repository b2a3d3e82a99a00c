//! A small ISO-BMFF box reader for checking our segments.

/// One ISO-BMFF box: type and payload (after the header).
pub struct Mp4Box<'a> {
    pub kind: [u8; 4],
    pub body: &'a [u8],
}

/// The boxes in `data`, in order (stops at the first malformed header).
pub fn boxes(mut data: &[u8]) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let mut size = u32::from_be_bytes(data[0..4].try_into().unwrap()) as u64;
        let kind: [u8; 4] = data[4..8].try_into().unwrap();
        let mut header = 8;
        if size == 1 && data.len() >= 16 {
            size = u64::from_be_bytes(data[8..16].try_into().unwrap());
            header = 16;
        } else if size == 0 {
            size = data.len() as u64;
        }
        if size < header as u64 || size as usize > data.len() {
            break;
        }
        out.push(Mp4Box {
            kind,
            body: &data[header..size as usize],
        });
        data = &data[size as usize..];
    }
    out
}

pub fn child<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let b = boxes(data).into_iter().find(|b| &b.kind == *first)?;
    if rest.is_empty() {
        Some(b.body)
    } else {
        child(b.body, rest)
    }
}

/// baseMediaDecodeTime of the (first) fragment of a media segment.
pub fn tfdt(segment: &[u8]) -> u64 {
    let body = child(segment, &[b"moof", b"traf", b"tfdt"]).expect("segment has moof/traf/tfdt");
    if body[0] == 1 {
        u64::from_be_bytes(body[4..12].try_into().unwrap())
    } else {
        u32::from_be_bytes(body[4..8].try_into().unwrap()) as u64
    }
}

/// Timescale of the single track of an init segment (mdhd).
pub fn timescale(init: &[u8]) -> u32 {
    let mdhd = child(init, &[b"moov", b"trak", b"mdia", b"mdhd"]).expect("init has mdhd");
    let at = if mdhd[0] == 1 { 20 } else { 12 };
    u32::from_be_bytes(mdhd[at..at + 4].try_into().unwrap())
}

/// Sum of the sample durations of a media segment's trun boxes, using tfhd defaults.
pub fn segment_duration(segment: &[u8]) -> u64 {
    let traf = child(segment, &[b"moof", b"traf"]).expect("traf");
    let mut default = 0u32;
    let mut total = 0u64;
    for b in boxes(traf) {
        if &b.kind == b"tfhd" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 8;
            }
            if flags & 0x2 != 0 {
                at += 4;
            }
            if flags & 0x8 != 0 {
                default = u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap());
            }
        }
        if &b.kind == b"trun" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let count = u32::from_be_bytes(b.body[4..8].try_into().unwrap());
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 4;
            }
            if flags & 0x4 != 0 {
                at += 4;
            }
            for _ in 0..count {
                let mut d = default;
                if flags & 0x100 != 0 {
                    d = u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap());
                    at += 4;
                }
                if flags & 0x200 != 0 {
                    at += 4;
                }
                if flags & 0x400 != 0 {
                    at += 4;
                }
                if flags & 0x800 != 0 {
                    at += 4;
                }
                total += u64::from(d);
            }
        }
    }
    total
}

/// First sample of a media segment is a sync sample (from trun first-sample-flags or sample flags).
pub fn starts_with_sync_sample(segment: &[u8]) -> bool {
    let traf = child(segment, &[b"moof", b"traf"]).expect("traf");
    let mut default_flags = None;
    for b in boxes(traf) {
        if &b.kind == b"tfhd" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 8;
            }
            if flags & 0x2 != 0 {
                at += 4;
            }
            if flags & 0x8 != 0 {
                at += 4;
            }
            if flags & 0x10 != 0 {
                at += 4;
            }
            if flags & 0x20 != 0 {
                default_flags = Some(u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap()));
            }
        }
        if &b.kind == b"trun" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 4;
            }
            let sample_flags = if flags & 0x4 != 0 {
                u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap())
            } else {
                let mut at2 = at;
                if flags & 0x100 != 0 {
                    at2 += 4;
                }
                if flags & 0x200 != 0 {
                    at2 += 4;
                }
                if flags & 0x400 != 0 {
                    u32::from_be_bytes(b.body[at2..at2 + 4].try_into().unwrap())
                } else {
                    default_flags.unwrap_or(0x10000)
                }
            };
            // sample_is_non_sync_sample is bit 16.
            return sample_flags & 0x1_0000 == 0;
        }
    }
    false
}
