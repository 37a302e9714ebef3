//! Migrations are embedded in the binary (one list per backend) so a deployed `hookline` needs
//! no files beside it. Add a line here for each new file in `migrations/<backend>/`: a file
//! left off would be skipped silently, so a test fails when a list and its folder disagree.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

#[rustfmt::skip]
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "accounts and api keys", include_str!("../../migrations/sqlite/0001_accounts.sql")),
    (2, "bots and scenarios", include_str!("../../migrations/sqlite/0002_bots_scenarios.sql")),
    (3, "telegram flow", include_str!("../../migrations/sqlite/0003_telegram.sql")),
    (4, "media library", include_str!("../../migrations/sqlite/0004_media.sql")),
    (5, "outbound webhooks", include_str!("../../migrations/sqlite/0005_webhooks.sql")),
    (6, "media downloads", include_str!("../../migrations/sqlite/0006_media_downloads.sql")),
    (7, "events found by id", include_str!("../../migrations/sqlite/0007_events_by_id.sql")),
    (8, "pending-only queue indexes", include_str!("../../migrations/sqlite/0008_pending_indexes.sql")),
    (9, "an update's first answer", include_str!("../../migrations/sqlite/0009_inbox_answer.sql")),
    (10, "no bot_events table", include_str!("../../migrations/sqlite/0010_drop_bot_events.sql")),
    (11, "whatsapp credentials and receipts", include_str!("../../migrations/sqlite/0011_whatsapp.sql")),
    (12, "endpoint jq filter and transform", include_str!("../../migrations/sqlite/0012_endpoint_jq.sql")),
    (13, "inbound sources and their ingest log", include_str!("../../migrations/sqlite/0013_sources.sql")),
];

#[rustfmt::skip]
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "accounts and api keys", include_str!("../../migrations/postgres/0001_accounts.sql")),
    (2, "bots and scenarios", include_str!("../../migrations/postgres/0002_bots_scenarios.sql")),
    (3, "telegram flow", include_str!("../../migrations/postgres/0003_telegram.sql")),
    (4, "media library", include_str!("../../migrations/postgres/0004_media.sql")),
    (5, "outbound webhooks", include_str!("../../migrations/postgres/0005_webhooks.sql")),
    (6, "media downloads", include_str!("../../migrations/postgres/0006_media_downloads.sql")),
    (7, "events found by id", include_str!("../../migrations/postgres/0007_events_by_id.sql")),
    (8, "pending-only queue indexes", include_str!("../../migrations/postgres/0008_pending_indexes.sql")),
    (9, "an update's first answer", include_str!("../../migrations/postgres/0009_inbox_answer.sql")),
    (10, "no bot_events table", include_str!("../../migrations/postgres/0010_drop_bot_events.sql")),
    (11, "whatsapp credentials and receipts", include_str!("../../migrations/postgres/0011_whatsapp.sql")),
    (12, "endpoint jq filter and transform", include_str!("../../migrations/postgres/0012_endpoint_jq.sql")),
    (13, "inbound sources and their ingest log", include_str!("../../migrations/postgres/0013_sources.sql")),
];

fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = list
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

pub fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
#[path = "migrations_tests.rs"]
mod tests;
