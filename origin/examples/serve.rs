//! Serves a storage directory with the viewer page, for trying the origin by
//! hand: `cargo run -p livefleet-origin --example serve -- <dir> [port]`.

use livefleet_origin::{router, serve, OriginConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| "storage".to_owned());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("serving {root} on http://{}/", listener.local_addr()?);
    let app = router(OriginConfig::new(root.into()), prometheus::Registry::new());
    serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
