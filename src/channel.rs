//! `livefleet channel ...`: the channel registry from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use livefleet_base::ChannelName;
use livefleet_bus::{generate_stream_key, validate_stream_key, ChannelRecord, ChannelRegistry};
use livefleet_profile::LadderProfile;

#[derive(Subcommand)]
pub enum ChannelCommand {
    /// Register a channel: its stream key and ladder profile.
    Create {
        name: ChannelName,
        /// Stream key publishers use (default: random, printed).
        #[arg(long)]
        stream_key: Option<String>,
        /// Ladder profile (YAML), validated before anything is stored.
        #[arg(long)]
        profile: PathBuf,
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
    },
    /// List channels (stream keys hidden unless --show-keys).
    List {
        #[arg(long)]
        show_keys: bool,
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
    },
    /// Give a channel a new stream key; the old one stops working, and a publish using it ends within seconds.
    RotateKey {
        name: ChannelName,
        /// The new key (default: random, printed).
        #[arg(long)]
        stream_key: Option<String>,
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
    },
    /// Delete a channel.
    Delete {
        name: ChannelName,
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
    },
}

pub async fn run(command: ChannelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChannelCommand::Create {
            name,
            stream_key,
            profile,
            nats,
        } => {
            let text = std::fs::read_to_string(&profile)
                .with_context(|| format!("reading {}", profile.display()))?;
            let parsed = LadderProfile::from_yaml(&profile.display().to_string(), &text)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let key = match stream_key {
                Some(k) => {
                    validate_stream_key(&k).map_err(|e| anyhow::anyhow!("--stream-key: {e}"))?;
                    k
                }
                None => generate_stream_key(),
            };
            let (_c, js) = crate::nats::connect(&nats, "livefleet-cli").await?;
            let registry = ChannelRegistry::open(&js).await?;
            registry
                .create(ChannelRecord {
                    name: name.clone(),
                    stream_key: key.clone(),
                    profile_yaml: text,
                    profile_name: parsed.name.clone(),
                    created_unix_ms: livefleet_base::now_unix_ms(),
                })
                .await
                .with_context(|| format!("creating channel {name}"))?;
            println!("channel {name} created (profile {})", parsed.name);
            println!("  stream key: {key}");
            println!("  publish to: rtmp://INGEST:1935/live/{key}");
            println!("  playback:   /live/{name}/master.m3u8, /live/{name}/manifest.mpd");
            println!(
                "  preview:    /live/{name}/{}",
                livefleet_base::THUMBNAIL_PATH
            );
        }
        ChannelCommand::List { show_keys, nats } => {
            let (_c, js) = crate::nats::connect(&nats, "livefleet-cli").await?;
            let registry = ChannelRegistry::open(&js).await?;
            let mut channels = registry.list().await?;
            channels.sort_by(|a, b| a.name.cmp(&b.name));
            let assignments = livefleet_fleet::Assignments::open(&js).await?;
            println!(
                "{:<24} {:<20} {:<36} STREAM KEY",
                "CHANNEL", "PROFILE", "ON AIR"
            );
            for c in channels {
                let on_air =
                    match livefleet_scheduler::admin_live::on_air(&js, &assignments, &c.name).await
                    {
                        Ok(Some(live)) => format!(
                            "since {}{}",
                            livefleet_base::clock::iso8601(live.broadcast_started_unix_ms),
                            live.node.map(|n| format!(" on {n}")).unwrap_or_default()
                        ),
                        Ok(None) => "-".to_owned(),
                        Err(e) => format!("unknown ({e})"),
                    };
                let key = if show_keys {
                    c.stream_key.clone()
                } else {
                    // A record read from the bus is not trusted to be ASCII.
                    format!("{}…", c.stream_key.chars().take(4).collect::<String>())
                };
                println!(
                    "{:<24} {:<20} {:<36} {}",
                    c.name, c.profile_name, on_air, key
                );
            }
        }
        ChannelCommand::RotateKey {
            name,
            stream_key,
            nats,
        } => {
            let key = stream_key.unwrap_or_else(generate_stream_key);
            validate_stream_key(&key).map_err(|e| anyhow::anyhow!("--stream-key: {e}"))?;
            let (_c, js) = crate::nats::connect(&nats, "livefleet-cli").await?;
            let registry = ChannelRegistry::open(&js).await?;
            let rec = registry
                .rotate_key(&name, key)
                .await
                .with_context(|| format!("rotating the stream key of {name}"))?;
            println!("channel {name}: new stream key {}", rec.stream_key);
            println!("  publish to: rtmp://INGEST:1935/live/{}", rec.stream_key);
        }
        ChannelCommand::Delete { name, nats } => {
            let (_c, js) = crate::nats::connect(&nats, "livefleet-cli").await?;
            let registry = ChannelRegistry::open(&js).await?;
            if registry.delete(&name).await? {
                println!("channel {name} deleted");
            } else {
                anyhow::bail!("no channel named {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
