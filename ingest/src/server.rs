//! The tokio side: accept loop, one task per connection, timeouts.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use livefleet_base::{ChannelName, MediaPacket, PacketKind, Track};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Instant};
use tracing::{debug, info, warn, Instrument};

use crate::admit::{admit, Accepted, Admission};
use crate::claims::{Claim, Claims};
use crate::connection::{ConnectionEvent, ConnectionSettings, ProtocolError, RtmpConnection};
use crate::handshakes::{Handshakes, Ticket};
use crate::recheck::{recheck_bound, recheck_publish, revoked_result, Recheck};
use crate::{IngestConfig, IngestMetrics, MediaSink, PublishGate};

const READ_BUFFER: usize = 64 * 1024;

/// How long a refused client gets to read its error status before the socket closes.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

struct Shared {
    config: IngestConfig,
    /// Slots of connections whose handshake is done.
    slots: Arc<Semaphore>,
    handshakes: Arc<Handshakes>,
    gate: Arc<dyn PublishGate>,
    sink: Arc<dyn MediaSink>,
    metrics: IngestMetrics,
    claims: Claims,
}

impl Shared {
    fn admission(&self) -> Admission<'_> {
        Admission {
            gate: &*self.gate,
            claims: &self.claims,
            takeover_after: self.config.takeover_after,
            metrics: &self.metrics,
        }
    }
}

/// Serves RTMP publishers on `listener` until `shutdown` completes, then
/// ends every open publish (each sink gets its End packet) and returns.
///
/// Publishers connect to `rtmp://HOST:PORT/<config.app>/<stream key>`;
/// `gate` maps the key to a channel, `sink` receives the packets. A channel
/// has at most one publisher at a time. Accept errors (such as running out of
/// file descriptors) are logged and retried; the result is `Err` only if the
/// listener's address cannot be read.
pub async fn serve(
    listener: TcpListener,
    config: IngestConfig,
    gate: Arc<dyn PublishGate>,
    sink: Arc<dyn MediaSink>,
    metrics: IngestMetrics,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(config.max_connections)),
        handshakes: Handshakes::new(config.max_handshakes, config.max_handshakes_per_address),
        config,
        gate,
        sink,
        metrics,
        claims: Claims::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    info!(%local, app = %shared.config.app, "RTMP ingest listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "accepting an RTMP connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (ticket, evict, evicted) = shared.handshakes.admit(peer.ip());
                if evicted > 0 {
                    // Each evicted connection counts itself as it ends (kind handshake_evicted).
                    warn!(%peer, evicted, max = shared.config.max_handshakes, per_address = shared.config.max_handshakes_per_address, "handshake budget spent; closed the oldest unfinished handshakes");
                }
                shared.metrics.pending_handshakes.set(shared.handshakes.pending() as i64);
                let span = tracing::info_span!("rtmp", %peer, channel = tracing::field::Empty);
                let shared = shared.clone();
                let stop = stop_rx.clone();
                tasks.spawn(
                    async move {
                        connection(socket, peer, &shared, stop, Handshake { ticket, evict }).await;
                    }
                    .instrument(span),
                );
            }
        }
    }
    info!(open = tasks.len(), "RTMP ingest shutting down");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// How a connection ended.
enum Ending {
    Disconnected,
    Finished,
    Refused(String),
    Shutdown,
    /// A new connection with the stream key took the channel over.
    Replaced,
    Failed {
        kind: &'static str,
        reason: String,
    },
    /// As `Failed`, after an error status that tells the publisher why.
    FailedAndTold {
        kind: &'static str,
        reason: String,
    },
}

impl From<ProtocolError> for Ending {
    fn from(e: ProtocolError) -> Self {
        let (kind, reason) = (e.kind(), e.to_string());
        if e.told_the_publisher() {
            Self::FailedAndTold { kind, reason }
        } else {
            Self::Failed { kind, reason }
        }
    }
}

/// Gives a publisher that was sent an error status the time to read it:
/// closing a socket with unread input would reset the connection and lose
/// the status.
async fn linger(socket: &mut TcpStream) {
    let _ = socket.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = timeout(REFUSAL_LINGER, async {
        while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

fn io_failure(e: std::io::Error) -> Ending {
    Ending::Failed {
        kind: "io",
        reason: e.to_string(),
    }
}

/// The publish a connection runs, and its claim on the channel.
struct Live<'a> {
    shared: &'a Shared,
    channel: ChannelName,
    stream_key: String,
    session: u32,
    last_dts: i64,
    claim: Arc<Claim>,
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.shared.claims.release(&self.channel, &self.claim);
    }
}

/// A connection's place in the handshake budget, until its handshake is done.
struct Handshake {
    ticket: Ticket,
    /// Fires when a newer connection needs the place.
    evict: oneshot::Receiver<()>,
}

async fn connection(
    mut socket: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    stop: watch::Receiver<bool>,
    handshake: Handshake,
) {
    shared.metrics.connections.inc();
    let _ = socket.set_nodelay(true);
    let mut live = None;
    let mut slot = None;
    let ending = drive(
        &mut socket,
        peer,
        shared,
        stop,
        &mut live,
        handshake,
        &mut slot,
    )
    .await;
    shared
        .metrics
        .pending_handshakes
        .set(shared.handshakes.pending() as i64);
    match &ending {
        Ending::Disconnected => info!("publisher disconnected"),
        Ending::Finished => info!("publisher finished its stream"),
        Ending::Shutdown => info!("closing connection: ingest shutting down"),
        Ending::Replaced => {
            info!(%peer, "publisher replaced: a new connection with its stream key took the channel over")
        }
        Ending::Refused(reason) => {
            warn!(%peer, %reason, "refused");
            linger(&mut socket).await;
        }
        Ending::Failed { kind, reason } | Ending::FailedAndTold { kind, reason } => {
            shared
                .metrics
                .protocol_errors
                .with_label_values(&[kind])
                .inc();
            if kind.starts_with("handshake") {
                shared.metrics.handshake_failures.inc();
            }
            warn!(%peer, kind, %reason, "connection ended");
            if matches!(ending, Ending::FailedAndTold { .. }) {
                linger(&mut socket).await;
            }
        }
    }
    if let Some(live) = live.take() {
        shared.metrics.publishers.dec();
        let end = MediaPacket {
            kind: PacketKind::End,
            track: Track::Video,
            keyframe: false,
            codec: livefleet_base::Codec::H264,
            session: live.session,
            dts_ms: live.last_dts,
            pts_ms: live.last_dts,
            data: Bytes::new(),
        };
        if let Err(e) = shared.sink.publish(&live.channel, end).await {
            warn!(error = %e, "could not deliver the end of the publish");
        }
        info!(channel = %live.channel, session = live.session, "publish ended");
    }
    shared.metrics.connections.dec();
}

async fn drive<'a>(
    socket: &mut TcpStream,
    peer: SocketAddr,
    shared: &'a Shared,
    mut stop: watch::Receiver<bool>,
    live: &mut Option<Live<'a>>,
    handshake: Handshake,
    slot: &mut Option<OwnedSemaphorePermit>,
) -> Ending {
    let Handshake { ticket, mut evict } = handshake;
    let mut ticket = Some(ticket);
    let config = &shared.config;
    let mut conn = RtmpConnection::new(ConnectionSettings {
        app: config.app.clone(),
        max_chunk_size: config.max_chunk_size,
    });
    let mut buf = vec![0u8; READ_BUFFER];
    let mut deadline = Instant::now() + config.handshake_timeout;
    let mut queue = VecDeque::new();
    let mut metadata = None;
    let mut recheck = tokio::time::interval(config.publish_recheck.max(Duration::from_millis(100)));
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: Option<Recheck<'a>> = None;
    loop {
        let n = tokio::select! {
            () = async { live.as_ref().expect("guarded by is_some").claim.replaced().await }, if live.is_some() => {
                return Ending::Replaced;
            }
            // The recheck runs beside the reads: a registry that cannot answer
            // (its bus node lost, a stream re-electing) neither stalls the
            // publish nor ends it, and its wait is bounded.
            _ = recheck.tick(), if live.is_some() && pending.is_none() => {
                if let Some(l) = live.as_ref() {
                    let (key, channel, session) = (l.stream_key.clone(), l.channel.clone(), l.session);
                    let bound = recheck_bound(config);
                    pending = Some(Box::pin(async move {
                        timeout(bound, recheck_publish(&*shared.gate, &*shared.sink, &key, &channel, session)).await
                    }));
                }
                continue;
            }
            verdict = async { pending.as_mut().expect("guarded by is_some").await }, if pending.is_some() => {
                pending = None;
                let Some(l) = live.as_ref() else { continue };
                match verdict {
                    Ok(Ok(())) => {}
                    Err(_) => debug!(channel = %l.channel, "the publish recheck timed out; it goes on"),
                    Ok(Err(refusal)) => {
                        shared.metrics.publishes.with_label_values(&[revoked_result(&refusal)]).inc();
                        for event in conn.end_publish(refusal.code.as_str(), &refusal.reason) {
                            if let ConnectionEvent::Send(bytes) = event {
                                let _ = timeout(config.idle_timeout, socket.write_all(&bytes)).await;
                            }
                        }
                        return Ending::Refused(format!("publish ended: {}", refusal.reason));
                    }
                }
                continue;
            }
            read = socket.read(&mut buf) => match read {
                Ok(n) => n,
                Err(e) => return io_failure(e),
            },
            () = sleep_until(deadline) => {
                let (kind, reason) = if conn.handshake_done() {
                    ("idle_timeout", format!("no media for {:?}", config.idle_timeout))
                } else {
                    ("handshake_timeout", format!("handshake not done within {:?}", config.handshake_timeout))
                };
                return Ending::Failed { kind, reason };
            }
            _ = stop.changed() => return Ending::Shutdown,
            Ok(()) = &mut evict, if ticket.is_some() => {
                return Ending::Failed {
                    kind: "handshake_evicted",
                    reason: "handshake not done; closed to make room for newer connections".to_owned(),
                };
            }
        };
        if n == 0 {
            return Ending::Disconnected;
        }
        shared.metrics.bytes_received.inc_by(n as u64);
        let was_handshaking = !conn.handshake_done();
        let mut events = Vec::new();
        let input = conn.handle_input(&buf[..n], &mut events);
        queue.extend(events);
        if was_handshaking && conn.handshake_done() {
            if let Some(t) = ticket.take() {
                t.complete();
            }
            shared
                .metrics
                .pending_handshakes
                .set(shared.handshakes.pending() as i64);
            match shared.slots.clone().try_acquire_owned() {
                Ok(permit) => *slot = Some(permit),
                Err(_) => {
                    return Ending::Failed {
                        kind: "connection_limit",
                        reason: format!(
                            "connection limit reached ({} connections)",
                            config.max_connections
                        ),
                    }
                }
            }
            deadline = Instant::now() + config.idle_timeout;
        }
        while let Some(event) = queue.pop_front() {
            match event {
                ConnectionEvent::Send(bytes) => {
                    match timeout(config.idle_timeout, socket.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return io_failure(e),
                        Err(_) => {
                            return Ending::Failed {
                                kind: "io",
                                reason: "publisher stopped reading".to_owned(),
                            }
                        }
                    }
                }
                ConnectionEvent::PublishRequested(request) => {
                    match admit(&mut conn, &request, peer, &shared.admission()).await {
                        Ok((events, accepted)) => {
                            queue.extend(events);
                            if let Some(Accepted {
                                channel,
                                session,
                                taken,
                            }) = accepted
                            {
                                tracing::Span::current().record("channel", channel.as_str());
                                match taken.replaced_after {
                                    Some(silent) => {
                                        shared.metrics.takeovers.inc();
                                        info!(%channel, session, silent_s = silent.as_secs_f64(), "publish accepted, taking over from a publisher that had sent nothing")
                                    }
                                    None => info!(%channel, session, "publish accepted"),
                                }
                                shared.metrics.publishers.inc();
                                *live = Some(Live {
                                    shared,
                                    channel,
                                    stream_key: request.stream_key.clone(),
                                    session,
                                    last_dts: 0,
                                    claim: taken.claim,
                                });
                            }
                        }
                        Err(e) => return e.into(),
                    }
                }
                ConnectionEvent::Media(packet) => {
                    let Some(live) = live.as_mut() else { continue };
                    let track = match packet.track {
                        Track::Video => "video",
                        Track::Audio => "audio",
                    };
                    shared.metrics.packets.with_label_values(&[track]).inc();
                    live.claim.heard();
                    live.last_dts = live.last_dts.max(packet.dts_ms);
                    if let Err(e) = shared.sink.publish(&live.channel, packet).await {
                        return Ending::Failed {
                            kind: "sink",
                            reason: e.to_string(),
                        };
                    }
                    // Time spent waiting on a slow bus is not the publisher's silence.
                    deadline = Instant::now() + config.idle_timeout;
                }
                ConnectionEvent::Metadata(m) if metadata.as_ref() != Some(&m) => {
                    info!(
                        width = m.width,
                        height = m.height,
                        fps = m.frame_rate,
                        video_kbps = m.video_kbps,
                        audio_kbps = m.audio_kbps,
                        encoder = m.encoder.as_deref(),
                        "stream metadata"
                    );
                    metadata = Some(m);
                }
                ConnectionEvent::Metadata(_) => {}
                ConnectionEvent::PublishFinished => return Ending::Finished,
                ConnectionEvent::Refused { reason } => {
                    // The error status was queued before this event and is written by now.
                    shared
                        .metrics
                        .publishes
                        .with_label_values(&["refused"])
                        .inc();
                    return Ending::Refused(reason);
                }
            }
        }
        if let Err(e) = input {
            return e.into();
        }
    }
}
