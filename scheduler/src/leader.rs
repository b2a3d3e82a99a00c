//! What the leading replica does: keep the fleet view, answer placement
//! requests, fail channels over.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use livefleet_base::ChannelName;
use livefleet_bus::ChannelRegistry;
use livefleet_fleet::{
    Assignment, Assignments, ChannelCost, FleetError, FleetView, Heartbeat, Leadership, PlaceReply,
    PlaceRequest, SourceVideo, HEARTBEAT_SUBJECT_FILTER, HEARTBEAT_SUBJECT_PREFIX,
    MAX_PLACE_REQUEST_BYTES, PLACE_SUBJECT,
};
use livefleet_profile::LadderProfile;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::{SchedulerConfig, SchedulerError};

/// How often silent workers are looked for.
const TICK: Duration = Duration::from_millis(250);
/// Longest a new leader listens to heartbeats before answering placements.
const WARM_UP: Duration = Duration::from_millis(1500);
/// KV bucket of operator decisions about nodes (the drain list), so a new leader keeps them.
pub const NODES_BUCKET: &str = "livefleet_nodes";
/// Largest drain request read.
const MAX_DRAIN_REQUEST_BYTES: usize = 4096;

pub(crate) struct Leading<'a> {
    pub client: &'a async_nats::Client,
    pub config: &'a SchedulerConfig,
    pub metrics: &'a Metrics,
    pub assignments: &'a Assignments,
    pub channels: &'a ChannelRegistry,
    pub term: u64,
}

/// The leader's state while it leads.
struct State<'a> {
    leading: &'a Leading<'a>,
    view: FleetView,
    /// Current assignment of every channel, from the KV watch and our writes.
    current: HashMap<ChannelName, Assignment>,
    since: Instant,
    /// No failover before this: after our own NATS connection was down, every
    /// worker looks silent until its next heartbeat arrives.
    quiet_until: Instant,
    /// Channels whose failover found no room (logged once, retried every tick).
    stranded: std::collections::HashSet<ChannelName>,
    /// Workers an operator drained: no new channels, whatever their heartbeats say.
    draining: std::collections::HashSet<livefleet_fleet::WorkerId>,
    nodes: async_nats::jetstream::kv::Store,
}

fn nats_err(what: &str, e: impl Into<livefleet_fleet::NatsError>) -> SchedulerError {
    SchedulerError::Fleet(FleetError::Nats {
        what: what.to_owned(),
        source: e.into(),
    })
}

impl<'a> Leading<'a> {
    /// Leads until `standing` says the lease is lost (`Ok`) or NATS fails.
    pub(crate) async fn run(
        &'a self,
        standing: &mut watch::Receiver<Leadership>,
    ) -> Result<(), SchedulerError> {
        let mut heartbeats = self
            .client
            .subscribe(HEARTBEAT_SUBJECT_FILTER)
            .await
            .map_err(|e| nats_err("cannot subscribe to heartbeats", e))?;
        let mut watch = self.assignments.watch().await?;
        let js = async_nats::jetstream::new(self.client.clone());
        let nodes =
            livefleet_fleet::open_bucket(&js, NODES_BUCKET, "livefleet node states (drain)", 1)
                .await?;
        let mut draining = std::collections::HashSet::new();
        if let Ok(mut keys) = nodes.keys().await {
            while let Some(Ok(key)) = keys.next().await {
                if let (Ok(Some(v)), Ok(w)) = (
                    nodes.get(&key).await,
                    livefleet_fleet::WorkerId::new(key.clone()),
                ) {
                    if v.as_ref() == b"draining" {
                        draining.insert(w);
                    }
                }
            }
        }
        let mut state = State {
            leading: self,
            view: FleetView::new(self.config.heartbeat_timeout),
            current: self
                .assignments
                .list()
                .await?
                .into_iter()
                .map(|a| (a.channel.clone(), a))
                .collect(),
            since: Instant::now(),
            quiet_until: Instant::now(),
            stranded: Default::default(),
            draining,
            nodes,
        };
        tracing::info!(
            replica = %self.config.replica_id,
            term = self.term,
            channels = state.current.len(),
            "leading: listening to heartbeats before answering placements"
        );
        let warm_up = WARM_UP.min(self.config.heartbeat_timeout);
        let mut requests = None;
        let mut drains = None;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if requests.is_none() && state.since.elapsed() >= warm_up {
                requests = Some(
                    self.client
                        .subscribe(PLACE_SUBJECT)
                        .await
                        .map_err(|e| nats_err("cannot subscribe to placement requests", e))?,
                );
                drains = Some(
                    self.client
                        .subscribe(livefleet_fleet::DRAIN_SUBJECT)
                        .await
                        .map_err(|e| nats_err("cannot subscribe to drain requests", e))?,
                );
                tracing::info!(workers = state.view.len(), "answering placement requests");
            }
            tokio::select! {
                changed = standing.changed() => {
                    if changed.is_err() || *standing.borrow() == Leadership::Follower {
                        return Ok(());
                    }
                }
                msg = heartbeats.next() => match msg {
                    Some(msg) => state.heartbeat(&msg),
                    None => return Err(nats_err("heartbeat subscription ended", "closed")),
                },
                msg = async {
                    match requests.as_mut() {
                        Some(r) => r.next().await,
                        None => std::future::pending().await,
                    }
                } => match msg {
                    Some(msg) => state.request(msg).await,
                    None => return Err(nats_err("placement subscription ended", "closed")),
                },
                msg = async {
                    match drains.as_mut() {
                        Some(r) => r.next().await,
                        None => std::future::pending().await,
                    }
                } => match msg {
                    Some(msg) => state.drain(msg).await,
                    None => return Err(nats_err("drain subscription ended", "closed")),
                },
                a = watch.next() => match a {
                    Some(Ok(a)) => { state.current.insert(a.channel.clone(), a); }
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(nats_err("assignment watch ended", "closed")),
                },
                _ = tick.tick() => state.tick().await,
            }
        }
    }
}

impl State<'_> {
    fn heartbeat(&mut self, msg: &async_nats::Message) {
        let subject = msg.subject.as_str();
        let decoded = Heartbeat::decode(&msg.payload).and_then(|hb| {
            let from = subject
                .strip_prefix(HEARTBEAT_SUBJECT_PREFIX)
                .and_then(|s| s.strip_prefix('.'));
            if from == Some(hb.worker.as_str()) {
                Ok(hb)
            } else {
                Err(FleetError::BadHeartbeat(format!(
                    "worker {} sent it on another worker's subject",
                    hb.worker
                )))
            }
        });
        match decoded {
            Ok(mut hb) => {
                if self.draining.contains(&hb.worker) {
                    hb.state = livefleet_fleet::NodeState::Draining;
                }
                let worker = hb.worker.clone();
                if self.view.observe(hb, Instant::now()) {
                    tracing::info!(%worker, "worker joined");
                }
                self.leading.metrics.fleet(&self.view.summary());
            }
            Err(e) => {
                self.leading.metrics.bad_heartbeats.inc();
                tracing::warn!(subject, "ignoring a heartbeat: {e}");
            }
        }
    }

    async fn tick(&mut self) {
        if self.leading.client.connection_state() != async_nats::connection::State::Connected {
            // Our side of the bus is down: silence says nothing about the workers.
            self.quiet_until = Instant::now() + self.view.timeout();
            return;
        }
        if Instant::now() < self.quiet_until {
            return;
        }
        for gone in self.view.expire(Instant::now()) {
            tracing::warn!(worker = %gone.worker, "worker silent for longer than {:?}; moving its channels", self.view.timeout());
        }
        self.leading.metrics.fleet(&self.view.summary());
        // Channels on workers not in the view: the expired ones above, and
        // after the first timeout also those of workers that died before
        // this replica led.
        if self.since.elapsed() <= self.view.timeout() {
            return;
        }
        let orphans: Vec<Assignment> = self
            .current
            .values()
            .filter(|a| a.worker.as_ref().is_some_and(|w| !self.view.contains(w)))
            .cloned()
            .collect();
        for a in orphans {
            self.fail_over(a).await;
        }
    }

    async fn fail_over(&mut self, old: Assignment) {
        let Some(from) = old.worker.clone() else {
            return;
        };
        let channel = old.channel.clone();
        let cost = match self.cost(&channel, None).await {
            Ok(cost) => cost,
            Err(reason) => {
                self.release(&old, &format!("failover from {from}: {reason}"))
                    .await;
                return;
            }
        };
        let placement = match self.view.place(&channel, &cost, self.leading.config.policy) {
            Ok(p) => p,
            Err(no_fit) => {
                // Keep the assignment: the channel is retried every tick and
                // moves as soon as a worker has room (releasing it would leave
                // a live publisher with nobody transcoding).
                if self.stranded.insert(channel.clone()) {
                    self.leading
                        .metrics
                        .refusals
                        .with_label_values(&[no_fit.kind])
                        .inc();
                    tracing::warn!(%channel, %from, "no worker can take the channel over yet: {no_fit}; retrying");
                }
                return;
            }
        };
        let reason = format!("failover from {from}");
        match self
            .leading
            .assignments
            .reassign(&channel, old.epoch, &placement.worker, &reason)
            .await
        {
            Ok(a) => {
                tracing::info!(%channel, %from, to = %placement.worker, epoch = a.epoch, "channel failed over");
                self.stranded.remove(&channel);
                self.leading.metrics.failovers.inc();
                self.current.insert(channel, a);
            }
            Err(e) => {
                self.view.unreserve(&channel);
                tracing::warn!(%channel, "failover not written: {e}");
                self.refresh(&channel).await;
            }
        }
    }

    async fn release(&mut self, old: &Assignment, reason: &str) {
        match self
            .leading
            .assignments
            .release(&old.channel, old.epoch, reason)
            .await
        {
            Ok(a) => {
                self.current.insert(old.channel.clone(), a);
            }
            Err(e) => {
                tracing::warn!(channel = %old.channel, "release not written: {e}");
                self.refresh(&old.channel).await;
            }
        }
    }

    /// Re-reads a channel's assignment after a lost compare-and-set.
    async fn refresh(&mut self, channel: &ChannelName) {
        match self.leading.assignments.get(channel).await {
            Ok(Some(a)) => {
                self.current.insert(channel.clone(), a);
            }
            Ok(None) => {
                self.current.remove(channel);
            }
            Err(e) => tracing::warn!(%channel, "cannot read the assignment: {e}"),
        }
    }

    /// The channel's cost from its profile in the registry; `Err` is a
    /// reason for the requester.
    async fn cost(
        &self,
        channel: &ChannelName,
        source: Option<SourceVideo>,
    ) -> Result<ChannelCost, String> {
        let record = match self.leading.channels.get(channel).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(format!("channel {channel} does not exist")),
            Err(e) => return Err(format!("cannot read channel {channel}: {e}")),
        };
        let profile = LadderProfile::from_yaml(&record.profile_name, &record.profile_yaml)
            .map_err(|e| format!("channel {channel} has an invalid ladder profile: {e}"))?;
        Ok(ChannelCost::of(
            &profile,
            source.map(|s| (s.width, s.height, s.fps)),
        ))
    }

    /// A drain (or undrain) request: remembered in KV, then every channel of
    /// the worker moves to others by compare-and-set (new epoch; the new
    /// worker continues the broadcast after one discontinuity).
    async fn drain(&mut self, msg: async_nats::Message) {
        let Some(reply_to) = msg.reply.clone() else {
            return;
        };
        let reply = self.drain_reply(&msg.payload).await;
        let body = serde_json::to_vec(&reply).unwrap_or_default();
        if let Err(e) = self.leading.client.publish(reply_to, body.into()).await {
            tracing::warn!("cannot answer a drain request: {e}");
        }
    }

    async fn drain_reply(&mut self, payload: &[u8]) -> livefleet_fleet::DrainReply {
        use livefleet_fleet::{DrainReply, DrainRequest, NotMoved};
        let refuse = |e: String| DrainReply {
            ok: false,
            error: Some(e),
            ..Default::default()
        };
        if payload.len() > MAX_DRAIN_REQUEST_BYTES {
            return refuse(format!(
                "bad drain request: more than {MAX_DRAIN_REQUEST_BYTES} bytes"
            ));
        }
        let req: DrainRequest = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => return refuse(format!("bad drain request: {e}")),
        };
        let worker = req.worker;
        let known = self.view.contains(&worker)
            || self.draining.contains(&worker)
            || self
                .current
                .values()
                .any(|a| a.worker.as_ref() == Some(&worker));
        if !known {
            return DrainReply {
                ok: false,
                error: Some(format!(
                    "no worker {worker}: no heartbeat from it, no channel on it, not drained"
                )),
                unknown_worker: true,
                ..Default::default()
            };
        }
        if req.undrain {
            self.draining.remove(&worker);
            self.view.set_draining(&worker, false);
            if let Err(e) = self.nodes.purge(worker.as_str()).await {
                tracing::warn!(%worker, "undrain not persisted: {e}");
            }
            tracing::info!(%worker, "worker takes channels again");
            return DrainReply {
                ok: true,
                ..Default::default()
            };
        }
        if let Err(e) = self.nodes.put(worker.as_str(), "draining".into()).await {
            return refuse(format!("cannot record the drain of {worker}: {e}"));
        }
        self.draining.insert(worker.clone());
        self.view.set_draining(&worker, true);
        tracing::info!(%worker, "draining worker: moving its channels");
        let mut reply = DrainReply {
            ok: true,
            ..Default::default()
        };
        let on_worker: Vec<Assignment> = self
            .current
            .values()
            .filter(|a| a.worker.as_ref() == Some(&worker))
            .cloned()
            .collect();
        for a in on_worker {
            let channel = a.channel.clone();
            let cost = match self.cost(&channel, None).await {
                Ok(c) => c,
                Err(reason) => {
                    reply.failed.push(NotMoved { channel, reason });
                    continue;
                }
            };
            let placement = match self.view.place(&channel, &cost, self.leading.config.policy) {
                Ok(p) => p,
                Err(no_fit) => {
                    reply.failed.push(NotMoved {
                        channel,
                        reason: no_fit.to_string(),
                    });
                    continue;
                }
            };
            match self
                .leading
                .assignments
                .reassign(
                    &channel,
                    a.epoch,
                    &placement.worker,
                    &format!("drain from {worker}"),
                )
                .await
            {
                Ok(next) => {
                    tracing::info!(%channel, from = %worker, to = %placement.worker, epoch = next.epoch, "channel moved by drain");
                    self.current.insert(channel.clone(), next);
                    reply.moved.push((channel, placement.worker));
                }
                Err(e) => {
                    self.view.unreserve(&channel);
                    reply.failed.push(NotMoved {
                        channel,
                        reason: e.to_string(),
                    });
                }
            }
        }
        reply
    }

    async fn request(&mut self, msg: async_nats::Message) {
        let started = Instant::now();
        let Some(reply_to) = msg.reply.clone() else {
            tracing::debug!("placement request without a reply subject, ignored");
            return;
        };
        let (reply, result) = self.answer(&msg.payload).await;
        self.leading
            .metrics
            .placements
            .with_label_values(&[result])
            .inc();
        let body = serde_json::to_vec(&reply).unwrap_or_default();
        if let Err(e) = self.leading.client.publish(reply_to, body.into()).await {
            tracing::warn!("cannot answer a placement request: {e}");
        }
        self.leading
            .metrics
            .placement_duration
            .observe(started.elapsed().as_secs_f64());
    }

    async fn answer(&mut self, payload: &[u8]) -> (PlaceReply, &'static str) {
        if payload.len() > MAX_PLACE_REQUEST_BYTES {
            return (
                PlaceReply::refused(format!(
                    "bad placement request: more than {MAX_PLACE_REQUEST_BYTES} bytes"
                )),
                "bad_request",
            );
        }
        let req: PlaceRequest = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => {
                return (
                    PlaceReply::refused(format!("bad placement request: {e}")),
                    "bad_request",
                )
            }
        };
        let channel = req.channel;
        let previous = self.current.get(&channel).cloned();
        if let Some(Assignment {
            worker: Some(worker),
            epoch,
            ..
        }) = &previous
        {
            if self.view.contains(worker) {
                return (PlaceReply::placed(worker.clone(), *epoch), "existing");
            }
        }
        let cost = match self.cost(&channel, req.source).await {
            Ok(c) => c,
            Err(reason) => {
                self.leading
                    .metrics
                    .refusals
                    .with_label_values(&["profile"])
                    .inc();
                return (PlaceReply::refused(reason), "refused");
            }
        };
        let placement = match self.view.place(&channel, &cost, self.leading.config.policy) {
            Ok(p) => p,
            Err(no_fit) => {
                self.leading
                    .metrics
                    .refusals
                    .with_label_values(&[no_fit.kind])
                    .inc();
                tracing::info!(%channel, "placement refused: {no_fit}");
                return (PlaceReply::refused(no_fit.reason), "refused");
            }
        };
        let written = match &previous {
            Some(Assignment {
                worker: Some(gone),
                epoch,
                ..
            }) => {
                let reason = format!("placed ({}), previous worker {gone} gone", placement.kind);
                self.leading
                    .assignments
                    .reassign(&channel, *epoch, &placement.worker, &reason)
                    .await
            }
            _ => {
                let reason = format!("placed ({})", placement.kind);
                self.leading
                    .assignments
                    .assign(&channel, &placement.worker, &reason)
                    .await
            }
        };
        match written {
            Ok(a) => {
                tracing::info!(%channel, worker = %placement.worker, kind = %placement.kind, epoch = a.epoch, "channel placed");
                let reply = PlaceReply::placed(placement.worker, a.epoch);
                self.current.insert(channel, a);
                (reply, "placed")
            }
            Err(e) => {
                self.view.unreserve(&channel);
                self.refresh(&channel).await;
                match self.current.get(&channel) {
                    Some(Assignment {
                        worker: Some(w),
                        epoch,
                        ..
                    }) if self.view.contains(w) => {
                        (PlaceReply::placed(w.clone(), *epoch), "existing")
                    }
                    _ => {
                        tracing::warn!(%channel, "placement not written: {e}");
                        (
                            PlaceReply::refused(format!(
                                "placement of {channel} not written: {e}; retry"
                            )),
                            "error",
                        )
                    }
                }
            }
        }
    }
}
