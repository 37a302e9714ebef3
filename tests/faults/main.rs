//! Fault tests: the real `hookline` binary killed, cut off from its disk or its database, with
//! counts printed (`--nocapture`) and an assertion per promise (see docs/reliability.md).

mod support;

mod db_outage;
mod db_proxy;
mod disk_full;
#[allow(dead_code)]
#[path = "../api/fake_telegram.rs"]
mod fake_telegram;
mod publish_kill;
mod telegram_burst;
mod two_nodes;
