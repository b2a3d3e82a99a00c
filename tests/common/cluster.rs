//! Three real `nats-server` processes on loopback ports forming a JetStream
//! cluster (routes between all of them), started and stopped by the test.
//! Shared by the integration tests and `benches/bus_node_loss.rs`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

// The parent module's (`tests/common/ports.rs`, in the tests and the benches).
use super::free_port;

/// One server of the cluster.
pub struct Node {
    pub name: String,
    pub client_port: u16,
    cluster_port: u16,
    monitor_port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A JetStream cluster of real servers; every server is killed on drop.
pub struct NatsCluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts `n` servers (named n0, n1, ...) and waits until JetStream has a
    /// meta leader.
    pub fn start(n: usize) -> NatsCluster {
        let dir = tempfile::tempdir().unwrap();
        let nodes = (0..n)
            .map(|i| Node {
                name: format!("n{i}"),
                client_port: free_port(),
                cluster_port: free_port(),
                monitor_port: free_port(),
                store: dir.path().join(format!("js{i}")),
                log: dir.path().join(format!("nats{i}.log")),
                child: None,
            })
            .collect();
        let mut cluster = NatsCluster { nodes, _dir: dir };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster.wait_for(30, "a JetStream meta leader", |c| {
            c.jsz(None).is_some_and(|j| {
                j["meta_cluster"]["leader"]
                    .as_str()
                    .is_some_and(|l| !l.is_empty())
            })
        });
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| format!("nats://127.0.0.1:{}", n.cluster_port))
            .collect();
        let node = &self.nodes[i];
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &node.client_port.to_string()])
            .args(["-n", &node.name, "-js", "-sd", node.store.to_str().unwrap()])
            .args(["--cluster_name", "livefleet-test"])
            .args([
                "--cluster",
                &format!("nats://127.0.0.1:{}", node.cluster_port),
            ])
            .args(["--routes", &routes.join(",")])
            .args(["-m", &node.monitor_port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&node.log).unwrap())
            .spawn()
            .expect("nats-server");
        let port = node.client_port;
        self.nodes[i].child = Some(child);
        // A server restarted with its store recovers JetStream before it
        // listens, which takes a while on a loaded 2-core CI machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "nats-server n{i} did not start within 30 s; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every server's client URL, comma-separated (what `--nats-url` takes).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILL of server `i`: no goodbye to the cluster.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts server `i` again with its store.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.nodes[i].is_running());
        self.spawn(i);
    }

    /// `/jsz` of the first running server (or of `only`), with streams.
    pub fn jsz(&self, only: Option<usize>) -> Option<Value> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.is_running() && only.is_none_or(|o| o == *i))
            .find_map(|(_, n)| {
                let out = Command::new("curl")
                    .args(["-s", "--max-time", "3"])
                    .arg(format!(
                        "http://127.0.0.1:{}/jsz?accounts=true&streams=true&config=true",
                        n.monitor_port
                    ))
                    .output()
                    .ok()?;
                serde_json::from_slice::<Value>(&out.stdout).ok()
            })
    }

    /// Bytes the running servers have sent each other over their routes.
    pub fn route_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .filter_map(|n| {
                let out = Command::new("curl")
                    .args(["-s", "--max-time", "3"])
                    .arg(format!("http://127.0.0.1:{}/routez", n.monitor_port))
                    .output()
                    .ok()?;
                let routez: Value = serde_json::from_slice(&out.stdout).ok()?;
                Some(
                    routez["routes"]
                        .as_array()?
                        .iter()
                        .filter_map(|r| r["out_bytes"].as_u64())
                        .sum::<u64>(),
                )
            })
            .sum()
    }

    /// (name, replicas, leader) of every stream, as a running server reports them.
    pub fn streams(&self) -> Vec<(String, u64, String)> {
        let Some(j) = self.jsz(None) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for account in j["account_details"].as_array().into_iter().flatten() {
            for s in account["stream_detail"].as_array().into_iter().flatten() {
                out.push((
                    s["name"].as_str().unwrap_or_default().to_string(),
                    s["config"]["num_replicas"].as_u64().unwrap_or(0),
                    s["cluster"]["leader"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
        }
        out
    }

    /// The streams a running server reports without a leader. Asked of
    /// every running server, as each reports what it knows.
    pub fn leaderless_streams(&self) -> Vec<String> {
        let mut out: Vec<String> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_running())
            .filter_map(|i| self.jsz(Some(i)))
            .flat_map(|j| {
                j["account_details"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
                    .filter(|s| s["cluster"]["leader"].as_str().is_none_or(str::is_empty))
                    .filter_map(|s| s["name"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The index of the server that leads `stream`.
    pub fn leader_of(&self, stream: &str) -> Option<usize> {
        let leader = self
            .streams()
            .into_iter()
            .find(|(n, _, _)| n == stream)
            .map(|(_, _, l)| l)?;
        self.nodes.iter().position(|n| n.name == leader)
    }

    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "--- {}\n{}",
                    n.name,
                    std::fs::read_to_string(&n.log).unwrap_or_default()
                )
            })
            .collect()
    }

    pub fn wait_for(&self, secs: u64, what: &str, mut f: impl FnMut(&NatsCluster) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out after {secs} s waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        // A failed test shows what the servers said (elections, routes),
        // which its own message cannot.
        if std::thread::panicking() {
            for n in &self.nodes {
                let log = std::fs::read_to_string(&n.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(150)..];
                eprintln!(
                    "--- nats-server {} (last {} lines)\n{}",
                    n.name,
                    tail.len(),
                    tail.join("\n")
                );
            }
        }
    }
}
