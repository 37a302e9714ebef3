//! Plain shared types, below every other module: what several layers must name alike.

pub mod dialog;
pub mod filter;
pub mod ids;
