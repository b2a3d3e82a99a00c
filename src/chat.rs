//! `livefleet chat`: the chat relay, and `livefleet chat token` to issue a
//! connection token.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use livefleet_chat::{ChatConfig, TokenKey};

use crate::{config, nats, services};

/// The environment variable that holds the tokens' secret.
pub const SECRET_ENV: &str = "LIVEFLEET_CHAT_SECRET";

/// The chat relay (Centrifugo-compatible WebSocket at /connection/websocket).
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ChatArgs {
    #[command(subcommand)]
    pub command: Option<ChatCommand>,
    #[command(flatten)]
    pub run: RelayArgs,
}

#[derive(clap::Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub nats: nats::NatsArgs,
    /// HTTP listen address (WebSocket, /v1/chat ranges, /metrics).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Relay configuration (YAML; every key in docs/config/chat.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where chat replay files go: a directory, or s3://bucket/prefix.
    #[arg(long, default_value = "livefleet-data")]
    pub storage: String,
}

#[derive(clap::Subcommand)]
pub enum ChatCommand {
    /// Prints a connection token (HS256 JWT) signed with the chat secret.
    Token(TokenArgs),
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The user id (the token's `sub`).
    #[arg(long)]
    pub user: String,
    /// Display name (`info.name`); the user id when not given.
    #[arg(long)]
    pub name: Option<String>,
    /// May delete messages, ban and time out users.
    #[arg(long)]
    pub moderator: bool,
    /// Lifetime in seconds (0: no expiry).
    #[arg(long, default_value_t = 86_400)]
    pub ttl: i64,
    /// Relay configuration to read the secret from (else LIVEFLEET_CHAT_SECRET).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The tokens' key: LIVEFLEET_CHAT_SECRET, else the configuration's `secret`.
pub fn key(config: &ChatConfig) -> anyhow::Result<Option<TokenKey>> {
    let secret = std::env::var(SECRET_ENV)
        .ok()
        .or_else(|| config.secret.clone());
    secret
        .map(|s| TokenKey::new(&s).map_err(anyhow::Error::from))
        .transpose()
}

pub async fn run(a: ChatArgs) -> anyhow::Result<()> {
    match a.command {
        Some(ChatCommand::Token(t)) => token(t),
        None => relay(a.run).await,
    }
}

fn token(t: TokenArgs) -> anyhow::Result<()> {
    let config: ChatConfig = config::load(t.config.as_deref())?;
    let key = key(&config)?.with_context(|| {
        format!("no chat secret: set {SECRET_ENV} or `secret` in the relay configuration")
    })?;
    let now = livefleet_base::now_unix_ms() / 1000;
    let ttl = (t.ttl > 0).then_some(t.ttl);
    println!(
        "{}",
        key.issue(&t.user, t.name.as_deref(), t.moderator, now, ttl)
    );
    Ok(())
}

async fn relay(a: RelayArgs) -> anyhow::Result<()> {
    let config: ChatConfig = config::load(a.config.as_deref())?;
    let key = key(&config)?;
    if key.is_none() {
        tracing::warn!(
            "no chat secret ({SECRET_ENV} or `secret`): every token is refused, nobody can send"
        );
    }
    let storage = livefleet_storage::Location::parse(&a.storage)
        .context("--storage")?
        .open()
        .await
        .context("opening the chat storage")?;
    let (client, js) = nats::connect(&a.nats, "livefleet-chat").await?;
    let _upkeep = livefleet_bus::spawn_upkeep(js.clone());
    let listener = services::bind(a.listen, "chat").await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        services::termination().await;
        s.cancel();
    });
    services::chat(
        (client, js),
        listener,
        config,
        key,
        storage,
        prometheus::Registry::new(),
        stop,
    )
    .await
}
