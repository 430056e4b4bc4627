//! A signed-in page takes one pooled connection per request: the session,
//! the user and their memberships, the membership and role checks and the
//! page's own queries share it, in one hand-off to a blocking thread. The
//! access log counts each request's checkouts.

use crate::support::{TestApp, json_log_mark, json_logs_since};

/// The `db_checkouts` the access log recorded for each GET of `path`.
fn checkouts_of(logs: &str, path: &str) -> Vec<u64> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "request" && line["path"] == path)
        .map(|line| line["db_checkouts"].as_u64().expect("db_checkouts"))
        .collect()
}

#[actix_web::test]
async fn a_signed_in_page_takes_one_pooled_connection() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let pages = ["", "/members", "/pods", "/billing", "/audit"]
        .map(|page| format!("/accounts/{}{page}", team.id));
    let browser = &team.admin.browser;
    // A first look may also save the session (a flash shown and taken).
    for path in &pages {
        assert_eq!(browser.get_page(path).await.0, 200, "{path}");
    }
    assert_eq!(team.dev.browser.get_page("/profile").await.0, 200);

    let mark = json_log_mark();
    for path in &pages {
        assert_eq!(browser.get_page(path).await.0, 200, "{path}");
        assert_eq!(browser.get_page(path).await.0, 200, "{path}");
    }
    // A Dev's Pods page, whose first look rolls the member's activity
    // forward on that same connection.
    let dev_pods = format!("/accounts/{}/pods", team.id);
    assert_eq!(team.dev.browser.get_page(&dev_pods).await.0, 200);

    let logs = json_logs_since(mark);
    for path in &pages {
        assert_eq!(
            checkouts_of(&logs, path).len(),
            2 + usize::from(path == &dev_pods)
        );
        assert!(
            checkouts_of(&logs, path).iter().all(|&n| n == 1),
            "{path}: {:?}",
            checkouts_of(&logs, path)
        );
    }
}

/// The count is real: a form's POST loads the session for its CSRF check,
/// then runs the change, then saves the flash it leaves: three.
#[actix_web::test]
async fn a_form_post_takes_its_own_checkouts() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/settings", team.id);
    let browser = &team.admin.browser;
    browser.csrf().await;
    let mark = json_log_mark();
    let res = browser.post_form(&path, &[("name", "Acme Compute")]).await;
    assert_eq!(res.status(), 303);
    let logs = json_logs_since(mark);
    assert_eq!(checkouts_of(&logs, &path), vec![3]);
}
