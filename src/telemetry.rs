//! What the console counts for Prometheus, and the recorder that keeps it.
//!
//! Code anywhere (area cores included) counts through the `metrics`
//! facade's macros, which do nothing until [`install`] has set the
//! Prometheus recorder: a console without METRICS_ADDR pays for no
//! metrics. `web::metrics` serves the recorder's text on METRICS_ADDR.
//! Every name is here, with its help text, so the exposition stays one
//! vocabulary.

use std::sync::OnceLock;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "team_console_http_requests_total";
pub const HTTP_DURATION: &str = "team_console_http_request_duration_seconds";
pub const DB_POOL_CONNECTIONS: &str = "team_console_db_pool_connections";
pub const DB_POOL_MAX: &str = "team_console_db_pool_max_connections";
pub const DB_POOL_WAITING: &str = "team_console_db_pool_waiting";
pub const HASHING_PERMITS: &str = "team_console_password_hashing_permits";
pub const HASHING_PERMITS_IN_USE: &str = "team_console_password_hashing_permits_in_use";
pub const SIGN_IN_FAILURES: &str = "team_console_sign_in_failures_total";
pub const SIGN_IN_THROTTLED: &str = "team_console_sign_in_throttled_total";
pub const SIGN_UP_THROTTLED: &str = "team_console_sign_up_throttled_total";
pub const AUDIT_ENTRIES: &str = "team_console_audit_entries_recorded_total";
pub const BACKUPS: &str = "team_console_backups_total";
pub const BACKUP_LAST_TAKEN: &str = "team_console_backup_last_taken_timestamp_seconds";
pub const AUDIT_STREAM_DELIVERIES: &str = "team_console_audit_stream_deliveries_total";

/// Request latency buckets, in seconds: pages answer in milliseconds, the
/// 503 of a busy pool takes about a second, a CSV export may take longer.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Sets the process's Prometheus recorder (once; later calls, such as a
/// second app in the test binary, get the same one) and describes every
/// metric. Counters without labels start at zero, so a scrape shows them
/// before anything happened.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), DURATION_BUCKETS)
                .expect("the buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            for name in [SIGN_IN_FAILURES, SIGN_IN_THROTTLED, SIGN_UP_THROTTLED] {
                counter!(name).absolute(0);
            }
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route pattern and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (until its response starts), by method and route pattern."
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database connections of this process's pool, by state (in_use, idle)."
    );
    describe_gauge!(DB_POOL_MAX, "Database connections the pool may open.");
    describe_gauge!(
        DB_POOL_WAITING,
        "Requests waiting for a database connection to come free."
    );
    describe_gauge!(
        HASHING_PERMITS,
        "Password hashes that may run at once (cores - 1)."
    );
    describe_gauge!(
        HASHING_PERMITS_IN_USE,
        "Password hashing permits taken (hashing, or resting after a hash)."
    );
    describe_counter!(
        SIGN_IN_FAILURES,
        "Refused sign-ins (wrong password, unknown or malformed email)."
    );
    describe_counter!(
        SIGN_IN_THROTTLED,
        "Sign-in attempts answered 429 because of earlier failures."
    );
    describe_counter!(
        SIGN_UP_THROTTLED,
        "Sign-ups answered 429 because of earlier refusals from the address."
    );
    describe_counter!(
        AUDIT_ENTRIES,
        "Audit entries written, by action (a change that fails after writing its entry rolls both back, but is counted)."
    );
    describe_counter!(
        BACKUPS,
        "Scheduled backups this process attempted, by outcome (taken, failed)."
    );
    describe_counter!(
        AUDIT_STREAM_DELIVERIES,
        "Audit entries this process POSTed to stream destinations, by outcome (delivered, failed)."
    );
    describe_gauge!(
        BACKUP_LAST_TAKEN,
        "When the last scheduled backup of the database was taken (by any console process), as a Unix time."
    );
}

/// The route label of a request: its pattern (`/accounts/{account_id}`),
/// never the path itself, which would carry ids and tokens and grow the
/// series without bound.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Counts one answered request and its duration (nothing, not even the
/// labels' strings, without METRICS_ADDR).
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    if HANDLE.get().is_none() {
        return;
    }
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    };
    counter!(
        HTTP_REQUESTS,
        "method" => method.to_string(),
        "route" => route.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
    histogram!(
        HTTP_DURATION,
        "method" => method.to_string(),
        "route" => route.to_string()
    )
    .record(seconds);
}
