//! Per-chat FIFO locks: one chat's work runs one at a time, in the order it asked; different
//! chats never wait for each other. Entries vanish when nobody holds or waits for them.

use crate::model::ids::BotId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (BotId, String);

#[derive(Default)]
pub struct ChatLocks {
    map: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a chat's work runs; releases (and forgets an idle entry) on drop.
pub struct ChatGuard<'a> {
    locks: &'a ChatLocks,
    key: Key,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl ChatLocks {
    /// Wait for the chat's turn (tokio's mutex is fair: waiters are served first come, first served).
    pub async fn lock(&self, bot_id: BotId, chat_id: &str) -> ChatGuard<'_> {
        let key = (bot_id, chat_id.to_string());
        let mutex = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = mutex.lock_owned().await;
        ChatGuard {
            locks: self,
            key,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl Drop for ChatGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map.lock().unwrap_or_else(|p| p.into_inner());
        // Two references: the map's and the one inside the dropped guard's mutex are gone, so
        // a count of 1 means only the map still knows this lock: nobody holds or waits.
        if map.get(&self.key).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_chat_waits_in_order_other_chats_do_not() {
        let locks = Arc::new(ChatLocks::default());
        let bot = BotId::from_uuid(uuid::Uuid::nil());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = locks.lock(bot, "1").await;
        let mut waiters = Vec::new();
        for i in 0..5 {
            let (locks, order) = (locks.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let _g = locks.lock(bot, "1").await;
                order.lock().unwrap().push(i);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Another chat is not blocked by chat 1.
        tokio::time::timeout(Duration::from_millis(100), locks.lock(bot, "2"))
            .await
            .expect("chat 2 is free");
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(locks.len(), 0, "idle entries are removed");
    }
}
