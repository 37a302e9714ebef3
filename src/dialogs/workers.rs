//! Background loops of the inbound flow, each a loop around one step that reports what it did:
//! fire due timers, retry due replies, fetch users' files, keep platform webhooks registered.
//! All stop on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Runtime;
use crate::store::Worker;

/// What one step of a worker did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Did this many units of work; run again at once.
    Worked(usize),
    /// Nothing due.
    Idle,
}

/// Fire every due timer once (auto transitions), then send what they produced.
pub async fn fire_due_timers(rt: &Arc<Runtime>) -> Step {
    let timers = match rt.store.claim_due_timers(30_000, 100).await {
        Ok(t) => {
            rt.store.workers().succeeded(Worker::Timers);
            t
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read timers");
            rt.store.workers().failed(Worker::Timers);
            return Step::Idle;
        }
    };
    if timers.is_empty() {
        return Step::Idle;
    }
    let n = timers.len();
    let mut tasks = tokio::task::JoinSet::new();
    for t in timers {
        let rt = rt.clone();
        tasks.spawn(async move {
            match rt.process_tick(t.bot_id, &t.platform, &t.chat_id, t.token as u64).await {
                Ok(()) => {
                    rt.send_chat(t.bot_id, &t.platform, &t.chat_id).await;
                }
                Err(e) => {
                    tracing::warn!(bot_id = %t.bot_id, error = %e, "timer failed; it fires again after its lease")
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Step::Worked(n)
}

/// Send replies that are due (retries after 429/5xx, or left by a crashed node).
pub async fn send_due_replies(rt: &Arc<Runtime>) -> Step {
    let chats = match rt.store.chats_with_due_replies(200).await {
        Ok(c) => {
            rt.store.workers().succeeded(Worker::Replies);
            c
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the outbox");
            rt.store.workers().failed(Worker::Replies);
            return Step::Idle;
        }
    };
    if chats.is_empty() {
        return Step::Idle;
    }
    let n = chats.len();
    let mut tasks = tokio::task::JoinSet::new();
    for (bot_id, platform, chat_id) in chats {
        let rt = rt.clone();
        tasks.spawn(async move { rt.send_chat(bot_id, &platform, &chat_id).await.len() });
    }
    let mut sent = 0;
    while let Some(r) = tasks.join_next().await {
        sent += r.unwrap_or(0);
    }
    // Rows that are due but could not be sent (e.g. leased elsewhere) must not spin the loop.
    if sent == 0 { Step::Idle } else { Step::Worked(n) }
}

/// Run the inbound workers until shutdown.
pub fn spawn(rt: Arc<Runtime>, tasks: &tokio_util::task::TaskTracker, shutdown: CancellationToken) {
    {
        let (rt, shutdown) = (rt.clone(), shutdown.clone());
        tasks.spawn(async move {
            loop {
                let step = fire_due_timers(&rt).await;
                if step != Step::Idle {
                    continue;
                }
                // Sleep until the next timer is due (at most 1 s), or until a new one is set.
                let wait = match rt.store.next_timer_due().await {
                    Ok(Some(due)) => (due - crate::store::now_ms()).clamp(5, 1_000) as u64,
                    _ => 1_000,
                };
                let wait = rt.store.workers().pause(Worker::Timers, Duration::from_millis(wait));
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = rt.timers_changed.notified() => {},
                    _ = tokio::time::sleep(wait) => {},
                }
            }
        });
    }
    {
        let (rt, shutdown) = (rt.clone(), shutdown.clone());
        tasks.spawn(async move {
            loop {
                let step = send_due_replies(&rt).await;
                let pause = Duration::from_millis(if step == Step::Idle { 500 } else { 10 });
                let pause = rt.store.workers().pause(Worker::Replies, pause);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {},
                }
            }
        });
    }
    {
        let (rt, shutdown) = (rt.clone(), shutdown.clone());
        tasks.spawn(async move {
            loop {
                if super::downloads::download_due(&rt).await > 0 {
                    continue;
                }
                let wait = match rt.store.next_download_due().await {
                    Ok(Some(due)) => (due - crate::store::now_ms()).clamp(5, 2_000) as u64,
                    _ => 2_000,
                };
                let wait = rt.store.workers().pause(Worker::Downloads, Duration::from_millis(wait));
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = rt.downloads_waiting.notified() => {},
                    _ = tokio::time::sleep(wait) => {},
                }
            }
        });
    }
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    for name in rt.platforms.names() {
                        let Some(registrar) = rt.registrar(name) else { continue };
                        if let Err(e) = crate::platforms::registration::refresh_broken(&registrar).await {
                            tracing::warn!(platform = name, error = %e, "webhook refresh failed");
                        }
                    }
                },
            }
        }
    });
}
