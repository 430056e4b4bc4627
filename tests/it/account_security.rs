//! Issue 15 beyond the codes themselves: a team that requires two-factor
//! sign-in, re-authentication before dangerous actions, the profile and
//! its sessions, the Admins' access review.

use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::authz::Role;
use time::Duration;

use crate::support::two_factor::{enable, password_step, send_code};
use crate::support::{
    Browser, PASSWORD, TestApp, TestUser, assert_redirect_to, audit_actions, location,
};

const GATE: &str = "requires its members to sign in with two-factor authentication";

/// The Admin (with two-factor on) requires it of the team.
async fn require_two_factor(admin: &TestUser, team: uuid::Uuid) {
    let path = format!("/accounts/{team}/settings/two-factor");
    let res = admin
        .browser
        .post_form(&path, &[("require", "on"), ("confirm", "yes")])
        .await;
    assert_redirect_to(&res, &format!("/accounts/{team}/settings"));
}

#[actix_web::test]
async fn an_admin_requires_two_factor_after_seeing_who_does_not_have_it() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/settings/two-factor", team.id);

    // Not without having it oneself.
    let res = team
        .admin
        .browser
        .post_form(&path, &[("require", "on")])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Turn on two-factor authentication for yourself")
    );

    enable(&team.admin, hand.now()).await;
    let res = team
        .admin
        .browser
        .post_form(&path, &[("require", "on")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    for name in ["Bob Basic", "Bea Billing", "Dan Dev"] {
        assert!(page.contains(name), "{name} is listed as unprotected");
    }
    assert!(!page.contains("<li>Alice Admin"), "the Admin has it");
    assert!(
        !app.conn_requires(team.id),
        "nothing changes before confirming"
    );

    require_two_factor(&team.admin, team.id).await;
    assert!(app.conn_requires(team.id));
    assert!(audit_actions(&mut app.conn()).contains(&"account.two_factor_rule_changed".into()));

    // The Basic member sees the set-up page; once set up, the team.
    let dashboard = format!("/accounts/{}", team.id);
    let (status, page) = team.basic.browser.get_page(&dashboard).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains(GATE) && page.contains("href=\"/profile/two-factor\""),
        "{page}"
    );
    enable(&team.basic, hand.now()).await;
    let (status, _) = team.basic.browser.get_page(&dashboard).await;
    assert_eq!(status, StatusCode::OK);

    let res = team
        .admin
        .browser
        .post_form(&path, &[("require", "off")])
        .await;
    assert_redirect_to(&res, &format!("/accounts/{}/settings", team.id));
    assert!(!app.conn_requires(team.id));
}

impl TestApp {
    fn conn_requires(&self, team: uuid::Uuid) -> bool {
        use team_console::db::schema::accounts;
        accounts::table
            .find(team)
            .select(accounts::require_two_factor)
            .first(&mut self.conn())
            .unwrap()
    }
}

#[actix_web::test]
async fn every_team_route_answers_a_member_without_two_factor_with_the_set_up_page() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    enable(&team.admin, hand.now()).await;
    require_two_factor(&team.admin, team.id).await;
    let pod = app.insert_pod(team.id, "gated");
    let invite = crate::matrix::insert_invite(&app, team.id, team.admin.user_id);

    let mut failures = Vec::new();
    for route in team_console::routes::all() {
        // The JSON API answers to keys, never to a session (401); its
        // keys meet the rule in `api::a_creator_without_two_factor_...`.
        if !route.path.contains("{account_id}") || route.path.starts_with("/api/") {
            continue;
        }
        let path = route
            .path
            .replace("{account_id}", &team.id.to_string())
            .replace("{user_id}", &team.dev.user_id.to_string())
            .replace("{invite_id}", &invite.to_string())
            .replace("{pod_id}", &pod.to_string());
        for (role, user) in [(Role::Basic, &team.basic), (Role::Dev, &team.dev)] {
            let res = match route.method {
                "GET" => user.browser.get(&path).await,
                _ => {
                    user.browser
                        .post_form(
                            &path,
                            &[
                                ("role", "admin"),
                                ("confirm", "yes"),
                                ("name", "Taken Over"),
                            ],
                        )
                        .await
                }
            };
            let status = res.status();
            let body = res.text().await.unwrap();
            if status != StatusCode::FORBIDDEN || !body.contains(GATE) {
                failures.push(format!("{} {path} as {role}: {status}", route.method));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        app.role_of(team.id, team.dev.user_id).as_deref(),
        Some("dev")
    );
    // Their own personal accounts stay theirs.
    let own = format!("/accounts/{}", team.basic.personal_account_id);
    assert_eq!(team.basic.browser.get(&own).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn joining_a_team_that_requires_two_factor_asks_for_set_up_first() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let admin = app.signed_up_user("Alice Admin").await;
    let team = app.convert_to_team(&admin, "Strict GPU").await;
    enable(&admin, hand.now()).await;
    require_two_factor(&admin, team).await;
    let link = app.create_invite(&admin.browser, team, "dev", "").await;

    let invitee = app.signed_up_user("Ivy Invitee").await;
    app.open_invite(&invitee.browser, &link).await;
    let (_, landing) = invitee.browser.get_page("/invite").await;
    assert!(
        landing.contains("Strict GPU requires two-factor authentication"),
        "{landing}"
    );
    assert!(landing.contains("/profile/two-factor?next=%2Finvite"));
    let res = invitee.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, "/invite");
    assert_eq!(app.role_of(team, invitee.user_id), None);

    // Set up (coming back to the invite), then join.
    let (_, page) = invitee
        .browser
        .get_page("/profile/two-factor?next=%2Finvite")
        .await;
    let phone = crate::support::two_factor::App {
        secret: crate::support::two_factor::secret_on(&page),
    };
    let res = invitee
        .browser
        .post_form(
            "/profile/two-factor",
            &[("code", &phone.code(hand.now(), 0)), ("next", "/invite")],
        )
        .await;
    let page = res.text().await.unwrap();
    invitee.browser.remember_csrf(&page);
    assert!(
        page.contains("href=\"/invite\""),
        "continue goes back to the invite"
    );
    let res = invitee.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{team}"));
    assert_eq!(app.role_of(team, invitee.user_id).as_deref(), Some("dev"));
}

#[actix_web::test]
async fn an_admin_sees_at_a_glance_who_is_not_protected() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    enable(&team.admin, hand.now()).await;
    enable(&team.dev, hand.now()).await;
    // An invite created eight days ago is stale.
    app.create_invite(&team.admin.browser, team.id, "basic", "old@example.com")
        .await;
    diesel::sql_query("UPDATE invites SET created_at = created_at - interval '8 days'")
        .execute(&mut app.conn())
        .unwrap();
    app.create_invite(&team.admin.browser, team.id, "basic", "new@example.com")
        .await;

    let members = format!("/accounts/{}/members", team.id);
    let (_, page) = team.admin.browser.get_page(&members).await;
    assert!(
        page.contains("2 of 4 members do not have two-factor authentication"),
        "{page}"
    );
    assert!(page.contains("Last active"));
    assert_eq!(
        page.matches("title=\"Pending for more than 7 days\"")
            .count(),
        1
    );
    let (_, filtered) = team
        .admin
        .browser
        .get_page(&format!("{members}?two_factor=off"))
        .await;
    assert!(filtered.contains("Bob Basic") && filtered.contains("Bea Billing"));
    assert!(!filtered.contains("<td>Dan Dev") && !filtered.contains("<td>Alice Admin"));

    // The review is the Admins': a Dev's Team page holds none of it.
    let (_, dev_page) = team.dev.browser.get_page(&members).await;
    assert!(!dev_page.contains("Two-factor") && !dev_page.contains("Last active"));
}

#[actix_web::test]
async fn making_someone_admin_asks_to_reauthenticate_after_ten_minutes_and_not_before() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    let role_of = |user: &TestUser| format!("/accounts/{}/members/{}/role", team.id, user.user_id);

    hand.advance(Duration::minutes(9));
    let res = team
        .admin
        .browser
        .post_form(
            &role_of(&team.basic),
            &[("role", "admin"), ("confirm", "yes")],
        )
        .await;
    assert_redirect_to(&res, &format!("/accounts/{}/members", team.id));
    assert_eq!(
        app.role_of(team.id, team.basic.user_id).as_deref(),
        Some("admin")
    );

    hand.advance(Duration::minutes(2));
    // Demoting is not dangerous: no question.
    let res = team
        .admin
        .browser
        .post_form(&role_of(&team.basic), &[("role", "basic")])
        .await;
    assert!(res.status().is_redirection());
    let res = team
        .admin
        .browser
        .post_form(
            &role_of(&team.dev),
            &[("role", "admin"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Confirm it's you") && page.contains("make Dan Dev an Admin"));
    assert!(
        page.contains("name=\"role\" value=\"admin\""),
        "the form is kept"
    );
    assert_eq!(
        app.role_of(team.id, team.dev.user_id).as_deref(),
        Some("dev")
    );

    let res = team
        .admin
        .browser
        .post_form(
            &role_of(&team.dev),
            &[
                ("role", "admin"),
                ("confirm", "yes"),
                ("reauth_password", "not my password"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.role_of(team.id, team.dev.user_id).as_deref(),
        Some("dev")
    );
    let res = team
        .admin
        .browser
        .post_form(
            &role_of(&team.dev),
            &[
                ("role", "admin"),
                ("confirm", "yes"),
                ("reauth_password", PASSWORD),
            ],
        )
        .await;
    assert_redirect_to(&res, &format!("/accounts/{}/members", team.id));
    assert_eq!(
        app.role_of(team.id, team.dev.user_id).as_deref(),
        Some("admin")
    );

    // Confirmed just now: removing someone goes straight through.
    let remove = format!(
        "/accounts/{}/members/{}/remove",
        team.id, team.billing.user_id
    );
    let res = team.admin.browser.post_form(&remove, &[]).await;
    assert!(res.status().is_redirection());
    assert_eq!(app.role_of(team.id, team.billing.user_id), None);
}

#[actix_web::test]
async fn with_two_factor_on_re_authentication_asks_for_a_code() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    let (phone, _) = enable(&team.admin, hand.now()).await;
    hand.advance(Duration::minutes(11));
    let remove = format!(
        "/accounts/{}/members/{}/remove",
        team.id, team.basic.user_id
    );

    let res = team.admin.browser.post_form(&remove, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("name=\"reauth_code\"") && !page.contains("name=\"reauth_password\""));
    let res = team
        .admin
        .browser
        .post_form(&remove, &[("reauth_code", &phone.code(hand.now(), 0))])
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(app.role_of(team.id, team.basic.user_id), None);

    // Turning one's own two-factor off is dangerous too.
    hand.advance(Duration::minutes(11));
    let res = team
        .admin
        .browser
        .post_form("/profile/two-factor/disable", &[])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("turn off two-factor authentication")
    );
}

/// A second browser of the same user, signed in with the password.
async fn second_browser(app: &TestApp, user: &TestUser) -> Browser {
    let browser = app.browser();
    let res = browser.sign_in(&user.email, PASSWORD).await;
    assert_redirect_to(&res, "/");
    browser
}

#[actix_web::test]
async fn ending_another_session_signs_it_out_on_its_next_request() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Two Devices").await;
    let other = second_browser(&app, &user).await;
    let page = format!("/accounts/{}", user.personal_account_id);
    assert_eq!(other.get(&page).await.status(), StatusCode::OK);

    let (_, profile) = user.browser.get_page("/profile").await;
    assert_eq!(
        profile.matches("/end\"").count(),
        1,
        "one other session: {profile}"
    );
    assert!(profile.contains("(this session)"));
    let start = profile.find("/profile/sessions/").unwrap();
    let end_path = &profile[start..start + profile[start..].find('"').unwrap()];
    let res = user.browser.post_form(end_path, &[]).await;
    assert_redirect_to(&res, "/profile#sessions");

    let res = other.get(&page).await;
    assert!(location(&res).starts_with("/sign-in"), "{}", res.status());
    assert_eq!(user.browser.get(&page).await.status(), StatusCode::OK);
    assert!(audit_actions(&mut app.conn()).contains(&"user.sessions_ended".into()));
}

#[actix_web::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("New Password").await;
    let others = [
        second_browser(&app, &user).await,
        second_browser(&app, &user).await,
    ];
    let new = "saffron kettle orbit 93 lantern";

    let res = user
        .browser
        .post_form(
            "/profile/password",
            &[
                ("current_password", "wrong password here"),
                ("new_password", new),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = user
        .browser
        .post_form(
            "/profile/password",
            &[("current_password", PASSWORD), ("new_password", "short")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = user
        .browser
        .post_form(
            "/profile/password",
            &[("current_password", PASSWORD), ("new_password", new)],
        )
        .await;
    assert_redirect_to(&res, "/profile");
    let (status, page) = user.browser.get_page("/profile").await;
    assert_eq!(status, StatusCode::OK, "this session goes on");
    assert!(
        page.contains("Your 2 other sessions were signed out."),
        "{page}"
    );
    for other in &others {
        assert!(location(&other.get("/").await).starts_with("/sign-in"));
    }
    let fresh = app.browser();
    assert_eq!(
        fresh.sign_in(&user.email, PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_redirect_to(&fresh.sign_in(&user.email, new).await, "/");
}

#[actix_web::test]
async fn profile_changes_are_recorded_in_the_personal_log() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Renamed").await;
    let other = app.signed_up_user("Taken").await;

    let res = user
        .browser
        .post_form("/profile/name", &[("display_name", "Renee Renamed")])
        .await;
    assert_redirect_to(&res, "/profile");
    let res = user
        .browser
        .post_form(
            "/profile/email",
            &[
                ("email", "renee@example.com"),
                ("password", "nope nope nope"),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "the password is required"
    );
    let res = user
        .browser
        .post_form(
            "/profile/email",
            &[
                ("email", &other.email.to_uppercase()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This email cannot be used")
    );
    let res = user
        .browser
        .post_form(
            "/profile/email",
            &[("email", "renee@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_redirect_to(&res, "/profile");

    use team_console::db::schema::audit_entries as a;
    let logged: Vec<(Option<uuid::Uuid>, String)> = a::table
        .filter(a::action.eq_any(["user.name_changed", "user.email_changed"]))
        .order(a::id.asc())
        .select((a::account_id, a::action))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        logged,
        vec![
            (Some(user.personal_account_id), "user.name_changed".into()),
            (Some(user.personal_account_id), "user.email_changed".into()),
        ]
    );
    let (_, log) = user
        .browser
        .get_page(&format!("/accounts/{}/audit", user.personal_account_id))
        .await;
    assert!(log.contains("changed their email from"), "{log}");
    let res = app.browser().sign_in("renee@example.com", PASSWORD).await;
    assert_redirect_to(&res, "/");
}

/// The "done when", over HTTP: a team requires two-factor, a
/// member is walked through set-up, signs in with a code, loses the phone
/// and gets in with a recovery code; the Admin sees who is not protected.
#[actix_web::test]
async fn a_member_is_walked_through_set_up_and_recovers_with_a_recovery_code() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    enable(&team.admin, hand.now()).await;
    require_two_factor(&team.admin, team.id).await;
    let members = format!("/accounts/{}/members", team.id);
    let (_, review) = team.admin.browser.get_page(&members).await;
    assert!(review.contains("3 of 4 members do not have two-factor authentication"));

    let dashboard = format!("/accounts/{}", team.id);
    let (status, _) = team.dev.browser.get_page(&dashboard).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (phone, codes) = enable(&team.dev, hand.now()).await;
    hand.advance(Duration::seconds(30));
    password_step(&team.dev.browser, &team.dev.email).await;
    let res = send_code(&team.dev.browser, &phone.code(hand.now(), 0)).await;
    assert_redirect_to(&res, "/");
    let (status, _) = team.dev.browser.get_page(&dashboard).await;
    assert_eq!(status, StatusCode::OK);

    // The phone is lost: a recovery code instead.
    password_step(&team.dev.browser, &team.dev.email).await;
    let res = send_code(&team.dev.browser, &codes[0]).await;
    assert_redirect_to(&res, "/");
    let (status, _) = team.dev.browser.get_page(&dashboard).await;
    assert_eq!(status, StatusCode::OK);
    let (_, review) = team.admin.browser.get_page(&members).await;
    assert!(review.contains("2 of 4 members do not have two-factor authentication"));
}
