//! Test harness: a real ingest on a free loopback port, real publishers
//! (ffmpeg, GStreamer) and a scripted RTMP client for hostile input.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use livefleet_base::{ChannelName, MediaPacket, PacketKind};
use livefleet_ingest::{
    serve, ChannelSink, IngestConfig, IngestMetrics, MediaSink, PublishGate, StaticKeys,
};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

/// Generous bound so a broken test fails instead of hanging; never a performance check.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
}

pub fn channel(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

/// The ingest, serving on 127.0.0.1:0 until dropped.
pub struct TestIngest {
    pub addr: SocketAddr,
    pub packets: mpsc::UnboundedReceiver<(ChannelName, MediaPacket)>,
    pub metrics: IngestMetrics,
    stop: Option<oneshot::Sender<()>>,
}

impl TestIngest {
    /// Keys map to channels: `[("secret", "demo")]`.
    pub async fn start(keys: &[(&str, &str)], config: IngestConfig) -> Self {
        let keys: HashMap<String, ChannelName> = keys
            .iter()
            .map(|(k, c)| (k.to_string(), channel(c)))
            .collect();
        Self::start_with_gate(Arc::new(StaticKeys(keys)), config).await
    }

    /// The ingest asking `gate` who may publish.
    pub async fn start_with_gate(gate: Arc<dyn PublishGate>, config: IngestConfig) -> Self {
        Self::start_with_sink(gate, config, |sink| Arc::new(sink)).await
    }

    /// The ingest asking `gate` who may publish, its packets going through
    /// the sink `wrap` makes of the test's channel sink.
    pub async fn start_with_sink(
        gate: Arc<dyn PublishGate>,
        config: IngestConfig,
        wrap: impl FnOnce(ChannelSink) -> Arc<dyn MediaSink>,
    ) -> Self {
        init_tracing();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sink, packets) = ChannelSink::new();
        let metrics = IngestMetrics::unregistered();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            config,
            gate,
            wrap(sink),
            metrics.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            packets,
            metrics,
            stop: Some(stop),
        }
    }

    pub fn url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.addr)
    }

    /// Packets of `channel` up to and including its End packet (others are kept aside).
    pub async fn until_end(
        &mut self,
        channel: &str,
        aside: &mut Vec<(ChannelName, MediaPacket)>,
    ) -> Vec<MediaPacket> {
        let mut out = Vec::new();
        loop {
            let (c, p) = timeout(PATIENCE, self.packets.recv())
                .await
                .unwrap_or_else(|_| panic!("no End for {channel}; got {} packets", out.len()))
                .expect("sink closed");
            if c.as_str() == channel {
                let end = p.kind == PacketKind::End;
                out.push(p);
                if end {
                    return out;
                }
            } else {
                aside.push((c, p));
            }
        }
    }

    /// Waits for the first packet of `channel`.
    pub async fn first_packet(&mut self, channel: &str) -> MediaPacket {
        loop {
            let (c, p) = timeout(PATIENCE, self.packets.recv())
                .await
                .expect("no packet")
                .expect("sink closed");
            if c.as_str() == channel {
                return p;
            }
        }
    }
}

impl Drop for TestIngest {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// ffmpeg publishing a 640x360 30 fps H.264 (2 s GOP, B-frames) + AAC test
/// pattern in real time for `seconds`.
pub fn ffmpeg_publish(url: &str, seconds: u32) -> Child {
    ffmpeg_publisher(&["-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "superfast",
            "-bf",
            "2",
            "-g",
            "60",
            "-keyint_min",
            "60",
        ])
        .args(["-sc_threshold", "0", "-pix_fmt", "yuv420p", "-threads", "1"])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv", url])
        .spawn()
        .expect("ffmpeg runs")
}

/// ffmpeg with `args` (the inputs first), quiet, its stderr kept for
/// [`finish`], killed on drop; add the output and spawn it.
pub fn ffmpeg_publisher(args: &[&str]) -> Command {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Waits for a publisher to exit; returns (success, stderr).
pub async fn finish(child: Child) -> (bool, String) {
    let out = timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("publisher hangs")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scripted RTMP client built on rml_rtmp's client side.
pub struct RawClient {
    pub socket: TcpStream,
    session: Option<ClientSession>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            socket: TcpStream::connect(addr).await.unwrap(),
            session: None,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.socket.write_all(bytes).await
    }

    /// Completes the handshake; bytes the server sent after it are fed to the session later.
    pub async fn handshake(&mut self) -> Vec<u8> {
        let mut hs = Handshake::new(PeerType::Client);
        let p0p1 = hs.generate_outbound_p0_and_p1().unwrap();
        self.send(&p0p1).await.unwrap();
        let mut buf = vec![0u8; 8192];
        loop {
            let n = timeout(PATIENCE, self.socket.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "server closed during handshake");
            match hs.process_bytes(&buf[..n]).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.send(&response_bytes).await.unwrap()
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    self.send(&response_bytes).await.unwrap();
                    return remaining_bytes;
                }
            }
        }
    }

    /// Handshake, connect to `live`, publish on `key`.
    pub async fn publish(addr: SocketAddr, key: &str) -> Self {
        let mut c = Self::connect(addr).await;
        let rest = c.handshake().await;
        let (session, _) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        c.session = Some(session);
        c.feed(&rest).await;
        let r = c
            .session
            .as_mut()
            .unwrap()
            .request_connection("live".to_owned())
            .unwrap();
        c.out(r).await;
        c.wait_for(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))
            .await;
        let r = c
            .session
            .as_mut()
            .unwrap()
            .request_publishing(key.to_owned(), PublishRequestType::Live)
            .unwrap();
        c.out(r).await;
        c.wait_for(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))
            .await;
        c
    }

    async fn out(&mut self, r: ClientSessionResult) {
        if let ClientSessionResult::OutboundResponse(p) = r {
            self.send(&p.bytes).await.unwrap();
        }
    }

    async fn feed(&mut self, bytes: &[u8]) -> Vec<ClientSessionEvent> {
        let results = self.session.as_mut().unwrap().handle_input(bytes).unwrap();
        let mut events = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => self.send(&p.bytes).await.unwrap(),
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        events
    }

    async fn wait_for(&mut self, want: impl Fn(&ClientSessionEvent) -> bool) {
        let mut buf = vec![0u8; 8192];
        loop {
            let n = timeout(PATIENCE, self.socket.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "server closed the connection");
            if self.feed(&buf[..n]).await.iter().any(&want) {
                return;
            }
        }
    }

    pub async fn video(&mut self, ts: u32, body: Vec<u8>) -> std::io::Result<()> {
        let r = self.session.as_mut().unwrap().publish_video_data(
            Bytes::from(body),
            RtmpTimestamp::new(ts),
            false,
        );
        match r.unwrap() {
            ClientSessionResult::OutboundResponse(p) => self.send(&p.bytes).await,
            _ => Ok(()),
        }
    }

    /// Whether the server closes the connection (reads until EOF or reset).
    pub async fn closed_by_server(&mut self) -> bool {
        let mut buf = vec![0u8; 8192];
        let read_all = async {
            loop {
                match self.socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        timeout(PATIENCE, read_all).await.is_ok()
    }
}

/// An AVC sequence header tag body for a small valid record.
pub fn avc_sequence_header() -> Vec<u8> {
    let mut v = vec![0x17, 0, 0, 0, 0];
    v.extend_from_slice(&[
        1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1e,
    ]);
    v.extend_from_slice(&[0x01, 0x00, 0x02, 0x68, 0xce]);
    v
}

/// An H.264 picture tag body with one small NAL unit.
pub fn avc_picture(key: bool) -> Vec<u8> {
    vec![
        if key { 0x17 } else { 0x27 },
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        2,
        0x65,
        0x88,
    ]
}
