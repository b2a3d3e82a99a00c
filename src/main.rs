//! The `livefleet` command: every part of the system is a subcommand, each
//! in a module of its own; the NATS arguments ([`nats::NatsArgs`]) and the
//! configuration loader ([`config`]) are shared.

mod channel;
mod chat;
mod config;
mod dev;
mod fleet;
mod ingest;
mod nats;
mod origin;
mod profile;
mod scheduler;
mod services;
mod storyboard;
mod transcode;
mod webhooks;
mod window;
mod worker;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "livefleet",
    version,
    about = "Self-hosted live video: RTMP in, ABR CMAF (HLS + DASH) out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Transcode a file or URL with a ladder profile into CMAF segments, HLS and DASH (live-to-VOD output).
    Transcode(transcode::TranscodeArgs),
    /// Make (or remake) the storyboard of a finished output: thumbnail tiles for scrubbing.
    Storyboard(storyboard::StoryboardArgs),
    /// Ladder profiles.
    Profile {
        #[command(subcommand)]
        command: profile::ProfileCommand,
    },
    /// Everything on one machine: nats-server (child process), RTMP ingest, one worker, HTTP origin with a viewer page.
    Dev(dev::DevArgs),
    /// The RTMP ingest on its own.
    Ingest(ingest::IngestArgs),
    /// A scheduler replica: places channels on workers, fails them over; run two or more for HA.
    Scheduler(scheduler::SchedulerArgs),
    /// The fleet: workers and their channels.
    Fleet {
        #[command(subcommand)]
        command: fleet::FleetCommand,
    },
    /// A worker node: drain it before maintenance, undrain it after.
    Node {
        #[command(subcommand)]
        command: fleet::NodeCommand,
    },
    /// The HTTP origin on its own: serves the workers' storage directory (playlists, segments, viewer page, /metrics).
    Origin(origin::OriginArgs),
    /// A worker on its own: runs channels from the bus, writes to a local directory.
    Worker(worker::WorkerArgs),
    /// The chat relay (Centrifugo-compatible WebSocket), and its tokens.
    Chat(chat::ChatArgs),
    /// Channels in the registry (JetStream KV).
    Channel {
        #[command(subcommand)]
        command: channel::ChannelCommand,
    },
}

fn main() -> ExitCode {
    livefleet_base::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Transcode(a) => transcode::run(a),
        Command::Profile { command } => Ok(profile::run(command)),
        command => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|rt| rt.block_on(run_async(command))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: an error whose
/// message already ends with its cause's (`cannot open input x: No such
/// file or directory`) does not get it said twice.
fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if line.ends_with(&cause) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    line
}

async fn run_async(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Dev(a) => dev::run(a.options()).await?,
        Command::Ingest(a) => ingest::run(a).await?,
        Command::Worker(a) => return worker::run(a).await,
        Command::Channel { command } => return channel::run(command).await,
        Command::Fleet { command } => fleet::run(command).await?,
        Command::Node { command } => fleet::node(command).await?,
        Command::Scheduler(a) => scheduler::run(a).await?,
        Command::Origin(a) => origin::run(a).await?,
        Command::Chat(a) => chat::run(a).await?,
        Command::Storyboard(a) => return storyboard::run(a).await,
        Command::Transcode(_) | Command::Profile { .. } => {
            unreachable!("handled without a runtime")
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::describe;

    /// As the worker's errors are: the cause in the message and as the source.
    #[derive(Debug)]
    struct Open {
        source: std::io::Error,
    }

    impl std::fmt::Display for Open {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot open input x: {}", self.source)
        }
    }

    impl std::error::Error for Open {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(Open { source: missing }).context("transcoding x");
        assert_eq!(
            describe(&e),
            "transcoding x: cannot open input x: No such file"
        );
        let plain = anyhow::anyhow!("disk full").context("writing y");
        assert_eq!(describe(&plain), "writing y: disk full");
    }
}
