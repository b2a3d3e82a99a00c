//! What the leading replica does: keep the fleet view and fail channels
//! over (here), answer placement requests (`place`) and drains (`drain`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use livefleet_base::ChannelName;
use livefleet_bus::ChannelRegistry;
use livefleet_fleet::{
    Assignment, Assignments, ChannelCost, FleetError, FleetView, Heartbeat, Leadership,
    SourceVideo, HEARTBEAT_SUBJECT_FILTER, HEARTBEAT_SUBJECT_PREFIX, PLACE_SUBJECT,
};
use livefleet_profile::LadderProfile;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::{SchedulerConfig, SchedulerError};

mod drain;
mod place;

/// How often silent workers are looked for.
const TICK: Duration = Duration::from_millis(250);
/// Longest a new leader listens to heartbeats before answering placements.
const WARM_UP: Duration = Duration::from_millis(1500);
/// KV bucket of operator decisions about nodes (the drain list), so a new leader keeps them.
pub const NODES_BUCKET: &str = "livefleet_nodes";
/// Largest drain request read.
pub(super) const MAX_DRAIN_REQUEST_BYTES: usize = 4096;

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
        if let Err(e) = self.reread(channel).await {
            tracing::warn!(%channel, "cannot read the assignment: {e}");
        }
    }

    /// The channel's assignment as the bucket holds it, kept in memory too.
    async fn reread(
        &mut self,
        channel: &ChannelName,
    ) -> Result<Option<Assignment>, livefleet_fleet::FleetError> {
        let a = self.leading.assignments.get(channel).await?;
        match &a {
            Some(a) => self.current.insert(channel.clone(), a.clone()),
            None => self.current.remove(channel),
        };
        Ok(a)
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
}
