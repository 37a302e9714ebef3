//! Inbound sources: any provider posts webhooks to hookline, which verifies, logs and routes them.

pub mod verify;
