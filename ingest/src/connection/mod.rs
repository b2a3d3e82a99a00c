//! One RTMP connection as a sans-IO state machine: bytes in, events out.
//!
//! [`RtmpConnection`] runs the handshake, then rml_rtmp's [`ServerSession`],
//! and turns the publisher's audio and video messages into media packets
//! (`publish.rs`: FLV tags read on the publish's timeline). It never touches a
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
use livefleet_base::ChannelName;
use rml_rtmp::chunk_io::ChunkDeserializer;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};

mod chunk_guard;
mod events;
mod publish;
mod status;

use chunk_guard::check_chunks;
pub use events::{
    ConnectionEvent, ConnectionSettings, ProtocolError, PublishRequest, StreamInfo,
    MAX_USEFUL_CHUNK_SIZE,
};
use publish::Publish;

/// The chunk size this server announces to every client after the handshake.
const OUTBOUND_CHUNK_SIZE: u32 = 4096;

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
        if let Err(error) = &result {
            if error.told_the_publisher() {
                // The status goes out before the error ends the connection.
                let ending = self.end_publish("NetStream.Publish.Failed", &error.to_string());
                events.extend(
                    ending
                        .into_iter()
                        .filter(|e| matches!(e, ConnectionEvent::Send(_))),
                );
            }
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
                if without_query(&app_name) == self.settings.app {
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
                        stream_key: without_query(&stream_key).to_owned(),
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
                    let packet = p.video(data, timestamp.value)?;
                    events.extend(packet.map(ConnectionEvent::Media));
                }
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                if let Some(p) = &mut self.publish {
                    let packets = p.audio(data, timestamp.value)?;
                    events.extend(packets.into_iter().map(ConnectionEvent::Media));
                    p.video_came()?;
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
        self.publish = Some(Publish::new(session));
        self.channel = Some(channel);
        let mut events = Vec::new();
        self.results(results, &mut events)?;
        Ok(events)
    }

    /// Ends the accepted publish with an RTMP error status (`onStatus`,
    /// level `error`, `code` such as `NetStream.Publish.BadName`): the
    /// channel was deleted or its key changed. The connection is finished.
    ///
    pub fn end_publish(&mut self, code: &str, description: &str) -> Vec<ConnectionEvent> {
        let mut events = Vec::new();
        if self.publish.is_none() || !matches!(self.stage, Stage::Session { .. }) {
            return events;
        }
        if let Some(bytes) = status::error_status(code, description, OUTBOUND_CHUNK_SIZE) {
            push_send(&mut events, bytes);
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

/// An application name or stream key without the parameters an encoder or
/// a service put after it (`KEY?bandwidthtest=true`, `live?token=T`): the
/// name is what comes before the `?`, as nginx-rtmp and SRS read it. The
/// parameters are not logged: they may hold secrets.
fn without_query(name: &str) -> &str {
    name.split_once('?').map_or(name, |(name, _)| name)
}

#[cfg(test)]
mod tests;
