//! A viewer spike through a real HTTP cache: Varnish (Debian's `varnish`),
//! configured from `docker/varnish/livefleet.vcl`, in front of `livefleet
//! dev`'s origin. Simulated viewers join a live channel within one second
//! and play the way HLS players do: the multivariant playlist once, then one
//! video rendition and the audio rendition, each polled once per target
//! duration, every new segment from the live edge (the last three at join)
//! fetched once. Used by `tests/spike.rs` (which asserts) and
//! `benches/viewer_spike.rs` (which prints).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{free_port, http_get, repo, text, Dev};

/// varnishd, killed on drop.
pub struct Varnish(Child);

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lets this process hold a connection per viewer.
pub fn raise_open_files() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

pub fn start_varnish(origin_port: u16, dir: &std::path::Path) -> (Varnish, u16) {
    let vcl = fs::read_to_string(repo().join("docker/varnish/livefleet.vcl")).unwrap();
    assert!(vcl.contains(".port = \"8080\";"));
    let vcl = vcl.replace(".port = \"8080\";", &format!(".port = \"{origin_port}\";"));
    let vcl_path = dir.join("livefleet.vcl");
    fs::write(&vcl_path, vcl).unwrap();
    let port = free_port();
    let child = Command::new("varnishd")
        .args(["-F", "-j", "none", "-s", "malloc,256m"])
        .arg("-f")
        .arg(&vcl_path)
        .args(["-a", &format!("127.0.0.1:{port}")])
        .arg("-n")
        .arg(dir.join("varnish"))
        .args(["-p", "thread_pool_min=50", "-p", "thread_pool_max=2000"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("varnish.log")).unwrap())
        .spawn()
        .expect("varnishd (Debian package varnish; scripts/setup installs it)");
    let varnish = Varnish(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "varnishd did not listen: {}",
            fs::read_to_string(dir.join("varnish.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (varnish, port)
}

/// One HTTP/1.1 response.
struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection to the cache.
struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    async fn get(&mut self, path: &str) -> std::io::Result<Response> {
        for attempt in 0..2 {
            if self.conn.is_none() {
                self.conn = Some(BufReader::new(
                    TcpStream::connect(("127.0.0.1", self.port)).await?,
                ));
            }
            let conn = self.conn.as_mut().unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: cdn.test\r\n\r\n");
            let r = async {
                conn.get_mut().write_all(request.as_bytes()).await?;
                read_response(conn).await
            }
            .await;
            match r {
                Ok(resp) => {
                    if resp
                        .headers
                        .get("connection")
                        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
                    {
                        self.conn = None;
                    }
                    return Ok(resp);
                }
                // A kept-alive connection the server closed: once more on a new one.
                Err(_) if attempt == 0 => self.conn = None,
                Err(e) => return Err(e),
            }
        }
        unreachable!()
    }
}

async fn read_response(conn: &mut BufReader<TcpStream>) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Err(bad("closed"));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut headers = HashMap::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(n) = headers
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        body.resize(n, 0);
        conn.read_exact(&mut body).await?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim(), 16).map_err(|_| bad("chunk size"))?;
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..]).await?;
            line.clear();
            conn.read_line(&mut line).await?;
            if size == 0 {
                break;
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// What the viewers saw, summed.
#[derive(Default)]
pub struct Tally {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub stale_playlists: AtomicU64,
    pub segments: AtomicU64,
    /// Segments that left the live window before a viewer polled again: the
    /// load generator (or the encoder) starved of CPU on a 2-core machine,
    /// never a request the cache failed. Reported, and bounded.
    pub late_missed: AtomicU64,
    /// Polls that came later than the playlist's window allows.
    pub late_polls: AtomicU64,
}

/// URIs of a playlist: `(init, segments)`.
fn entries(text: &str) -> (Option<String>, Vec<String>) {
    let mut init = None;
    let mut segs = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("#EXT-X-MAP:URI=\"") {
            init = rest.split('"').next().map(str::to_string);
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            segs.push(l.trim().to_string());
        }
    }
    (init, segs)
}

fn max_age(resp: &Response) -> Option<u64> {
    resp.headers.get("cache-control")?.split(',').find_map(|d| {
        d.trim()
            .strip_prefix("max-age=")
            .and_then(|v| v.parse().ok())
    })
}

/// One player following one media playlist until `end`.
async fn follow(client: &mut Client, base: &str, playlist: &str, end: Instant, tally: &Tally) {
    let dir = playlist.rsplit_once('/').map_or("", |(d, _)| d);
    let mut fetched: BTreeSet<u64> = BTreeSet::new();
    let mut have_init = false;
    let mut last_poll: Option<Instant> = None;
    while Instant::now() < end {
        let polled = Instant::now();
        let since_last = last_poll.map(|t| polled - t);
        last_poll = Some(polled);
        tally.requests.fetch_add(1, Ordering::Relaxed);
        let resp = match client.get(&format!("{base}/{playlist}")).await {
            Ok(r) if r.status == 200 => r,
            _ => {
                tally.failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let age: u64 = resp
            .headers
            .get("age")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        if max_age(&resp).is_some_and(|m| age > m) {
            tally.stale_playlists.fetch_add(1, Ordering::Relaxed);
        }
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        let (init, mut segs) = entries(&text);
        let target = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(2);
        let number = |s: &String| {
            s.split(['.', '-'])
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        };
        if fetched.is_empty() {
            // Players join at the live edge: three target durations from the end
            // (RFC 8216 6.3.3), not at the start of the window.
            segs.drain(..segs.len().saturating_sub(3));
        } else if let (Some(last), Some(first)) = (fetched.last(), segs.first().and_then(number)) {
            // Segments that left the window since the last poll, never fetched.
            let skipped = first.saturating_sub(last + 1);
            if skipped > 0 {
                tally.late_missed.fetch_add(skipped, Ordering::Relaxed);
            }
        }
        if since_last.is_some_and(|d| d > Duration::from_secs(target * 3)) {
            tally.late_polls.fetch_add(1, Ordering::Relaxed);
        }
        if let (Some(init), false) = (init, have_init) {
            tally.requests.fetch_add(1, Ordering::Relaxed);
            match client.get(&format!("{base}/{dir}/{init}")).await {
                Ok(r) if r.status == 200 && !r.body.is_empty() => have_init = true,
                _ => {
                    tally.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for seg in segs {
            let Some(n) = seg
                .split(['.', '-'])
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if fetched.contains(&n) {
                continue;
            }
            tally.requests.fetch_add(1, Ordering::Relaxed);
            match client.get(&format!("{base}/{dir}/{seg}")).await {
                Ok(r) if r.status == 200 && !r.body.is_empty() => {
                    fetched.insert(n);
                    tally.segments.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    tally.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Players poll a live playlist once per target duration.
        tokio::time::sleep(Duration::from_secs(target).saturating_sub(polled.elapsed())).await;
    }
}

async fn viewer(i: usize, port: u16, end: Instant, tally: Arc<Tally>) {
    let mut client = Client { port, conn: None };
    let base = "/live/demo";
    tally.requests.fetch_add(1, Ordering::Relaxed);
    let master = match client.get(&format!("{base}/master.m3u8")).await {
        Ok(r) if r.status == 200 => String::from_utf8_lossy(&r.body).into_owned(),
        _ => {
            tally.failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let variants: Vec<String> = master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect();
    let audio = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:") && l.contains("TYPE=AUDIO"))
        .find_map(|l| {
            l.split("URI=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_string)
        });
    let video = variants[i % variants.len()].clone();
    // A player's video and audio requests go out side by side, on two connections.
    let mut audio_client = Client { port, conn: None };
    let t = tally.clone();
    let audio_task = async move {
        if let Some(a) = audio {
            follow(&mut audio_client, base, &a, end, &t).await;
        }
    };
    tokio::join!(follow(&mut client, base, &video, end, &tally), audio_task);
}

/// Origin requests by kind, from dev's /metrics; `"{kind} 304"` counts
/// those answered Not Modified (a revalidation).
pub fn origin_requests(dev: &Dev) -> HashMap<String, f64> {
    let (_, _, body) = http_get(&format!("{}/metrics", dev.http));
    let mut out = HashMap::new();
    for line in text(&body).lines() {
        if let Some(rest) = line.strip_prefix("livefleet_origin_requests_total{kind=\"") {
            let kind = rest.split('"').next().unwrap_or("").to_string();
            let v: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            if line.contains("status=\"3xx\"") {
                *out.entry(format!("{kind} 304")).or_insert(0.0) += v;
            }
            *out.entry(kind).or_insert(0.0) += v;
        }
    }
    out
}

/// What a spike measured.
pub struct Spike {
    pub viewers: usize,
    pub play: Duration,
    pub tally: Arc<Tally>,
    /// Origin requests by kind during the spike (`playlist`, `segment`,
    /// `init`; `playlist 304` for playlists revalidated unchanged).
    pub origin: HashMap<String, f64>,
    /// Wall time from the first join to the last viewer leaving.
    pub seconds: f64,
}

impl Spike {
    pub fn origin(&self, kind: &str) -> f64 {
        self.origin.get(kind).copied().unwrap_or(0.0)
    }

    pub fn origin_total(&self) -> f64 {
        self.origin("playlist") + self.origin("segment") + self.origin("init")
    }

    pub fn viewer_requests(&self) -> f64 {
        self.tally.requests.load(Ordering::Relaxed) as f64
    }

    /// Viewer requests per origin request.
    pub fn offload(&self) -> f64 {
        self.viewer_requests() / self.origin_total().max(1.0)
    }
}

/// `viewers` join `dev`'s live channel `demo` through Varnish within one
/// second and play for `play`.
pub fn run(dev: &Dev, viewers: usize, play: Duration) -> Spike {
    raise_open_files();
    let dir = tempfile::tempdir().unwrap();
    dev.wait_for(60, "the first segments", || {
        http_get(&dev.url("360p/index.m3u8"))
            .2
            .windows(4)
            .any(|w| w == b".m4s")
    });
    let origin_port: u16 = dev.http.rsplit(':').next().unwrap().parse().unwrap();
    let (_varnish, port) = start_varnish(origin_port, dir.path());
    let before = origin_requests(dev);
    let tally = Arc::new(Tally::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::with_capacity(viewers);
        for i in 0..viewers {
            let tally = tally.clone();
            // Every viewer joins within the first second.
            let join_at = Duration::from_micros((i as u64 * 1_000_000) / viewers as u64);
            let end = started + join_at + play;
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(join_at).await;
                viewer(i, port, end, tally).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let after = origin_requests(dev);
    let origin = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect();
    Spike {
        viewers,
        play,
        tally,
        origin,
        seconds,
    }
}
