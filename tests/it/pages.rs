//! Issue 14: everyday pages. An invite meant for an email never strands
//! anyone; refusals and error pages keep the layout; refused actions
//! redirect with a flash.

use reqwest::StatusCode;

use crate::support::{PASSWORD, TestApp, assert_redirect_to};

/// The signed-in header and the account's navigation are on the page.
#[track_caller]
fn in_layout(body: &str, team: &str) {
    assert!(body.contains("action=\"/sign-out\""), "no header: {body}");
    assert!(body.contains("class=\"switcher\""), "no switcher: {body}");
    assert!(
        body.contains(&format!("<nav class=\"account-nav\" aria-label=\"{team}\"")),
        "no navigation: {body}"
    );
}

#[actix_web::test]
async fn the_sign_up_form_from_an_invite_names_the_team_and_role_and_fills_in_the_email() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let link = app
        .create_invite(
            &team.admin.browser,
            team.id,
            "billing",
            "dave.billing@acme.example",
        )
        .await;
    let invitee = app.browser();
    app.open_invite(&invitee, &link).await;

    for path in ["/sign-up?next=%2Finvite", "/sign-in?next=%2Finvite"] {
        let (status, body) = invitee.get_page(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("to join Acme GPU</h1>"), "{path}: {body}");
        assert!(
            body.contains("You are joining <strong>Acme GPU</strong> as"),
            "{body}"
        );
        assert!(body.contains(">Billing</span>"), "{body}");
        assert!(
            body.contains("value=\"dave.billing@acme.example\""),
            "{path}: the email is filled in: {body}"
        );
    }
    // Without the invite, the plain forms.
    let (_, plain) = app.browser().get_page("/sign-up?next=%2Finvite").await;
    assert!(!plain.contains("You are joining"), "{plain}");
}

#[actix_web::test]
async fn a_person_signed_in_with_another_email_signs_out_and_continues_with_the_invite() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let link = app
        .create_invite(
            &team.admin.browser,
            team.id,
            "billing",
            "dave.billing@acme.example",
        )
        .await;
    let other = app.signed_up_user("Dave Personal").await;
    app.open_invite(&other.browser, &link).await;

    let (status, body) = other.browser.get_page("/invite").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Sign out and continue as dave.billing@acme.example"),
        "{body}"
    );
    let res = other
        .browser
        .post_form("/sign-out", &[("then", "invite")])
        .await;
    assert_redirect_to(&res, "/invite");

    // Signed out, the invite is still there, and sign-up fills in its email.
    let (status, body) = other.browser.get_page("/invite").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Sign up to join"), "{body}");
    assert!(!body.contains("action=\"/sign-out\""), "signed out: {body}");
    let (_, form) = other.browser.get_page("/sign-up?next=%2Finvite").await;
    assert!(
        form.contains("value=\"dave.billing@acme.example\""),
        "{form}"
    );
    let res = other
        .browser
        .post_form(
            "/sign-up",
            &[
                ("email", "dave.billing@acme.example"),
                ("display_name", "Dave Billing"),
                ("password", PASSWORD),
                ("next", "/invite"),
            ],
        )
        .await;
    assert_redirect_to(&res, "/invite");
    let res = other.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{}", team.id));

    // A plain sign-out still ends everything.
    let res = other.browser.post_form("/sign-out", &[]).await;
    assert_redirect_to(&res, "/sign-in?signed_out=1");
}

#[actix_web::test]
async fn the_invite_link_works_again_after_signing_out_until_it_is_used() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let link = app
        .create_invite(&team.admin.browser, team.id, "dev", "")
        .await;
    let visitor = app.signed_up_user("Vic Visitor").await;
    app.open_invite(&visitor.browser, &link).await;
    visitor.browser.post_form("/sign-out", &[]).await;
    let (status, _) = visitor.browser.get_page("/invite").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a plain sign-out forgets it");
    let res = app.open_invite(&visitor.browser, &link).await;
    assert_redirect_to(&res, "/invite");
    let (status, body) = visitor.browser.get_page("/invite").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Sign up to join"), "{body}");
}

#[actix_web::test]
async fn a_refusal_by_role_keeps_the_layout_and_says_who_may_and_whom_to_ask() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    for (path, says) in [
        (
            "billing",
            "Only Billing and Admin members of Acme GPU may see billing information. Your role is Dev.",
        ),
        (
            "settings",
            "Only Admin members of Acme GPU may change account settings. Your role is Dev.",
        ),
        (
            "invites/new",
            "Only Admin members of Acme GPU may invite members and see pending invites. Your role is Dev.",
        ),
    ] {
        let (status, body) = team
            .dev
            .browser
            .get_page(&format!("/accounts/{}/{path}", team.id))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        in_layout(&body, "Acme GPU");
        assert!(body.contains(says), "{path}: {body}");
        assert!(
            body.contains("ask an Admin of this team: <strong>Alice Admin</strong>"),
            "{body}"
        );
        assert!(!body.contains("form expired"), "{body}");
        assert!(!body.contains("reload"), "{body}");
    }
}

#[actix_web::test]
async fn not_found_and_gone_pages_keep_the_layout_when_signed_in() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let dev = &team.dev.browser;
    let (status, body) = dev.get_page("/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("action=\"/sign-out\""), "{body}");
    let (status, body) = dev
        .get_page(&format!(
            "/accounts/{}/pods/{}/connect",
            team.id,
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    in_layout(&body, "Acme GPU");

    // A used invite link: 410, inside the layout.
    let link = app
        .create_invite(&team.admin.browser, team.id, "dev", "")
        .await;
    let joiner = app.signed_up_user("Jo Joiner").await;
    app.open_invite(&joiner.browser, &link).await;
    joiner.browser.post_form("/invite/accept", &[]).await;
    app.open_invite(dev, &link).await;
    let (status, body) = dev.get_page("/invite").await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("Invite already used"), "{body}");
    assert!(body.contains("action=\"/sign-out\""), "{body}");

    // Signed out, the same pages, without a header of a person.
    let (status, body) = app.browser().get_page("/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("action=\"/sign-out\""), "{body}");
    assert!(body.contains("Page not found"), "{body}");
}

/// Issue 14, item 2: a bad request refused before any handler, signed in,
/// keeps the header and navigation too. (Signed in, a 429 is always a form
/// page asking again: re-authentication, two-factor codes.)
#[actix_web::test]
async fn a_bad_request_keeps_the_layout_when_signed_in() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let dev = &team.dev.browser;
    // Refused by the request-text gate before any handler.
    let (status, body) = dev
        .get_page(&format!("/accounts/{}/pods?q=%00", team.id))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("action=\"/sign-out\""), "{body}");
}

#[actix_web::test]
async fn a_failed_csrf_check_says_the_form_expired_and_offers_to_reload_it() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let page = format!("/accounts/{}/pods", team.id);
    let res = team
        .dev
        .browser
        .client
        .post(team.dev.browser.url(&page))
        .header("referer", format!("{}{page}", app.address))
        .form(&[("csrf_token", "stale"), ("name", "train-7")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = res.text().await.unwrap();
    assert!(body.contains("This form expired"), "{body}");
    assert!(
        body.contains(&format!(
            "<a class=\"button primary\" href=\"{page}\">Reload the form</a>"
        )),
        "{body}"
    );
    assert!(body.contains("action=\"/sign-out\""), "{body}");
}

#[actix_web::test]
async fn refused_actions_redirect_to_their_page_with_the_reason() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let admin = &team.admin.browser;
    let members = format!("/accounts/{}/members", team.id);

    // The last Admin's own role change: back on the Team page.
    let res = admin
        .post_form(
            &format!("{members}/{}/role", team.admin.user_id),
            &[("role", "dev")],
        )
        .await;
    let body = crate::support::assert_refused_to(admin, res, &members).await;
    assert!(body.contains("at least one Admin"), "{body}");

    // Starting a Pod without funds: back on the Pods page.
    let pod = app.insert_pod(team.id, "train-7");
    let pods = format!("/accounts/{}/pods", team.id);
    let res = team
        .dev
        .browser
        .post_form(&format!("{pods}/{pod}/start"), &[])
        .await;
    let body = crate::support::assert_refused_to(&team.dev.browser, res, &pods).await;
    assert!(body.contains("train-7 cannot start"), "{body}");

    // Any other refused POST sent from one of our pages goes back to it.
    let res = admin
        .client
        .post(admin.url(&format!("/accounts/{}/convert", team.id)))
        .header("referer", format!("{}/accounts/{}", app.address, team.id))
        .form(&[
            ("name", "Again"),
            ("confirm", "yes"),
            ("csrf_token", admin.csrf().await.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body =
        crate::support::assert_refused_to(admin, res, &format!("/accounts/{}", team.id)).await;
    assert!(body.contains("already a team account"), "{body}");
}

#[actix_web::test]
async fn the_only_admin_is_told_why_they_cannot_leave_or_change_their_role() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let members = format!("/accounts/{}/members", team.id);
    let (_, body) = team.admin.browser.get_page(&members).await;
    assert!(
        body.contains("You are the only Admin of Acme GPU, so you cannot leave it"),
        "{body}"
    );
    assert!(!body.contains(&format!("href=\"/accounts/{}/leave\"", team.id)));
    assert!(!body.contains(&format!("id=\"role-{}\"", team.admin.user_id)));
    assert!(body.contains(&format!("id=\"role-{}\"", team.dev.user_id)));
    // Repeated buttons name their row; Remove is not a red button.
    assert!(
        body.contains("Remove<span class=\"visually-hidden\"> Dan Dev</span>…</a>"),
        "{body}"
    );
    assert!(!body.contains("button small danger"), "{body}");
    assert!(body.contains("<caption class=\"visually-hidden\">Members of Acme GPU</caption>"));
    assert!(body.contains("aria-label=\"Switch account (now Acme GPU)\""));

    // With a second Admin, both may leave and change roles.
    let res = team
        .admin
        .browser
        .post_form(
            &format!("{members}/{}/role", team.dev.user_id),
            &[("role", "admin"), ("confirm", "yes")],
        )
        .await;
    assert_redirect_to(&res, &members);
    let (_, body) = team.admin.browser.get_page(&members).await;
    assert!(body.contains(&format!("href=\"/accounts/{}/leave\"", team.id)));
    assert!(body.contains(&format!("id=\"role-{}\"", team.admin.user_id)));
}

#[actix_web::test]
async fn an_invite_for_a_members_email_is_refused_and_a_week_reads_as_7_days() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let admin = &team.admin.browser;
    let res = admin
        .post_form(
            &format!("/accounts/{}/invites", team.id),
            &[
                ("role", "admin"),
                ("email", &team.dev.email.to_uppercase()),
                ("lifetime_hours", "168"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Dan Dev already uses this email address and is a member of this team."),
        "{body}"
    );
    let (_, team_page) = admin
        .get_page(&format!("/accounts/{}/members", team.id))
        .await;
    assert!(team_page.contains("No pending invites"), "{team_page}");

    let res = admin
        .post_form(
            &format!("/accounts/{}/invites", team.id),
            &[("role", "basic"), ("email", ""), ("lifetime_hours", "168")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, team_page) = admin
        .get_page(&format!("/accounts/{}/members", team.id))
        .await;
    assert!(
        team_page.contains("Invite created with the Basic role. Copy its link below and send it to the person joining."),
        "{team_page}"
    );
    assert!(team_page.contains(">in 7 days</span>"), "{team_page}");
}

#[actix_web::test]
async fn pod_buttons_name_their_pod() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.insert_pod(team.id, "train-7");
    let (_, body) = team
        .dev
        .browser
        .get_page(&format!("/accounts/{}/pods", team.id))
        .await;
    assert!(
        body.contains("Start<span class=\"visually-hidden\"> train-7</span>"),
        "{body}"
    );
    assert!(body.contains("Connect<span class=\"visually-hidden\"> to train-7</span>"));
    assert!(body.contains("<caption class=\"visually-hidden\">Pods of Acme GPU</caption>"));
    let pod = app.insert_pod(team.id, "train-8");
    let (_, connect) = team
        .dev
        .browser
        .get_page(&format!("/accounts/{}/pods/{pod}/connect", team.id))
        .await;
    assert!(
        connect.contains("data-copy-target=\"ssh-command\""),
        "{connect}"
    );
    assert!(
        connect.contains("data-copy-target=\"http-address\""),
        "{connect}"
    );
    assert!(connect.contains("/static/copy-link.js"), "{connect}");
}

#[actix_web::test]
async fn pods_collapse_terminated_ones_and_a_failed_create_opens_with_its_errors_first() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let dev = &team.dev.browser;
    let pods = format!("/accounts/{}/pods", team.id);
    let gone = app.insert_pod(team.id, "old-run");
    app.insert_pod(team.id, "train-7");
    let res = dev
        .post_form(&format!("{pods}/{gone}/terminate"), &[])
        .await;
    assert_redirect_to(&res, &pods);

    let (_, body) = dev.get_page(&pods).await;
    let (active, terminated) = body.split_once("<details class=\"terminated\">").unwrap();
    let active = active.split_once("<table").unwrap().1;
    assert!(
        active.contains("train-7") && !active.contains("old-run"),
        "{body}"
    );
    assert!(
        terminated.contains("<summary>Terminated (1)</summary>"),
        "{body}"
    );
    assert!(terminated.contains("old-run"), "{body}");
    assert!(
        body.contains("<details class=\"create-pod\" id=\"create-pod\">"),
        "the create form waits behind its button: {body}"
    );

    let res = dev
        .post_form(
            &pods,
            &[
                ("name", ""),
                ("gpu_type", "h100-80gb"),
                ("gpu_count", "1"),
                ("image", "x"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("<details class=\"create-pod\" id=\"create-pod\" open>"),
        "{body}"
    );
    assert!(
        body.contains("class=\"error-summary\" role=\"alert\" tabindex=\"-1\" autofocus"),
        "{body}"
    );
    assert!(body.contains("<li><a href=\"#name\">"), "{body}");
}

#[actix_web::test]
async fn the_balance_is_the_billing_pages_headline_figure() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 12_345);
    let (_, body) = team
        .billing
        .browser
        .get_page(&format!("/accounts/{}/billing", team.id))
        .await;
    assert!(
        body.contains("<p class=\"balance-figure\">$123.45</p>"),
        "{body}"
    );
    assert!(!body.contains(">Billing email</label>"), "{body}");
}

#[actix_web::test]
async fn making_someone_admin_asks_for_confirmation_first() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/members/{}/role", team.id, team.dev.user_id);
    let res = team
        .admin
        .browser
        .post_form(&path, &[("role", "admin")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("<h1>Make Dan Dev an Admin?</h1>"), "{body}");
    assert!(body.contains("name=\"confirm\" value=\"yes\""), "{body}");
    assert_eq!(
        app.role_of(team.id, team.dev.user_id).as_deref(),
        Some("dev")
    );

    let res = team
        .admin
        .browser
        .post_form(&path, &[("role", "admin"), ("confirm", "yes")])
        .await;
    assert_redirect_to(&res, &format!("/accounts/{}/members", team.id));
    assert_eq!(
        app.role_of(team.id, team.dev.user_id).as_deref(),
        Some("admin")
    );
}

#[actix_web::test]
async fn settings_do_not_repeat_the_heading_as_the_label() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let (_, body) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/settings", team.id))
        .await;
    assert!(
        body.contains("<h2 id=\"name-heading\">Team name</h2>"),
        "{body}"
    );
    assert!(!body.contains(">Team name</label>"), "{body}");
    assert!(body.contains("class=\"card settings-card\""), "{body}");
}
