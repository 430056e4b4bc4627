//! Issue 16: the spend pages as Billing and Admin see them: usage by member
//! and by Pod for any month, and the Spend controls page.

use diesel::prelude::*;
use reqwest::StatusCode;
use time::Duration;

use crate::support::TestApp;
use crate::support::spend::{spend_path, start};

#[actix_web::test]
async fn billing_sees_usage_by_member_and_pod_with_earlier_months_a_click_away() {
    // Arrange: the Dev ran a Pod in October; in November the Dev and the
    // Admin run one each, the Admin's still running.
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 100_000);
    let (dev, admin) = (&team.dev.browser, &team.admin.browser);
    clock.set(time::macros::datetime!(2026-10-30 10:00 UTC));
    let old = app
        .create_pod_as(dev, team.id, "october", "l40s", "2")
        .await;
    start(dev, team.id, old).await;
    clock.advance(Duration::hours(10));
    dev.post_form(&format!("/accounts/{}/pods/{old}/stop", team.id), &[])
        .await;
    clock.set(time::macros::datetime!(2026-11-20 10:00 UTC));
    let a = app
        .create_pod_as(dev, team.id, "dev-box", "h100-80gb", "1")
        .await;
    let b = app
        .create_pod_as(admin, team.id, "admin-box", "a100-80gb", "2")
        .await;
    start(dev, team.id, a).await;
    start(admin, team.id, b).await;
    clock.advance(Duration::hours(2));
    dev.post_form(&format!("/accounts/{}/pods/{a}/stop", team.id), &[])
        .await;
    clock.advance(Duration::hours(1));

    // Act
    let billing = &team.billing.browser;
    let (status, body) = billing
        .get_page(&format!("/accounts/{}/billing", team.id))
        .await;

    // Assert: this month, per member and per Pod, the running one included.
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Usage in November 2026"));
    let dev_row = row_of(&body, "Dan Dev");
    assert!(
        dev_row.contains("2.0") && dev_row.contains("$5.98"),
        "{dev_row}"
    );
    let admin_row = row_of(&body, "Alice Admin");
    assert!(
        admin_row.contains("6.0") && admin_row.contains("$11.34"),
        "{admin_row}"
    );
    assert!(row_of(&body, "admin-box").contains("running"));
    assert!(body.contains("$17.32"), "the month's total");
    assert!(body.contains("October 2026 and earlier"));
    // October, one click away.
    let (status, body) = billing
        .get_page(&format!(
            "/accounts/{}/billing/usage?month=2026-10",
            team.id
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(row_of(&body, "Dan Dev").contains("$19.80"), "{body}");
    assert!(body.contains("october"));
    assert!(!body.contains("dev-box"));
    assert!(body.contains("← September 2026"));
    assert!(body.contains("November 2026 →"));
    // The Dev's spend on the Spend controls page, against no limit yet.
    let (_, body) = billing.get_page(&spend_path(team.id)).await;
    let dev_row = row_of(&body, "Dan Dev");
    assert!(
        dev_row.contains("$5.98") && dev_row.contains("No limit"),
        "{dev_row}"
    );
}

/// The table row (`<tr>…</tr>`) holding `text`.
fn row_of<'a>(body: &'a str, text: &str) -> &'a str {
    let at = body.find(text).unwrap_or_else(|| panic!("no {text}"));
    let start = body[..at].rfind("<tr").unwrap_or(0);
    let end = body[at..].find("</tr>").map_or(body.len(), |e| at + e);
    &body[start..end]
}

#[actix_web::test]
async fn a_month_that_cannot_be_is_a_400() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    for month in ["2026-13", "November", "1800-01", ""] {
        let res = team
            .admin
            .browser
            .get(&format!(
                "/accounts/{}/billing/usage?month={month}",
                team.id
            ))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{month:?}");
        assert!(res.text().await.unwrap().contains("There is no such month"));
    }
}

#[actix_web::test]
async fn a_removed_member_takes_their_own_limit_and_quotas_along() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let admin = &team.admin.browser;
    app.set_member_limit(admin, team.id, team.dev.user_id, "800")
        .await;
    let member = team.dev.user_id.to_string();
    let res = admin
        .post_form(
            &format!("{}/member-quotas", spend_path(team.id)),
            &[("member", member.as_str()), ("a100-80gb", "2")],
        )
        .await;
    assert!(res.status().is_redirection());

    let res = admin
        .post_form(
            &format!("/accounts/{}/members/{}/remove", team.id, team.dev.user_id),
            &[],
        )
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());

    use team_console::db::schema::{member_gpu_quotas, member_spend_limits};
    let mut conn = app.conn();
    let limits: i64 = member_spend_limits::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    let quotas: i64 = member_gpu_quotas::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((limits, quotas), (0, 0));
    admin.get_page(&spend_path(team.id)).await; // shows the removal's flash
    let (status, body) = admin.get_page(&spend_path(team.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("Dan Dev"), "{body}");
}
