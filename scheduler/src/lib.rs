//! The livefleet scheduler: places channels on workers and moves them off
//! workers that go silent.
//!
//! Every replica runs [`run`]. Replicas campaign for the
//! `livefleet_fleet::Lease`; only the leader works:
//!
//! ```text
//! workers --heartbeats--> leader: FleetView --expire--> failover (reassign by CAS, epoch + 1)
//! ingest --PlaceRequest (livefleet.sched.place)--> leader --ChannelRegistry profile, cost, place--> KV livefleet_assignments
//! ```
//!
//! A new leader first listens to heartbeats for a moment (so its view is
//! not empty) before it answers placement requests; meanwhile requests get
//! "no responders" and the ingest retries. Assignments whose worker it has
//! not heard from within the heartbeat timeout are failed over, which also
//! covers a worker that died while no replica led.

pub mod admin;
pub mod admin_archive;
pub mod admin_chat;
mod admin_fleet;
pub mod admin_live;
mod admin_profiles;
mod admin_webhooks;
mod leader;
mod metrics;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use livefleet_bus::{jetstream, BusError, ChannelRegistry};
use livefleet_fleet::{Assignments, FleetError, Lease, Policy, DEFAULT_HEARTBEAT_TIMEOUT};
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

/// Lease time of the scheduler lease by default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// Configuration of one scheduler replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// This replica's name in the lease (`[a-z0-9_-]`, at most 64). Default: `scheduler`.
    pub replica_id: String,
    /// A worker silent for longer loses its channels, in milliseconds. Default: 3000.
    #[serde(with = "millis")]
    pub heartbeat_timeout: Duration,
    /// Spread or pack. Default: spread.
    pub policy: Policy,
    /// Leader lease time in milliseconds: a dead leader is replaced after about this long. Default: 5000.
    #[serde(with = "millis")]
    pub lease_ttl: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            replica_id: "scheduler".to_owned(),
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            policy: Policy::Spread,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Why the scheduler stopped.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// Connecting to JetStream or opening a bucket failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Opening the assignments or lease bucket failed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The metrics could not be registered (a name already taken in the registry).
    #[error("cannot register the scheduler metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Runs one scheduler replica until `shutdown` completes: campaigns for the
/// lease and, while leading, answers placement requests and fails channels
/// over. Errors while leading are logged and leadership is kept or retaken;
/// only start-up errors end the function.
pub async fn run(
    client: async_nats::Client,
    config: SchedulerConfig,
    registry: &prometheus::Registry,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SchedulerError> {
    let metrics = Metrics::register(registry)?;
    let js = jetstream(&client).await?;
    let assignments = Assignments::open(&js).await?;
    let channels = ChannelRegistry::open(&js).await?;
    let mut lease = Lease::campaign(&js, &config.replica_id, config.lease_ttl).await?;
    tracing::info!(replica = %config.replica_id, "scheduler replica started");
    tokio::pin!(shutdown);
    loop {
        while !lease.is_leader() {
            tokio::select! {
                _ = &mut shutdown => {
                    lease.resign().await;
                    return Ok(());
                }
                _ = lease.changed() => {}
            }
        }
        metrics.leader.set(1);
        metrics.leader_changes.inc();
        let term = match lease.leadership() {
            livefleet_fleet::Leadership::Leader { term } => term,
            livefleet_fleet::Leadership::Follower => 0,
        };
        let leading = leader::Leading {
            client: &client,
            config: &config,
            metrics: &metrics,
            assignments: &assignments,
            channels: &channels,
            term,
        };
        let mut standing = lease.subscribe();
        let outcome = tokio::select! {
            r = leading.run(&mut standing) => Some(r),
            _ = &mut shutdown => None,
        };
        metrics.leader.set(0);
        metrics.fleet(&livefleet_fleet::FleetSummary::default());
        match outcome {
            None => {
                lease.resign().await;
                tracing::info!(replica = %config.replica_id, "scheduler replica stopped");
                return Ok(());
            }
            Some(Ok(())) => {
                tracing::warn!(replica = %config.replica_id, term, "no longer leading")
            }
            Some(Err(e)) => {
                tracing::error!(replica = %config.replica_id, term, "leading failed, retrying in 1 s: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_with_defaults_and_refuses_unknown_keys() {
        let c: SchedulerConfig =
            serde_json::from_str(r#"{"replica_id":"sched-a","lease_ttl":2000,"policy":"pack"}"#)
                .unwrap();
        assert_eq!(c.replica_id, "sched-a");
        assert_eq!(c.lease_ttl, Duration::from_secs(2));
        assert_eq!(c.policy, Policy::Pack);
        assert_eq!(c.heartbeat_timeout, DEFAULT_HEARTBEAT_TIMEOUT);
        let err = serde_json::from_str::<SchedulerConfig>(r#"{"replica":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
