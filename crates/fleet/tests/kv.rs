//! Assignments and the leader lease against a real nats-server.

use std::time::{Duration, Instant};

use livefleet_base::ChannelName;
use livefleet_bus::{connect, jetstream, NatsServer};
use livefleet_fleet::{Assignments, FleetError, Leadership, Lease, WorkerId};

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Guards against a hang; never a timing assertion.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(20), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing after 20 s"),
    }
}

async fn setup() -> (NatsServer, async_nats::jetstream::Context) {
    init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "fleet-test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    (server, js)
}

fn ch(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

fn w(id: &str) -> WorkerId {
    WorkerId::new(id).unwrap()
}

#[tokio::test]
async fn assignments_change_only_by_cas_and_epochs_rise() {
    let (_server, js) = setup().await;
    let a = Assignments::open(&js).await.unwrap();
    let again = Assignments::open(&js).await.unwrap();
    let demo = ch("demo");
    let mut watch = a.watch().await.unwrap();

    assert_eq!(a.get(&demo).await.unwrap(), None);
    let first = a.assign(&demo, &w("gpu-a"), "placed").await.unwrap();
    assert_eq!((first.epoch, first.worker.clone()), (1, Some(w("gpu-a"))));
    assert_eq!(within("watch", watch.next()).await.unwrap().unwrap(), first);
    // A second assign is refused: the channel has a worker.
    match again.assign(&demo, &w("gpu-b"), "placed").await {
        Err(FleetError::AlreadyAssigned {
            worker, epoch: 1, ..
        }) => assert_eq!(worker, "gpu-a"),
        other => panic!("expected AlreadyAssigned, got {other:?}"),
    }
    assert!(a.holds(&demo, &w("gpu-a"), 1).await.unwrap());

    // Failover: only from the current epoch.
    let moved = a
        .reassign(&demo, 1, &w("gpu-b"), "failover from gpu-a")
        .await
        .unwrap();
    assert_eq!((moved.epoch, moved.worker.clone()), (2, Some(w("gpu-b"))));
    match again.reassign(&demo, 1, &w("gpu-c"), "late").await {
        Err(FleetError::StaleEpoch {
            given: 1,
            current: 2,
            ..
        }) => {}
        other => panic!("expected StaleEpoch, got {other:?}"),
    }
    // The old worker is fenced.
    assert!(!a.holds(&demo, &w("gpu-a"), 1).await.unwrap());
    assert!(a.holds(&demo, &w("gpu-b"), 2).await.unwrap());

    // Release keeps the key and raises the epoch; assigning again goes on from there.
    let released = a.release(&demo, 2, "publisher left").await.unwrap();
    assert_eq!((released.epoch, released.worker), (3, None));
    assert!(!a.holds(&demo, &w("gpu-b"), 2).await.unwrap());
    let back = a.assign(&demo, &w("gpu-a"), "placed").await.unwrap();
    assert_eq!(back.epoch, 4);
    assert!(matches!(
        a.release(&ch("other"), 1, "x").await,
        Err(FleetError::NotAssigned(_))
    ));

    let epochs: Vec<u64> = a
        .history(&demo)
        .await
        .unwrap()
        .iter()
        .map(|x| x.epoch)
        .collect();
    assert_eq!(epochs, vec![1, 2, 3, 4]);
    assert_eq!(a.list().await.unwrap(), vec![back]);

    // A value written behind the API's back that does not parse is skipped.
    let kv = js.get_key_value("livefleet_assignments").await.unwrap();
    kv.put("junk", "not json".into()).await.unwrap();
    assert_eq!(a.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_assigns_have_one_winner() {
    let (_server, js) = setup().await;
    let a = Assignments::open(&js).await.unwrap();
    let demo = ch("race");
    let first = a.assign(&demo, &w("gpu-a"), "placed").await.unwrap();
    // Eight writers race to move the channel from epoch 1.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let a = a.clone();
        let demo = demo.clone();
        tasks.push(tokio::spawn(async move {
            a.reassign(&demo, first.epoch, &w(&format!("gpu-{i}")), "race")
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(FleetError::Conflict { .. } | FleetError::StaleEpoch { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1);
    let history = a.history(&demo).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].epoch, 2);
}

async fn wait_for_leader(lease: &mut Lease) -> u64 {
    loop {
        if let Leadership::Leader { term } = lease.leadership() {
            return term;
        }
        lease.changed().await;
    }
}

#[tokio::test]
async fn one_leader_and_takeover_after_the_lease_lapses() {
    let (_server, js) = setup().await;
    let ttl = Duration::from_secs(2);
    let mut a = Lease::campaign(&js, "sched-a", ttl).await.unwrap();
    let term_a = within("a leads", wait_for_leader(&mut a)).await;
    let mut b = Lease::campaign(&js, "sched-b", ttl).await.unwrap();
    // Over two lease times the leader keeps renewing and b never leads.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(a.is_leader());
        assert!(!b.is_leader());
    }

    // The leader dies (stops renewing): b takes over once the lease lapses.
    let killed = Instant::now();
    drop(a);
    let term_b = within("b leads", wait_for_leader(&mut b)).await;
    let took = killed.elapsed();
    assert!(term_b > term_a);
    assert!(
        took <= ttl + Duration::from_secs(1),
        "takeover took {took:?} with a ttl of {ttl:?}"
    );

    // A resigning leader hands over at once.
    let mut c = Lease::campaign(&js, "sched-c", ttl).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c.is_leader());
    b.resign().await;
    let term_c = within("c leads", wait_for_leader(&mut c)).await;
    assert!(term_c > term_b);
}

#[tokio::test]
async fn contenders_started_together_elect_one() {
    let (_server, js) = setup().await;
    let ttl = Duration::from_secs(2);
    let mut leases = Vec::new();
    for i in 0..3 {
        leases.push(
            Lease::campaign(&js, &format!("sched-{i}"), ttl)
                .await
                .unwrap(),
        );
    }
    within("someone leads", async {
        while !leases.iter().any(Lease::is_leader) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for _ in 0..10 {
        assert_eq!(leases.iter().filter(|l| l.is_leader()).count(), 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(Lease::campaign(&js, "Bad Id", ttl).await.is_err());
}
