//! This relay's rooms: the local subscribers of each channel, and one task
//! per room that follows the channel's history stream (and its join/leave
//! subject) and fans every publication out to them.
//!
//! A push is serialized once and shared by every subscriber. Each
//! connection has a bounded queue; a subscriber whose queue is full is
//! kicked as slow (code 3008) instead of growing memory or holding up the
//! others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::ChannelName;
use tokio::sync::{mpsc, Notify};

use crate::history::History;
use crate::metrics::ChatMetrics;
use crate::protocol::{self, ClientInfo};

/// What a connection is sent by its rooms. Cloning is two reference counts:
/// one push is shared by every subscriber.
#[derive(Debug, Clone)]
pub enum Out {
    /// A stored publication's push: dropped by the connection when it has
    /// already sent that offset of that channel.
    Publication {
        channel: Arc<ChannelName>,
        offset: u64,
        text: Bytes,
    },
    /// Any other push (join/leave, viewer counts).
    Push(Bytes),
}

/// Tells a connection to close with a disconnect code.
#[derive(Default)]
pub struct Kick {
    code: AtomicU16,
    notify: Notify,
}

impl Kick {
    pub fn kick(&self, code: u16) {
        if self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_one();
        }
    }

    /// Waits for a kick; returns its code.
    pub async fn kicked(&self) -> u16 {
        loop {
            let code = self.code.load(Ordering::Acquire);
            if code != 0 {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

/// One local subscriber.
pub struct Member {
    pub tx: mpsc::Sender<Out>,
    pub kick: Arc<Kick>,
    pub user: String,
    pub join_leave: bool,
}

#[derive(Default)]
struct Members {
    by_conn: HashMap<u64, Member>,
    users: HashMap<String, usize>,
}

struct Room {
    members: RwLock<Members>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Room {
    /// Hands `out` to every member (those that asked for joins and leaves
    /// only, with `join_leave`).
    fn fan_out(&self, out: &Out, join_leave: bool, metrics: &ChatMetrics) {
        let Ok(members) = self.members.read() else {
            return;
        };
        let mut delivered = 0u64;
        for m in members.by_conn.values() {
            if join_leave && !m.join_leave {
                continue;
            }
            match m.tx.try_send(out.clone()) {
                Ok(()) => delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics.slow_clients.inc();
                    m.kick.kick(protocol::disconnect::SLOW);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        metrics.deliveries.inc_by(delivered);
    }
}

/// Every room of this relay.
pub struct Hub {
    rooms: tokio::sync::Mutex<HashMap<ChannelName, Arc<Room>>>,
    /// Read without the lock, for presence and metrics.
    snapshot: RwLock<HashMap<ChannelName, Arc<Room>>>,
    nats: async_nats::Client,
    history: Arc<History>,
    metrics: ChatMetrics,
    next_conn: AtomicU64,
}

/// The core NATS subject of a channel's joins and leaves.
pub fn join_subject(channel: &ChannelName) -> String {
    format!("livefleet.chatjoin.{channel}")
}

impl Hub {
    pub fn new(nats: async_nats::Client, history: Arc<History>, metrics: ChatMetrics) -> Self {
        Self {
            rooms: tokio::sync::Mutex::new(HashMap::new()),
            snapshot: RwLock::new(HashMap::new()),
            nats,
            history,
            metrics,
            next_conn: AtomicU64::new(1),
        }
    }

    /// A fresh connection id.
    pub fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds connection `conn` to `channel`'s room, starting the room's
    /// delivery from the history's current top when it is new. Returns once
    /// every publication stored from now on will reach the member.
    pub async fn join(
        &self,
        channel: &ChannelName,
        conn: u64,
        member: Member,
    ) -> Result<(), String> {
        let mut rooms = self.rooms.lock().await;
        let room = match rooms.get(channel) {
            Some(r) => r.clone(),
            None => {
                let position = self
                    .history
                    .position(channel)
                    .await
                    .map_err(|e| e.to_string())?;
                let publications = self
                    .history
                    .follow(channel, position.last)
                    .await
                    .map_err(|e| e.to_string())?;
                let joins = self
                    .nats
                    .subscribe(join_subject(channel))
                    .await
                    .map_err(|e| format!("cannot follow the joins of {channel}: {e}"))?;
                let room = Arc::new(Room {
                    members: RwLock::new(Members::default()),
                    task: std::sync::Mutex::new(None),
                });
                let task = tokio::spawn(deliver(
                    channel.clone(),
                    room.clone(),
                    self.history.clone(),
                    position.last,
                    publications,
                    joins,
                    self.metrics.clone(),
                ));
                if let Ok(mut t) = room.task.lock() {
                    *t = Some(task);
                }
                rooms.insert(channel.clone(), room.clone());
                self.publish_snapshot(&rooms);
                self.metrics.rooms.set(rooms.len() as i64);
                room
            }
        };
        if let Ok(mut members) = room.members.write() {
            // Anonymous readers are clients, not users.
            if !member.user.is_empty() {
                *members.users.entry(member.user.clone()).or_default() += 1;
            }
            members.by_conn.insert(conn, member);
        }
        Ok(())
    }

    /// Removes `conn` from `channel`'s room; an empty room stops.
    pub async fn leave(&self, channel: &ChannelName, conn: u64) {
        let mut rooms = self.rooms.lock().await;
        let Some(room) = rooms.get(channel).cloned() else {
            return;
        };
        let empty = match room.members.write() {
            Ok(mut members) => {
                if let Some(m) = members.by_conn.remove(&conn) {
                    if let Some(n) = members.users.get_mut(&m.user) {
                        *n -= 1;
                        if *n == 0 {
                            members.users.remove(&m.user);
                        }
                    }
                }
                members.by_conn.is_empty()
            }
            Err(_) => true,
        };
        if empty {
            rooms.remove(channel);
            if let Some(task) = room.task.lock().ok().and_then(|mut t| t.take()) {
                task.abort();
            }
            self.publish_snapshot(&rooms);
            self.metrics.rooms.set(rooms.len() as i64);
        }
    }

    fn publish_snapshot(&self, rooms: &HashMap<ChannelName, Arc<Room>>) {
        if let Ok(mut s) = self.snapshot.write() {
            *s = rooms.clone();
        }
    }

    /// Local subscribers and distinct users of each channel.
    pub fn counts(&self) -> HashMap<ChannelName, (u64, u64)> {
        let Ok(rooms) = self.snapshot.read() else {
            return HashMap::new();
        };
        rooms
            .iter()
            .filter_map(|(c, r)| {
                let m = r.members.read().ok()?;
                Some((c.clone(), (m.by_conn.len() as u64, m.users.len() as u64)))
            })
            .collect()
    }

    /// Hands a push to every local subscriber of `channel`.
    pub fn push(&self, channel: &ChannelName, text: Bytes) {
        let room = self
            .snapshot
            .read()
            .ok()
            .and_then(|r| r.get(channel).cloned());
        if let Some(room) = room {
            room.fan_out(&Out::Push(text), false, &self.metrics);
        }
    }

    /// Tells every relay's `join_leave` subscribers of `channel` that `info` joined or left.
    pub async fn announce(&self, channel: &ChannelName, kind: &'static str, info: &ClientInfo) {
        let body = serde_json::json!({"kind": kind, "info": info}).to_string();
        if let Err(e) = self.nats.publish(join_subject(channel), body.into()).await {
            tracing::debug!(%channel, error = %e, "a join or leave was not announced");
        }
    }
}

/// A room's delivery: publications in stream order, joins and leaves as they
/// come. A delivery stream that ends (its consumer lost with a NATS server)
/// is followed again from the last offset delivered, so a room never stalls.
async fn deliver(
    channel: ChannelName,
    room: Arc<Room>,
    history: Arc<History>,
    mut last: u64,
    publications: impl futures::Stream<Item = protocol::Publication> + Send + 'static,
    mut joins: async_nats::Subscriber,
    metrics: ChatMetrics,
) {
    let name = Arc::new(channel.clone());
    let mut publications: std::pin::Pin<
        Box<dyn futures::Stream<Item = protocol::Publication> + Send>,
    > = Box::pin(publications);
    let mut joins_open = true;
    loop {
        tokio::select! {
            p = publications.next() => {
                let Some(p) = p else {
                    tracing::warn!(%channel, last, "the chat delivery stream ended; following again");
                    publications = loop {
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        match history.follow(&channel, last).await {
                            Ok(s) => break Box::pin(s),
                            Err(e) => tracing::warn!(%channel, error = %e, "cannot follow the chat history yet"),
                        }
                    };
                    continue;
                };
                last = last.max(p.offset);
                let text = Bytes::from(protocol::publication_push(channel.as_str(), &p));
                room.fan_out(&Out::Publication { channel: name.clone(), offset: p.offset, text }, false, &metrics);
            }
            m = joins.next(), if joins_open => {
                let Some(m) = m else {
                    tracing::warn!(%channel, "the joins subscription ended; joins and leaves are no longer pushed");
                    joins_open = false;
                    continue;
                };
                #[derive(serde::Deserialize)]
                struct Announcement { kind: String, info: ClientInfo }
                match serde_json::from_slice::<Announcement>(&m.payload) {
                    Ok(a) if a.kind == "join" || a.kind == "leave" => {
                        let text = Bytes::from(protocol::presence_push(channel.as_str(), &a.kind, &a.info));
                        room.fan_out(&Out::Push(text), true, &metrics);
                    }
                    _ => tracing::warn!(%channel, "skipping a malformed join/leave announcement"),
                }
            }
        }
    }
}
