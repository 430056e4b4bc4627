//! SPEC §2 as a table: every route of the app, for each of Basic, Billing,
//! Dev, Admin, a signed-in non-member and a signed-out visitor. The table
//! is written here independently of the app; a route the app has that the
//! table lacks fails the test, so no new route escapes it.

use reqwest::StatusCode;
use team_console::authz::Role;
use uuid::Uuid;

use crate::support::{Browser, TestApp, TestUser, location};

const ALL: &[Role] = &[Role::Basic, Role::Billing, Role::Dev, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];
const POD_USERS: &[Role] = &[Role::Basic, Role::Dev, Role::Admin];
const POD_MANAGERS: &[Role] = &[Role::Dev, Role::Admin];
const BILLING: &[Role] = &[Role::Billing, Role::Admin];

enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Whoever holds the invite link: never refused for who they are.
    Link,
    /// Anyone signed in, about themselves (the profile): signed out goes
    /// to sign-in.
    SignedIn,
    /// Members of the account in the URL with one of these roles.
    Roles(&'static [Role]),
    /// The JSON API: a bearer key or nothing. A session cookie, any
    /// role's, gets 401 (keys' scopes × their creators' roles are
    /// `api::each_scope_and_creator_role_reaches_exactly_what_spec_section_2_allows`).
    Api,
}

/// What SPEC §2 says for each route.
fn expected(method: &str, path: &str) -> Option<Access> {
    use Access::*;
    Some(match (method, path) {
        (
            _,
            "/"
            | "/sign-up"
            | "/sign-in"
            | "/sign-in/two-factor"
            | "/sign-out"
            | "/forgot-password"
            | "/healthz"
            | "/readyz"
            | "/static/{file}",
        ) => Public,
        // One's own profile, password, two-factor and sessions.
        (
            _,
            "/profile"
            | "/profile/name"
            | "/profile/email"
            | "/profile/password"
            | "/profile/two-factor"
            | "/profile/two-factor/disable"
            | "/profile/recovery-codes"
            | "/profile/sessions/{session_id}/end"
            | "/profile/sessions/end-others"
            | "/profile/export"
            | "/profile/delete",
        ) => SignedIn,
        ("GET", "/accounts/{account_id}") => Roles(ALL),
        // Settings, renaming and conversion: account settings, Admin only.
        (_, "/accounts/{account_id}/settings" | "/accounts/{account_id}/convert") => Roles(ADMIN),
        // Requiring two-factor sign-in of the team's members (SPEC §9).
        ("POST", "/accounts/{account_id}/settings/two-factor") => Roles(ADMIN),
        // Deleting the team or turning it back into a personal account (SPEC §13).
        (_, "/accounts/{account_id}/delete" | "/accounts/{account_id}/revert") => Roles(ADMIN),
        ("GET", "/accounts/{account_id}/members") => Roles(ALL),
        (_, "/accounts/{account_id}/members/{user_id}/role") => Roles(ADMIN),
        (_, "/accounts/{account_id}/members/{user_id}/remove") => Roles(ADMIN),
        (_, "/accounts/{account_id}/leave") => Roles(ALL),
        // Invites: creating, listing, revoking, regenerating are Admin's.
        (_, "/accounts/{account_id}/invites/new" | "/accounts/{account_id}/invites") => {
            Roles(ADMIN)
        }
        (_, "/accounts/{account_id}/invites/{invite_id}/regenerate") => Roles(ADMIN),
        (_, "/accounts/{account_id}/invites/{invite_id}/resend") => Roles(ADMIN),
        (_, "/accounts/{account_id}/invites/{invite_id}/revoke") => Roles(ADMIN),
        (_, "/invites/{token}" | "/invite" | "/invite/accept") => Link,
        // Whoever holds a password reset link.
        (_, "/reset-password/{token}") => Link,
        // Audit logs and their export: Admin only.
        ("GET", "/accounts/{account_id}/audit" | "/accounts/{account_id}/audit.csv") => {
            Roles(ADMIN)
        }
        // Pods: listing and connecting for Basic, Dev, Admin; changes for Dev, Admin.
        ("GET", "/accounts/{account_id}/pods") => Roles(POD_USERS),
        ("POST", "/accounts/{account_id}/pods") => Roles(POD_MANAGERS),
        ("GET", "/accounts/{account_id}/pods/{pod_id}/connect") => Roles(POD_USERS),
        (
            _,
            "/accounts/{account_id}/pods/{pod_id}/start"
            | "/accounts/{account_id}/pods/{pod_id}/stop"
            | "/accounts/{account_id}/pods/{pod_id}/terminate",
        ) => Roles(POD_MANAGERS),
        // Billing: seeing and managing, Billing and Admin.
        (
            _,
            "/accounts/{account_id}/billing"
            | "/accounts/{account_id}/billing/funds"
            | "/accounts/{account_id}/billing/email",
        ) => Roles(BILLING),
        // Usage per member, the budget and spend limits: Billing and Admin (§10).
        (
            _,
            "/accounts/{account_id}/billing/usage"
            | "/accounts/{account_id}/billing/spend"
            | "/accounts/{account_id}/billing/spend/budget"
            | "/accounts/{account_id}/billing/spend/roles"
            | "/accounts/{account_id}/billing/spend/members",
        ) => Roles(BILLING),
        // GPU quotas per role or member: Admin only (§10).
        (
            "POST",
            "/accounts/{account_id}/billing/spend/quotas"
            | "/accounts/{account_id}/billing/spend/member-quotas",
        ) => Roles(ADMIN),
        // API keys (SPEC §12): Admin only.
        (
            _,
            "/accounts/{account_id}/settings/api-keys"
            | "/accounts/{account_id}/settings/api-keys/{key_id}/revoke",
        ) => Roles(ADMIN),
        // Audit log streaming (SPEC §11): Admin only.
        (
            _,
            "/accounts/{account_id}/settings/audit-streaming"
            | "/accounts/{account_id}/settings/audit-streaming/{destination_id}/remove"
            | "/accounts/{account_id}/settings/audit-streaming/{destination_id}/retry",
        ) => Roles(ADMIN),
        // The API's description holds nothing of any account.
        ("GET", "/api/v1/openapi.json") => Public,
        (_, path) if path.starts_with("/api/v1/accounts/") => Api,
        _ => return None,
    })
}

/// Form fields sent with every POST: plausible values for any form.
const FORM: &[(&str, &str)] = &[("role", "basic"), ("name", "Matrix Team")];

struct Fixture {
    team: Uuid,
    invite: Uuid,
    /// A Basic member that Admin actions (role change, removal) target.
    target: Uuid,
    /// A stopped Pod of the team.
    pod: Uuid,
    /// An API key of the team.
    key: Uuid,
    /// An audit stream destination of the team.
    destination: Uuid,
}

fn fill(path: &str, f: &Fixture) -> String {
    path.replace("{account_id}", &f.team.to_string())
        .replace("{user_id}", &f.target.to_string())
        .replace("{invite_id}", &f.invite.to_string())
        .replace("{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .replace("{pod_id}", &f.pod.to_string())
        .replace("{key_id}", &f.key.to_string())
        .replace("{destination_id}", &f.destination.to_string())
        .replace("{file}", "app.css")
        .replace("{session_id}", &Uuid::new_v4().to_string())
}

async fn request(browser: &Browser, method: &str, path: &str) -> reqwest::Response {
    match method {
        "GET" => browser.get(path).await,
        "POST" => browser.post_form(path, FORM).await,
        "DELETE" => browser
            .client
            .delete(browser.url(path))
            .send()
            .await
            .expect("DELETE failed"),
        other => panic!("no test for method {other}"),
    }
}

fn refused_for_member(res: &reqwest::Response) -> bool {
    res.status() == StatusCode::FORBIDDEN
}

fn allowed(res: &reqwest::Response) -> bool {
    let status = res.status();
    let to_sign_in = status.is_redirection() && location(res).starts_with("/sign-in");
    !(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND || to_sign_in)
}

#[actix_web::test]
async fn every_route_answers_every_role_as_spec_section_2_says() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Matrix Admin").await;
    let mut members: Vec<(Role, TestUser)> = Vec::new();
    for role in [Role::Basic, Role::Billing, Role::Dev] {
        members.push((role, app.signed_up_user(&format!("Matrix {role}")).await));
    }
    let target = app.signed_up_user("Matrix Target").await;
    let outsider = app.signed_up_user("Matrix Outsider").await;
    let signed_out = app.browser();

    let mut failures = Vec::new();
    for route in team_console::routes::all() {
        let Some(access) = expected(route.method, route.path) else {
            failures.push(format!(
                "{} {} is not in the matrix test",
                route.method, route.path
            ));
            continue;
        };
        // A fresh team per route: what one role's request changes cannot
        // affect another route's check.
        let team = app.insert_team(admin.user_id, "Matrix Team");
        for (role, user) in &members {
            app.add_member(team, user.user_id, *role);
        }
        app.add_member(team, target.user_id, Role::Basic);
        let invite = insert_invite(&app, team, admin.user_id);
        let fixture = Fixture {
            team,
            invite,
            target: target.user_id,
            pod: app.insert_pod(team, "Matrix Pod"),
            key: {
                let secret = app.insert_api_key(team, admin.user_id, "Matrix Key", &["pods:read"]);
                app.api_key_id(&secret)
            },
            destination: app.insert_stream_destination(
                team,
                admin.user_id,
                "https://logs.example.com/matrix",
                "matrix shared secret",
            ),
        };
        let path = fill(route.path, &fixture);
        let label = format!("{} {}", route.method, route.path);

        match access {
            Access::Public => {
                let res = request(&signed_out, route.method, &path).await;
                // Public forms may refuse the generic fields (400), never the visitor.
                let status = res.status();
                if status == StatusCode::FORBIDDEN
                    || status == StatusCode::NOT_FOUND
                    || status.is_server_error()
                {
                    failures.push(format!("{label}: signed out got {}", res.status()));
                }
            }
            Access::Link => {
                for browser in [&signed_out, &outsider.browser, &admin.browser] {
                    let res = request(browser, route.method, &path).await;
                    let status = res.status();
                    if status == StatusCode::FORBIDDEN || status.is_server_error() {
                        failures.push(format!("{label}: got {status}"));
                    }
                }
            }
            Access::SignedIn => {
                let res = request(&signed_out, route.method, &path).await;
                if !(res.status().is_redirection() && location(&res).starts_with("/sign-in")) {
                    failures.push(format!(
                        "{label}: signed out got {} (want sign-in)",
                        res.status()
                    ));
                }
                // Anyone signed in may ask (an unknown session id is a 404
                // of their own sessions, not a refusal).
                for user in [&outsider, &admin] {
                    let res = request(&user.browser, route.method, &path).await;
                    let status = res.status();
                    let to_sign_in =
                        status.is_redirection() && location(&res).starts_with("/sign-in");
                    if status == StatusCode::FORBIDDEN || to_sign_in || status.is_server_error() {
                        failures.push(format!("{label}: signed in got {status}"));
                    }
                }
            }
            Access::Api => {
                let browsers = [&signed_out, &outsider.browser, &admin.browser]
                    .into_iter()
                    .chain(members.iter().map(|(_, u)| &u.browser));
                for browser in browsers {
                    let res = request(browser, route.method, &path).await;
                    if res.status() != StatusCode::UNAUTHORIZED {
                        failures.push(format!(
                            "{label}: a cookie without a key got {} (want 401)",
                            res.status()
                        ));
                    }
                }
            }
            Access::Roles(roles) => {
                let res = request(&signed_out, route.method, &path).await;
                if !(res.status().is_redirection() && location(&res).starts_with("/sign-in")) {
                    failures.push(format!(
                        "{label}: signed out got {} (want sign-in)",
                        res.status()
                    ));
                }
                let res = request(&outsider.browser, route.method, &path).await;
                if res.status() != StatusCode::NOT_FOUND {
                    failures.push(format!(
                        "{label}: non-member got {} (want 404)",
                        res.status()
                    ));
                }
                // Members in a fixed order, Admin last: Admin actions
                // (removing the target...) come after the others' checks.
                let perspectives = members
                    .iter()
                    .map(|(r, u)| (*r, u))
                    .chain([(Role::Admin, &admin)]);
                for (role, user) in perspectives {
                    let res = request(&user.browser, route.method, &path).await;
                    let want = roles.contains(&role);
                    if want && !allowed(&res) {
                        failures.push(format!(
                            "{label}: {role} refused with {} (want allowed)",
                            res.status()
                        ));
                    }
                    if !want && !refused_for_member(&res) {
                        failures.push(format!("{label}: {role} got {} (want 403)", res.status()));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role matrix violations:\n{}",
        failures.join("\n")
    );
}

#[actix_web::test]
async fn a_personal_account_has_no_members_page_invites_or_leaving() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Solo").await;
    let id = user.personal_account_id;

    let (status, body) = user
        .browser
        .get_page(&format!("/accounts/{id}/members"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("has no members"));
    assert!(body.contains("Convert to Team Account"));
    assert_eq!(
        user.browser
            .get(&format!("/accounts/{id}/leave"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let res = user
        .browser
        .post_form(&format!("/accounts/{id}/leave"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = user
        .browser
        .post_form(
            &format!("/accounts/{id}/members/{}/role", user.user_id),
            &[("role", "basic")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// Whether `body` shows an amount of money ("$" then a digit).
fn shows_money(body: &str) -> Option<String> {
    body.match_indices('$').find_map(|(i, _)| {
        let next = body[i + 1..].chars().next()?;
        next.is_ascii_digit()
            .then(|| body[i.saturating_sub(80)..(i + 20).min(body.len())].to_string())
    })
}

/// SPEC §2 and §10: Basic and Dev see no billing information, so no page
/// they may open shows an amount: not the dashboard, not the Pods pages,
/// not their flashes, refusals or spend alerts. Every GET route of the app
/// is opened by each, on a team with money, limits, alerts and usage.
#[actix_web::test]
async fn roles_without_billing_access_see_no_money_anywhere() {
    use crate::support::pods::T0;
    use crate::support::spend::{pods_path, start};
    use time::Duration;

    // Arrange: money, a budget, limits, a quota, usage and alerts.
    let (app, clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    app.set_balance(team.id, 100_000);
    let admin = &team.admin.browser;
    app.set_budget(admin, team.id, "50").await;
    app.set_role_limit(admin, team.id, "dev", "10").await;
    app.set_role_quota(admin, team.id, "dev", "h100-80gb", "1")
        .await;
    let dev = &team.dev.browser;
    let mine = app
        .create_pod_as(dev, team.id, "mine", "h100-80gb", "1")
        .await;
    start(dev, team.id, mine).await;
    let theirs = app
        .create_pod_as(admin, team.id, "theirs", "l40s", "2")
        .await;
    start(admin, team.id, theirs).await;
    clock.advance(Duration::hours(3)); // the Dev: $8.97 of $10
    app.sweep(clock.now());
    // The Dev's own actions leave flashes and refusals.
    let refused = [
        dev.post_form(
            &pods_path(team.id),
            &[
                ("name", "big"),
                ("gpu_type", "h100-80gb"),
                ("gpu_count", "2"),
                ("image", "x"),
            ],
        )
        .await,
        start(dev, team.id, theirs).await,
    ];
    for res in refused {
        let body = if res.status() == StatusCode::SEE_OTHER {
            crate::support::assert_refused_to(dev, res, &pods_path(team.id)).await
        } else {
            assert_eq!(res.status(), StatusCode::CONFLICT);
            res.text().await.unwrap()
        };
        assert_eq!(shows_money(&body), None, "a refusal shows money");
    }
    dev.post_form(&format!("/accounts/{}/pods/{mine}/stop", team.id), &[])
        .await;
    start(dev, team.id, mine).await;
    clock.advance(Duration::hours(1)); // past the limit: the Dev's Pod stops
    assert_eq!(app.sweep(clock.now()).stopped.len(), 1);
    let (_, body) = admin.get_page(&format!("/accounts/{}", team.id)).await;
    assert!(shows_money(&body).is_some(), "the Admin sees the figures");
    app.set_balance(team.id, 0);
    let res = start(dev, team.id, mine).await;
    assert_eq!(shows_money(&res.text().await.unwrap()), None);
    let _ = T0;

    // Act and assert: every page the two roles may open.
    let invite = insert_invite(&app, team.id, team.admin.user_id);
    let fixture = Fixture {
        team: team.id,
        invite,
        target: team.basic.user_id,
        pod: mine,
        key: Uuid::nil(),
        destination: Uuid::nil(),
    };
    let mut opened = 0;
    let mut failures = Vec::new();
    for user in [&team.basic, &team.dev] {
        for route in team_console::routes::all() {
            if route.method != "GET" || route.path.starts_with("/invite") {
                continue;
            }
            let path = fill(route.path, &fixture);
            let res = user.browser.get(&path).await;
            if res.status() != StatusCode::OK {
                continue;
            }
            opened += 1;
            let body = res.text().await.unwrap();
            if let Some(around) = shows_money(&body) {
                failures.push(format!("{} {path}: …{around}…", user.email));
            }
        }
    }
    assert!(opened >= 10, "only {opened} pages opened");
    assert!(failures.is_empty(), "money shown:\n{}", failures.join("\n"));
}

/// Arrange: a pending invite in the team (its link is not needed here).
pub(crate) fn insert_invite(app: &TestApp, team: Uuid, admin: Uuid) -> Uuid {
    use diesel::prelude::*;
    use team_console::db::schema::invites;
    let id = Uuid::new_v4();
    diesel::insert_into(invites::table)
        .values((
            invites::id.eq(id),
            invites::account_id.eq(team),
            invites::role.eq("basic"),
            invites::nonce.eq(vec![0u8; 16]),
            invites::token_hash.eq(id.as_bytes().to_vec()),
            invites::created_by.eq(admin),
            invites::expires_at.eq(time::OffsetDateTime::now_utc() + time::Duration::days(1)),
        ))
        .execute(&mut app.conn())
        .unwrap();
    id
}
