//! Waiting for a condition with a deadline, for every test helper module (`common`,
//! `pg_support`).
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Waits until `condition` holds, polling every 50 ms; panics with `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
