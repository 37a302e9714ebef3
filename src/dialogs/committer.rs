//! Group commit for chat writes. Every update's [`ChatWrite`] must be durable before the webhook
//! answers, and a durable commit costs an fsync (about 4 ms on this machine's disk): one commit
//! per update would cap a node near 250 updates/s whatever its concurrency. So writes queue here
//! and a lane applies everything queued in one transaction — a savepoint per write, so a
//! duplicate or a version conflict undoes only its own — and answers them all after one commit.
//! Under load the batch grows by itself while the previous commit is syncing; alone, a write
//! waits for nothing.
//!
//! SQLite has one writer, so one lane; PostgreSQL gets a few lanes (one connection each), and a
//! chat always maps to the same lane so its writes stay in order.

use std::hash::{Hash, Hasher};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::ProcessError;
use super::plan::ChatWrite;
use crate::store::{Applied, Held, InboxAnswer, Store, StoreResult, Worker};

/// Most writes in one transaction (bounds the time a batch holds the writer).
const MAX_BATCH: usize = 256;
const POSTGRES_LANES: usize = 4;

/// One unit of work for a lane.
enum Job {
    Chat(Box<ChatWrite>, oneshot::Sender<StoreResult<Applied>>),
    /// The platform accepted a reply: mark it sent (with the reply when someone waits for it).
    Sent(Uuid, String, Option<oneshot::Sender<StoreResult<()>>>),
    /// The webhook's answer to an update, recorded for its later copies.
    Answer(InboxAnswer, oneshot::Sender<StoreResult<()>>),
}

pub struct Committer {
    lanes: Vec<mpsc::Sender<Job>>,
}

impl Committer {
    /// Start the lanes on a thread of their own. They stop when the committer is dropped.
    ///
    /// A lane drives a few statements per group, each a round trip to the database; on the
    /// shared runtime every round trip queued behind the HTTP tasks of the moment, which under
    /// load doubled the time a group held SQLite's one writer (paced benchmark: p50 4–5 ms on
    /// the shared runtime, 2–3 ms on its own thread).
    pub fn start(store: &Store) -> std::io::Result<Committer> {
        let n = if store.single_writer() { 1 } else { POSTGRES_LANES };
        let (lanes, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel(4 * MAX_BATCH)).unzip();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let store = store.clone();
        std::thread::Builder::new()
            .name("chat-committer".into())
            .spawn(move || {
                runtime.block_on(futures::future::join_all(
                    receivers.into_iter().map(|rx| run_lane(store.clone(), rx)),
                ));
            })?;
        Ok(Committer { lanes })
    }

    fn lane(&self, key: impl Hash) -> &mpsc::Sender<Job> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.lanes[(h.finish() % self.lanes.len() as u64) as usize]
    }

    /// Apply `write` durably, together with whatever else is queued.
    pub async fn apply(&self, write: ChatWrite) -> Result<Applied, ProcessError> {
        let lane = self.lane((write.bot_id, &write.chat_id));
        let (reply, answer) = oneshot::channel();
        if lane.send(Job::Chat(Box::new(write), reply)).await.is_err() {
            return Err(ProcessError::WriterStopped);
        }
        // A dropped reply means the lane stopped mid-batch (shutdown): whether the write landed
        // is unknown, so the caller answers "retry", and a retry is idempotent.
        Ok(answer.await.map_err(|_| ProcessError::WriterStopped)??)
    }

    /// Mark a reply sent and wait until that is durable.
    pub async fn mark_sent(&self, id: Uuid, response: String) -> Result<(), ProcessError> {
        let done = self
            .mark_sent_queued(id, response)
            .await
            .ok_or(ProcessError::WriterStopped)?;
        Ok(done.await.map_err(|_| ProcessError::WriterStopped)??)
    }

    /// Record an update's webhook answer (unless one is recorded already) and wait until that is
    /// durable. Answers queued together share one commit: a commit per answer would cap the
    /// webhook at the disk's fsync rate.
    pub async fn record_answer(&self, answer: InboxAnswer) -> Result<(), ProcessError> {
        let (reply, done) = oneshot::channel();
        let lane = self.lane((answer.bot_id, answer.update_id));
        if lane.send(Job::Answer(answer, reply)).await.is_err() {
            return Err(ProcessError::WriterStopped);
        }
        Ok(done.await.map_err(|_| ProcessError::WriterStopped)??)
    }

    /// Queue a sent mark for the next commit; the receiver says when it is durable. The caller
    /// may go on sending the chat's next replies meanwhile (it holds their leases), but must
    /// wait for it before anyone reads the chat's outbox. If the mark is lost (a crash before the
    /// commit), the reply is sent again once its lease runs out: at least once, never lost.
    pub async fn mark_sent_queued(&self, id: Uuid, response: String) -> Option<oneshot::Receiver<StoreResult<()>>> {
        let (reply, done) = oneshot::channel();
        self.lane(id).send(Job::Sent(id, response, Some(reply))).await.ok()?;
        Some(done)
    }
}

async fn run_lane(store: Store, mut rx: mpsc::Receiver<Job>) {
    // The write connection, kept from one group to the next while jobs wait (see `Held`).
    let mut held: Option<Held> = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut writes = Vec::new();
        let mut replies = Vec::new();
        let mut sent = Vec::new();
        let mut sent_replies = Vec::new();
        let mut answers = Vec::new();
        let mut answer_replies = Vec::new();
        for job in jobs {
            match job {
                Job::Chat(write, reply) => {
                    writes.push(write);
                    replies.push(reply);
                }
                Job::Sent(id, response, reply) => {
                    sent.push((id, response));
                    sent_replies.extend(reply);
                }
                Job::Answer(answer, reply) => {
                    answers.push(answer);
                    answer_replies.push(reply);
                }
            }
        }
        let refs: Vec<&ChatWrite> = writes.iter().map(|w| w.as_ref()).collect();
        metrics::histogram!("chat_write_batch_size").record((refs.len() + sent.len()) as f64);
        if held.is_none() {
            // Without it the store takes a connection from the pool for the group.
            held = store.hold_writer().await.ok();
        }
        let outcome = store.apply_chat_writes_on(held.as_mut(), &refs, &sent, &answers).await;
        if outcome.is_err() || rx.is_empty() || held.as_ref().is_some_and(Held::expired) {
            held = None;
        }
        match &outcome {
            Ok(_) => store.workers().succeeded(Worker::ChatCommitter),
            Err(_) => store.workers().failed(Worker::ChatCommitter),
        }
        match outcome {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
                for reply in sent_replies.into_iter().chain(answer_replies) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                // The batch may or may not have been written (a commit whose answer was lost);
                // every write is idempotent (the inbox key), so each may be retried.
                let context = "the chat writes could not be committed";
                for reply in replies {
                    let _ = reply.send(Err(e.for_each_waiter(context)));
                }
                for reply in sent_replies.into_iter().chain(answer_replies) {
                    let _ = reply.send(Err(e.for_each_waiter(context)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialogs::plan::{BotCtx, Item, plan};
    use crate::platforms::telegram::update::parse_update;
    use crate::store::{new_id, now_ms};

    async fn store(dir: &tempfile::TempDir) -> Store {
        crate::store::test_sqlite(dir).await
    }

    /// A store with one account and one bot, and the bot's planning context.
    async fn with_bot(dir: &tempfile::TempDir) -> (Store, BotCtx) {
        let store = store(dir).await;
        let account = store.create_account("A").await.unwrap();
        let bot = store.create_bot(account.id, "B", None, true).await.unwrap();
        let ctx = BotCtx {
            bot_id: bot.id,
            account_id: account.id,
            platform: crate::platforms::telegram::offline(),
            scenario: None,
        };
        (store, ctx)
    }

    fn write_for(ctx: &BotCtx, chat: i64, update_id: i64) -> ChatWrite {
        let body = serde_json::json!({"update_id": update_id, "message": {"message_id": 1, "date": 0, "text": "hi",
            "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": false, "first_name": "A"}}})
        .to_string()
        .into_bytes();
        let parsed = parse_update(&body).unwrap();
        let item = Item::Update {
            inbox_id: new_id(),
            body,
            parsed: Box::new(parsed.into()),
            media: None,
        };
        plan(ctx, &chat.to_string(), None, vec![item], now_ms(), &mut new_id)
    }

    #[tokio::test]
    async fn one_commit_applies_the_good_writes_and_undoes_only_the_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (store, ctx) = with_bot(&dir).await;
        store.apply_chat_write(&write_for(&ctx, 1, 10)).await.unwrap();
        let fresh = write_for(&ctx, 2, 11);
        let duplicate = write_for(&ctx, 3, 10); // update 10 is in the inbox already
        let results = store.apply_chat_writes(&[&fresh, &duplicate], &[]).await.unwrap();
        assert!(matches!(results[0], Ok(Applied::Done { .. })), "{results:?}");
        assert!(matches!(results[1], Ok(Applied::Duplicate)), "{results:?}");
        assert!(store.inbox_result(ctx.bot_id, "telegram", 11).await.unwrap().is_some());

        // Through the committer, concurrently: every write gets its own answer.
        let committer = Committer::start(&store).unwrap();
        let answers =
            futures::future::join_all((0..50).map(|i| committer.apply(write_for(&ctx, 100 + i, 1_000 + i)))).await;
        assert!(
            answers.iter().all(|a| matches!(a, Ok(Applied::Done { .. }))),
            "{answers:?}"
        );
        let again = committer.apply(write_for(&ctx, 100, 1_000)).await;
        assert!(matches!(again, Ok(Applied::Duplicate)), "{again:?}");
        for i in 0..50 {
            assert!(
                store
                    .inbox_result(ctx.bot_id, "telegram", 1_000 + i)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
    }

    #[tokio::test]
    async fn a_busy_lane_lets_other_writers_in() {
        let dir = tempfile::tempdir().unwrap();
        let (store, ctx) = with_bot(&dir).await;
        let committer = std::sync::Arc::new(Committer::start(&store).unwrap());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        const FLOOD: usize = 4_000;
        let writes: Vec<ChatWrite> = (0..FLOOD as i64)
            .map(|i| write_for(&ctx, 10_000 + i, 50_000 + i))
            .collect();
        let flood = writes.into_iter().map(|w| {
            let (committer, done) = (committer.clone(), done.clone());
            tokio::spawn(async move {
                let answer = committer.apply(w).await;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                answer
            })
        });
        let flood: Vec<_> = flood.collect();
        while done.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The lane holds the write connection from group to group while writes wait, but only
        // for a bounded time: another writer gets it long before the flood has drained.
        store.create_account("Meanwhile").await.unwrap();
        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
        assert!(finished < FLOOD, "the other write waited for all {FLOOD} chat writes");
        for answer in futures::future::join_all(flood).await {
            assert!(matches!(answer.unwrap(), Ok(Applied::Done { .. })));
        }
    }
}
