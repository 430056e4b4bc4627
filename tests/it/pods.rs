use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;
use uuid::Uuid;

use crate::support::{TestApp, TestUser, assert_redirect_to, assert_refused_to, audit_actions};

fn pods_path(account: Uuid) -> String {
    format!("/accounts/{account}/pods")
}

fn pod_path(account: Uuid, pod: Uuid, action: &str) -> String {
    format!("/accounts/{account}/pods/{pod}/{action}")
}

/// Creates a Pod through the form; returns its id.
async fn create_pod(app: &TestApp, user: &TestUser, account: Uuid, gpu: &str, count: &str) -> Uuid {
    let name = format!("pod-{}", &Uuid::new_v4().simple().to_string()[..6]);
    let res = user
        .browser
        .post_form(
            &pods_path(account),
            &[
                ("name", name.as_str()),
                ("gpu_type", gpu),
                ("gpu_count", count),
                ("image", "pytorch/pytorch:latest"),
            ],
        )
        .await;
    assert_redirect_to(&res, &pods_path(account));
    use team_console::db::schema::pods;
    pods::table
        .filter(pods::name.eq(&name))
        .select(pods::id)
        .first(&mut app.conn())
        .unwrap()
}

fn audit_details(app: &TestApp, action: &str) -> Vec<Value> {
    use team_console::db::schema::audit_entries as a;
    a::table
        .filter(a::action.eq(action))
        .order(a::id.asc())
        .select(a::details)
        .load(&mut app.conn())
        .unwrap()
}

#[actix_web::test]
async fn an_h100_running_90_minutes_is_charged_449_cents() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 10_000);
    let pod = create_pod(&app, &team.dev, team.id, "h100-80gb", "1").await;
    assert_eq!(
        app.pod_status(pod),
        "stopped",
        "new Pods are created stopped"
    );

    let res = team
        .dev
        .browser
        .post_form(&pod_path(team.id, pod, "start"), &[])
        .await;
    assert_redirect_to(&res, &pods_path(team.id));
    clock.advance(Duration::minutes(90));

    // While it runs, billing shows what has accrued ($2.99/h × 1.5 h, rounded up).
    let (_, body) = team
        .billing
        .browser
        .get_page(&format!("/accounts/{}/billing", team.id))
        .await;
    assert!(body.contains("Usage accrued by 1 running Pod"), "{body}");
    assert!(body.contains("$4.49"));
    let (_, body) = team.admin.browser.get_page(&pods_path(team.id)).await;
    assert!(body.contains("1 h 30 min"));
    assert!(body.contains("$4.49"));
    // Basic sees the running time, never money (SPEC §2).
    let (_, body) = team.basic.browser.get_page(&pods_path(team.id)).await;
    assert!(body.contains("1 h 30 min"));
    assert!(!body.contains("$4.49"));

    let res = team
        .dev
        .browser
        .post_form(&pod_path(team.id, pod, "stop"), &[])
        .await;
    assert_redirect_to(&res, &pods_path(team.id));
    let (_, body) = team.dev.browser.get_page(&pods_path(team.id)).await;
    assert!(body.contains("is stopped. It ran 1 h 30 min."));
    assert!(!body.contains("$4.49"), "the Dev is not told the charge");

    assert_eq!(app.balance_of(team.id), 10_000 - 449);
    assert_eq!(
        app.transactions(team.id),
        [("usage_charged".to_string(), -449)]
    );
    let actions = audit_actions(&mut app.conn());
    let tail: Vec<&str> = actions
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "pod.created",
            "pod.started",
            "billing.usage_charged",
            "pod.stopped"
        ]
    );
    let stopped = &audit_details(&app, "pod.stopped")[0];
    assert_eq!(stopped["running_seconds"], 5400);
    assert_eq!(stopped["charged_cents"], 449);
    assert_eq!(stopped["from"], "running");
    let charged = &audit_details(&app, "billing.usage_charged")[0];
    assert_eq!(charged["amount_cents"], -449);
    assert_eq!(charged["balance_cents"], 10_000 - 449);
    assert_eq!(charged["pod_id"], pod.to_string());
}

#[actix_web::test]
async fn runs_add_up_and_terminating_a_running_pod_charges_its_run() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 1_000);
    // 2 × A100 at $1.89: $3.78 an hour.
    let pod = create_pod(&app, &team.admin, team.id, "a100-80gb", "2").await;
    let start = pod_path(team.id, pod, "start");
    let stop = pod_path(team.id, pod, "stop");

    team.admin.browser.post_form(&start, &[]).await;
    clock.advance(Duration::minutes(10));
    team.admin.browser.post_form(&stop, &[]).await; // 63 cents
    clock.advance(Duration::hours(5)); // stopped: free
    team.admin.browser.post_form(&start, &[]).await;
    clock.advance(Duration::seconds(1)); // 0.105 cents → 1
    team.admin.browser.post_form(&stop, &[]).await;
    team.admin.browser.post_form(&start, &[]).await;
    clock.advance(Duration::minutes(20)); // 126 cents

    let terminate = pod_path(team.id, pod, "terminate");
    let (status, body) = team.admin.browser.get_page(&terminate).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("cannot be started again"));
    assert!(body.contains("$1.26 so far"));
    let (status, body) = team.dev.browser.get_page(&terminate).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("its current run ends and is charged now"));
    assert!(!body.contains("$1.26"), "no money for a Dev");
    let res = team.dev.browser.post_form(&terminate, &[]).await;
    assert_redirect_to(&res, &pods_path(team.id));

    assert_eq!(app.pod_status(pod), "terminated");
    let charges: Vec<i64> = app.transactions(team.id).iter().map(|t| t.1).collect();
    assert_eq!(charges, [-63, -1, -126]);
    assert_eq!(app.balance_of(team.id), 1_000 - 190);
    let (_, body) = team.dev.browser.get_page(&pods_path(team.id)).await;
    assert!(body.contains("is terminated. It ran 20 min 0 s."));
    let (_, body) = team.admin.browser.get_page(&pods_path(team.id)).await;
    assert!(body.contains("$1.90"), "cost so far of the Pod");
    let terminated = &audit_details(&app, "pod.terminated")[0];
    assert_eq!(terminated["from"], "running");
    assert_eq!(terminated["charged_cents"], 126);
}

#[actix_web::test]
async fn impossible_transitions_redirect_with_a_message_and_change_nothing() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 500);
    let pod = app.insert_pod(team.id, "Trainer");
    let dev = &team.dev.browser;

    let pods = format!("/accounts/{}/pods", team.id);
    let res = dev.post_form(&pod_path(team.id, pod, "stop"), &[]).await;
    let body = assert_refused_to(dev, res, &pods).await;
    assert!(body.contains("Trainer is already stopped."), "{body}");

    dev.post_form(&pod_path(team.id, pod, "start"), &[]).await;
    let res = dev.post_form(&pod_path(team.id, pod, "start"), &[]).await;
    let body = assert_refused_to(dev, res, &pods).await;
    assert!(body.contains("Trainer is already running."));
    assert!(
        body.contains("<h1>Pods</h1>"),
        "the Pods page is shown again"
    );

    dev.post_form(&pod_path(team.id, pod, "terminate"), &[])
        .await;
    assert_eq!(app.pod_status(pod), "terminated");
    let before = audit_actions(&mut app.conn()).len();
    for action in ["start", "stop", "terminate"] {
        let res = dev.post_form(&pod_path(team.id, pod, action), &[]).await;
        let body = assert_refused_to(dev, res, &pods).await;
        assert!(body.contains("Trainer is terminated"), "{action}");
    }
    let (status, body) = dev.get_page(&pod_path(team.id, pod, "terminate")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("Trainer is already terminated."));
    assert_eq!(audit_actions(&mut app.conn()).len(), before);
    assert_eq!(app.pod_status(pod), "terminated");
}

#[actix_web::test]
async fn a_pod_cannot_start_without_a_positive_balance() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let pod = app.insert_pod(team.id, "Broke");
    for balance in [0, -250] {
        app.set_balance(team.id, balance);
        let res = team
            .admin
            .browser
            .post_form(&pod_path(team.id, pod, "start"), &[])
            .await;
        let pods = format!("/accounts/{}/pods", team.id);
        let body = assert_refused_to(&team.admin.browser, res, &pods).await;
        assert!(body.contains("Broke cannot start"), "{body}");
        assert!(body.contains("must add funds first"));
        assert_eq!(app.pod_status(pod), "stopped");
    }
    app.set_balance(team.id, 1);
    let res = team
        .admin
        .browser
        .post_form(&pod_path(team.id, pod, "start"), &[])
        .await;
    assert_redirect_to(&res, &pods_path(team.id));
    assert_eq!(app.pod_status(pod), "running");
}

#[actix_web::test]
async fn two_simultaneous_stops_charge_once() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 10_000);
    let pod = create_pod(&app, &team.dev, team.id, "l40s", "4").await;
    team.dev
        .browser
        .post_form(&pod_path(team.id, pod, "start"), &[])
        .await;
    clock.advance(Duration::hours(1));
    // Both browsers have a CSRF token before racing.
    team.admin.browser.get_page(&pods_path(team.id)).await;
    team.dev.browser.get_page(&pods_path(team.id)).await;

    let stop = pod_path(team.id, pod, "stop");
    let (a, b) = futures_util::future::join(
        team.admin.browser.post_form(&stop, &[]),
        team.dev.browser.post_form(&stop, &[]),
    )
    .await;
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [303, 303],
        "the loser is sent back with a message"
    );
    assert_eq!(
        app.transactions(team.id),
        [("usage_charged".to_string(), -396)]
    );
    assert_eq!(app.balance_of(team.id), 10_000 - 396);
    assert_eq!(audit_details(&app, "pod.stopped").len(), 1);
}

#[actix_web::test]
async fn basic_lists_and_connects_but_cannot_change_pods() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 500);
    let pod = app.insert_pod(team.id, "Shared box");
    let basic = &team.basic.browser;

    let (status, body) = basic.get_page(&pods_path(team.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Shared box"));
    assert!(body.contains("1 × RTX 4090"));
    assert!(!body.contains("$0.69/h"), "no prices for Basic (SPEC §2)");
    assert!(!body.contains("Create a Pod"));
    assert!(!body.contains("/start\""));

    let (status, body) = basic.get_page(&pod_path(team.id, pod, "connect")).await;
    assert_eq!(status, StatusCode::OK);
    let short = &pod.simple().to_string()[..12];
    assert!(body.contains(&format!("ssh root@{short}.ssh.pods.example")));
    assert!(body.contains(&format!("https://{short}.http.pods.example")));

    let create = basic
        .post_form(
            &pods_path(team.id),
            &[
                ("name", "x"),
                ("gpu_type", "l40s"),
                ("gpu_count", "1"),
                ("image", "x"),
            ],
        )
        .await;
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    for action in ["start", "stop", "terminate"] {
        let res = basic.post_form(&pod_path(team.id, pod, action), &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(app.pod_status(pod), "stopped");

    // Billing sees no Pods at all.
    let billing = &team.billing.browser;
    assert_eq!(
        billing.get(&pods_path(team.id)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        billing
            .get(&pod_path(team.id, pod, "connect"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn invalid_pod_forms_are_refused_with_messages_and_nothing_written() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let long_name = "n".repeat(65);
    let long_image = "i".repeat(201);
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("  ", "h100-80gb", "1", "ubuntu", "Enter a Pod name"),
        (&long_name, "h100-80gb", "1", "ubuntu", "at most 64"),
        (
            "Bad\u{1b}name",
            "h100-80gb",
            "1",
            "ubuntu",
            "control characters",
        ),
        ("ok", "tpu-v5", "1", "ubuntu", "Choose a GPU type"),
        ("ok", "", "1", "ubuntu", "Choose a GPU type"),
        ("ok", "l40s", "0", "ubuntu", "from 1 to 8"),
        ("ok", "l40s", "9", "ubuntu", "from 1 to 8"),
        ("ok", "l40s", "two", "ubuntu", "from 1 to 8"),
        ("ok", "l40s", "1", "", "Enter a container image"),
        ("ok", "l40s", "1", "ubuntu latest", "cannot contain spaces"),
        ("ok", "l40s", "1", &long_image, "at most 200"),
    ];
    for (name, gpu, count, image, message) in cases {
        let res = team
            .dev
            .browser
            .post_form(
                &pods_path(team.id),
                &[
                    ("name", name),
                    ("gpu_type", gpu),
                    ("gpu_count", count),
                    ("image", image),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{message}");
        let body = res.text().await.unwrap();
        assert!(body.contains(message), "{message}");
        if *count == "two" {
            assert!(body.contains("value=\"two\""), "what was typed is kept");
        }
    }
    use team_console::db::schema::pods;
    let count: i64 = pods::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 0);
    assert!(!audit_actions(&mut app.conn()).contains(&"pod.created".to_string()));
}

#[actix_web::test]
async fn a_pod_of_another_account_is_not_found_on_every_pod_route() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 500);
    let other = app.signed_up_user("Other Owner").await;
    let other_team = app.insert_team(other.user_id, "Other Team");
    app.set_balance(other_team, 500);
    let foreign = app.insert_pod(other_team, "Not yours");
    let admin = &team.admin.browser;

    for action in ["connect", "terminate"] {
        let res = admin.get(&pod_path(team.id, foreign, action)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "GET {action}");
    }
    for action in ["start", "stop", "terminate"] {
        let res = admin
            .post_form(&pod_path(team.id, foreign, action), &[])
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "POST {action}");
    }
    let (_, body) = admin.get_page(&pods_path(team.id)).await;
    assert!(!body.contains("Not yours"));
    assert_eq!(app.pod_status(foreign), "stopped");
}

/// Issue 14, item 9: usage is charged by the second with no per-run
/// minimum; fractions of a cent carry over on the Pod.
#[actix_web::test]
async fn twelve_one_second_runs_charge_what_twelve_seconds_cost() {
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 10_000);
    let dev = &team.dev.browser;
    let pod = app
        .create_pod_as(dev, team.id, "short", "h100-80gb", "1")
        .await; // $2.99/h
    for _ in 0..12 {
        dev.post_form(&pod_path(team.id, pod, "start"), &[]).await;
        clock.advance(Duration::seconds(1));
        let res = dev.post_form(&pod_path(team.id, pod, "stop"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    // 12 s × $2.99/h is 0.997 ¢: one cent, charged once.
    assert_eq!(
        app.transactions(team.id),
        [("usage_charged".to_string(), -1)]
    );
    assert_eq!(app.balance_of(team.id), 10_000 - 1);

    // An hour more: the Pod's 3 612 s cost $3.00 in all, not $2.99 + 1 ¢ × 12.
    dev.post_form(&pod_path(team.id, pod, "start"), &[]).await;
    clock.advance(Duration::hours(1));
    dev.post_form(&pod_path(team.id, pod, "stop"), &[]).await;
    let charged: i64 = app.transactions(team.id).iter().map(|(_, c)| -c).sum();
    assert_eq!(charged, 300);
    // The month's usage adds up to the charges.
    let used: i64 = {
        use team_console::db::schema::monthly_usage;
        monthly_usage::table
            .filter(monthly_usage::account_id.eq(team.id))
            .select(monthly_usage::cost_cents)
            .load::<i64>(&mut app.conn())
            .unwrap()
            .iter()
            .sum()
    };
    assert_eq!(used, 300);
}
