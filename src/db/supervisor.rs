//! Keeps the console's own PostgreSQL running. When the postmaster dies
//! while the console serves (the out-of-memory killer, a `kill -9`), the
//! supervisor notices within a second, starts the cluster again on the same
//! data folder (PostgreSQL's crash recovery replays the WAL: with fsync on,
//! everything acknowledged is kept) and the pool reconnects on its own;
//! pages answer 503 in between. Failed starts back off (1 s, 2 s, 4 s … up
//! to a minute) so a cluster that cannot start does not spin, and the
//! reason is kept for `/readyz`.
//!
//! Only the console holding the data folder's lock (`data_dir`) runs a
//! cluster there, so only one supervises it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::db::local_cluster::LocalCluster;

/// How often the postmaster is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Why the console's own database is not serving, when the supervisor
/// knows (shown by `/readyz`). One per process: there is one cluster.
static PROBLEM: Mutex<Option<String>> = Mutex::new(None);

/// What `/readyz` should say about the local cluster, if anything.
pub fn problem() -> Option<String> {
    PROBLEM.lock().map(|p| p.clone()).unwrap_or(None)
}

fn set_problem(problem: Option<String>) {
    if let Ok(mut slot) = PROBLEM.lock() {
        *slot = problem;
    }
}

/// The running supervisor; `stop` ends it before the cluster is stopped.
pub struct Supervisor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub fn start(cluster: Arc<Mutex<LocalCluster>>) -> Supervisor {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("postgres-supervisor".into())
            .spawn(move || watch(&cluster, &flag))
            .expect("a thread for the PostgreSQL supervisor");
        Supervisor {
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The delay before the next start after `failures` failed ones in a row.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

fn watch(cluster: &Mutex<LocalCluster>, stop: &AtomicBool) {
    let mut failures = 0u32;
    let mut next_try = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(CHECK_EVERY);
        let Ok(mut cluster) = cluster.lock() else {
            return;
        };
        if stop.load(Ordering::SeqCst) || cluster.is_running() || Instant::now() < next_try {
            continue;
        }
        if failures == 0 {
            tracing::warn!(
                pgdata = %cluster.data_dir().display(),
                "the local PostgreSQL server is gone (crashed or killed); starting it again"
            );
        }
        match cluster.start_again() {
            Ok(()) => {
                tracing::warn!(failures, "the local PostgreSQL server is running again");
                failures = 0;
                set_problem(None);
            }
            Err(e) => {
                failures += 1;
                let wait = backoff(failures);
                next_try = Instant::now() + wait;
                tracing::error!(
                    failures,
                    retry_in_s = wait.as_secs(),
                    log = %cluster.log_file().display(),
                    error = %e,
                    "the local PostgreSQL server failed to start; see its log"
                );
                set_problem(Some(format!(
                    "The console's PostgreSQL failed to start {failures} time{} in a row; \
                     the next try is in {} s. The console's log says why.",
                    if failures == 1 { "" } else { "s" },
                    wait.as_secs()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn restarts_back_off_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(0), Duration::from_secs(1));
    }
}
