//! One RTMP connection as a sans-IO state machine: bytes in, events out.
//!
//! [`RtmpConnection`] runs the handshake, then rml_rtmp's [`ServerSession`],
//! and turns the publisher's audio and video messages into [`MediaPacket`]s
//! through a [`TagReader`] and a [`MediaTimeline`]. It never touches a
//! socket or a clock: the server feeds it what it reads and writes what it is
//! told to send, and decides on publish requests (the stream key check is
//! asynchronous) through [`RtmpConnection::accept_publish`] and
//! [`RtmpConnection::refuse_publish`].
//!
//! Hostile input: rml_rtmp 0.8 can panic on some malformed chunk streams
//! (arithmetic on lengths a type 1/2 chunk changes mid-message, a bare
//! `@setDataFrame`), so every call into it is contained with
//! `catch_unwind` and reported as [`ProtocolError::Library`]. It also accepts
//! any Set Chunk Size up to 2^31-1, including 0; a chunk-level guard in front
//! of the session refuses 0 and anything above the configured maximum, and
//! refuses window acknowledgement sizes that would overflow its counters.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use livefleet_base::{ChannelName, MediaPacket, Track};
use livefleet_flv::{FlvError, MediaTimeline, TagReader, TimestampJump};
use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
use rml_rtmp::handshake::{Handshake, HandshakeError, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

/// Largest chunk size the RTMP chunk format can express for a single message
/// (message lengths are 24 bits); larger values are meaningless.
pub const MAX_USEFUL_CHUNK_SIZE: u32 = 0xff_ffff;

/// The chunk size this server announces to every client after the handshake.
const OUTBOUND_CHUNK_SIZE: u32 = 4096;
const SET_CHUNK_SIZE: u8 = 1;
const WINDOW_ACK_SIZE: u8 = 5;
/// Larger window acknowledgement sizes overflow rml_rtmp's 32-bit byte counter.
const MAX_WINDOW_ACK_SIZE: u32 = 0x7fff_ffff;

/// What one connection accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// The RTMP application publishers must connect to (`rtmp://host/<app>/<key>`).
    pub app: String,
    /// Largest Set Chunk Size accepted from the publisher.
    pub max_chunk_size: u32,
}

/// A publish the client asked for, waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    /// rml_rtmp's id of the outstanding request.
    pub request_id: u32,
    /// The stream name the client publishes to: the stream key.
    pub stream_key: String,
}

/// What the publisher says about its stream in `onMetaData`; informational only.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f32>,
    pub video_kbps: Option<u32>,
    pub audio_kbps: Option<u32>,
    pub encoder: Option<String>,
}

impl From<StreamMetadata> for StreamInfo {
    fn from(m: StreamMetadata) -> Self {
        Self {
            width: m.video_width,
            height: m.video_height,
            frame_rate: m.video_frame_rate,
            video_kbps: m.video_bitrate_kbps,
            audio_kbps: m.audio_bitrate_kbps,
            encoder: m.encoder,
        }
    }
}

/// Something the owner of the connection must act on, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionEvent {
    /// Bytes to write to the peer, in order, before anything else.
    Send(Bytes),
    /// The client asks to publish; answer with `accept_publish` or `refuse_publish`.
    PublishRequested(PublishRequest),
    /// A packet of the accepted publish.
    Media(MediaPacket),
    /// The publisher sent `onMetaData`.
    Metadata(StreamInfo),
    /// The publisher ended its publish (`deleteStream` / `closeStream`).
    PublishFinished,
    /// The client asked for something this server refuses (wrong application,
    /// playback, a second publish); the error status is in the preceding
    /// `Send`. The connection is finished.
    Refused { reason: String },
}

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("RTMP handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("RTMP chunk stream is invalid: {0}")]
    Chunk(String),
    #[error("publisher set a chunk size of {size}; accepted are 1 to {max}")]
    ChunkSize { size: u32, max: u32 },
    #[error("publisher set a window acknowledgement size of {0}; at most {MAX_WINDOW_ACK_SIZE} is accepted")]
    WindowAckSize(u32),
    #[error("the RTMP library panicked on this input ({0})")]
    Library(String),
    #[error("bad video: {0}")]
    Video(FlvError),
    #[error("bad audio: {0}")]
    Audio(FlvError),
    #[error("{0}")]
    Timestamp(#[from] TimestampJump),
    #[error("connection is already closed")]
    Closed,
}

impl ProtocolError {
    /// A short label for metrics, from a fixed set.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Handshake(_) => "handshake",
            Self::Chunk(_) => "chunk",
            Self::ChunkSize { .. } => "chunk_size",
            Self::WindowAckSize(_) => "window_ack_size",
            Self::Library(_) => "library_panic",
            Self::Video(FlvError::EnhancedVideo { .. } | FlvError::UnsupportedVideo { .. })
            | Self::Audio(FlvError::UnsupportedAudio { .. }) => "unsupported_codec",
            Self::Video(_) => "video",
            Self::Audio(_) => "audio",
            Self::Timestamp(_) => "timestamp",
            Self::Closed => "closed",
        }
    }
}

struct Publish {
    reader: TagReader,
    timeline: MediaTimeline,
}

enum Stage {
    Handshake(Box<Handshake>),
    Session {
        session: Box<ServerSession>,
        guard: Box<ChunkDeserializer>,
    },
    Closed,
}

/// The server side of one RTMP connection (see the module docs).
pub struct RtmpConnection {
    settings: ConnectionSettings,
    stage: Stage,
    pending: Option<u32>,
    publish: Option<Publish>,
    channel: Option<ChannelName>,
}

fn contained<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, ProtocolError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ProtocolError::Library(what.to_owned()))
}

impl RtmpConnection {
    /// A connection waiting for the client's handshake.
    pub fn new(settings: ConnectionSettings) -> Self {
        Self {
            settings,
            stage: Stage::Handshake(Box::new(Handshake::new(PeerType::Server))),
            pending: None,
            publish: None,
            channel: None,
        }
    }

    /// Whether the handshake is done.
    pub fn handshake_done(&self) -> bool {
        !matches!(self.stage, Stage::Handshake(_))
    }

    /// The channel of the accepted publish, if any.
    pub fn channel(&self) -> Option<&ChannelName> {
        self.channel.as_ref()
    }

    /// The session id of the accepted publish, if any.
    pub fn session(&self) -> Option<u32> {
        self.publish.as_ref().map(|p| p.reader.session())
    }

    /// Feeds bytes read from the peer and appends what to do to `events`.
    /// On an error, the events produced before it are still in `events` (act
    /// on them, then close); the connection is closed and every further call
    /// fails with [`ProtocolError::Closed`].
    pub fn handle_input(
        &mut self,
        bytes: &[u8],
        events: &mut Vec<ConnectionEvent>,
    ) -> Result<(), ProtocolError> {
        let result = self.input(bytes, events);
        if result.is_err() {
            self.stage = Stage::Closed;
        }
        result
    }

    fn input(
        &mut self,
        bytes: &[u8],
        events: &mut Vec<ConnectionEvent>,
    ) -> Result<(), ProtocolError> {
        match &mut self.stage {
            Stage::Closed => Err(ProtocolError::Closed),
            Stage::Handshake(handshake) => {
                match contained("handshake", || handshake.process_bytes(bytes))?? {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        push_send(events, response_bytes);
                        Ok(())
                    }
                    HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    } => {
                        push_send(events, response_bytes);
                        let mut config = ServerSessionConfig::new();
                        config.chunk_size = OUTBOUND_CHUNK_SIZE;
                        let (session, results) =
                            contained("session start", || ServerSession::new(config))?
                                .map_err(|e| ProtocolError::Chunk(e.to_string()))?;
                        self.stage = Stage::Session {
                            session: Box::new(session),
                            guard: Box::new(ChunkDeserializer::new()),
                        };
                        self.results(results, events)?;
                        if remaining_bytes.is_empty() {
                            Ok(())
                        } else {
                            self.input(&remaining_bytes, events)
                        }
                    }
                }
            }
            Stage::Session { session, guard } => {
                check_chunks(guard, bytes, self.settings.max_chunk_size)?;
                let results = contained("session input", || session.handle_input(bytes))?
                    .map_err(|e| ProtocolError::Chunk(e.to_string()))?;
                self.results(results, events)
            }
        }
    }

    fn results(
        &mut self,
        results: Vec<ServerSessionResult>,
        events: &mut Vec<ConnectionEvent>,
    ) -> Result<(), ProtocolError> {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => push_send(events, packet.bytes),
                ServerSessionResult::RaisedEvent(event) => self.event(event, events)?,
                ServerSessionResult::UnhandleableMessageReceived(payload) => {
                    tracing::trace!(type_id = payload.type_id, "ignoring RTMP message");
                }
            }
            if matches!(self.stage, Stage::Closed) {
                break;
            }
        }
        Ok(())
    }

    fn event(
        &mut self,
        event: ServerSessionEvent,
        events: &mut Vec<ConnectionEvent>,
    ) -> Result<(), ProtocolError> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                if app_name == self.settings.app {
                    let results = self.session_call(|s| s.accept_request(request_id))?;
                    self.results(results, events)?;
                } else {
                    let reason = format!(
                        "unknown application {app_name:?}; publish to rtmp://HOST/{}/<stream key>",
                        self.settings.app
                    );
                    self.refuse(request_id, "NetConnection.Connect.Rejected", reason, events)?;
                }
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if self.pending.is_some() || self.publish.is_some() {
                    let reason = "this connection already publishes a stream".to_owned();
                    self.refuse(request_id, "NetStream.Publish.BadName", reason, events)?;
                } else {
                    self.pending = Some(request_id);
                    events.push(ConnectionEvent::PublishRequested(PublishRequest {
                        request_id,
                        stream_key,
                    }));
                }
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                let reason = "this server only takes publishers; play over HLS or DASH".to_owned();
                self.refuse(request_id, "NetStream.Play.Failed", reason, events)?;
            }
            ServerSessionEvent::PublishStreamFinished { .. } if self.publish.is_some() => {
                events.push(ConnectionEvent::PublishFinished);
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                events.push(ConnectionEvent::Metadata(metadata.into()));
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                if let Some(p) = &mut self.publish {
                    let dts = if TagReader::is_sequence_header(Track::Video, &data) {
                        p.timeline.peek(Track::Video, timestamp.value)
                    } else {
                        p.timeline.place(Track::Video, timestamp.value)?
                    };
                    if let Some(packet) = p.reader.video(dts, data).map_err(ProtocolError::Video)? {
                        events.push(ConnectionEvent::Media(packet));
                    }
                }
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                if let Some(p) = &mut self.publish {
                    let dts = if TagReader::is_sequence_header(Track::Audio, &data) {
                        p.timeline.peek(Track::Audio, timestamp.value)
                    } else {
                        p.timeline.place(Track::Audio, timestamp.value)?
                    };
                    if let Some(packet) = p.reader.audio(dts, data).map_err(ProtocolError::Audio)? {
                        events.push(ConnectionEvent::Media(packet));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn session_call(
        &mut self,
        f: impl FnOnce(
            &mut ServerSession,
        )
            -> Result<Vec<ServerSessionResult>, rml_rtmp::sessions::ServerSessionError>,
    ) -> Result<Vec<ServerSessionResult>, ProtocolError> {
        match &mut self.stage {
            Stage::Session { session, .. } => contained("session request", || f(session))?
                .map_err(|e| ProtocolError::Chunk(e.to_string())),
            _ => Err(ProtocolError::Closed),
        }
    }

    fn refuse(
        &mut self,
        request_id: u32,
        code: &str,
        reason: String,
        events: &mut Vec<ConnectionEvent>,
    ) -> Result<(), ProtocolError> {
        let results = self.session_call(|s| s.reject_request(request_id, code, &reason))?;
        for r in results {
            if let ServerSessionResult::OutboundResponse(packet) = r {
                push_send(events, packet.bytes);
            }
        }
        events.push(ConnectionEvent::Refused { reason });
        self.stage = Stage::Closed;
        Ok(())
    }

    /// Accepts the pending publish: its packets go to `channel`, stamped with `session`.
    pub fn accept_publish(
        &mut self,
        request: &PublishRequest,
        channel: ChannelName,
        session: u32,
    ) -> Result<Vec<ConnectionEvent>, ProtocolError> {
        if self.pending != Some(request.request_id) {
            return Err(ProtocolError::Closed);
        }
        self.pending = None;
        let results = self.session_call(|s| s.accept_request(request.request_id))?;
        self.publish = Some(Publish {
            reader: TagReader::new(session),
            timeline: MediaTimeline::default(),
        });
        self.channel = Some(channel);
        let mut events = Vec::new();
        self.results(results, &mut events)?;
        Ok(events)
    }

    /// Ends the accepted publish with an RTMP error status (`onStatus`,
    /// level `error`, `code` such as `NetStream.Publish.BadName`): the
    /// channel was deleted or its key changed. The connection is finished.
    ///
    /// The status goes on message stream 1, the stream a publisher's only
    /// `createStream` gets from this session, in one chunk of at most the
    /// session's outbound chunk size.
    pub fn end_publish(&mut self, code: &str, description: &str) -> Vec<ConnectionEvent> {
        let mut events = Vec::new();
        if self.publish.is_none() || !matches!(self.stage, Stage::Session { .. }) {
            return events;
        }
        let mut status = std::collections::HashMap::new();
        status.insert("level".to_owned(), Amf0Value::Utf8String("error".into()));
        status.insert("code".to_owned(), Amf0Value::Utf8String(code.into()));
        status.insert(
            "description".to_owned(),
            Amf0Value::Utf8String(description.into()),
        );
        let message = RtmpMessage::Amf0Command {
            command_name: "onStatus".into(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            additional_arguments: vec![Amf0Value::Object(status)],
        };
        let mut serializer = ChunkSerializer::new();
        let bytes = message
            .into_message_payload(RtmpTimestamp::new(0), 1)
            .ok()
            .and_then(|payload| {
                serializer
                    .set_max_chunk_size(OUTBOUND_CHUNK_SIZE, RtmpTimestamp::new(0))
                    .ok()?;
                serializer.serialize(&payload, true, false).ok()
            });
        if let Some(packet) = bytes {
            push_send(&mut events, packet.bytes);
        }
        events.push(ConnectionEvent::Refused {
            reason: description.to_owned(),
        });
        self.stage = Stage::Closed;
        events
    }

    /// Refuses the pending publish with an RTMP error status (`code` such as
    /// `NetStream.Publish.BadName` or `NetStream.Publish.Denied`, and a
    /// description the publisher's log shows). The connection is finished.
    pub fn refuse_publish(
        &mut self,
        request: &PublishRequest,
        code: &str,
        description: &str,
    ) -> Result<Vec<ConnectionEvent>, ProtocolError> {
        if self.pending != Some(request.request_id) {
            return Err(ProtocolError::Closed);
        }
        self.pending = None;
        let mut events = Vec::new();
        self.refuse(
            request.request_id,
            code,
            description.to_owned(),
            &mut events,
        )?;
        Ok(events)
    }
}

fn push_send(events: &mut Vec<ConnectionEvent>, bytes: Vec<u8>) {
    if !bytes.is_empty() {
        events.push(ConnectionEvent::Send(Bytes::from(bytes)));
    }
}

/// Reads the chunk stream a second time to see the control messages that
/// rml_rtmp's session applies without telling: Set Chunk Size and Window
/// Acknowledgement Size.
fn check_chunks(
    guard: &mut ChunkDeserializer,
    bytes: &[u8],
    max_chunk_size: u32,
) -> Result<(), ProtocolError> {
    let mut input = bytes;
    loop {
        let next = contained("chunk guard", || guard.get_next_message(input))?
            .map_err(|e| ProtocolError::Chunk(e.to_string()))?;
        input = &[];
        let Some(payload) = next else { return Ok(()) };
        let value = match payload.data.get(..4) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => continue,
        };
        match payload.type_id {
            SET_CHUNK_SIZE => {
                let size = value & 0x7fff_ffff;
                if size == 0 || size > max_chunk_size {
                    return Err(ProtocolError::ChunkSize {
                        size,
                        max: max_chunk_size,
                    });
                }
                guard
                    .set_max_chunk_size(size as usize)
                    .map_err(|e| ProtocolError::Chunk(e.to_string()))?;
            }
            WINDOW_ACK_SIZE if value > MAX_WINDOW_ACK_SIZE => {
                return Err(ProtocolError::WindowAckSize(value));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConnectionSettings {
        ConnectionSettings {
            app: "live".to_owned(),
            max_chunk_size: MAX_USEFUL_CHUNK_SIZE,
        }
    }

    /// A connection past the handshake, as a real client would leave it.
    fn after_handshake() -> RtmpConnection {
        let mut conn = RtmpConnection::new(settings());
        let mut client = Handshake::new(PeerType::Client);
        let mut to_server = client.generate_outbound_p0_and_p1().unwrap();
        let mut client_done = false;
        while !conn.handshake_done() {
            let mut events = Vec::new();
            conn.handle_input(&to_server, &mut events).unwrap();
            to_server.clear();
            for e in events {
                if let (ConnectionEvent::Send(b), false) = (e, client_done) {
                    match client.process_bytes(&b).unwrap() {
                        HandshakeProcessResult::InProgress { response_bytes } => {
                            to_server.extend(response_bytes)
                        }
                        HandshakeProcessResult::Completed { response_bytes, .. } => {
                            to_server.extend(response_bytes);
                            client_done = true;
                        }
                    }
                }
            }
        }
        conn
    }

    #[test]
    fn refuses_a_bad_first_byte() {
        let mut conn = RtmpConnection::new(settings());
        let e = conn.handle_input(&[9; 10], &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), "handshake");
        assert!(matches!(
            conn.handle_input(&[3], &mut Vec::new()),
            Err(ProtocolError::Closed)
        ));
    }

    #[test]
    fn contains_the_library_panic_on_a_bare_set_data_frame() {
        let mut conn = after_handshake();
        let mut msg = vec![0x03, 0, 0, 0, 0, 0, 16, 18, 0, 0, 0, 0, 0x02, 0, 13];
        msg.extend_from_slice(b"@setDataFrame");
        let e = conn.handle_input(&msg, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), "library_panic");
    }

    #[test]
    fn refuses_chunk_size_zero_and_huge_window_ack() {
        let mut conn = after_handshake();
        let e = conn.handle_input(
            &[2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            &mut Vec::new(),
        );
        assert_eq!(e.unwrap_err().kind(), "chunk_size");
        let mut conn = after_handshake();
        let e = conn.handle_input(
            &[2, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
            &mut Vec::new(),
        );
        assert_eq!(e.unwrap_err().kind(), "window_ack_size");
        let mut conn = after_handshake();
        conn.handle_input(&[2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0x10, 0], &mut Vec::new())
            .unwrap();
    }
}
