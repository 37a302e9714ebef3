//! Group commit: one writer task takes whatever publishes and attempt outcomes are queued and
//! commits them in one transaction, then answers every publisher of the group. Concurrent
//! single-event publishes thus share one fsync instead of paying one each.
//!
//! SQLite has one write connection anyway, so it gets one writer; PostgreSQL gets a few, each
//! committing its own groups in parallel.

use std::sync::Arc;

use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::store::{PublishBatch, PublishedRow, QueueWrite, Store, StoreError, StoreResult, now_ms};

/// Most events (or outcomes) committed in one group; bounds the transaction's size and latency.
const MAX_GROUP: usize = 4_000;

pub enum Write {
    Publish {
        batch: PublishBatch,
        reply: oneshot::Sender<StoreResult<Vec<PublishedRow>>>,
    },
    Queue(QueueWrite),
}

impl Write {
    fn weight(&self) -> usize {
        match self {
            Write::Publish { batch, .. } => batch.events.len().max(1),
            Write::Queue(_) => 1,
        }
    }
}

pub type WriteRx = Arc<Mutex<mpsc::Receiver<Write>>>;

/// Run the writers on a thread of their own (a current-thread runtime), so the few round trips
/// of a group to the database do not queue behind the HTTP tasks of the moment: under load that
/// stretched each group and with it every publisher's wait. `tasks` then waits for them at
/// shutdown as for any task. Should the thread not start, they run on the shared runtime.
/// `dedicated` is for SQLite's one writer. PostgreSQL's four writers stay on the shared
/// runtime: sharing one thread could only cost them their parallelism, and no gain was
/// measured there.
pub fn start<F>(tasks: &tokio_util::task::TaskTracker, writers: Vec<F>, dedicated: bool)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let all = futures::future::join_all(writers);
    if !dedicated {
        tasks.spawn(all);
        return;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the event writers' runtime; they share the main one");
            tasks.spawn(all);
            return;
        }
    };
    let (done, finished) = oneshot::channel::<()>();
    // Shared with the thread so that, should it fail to start, the writers are taken back.
    let work = Arc::new(std::sync::Mutex::new(Some(all)));
    let theirs = work.clone();
    let spawned = std::thread::Builder::new().name("event-writer".into()).spawn(move || {
        if let Some(all) = theirs.lock().ok().and_then(|mut w| w.take()) {
            runtime.block_on(all);
        }
        let _ = done.send(());
    });
    match spawned {
        Ok(_) => {
            tasks.spawn(async move {
                let _ = finished.await;
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the event writers' thread; they share the main runtime");
            if let Some(all) = work.lock().ok().and_then(|mut w| w.take()) {
                tasks.spawn(all);
            }
        }
    }
}

/// Run one writer until shutdown, then drain what is already queued.
pub async fn run(store: Store, rx: WriteRx, published: Arc<Notify>, shutdown: CancellationToken) {
    // Unlike the chat committer, a writer gives its connection back after every group: the
    // delivery workers claim through the same SQLite writer, and keeping it for the next group
    // (see `Held`) can hold their claims back by up to its budget, which is the latency the
    // outbound flow promises. Measured, it showed no clear gain either way, so it stays simple.
    loop {
        let group = {
            let mut rx = rx.lock().await;
            let first = tokio::select! {
                biased;
                w = rx.recv() => w,
                _ = shutdown.cancelled() => None,
            };
            let Some(first) = first else {
                break;
            };
            let mut weight = first.weight();
            let mut group = vec![first];
            while weight < MAX_GROUP {
                match rx.try_recv() {
                    Ok(w) => {
                        weight += w.weight();
                        group.push(w);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        if let Some(e) = commit_group(&store, group, &published).await {
            // What queued up behind the failed group would wait a deadline of its own only to
            // fail the same way: refuse it now; its publishers resend after the 503.
            refuse_queued(&rx, &e).await;
        }
    }
    // Shutdown: commit what was queued before the token fired (its publishers still wait).
    let mut rx = rx.lock().await;
    let mut rest = Vec::new();
    while let Ok(w) = rx.try_recv() {
        rest.push(w);
    }
    if !rest.is_empty() {
        commit_group(&store, rest, &published).await;
    }
}

/// Commit one group and answer its publishers. Returns the error when the database itself is
/// unavailable (the group was refused as a whole).
async fn commit_group(store: &Store, group: Vec<Write>, published: &Notify) -> Option<StoreError> {
    let mut publishes = Vec::new();
    let mut replies = Vec::new();
    let mut queue = Vec::new();
    for w in group {
        match w {
            Write::Publish { batch, reply } => {
                publishes.push(batch);
                replies.push(reply);
            }
            Write::Queue(q) => queue.push(q),
        }
    }
    let had_publishes = !publishes.is_empty();
    match store.write_group(&publishes, &queue, now_ms()).await {
        Ok(rows) => {
            for (reply, rows) in replies.into_iter().zip(rows) {
                let _ = reply.send(Ok(rows));
            }
        }
        Err(e) if matches!(e, StoreError::Unavailable(_)) && !store.ready().await => {
            // The database itself is gone: each member alone would wait out its own deadline
            // (seconds each, in turn) only to fail the same way. Answer them all now.
            refuse_group(replies, &queue, &e);
            return Some(e);
        }
        Err(e) if publishes.len() + queue.len() > 1 => {
            // One bad member must not fail the others: commit each on its own.
            tracing::warn!(error = %e, "group commit failed; committing its members one by one");
            for (batch, reply) in publishes.into_iter().zip(replies) {
                let result = store
                    .write_group(std::slice::from_ref(&batch), &[], now_ms())
                    .await
                    .map(|mut r| r.pop().unwrap_or_default());
                let _ = reply.send(result);
            }
            for q in queue {
                if let Err(e) = store.write_group(&[], std::slice::from_ref(&q), now_ms()).await {
                    tracing::error!(error = %e, "cannot record a delivery outcome; its lease will expire and it is retried");
                }
            }
        }
        Err(e) => {
            if !queue.is_empty() {
                tracing::error!(error = %e, "cannot record a delivery outcome; its lease will expire and it is retried");
            }
            // A group of one: its member gets the error itself, so a full disk or a lost
            // database reads as such.
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
    }
    if had_publishes {
        published.notify_one();
    }
    None
}

/// Refuse every write queued right now with `e`.
async fn refuse_queued(rx: &WriteRx, e: &StoreError) {
    let mut replies = Vec::new();
    let mut queue = Vec::new();
    {
        let mut rx = rx.lock().await;
        while let Ok(w) = rx.try_recv() {
            match w {
                Write::Publish { reply, .. } => replies.push(reply),
                Write::Queue(q) => queue.push(q),
            }
        }
    }
    if !replies.is_empty() || !queue.is_empty() {
        refuse_group(replies, &queue, e);
    }
}

/// Every publisher of a group whose commit failed with `e` gets that error; the outcomes are
/// dropped (their leases expire and the deliveries are attempted again).
fn refuse_group(replies: Vec<oneshot::Sender<StoreResult<Vec<PublishedRow>>>>, queue: &[QueueWrite], e: &StoreError) {
    tracing::warn!(error = %e, publishes = replies.len(), outcomes = queue.len(), "database unavailable; the group is refused");
    for reply in replies {
        let _ = reply.send(Err(e.for_each_waiter("group commit")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::{AccountId, EventId};
    use crate::store::EventToWrite;

    /// A store with one account and one enabled endpoint that takes every event.
    async fn with_endpoint(dir: &tempfile::TempDir) -> (Store, AccountId) {
        let store = crate::store::test_sqlite(dir).await;
        let account = store.create_account("A").await.unwrap().id;
        let endpoint = crate::store::test_endpoint(account);
        store.create_endpoint(&endpoint).await.unwrap();
        (store, account)
    }

    fn batch(account_id: AccountId, event_id: &str) -> PublishBatch {
        PublishBatch {
            account_id,
            events: vec![EventToWrite {
                id: EventId::new(),
                event_id: event_id.into(),
                event_type: "order.created".into(),
                payload: "{}".into(),
                labels: Vec::new(),
            }],
            ingest: None,
        }
    }

    /// Commit `batches` as one group; each publisher's answer.
    async fn publish_group(store: &Store, batches: Vec<PublishBatch>) -> Vec<StoreResult<Vec<PublishedRow>>> {
        let mut answers = Vec::new();
        let mut group = Vec::new();
        for batch in batches {
            let (reply, answer) = oneshot::channel();
            group.push(Write::Publish { batch, reply });
            answers.push(answer);
        }
        commit_group(store, group, &Notify::new()).await;
        let mut out = Vec::new();
        for a in answers {
            out.push(a.await.unwrap());
        }
        out
    }

    async fn count(store: &Store, sql: &'static str) -> i64 {
        let crate::store::Db::Sqlite { read, .. } = &store.db else {
            unreachable!()
        };
        sqlx::query_scalar(sql).fetch_one(read).await.unwrap()
    }

    #[tokio::test]
    async fn a_group_retried_after_a_lost_commit_answer_does_not_call_its_own_events_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let (store, account_id) = with_endpoint(&dir).await;
        // The group commits, but its answer is lost: the writer commits each member again.
        store.faults.lose_commit_confirmations(1);
        let answers = publish_group(&store, vec![batch(account_id, "a"), batch(account_id, "b")]).await;
        for answer in &answers {
            let rows = answer.as_ref().expect("the retry answers");
            assert!(
                !rows[0].duplicate,
                "its own first write read as a duplicate: {answers:?}"
            );
        }
        assert_eq!(count(&store, "SELECT COUNT(*) FROM webhook_events").await, 2);
        // Each event has its one delivery, not a second one from the retry.
        assert_eq!(count(&store, "SELECT COUNT(*) FROM webhook_deliveries").await, 2);
    }

    #[tokio::test]
    async fn a_resend_after_an_unavailable_answer_finds_the_stored_event() {
        let dir = tempfile::tempdir().unwrap();
        let (store, account_id) = with_endpoint(&dir).await;
        store.faults.lose_commit_confirmations(1);
        let first = publish_group(&store, vec![batch(account_id, "x")]).await;
        assert!(
            matches!(first[0], Err(StoreError::Unavailable(_))),
            "a lost commit answer reads as unavailable: {first:?}"
        );
        // The client resends as told: the same event_id is recognised, nothing is stored twice.
        let again = publish_group(&store, vec![batch(account_id, "x")]).await;
        let rows = again[0].as_ref().unwrap();
        assert!(rows[0].duplicate);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM webhook_events").await, 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM webhook_deliveries").await, 1);
    }
}
