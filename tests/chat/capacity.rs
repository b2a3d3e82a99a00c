//! Many idle connections on one relay.

use super::*;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Raises this process's open-file limit as far as allowed (the relay
/// started after inherits it); returns the limit.
fn raise_open_files() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 1024;
        }
        l.rlim_cur = l.rlim_max;
        let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur
    }
}

#[test]
fn ten_thousand_idle_connections_keep_the_relay_up_and_its_memory_bounded() {
    let limit = raise_open_files();
    // Both ends of every connection live on this machine, in two processes.
    let n = 10_000usize.min((limit as usize).saturating_sub(500));
    let mut chat = Chat::start(&["crowd"]);
    // Idle for the length of the test: pings every 10 minutes.
    let url = chat.add_relay(Some("ping_interval_s: 600\n"));
    let pid = chat.relay_pid(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (before, after) = rt.block_on(async {
        let open = |count: usize| {
            let url = url.clone();
            async move {
                let mut all = Vec::with_capacity(count);
                let mut pending = futures::stream::iter(0..count)
                    .map(|_| {
                        let url = url.clone();
                        async move {
                            let mut c = Raw::session(&url, "").await;
                            assert_eq!(
                                c.error_of(json!({"subscribe": {"channel": "crowd"}})).await,
                                0
                            );
                            c
                        }
                    })
                    .buffer_unordered(64);
                while let Some(c) = pending.next().await {
                    all.push(c);
                }
                all
            }
        };
        let warm = open(200).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = rss_kib(pid);
        let crowd = open(n - 200).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid);
        // Still serving: one more client subscribes and gets the viewer count.
        let mut probe = Raw::session(&url, "").await;
        assert_eq!(
            probe
                .error_of(json!({"subscribe": {"channel": "crowd"}}))
                .await,
            0
        );
        match probe
            .command(json!({"presence_stats": {"channel": "crowd"}}))
            .await
        {
            Answer::Replies(r) => {
                assert_eq!(r[0]["presence_stats"]["num_clients"], json!(n + 1), "{r:?}")
            }
            other => panic!("{other:?}"),
        }
        drop((warm, crowd));
        (before, after)
    });
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / (n - 200) as f64;
    println!("relay RSS: {before} KiB with 200 connections, {after} KiB with {n}: {per_conn:.0} bytes per idle connection");
    assert!(
        per_conn < 32.0 * 1024.0,
        "{per_conn:.0} bytes per idle connection"
    );
    assert!(
        chat.relays[0]
            .1
            .as_mut()
            .unwrap()
            .child
            .try_wait()
            .unwrap()
            .is_none(),
        "the relay died: {}",
        chat.logs()
    );
}
