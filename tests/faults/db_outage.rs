//! The PostgreSQL database lost under publish load, through a proxy that fails as a network
//! does (see `db_proxy`): every publish is answered quickly (202, or 503 which means "maybe
//! stored, resend"), `/ready` answers 503 within two seconds of the loss and 200 again after it,
//! the workers resume by themselves, and no acknowledged event is lost or split in two.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::db_proxy::{DbProxy, Mode};
use crate::support::{
    Backend, FAST_NODE, NodeSpec, Receiver, client, create_account, create_endpoint, fresh_postgres, one_event_per_seq,
    seq_event, wait_until,
};

const PUBLISHERS: u64 = 8;
/// Publishes acknowledged before the fault: the pools are warm and deliveries are flowing.
const BEFORE: usize = 200;
/// Publishes acknowledged after the database is back: publishing has resumed.
const AFTER: usize = 200;
/// How long the database stays away. A silent database is kept away longer than two call
/// deadlines, so that a publish that would wait out one deadline after another shows.
const OUTAGE: Duration = Duration::from_secs(6);
const SILENT_OUTAGE: Duration = Duration::from_secs(12);
/// Every publish is answered within this, outage or not: a call's deadline is 5 s, and the
/// request timeout (30 s) must never be what ends one.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// `/ready` follows the database within this, both ways.
const READY_FOLLOWS: Duration = Duration::from_secs(2);

/// How the database goes away.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Every open connection is cut once (a server restart that is over at once).
    Sever,
    /// Open connections cut and new ones refused for the outage (the server is down).
    Refuse,
    /// Nothing answers and nothing ends for the outage (a failover, a firewall dropping state).
    Blackhole,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_severed_under_load_lose_nothing() {
    outage(Fault::Sever).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_connections_answers_503_and_recovers() {
    outage(Fault::Refuse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gone_silent_answers_503_quickly_and_recovers() {
    outage(Fault::Blackhole).await;
}

/// One publish's outcome.
struct Answer {
    seq: u64,
    /// None: no HTTP answer at all.
    status: Option<u16>,
    took: Duration,
}

#[derive(Default)]
struct Log {
    answers: Vec<Answer>,
}

impl Log {
    fn acknowledged(&self) -> usize {
        self.answers.iter().filter(|a| a.status == Some(202)).count()
    }
}

async fn outage(fault: Fault) {
    let Some(Backend::Postgres(url)) = fresh_postgres(&format!("faults::db_outage::{fault:?}")).await else {
        return;
    };
    let proxy = DbProxy::start(upstream_of(&url).await).await;
    let backend = Backend::Postgres(through(&url, proxy.addr));
    let root = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Duration::from_millis(2)).await;
    let node = NodeSpec::new(root.path(), "node", &backend, FAST_NODE).start().await;
    let admin = node.admin_key.clone().expect("a fresh database prints the admin key");
    let http = client();
    let account = create_account(&http, &node.base, &admin, "faults").await;
    create_endpoint(&http, &node.base, &admin, &account, &rx.url, 64).await;
    let url = format!("{}/v1/api/accounts/{account}/webhooks/events", node.base);

    let log = Arc::new(Mutex::new(Log::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            tokio::spawn(publish_until(
                http.clone(),
                url.clone(),
                admin.clone(),
                p,
                log.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let acked = || log.lock().unwrap().acknowledged();
    wait_until(
        Duration::from_secs(60),
        || acked() >= BEFORE,
        || format!("{} acknowledged", acked()),
    )
    .await;

    let began = Instant::now();
    let ready_lost = match fault {
        Fault::Sever => {
            proxy.sever();
            None
        }
        Fault::Refuse | Fault::Blackhole => {
            proxy.set(if matches!(fault, Fault::Refuse) {
                Mode::Refuse
            } else {
                Mode::Blackhole
            });
            Some(ready_becomes(&http, &node.base, 503).await)
        }
    };
    let outage = if matches!(fault, Fault::Blackhole) {
        SILENT_OUTAGE
    } else {
        OUTAGE
    };
    tokio::time::sleep(outage.saturating_sub(began.elapsed())).await;
    proxy.set(Mode::Pass);
    let back = Instant::now();
    let ready_back = ready_becomes(&http, &node.base, 200).await;
    let at_recovery = acked();
    wait_until(
        Duration::from_secs(60),
        || acked() >= at_recovery + AFTER,
        || format!("{} acknowledged since the database came back", acked() - at_recovery),
    )
    .await;
    let resumed_in = back.elapsed();
    stop.store(true, Ordering::SeqCst);
    for p in publishers {
        p.await.expect("publisher");
    }

    let answers = std::mem::take(&mut log.lock().unwrap().answers);
    let slowest = answers.iter().map(|a| a.took).max().unwrap_or_default();
    let refused = answers.iter().filter(|a| a.status == Some(503)).count();
    let odd: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a.status, Some(202 | 503)))
        .map(|a| (a.seq, a.status))
        .collect();
    assert!(
        odd.is_empty(),
        "{} publishes answered neither 202 nor 503, e.g. {:?}",
        odd.len(),
        &odd[..odd.len().min(5)]
    );
    assert!(
        slowest <= ANSWER_WITHIN,
        "a publish waited {slowest:?} for its answer (at most {ANSWER_WITHIN:?})"
    );
    if let Some(lost) = ready_lost {
        assert!(lost <= READY_FOLLOWS, "/ready answered 503 only after {lost:?}");
    }
    assert!(
        ready_back <= READY_FOLLOWS,
        "/ready answered 200 only {ready_back:?} after the database came back"
    );

    // As the README says: a 503 may have been stored; resend it with its event_id.
    let mut want: HashSet<u64> = answers
        .iter()
        .filter(|a| a.status == Some(202))
        .map(|a| a.seq)
        .collect();
    let mut resent_found = 0;
    for a in answers.iter().filter(|a| a.status == Some(503)) {
        let resp = http
            .post(&url)
            .bearer_auth(&admin)
            .json(&seq_event(a.seq))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "resending {} after the outage", a.seq);
        let answer: Value = resp.json().await.unwrap();
        resent_found += usize::from(answer["data"]["duplicate"] == true);
        want.insert(a.seq);
    }
    rx.wait_for_seqs(&want, Duration::from_secs(60)).await;

    let (delivered, duplicates) = one_event_per_seq(&rx.deliveries());
    println!(
        "faults: db_outage fault={fault:?} publishes={} answered_503={refused} resent_503_already_stored={resent_found} \
         slowest_answer_ms={} ready_503_after_ms={} ready_200_after_ms={} publishing_resumed_ms={} \
         delivered={} lost=0 duplicates={}",
        answers.len(),
        slowest.as_millis(),
        ready_lost.map_or("-".into(), |d| d.as_millis().to_string()),
        ready_back.as_millis(),
        resumed_in.as_millis(),
        delivered,
        duplicates,
    );
    node.kill_9().await;
}

/// Publish `seq`-numbered events with their own `event_id`s until `stop`, logging every answer.
async fn publish_until(
    http: reqwest::Client,
    url: String,
    admin: String,
    publisher: u64,
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
) {
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let seq = publisher * 1_000_000 + i;
        let started = Instant::now();
        let status = http
            .post(&url)
            .bearer_auth(&admin)
            .json(&seq_event(seq))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        let took = started.elapsed();
        log.lock().unwrap().answers.push(Answer { seq, status, took });
        if status == Some(503) {
            // As a client told to retry later would; keeps the outage from being a busy loop.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// How long until `/ready` answers `want`; panics after 30 s.
async fn ready_becomes(http: &reqwest::Client, base: &str, want: u16) -> Duration {
    let started = Instant::now();
    loop {
        let status = http
            .get(format!("{base}/ready"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if status.is_ok_and(|s| s == want) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "/ready never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The database server's address in a `postgres://` URL.
async fn upstream_of(url: &str) -> SocketAddr {
    let authority = authority(url);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(host_port)
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address for the database host")
}

/// `url` with its host and port replaced by `addr` (user, database and parameters kept).
fn through(url: &str, addr: SocketAddr) -> String {
    let authority = authority(url);
    let replaced = match authority.rsplit_once('@') {
        Some((user, _)) => format!("{user}@{addr}"),
        None => addr.to_string(),
    };
    url.replacen(authority, &replaced, 1)
}

fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

#[test]
fn the_database_address_is_swapped_for_the_proxy() {
    let addr: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    assert_eq!(
        through("postgres://postgres@127.0.0.1:5432/f?sslmode=disable", addr),
        "postgres://postgres@127.0.0.1:6000/f?sslmode=disable"
    );
    assert_eq!(through("postgres://db/f", addr), "postgres://127.0.0.1:6000/f");
}
