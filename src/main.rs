//! The `livefleet` command: every part of the system is a subcommand.

mod channel;
mod dev;
mod fleet;
mod nats;
mod services;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use livefleet_profile::LadderProfile;
use livefleet_worker::encoder::EncoderKind;
use livefleet_worker::transcode::{transcode, TranscodeJob};
use livefleet_worker::Progress;

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
    Transcode {
        /// Anything FFmpeg can open: a file path or a URL.
        input: String,
        /// Ladder profile (YAML).
        #[arg(long)]
        profile: PathBuf,
        /// Output directory (created if missing): master.m3u8, manifest.mpd, one directory per rendition.
        #[arg(long)]
        out: PathBuf,
        /// Override the profile's encoder choice.
        #[arg(long, value_enum)]
        encoder: Option<EncoderArg>,
        /// Replace a previous output in --out (a non-empty --out is refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Ladder profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Everything on one machine: nats-server (child process), RTMP ingest, one worker, HTTP origin with a viewer page.
    Dev {
        /// Without --nats-url, dev starts a nats-server of its own.
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
        /// RTMP listen address.
        #[arg(long, default_value = "0.0.0.0:1935")]
        rtmp: SocketAddr,
        /// HTTP listen address (origin, viewer page, /metrics).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Storage directory (segments and manifests under live/<channel>/).
        #[arg(long, default_value = "livefleet-data")]
        data: PathBuf,
        /// Channel name.
        #[arg(long, default_value = "demo")]
        channel: livefleet_base::ChannelName,
        /// Stream key for the channel (default: random, printed at start).
        #[arg(long)]
        stream_key: Option<String>,
        /// Ladder profile (default: the built-in ladder-profiles/cpu-small.yaml).
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Publish a synthetic test pattern with sound into the ingest.
        #[arg(long)]
        demo_source: bool,
        /// Seconds a broadcast waits for its publisher to come back before it ends (ENDLIST).
        #[arg(long, default_value_t = 10.0)]
        grace: f64,
    },
    /// The RTMP ingest on its own.
    Ingest {
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
        /// RTMP listen address.
        #[arg(long, default_value = "0.0.0.0:1935")]
        rtmp: SocketAddr,
        /// Ingest configuration (YAML; see docs/configuration.md).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where /metrics is served.
        #[arg(long, default_value = "127.0.0.1:9101")]
        metrics: SocketAddr,
        /// Accept every registered channel without asking a scheduler
        /// (a single worker started with `--all-channels` runs them).
        #[arg(long)]
        no_scheduler: bool,
    },
    /// A scheduler replica: places channels on workers, fails them over; run two or more for HA.
    Scheduler {
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
        /// Scheduler configuration (YAML: replica_id, heartbeat_timeout, policy, lease_ttl).
        #[arg(long)]
        config: Option<PathBuf>,
        /// This replica's id in the leader lease (default: scheduler-<pid>).
        #[arg(long)]
        id: Option<String>,
        /// Where /metrics is served.
        #[arg(long, default_value = "127.0.0.1:9102")]
        metrics: SocketAddr,
        /// Admin HTTP API address (docs/api/openapi.yaml); off without a token.
        #[arg(long, default_value = "127.0.0.1:8090")]
        http: SocketAddr,
        /// Bearer token of the admin API.
        #[arg(long, env = "LIVEFLEET_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// RTMP URL base the API hands out (`<base>/<stream key>`).
        #[arg(long, default_value = "rtmp://127.0.0.1:1935/live")]
        rtmp_base_url: String,
        /// Playback URL base the API hands out (`<base>/<channel>/master.m3u8`).
        #[arg(long, default_value = "http://127.0.0.1:8080/live")]
        playback_base_url: String,
    },
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
    /// A worker on its own: runs channels from the bus, writes to a local directory.
    Worker {
        #[command(flatten)]
        nats: crate::nats::NatsArgs,
        /// This node's id.
        #[arg(long, default_value = "worker")]
        id: String,
        /// Storage directory.
        #[arg(long, default_value = "livefleet-data")]
        data: PathBuf,
        /// Seconds a broadcast waits for its publisher to come back before it ends.
        #[arg(long, default_value_t = 10.0)]
        grace: f64,
        /// Where /metrics is served (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        metrics: SocketAddr,
        /// Worker configuration (YAML: capacity_cpu_pps, capacity_nvenc_pps, nvenc_session_limit, gpu_model).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run every registered channel, without a scheduler (one worker only).
        #[arg(long)]
        all_channels: bool,
        #[command(subcommand)]
        action: Option<WorkerAction>,
    },
    /// Channels in the registry (JetStream KV).
    Channel {
        #[command(subcommand)]
        command: channel::ChannelCommand,
    },
}

#[derive(Subcommand)]
enum WorkerAction {
    /// Measure this node's real-time encoding capacity (pixels/s) per encoder kind; prints a --config snippet.
    Calibrate {
        /// Seconds of encoding per encoder kind.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// Check profiles; prints every problem with file, YAML path and fix; exits non-zero if any is invalid.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum EncoderArg {
    Nvenc,
    X264,
}

fn main() -> ExitCode {
    livefleet_base::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Transcode { .. } | Command::Profile { .. } => run(cli),
        command => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|rt| rt.block_on(run_async(command))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_async(command: Command) -> anyhow::Result<ExitCode> {
    let seconds = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 86_400.0));
    match command {
        Command::Dev {
            nats,
            rtmp,
            http,
            data,
            channel,
            stream_key,
            profile,
            demo_source,
            grace,
        } => {
            dev::run(dev::DevOptions {
                nats,
                rtmp,
                http,
                data,
                channel,
                stream_key,
                profile,
                demo_source,
                grace: seconds(grace),
            })
            .await?;
        }
        Command::Ingest {
            nats,
            rtmp,
            config,
            metrics,
            no_scheduler,
        } => {
            let config: livefleet_ingest::IngestConfig = match config {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))?
                }
                None => Default::default(),
            };
            let (client, js) = nats::connect(&nats, "livefleet-ingest").await?;
            let placement = (!no_scheduler).then_some(client);
            let registry = prometheus::Registry::new();
            let stop = tokio_util::sync::CancellationToken::new();
            let listener = services::bind(rtmp, "RTMP").await?;
            let metrics_listener = services::bind(metrics, "metrics").await?;
            tracing::info!(rtmp = %listener.local_addr()?, metrics = %metrics_listener.local_addr()?, "ingest listening");
            let m = tokio::spawn(services::metrics_endpoint(
                metrics_listener,
                registry.clone(),
                stop.clone(),
            ));
            let s = stop.clone();
            tokio::spawn(async move {
                services::termination().await;
                s.cancel();
            });
            services::ingest(js, placement, listener, config, &registry, stop.clone()).await?;
            stop.cancel();
            let _ = m.await;
        }
        Command::Worker {
            nats,
            id,
            data,
            grace,
            metrics,
            config,
            all_channels,
            action,
        } => {
            if let Some(WorkerAction::Calibrate { seconds }) = action {
                return calibrate(seconds).await;
            }
            let node = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_norway::from_str::<services::WorkerFile>(&text)
                        .with_context(|| format!("{}", path.display()))?
                }
                None => services::WorkerFile::default(),
            };
            let (client, js) = nats::connect(&nats, &format!("livefleet-worker-{id}")).await?;
            let registry = prometheus::Registry::new();
            let stop = tokio_util::sync::CancellationToken::new();
            let metrics_listener = services::bind(metrics, "metrics").await?;
            tracing::info!(metrics = %metrics_listener.local_addr()?, "worker metrics");
            let m = tokio::spawn(services::metrics_endpoint(
                metrics_listener,
                registry.clone(),
                stop.clone(),
            ));
            let s = stop.clone();
            tokio::spawn(async move {
                services::termination().await;
                s.cancel();
            });
            let timing = livefleet_worker::live::LiveTiming {
                grace: seconds(grace),
                ..Default::default()
            };
            if all_channels {
                services::worker(js, id, data, timing, registry, stop.clone()).await?;
            } else {
                services::fleet_worker(client, js, id, data, timing, node, registry, stop.clone())
                    .await?;
            }
            stop.cancel();
            let _ = m.await;
        }
        Command::Channel { command } => return channel::run(command).await,
        Command::Fleet { command } => fleet::run(command).await?,
        Command::Node { command } => fleet::node(command).await?,
        Command::Scheduler {
            nats,
            config,
            id,
            metrics,
            http,
            admin_token,
            rtmp_base_url,
            playback_base_url,
        } => {
            let mut cfg: livefleet_scheduler::SchedulerConfig = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))?
                }
                None => Default::default(),
            };
            if let Some(id) = id {
                cfg.replica_id = id;
            } else if config.is_none() {
                cfg.replica_id = format!("scheduler-{}", std::process::id());
            }
            let (client, _js) =
                nats::connect(&nats, &format!("livefleet-{}", cfg.replica_id)).await?;
            let registry = prometheus::Registry::new();
            let stop = tokio_util::sync::CancellationToken::new();
            let metrics_listener = services::bind(metrics, "metrics").await?;
            tracing::info!(replica = %cfg.replica_id, metrics = %metrics_listener.local_addr()?, "scheduler starting");
            let m = tokio::spawn(services::metrics_endpoint(
                metrics_listener,
                registry.clone(),
                stop.clone(),
            ));
            let api = match admin_token.filter(|t| !t.is_empty()) {
                Some(token) => {
                    let state = livefleet_scheduler::admin::AdminState::open(
                        client.clone(),
                        token,
                        rtmp_base_url,
                        playback_base_url,
                    )
                    .await
                    .map_err(anyhow::Error::msg)
                    .context("admin API")?;
                    let listener = services::bind(http, "the admin API").await?;
                    tracing::info!(address = %listener.local_addr()?, "admin API listening");
                    let s = stop.clone();
                    Some(tokio::spawn(livefleet_scheduler::admin::serve(
                        listener,
                        state,
                        async move { s.cancelled().await },
                    )))
                }
                None => {
                    tracing::info!(
                        "admin API off: set LIVEFLEET_ADMIN_TOKEN (or --admin-token) to serve it"
                    );
                    None
                }
            };
            let s = stop.clone();
            livefleet_scheduler::run(client, cfg, &registry, async move {
                services::termination().await;
                s.cancel();
            })
            .await
            .context("scheduler")?;
            stop.cancel();
            let _ = m.await;
            if let Some(api) = api {
                let _ = api.await;
            }
        }
        Command::Transcode { .. } | Command::Profile { .. } => {
            unreachable!("handled without a runtime")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Transcode {
            input,
            profile,
            out,
            encoder,
            force,
        } => {
            let profile = LadderProfile::load(&profile).map_err(|e| anyhow::anyhow!("{e}"))?;
            let job = TranscodeJob {
                input,
                profile,
                out,
                encoder: encoder.map(|e| match e {
                    EncoderArg::Nvenc => EncoderKind::Nvenc,
                    EncoderArg::X264 => EncoderKind::X264,
                }),
                force,
            };
            run_transcode(&job)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Profile {
            command: ProfileCommand::Validate { files },
        } => {
            let mut bad = 0;
            for file in &files {
                match LadderProfile::load(file) {
                    Ok(p) => println!(
                        "{}: ok ({}: {} video, {} audio renditions)",
                        file.display(),
                        p.name,
                        p.video.len(),
                        p.audio.len()
                    ),
                    Err(errors) => {
                        bad += 1;
                        println!("{errors}");
                    }
                }
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        _ => unreachable!("async commands run in run_async"),
    }
}

fn run_transcode(job: &TranscodeJob) -> anyhow::Result<()> {
    let progress = Arc::new(Progress::default());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} s of media  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let watcher = {
        let progress = progress.clone();
        let bar = bar.clone();
        std::thread::spawn(move || loop {
            let total = progress.duration_ms.load(Ordering::Relaxed) / 1000;
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_position(progress.media_ms.load(Ordering::Relaxed) / 1000);
            bar.set_message(format!(
                "{} frames, {} segments",
                progress.frames_decoded.load(Ordering::Relaxed),
                progress.segments_written.load(Ordering::Relaxed)
            ));
            if bar.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        })
    };
    let result = transcode(job, progress);
    bar.finish_and_clear();
    let _ = watcher.join();
    let report = result.with_context(|| format!("transcoding {}", job.input))?;
    println!(
        "{}: {:.1} s of media, {} frames, {} segments, encoder {}{}",
        job.out.display(),
        report.media_seconds,
        report.frames_decoded,
        report.segments_written,
        report.encoder,
        if report.corrupt_packets > 0 {
            format!(", {} corrupt packets skipped", report.corrupt_packets)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `livefleet worker calibrate`.
async fn calibrate(seconds: f64) -> anyhow::Result<ExitCode> {
    use livefleet_worker::calibrate::measure;
    use livefleet_worker::encoder::{probe_nvenc, EncoderKind};
    let duration = std::time::Duration::from_secs_f64(seconds.clamp(0.5, 120.0));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("measuring libx264 on {cores} parallel 720p30 encoders for {duration:?}...");
    let cpu = tokio::task::spawn_blocking(move || measure(EncoderKind::X264, cores, duration))
        .await?
        .map_err(anyhow::Error::msg)?;
    eprintln!(
        "libx264: {:.0} frames/s, {:.1} Mpx/s sustained",
        cpu.frames_per_second,
        cpu.pixels_per_second / 1e6
    );
    let nvenc = match tokio::task::spawn_blocking(probe_nvenc).await? {
        Ok(()) => {
            eprintln!("measuring NVENC on 2 parallel sessions for {duration:?}...");
            let n = tokio::task::spawn_blocking(move || measure(EncoderKind::Nvenc, 2, duration))
                .await?
                .map_err(anyhow::Error::msg)?;
            eprintln!("NVENC: {:.1} Mpx/s sustained", n.pixels_per_second / 1e6);
            Some(n)
        }
        Err(reason) => {
            eprintln!("NVENC not measured: {reason}");
            None
        }
    };
    println!("# livefleet worker --config (80% of the measured rates)");
    println!("capacity_cpu_pps: {}", cpu.capacity_pps);
    println!(
        "capacity_nvenc_pps: {}",
        nvenc.map_or(0, |n| n.capacity_pps)
    );
    Ok(ExitCode::SUCCESS)
}
