//! Fault tests: the real `hookline` binary killed, cut off from its disk or its database, with counts printed (`--nocapture`) and an assertion per promise.

mod support;

mod publish_kill;
