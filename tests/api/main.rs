//! Black-box API tests: a real hookline server on port 0 per test, with a fresh database.
//!
//! Tests declared with `both_backends!` run on SQLite always, and on PostgreSQL when
//! `HOOKLINE_TEST_DATABASE_URL` is set (each test in its own schema). Without it the PostgreSQL
//! variants report themselves as skipped on stderr; with `HOOKLINE_REQUIRE_POSTGRES=1` (set by
//! `.ci/run`) a missing database fails them instead.

mod fake_telegram;
mod fake_whatsapp;
mod helpers;

mod accounts;
mod bad_input;
mod bots;
mod completions;
mod endpoint_headers;
mod event_schemas;
mod jq;
mod key_roles;
mod media;
mod media_helpers;
mod media_lib;
mod nul_chars;
mod ops;
mod private_files;
mod process;
mod python;
mod readme;
mod scenario_cli;
mod scenario_hostile;
mod scenarios;
mod slow_clients;
mod source_presets_lib;
mod sources;
mod sources_gateway;
mod sources_presets;
mod ssrf_proxy;
mod telegram;
mod telegram_chiho;
mod telegram_client;
mod telegram_crash;
mod telegram_duplicates;
mod telegram_groups;
mod telegram_keyboards;
mod telegram_media;
mod telegram_more;
mod telegram_pacing;
mod telegram_shapes;
mod telegram_support;
mod telegram_uploads;
mod whatsapp;
mod whatsapp_chiho;
mod whatsapp_more;
mod whatsapp_support;

mod fake_receiver;
mod webhooks;
mod webhooks_crash;
mod webhooks_delivery;
mod webhooks_events;
mod webhooks_leases;
mod webhooks_limits;
mod webhooks_retention;
