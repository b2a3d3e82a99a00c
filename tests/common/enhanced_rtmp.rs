//! An Enhanced RTMP publisher for the tests. No tool on a Debian 12 machine
//! publishes HEVC or AV1 over RTMP (the FLV muxers of FFmpeg 5.1 and
//! GStreamer 1.22 predate Enhanced RTMP), so this one reads an MP4 with
//! FFmpeg's demuxer and sends its packets as OBS does, through rml_rtmp's
//! client session: video as Enhanced RTMP tags (a SequenceStart with the
//! `hvcC` or `av1C` record, then CodedFrames), AAC as legacy FLV audio, paced
//! at real time.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ffmpeg_next as ff;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

/// One FLV tag body to send, at `dts_ms`.
struct Tag {
    video: bool,
    dts_ms: i64,
    body: Vec<u8>,
}

/// The tags of `file`'s first video stream (HEVC or AV1) and its first audio
/// stream (AAC), in the file's order, their clock starting at 0.
fn tags(file: &Path) -> Result<Vec<Tag>, String> {
    ff::init().map_err(|e| e.to_string())?;
    // Probing the streams opens their decoders; their banners are noise here.
    ff::util::log::set_level(ff::util::log::Level::Error);
    let mut input = ff::format::input(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let stream_of = |kind| input.streams().best(kind).map(|s| s.index());
    let video = stream_of(ff::media::Type::Video).ok_or("no video stream")?;
    let audio = stream_of(ff::media::Type::Audio);
    let extradata = |index: usize| -> Vec<u8> {
        let stream = input.stream(index).expect("stream");
        // SAFETY: reading FFmpeg-owned memory of the stated size.
        unsafe {
            let p = stream.parameters().as_ptr();
            if (*p).extradata.is_null() {
                return Vec::new();
            }
            std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize).to_vec()
        }
    };
    let codec = input.stream(video).unwrap().parameters().id();
    let fourcc: &[u8; 4] = match codec {
        ff::codec::Id::HEVC => b"hvc1",
        ff::codec::Id::AV1 => b"av01",
        other => return Err(format!("{other:?} is not sent over Enhanced RTMP here")),
    };
    let mut out = vec![Tag {
        video: true,
        dts_ms: 0,
        // SequenceStart, frame type 1.
        body: [&[0x90], &fourcc[..], &extradata(video)].concat(),
    }];
    if let Some(a) = audio {
        out.push(Tag {
            video: false,
            dts_ms: 0,
            body: [&[0xaf, 0x00][..], &extradata(a)].concat(),
        });
    }
    let bases: Vec<ff::Rational> = input.streams().map(|s| s.time_base()).collect();
    // Rounded to the nearest millisecond, as FFmpeg's FLV muxer stamps tags.
    let ms = |t: i64, base: ff::Rational| {
        (t as f64 * 1000.0 * f64::from(base.0) / f64::from(base.1)).round() as i64
    };
    let mut media = Vec::new();
    for (stream, packet) in input.packets() {
        let index = stream.index();
        let Some(data) = packet.data() else { continue };
        let base = bases[index];
        let dts = ms(packet.dts().or(packet.pts()).unwrap_or(0), base);
        let pts = ms(packet.pts().unwrap_or(dts), base);
        if index == video {
            let frame_type = if packet.is_key() { 0x10 } else { 0x20 };
            // CodedFrames; HEVC's carry a signed 24-bit composition time.
            let mut body = vec![0x81 | frame_type];
            body.extend_from_slice(fourcc);
            if codec == ff::codec::Id::HEVC {
                body.extend_from_slice(&((pts - dts) as i32).to_be_bytes()[1..]);
            }
            body.extend_from_slice(data);
            media.push(Tag {
                video: true,
                dts_ms: dts,
                body,
            });
        } else if Some(index) == audio {
            media.push(Tag {
                video: false,
                dts_ms: dts,
                body: [&[0xaf, 0x01][..], data].concat(),
            });
        }
    }
    // RTMP timestamps are unsigned: B-frames start the decode clock below 0.
    let first = media.iter().map(|t| t.dts_ms).min().unwrap_or(0);
    for t in &mut media {
        t.dts_ms -= first;
    }
    out.extend(media);
    Ok(out)
}

struct Client {
    socket: TcpStream,
    session: ClientSession,
}

impl Client {
    fn send(&mut self, r: ClientSessionResult) -> Result<(), String> {
        if let ClientSessionResult::OutboundResponse(p) = r {
            self.socket.write_all(&p.bytes).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Feeds what the server sent; true when `want` was among its events.
    fn feed(
        &mut self,
        bytes: &[u8],
        want: &dyn Fn(&ClientSessionEvent) -> bool,
    ) -> Result<bool, String> {
        let results = self
            .session
            .handle_input(bytes)
            .map_err(|e| format!("{e:?}"))?;
        let mut seen = false;
        for r in results {
            match r {
                // The server's error status (a refused or ended publish), as OBS shows it.
                ClientSessionResult::RaisedEvent(
                    ClientSessionEvent::UnhandleableOnStatusCode { code },
                ) if code.starts_with("NetStream.Publish.") => {
                    return Err(format!("the server said {code}"));
                }
                ClientSessionResult::RaisedEvent(e) => seen |= want(&e),
                other => self.send(other)?,
            }
        }
        Ok(seen)
    }

    fn wait_for(&mut self, want: &dyn Fn(&ClientSessionEvent) -> bool) -> Result<(), String> {
        let mut buf = vec![0u8; 8192];
        loop {
            let n = self.socket.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            if self.feed(&buf[..n], want)? {
                return Ok(());
            }
        }
    }
}

/// Publishes `file` to `url` (`rtmp://HOST:PORT/APP/KEY`) at real time. An
/// error status from the server (`NetStream.Publish.Denied`) is the error.
pub fn publish_enhanced(url: &str, file: &Path) -> Result<(), String> {
    let tags = tags(file)?;
    let rest = url.strip_prefix("rtmp://").ok_or("not an rtmp:// URL")?;
    let (addr, path) = rest.split_once('/').ok_or("no application")?;
    let (app, key) = path.split_once('/').ok_or("no stream key")?;
    let mut socket = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut handshake = Handshake::new(PeerType::Client);
    let p0p1 = handshake
        .generate_outbound_p0_and_p1()
        .map_err(|e| format!("{e:?}"))?;
    socket.write_all(&p0p1).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 8192];
    let remaining = loop {
        let n = socket.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        match handshake
            .process_bytes(&buf[..n])
            .map_err(|e| format!("{e:?}"))?
        {
            HandshakeProcessResult::InProgress { response_bytes } => socket
                .write_all(&response_bytes)
                .map_err(|e| e.to_string())?,
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                socket
                    .write_all(&response_bytes)
                    .map_err(|e| e.to_string())?;
                break remaining_bytes;
            }
        }
    };
    let (session, _) =
        ClientSession::new(ClientSessionConfig::new()).map_err(|e| format!("{e:?}"))?;
    let mut c = Client { socket, session };
    c.feed(&remaining, &|_| false)?;
    let r = c
        .session
        .request_connection(app.to_owned())
        .map_err(|e| format!("{e:?}"))?;
    c.send(r)?;
    c.wait_for(&|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))?;
    let r = c
        .session
        .request_publishing(key.to_owned(), PublishRequestType::Live)
        .map_err(|e| format!("{e:?}"))?;
    c.send(r)?;
    c.wait_for(&|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))?;
    c.socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let start = Instant::now();
    for tag in tags {
        let due = start + Duration::from_millis(tag.dts_ms.max(0) as u64);
        while Instant::now() < due {
            // What the server says meanwhile (acknowledgements) is read, so
            // its window never fills.
            match c.socket.read(&mut buf) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => {
                    c.feed(&buf[..n], &|_| false)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let timestamp = RtmpTimestamp::new(tag.dts_ms as u32);
        let body = Bytes::from(tag.body);
        let r = if tag.video {
            c.session.publish_video_data(body, timestamp, false)
        } else {
            c.session.publish_audio_data(body, timestamp, false)
        }
        .map_err(|e| format!("{e:?}"))?;
        c.socket.set_nonblocking(false).map_err(|e| e.to_string())?;
        c.send(r)?;
        c.socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    }
    c.socket.set_nonblocking(false).map_err(|e| e.to_string())?;
    for r in c.session.stop_publishing().map_err(|e| format!("{e:?}"))? {
        c.send(r)?;
    }
    Ok(())
}
