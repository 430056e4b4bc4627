//! Issue 22 (SPEC §13): leaving for good. Deleting a team stops, charges
//! and terminates its Pods once, takes it from every member at once and
//! keeps its audit log (verifiable, and exported by the operator's
//! command); a team with one member turns back into a personal account;
//! a person deletes their account (not while the last Admin of a team)
//! and can sign up again; "Export your data" holds theirs and nobody
//! else's; a join or a Pod created during a deletion is refused.

use std::time::Duration as StdDuration;

use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::audit::{Actor, Change, Origin, chain};
use team_console::ids::{AccountId, UserId};
use time::Duration;
use uuid::Uuid;

use crate::support::pods::T0;
use crate::support::{PASSWORD, SECRET_KEY, TestApp, TestUser, assert_redirect_to, location};

fn delete_path(team: Uuid) -> String {
    format!("/accounts/{team}/delete")
}

async fn delete_team(user: &TestUser, team: Uuid, typed: &str) -> reqwest::Response {
    user.browser
        .post_form(
            &delete_path(team),
            &[("confirm_name", typed), ("reauth_password", PASSWORD)],
        )
        .await
}

async fn delete_account(user: &TestUser) -> reqwest::Response {
    user.browser
        .post_form(
            "/profile/delete",
            &[
                ("confirm_email", user.email.as_str()),
                ("reauth_password", PASSWORD),
            ],
        )
        .await
}

/// `team-console audit …` against the test's database.
fn audit_command(app: &TestApp, args: &[&str]) -> std::process::Output {
    app.command(&[&["audit"], args].concat()).output().unwrap()
}

/// The actions of the account's log, in the order they were written.
fn log_of(app: &TestApp, account: Uuid) -> Vec<(String, Option<String>)> {
    use team_console::db::schema::audit_entries as a;
    a::table
        .filter(a::account_id.eq(account))
        .order(a::id.asc())
        .select((a::action, a::actor_email))
        .load(&mut app.conn())
        .unwrap()
}

fn deleted_at(app: &TestApp, account: Uuid) -> Option<time::OffsetDateTime> {
    use team_console::db::schema::accounts;
    accounts::table
        .find(account)
        .select(accounts::deleted_at)
        .first(&mut app.conn())
        .unwrap()
}

#[actix_web::test]
async fn deleting_a_team_charges_its_running_pods_once_and_takes_it_from_everyone() {
    // Arrange: a team with a Pod running for an hour, a stopped one and a
    // pending invite.
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 50_000);
    let running = app.insert_running_pod(team.id, team.dev.user_id, "rtx-4090", 1, 6_000, T0);
    let stopped = app.insert_pod(team.id, "idle");
    app.create_invite(&team.admin.browser, team.id, "basic", "")
        .await;
    // A budget the deletion's charge passes half of: the sweep must not
    // raise an alert in the deleted team's log after its last entry.
    app.set_budget(&team.admin.browser, team.id, "100").await;
    hand.advance(Duration::hours(1));

    // The danger zone says what will happen.
    let (status, page) = team.admin.browser.get_page(&delete_path(team.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("stop its 1 running Pod(s)"), "{page}");
    assert!(page.contains("terminate its 2 Pod(s)"));
    assert!(page.contains("revoke its 1 pending invite(s)"));
    assert!(page.contains("remove its 3 other member(s)"));
    assert!(page.contains("$500.00"), "the balance is shown");

    // A name that does not match is refused, the typed text kept.
    let res = delete_team(&team.admin, team.id, "Acme GPUs").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains("Type it exactly as shown"), "{body}");
    assert!(body.contains("value=\"Acme GPUs\""));
    assert!(deleted_at(&app, team.id).is_none());

    // Act
    let res = delete_team(&team.admin, team.id, "Acme GPU").await;

    // Assert: gone, the running Pod charged once for its hour.
    assert_redirect_to(&res, "/");
    // The Admin converted their personal account: they now have none,
    // and following the redirect land on their profile, which says what
    // was done.
    let home = team.admin.browser.get("/").await;
    assert_eq!(location(&home), "/profile");
    let (_, profile) = team.admin.browser.get_page("/profile").await;
    assert!(
        profile.contains("The team Acme GPU is deleted"),
        "{profile}"
    );
    assert!(deleted_at(&app, team.id).is_some());
    assert_eq!(app.pod_status(running), "terminated");
    assert_eq!(app.pod_status(stopped), "terminated");
    assert_eq!(app.charges_of(running), vec![-6_000]);
    let swept = app.sweep(hand.now() + Duration::minutes(5));
    assert_eq!(swept.alerts, 0, "no alert after the deletion");
    assert_eq!(app.charges_of(running), vec![-6_000], "charged once");
    let log = log_of(&app, team.id);
    let (last, by) = log.last().unwrap();
    assert_eq!(last, "account.deleted");
    assert_eq!(by.as_deref(), Some(team.admin.email.as_str()));
    for action in ["pod.terminated", "billing.usage_charged", "invite.revoked"] {
        assert!(log.iter().any(|(a, _)| a == action), "{action} recorded");
    }
    assert_eq!(
        log.iter()
            .filter(|(a, _)| a == "billing.usage_charged")
            .count(),
        1
    );

    // Every former member, Admin included, lost it on their next request.
    for user in [&team.admin, &team.basic, &team.billing, &team.dev] {
        for path in [
            format!("/accounts/{}", team.id),
            format!("/accounts/{}/pods", team.id),
            format!("/accounts/{}/members", team.id),
            format!("/accounts/{}/audit", team.id),
            delete_path(team.id),
        ] {
            let (status, _) = user.browser.get_page(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    let (_, dashboard) = team
        .dev
        .browser
        .get_page(&format!("/accounts/{}", team.dev.personal_account_id))
        .await;
    assert!(!dashboard.contains("Acme GPU"), "not in the switcher");

    // The log is kept and still verifies, with and without the command.
    chain::checkpoint_all(
        &mut app.conn(),
        &chain::signing_key(SECRET_KEY),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let report = chain::verify(
        &mut app.conn(),
        Some(AccountId::from_uuid(team.id)),
        &chain::signing_key(SECRET_KEY).verifying_key(),
    )
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let verified = audit_command(&app, &["verify"]);
    assert!(verified.status.success(), "{verified:?}");

    // The operator reads it with a command.
    let id = team.id.to_string();
    let lines = audit_command(&app, &["export", "--account", &id]);
    assert!(lines.status.success(), "{lines:?}");
    let lines = String::from_utf8(lines.stdout).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["action"], "audit.checkpoint");
    let deleted: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["action"] == "account.deleted")
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["user_email"], team.admin.email.as_str());
    assert_eq!(deleted[0]["details"]["name"], "Acme GPU");
    assert_eq!(
        deleted[0]["summary"],
        "Alice Admin deleted the account Acme GPU (2 Pods terminated, 1 invite revoked, 3 members removed)"
    );
    let csv = audit_command(&app, &["export", "--account", &id, "--format", "csv"]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("occurred_at_utc,user_id,"));
    assert!(csv.contains("account.deleted"));
}

#[actix_web::test]
async fn the_last_admin_cannot_delete_their_account_until_they_hand_over() {
    let app = TestApp::spawn().await;
    let team = app.team().await;

    // Refused, naming the team, with the ways out.
    let (_, page) = team.admin.browser.get_page("/profile/delete").await;
    assert!(page.contains("Acme GPU"));
    assert!(page.contains(&format!("/accounts/{}/members", team.id)));
    assert!(page.contains(&format!("/accounts/{}/delete", team.id)));
    let res = delete_account(&team.admin).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("last Admin") && body.contains("Acme GPU"),
        "{body}"
    );

    // Handing over Admin to Dan, then deleting, works.
    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/members/{}/role", team.id, team.dev.user_id),
            &[
                ("role", "admin"),
                ("confirm", "yes"),
                ("reauth_password", PASSWORD),
            ],
        )
        .await;
    assert!(res.status().is_redirection());
    let res = delete_account(&team.admin).await;
    assert_redirect_to(&res, "/sign-in?account_deleted=1");

    // Signed out everywhere; the team stays, without them.
    let res = team.admin.browser.get("/profile").await;
    assert!(location(&res).starts_with("/sign-in"));
    assert_eq!(app.role_of(team.id, team.admin.user_id), None);
    assert!(deleted_at(&app, team.id).is_none());
    let res = app.browser().sign_in(&team.admin.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "cannot sign in");
    {
        use team_console::db::schema::{known_devices, sessions, users};
        let mut conn = app.conn();
        let (name, email): (String, String) = users::table
            .find(team.admin.user_id)
            .select((users::display_name, users::email))
            .first(&mut conn)
            .unwrap();
        assert_eq!(name, "Alice Admin", "the name stays for history");
        assert_ne!(email, team.admin.email);
        let left: i64 = sessions::table
            .filter(sessions::user_id.eq(team.admin.user_id))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(left, 0);
        let devices: i64 = known_devices::table
            .filter(known_devices::user_id.eq(team.admin.user_id))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(devices, 0, "the devices they signed in from are forgotten");
    }
    let log = log_of(&app, team.id);
    assert_eq!(
        log.last().unwrap(),
        &("member.left".to_string(), Some(team.admin.email.clone()))
    );

    // Their past entries keep their name, marked as a deleted user.
    let (_, audit) = team
        .dev
        .browser
        .get_page(&format!("/accounts/{}/audit", team.id))
        .await;
    assert!(audit.contains("(deleted user)"), "{audit}");
    assert!(audit.contains("Alice Admin"));

    // The same email signs up again.
    let again = app.browser();
    let res = again
        .post_form(
            "/sign-up",
            &[
                ("email", team.admin.email.as_str()),
                ("display_name", "Alice Again"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/accounts/"));
}

#[actix_web::test]
async fn deleting_an_account_deletes_the_personal_account_and_leaves_each_team() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    let dev = &team.dev;
    app.set_balance(dev.personal_account_id, 10_000);
    let pod = app.insert_running_pod(dev.personal_account_id, dev.user_id, "rtx-4090", 1, 600, T0);
    hand.advance(Duration::minutes(30));

    let res = delete_account(dev).await;

    assert_redirect_to(&res, "/sign-in?account_deleted=1");
    assert!(deleted_at(&app, dev.personal_account_id).is_some());
    assert_eq!(app.pod_status(pod), "terminated");
    assert_eq!(app.charges_of(pod), vec![-300]);
    let personal = log_of(&app, dev.personal_account_id);
    let actions: Vec<&str> = personal.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions.last(), Some(&"account.deleted"));
    assert!(actions.contains(&"user.deleted") && actions.contains(&"pod.terminated"));
    assert_eq!(app.role_of(team.id, dev.user_id), None);
    assert!(
        log_of(&app, team.id)
            .iter()
            .any(|(a, by)| a == "member.left" && by.as_deref() == Some(dev.email.as_str()))
    );
    let verified = audit_command(&app, &["verify"]);
    assert!(verified.status.success(), "{verified:?}");
}

#[actix_web::test]
async fn the_export_holds_the_persons_data_and_nobody_elses() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 50_000);
    app.create_pod_as(&team.dev.browser, team.id, "dans-pod", "rtx-4090", "1")
        .await;
    app.create_pod_as(&team.admin.browser, team.id, "alices-pod", "rtx-4090", "1")
        .await;
    // The Dev stops a Pod they ran: a charge they may not see (SPEC §10).
    let ran = app.insert_running_pod(
        team.id,
        team.dev.user_id,
        "rtx-4090",
        1,
        6_000,
        time::OffsetDateTime::now_utc() - Duration::hours(2),
    );
    let res = team
        .dev
        .browser
        .post_form(&format!("/accounts/{}/pods/{ran}/stop", team.id), &[])
        .await;
    assert!(res.status().is_redirection());
    assert_eq!(app.charges_of(ran).len(), 1);
    // Someone else's change.
    team.basic
        .browser
        .post_form("/profile/name", &[("display_name", "Bob Renamed")])
        .await;

    let res = team.dev.browser.get("/profile/export").await;

    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let body = res.text().await.unwrap();
    let data: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
    assert_eq!(data["profile"]["email"], team.dev.email.as_str());
    assert_eq!(data["profile"]["display_name"], "Dan Dev");
    let memberships = data["memberships"].as_array().unwrap();
    assert!(
        memberships
            .iter()
            .any(|m| m["account_name"] == "Acme GPU" && m["role"] == "dev")
    );
    assert_eq!(memberships.len(), 2, "the team and their personal account");
    assert!(!data["sessions"].as_array().unwrap().is_empty());
    let devices = data["known_devices"].as_array().unwrap();
    assert!(
        devices.iter().all(|d| d["ip"].is_string()) && !devices.is_empty(),
        "the devices they signed in from: {devices:?}"
    );
    let pods: Vec<&str> = data["pods_started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(pods.contains(&"dans-pod") && !pods.contains(&"alices-pod"));
    let entries = data["audit_entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["action"] == "pod.created"));
    let dev_id = team.dev.user_id.to_string();
    assert!(entries.iter().all(|e| e["user_id"] == dev_id.as_str()));
    for other in [&team.admin, &team.basic, &team.billing] {
        assert!(!body.contains(&other.email), "{} leaked", other.email);
        assert!(!body.contains(&other.user_id.to_string()));
    }
    assert!(!body.contains("alices-pod") && !body.contains("Bob Renamed"));
    assert!(
        entries.iter().any(
            |e| e["action"] == "billing.usage_charged" && e["details"] == serde_json::json!({})
        )
    );
    assert!(
        !body.contains('$') && !body.contains("_cents"),
        "no money: {body}"
    );
}

#[actix_web::test]
async fn a_team_with_one_member_turns_back_into_a_personal_account() {
    let app = TestApp::spawn().await;
    // Converted from her personal account: she has none besides it.
    let solo = app.signed_up_user("Sol Solo").await;
    let id = app.convert_to_team(&solo, "Solo Labs").await;

    let (_, page) = solo.browser.get_page(&delete_path(id)).await;
    assert!(page.contains("Turn into my personal account"));
    let res = solo
        .browser
        .post_form(
            &format!("/accounts/{id}/revert"),
            &[("reauth_password", PASSWORD)],
        )
        .await;

    assert_redirect_to(&res, &format!("/accounts/{id}"));
    {
        use team_console::db::schema::accounts;
        let (kind, name): (String, String) = accounts::table
            .find(id)
            .select((accounts::kind, accounts::name))
            .first(&mut app.conn())
            .unwrap();
        assert_eq!((kind.as_str(), name.as_str()), ("personal", "Sol Solo"));
    }
    assert_eq!(log_of(&app, id).last().unwrap().0, "account.reverted");

    // A team with other members cannot; nor can someone who has a
    // personal account already (SPEC §1: one each).
    let team = app.team().await;
    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/revert", team.id),
            &[("reauth_password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Remove the other members")
    );
    let other = app.signed_up_user("Has Personal").await;
    let lone = app.insert_team(other.user_id, "Lone Team");
    let res = other
        .browser
        .post_form(
            &format!("/accounts/{lone}/revert"),
            &[("reauth_password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("already have a personal account")
    );
}

/// Waits until some backend of the database waits for a row lock.
fn wait_for_a_lock_waiter(url: &str) {
    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    for _ in 0..500 {
        let waiting: Waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut conn)
        .unwrap();
        if waiting.n > 0 {
            return;
        }
        std::thread::sleep(StdDuration::from_millis(20));
    }
    panic!("nobody waited for the account's lock");
}

#[actix_web::test]
async fn a_pod_created_or_a_member_joining_during_the_deletion_is_refused() {
    use team_console::pods::catalogue;
    use team_console::pods::transitions::{self, NewPod};

    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 50_000);
    let link = app
        .create_invite(&team.admin.browser, team.id, "basic", "")
        .await;
    let joiner = app.signed_up_user("Jo Joiner").await;
    app.open_invite(&joiner.browser, &link).await;
    let admin = Change {
        account_id: AccountId::from_uuid(team.id),
        actor: Actor::user(
            UserId::from_uuid(team.admin.user_id),
            &team.admin.email,
            "Alice Admin",
        ),
        origin: Origin::default(),
        now: time::OffsetDateTime::now_utc(),
    };
    let dev = Change {
        actor: Actor::user(
            UserId::from_uuid(team.dev.user_id),
            &team.dev.email,
            "Dan Dev",
        ),
        ..admin.clone()
    };

    // The deletion holds the account's lock while a Dev creates a Pod on
    // another connection: the creation waits, then finds no account.
    let url = app.serving_url.clone();
    let mut deleting = PgConnection::establish(&url).unwrap();
    let creating = std::thread::spawn({
        let url = url.clone();
        move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            let gpu = catalogue::find("rtx-4090").unwrap();
            let new = NewPod {
                name: "late".into(),
                gpu,
                gpu_count: 1,
                image: "ubuntu:24.04".into(),
            };
            transitions::create(&mut conn, &dev, new)
        }
    });
    deleting
        .transaction(|conn| {
            team_console::accounts::leaving::lock_live_account(conn, admin.account_id)?;
            wait_for_a_lock_waiter(&url);
            team_console::accounts::leaving::delete_team(conn, &admin, "Acme GPU").map_err(|e| {
                match e {
                    team_console::accounts::AccountsError::Db(e) => e,
                    other => panic!("refused: {other}"),
                }
            })
        })
        .unwrap();
    let created = creating.join().unwrap();
    assert!(
        matches!(
            created,
            Err(team_console::pods::PodsError::Db(
                diesel::result::Error::NotFound
            ))
        ),
        "{:?}",
        created.map(|p| p.name)
    );
    {
        use team_console::db::schema::pods;
        let late: i64 = pods::table
            .filter(pods::name.eq("late"))
            .count()
            .get_result(&mut app.conn())
            .unwrap();
        assert_eq!(late, 0);
    }

    // Joining afterwards: the link was revoked with the team.
    let res = joiner.browser.post_form("/invite/accept", &[]).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(app.role_of(team.id, joiner.user_id), None);
}
