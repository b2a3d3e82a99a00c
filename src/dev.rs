//! `livefleet dev`: the whole system in one process, for a newcomer's first
//! minute and for tests. NATS (a child `nats-server` unless `--nats-url`),
//! the ingest, one worker (encoder auto), the HTTP origin with the viewer
//! page, and optionally a synthetic publisher.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use livefleet_base::ChannelName;
use livefleet_bus::{
    generate_stream_key, validate_stream_key, ChannelRecord, ChannelRegistry, NatsServer,
};
use livefleet_ingest::IngestConfig;
use livefleet_origin::OriginConfig;
use livefleet_profile::LadderProfile;
use livefleet_storage::Location;
use livefleet_worker::archive::ArchiveConfig;
use livefleet_worker::channel::LiveTiming;
use tokio_util::sync::CancellationToken;

use crate::services;

/// The profile `dev` uses without `--profile`: small enough for any laptop.
pub const DEFAULT_PROFILE: &str = include_str!("../ladder-profiles/cpu-small.yaml");

/// Everything on one machine: nats-server (child process), RTMP ingest, one worker, HTTP origin with a viewer page.
#[derive(clap::Args)]
pub struct DevArgs {
    /// Without --nats-url, dev starts a nats-server of its own.
    #[command(flatten)]
    pub nats: crate::nats::NatsArgs,
    /// RTMP listen address.
    #[arg(long, default_value = "0.0.0.0:1935")]
    pub rtmp: SocketAddr,
    /// HTTP listen address (origin, viewer page, /metrics).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Data directory: NATS's files, and the segments and manifests (under
    /// live/<channel>/ and vod/) unless --storage names another place.
    #[arg(long, default_value = "livefleet-data")]
    pub data: PathBuf,
    /// Where segments, manifests and the archive go: a directory, or
    /// s3://BUCKET/PREFIX on any S3-compatible store (credentials, region and
    /// endpoint from the AWS environment: AWS_ACCESS_KEY_ID, AWS_REGION,
    /// AWS_ENDPOINT_URL). The origin serves from it. Default: the --data directory.
    #[arg(long)]
    pub storage: Option<String>,
    /// Channel name.
    #[arg(long, default_value = "demo")]
    pub channel: livefleet_base::ChannelName,
    /// Stream key for the channel (default: random, printed at start).
    #[arg(long)]
    pub stream_key: Option<String>,
    /// Ladder profile (default: the built-in ladder-profiles/cpu-small.yaml).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Publish a synthetic test pattern with sound into the ingest.
    #[arg(long)]
    pub demo_source: bool,
    /// Seconds a broadcast waits for its publisher to come back before it ends (ENDLIST).
    #[arg(long, default_value_t = 10.0)]
    pub grace: f64,
    /// Chat relay listen address (WebSocket at /connection/websocket).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub chat: SocketAddr,
    /// Seconds after a broadcast's VOD copy (vod/<channel>/<broadcast>/) at
    /// which its live copy is deleted (default: kept).
    #[arg(long, conflicts_with = "no_archive")]
    pub delete_live_after: Option<f64>,
    /// Keep no VOD copy: segments are deleted once they have left the live
    /// window (a channel that runs for days keeps about two windows).
    #[arg(long)]
    pub no_archive: bool,
    #[command(flatten)]
    pub window: crate::window::WindowArgs,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,
}

impl DevArgs {
    pub fn options(self) -> DevOptions {
        DevOptions {
            nats: self.nats,
            rtmp: self.rtmp,
            http: self.http,
            data: self.data,
            storage: self.storage,
            channel: self.channel,
            stream_key: self.stream_key,
            profile: self.profile,
            demo_source: self.demo_source,
            grace: crate::config::seconds(self.grace),
            chat: self.chat,
            archive: ArchiveConfig {
                enabled: !self.no_archive,
                delete_live_after_seconds: self.delete_live_after,
                ..ArchiveConfig::default()
            },
            window: self.window,
            webhooks: self.webhooks,
        }
    }
}

pub struct DevOptions {
    pub nats: crate::nats::NatsArgs,
    pub rtmp: SocketAddr,
    pub http: SocketAddr,
    pub data: PathBuf,
    pub storage: Option<String>,
    pub channel: ChannelName,
    pub stream_key: Option<String>,
    pub profile: Option<PathBuf>,
    pub demo_source: bool,
    pub grace: Duration,
    pub chat: SocketAddr,
    pub archive: ArchiveConfig,
    pub window: crate::window::WindowArgs,
    pub webhooks: crate::webhooks::WebhookArgs,
}

pub async fn run(o: DevOptions) -> anyhow::Result<()> {
    o.archive.validate()?;
    std::fs::create_dir_all(&o.data)
        .with_context(|| format!("cannot create the data directory {}", o.data.display()))?;
    let data = o.data.canonicalize().unwrap_or(o.data.clone());
    // The store first: a wrong bucket, credential or endpoint stops dev before anything starts.
    let location = match &o.storage {
        Some(s) => Location::parse(s).context("--storage")?,
        None => Location::Local(data.clone()),
    };
    let on_s3 = matches!(location, Location::S3 { .. });
    let store = services::open_storage(&location).await?;
    let (profile_text, profile_label) = match &o.profile {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            DEFAULT_PROFILE.to_owned(),
            "ladder-profiles/cpu-small.yaml (built in)".to_owned(),
        ),
    };
    let profile = LadderProfile::from_yaml(&profile_label, &profile_text)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stream_key = match o.stream_key.clone() {
        Some(k) => {
            validate_stream_key(&k).map_err(|e| anyhow::anyhow!("--stream-key: {e}"))?;
            k
        }
        None => generate_stream_key(),
    };

    // NATS: ours as a child process, or the one given.
    let mut nats_child = None;
    let nats = match &o.nats.url {
        Some(_) => o.nats.clone(),
        None => {
            let server = NatsServer::start(Some(data.join("nats"))).await.map_err(|e| {
                anyhow::anyhow!("{e}\n(`livefleet dev` starts nats-server itself: install it with `apt-get install nats-server`, or pass --nats-url nats://HOST:4222)")
            })?;
            tracing::info!(url = %server.url(), "started nats-server");
            let url = server.url();
            nats_child = Some(server);
            o.nats.with_url(url)
        }
    };
    let (client, js) = crate::nats::connect(&nats, "livefleet-dev").await?;
    let _upkeep = livefleet_bus::spawn_upkeep(js.clone());

    // The channel, created fresh with this key and profile.
    let registry = ChannelRegistry::open(&js)
        .await
        .context("opening the channel registry")?;
    if registry.get(&o.channel).await?.is_some() {
        registry.delete(&o.channel).await?;
    }
    registry
        .create(ChannelRecord {
            name: o.channel.clone(),
            stream_key: stream_key.clone(),
            profile_yaml: profile_text,
            profile_name: profile.name.clone(),
            created_unix_ms: livefleet_base::now_unix_ms(),
        })
        .await
        .context("creating the channel")?;

    let rtmp_listener = services::bind(o.rtmp, "RTMP").await?;
    let http_listener = services::bind(o.http, "HTTP").await?;
    // The chat relay is an extra: a busy port moves it rather than stop dev.
    let chat_listener = match services::bind(o.chat, "chat").await {
        Ok(l) => l,
        Err(e) => {
            let mut any = o.chat;
            any.set_port(0);
            tracing::warn!(error = %e, "the chat port is taken; the relay listens on a free port");
            services::bind(any, "chat").await?
        }
    };
    let rtmp_addr = rtmp_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let chat_addr = chat_listener.local_addr()?;
    let metrics = prometheus::Registry::new();
    let stop = CancellationToken::new();

    let mut tasks = tokio::task::JoinSet::new();
    {
        let (js, metrics, stop) = (js.clone(), metrics.clone(), stop.clone());
        tasks.spawn(async move {
            services::ingest(
                js,
                None,
                rtmp_listener,
                IngestConfig::default(),
                &metrics,
                stop,
            )
            .await
        });
    }
    // The origin's clock, for the MPD's UTCTiming (dash.js synchronises on it).
    let mut time_addr = http_addr;
    if time_addr.ip().is_unspecified() {
        time_addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timing = o.window.apply(LiveTiming {
        grace: o.grace,
        utc_timing_url: Some(format!("http://{time_addr}/time")),
        ..LiveTiming::default()
    })?;
    let _webhooks = crate::webhooks::start(
        &js,
        o.webhooks.clone(),
        livefleet_scheduler::webhooks::Urls {
            playback_base: format!("http://{time_addr}/live"),
            vod_base: format!("http://{time_addr}/vod"),
        },
        &metrics,
    )?;
    tasks.spawn(services::worker(
        js.clone(),
        "dev".into(),
        store.clone(),
        timing,
        o.archive.clone(),
        metrics.clone(),
        stop.clone(),
    ));
    // The chat relay: its secret from the environment, or one for this run.
    let chat_config = livefleet_chat::ChatConfig::default();
    let chat_key = match crate::chat::key(&chat_config)? {
        Some(k) => k,
        None => {
            let secret: String = (0..48)
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand_index(36)]))
                .collect();
            livefleet_chat::TokenKey::new(&secret)?
        }
    };
    let dev_token = chat_key.issue(
        "dev",
        Some("dev"),
        true,
        livefleet_base::now_unix_ms() / 1000,
        Some(7 * 86_400),
    );
    {
        tasks.spawn(services::chat(
            (client, js.clone()),
            chat_listener,
            chat_config,
            Some(chat_key),
            store.clone(),
            metrics.clone(),
            stop.clone(),
        ));
    }
    let mut chat_host = chat_addr;
    if chat_host.ip().is_unspecified() {
        chat_host.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let chat_url = format!("ws://{chat_host}/connection/websocket");
    let origin = livefleet_origin::router(
        OriginConfig {
            root: data.clone(),
            store: on_s3.then(|| store.clone()),
            assets: None,
            default_channel: o.channel.to_string(),
            chat_url: Some(chat_url.clone()),
        },
        metrics.clone(),
    );
    let origin_stop = stop.clone();
    tasks.spawn(async move {
        livefleet_origin::serve(http_listener, origin, async move {
            origin_stop.cancelled().await
        })
        .await
        .context("HTTP origin")
    });

    let publish_host = if rtmp_addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        rtmp_addr.ip().to_string()
    };
    let publish_url = format!(
        "rtmp://{publish_host}:{}/live/{stream_key}",
        rtmp_addr.port()
    );
    // Printing must not kill the system when nobody reads stdout any more.
    let out = std::io::stdout();
    macro_rules! println {
        ($($t:tt)*) => {{
            use std::io::Write as _;
            let _ = writeln!(out.lock(), $($t)*);
        }};
    }
    println!("livefleet dev is running (Ctrl-C stops everything)");
    println!("  publish:  {publish_url}");
    println!("            OBS: Settings > Stream > Service: Custom, Server: rtmp://{publish_host}:{}/live, Stream Key: {stream_key}", rtmp_addr.port());
    println!("  watch:    http://{http_addr}/?channel={}", o.channel);
    println!(
        "            (to chat as dev: http://{http_addr}/?channel={}#token={dev_token})",
        o.channel
    );
    println!(
        "  HLS:      http://{http_addr}/live/{}/master.m3u8",
        o.channel
    );
    println!(
        "  DASH:     http://{http_addr}/live/{}/manifest.mpd",
        o.channel
    );
    println!(
        "  preview:  http://{http_addr}/live/{}/{}",
        o.channel,
        livefleet_base::THUMBNAIL_PATH
    );
    println!("  chat:     {chat_url}");
    println!(
        "  token:    {dev_token}   (user dev, moderator; `livefleet chat token` makes others)"
    );
    println!("  metrics:  http://{http_addr}/metrics");
    if let Some(url) = o.webhooks.webhook_url.as_deref().filter(|u| !u.is_empty()) {
        println!("  webhooks: {url}");
    }
    if on_s3 {
        println!("  storage:  {location}");
    }
    println!("  data:     {}", data.display());

    if o.demo_source {
        let stop = stop.clone();
        tasks.spawn(async move { demo_source(publish_url, stop).await });
    }

    tokio::select! {
        _ = services::termination() => tracing::info!("stopping"),
        Some(r) = tasks.join_next() => {
            // A part stopped on its own: stop the rest and report why.
            stop.cancel();
            r.context("task")??;
            anyhow::bail!("a part of the system stopped unexpectedly");
        }
    }
    stop.cancel();
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "while stopping");
        }
    }
    if nats_child.is_some() {
        livefleet_bus::stopping_own_server();
    }
    drop(nats_child);
    Ok(())
}

/// A random index below `n`.
fn rand_index(n: usize) -> usize {
    (rand::random::<u32>() as usize) % n
}

/// A synthetic publisher (test pattern with a beep) into our own ingest,
/// restarted if it stops, until `stop`.
async fn demo_source(url: String, stop: CancellationToken) -> anyhow::Result<()> {
    loop {
        let mut child = tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:beep_factor=4:sample_rate=48000",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-b:v",
                "2500k",
            ])
            .args([
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv", &url])
            .kill_on_drop(true)
            // Ctrl-C stops dev, which stops the demo publisher itself.
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .spawn()
            .context("cannot start ffmpeg for --demo-source (install the ffmpeg CLI)")?;
        tracing::info!("demo source publishing");
        tokio::select! {
            status = child.wait() => tracing::warn!(?status, "demo source stopped; restarting in 1 s"),
            _ = stop.cancelled() => {
                let _ = child.kill().await;
                return Ok(());
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
            _ = stop.cancelled() => return Ok(()),
        }
    }
}
