//! The fleet with real processes (a nats-server, a scheduler, two workers
//! and an ingest, each a `livefleet` process; ffmpeg as the publisher):
//! failover of workers, the leader, nats-server and a bus node.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

#[test]
fn killed_worker_is_replaced_without_a_gap_and_unfit_channels_are_refused() {
    let mut fleet = Fleet::start(&["w1", "w2"]);
    fleet.create_channel("fo", "fokey-123456", "cpu-small.yaml");
    let mut publisher = Publisher::ffmpeg(&fleet.publish_url("fokey-123456"), 36);
    let out = fleet.data().join("live/fo");
    fleet.wait_for(40, "three segments in every rendition", |_| {
        ["360p", "240p", "audio"]
            .iter()
            .all(|r| playlist(&out, r).matches(".m4s").count() >= 3)
    });
    let mut owner = None;
    fleet.wait_for(10, "fleet status to show the channel's worker", |f| {
        owner = f.owner("fo");
        owner.is_some()
    });
    let owner = owner.unwrap();

    // A channel that needs NVENC cannot be placed on CPU-only workers: refused with the reason.
    fleet.create_channel("gpu", "gpukey-123456", "hevc-nvenc.yaml");
    let (ok, _) = Publisher::ffmpeg(&fleet.publish_url("gpukey-123456"), 3).finish();
    assert!(!ok, "a channel that fits nowhere was accepted");
    fleet.wait_for(5, "the refusal with its reason in the ingest log", |f| {
        let log = f.ingest.as_ref().unwrap().log();
        log.contains("cannot be placed") && log.contains("NVENC")
    });

    // The newest segment number of each rendition (the live window keeps the count constant).
    let newest = |r: &str| {
        playlist_entries(&playlist(&out, r))
            .0
            .last()
            .map(|u| number(u))
    };
    let before: Vec<Option<u64>> = ["360p", "240p", "audio"]
        .iter()
        .map(|r| newest(r))
        .collect();
    fleet.kill_worker(&owner);
    fleet.wait_for(
        20,
        "a new segment in every rendition after the kill",
        |_| {
            ["360p", "240p", "audio"]
                .iter()
                .zip(&before)
                .all(|(r, n)| newest(r) > *n)
        },
    );
    assert!(
        publisher.0.try_wait().unwrap().is_none(),
        "the publisher was disconnected by the failover"
    );
    let survivor = if owner == "w1" { "w2" } else { "w1" };
    assert_eq!(fleet.owner("fo").as_deref(), Some(survivor));

    let (ok, err) = publisher.finish();
    assert!(ok, "the publisher failed: {err}");
    fleet.wait_for(30, "ENDLIST after the grace period", |_| {
        ["360p", "240p", "audio"]
            .iter()
            .all(|r| playlist(&out, r).contains("#EXT-X-ENDLIST"))
    });

    // Every rendition: consecutive numbers, no duplicate, the same discontinuity.
    let mut discontinuities = Vec::new();
    for r in ["360p", "240p", "audio"] {
        let text = playlist(&out, r);
        let (uris, disc) = playlist_entries(&text);
        let numbers: Vec<u64> = uris.iter().map(|u| number(u)).collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{r}: numbers with a gap or a duplicate: {numbers:?}"
        );
        assert!(
            !disc.is_empty(),
            "{r}: no discontinuity after the failover\n{text}"
        );
        for u in &uris {
            assert!(
                out.join(r).join(u).exists(),
                "{r}/{u} is listed but missing"
            );
        }
        discontinuities.push((disc, numbers.first().copied()));
    }
    assert!(
        discontinuities.windows(2).all(|w| w[0] == w[1]),
        "discontinuities differ: {discontinuities:?}"
    );
    let errors = decode_errors(&out.join("master.m3u8"));
    assert!(
        errors.trim().is_empty(),
        "ffmpeg could not read the whole broadcast: {errors}"
    );
}

#[test]
fn nats_server_restart_keeps_the_channel_running() {
    let mut fleet = Fleet::start(&["w1"]);
    fleet.create_channel("nr", "nrkey-123456", "cpu-small.yaml");
    let publisher = Publisher::ffmpeg(&fleet.publish_url("nrkey-123456"), 40);
    let out = fleet.data().join("live/nr");
    fleet.wait_for(40, "two segments", |_| {
        playlist(&out, "360p").matches(".m4s").count() >= 2
    });

    // The server goes away and comes back on the same port and store.
    drop(fleet.nats.take());
    std::thread::sleep(Duration::from_secs(2));
    fleet.start_nats();
    let last = |_: &Fleet| {
        let (uris, _) = playlist_entries(&playlist(&out, "360p"));
        uris.last().map(|u| number(u)).unwrap_or(0)
    };
    let before = last(&fleet);
    fleet.wait_for(30, "new segments after the restart", |f| {
        last(f) >= before + 3
    });
    let (ok, err) = publisher.finish();
    assert!(ok, "the publisher was disconnected: {err}");
    fleet.wait_for(30, "ENDLIST", |_| broadcast_ended(&out));
    // The ended broadcast gives its worker's capacity back.
    fleet.wait_for(10, "the assignment to be released", |f| {
        f.owner("nr").is_none()
    });
    let log = fleet.scheduler.as_ref().unwrap().log();
    assert!(
        !log.contains("channel failed over"),
        "the restart caused a failover:\n{log}"
    );
    let errors = decode_errors(&out.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
}

#[test]
fn a_killed_leader_is_replaced_and_no_channel_is_assigned_twice() {
    let mut fleet = Fleet::start(&["w1", "w2"]);
    let second = fleet.add_scheduler("s2");
    std::thread::sleep(Duration::from_secs(2));
    // s1 started first and leads; s2 follows.
    assert!(fleet
        .scheduler
        .as_ref()
        .unwrap()
        .log()
        .contains("leading the scheduler"));
    assert!(
        !second.log().contains("leading the scheduler"),
        "two leaders:\n{}",
        second.log()
    );

    fleet.create_channel("ha1", "ha1key-123456", "cpu-small.yaml");
    let p1 = Publisher::ffmpeg(&fleet.publish_url("ha1key-123456"), 25);
    fleet.wait_for(20, "ha1 placed", |f| f.owner("ha1").is_some());

    // kill -9 of the leader: s2 takes the lease and places the next channel.
    let mut leader = fleet.scheduler.take().unwrap();
    leader.child.kill().unwrap();
    let _ = leader.child.wait();
    fleet.wait_for(20, "the second replica to lead", |_| {
        second.log().contains("answering placement requests")
    });
    fleet.create_channel("ha2", "ha2key-123456", "cpu-small.yaml");
    let p2 = Publisher::ffmpeg(&fleet.publish_url("ha2key-123456"), 10);
    fleet.wait_for(20, "ha2 placed by the new leader", |f| {
        f.owner("ha2").is_some()
    });
    assert!(
        fleet.owner("ha1").is_some(),
        "ha1 lost its worker when the leader died"
    );
    let _ = p2.finish();
    let _ = p1.finish();

    // The KV history: every write raised the epoch by exactly one, so no
    // epoch ever named two workers (each value names one).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = fleet.nats_url.clone();
    let histories = rt.block_on(async move {
        let client = livefleet_bus::connect(&url, "test").await.unwrap();
        let js = livefleet_bus::jetstream(&client).await.unwrap();
        let assignments = livefleet_fleet::Assignments::open(&js).await.unwrap();
        let mut out = Vec::new();
        for c in ["ha1", "ha2"] {
            out.push(assignments.history(&c.parse().unwrap()).await.unwrap());
        }
        out
    });
    for h in histories {
        assert!(!h.is_empty());
        let epochs: Vec<u64> = h.iter().map(|a| a.epoch).collect();
        assert!(
            epochs.windows(2).all(|w| w[1] == w[0] + 1),
            "epochs {epochs:?}"
        );
    }
}

#[test]
fn a_bus_node_lost_under_the_fleet_loses_no_channel_and_failover_still_works() {
    // The NATS servers themselves sometimes elect no leader for a stream
    // long after one of three died (seen with Debian's nats-server 2.9.10
    // on a loaded 2-core CI machine: every stream leaderless for over a
    // minute). That is the bus failing, not the fleet, so the scenario runs
    // once more on a new cluster; a second stall, or any other failure,
    // fails the test.
    if let Err(stall) = bus_node_loss_scenario() {
        eprintln!("{stall}; running the scenario again on a new cluster");
        if let Err(again) = bus_node_loss_scenario() {
            panic!("{again} (and in the first run: {stall})");
        }
    }
}

/// `Err` only when the surviving NATS servers elected no leader for a
/// stream in time; every other failure panics.
fn bus_node_loss_scenario() -> Result<(), String> {
    let mut cluster = common::cluster::NatsCluster::start(3);
    let mut fleet = Fleet::start_with(Some(&cluster.urls()), &[]);
    // A worker and a scheduler replica that know only the server leading the
    // assignments. A long grace rides out the bus failover: each stream's
    // new leader is elected some 6 s after its server died (more on a busy
    // 2-core machine), and the media pauses meanwhile.
    let leader = cluster
        .leader_of("KV_livefleet_assignments")
        .expect("the assignments bucket has a leader");
    let only = cluster.nodes[leader].url();
    let all = cluster.urls();
    fleet.add_worker_with("w1", &only, "30");
    fleet.add_worker_with("w2", &all, "30");
    let s2 = Proc::spawn(
        livefleet().args([
            "scheduler",
            "--nats-url",
            &only,
            "--id",
            "s2",
            "--metrics",
            "127.0.0.1:0",
        ]),
        fleet.dir.path().join("s2.log"),
    );
    // Every bucket made and led before the first publish.
    cluster.wait_for(
        30,
        "every state bucket and the media stream to have a leader",
        |c| {
            let streams = c.streams();
            streams.len() >= 6 && streams.iter().all(|(_, _, leader)| !leader.is_empty())
        },
    );
    fleet.wait_for_workers(&["w1", "w2"]);
    fleet.create_channel("cl", "clkey-1234567", "cpu-small.yaml");
    let mut publisher = Publisher::ffmpeg(&fleet.publish_url("clkey-1234567"), 180);
    let out = fleet.data().join("live/cl");
    fleet.wait_for(40, "two segments", |_| {
        playlist(&out, "360p").matches(".m4s").count() >= 2
    });
    fleet.wait_for(30, "the channel's worker", |f| f.owner("cl").is_some());

    cluster.kill(leader);
    let last = |out: &Path| {
        let (uris, _) = playlist_entries(&playlist(out, "360p"));
        uris.last().map_or(0, |u| number(u))
    };
    let before = last(&out);
    if !fleet.wait_until(60, |_| last(&out) >= before + 2) {
        let leaderless = cluster.leaderless_streams();
        if !leaderless.is_empty() {
            return Err(format!(
                "60 s after a server of three died, the two left had elected no leader for {leaderless:?}"
            ));
        }
        fleet.fail("segments after the bus node died", 60);
    }
    // The worker and the replica that knew only the dead server found the others.
    fleet.wait_for(40, "w1's heartbeats through another server", |f| {
        let out = run(livefleet().args(["fleet", "status", "--json", "--nats-url", &f.nats_url]));
        text(&out.stdout).contains("\"w1\"")
    });
    fleet.wait_for(40, "the scheduler replica to reconnect", |_| {
        let log = s2.log();
        log.contains("disconnected from NATS") && log.contains("reconnected to NATS")
    });

    // The server comes back; a worker killed after the node loss still fails over.
    cluster.restart(leader);
    cluster.wait_for(30, "the restarted server to rejoin", |c| {
        c.jsz(Some(leader)).is_some_and(|j| {
            j["meta_cluster"]["leader"]
                .as_str()
                .is_some_and(|l| !l.is_empty())
        })
    });
    let mut owner = None;
    fleet.wait_for(60, "the channel's worker", |f| {
        owner = f.owner("cl");
        owner.is_some()
    });
    let owner = owner.unwrap();
    let other = if owner == "w1" { "w2" } else { "w1" };
    fleet.kill_worker(&owner);
    fleet.wait_for(60, "the channel on the other worker", |f| {
        f.owner("cl").as_deref() == Some(other)
    });
    let before = last(&out);
    fleet.wait_for(60, "segments from the new owner", |_| {
        last(&out) >= before + 2
    });
    assert!(
        publisher.0.try_wait().unwrap().is_none(),
        "the publisher was disconnected"
    );
    publisher.kill();
    for r in ["360p", "240p", "audio"] {
        let (uris, _) = playlist_entries(&playlist(&out, r));
        let numbers: Vec<u64> = uris.iter().map(|u| number(u)).collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{r}: a segment number repeats or skips: {numbers:?}"
        );
    }
    // No epoch ever named two workers: every write raised it by exactly one.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = fleet.nats_url.clone();
    let history = rt.block_on(async move {
        let client = livefleet_bus::connect(&url, "test").await.unwrap();
        let js = livefleet_bus::jetstream(&client).await.unwrap();
        let assignments = livefleet_fleet::Assignments::open(&js).await.unwrap();
        // Two of three servers: reads may time out while leaders settle.
        let mut tries = 0;
        loop {
            match assignments.history(&"cl".parse().unwrap()).await {
                Ok(h) => break h,
                Err(e) if tries < 10 => {
                    eprintln!("assignment history: {e}; trying again");
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => panic!("assignment history: {e}"),
            }
        }
    });
    let epochs: Vec<u64> = history.iter().map(|a| a.epoch).collect();
    assert!(
        !epochs.is_empty() && epochs.windows(2).all(|w| w[1] == w[0] + 1),
        "epochs {epochs:?}"
    );
    Ok(())
}

/// The bus restarted without its storage (a NATS server whose volume was
/// lost) between two broadcasts: the fleet comes back on its own, the
/// channel is created again, and its next broadcast writes nothing the
/// store already holds (the assignment epoch starts again from 1, so
/// without the numbering floor its names were the first broadcast's).
#[test]
fn a_bus_restarted_empty_overwrites_nothing_stored() {
    let mut fleet = Fleet::start(&["w1"]);
    fleet.create_channel("wiped", "wipedkey-123456", "cpu-small.yaml");
    let out = fleet.data().join("live/wiped");
    let (ok, err) = Publisher::ffmpeg(&fleet.publish_url("wipedkey-123456"), 6).finish();
    assert!(ok, "first publisher: {err}");
    fleet.wait_for(40, "the first broadcast's ENDLIST", |_| {
        playlist(&out, "360p").contains("#EXT-X-ENDLIST")
    });
    let before = stored_files(&out);
    // Between two broadcasts: once the worker has let the first one go (a
    // bus lost while the release is under way is the worker's own case,
    // bounded in its fleet loop).
    fleet.wait_for(20, "the first broadcast's assignment released", |f| {
        f.workers[0].1.log().contains("assignment released")
    });

    drop(fleet.nats.take());
    std::fs::remove_dir_all(fleet.dir.path().join("jetstream")).unwrap();
    fleet.start_nats();
    fleet.wait_for_workers(&["w1"]);
    fleet.create_channel("wiped", "wipedkey-123456", "cpu-small.yaml");
    let first_uris = playlist_entries(&playlist(&out, "360p")).0;
    // As OBS does, the publisher tries again while the fleet settles (a
    // scheduler that lost its lease with the bus leads again within seconds).
    publish_retrying(&fleet, "wipedkey-123456", 6, 10, "second publisher");
    fleet.wait_for(60, "the second broadcast's ENDLIST", |_| {
        let p = playlist(&out, "360p");
        p.contains("#EXT-X-ENDLIST") && playlist_entries(&p).0 != first_uris
    });
    for (name, bytes) in before {
        assert!(
            std::fs::read(out.join(&name)).unwrap() == bytes,
            "{name} was written again"
        );
    }
}

/// Publishes `secs` of media with `key`, trying again a second later while
/// the publish is refused, fewer than `most` times in all.
fn publish_retrying(fleet: &Fleet, key: &str, secs: u32, most: u32, what: &str) {
    let mut tries = 0;
    loop {
        let (ok, err) = Publisher::ffmpeg(&fleet.publish_url(key), secs).finish();
        tries += 1;
        if ok {
            return;
        }
        assert!(tries < most, "{what}, {tries} tries: {err}");
        eprintln!("{what} refused, trying again: {err}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Every init and media segment under `dir`, with its bytes.
fn stored_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for r in ["360p", "240p", "audio"] {
        for e in std::fs::read_dir(dir.join(r)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".m4s") || name.ends_with(".mp4") {
                let path = format!("{r}/{name}");
                files.push((path.clone(), std::fs::read(dir.join(&path)).unwrap()));
            }
        }
    }
    files
}

/// Two broadcasts of one channel in a row, each placed on the fleet anew:
/// each is archived as a VOD of its own, under its own id, and the second's
/// playlists list none of the first's segments (the worker starts it from
/// the ended broadcast's record as a presentation of its own).
#[test]
fn consecutive_broadcasts_are_archived_apart() {
    let fleet = Fleet::start(&["w1"]);
    fleet.create_channel("twice", "twicekey-123456", "cpu-small.yaml");
    let vod = fleet.data().join("vod/twice");
    let complete = || -> Vec<std::path::PathBuf> {
        let mut dirs: Vec<_> = std::fs::read_dir(&vod)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        dirs.retain(|d| d.join("master.m3u8").is_file());
        dirs.sort();
        dirs
    };
    for round in 1..=2 {
        // The worker may still be releasing the last assignment: try again.
        publish_retrying(
            &fleet,
            "twicekey-123456",
            5,
            5,
            &format!("publisher {round}"),
        );
        fleet.wait_for(60, "the broadcast's VOD", |_| complete().len() == round);
    }
    let dirs = complete();
    let uris = |dir: &Path| playlist_entries(&playlist(dir, "360p")).0;
    let (first, second) = (uris(&dirs[0]), uris(&dirs[1]));
    assert!(!first.is_empty() && !second.is_empty());
    let last_of_first = first.iter().map(|u| number(u)).max().unwrap();
    for u in &second {
        assert!(
            number(u) > last_of_first,
            "the second VOD lists {u}, of the first broadcast ({first:?})"
        );
    }
    let live = playlist(&fleet.data().join("live/twice"), "360p");
    assert!(
        playlist_entries(&live).0.iter().all(|u| !first.contains(u)),
        "the live playlists after the second broadcast still list the first: {live}"
    );
}
