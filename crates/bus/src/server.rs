//! A `nats-server` child process: the bus of `livefleet dev` and the harness
//! of every integration test.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::BusError;

/// Largest message the child server accepts (`max_payload`). 8 MB is the
/// ceiling nats-server recommends; it keeps typical keyframes in one message.
pub const CHILD_MAX_PAYLOAD: usize = 8 * 1024 * 1024;

/// How long `start` waits for the server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `Drop` and `restart` wait after SIGTERM before killing.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Log lines kept for error messages.
const LOG_TAIL: usize = 30;

/// Where the server keeps its JetStream data.
enum Store {
    Owned(tempfile::TempDir),
    Given(PathBuf),
}

impl Store {
    fn path(&self) -> &Path {
        match self {
            Store::Owned(dir) => dir.path(),
            Store::Given(path) => path,
        }
    }
}

/// A running `nats-server` with JetStream on 127.0.0.1.
///
/// Dropping it stops the process (SIGTERM, then SIGKILL after a grace period)
/// and removes the store directory when it was a temporary one.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    max_payload: usize,
    store: Store,
    child: Option<Child>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl NatsServer {
    /// Starts `nats-server` found on PATH with JetStream on 127.0.0.1 and a
    /// free port, the store in `store_dir` (a temporary directory if `None`)
    /// and `max_payload` of [`CHILD_MAX_PAYLOAD`]; returns once it accepts
    /// connections (bounded wait of about 10 s).
    pub async fn start(store_dir: Option<PathBuf>) -> Result<NatsServer, BusError> {
        Self::start_with_max_payload(store_dir, CHILD_MAX_PAYLOAD).await
    }

    /// Like [`start`](Self::start) with another `max_payload` (bytes), e.g.
    /// the server default of 1 MB to exercise fragmentation.
    pub async fn start_with_max_payload(
        store_dir: Option<PathBuf>,
        max_payload: usize,
    ) -> Result<NatsServer, BusError> {
        let binary = find_binary().ok_or(BusError::NatsServerNotFound)?;
        let store = match store_dir {
            Some(path) => {
                std::fs::create_dir_all(&path).map_err(|source| BusError::Io {
                    what: "cannot create the NATS store directory",
                    path: path.clone(),
                    source,
                })?;
                Store::Given(path)
            }
            None => Store::Owned(
                tempfile::Builder::new()
                    .prefix("livefleet-nats-")
                    .tempdir()
                    .map_err(|source| BusError::Io {
                        what: "cannot create a temporary NATS store directory",
                        path: std::env::temp_dir(),
                        source,
                    })?,
            ),
        };
        let mut server = NatsServer {
            binary,
            port: 0,
            max_payload,
            store,
            child: None,
            log: Arc::new(Mutex::new(VecDeque::new())),
        };
        // A port picked by the kernel can be taken by someone else before the
        // server binds it; try a few times.
        const ATTEMPTS: u32 = 3;
        let mut attempt = 1;
        loop {
            server.port = free_port(server.store.path())?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(e @ BusError::NatsServerExited { .. }) if attempt < ATTEMPTS => {
                    tracing::debug!(
                        port = server.port,
                        "nats-server did not start, trying another port: {e}"
                    );
                }
                Err(e) => return Err(e),
            }
            attempt += 1;
        }
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// Stops the server and starts it again on the same port and store, so
    /// file-backed JetStream data (KV buckets) survives. Memory streams do
    /// not. Clients reconnect on their own.
    pub async fn restart(&mut self) -> Result<(), BusError> {
        self.stop();
        self.spawn_and_wait().await
    }

    async fn spawn_and_wait(&mut self) -> Result<(), BusError> {
        let dir = self.store.path().to_path_buf();
        let conf = dir.join("nats-server.conf");
        write_config(&conf, self.port, self.max_payload, &dir.join("jetstream"))?;
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|source| BusError::Io {
            what: "cannot start nats-server",
            path: self.binary.clone(),
            source,
        })?;
        tracing::debug!(pid = child.id(), port = self.port, "nats-server started");
        if let Some(stderr) = child.stderr.take() {
            forward_log(stderr, self.port, Arc::clone(&self.log));
        }
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    // Give the log thread a moment to collect the last lines.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Err(BusError::NatsServerExited {
                        status: status.to_string(),
                        log: self.log_tail(),
                    });
                }
            }
            let port = self.port;
            let ready = tokio::task::spawn_blocking(move || accepts_clients(port))
                .await
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let err = BusError::NatsServerNotReady {
                    url: self.url(),
                    waited: READY_TIMEOUT,
                    log: self.log_tail(),
                };
                self.stop();
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = self
            .log
            .lock()
            .map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n"));
        log.unwrap_or_default()
    }

    /// SIGTERM, wait up to the grace period, then SIGKILL; always reaps.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    tracing::warn!(pid = child.id(), "nats-server ignored SIGTERM; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        tracing::debug!(port = self.port, "nats-server stopped");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        // An owned TempDir removes itself when the field drops.
    }
}

/// The server gets SIGTERM when the thread that started it ends, so a
/// `livefleet dev` killed with SIGKILL (its `Drop` never runs) does not leave
/// an orphan holding the port. Callers start the server from a thread that
/// lives as long as the server: a runtime's worker or main thread.
///
/// It runs in a process group of its own: Ctrl-C in a terminal signals the
/// whole job, and a server that stopped with it left dev's worker unable to
/// end and archive its broadcasts. Its owner stops it, last.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // prctl and getppid, both async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died between fork and prctl: nobody would stop us.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// `nats-server` on PATH, or in the Debian location (`/usr/sbin` is often
/// missing from an ordinary user's PATH).
fn find_binary() -> Option<PathBuf> {
    let from_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .collect()
        })
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain([
            PathBuf::from("/usr/sbin/nats-server"),
            PathBuf::from("/usr/local/bin/nats-server"),
        ])
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn free_port(store: &Path) -> Result<u16, BusError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    listener
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| BusError::Io {
            what: "cannot find a free port for nats-server",
            path: store.to_path_buf(),
            source,
        })
}

fn write_config(
    conf: &Path,
    port: u16,
    max_payload: usize,
    jetstream_dir: &Path,
) -> Result<(), BusError> {
    // JSON strings are valid NATS config strings, and quote the path safely.
    let store = serde_json::to_string(&jetstream_dir.to_string_lossy()).unwrap_or_default();
    let text = format!(
        "# Written by livefleet for its child nats-server.\n\
         listen: \"127.0.0.1:{port}\"\n\
         max_payload: {max_payload}\n\
         jetstream {{\n  store_dir: {store}\n}}\n"
    );
    let write = std::fs::File::create(conf).and_then(|mut f| f.write_all(text.as_bytes()));
    write.map_err(|source| BusError::Io {
        what: "cannot write the nats-server configuration",
        path: conf.to_path_buf(),
        source,
    })
}

/// True once the server sends its `INFO` greeting.
fn accepts_clients(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut greeting = [0u8; 4];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO"
}

/// Forwards the server's log to tracing and keeps the last lines for errors.
fn forward_log(stderr: impl Read + Send + 'static, port: u16, tail: Arc<Mutex<VecDeque<String>>>) {
    let spawned = std::thread::Builder::new()
        .name(format!("nats-server-{port}-log"))
        .spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("[ERR]") || line.contains("[FTL]") {
                    tracing::warn!(target: "nats_server", port, "{line}");
                } else {
                    tracing::debug!(target: "nats_server", port, "{line}");
                }
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == LOG_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(port, "cannot start the nats-server log thread: {e}");
    }
}
