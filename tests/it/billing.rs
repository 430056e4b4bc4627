use diesel::prelude::*;
use reqwest::StatusCode;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{TestApp, assert_redirect_to, audit_actions};

fn billing_path(account: Uuid) -> String {
    format!("/accounts/{account}/billing")
}

#[actix_web::test]
async fn billing_adds_funds_and_sees_them_in_the_history() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let browser = &team.billing.browser;

    let res = browser
        .post_form(
            &format!("/accounts/{}/billing/funds", team.id),
            &[("amount", "25.5")],
        )
        .await;
    assert_redirect_to(&res, &billing_path(team.id));
    let (status, body) = browser.get_page(&billing_path(team.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("$25.50 added. The balance is now $25.50."));
    assert!(body.contains("+$25.50"));
    assert!(body.contains("Funds added"));

    assert_eq!(app.balance_of(team.id), 2550);
    assert_eq!(
        app.transactions(team.id),
        [("funds_added".to_string(), 2550)]
    );
    use team_console::db::schema::audit_entries as a;
    let (resource_type, resource_id, details): (String, Option<String>, serde_json::Value) =
        a::table
            .filter(a::action.eq("billing.funds_added"))
            .select((a::resource_type, a::resource_id, a::details))
            .first(&mut app.conn())
            .unwrap();
    assert_eq!(resource_type, "billing");
    assert_eq!(resource_id, Some(team.id.to_string()));
    assert_eq!(details["amount_cents"], 2550);
    assert_eq!(details["balance_cents"], 2550);
}

#[actix_web::test]
async fn invalid_amounts_are_refused_with_a_message_and_nothing_written() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    for (amount, message) in [
        ("0", "Add at least $1.00 and at most $10,000.00."),
        ("0.99", "Add at least $1.00"),
        ("10000.01", "Add at least $1.00"),
        ("abc", "Enter an amount in dollars"),
        ("1.234", "at most two decimals"),
        ("-5", "Enter an amount in dollars"),
        ("", "Enter the amount to add."),
    ] {
        let res = team
            .admin
            .browser
            .post_form(
                &format!("/accounts/{}/billing/funds", team.id),
                &[("amount", amount)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{amount:?}");
        let body = res.text().await.unwrap();
        assert!(body.contains(message), "{amount:?}");
        assert!(
            body.contains(&format!("name=\"amount\" type=\"text\" value=\"{amount}\"")),
            "what was typed is kept: {amount:?}"
        );
    }
    assert_eq!(app.balance_of(team.id), 0);
    assert!(app.transactions(team.id).is_empty());
    assert!(!audit_actions(&mut app.conn()).contains(&"billing.funds_added".to_string()));
}

#[actix_web::test]
async fn the_billing_email_is_validated_stored_and_escaped() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/billing/email", team.id);
    let browser = &team.admin.browser;

    for bad in ["not-an-email", "a b@example.com", "x@nodot"] {
        let res = browser.post_form(&path, &[("email", bad)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.text().await.unwrap().contains("Enter an email address"));
    }
    assert!(!audit_actions(&mut app.conn()).contains(&"billing.email_changed".to_string()));

    let tricky = "o'neil+<b>x</b>@example.com";
    let res = browser.post_form(&path, &[("email", tricky)]).await;
    assert_redirect_to(&res, &billing_path(team.id));
    let (_, body) = browser.get_page(&billing_path(team.id)).await;
    assert!(!body.contains("<b>x</b>"), "user input is escaped");
    assert!(body.contains("value=\"o&#39;neil+&#60;b&#62;x&#60;/b&#62;@example.com\""));

    use team_console::db::schema::{accounts, audit_entries as a};
    let stored: Option<String> = accounts::table
        .find(team.id)
        .select(accounts::billing_email)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(stored.as_deref(), Some(tricky));
    let details: serde_json::Value = a::table
        .filter(a::action.eq("billing.email_changed"))
        .select(a::details)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(details["old_email"], serde_json::Value::Null);
    assert_eq!(details["new_email"], tricky);

    // Empty removes it.
    let res = browser.post_form(&path, &[("email", "  ")]).await;
    assert_redirect_to(&res, &billing_path(team.id));
    let (_, body) = browser.get_page(&billing_path(team.id)).await;
    assert!(body.contains("The billing email was removed."));
}

/// The `href` of the pager link labelled `label`.
fn pager_link(body: &str, label: &str) -> Option<String> {
    let end = body.find(label)?;
    let start = body[..end].rfind("href=\"")? + 6;
    let stop = body[start..].find('"')? + start;
    Some(body[start..stop].replace("&#x2f;", "/"))
}

#[actix_web::test]
async fn the_history_is_newest_first_in_pages_of_25() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    {
        use team_console::db::schema::billing_transactions as bt;
        let start = OffsetDateTime::now_utc() - Duration::days(1);
        for i in 1..=30 {
            diesel::insert_into(bt::table)
                .values((
                    bt::id.eq(Uuid::new_v4()),
                    bt::account_id.eq(team.id),
                    bt::kind.eq("funds_added"),
                    bt::amount_cents.eq(100_i64),
                    bt::description.eq(format!("Row {i:02}.")),
                    bt::created_at.eq(start + Duration::minutes(i)),
                ))
                .execute(&mut app.conn())
                .unwrap();
        }
    }
    let browser = &team.billing.browser;
    let (_, first) = browser.get_page(&billing_path(team.id)).await;
    assert!(first.contains("Row 30.") && first.contains("Row 06."));
    assert!(!first.contains("Row 05."));
    assert!(
        first.find("Row 30.") < first.find("Row 29."),
        "newest first"
    );
    assert!(pager_link(&first, "Newer").is_none());

    let older = pager_link(&first, "Older").expect("an Older link");
    let (status, second) = browser.get_page(&older).await;
    assert_eq!(status, StatusCode::OK);
    assert!(second.contains("Row 05.") && second.contains("Row 01."));
    assert!(!second.contains("Row 06."));
    assert!(pager_link(&second, "Older").is_none());

    let newer = pager_link(&second, "Newer").expect("a Newer link");
    let (_, back) = browser.get_page(&newer).await;
    assert!(back.contains("Row 30.") && back.contains("Row 06."));
    assert!(!back.contains("Row 05."));

    let res = browser
        .get(&format!("{}?before=garbage", billing_path(team.id)))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn dev_and_basic_cannot_see_or_manage_billing() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    for user in [&team.dev, &team.basic] {
        let res = user.browser.get(&billing_path(team.id)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = user
            .browser
            .post_form(
                &format!("/accounts/{}/billing/funds", team.id),
                &[("amount", "100")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = user
            .browser
            .post_form(
                &format!("/accounts/{}/billing/email", team.id),
                &[("email", "dev@example.com")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(app.balance_of(team.id), 0);
    let (_, body) = team
        .dev
        .browser
        .get_page(&format!("/accounts/{}", team.id))
        .await;
    assert!(
        !body.contains("/billing\""),
        "no Billing link in the navigation"
    );
}
