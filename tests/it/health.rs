use reqwest::StatusCode;
use team_console::db::local_cluster::{ClusterOptions, LocalCluster};

use crate::support::{TestApp, test_settings};

#[actix_web::test]
async fn healthz_and_readyz_answer_ok() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    assert_eq!(browser.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(browser.get("/readyz").await.status(), StatusCode::OK);
}

/// Runs on a cluster of its own: stopping the shared one would break
/// every other test.
#[actix_web::test]
async fn readyz_is_503_while_the_database_is_gone_and_recovers() {
    let dir = crate::support::ScratchDir::new("ready");
    let mut cluster = LocalCluster::start(&dir, ClusterOptions::throwaway()).unwrap();
    let urls = crate::support::database::local_database(&cluster);
    let app = TestApp::spawn_with(test_settings(urls.serving), String::new()).await;
    let browser = app.browser();
    assert_eq!(browser.get("/readyz").await.status(), StatusCode::OK);

    cluster.stop_immediate().unwrap();
    let started = std::time::Instant::now();
    let res = browser.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no hang"
    );
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Temporarily unavailable")
    );
    let res = browser.get("/sign-in").await;
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "pages say 503 too"
    );
    // Six times as many requests at once as the pool has connections: the
    // wait for a turn and the wait for a connection share one second.
    let started = std::time::Instant::now();
    let many = (0..24).map(|_| async {
        let status = browser.get("/readyz").await.status();
        (status, started.elapsed())
    });
    for (status, took) in futures_util::future::join_all(many).await {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            took < std::time::Duration::from_millis(1800),
            "503 within about a second, even in a crowd: {took:?}"
        );
    }

    cluster.restart().unwrap();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        status = browser.get("/readyz").await.status();
        if status == StatusCode::OK {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status, StatusCode::OK, "recovers without a restart");
    drop(app);
    drop(cluster);
}
