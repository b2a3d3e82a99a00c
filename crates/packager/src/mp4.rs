//! CMAF boxes: init segments (ftyp + moov with mvex) and media segments
//! (styp + moof + mdat), one track per file, track ID 1.

use crate::{TrackMedia, TrackSpec, VideoCodecConfig};

/// Sample flags (ISO/IEC 14496-12 8.8.3.1) of a sync sample.
const SYNC: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample that depends on others.
const NON_SYNC: u32 = 0x0101_0000;

/// Writes `typ` around what `body` writes, then patches the size.
fn bx(out: &mut Vec<u8>, typ: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(typ);
    body(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags before the body.
fn full(
    out: &mut Vec<u8>,
    typ: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    bx(out, typ, |o| {
        o.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
        body(o);
    });
}

fn u16b(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}
fn u32b(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The init segment of one track.
pub(crate) fn init_segment(spec: &TrackSpec) -> Vec<u8> {
    let mut o = Vec::with_capacity(1024);
    bx(&mut o, b"ftyp", |o| {
        o.extend_from_slice(b"cmfc");
        u32b(o, 0);
        for brand in [b"cmfc", b"cmf2", b"iso6", b"mp41"] {
            o.extend_from_slice(brand);
        }
    });
    let video = matches!(spec.media, TrackMedia::Video { .. });
    bx(&mut o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            u32b(o, 0);
            u32b(o, 0);
            u32b(o, 1000);
            u32b(o, 0);
            u32b(o, 0x0001_0000);
            u16b(o, 0x0100);
            o.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|m| u32b(o, *m));
            o.extend_from_slice(&[0; 24]);
            u32b(o, 2);
        });
        bx(o, b"trak", |o| {
            full(o, b"tkhd", 0, 3, |o| {
                u32b(o, 0);
                u32b(o, 0);
                u32b(o, 1);
                u32b(o, 0);
                u32b(o, 0);
                o.extend_from_slice(&[0; 8]);
                u16b(o, 0);
                u16b(o, 0);
                u16b(o, if video { 0 } else { 0x0100 });
                u16b(o, 0);
                MATRIX.iter().for_each(|m| u32b(o, *m));
                let (w, h) = match &spec.media {
                    TrackMedia::Video { width, height, .. } => (*width, *height),
                    TrackMedia::Audio { .. } => (0, 0),
                };
                u32b(o, w << 16);
                u32b(o, h << 16);
            });
            bx(o, b"mdia", |o| {
                full(o, b"mdhd", 0, 0, |o| {
                    u32b(o, 0);
                    u32b(o, 0);
                    u32b(o, spec.timescale);
                    u32b(o, 0);
                    u16b(o, 0x55c4); // "und"
                    u16b(o, 0);
                });
                full(o, b"hdlr", 0, 0, |o| {
                    u32b(o, 0);
                    o.extend_from_slice(if video { b"vide" } else { b"soun" });
                    o.extend_from_slice(&[0; 12]);
                    o.extend_from_slice(if video {
                        b"livefleet video\0"
                    } else {
                        b"livefleet audio\0"
                    });
                });
                bx(o, b"minf", |o| {
                    if video {
                        full(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                    } else {
                        full(o, b"smhd", 0, 0, |o| o.extend_from_slice(&[0; 4]));
                    }
                    bx(o, b"dinf", |o| {
                        full(o, b"dref", 0, 0, |o| {
                            u32b(o, 1);
                            full(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    bx(o, b"stbl", |o| {
                        full(o, b"stsd", 0, 0, |o| {
                            u32b(o, 1);
                            sample_entry(o, spec);
                        });
                        full(o, b"stts", 0, 0, |o| u32b(o, 0));
                        full(o, b"stsc", 0, 0, |o| u32b(o, 0));
                        full(o, b"stsz", 0, 0, |o| o.extend_from_slice(&[0; 8]));
                        full(o, b"stco", 0, 0, |o| u32b(o, 0));
                    });
                });
            });
        });
        bx(o, b"mvex", |o| {
            full(o, b"trex", 0, 0, |o| {
                u32b(o, 1);
                u32b(o, 1);
                u32b(o, 0);
                u32b(o, 0);
                u32b(o, 0);
            });
        });
    });
    o
}

fn sample_entry(o: &mut Vec<u8>, spec: &TrackSpec) {
    match &spec.media {
        TrackMedia::Video {
            width,
            height,
            codec,
            ..
        } => {
            let (typ, config_box, record) = match codec {
                VideoCodecConfig::Avc { avcc, .. } => (b"avc1", b"avcC", avcc),
                VideoCodecConfig::Hevc { hvcc, .. } => (b"hvc1", b"hvcC", hvcc),
            };
            bx(o, typ, |o| {
                o.extend_from_slice(&[0; 6]);
                u16b(o, 1);
                o.extend_from_slice(&[0; 16]);
                u16b(o, *width as u16);
                u16b(o, *height as u16);
                u32b(o, 0x0048_0000);
                u32b(o, 0x0048_0000);
                u32b(o, 0);
                u16b(o, 1);
                o.extend_from_slice(&[0; 32]);
                u16b(o, 0x0018);
                u16b(o, 0xffff);
                bx(o, config_box, |o| o.extend_from_slice(record));
                bx(o, b"pasp", |o| {
                    u32b(o, 1);
                    u32b(o, 1);
                });
            });
        }
        TrackMedia::Audio { codec } => {
            bx(o, b"mp4a", |o| {
                o.extend_from_slice(&[0; 6]);
                u16b(o, 1);
                o.extend_from_slice(&[0; 8]);
                u16b(o, u16::from(codec.channels()));
                u16b(o, 16);
                u32b(o, 0);
                u32b(o, codec.sample_rate().min(65535) << 16);
                full(o, b"esds", 0, 0, |o| {
                    let asc = codec.asc();
                    let dsi_len = asc.len();
                    let dcd_len = 13 + 2 + dsi_len;
                    let es_len = 3 + 2 + dcd_len + 3;
                    o.extend_from_slice(&[0x03, es_len as u8]);
                    u16b(o, 1);
                    o.push(0);
                    o.extend_from_slice(&[0x04, dcd_len as u8, 0x40, 0x15, 0, 0, 0]);
                    u32b(o, spec.bandwidth.min(u64::from(u32::MAX)) as u32);
                    u32b(o, spec.bandwidth.min(u64::from(u32::MAX)) as u32);
                    o.extend_from_slice(&[0x05, dsi_len as u8]);
                    o.extend_from_slice(asc);
                    o.extend_from_slice(&[0x06, 0x01, 0x02]);
                });
            });
        }
    }
}

/// One sample as it goes into a `trun`.
pub(crate) struct FragSample<'a> {
    pub duration: u32,
    pub cts: i32,
    pub sync: bool,
    pub data: &'a [u8],
}

/// A media segment: `styp`, one `moof` with one `traf`, one `mdat`.
pub(crate) fn media_segment(
    sequence: u32,
    base_time: u64,
    video: bool,
    samples: &[FragSample],
) -> Vec<u8> {
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut o = Vec::with_capacity(payload + 64 + samples.len() * 16);
    bx(&mut o, b"styp", |o| {
        o.extend_from_slice(b"msdh");
        u32b(o, 0);
        o.extend_from_slice(b"msdh");
        o.extend_from_slice(b"cmfs");
    });
    let moof_start = o.len();
    let mut offset_at = 0;
    bx(&mut o, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32b(o, sequence));
        bx(o, b"traf", |o| {
            full(o, b"tfhd", 0, 0x02_0000, |o| u32b(o, 1));
            full(o, b"tfdt", 1, 0, |o| {
                o.extend_from_slice(&base_time.to_be_bytes())
            });
            let flags = if video {
                0x001 | 0x100 | 0x200 | 0x400 | 0x800
            } else {
                0x001 | 0x100 | 0x200
            };
            full(o, b"trun", 1, flags, |o| {
                u32b(o, samples.len() as u32);
                offset_at = o.len();
                u32b(o, 0);
                for s in samples {
                    u32b(o, s.duration);
                    u32b(o, s.data.len() as u32);
                    if video {
                        u32b(o, if s.sync { SYNC } else { NON_SYNC });
                        o.extend_from_slice(&s.cts.to_be_bytes());
                    }
                }
            });
        });
    });
    let data_offset = (o.len() - moof_start + 8) as u32;
    o[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let mdat_size = (8 + payload) as u32;
    u32b(&mut o, mdat_size);
    o.extend_from_slice(b"mdat");
    for s in samples {
        o.extend_from_slice(s.data);
    }
    o
}
