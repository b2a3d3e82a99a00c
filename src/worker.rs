//! `livefleet worker`: a worker node, and `worker calibrate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{config, nats, services};

/// A worker on its own: runs channels from the bus, writes to a local directory.
#[derive(clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub nats: crate::nats::NatsArgs,
    /// This node's id.
    #[arg(long, default_value = "worker")]
    pub id: String,
    /// Storage directory (the configuration's `storage` key, a directory or s3://BUCKET/PREFIX, takes precedence).
    #[arg(long, default_value = "livefleet-data")]
    pub data: PathBuf,
    /// Seconds a broadcast waits for its publisher to come back before it ends.
    #[arg(long, default_value_t = 10.0)]
    pub grace: f64,
    /// Where /metrics is served (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub metrics: SocketAddr,
    /// Worker configuration (YAML: capacity_cpu_pps, capacity_nvenc_pps, nvenc_session_limit, gpu_model, storage; docs/config/worker.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run every registered channel, without a scheduler (one worker only).
    #[arg(long)]
    pub all_channels: bool,
    #[command(flatten)]
    pub window: crate::window::WindowArgs,
    #[command(subcommand)]
    pub action: Option<WorkerAction>,
}

#[derive(clap::Subcommand)]
pub enum WorkerAction {
    /// Measure this node's real-time encoding capacity (pixels/s) per encoder kind; prints a --config snippet.
    Calibrate {
        /// Seconds of encoding per encoder kind.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// What this node's GPU can do: driver, CUDA device, NVDEC codecs, NVENC H.264/HEVC, scale_cuda, and a short run of each mode.
    /// Exit 0: NVENC works; 2: no NVIDIA GPU or driver; 3: a GPU without a usable NVENC; 4: the check could not run.
    GpuCheck {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Seconds of encoding per mode that can run here (0: none).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

pub async fn run(a: WorkerArgs) -> anyhow::Result<ExitCode> {
    match a.action {
        Some(WorkerAction::Calibrate { seconds }) => return calibrate(seconds).await,
        Some(WorkerAction::GpuCheck { json, seconds }) => return gpu_check(json, seconds).await,
        None => {}
    }
    let node: services::WorkerFile = config::load(a.config.as_deref())?;
    node.archive.validate()?;
    let (client, js) = nats::connect(&a.nats, &format!("livefleet-worker-{}", a.id)).await?;
    let _upkeep = livefleet_bus::spawn_upkeep(js.clone());
    let registry = prometheus::Registry::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let metrics_listener = services::bind(a.metrics, "metrics").await?;
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
    let timing = a.window.apply(livefleet_worker::channel::LiveTiming {
        grace: config::seconds(a.grace),
        ..Default::default()
    })?;
    if a.all_channels {
        let storage = services::open_storage(&node.location(&a.data)?).await?;
        services::worker(
            js,
            a.id,
            storage,
            timing,
            node.archive,
            registry,
            stop.clone(),
        )
        .await?;
    } else {
        services::fleet_worker(
            client,
            js,
            a.id,
            node.location(&a.data)?,
            timing,
            node,
            registry,
            stop.clone(),
        )
        .await?;
    }
    stop.cancel();
    let _ = m.await;
    Ok(ExitCode::SUCCESS)
}

/// `livefleet worker gpu-check`.
async fn gpu_check(json: bool, seconds: f64) -> anyhow::Result<ExitCode> {
    use livefleet_worker::gpu_check;
    let run_for = config::seconds(seconds.min(60.0));
    let report = match tokio::task::spawn_blocking(move || gpu_check::check(run_for)).await {
        Ok(r) => r,
        Err(e) => gpu_check::GpuReport::failed(&format!("the check panicked: {e}")),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", gpu_check::render(&report));
    }
    Ok(ExitCode::from(report.exit_code))
}

/// `livefleet worker calibrate`.
async fn calibrate(seconds: f64) -> anyhow::Result<ExitCode> {
    use livefleet_worker::calibrate::measure;
    use livefleet_worker::encoder::{probe_nvenc, EncoderKind};
    let duration = std::time::Duration::from_secs_f64(seconds.clamp(0.5, 120.0));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("measuring libx264 on {cores} parallel 720p30 encoders for {duration:?}...");
    let cpu =
        tokio::task::spawn_blocking(move || measure(EncoderKind::X264, cores, duration)).await??;
    eprintln!(
        "libx264: {:.0} frames/s, {:.1} Mpx/s sustained",
        cpu.frames_per_second,
        cpu.pixels_per_second / 1e6
    );
    let nvenc = match tokio::task::spawn_blocking(probe_nvenc).await? {
        Ok(()) => {
            eprintln!("measuring NVENC on 2 parallel sessions for {duration:?}...");
            let n = tokio::task::spawn_blocking(move || measure(EncoderKind::Nvenc, 2, duration))
                .await??;
            eprintln!("NVENC: {:.1} Mpx/s sustained", n.pixels_per_second / 1e6);
            Some(n)
        }
        Err(reason) => {
            eprintln!("NVENC not measured: {reason}");
            None
        }
    };
    // The GPU paths, where their pieces are here: each through the ladder of gpu-check.
    let paths = tokio::task::spawn_blocking(move || livefleet_worker::gpu_check::check(duration))
        .await?
        .modes;
    for m in paths
        .iter()
        .filter(|m| m.mode == "zero_copy" || m.mode == "hybrid")
    {
        match (m.frames_per_second, &m.reason) {
            (Some(fps), _) => eprintln!(
                "{}: {fps:.0} source frames/s through a 720p/480p/360p ladder",
                m.mode
            ),
            (None, Some(why)) => eprintln!("{} not measured: {why}", m.mode),
            (None, None) => {}
        }
    }
    println!("# livefleet worker --config (80% of the measured rates)");
    println!("capacity_cpu_pps: {}", cpu.capacity_pps);
    println!(
        "capacity_nvenc_pps: {}",
        nvenc.map_or(0, |n| n.capacity_pps)
    );
    Ok(ExitCode::SUCCESS)
}
