//! `livefleet fleet status` and `livefleet node drain|undrain`: the fleet as the bus sees it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use futures::StreamExt;
use livefleet_fleet::{Assignments, Heartbeat, HEARTBEAT_SUBJECT_FILTER};
use serde::Serialize;

#[derive(Subcommand)]
pub enum FleetCommand {
    /// Every worker (from its heartbeats) with the channels it runs (from the assignments).
    Status {
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// How long to listen for heartbeats (workers send one per second).
        #[arg(long, default_value_t = 1.5)]
        listen: f64,
    },
}

#[derive(Serialize)]
struct WorkerStatus {
    id: String,
    state: String,
    encoders: Vec<String>,
    gpu_model: Option<String>,
    nvenc_sessions_in_use: u32,
    nvenc_session_limit: Option<u32>,
    capacity_cpu_pps: u64,
    capacity_nvenc_pps: u64,
    load_average: f64,
    last_seen_ms_ago: i64,
    channels: Vec<ChannelStatus>,
}

#[derive(Serialize)]
struct ChannelStatus {
    channel: String,
    epoch: u64,
    /// Whether the worker's last heartbeat reports it running.
    running: bool,
}

#[derive(Serialize)]
struct Status {
    workers: Vec<WorkerStatus>,
    /// Assigned channels whose worker sent no heartbeat while we listened.
    orphaned: Vec<ChannelStatus>,
    /// Why the assignments could not be read (the channels are then those
    /// the heartbeats report).
    #[serde(skip_serializing_if = "Option::is_none")]
    assignments_error: Option<String>,
}

pub async fn run(command: FleetCommand) -> anyhow::Result<()> {
    match command {
        FleetCommand::Status { nats, json, listen } => status(&nats, json, listen).await,
    }
}

async fn status(nats: &crate::nats::NatsArgs, json: bool, listen: f64) -> anyhow::Result<()> {
    let (client, js) = crate::nats::connect(nats, "livefleet-fleet-status").await?;
    let mut beats = client
        .subscribe(HEARTBEAT_SUBJECT_FILTER)
        .await
        .context("subscribing to heartbeats")?;
    let mut seen: BTreeMap<String, Heartbeat> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(listen.clamp(0.1, 30.0));
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, beats.next()).await {
        match Heartbeat::decode(&m.payload) {
            Ok(hb) => {
                seen.insert(hb.worker.to_string(), hb);
            }
            Err(e) => {
                tracing::warn!(subject = %m.subject, error = %e, "ignoring a malformed heartbeat")
            }
        }
    }
    // A bus electing new leaders may not answer the KV for a while: the
    // workers' own heartbeats still say what runs where.
    let list = match Assignments::open(&js).await {
        Ok(assignments) => assignments.list().await.map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    let (list, assignments_error) = match list {
        Ok(list) => (list, None),
        Err(e) => {
            let why = format!("{e:#}");
            eprintln!("warning: the assignments cannot be read ({why}); channels as the workers' heartbeats report them");
            let from_heartbeats = seen
                .values()
                .flat_map(|hb| {
                    hb.channels.iter().map(|c| livefleet_fleet::Assignment {
                        channel: c.name.clone(),
                        worker: Some(hb.worker.clone()),
                        epoch: c.epoch,
                        assigned_unix_ms: 0,
                        reason: "from the heartbeats".into(),
                    })
                })
                .collect();
            (from_heartbeats, Some(why))
        }
    };
    let now = livefleet_base::now_unix_ms();
    let mut workers: BTreeMap<String, WorkerStatus> = seen
        .values()
        .map(|hb| {
            (
                hb.worker.to_string(),
                WorkerStatus {
                    id: hb.worker.to_string(),
                    state: format!("{:?}", hb.state).to_lowercase(),
                    encoders: hb.encoders.iter().map(|e| e.to_string()).collect(),
                    gpu_model: hb.gpu_model.clone(),
                    nvenc_sessions_in_use: hb.nvenc_sessions_in_use,
                    nvenc_session_limit: hb.nvenc_session_limit,
                    capacity_cpu_pps: hb.capacity_cpu_pps,
                    capacity_nvenc_pps: hb.capacity_nvenc_pps,
                    load_average: hb.load_average,
                    last_seen_ms_ago: (now - hb.sent_unix_ms).max(0),
                    channels: Vec::new(),
                },
            )
        })
        .collect();
    let mut orphaned = Vec::new();
    for a in list {
        let Some(w) = a.worker else { continue };
        let running = seen.get(w.as_str()).is_some_and(|hb| {
            hb.channels
                .iter()
                .any(|c| c.name == a.channel && c.epoch == a.epoch)
        });
        let entry = ChannelStatus {
            channel: a.channel.to_string(),
            epoch: a.epoch,
            running,
        };
        match workers.get_mut(w.as_str()) {
            Some(ws) => ws.channels.push(entry),
            None => orphaned.push(entry),
        }
    }
    let status = Status {
        workers: workers.into_values().collect(),
        orphaned,
        assignments_error,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<9} {:<12} {:>8} {:>14}  CHANNELS",
        "WORKER", "STATE", "ENCODERS", "LOAD", "NVENC SESSIONS"
    );
    for w in &status.workers {
        let sessions = match w.nvenc_session_limit {
            Some(l) => format!("{}/{l}", w.nvenc_sessions_in_use),
            None => w.nvenc_sessions_in_use.to_string(),
        };
        let channels: Vec<String> = w
            .channels
            .iter()
            .map(|c| {
                format!(
                    "{}@{}{}",
                    c.channel,
                    c.epoch,
                    if c.running { "" } else { " (starting)" }
                )
            })
            .collect();
        println!(
            "{:<20} {:<9} {:<12} {:>8.2} {:>14}  {}",
            w.id,
            w.state,
            w.encoders.join(","),
            w.load_average,
            sessions,
            channels.join(" ")
        );
    }
    for c in &status.orphaned {
        println!("(no heartbeat)        {}@{}", c.channel, c.epoch);
    }
    if status.workers.is_empty() {
        eprintln!(
            "no worker sent a heartbeat in {listen} s: no fleet worker (`livefleet worker` without --all-channels) runs on this bus; `livefleet dev` and --all-channels workers run their channels outside the fleet"
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Move every channel off a worker (each continues elsewhere after one
    /// discontinuity) and place nothing new on it until `undrain`.
    Drain {
        id: String,
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
    },
    /// Let a drained worker take channels again.
    Undrain {
        id: String,
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
    },
}

pub async fn node(command: NodeCommand) -> anyhow::Result<()> {
    let (id, nats, undrain) = match command {
        NodeCommand::Drain { id, nats } => (id, nats, false),
        NodeCommand::Undrain { id, nats } => (id, nats, true),
    };
    let worker = livefleet_fleet::WorkerId::new(id).map_err(anyhow::Error::msg)?;
    let (client, _js) = crate::nats::connect(&nats, "livefleet-node").await?;
    let request = livefleet_fleet::DrainRequest {
        worker: worker.clone(),
        undrain,
    };
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(
            livefleet_fleet::DRAIN_SUBJECT,
            serde_json::to_vec(&request)?.into(),
        ),
    )
    .await
    .context("the scheduler did not answer within 30 s")?
    .context("no scheduler answered (is `livefleet scheduler` running?)")?;
    let reply: livefleet_fleet::DrainReply =
        serde_json::from_slice(&answer.payload).context("unreadable answer from the scheduler")?;
    if !reply.ok {
        anyhow::bail!("{}", reply.error.unwrap_or_else(|| "refused".into()));
    }
    if undrain {
        println!("{worker} takes channels again");
        return Ok(());
    }
    println!("{worker} is draining: nothing new is placed on it");
    for (channel, to) in &reply.moved {
        println!("  moved {channel} -> {to}");
    }
    for f in &reply.failed {
        println!("  kept  {} ({})", f.channel, f.reason);
    }
    if !reply.failed.is_empty() {
        anyhow::bail!(
            "{} channel(s) could not be moved; run the drain again when there is room",
            reply.failed.len()
        );
    }
    Ok(())
}
