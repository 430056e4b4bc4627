//! `GET /metrics` in Prometheus's text format, on a listener of its own
//! (METRICS_ADDR), so the public address never serves it: whoever can
//! reach it learns traffic and failure rates, not something to publish.
//!
//! Counters and histograms are kept by the recorder as things happen
//! (`telemetry`); the gauges of the pool and of the password hasher are
//! read when scraped.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web as aw};
use metrics::gauge;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::AppState;
use crate::telemetry::{
    DB_POOL_CONNECTIONS, DB_POOL_MAX, DB_POOL_WAITING, HASHING_PERMITS, HASHING_PERMITS_IN_USE,
};

/// How often the recorder drains its histogram buffers when nobody
/// scrapes (a scrape drains them too).
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// The metrics server on `listener`: one worker, one route.
pub fn server(
    listener: TcpListener,
    state: aw::Data<AppState>,
    recorder: PrometheusHandle,
) -> std::io::Result<Server> {
    let upkeep = recorder.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let recorder = aw::Data::new(recorder);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(recorder.clone())
            .route("/metrics", aw::get().to(scrape))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run())
}

async fn scrape(state: aw::Data<AppState>, recorder: aw::Data<PrometheusHandle>) -> HttpResponse {
    let pool = state.database.state();
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(pool.in_use);
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(pool.idle);
    gauge!(DB_POOL_MAX).set(pool.max);
    gauge!(DB_POOL_WAITING).set(pool.waiting as f64);
    let (permits, in_use) = state.passwords.permits();
    gauge!(HASHING_PERMITS).set(permits as f64);
    gauge!(HASHING_PERMITS_IN_USE).set(in_use as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(recorder.render())
}
