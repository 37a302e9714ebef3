//! The fault suite: hookline started as a child process, then killed, starved of disk or cut
//! from its database, with the promises it keeps checked and counted (`--nocapture` shows the
//! counts).

mod disk_full;
