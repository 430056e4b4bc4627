//! Mail (SPEC §14, issue 24): forgotten passwords, invite emails and
//! security notices, delivered to a real SMTP server on a loopback port
//! (support/smtp.rs) or written to the outbox folder without one.

use diesel::prelude::*;
use reqwest::StatusCode;
use time::Duration;

use crate::support::smtp::SmtpServer;
use crate::support::two_factor::enable;
use crate::support::{PASSWORD, TestApp, TestUser, assert_redirect_to, audit_actions, logs};

const NEW_PASSWORD: &str = "saffron kettle orbit 93 lantern";
const RESET_SUBJECT: &str = "Reset your Team Console password";

/// Asks for a reset link for `email` from a fresh browser; the page.
async fn ask_for_link(app: &TestApp, email: &str) -> (StatusCode, String) {
    let browser = app.browser();
    let (status, form) = browser.get_page("/forgot-password").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"email\""));
    let res = browser
        .post_form("/forgot-password", &[("email", email)])
        .await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// The path of the newest reset link mailed to `email`.
fn reset_path(app: &TestApp, smtp: &SmtpServer, email: &str) -> String {
    let message = smtp
        .to(email)
        .into_iter()
        .rev()
        .find(|m| m.subject() == RESET_SUBJECT)
        .expect("a reset message");
    let link = message
        .link(&format!("{}/reset-password/", app.address))
        .expect("a link built from PUBLIC_URL");
    link.strip_prefix(&app.address).unwrap().to_string()
}

/// Every outbox row as text: recipient, subject, and the body's bytes.
fn outbox_dump(app: &TestApp) -> String {
    use team_console::db::schema::mail_outbox as o;
    let rows: Vec<(String, String, Vec<u8>)> = o::table
        .select((o::recipient, o::subject, o::body))
        .load(&mut app.conn())
        .unwrap();
    rows.into_iter()
        .map(|(to, subject, body)| format!("{to} {subject} {}\n", String::from_utf8_lossy(&body)))
        .collect()
}

async fn sign_in_elsewhere(app: &TestApp, user: &TestUser) -> crate::support::Browser {
    let browser = app.browser();
    let res = browser.sign_in(&user.email, PASSWORD).await;
    assert_redirect_to(&res, "/");
    browser
}

#[actix_web::test]
async fn a_forgotten_password_is_reset_through_the_mailed_link() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Fran Forgetful").await;
    let elsewhere = sign_in_elsewhere(&app, &user).await;
    let (status, sign_in) = app.browser().get_page("/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    assert!(sign_in.contains("href=\"/forgot-password\""));

    let (status, answer) = ask_for_link(&app, &user.email).await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer.contains("a link to choose a new password is on its way"));
    let queued = outbox_dump(&app);
    let report = app.deliver_mail(hand.now()).await;
    assert_eq!(report.sent, 1);
    let path = reset_path(&app, &smtp, &user.email);
    let message = &smtp.to(&user.email)[0];
    assert!(message.data.contains("multipart/alternative"));
    assert!(message.data.contains("text/html"));
    assert!(message.from.contains("console@example.com"));

    let visitor = app.browser();
    let res = visitor.get(&path).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    visitor.remember_csrf(&res.text().await.unwrap());
    let res = visitor.post_form(&path, &[("password", "short")]).await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "same rule as sign-up"
    );
    let res = visitor
        .post_form(&path, &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Your password is changed")
    );

    for browser in [&user.browser, &elsewhere] {
        let res = browser.get("/profile").await;
        assert!(res.status().is_redirection(), "every session ended");
    }
    let res = app.browser().sign_in(&user.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.browser().sign_in(&user.email, NEW_PASSWORD).await;
    assert_redirect_to(&res, "/");
    let actions = audit_actions(&mut app.conn());
    assert!(actions.contains(&"user.password_reset_requested".to_string()));
    assert!(actions.contains(&"user.password_reset".to_string()));
    // The token is kept only as its hash, and the sent mail's body goes.
    let stored: Vec<Vec<u8>> = {
        use team_console::db::schema::password_resets;
        password_resets::table
            .select(password_resets::token_hash)
            .load(&mut app.conn())
            .unwrap()
    };
    let token = path.rsplit('/').next().unwrap();
    assert_eq!(stored, vec![team_console::tokens::sha256(token)]);
    // Nor is the link in the outbox in plain text, before or after it is sent.
    assert!(
        queued.contains("Reset your Team Console password"),
        "{queued}"
    );
    assert!(!queued.contains(token));
    assert!(!outbox_dump(&app).contains(token));

    // The notice of the change arrives too.
    app.deliver_mail(hand.now()).await;
    let subjects: Vec<String> = smtp.to(&user.email).iter().map(|m| m.subject()).collect();
    assert!(
        subjects.contains(&"Team Console: Your password was changed".to_string()),
        "{subjects:?}"
    );
}

#[actix_web::test]
async fn the_answer_is_the_same_for_known_and_unknown_emails() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Kim Known").await;
    let unknown = "nobody-here@example.com";
    let browser = app.browser();
    browser.get_page("/forgot-password").await;

    let known = browser
        .post_form("/forgot-password", &[("email", &user.email)])
        .await;
    let known = (known.status(), known.text().await.unwrap());
    let stranger = browser
        .post_form("/forgot-password", &[("email", unknown)])
        .await;
    let stranger = (stranger.status(), stranger.text().await.unwrap());

    assert_eq!(known.0, stranger.0);
    assert_eq!(
        known.1.replace(&user.email, "EMAIL"),
        stranger.1.replace(unknown, "EMAIL")
    );
    app.deliver_mail(hand.now()).await;
    assert_eq!(smtp.to(&user.email).len(), 1);
    assert!(smtp.to(unknown).is_empty());

    // Throttled alike: a few links per email, then the same refusal.
    for email in [user.email.as_str(), unknown] {
        for _ in 0..2 {
            let (status, _) = ask_for_link(&app, email).await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, page) = ask_for_link(&app, email).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert!(page.contains("Too many reset links"));
    }
}

#[actix_web::test]
async fn reset_links_work_once_and_for_an_hour() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Una Once").await;

    ask_for_link(&app, &user.email).await;
    app.deliver_mail(hand.now()).await;
    let expiring = reset_path(&app, &smtp, &user.email);
    hand.advance(Duration::minutes(59));
    assert_eq!(app.browser().get(&expiring).await.status(), StatusCode::OK);
    hand.advance(Duration::minutes(2));
    let res = app.browser().get(&expiring).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("no longer works"));

    ask_for_link(&app, &user.email).await;
    app.deliver_mail(hand.now()).await;
    let once = reset_path(&app, &smtp, &user.email);
    assert_ne!(once, expiring);
    let browser = app.browser();
    browser.get_page(&once).await;
    let res = browser
        .post_form(&once, &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let again = app.browser();
    let res = again
        .post_form(&once, &[("password", "another fine 77 password")])
        .await;
    assert_eq!(res.status(), StatusCode::GONE, "used up");
    assert_eq!(app.browser().get(&once).await.status(), StatusCode::GONE);
    assert_eq!(
        app.browser()
            .get("/reset-password/not-a-token")
            .await
            .status(),
        StatusCode::GONE
    );
}

#[actix_web::test]
async fn a_reset_link_is_refused_once_the_password_changed_otherwise() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Pat Changed").await;
    ask_for_link(&app, &user.email).await;
    app.deliver_mail(hand.now()).await;
    let path = reset_path(&app, &smtp, &user.email);

    let res = user
        .browser
        .post_form(
            "/profile/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_redirect_to(&res, "/profile");

    assert_eq!(app.browser().get(&path).await.status(), StatusCode::GONE);
    app.deliver_mail(hand.now()).await;
    let notice = smtp
        .to(&user.email)
        .into_iter()
        .find(|m| m.subject() == "Team Console: Your password was changed")
        .expect("the password notice");
    assert!(
        notice
            .link(&format!("{}/forgot-password", app.address))
            .is_some()
    );
}

#[actix_web::test]
async fn with_two_factor_the_reset_asks_for_a_code() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Tess Twofactor").await;
    let (authenticator, _) = enable(&user, hand.now()).await;
    ask_for_link(&app, &user.email).await;
    app.deliver_mail(hand.now()).await;
    let path = reset_path(&app, &smtp, &user.email);

    let browser = app.browser();
    let (status, page) = browser.get_page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"code\""));
    let res = browser
        .post_form(&path, &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = browser
        .post_form(&path, &[("password", NEW_PASSWORD), ("code", "000000")])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    hand.advance(Duration::seconds(30));
    let code = authenticator.code(hand.now(), 0);
    let res = browser
        .post_form(&path, &[("password", NEW_PASSWORD), ("code", &code)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.browser().sign_in(&user.email, NEW_PASSWORD).await;
    assert_redirect_to(&res, "/sign-in/two-factor");
}

#[actix_web::test]
async fn a_mail_server_refusing_for_a_while_loses_nothing() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Rita Retry").await;
    smtp.refuse(2);
    ask_for_link(&app, &user.email).await;

    let first = app.deliver_mail(hand.now()).await;
    assert_eq!((first.sent, first.retried), (0, 1));
    let too_soon = app.deliver_mail(hand.now() + Duration::seconds(10)).await;
    assert_eq!(too_soon.retried + too_soon.sent, 0, "it waits its back-off");
    let second = app.deliver_mail(hand.now() + Duration::seconds(31)).await;
    assert_eq!((second.sent, second.retried), (0, 1));
    assert!(smtp.received().is_empty());
    let third = app
        .deliver_mail(hand.now() + Duration::seconds(31 + 61))
        .await;
    assert_eq!(third.sent, 1);

    assert_eq!(smtp.to(&user.email).len(), 1);
    let attempts: i32 = {
        use team_console::db::schema::mail_outbox;
        mail_outbox::table
            .select(mail_outbox::attempts)
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(attempts, 3);
    let again = app.deliver_mail(hand.now() + Duration::hours(2)).await;
    assert_eq!(again.sent, 0, "sent once");
}

#[actix_web::test]
async fn without_smtp_url_mail_is_written_to_the_outbox_folder() {
    let app = TestApp::spawn().await;
    assert!(
        logs().contains(&format!(
            "mail is sent into {} as .eml files (no SMTP_URL is set)",
            app.mail.outbox_dir.display()
        )),
        "the log says where mail goes"
    );
    let user = app.signed_up_user("Ellie Eml").await;
    ask_for_link(&app, &user.email).await;

    let report = app.deliver_mail(time::OffsetDateTime::now_utc()).await;

    assert_eq!(report.sent, 1);
    let files: Vec<_> = std::fs::read_dir(&app.mail.outbox_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains(&format!("Subject: {RESET_SUBJECT}")));
    assert!(eml.contains(&format!("To: {}", user.email)));
    assert!(eml.contains(&format!("{}/reset-password/", app.address)));
}

#[actix_web::test]
async fn an_invite_for_an_email_is_mailed_and_admins_can_resend_it() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let team = app.team().await;
    let invitee = "newcomer@example.com";

    let link = app
        .create_invite(&team.admin.browser, team.id, "dev", invitee)
        .await;
    app.deliver_mail(hand.now()).await;

    let mails = smtp.to(invitee);
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject(),
        "Alice Admin invites you to Acme GPU on Team Console"
    );
    assert!(mails[0].text().contains("with the role Dev"));
    assert_eq!(
        mails[0].link(&format!("{}/invites/", app.address)),
        Some(link.clone())
    );

    let invite_id: uuid::Uuid = {
        use team_console::db::schema::invites;
        invites::table
            .select(invites::id)
            .first(&mut app.conn())
            .unwrap()
    };
    let resend = format!("/accounts/{}/invites/{invite_id}/resend", team.id);
    for member in [&team.basic, &team.billing, &team.dev] {
        let res = member.browser.post_form(&resend, &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let res = team.admin.browser.post_form(&resend, &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{}/members#invites", team.id));
    let (_, page) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/members", team.id))
        .await;
    assert!(page.contains(&format!("The invite is sent again to {invitee}.")));
    assert!(page.contains("Resend email"));
    app.deliver_mail(hand.now()).await;

    let mails = smtp.to(invitee);
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1].link(&format!("{}/invites/", app.address)),
        Some(link)
    );
    assert!(audit_actions(&mut app.conn()).contains(&"invite.resent".to_string()));

    // An invite for anyone with the link has no email to send again.
    app.create_invite(&team.admin.browser, team.id, "basic", "")
        .await;
    let anyone: uuid::Uuid = {
        use team_console::db::schema::invites;
        invites::table
            .filter(invites::email.is_null())
            .select(invites::id)
            .first(&mut app.conn())
            .unwrap()
    };
    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/invites/{anyone}/resend", team.id),
            &[],
        )
        .await;
    assert!(res.status().is_redirection() || res.status() == StatusCode::CONFLICT);
    app.deliver_mail(hand.now()).await;
    assert_eq!(smtp.received().len(), 2);
}

#[actix_web::test]
async fn security_notices_go_to_the_accounts_email() {
    let smtp = SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Nina Notice").await;
    let subjects = |to: &str| -> Vec<String> { smtp.to(to).iter().map(|m| m.subject()).collect() };

    // The browser signed up with is known; another one is news.
    user.browser.post_form("/sign-out", &[]).await;
    user.browser.sign_in(&user.email, PASSWORD).await;
    app.deliver_mail(hand.now()).await;
    assert!(
        subjects(&user.email).is_empty(),
        "{:?}",
        subjects(&user.email)
    );
    let phone = app.browser();
    let token = phone.csrf().await;
    let res = phone
        .client
        .post(phone.url("/sign-in"))
        .header(
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
        )
        .form(&[
            ("email", user.email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/");
    app.deliver_mail(hand.now()).await;
    let new_sign_in = smtp
        .to(&user.email)
        .into_iter()
        .find(|m| m.subject() == "Team Console: A new sign-in to your account")
        .expect("the new-device notice");
    assert!(new_sign_in.text().contains("Firefox on Linux"));
    assert!(new_sign_in.text().contains("127.0.0.1"));

    // Two-factor turned off.
    enable(&user, hand.now()).await;
    let res = user
        .browser
        .post_form("/profile/two-factor/disable", &[])
        .await;
    assert_redirect_to(&res, "/profile#two-factor");
    app.deliver_mail(hand.now()).await;
    assert!(
        subjects(&user.email)
            .contains(&"Team Console: Two-factor authentication was turned off".to_string())
    );

    // The email changed: both addresses hear of it.
    let new_email = "nina.new@example.com";
    let res = user
        .browser
        .post_form(
            "/profile/email",
            &[("email", new_email), ("password", PASSWORD)],
        )
        .await;
    assert_redirect_to(&res, "/profile");
    app.deliver_mail(hand.now()).await;
    for to in [user.email.as_str(), new_email] {
        assert!(
            subjects(to).contains(&"Team Console: Your email was changed".to_string()),
            "{to}: {:?}",
            subjects(to)
        );
    }
}

#[actix_web::test]
async fn the_operator_prints_a_reset_link_audited_as_theirs() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Olga Operator").await;
    let run = |email: &str| {
        app.command(&["users", "reset-link", email])
            .env("PUBLIC_URL", format!("{}/", app.address))
            .output()
            .unwrap()
    };

    let printed = run(&user.email);
    let unknown = run("nobody@example.com");

    assert!(printed.status.success(), "{printed:?}");
    let link = String::from_utf8(printed.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        link.starts_with(&format!("{}/reset-password/", app.address)),
        "{link}"
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account has the email"));
    let path = link.strip_prefix(&app.address).unwrap().to_string();
    let browser = app.browser();
    browser.get_page(&path).await;
    let res = browser
        .post_form(&path, &[("password", NEW_PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let entries: Vec<(Option<String>, serde_json::Value)> = {
        use team_console::db::schema::audit_entries;
        audit_entries::table
            .filter(audit_entries::action.eq("user.password_reset_requested"))
            .select((audit_entries::actor_email, audit_entries::details))
            .load(&mut app.conn())
            .unwrap()
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_deref(), Some("operator"));
    assert_eq!(entries[0].1["by_operator"], true);
    let report = app.deliver_mail(time::OffsetDateTime::now_utc()).await;
    assert_eq!(
        report.sent, 1,
        "only the notice of the change is mailed, not the link"
    );
}
