//! Issue 16: monthly limits, alerts and the hard stop, driven through the
//! pages with a manual clock and the sweep run as a console runs it.

use reqwest::StatusCode;
use time::Duration;

use crate::support::pods::T0;
use crate::support::spend::{pods_path, spend_path, start};
use crate::support::{TestApp, assert_redirect_to, assert_refused_to};

/// A100 80GB: $1.89 an hour per GPU.
const A100: i64 = 189;

#[actix_web::test]
async fn an_admin_gives_devs_500_a_month_and_4_a100s_and_a_dev_at_the_limit_is_stopped() {
    // Arrange: the team, with money, and the Admin's spend controls.
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 1_000_000);
    let admin = &team.admin.browser;
    app.set_role_limit(admin, team.id, "dev", "500").await;
    app.set_role_quota(admin, team.id, "dev", "a100-80gb", "4")
        .await;
    let dev = &team.dev.browser;

    // A Pod bigger than the quota cannot even be created.
    let res = dev
        .post_form(
            &pods_path(team.id),
            &[
                ("name", "too-big"),
                ("gpu_type", "a100-80gb"),
                ("gpu_count", "8"),
                ("image", "pytorch/pytorch:latest"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("too-big cannot be created: it has 8 × A100 80GB, and the Dev role&#39;s GPU quota allows 4 A100 80GB at once. Alice Admin (an Admin) can change GPU quotas."),
        "{body}"
    );
    assert!(
        body.contains("value=\"too-big\""),
        "the form keeps what was typed"
    );

    // 4 × A100 runs; one more A100 would exceed the quota.
    let trainer = app
        .create_pod_as(dev, team.id, "trainer", "a100-80gb", "4")
        .await;
    assert_redirect_to(&start(dev, team.id, trainer).await, &pods_path(team.id));
    let extra = app
        .create_pod_as(dev, team.id, "extra", "a100-80gb", "1")
        .await;
    let body = assert_refused_to(dev, start(dev, team.id, extra).await, &pods_path(team.id)).await;
    assert!(
        body.contains("it needs 1 × A100 80GB and your running Pods already hold 4"),
        "{body}"
    );

    // Act: 53 hours at $7.56 an hour is $400.68, past 80 % of $500.
    clock.advance(Duration::hours(53));
    let report = app.sweep(clock.now());
    assert_eq!(
        report.alerts, 2,
        "50 % and 80 % crossed since the last sweep"
    );
    assert!(report.stopped.is_empty());

    // Assert: the Admin is warned with the figures, the Dev without money.
    let (_, body) = admin.get_page(&format!("/accounts/{}", team.id)).await;
    assert!(
        body.contains("Dan Dev has used 80 % of their monthly spend limit ($400.68 of $500.00)."),
        "{body}"
    );
    let (_, body) = dev.get_page(&format!("/accounts/{}", team.id)).await;
    assert!(body.contains("You have used 80 % of your monthly spend limit."));
    assert!(body.contains("212.0 GPU-hours"), "{body}");
    assert!(
        body.contains("80 % of the Dev role&#39;s monthly limit used")
            || body.contains("80 % of the Dev role's monthly limit used"),
        "{body}"
    );
    assert!(!body.contains('$'), "a Dev sees no money: {body}");
    // Who spent what: Billing sees the month by member and by Pod.
    let (_, body) = team
        .billing
        .browser
        .get_page(&format!("/accounts/{}/billing", team.id))
        .await;
    assert!(body.contains("Usage in November 2026"));
    assert!(body.contains("Dan Dev"));
    assert!(body.contains("$400.68"));
    assert!(body.contains("trainer"));

    // 67 hours: $506.52, past the limit. One sweep stops the Pod.
    clock.advance(Duration::hours(14));
    let report = app.sweep(clock.now());
    assert_eq!(report.stopped.len(), 1);
    assert_eq!(report.stopped[0].pod_id.as_uuid(), trainer);
    assert_eq!(app.pod_status(trainer), "stopped");
    assert_eq!(app.charges_of(trainer), [-(67 * 4 * A100)]);
    let stops = app.entries_of("pod.stopped");
    let (actor, details) = stops.last().unwrap();
    assert_eq!(actor.as_deref(), Some("system"));
    assert_eq!(details["reason"], "member_limit");
    assert_eq!(details["started_by_name"], "Dan Dev");

    // The Dev is told which limit, that it is used up, and who can raise it.
    let body =
        assert_refused_to(dev, start(dev, team.id, trainer).await, &pods_path(team.id)).await;
    assert!(
        body.contains("trainer cannot start: you have reached the Dev role&#39;s monthly spend limit (101 % used, 268.0 GPU-hours this month). You cannot start or create Pods until December 1 unless it is raised; Alice Admin or Bea Billing (a Billing member or an Admin) can raise it."),
        "{body}"
    );
    assert!(!body.contains('$'), "{body}");
    assert!(body.contains(
        "You have used your monthly spend limit: you cannot start or create Pods until December 1"
    ));
    // The Admin, who may see money, is told with the figures.
    let res = start(admin, team.id, extra).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the Admin has no limit"
    );
    let (_, body) = admin.get_page(&format!("/accounts/{}", team.id)).await;
    assert!(
        body.contains("Dan Dev has used their monthly spend limit ($506.52 of $500.00)"),
        "{body}"
    );
}

#[actix_web::test]
async fn crossing_each_threshold_raises_its_alert_exactly_once() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 100_000);
    app.set_member_limit(&team.admin.browser, team.id, team.dev.user_id, "10")
        .await;
    app.set_budget(&team.admin.browser, team.id, "30").await;
    // One H100 at $2.99 an hour.
    let pod = app
        .create_pod_as(&team.dev.browser, team.id, "h100", "h100-80gb", "1")
        .await;
    start(&team.dev.browser, team.id, pod).await;

    // (hours since the start, alerts due): $2.99, $5.98, $8.97, $11.96 of $10.
    for (hours, due) in [(1, 0), (2, 1), (2, 0), (3, 1), (3, 0), (4, 1), (4, 0)] {
        clock.set(T0 + Duration::hours(hours));
        let report = app.sweep(clock.now());
        assert_eq!(report.alerts, due, "after {hours} h");
    }
    let alerts = app.entries_of("spend.alert_raised");
    let thresholds: Vec<(String, i64)> = alerts
        .iter()
        .map(|(actor, d)| {
            assert_eq!(actor.as_deref(), Some("system"));
            (
                d["limit"].as_str().unwrap().to_string(),
                d["threshold"].as_i64().unwrap(),
            )
        })
        .collect();
    // The member's 50, 80 and 100 %, then the Pod stopped; the team's $30
    // budget is not at 50 % yet.
    assert_eq!(
        thresholds,
        [
            ("member_limit".to_string(), 50),
            ("member_limit".to_string(), 80),
            ("member_limit".to_string(), 100),
        ]
    );
    assert_eq!(app.pod_status(pod), "stopped");

    // The budget's alerts, each once as well.
    let other = app
        .create_pod_as(&team.admin.browser, team.id, "other", "h100-80gb", "1")
        .await;
    start(&team.admin.browser, team.id, other).await;
    clock.advance(Duration::hours(7)); // $11.96 + $20.93 = $32.89
    let report = app.sweep(clock.now());
    assert_eq!(report.alerts, 3, "the budget: 50, 80 and 100 %");
    assert_eq!(app.sweep(clock.now()).alerts, 0);
    let budget: Vec<i64> = app
        .entries_of("spend.alert_raised")
        .iter()
        .filter(|(_, d)| d["limit"] == "team_budget")
        .map(|(_, d)| d["threshold"].as_i64().unwrap())
        .collect();
    assert_eq!(budget, [50, 80, 100]);
    assert_eq!(
        app.pod_status(other),
        "stopped",
        "the budget stops everyone"
    );
}

#[actix_web::test]
async fn at_100_percent_start_and_create_are_refused_and_running_pods_stop_within_one_sweep_charged_once()
 {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 100_000);
    app.set_member_limit(&team.admin.browser, team.id, team.dev.user_id, "5")
        .await;
    let dev = &team.dev.browser;
    let first = app.create_pod_as(dev, team.id, "first", "l40s", "1").await;
    let second = app.create_pod_as(dev, team.id, "second", "l40s", "2").await;
    let admins = app
        .create_pod_as(&team.admin.browser, team.id, "admins", "l40s", "1")
        .await;
    for pod in [first, second] {
        start(dev, team.id, pod).await;
    }
    start(&team.admin.browser, team.id, admins).await;

    // $0.99 + $1.98 an hour: $5 is reached within 2 hours.
    clock.advance(Duration::hours(2));
    let report = app.sweep(clock.now());

    let mut stopped: Vec<_> = report.stopped.iter().map(|s| s.pod_id.as_uuid()).collect();
    stopped.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(stopped, want, "the Dev's Pods, and only theirs");
    assert_eq!(app.pod_status(admins), "running");
    assert_eq!(app.charges_of(first), [-198]);
    assert_eq!(app.charges_of(second), [-396]);
    // Another sweep finds nothing more to do.
    let again = app.sweep(clock.now());
    assert!(again.stopped.is_empty());
    assert_eq!(app.charges_of(first).len(), 1);

    let body = assert_refused_to(dev, start(dev, team.id, first).await, &pods_path(team.id)).await;
    assert!(
        body.contains("your own monthly spend limit (118 % used"),
        "{body}"
    );
    let res = dev
        .post_form(
            &pods_path(team.id),
            &[
                ("name", "third"),
                ("gpu_type", "rtx-4090"),
                ("gpu_count", "1"),
                ("image", "ubuntu"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("third cannot be created: you have reached your own monthly spend limit")
    );
    assert_eq!(app.pod_status(admins), "running");
}

#[actix_web::test]
async fn a_zero_balance_stops_every_pod_of_the_account() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 1_000);
    let a = app
        .create_pod_as(&team.dev.browser, team.id, "a", "h100-80gb", "1")
        .await;
    let b = app
        .create_pod_as(&team.admin.browser, team.id, "b", "h100-80gb", "2")
        .await;
    start(&team.dev.browser, team.id, a).await;
    start(&team.admin.browser, team.id, b).await;

    // $8.97 an hour: $10 is gone after 1 h 7 min; not yet after one hour.
    clock.advance(Duration::hours(1));
    assert!(app.sweep(clock.now()).stopped.is_empty());
    clock.advance(Duration::minutes(10));
    let report = app.sweep(clock.now());

    assert_eq!(report.stopped.len(), 2);
    assert!(app.running_pods(team.id).is_empty());
    let stops = app.entries_of("pod.stopped");
    assert!(
        stops
            .iter()
            .all(|(actor, d)| actor.as_deref() == Some("system") && d["reason"] == "no_funds")
    );
    assert_eq!(app.balance_of(team.id), 1_000 - 349 - 698);
    // Nothing starts until funds are added, and the Dev is told without money.
    let body = assert_refused_to(
        &team.dev.browser,
        start(&team.dev.browser, team.id, a).await,
        &pods_path(team.id),
    )
    .await;
    assert!(body.contains("a cannot start: the account has no funds left. A Billing member or an Admin must add funds first."));
}

#[actix_web::test]
async fn running_pods_count_against_the_balance_when_starting() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 300);
    let a = app
        .create_pod_as(&team.admin.browser, team.id, "a", "h100-80gb", "1")
        .await;
    let b = app
        .create_pod_as(&team.admin.browser, team.id, "b", "rtx-4090", "1")
        .await;
    start(&team.admin.browser, team.id, a).await;
    clock.advance(Duration::hours(1)); // $2.99 of $3.00 accrued

    let res = start(&team.admin.browser, team.id, b).await;
    assert_redirect_to(&res, &pods_path(team.id));
    clock.advance(Duration::minutes(1));
    let c = app
        .create_pod_as(&team.admin.browser, team.id, "c", "rtx-4090", "1")
        .await;
    let body = assert_refused_to(
        &team.admin.browser,
        start(&team.admin.browser, team.id, c).await,
        &pods_path(team.id),
    )
    .await;
    assert!(
        body.contains("c cannot start: the account&#39;s balance is $3.00, and its running Pods have used $3.06 of it."),
        "{body}"
    );
}

#[actix_web::test]
async fn a_month_rollover_resets_usage_and_splits_a_run_over_it() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 100_000);
    app.set_role_limit(&team.admin.browser, team.id, "dev", "10")
        .await;
    let dev = &team.dev.browser;
    let pod = app.create_pod_as(dev, team.id, "p", "h100-80gb", "1").await;
    start(dev, team.id, pod).await;
    clock.advance(Duration::hours(4)); // $11.96 > $10
    assert_eq!(app.sweep(clock.now()).stopped.len(), 1);
    assert_refused_to(dev, start(dev, team.id, pod).await, &pods_path(team.id)).await;

    // Act: December begins.
    clock.set(time::macros::datetime!(2026-12-01 00:00:01 UTC));

    // Assert: the month starts from nothing; the limit allows starting again.
    let (_, body) = dev.get_page(&format!("/accounts/{}", team.id)).await;
    assert!(body.contains("Your usage in December 2026"));
    assert!(body.contains("0.0 GPU-hours"), "{body}");
    assert!(!body.contains("You have used"), "no alert yet this month");
    assert_redirect_to(&start(dev, team.id, pod).await, &pods_path(team.id));
    assert!(app.sweep(clock.now()).stopped.is_empty());
    dev.post_form(&format!("/accounts/{}/pods/{pod}/stop", team.id), &[])
        .await;
    // November is one click away, with what the Dev used then.
    let (status, body) = team
        .admin
        .browser
        .get_page(&format!(
            "/accounts/{}/billing/usage?month=2026-11",
            team.id
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Usage in November 2026"));
    assert!(body.contains("$11.96"), "{body}");
    assert!(body.contains("December 2026 →"));

    // A run over a month's end counts in each month for its own part.
    let admin = &team.admin.browser;
    let other = app
        .create_pod_as(admin, team.id, "late", "h100-80gb", "1")
        .await;
    clock.set(time::macros::datetime!(2026-12-31 23:00 UTC));
    start(admin, team.id, other).await;
    clock.set(time::macros::datetime!(2027-01-01 01:00 UTC));
    admin
        .post_form(&format!("/accounts/{}/pods/{other}/stop", team.id), &[])
        .await;
    assert_eq!(app.charges_of(other), [-598]);
    let (_, body) = admin
        .get_page(&format!(
            "/accounts/{}/billing/usage?month=2027-01",
            team.id
        ))
        .await;
    assert!(body.contains("$2.99"), "{body}");
    let (_, december) = admin
        .get_page(&format!(
            "/accounts/{}/billing/usage?month=2026-12",
            team.id
        ))
        .await;
    assert!(december.contains("late"));
}

#[actix_web::test]
async fn spend_controls_changes_are_audited_once_and_refused_input_is_kept() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let billing = &team.billing.browser;

    app.set_budget(billing, team.id, "2000").await;
    app.set_budget(billing, team.id, "2000.00").await; // unchanged
    app.set_role_limit(billing, team.id, "dev", "500").await;
    app.set_member_limit(billing, team.id, team.dev.user_id, "800")
        .await;
    app.set_member_limit(billing, team.id, team.dev.user_id, "")
        .await;
    app.set_role_quota(&team.admin.browser, team.id, "dev", "a100-80gb", "4")
        .await;

    let actions: Vec<String> = crate::support::audit_actions(&mut app.conn())
        .into_iter()
        .filter(|a| a.starts_with("spend."))
        .collect();
    assert_eq!(
        actions,
        [
            "spend.budget_changed",
            "spend.role_limit_changed",
            "spend.member_limit_changed",
            "spend.member_limit_changed",
            "spend.role_quota_changed",
        ]
    );
    let (_, details) = &app.entries_of("spend.member_limit_changed")[1];
    assert_eq!(details["old_cents"], 80_000);
    assert_eq!(details["new_cents"], serde_json::Value::Null);
    assert_eq!(details["name"], "Dan Dev");

    // The Admin reads them as sentences.
    let (_, body) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", team.id))
        .await;
    assert!(
        body.contains("set the team&#39;s monthly budget to $2,000.00"),
        "{body}"
    );
    assert!(body.contains("set the Dev role&#39;s A100 80GB quota to 4 GPUs"));

    // Refused input comes back as typed, with a message, and changes nothing.
    let res = billing
        .post_form(
            &format!("{}/budget", spend_path(team.id)),
            &[("budget", "12.345")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains("at most two decimals"));
    assert!(body.contains("value=\"12.345\""));
    let res = billing
        .post_form(
            &format!("{}/roles", spend_path(team.id)),
            &[("limit_dev", "500"), ("limit_basic", "lots")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Basic role: Enter an amount in dollars")
    );
    let res = team
        .admin
        .browser
        .post_form(
            &format!("{}/quotas", spend_path(team.id)),
            &[("role", "dev"), ("a100-80gb", "-1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("A100 80GB: A quota is a whole number of GPUs")
    );
    // Billing sees the quotas but cannot change them.
    let res = billing
        .post_form(
            &format!("{}/quotas", spend_path(team.id)),
            &[("role", "dev"), ("a100-80gb", "8")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (status, body) = billing.get_page(&spend_path(team.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Only Admins can change quotas."));
    assert_eq!(
        crate::support::audit_actions(&mut app.conn())
            .iter()
            .filter(|a| a.starts_with("spend."))
            .count(),
        5
    );
}

#[actix_web::test]
async fn a_member_of_another_account_is_not_found_by_spend_controls() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let other = app.signed_up_user("Olga Other").await;
    app.insert_team(other.user_id, "Other");
    let res = team
        .admin
        .browser
        .post_form(
            &format!("{}/members", spend_path(team.id)),
            &[("member", &other.user_id.to_string()), ("limit", "5")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = team
        .admin
        .browser
        .post_form(
            &format!("{}/member-quotas", spend_path(team.id)),
            &[("member", &other.user_id.to_string()), ("l40s", "5")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        !crate::support::audit_actions(&mut app.conn())
            .iter()
            .any(|a| a.starts_with("spend."))
    );
}
