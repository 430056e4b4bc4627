//! End to end in real headless Chromium (through chromedriver): an Admin
//! invites a Dev and the Dev joins from the link in a second browser.
//! Skipped, loudly, when Chromium or chromedriver is missing — unless
//! REQUIRE_BROWSER_TESTS=1 (set by .ci/run), which makes that a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::support::{PASSWORD, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver {
    child: Child,
    url: String,
    /// The browsers' profiles, one folder each, removed with the driver.
    profiles: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// chromedriver on a free port, or None (after saying why) when the
/// browser is not installed and browser tests are not required.
fn start_driver() -> Option<Driver> {
    let driver = find_program(&["chromedriver"]);
    let (Some(driver), true) = (driver, Path::new(CHROMIUM).exists()) else {
        let message =
            "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)";
        if std::env::var("REQUIRE_BROWSER_TESTS").as_deref() == Ok("1") {
            panic!("{message}, and REQUIRE_BROWSER_TESTS=1");
        }
        eprintln!("\n!!!!!!!! SKIPPING BROWSER TEST: {message} !!!!!!!!\n");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profiles: std::env::temp_dir()
            .join(format!("tc-chromium-{}", uuid::Uuid::new_v4().simple())),
    })
}

/// A fresh headless browser session with its own profile.
async fn browser(driver: &Driver) -> Client {
    let profile = driver
        .profiles
        .join(uuid::Uuid::new_v4().simple().to_string());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn screenshot(client: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

async fn fill(client: &Client, id: &str, value: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The page's text once it contains `needle` (pages load after clicks).
async fn wait_for_text(client: &Client, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let text = match client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return text;
        }
        if started.elapsed() > Duration::from_secs(10) {
            panic!("page never showed {needle:?}; it shows:\n{text}");
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn an_admin_invites_a_dev_who_signs_up_from_the_link_and_joins() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let admin = browser(&driver).await;

    // The Admin signs up and converts their account into a team.
    admin
        .goto(&format!("{}/sign-up", app.address))
        .await
        .unwrap();
    fill(&admin, "email", "alice@acme.example").await;
    fill(&admin, "display_name", "Alice Admin").await;
    fill(&admin, "password", PASSWORD).await;
    click(&admin, "form button[type=submit].primary").await;
    wait_for_text(&admin, "Welcome to Team Console, Alice Admin.").await;
    screenshot(&admin, "01-dashboard").await;
    admin
        .find(Locator::LinkText("Convert to Team Account"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&admin, "name", "Acme GPU").await;
    click(&admin, "form button[type=submit].primary").await;
    wait_for_text(&admin, "you become its first Admin").await;
    click(&admin, "form button[type=submit].primary").await;
    wait_for_text(&admin, "Acme GPU is now a team account").await;

    // Invite New Member, as Dev.
    admin
        .find(Locator::LinkText("Invite New Member"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&admin, "Link expires after").await;
    click(&admin, "input[name=role][value=dev]").await;
    screenshot(&admin, "02-invite-form").await;
    click(&admin, "form button[type=submit].primary").await;
    wait_for_text(&admin, "Invite created with the Dev role.").await;
    let field = admin
        .find(Locator::Css(".copy-field input[readonly]"))
        .await
        .unwrap();
    let link = field.prop("value").await.unwrap().unwrap();
    assert!(
        link.starts_with(&format!("{}/invites/", app.address)),
        "{link}"
    );
    click(&admin, "button[data-copy-target]").await;
    let button = admin
        .find(Locator::Css("button[data-copy-target]"))
        .await
        .unwrap();
    let label = button.text().await.unwrap();
    assert!(
        label == "Copied" || label == "Press Ctrl+C to copy",
        "copy feedback: {label}"
    );
    screenshot(&admin, "03-pending-invites").await;
    let copied = admin
        .execute(
            "return navigator.clipboard.readText().catch(() => null);",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    if let Some(copied) = copied {
        assert_eq!(copied, link, "the clipboard holds the link");
    }
    assert_eq!(
        field.prop("value").await.unwrap().as_deref(),
        Some(link.as_str()),
        "the field still holds the link"
    );

    // A second, separate browser opens the link, signs up, joins.
    let invitee = browser(&driver).await;
    invitee.goto(&link).await.unwrap();
    let url = invitee.current_url().await.unwrap();
    assert_eq!(url.path(), "/invite", "the token left the address bar");
    let text = wait_for_text(
        &invitee,
        "Alice Admin invites you to join the team Acme GPU as",
    )
    .await;
    let role = invitee
        .find(Locator::Css(".invite-card .badge"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(role, "Dev", "{text}");
    screenshot(&invitee, "04-invite-landing").await;
    invitee
        .find(Locator::LinkText("Sign up to join"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&invitee, "Create your account").await;
    fill(&invitee, "email", "dan@acme.example").await;
    fill(&invitee, "display_name", "Dan Dev").await;
    fill(&invitee, "password", PASSWORD).await;
    click(&invitee, "form button[type=submit].primary").await;
    wait_for_text(&invitee, "Join Team").await;
    assert_eq!(
        invitee.current_url().await.unwrap().path(),
        "/invite",
        "back on the invite"
    );
    click(&invitee, "form[action='/invite/accept'] button").await;

    wait_for_text(&invitee, "Welcome to Acme GPU! You joined as Dev.").await;
    let nav = invitee
        .find(Locator::Css("nav.account-nav"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(nav.contains("Pods"), "{nav}");
    assert!(!nav.contains("Billing"), "{nav}");
    screenshot(&invitee, "05-joined-as-dev").await;

    // The account switcher lists both accounts and closes with Escape.
    let summary = invitee
        .find(Locator::Css("details.switcher summary"))
        .await
        .unwrap();
    summary.click().await.unwrap();
    let menu = invitee
        .find(Locator::Css("ul.switcher-list"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        menu.contains("Acme GPU") && menu.contains("Personal account"),
        "{menu}"
    );
    screenshot(&invitee, "06-switcher").await;
    summary
        .send_keys(&char::from(fantoccini::key::Key::Escape).to_string())
        .await
        .unwrap();
    let open = invitee
        .execute(
            "return document.querySelector('details.switcher').open;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        open,
        serde_json::Value::Bool(false),
        "Escape closes the switcher"
    );

    // The Admin sees the join in the audit log and narrows the log to it
    // by clicking the action cell (the page's links are query-only).
    admin
        .find(Locator::LinkText("Audit logs"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&admin, "Times are in UTC").await;
    click(&admin, "a[href='?action=member.joined']").await;
    let started = Instant::now();
    let url = loop {
        let url = admin.current_url().await.unwrap();
        if url.query().is_some() || started.elapsed() > Duration::from_secs(10) {
            break url;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        url.path().ends_with("/audit") && url.query() == Some("action=member.joined"),
        "{url}"
    );
    let chosen = admin
        .execute("return document.getElementById('action').value;", vec![])
        .await
        .unwrap();
    assert_eq!(chosen, serde_json::Value::from("member.joined"));
    let rows = admin
        .find_all(Locator::Css("ol.audit-log > li"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the join");
    let sentence = rows[0].text().await.unwrap();
    assert!(
        sentence.contains("Dan Dev joined with an invite from Alice Admin (Dev)"),
        "{sentence}"
    );
    screenshot(&admin, "07-audit-filtered").await;

    // The team's pages fit the screen, wide and on a phone: no sideways
    // scrolling, and Export CSV stays reachable.
    let team = url.path().trim_end_matches("/audit").to_string();
    for (width, height) in [(1280, 900), (390, 844)] {
        admin.set_window_size(width, height).await.unwrap();
        for page in ["audit", "members", "pods", "billing"] {
            admin
                .goto(&format!("{}{team}/{page}", app.address))
                .await
                .unwrap();
            wait_for_text(&admin, "Acme GPU").await;
            let fit = admin
                .execute(
                    "return [document.documentElement.scrollWidth, window.innerWidth];",
                    vec![],
                )
                .await
                .unwrap();
            let (scroll, inner) = (fit[0].as_i64().unwrap(), fit[1].as_i64().unwrap());
            assert!(inner <= width as i64, "the window is {inner} px wide");
            assert!(scroll <= inner, "{page} at {width} px: {scroll} > {inner}");
            screenshot(&admin, &format!("08-{page}-{width}")).await;
        }
    }
    admin
        .goto(&format!("{}{team}/audit", app.address))
        .await
        .unwrap();
    wait_for_text(&admin, "Export CSV").await;
    let reachable = admin
        .execute(
            "const r = document.querySelector('a[href*=\"audit.csv\"]').getBoundingClientRect(); \
             return r.width > 0 && r.right <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        reachable,
        serde_json::Value::Bool(true),
        "Export CSV on a phone"
    );

    admin.close().await.unwrap();
    invitee.close().await.unwrap();
}

/// Issue 14, item 1: an invite meant for an email strands no one. A
/// person signed in with another email opens it, signs out and continues
/// as the invite's email (the invite is kept), and the sign-up form names
/// the team and role with the email filled in.
#[actix_web::test]
async fn an_invite_for_an_email_takes_a_person_signed_in_as_another_to_joining() {
    let Some(driver) = start_driver() else { return };
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
    let dave = browser(&driver).await;

    // Dave first signs up with his personal email, then opens the link.
    dave.goto(&format!("{}/sign-up", app.address))
        .await
        .unwrap();
    fill(&dave, "email", "dave@home.example").await;
    fill(&dave, "display_name", "Dave").await;
    fill(&dave, "password", PASSWORD).await;
    click(&dave, "form button[type=submit].primary").await;
    wait_for_text(&dave, "Welcome to Team Console, Dave.").await;
    dave.goto(&link).await.unwrap();
    wait_for_text(&dave, "This invite is for dave.billing@acme.example").await;
    screenshot(&dave, "14-invite-other-email").await;
    click(&dave, "form[action='/sign-out'] button.primary").await;

    // Signed out, still on the invite.
    wait_for_text(&dave, "You are signed out.").await;
    assert_eq!(dave.current_url().await.unwrap().path(), "/invite");
    dave.find(Locator::LinkText("Sign up to join"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = wait_for_text(&dave, "Create your account to join Acme GPU").await;
    assert!(text.contains("You are joining Acme GPU as"), "{text}");
    let role = dave
        .find(Locator::Css(".joining .badge"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(role, "Billing");
    let email = dave
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(email.as_deref(), Some("dave.billing@acme.example"));
    screenshot(&dave, "14-sign-up-to-join").await;
    fill(&dave, "display_name", "Dave Billing").await;
    fill(&dave, "password", PASSWORD).await;
    click(&dave, "form button[type=submit].primary").await;
    wait_for_text(&dave, "Join Team").await;
    click(&dave, "form[action='/invite/accept'] button").await;
    wait_for_text(&dave, "Welcome to Acme GPU! You joined as Billing.").await;
    dave.close().await.unwrap();
}

/// Signs `client` in as `email` through the form.
async fn sign_in_as(client: &Client, app: &TestApp, email: &str) {
    client
        .goto(&format!("{}/sign-in", app.address))
        .await
        .unwrap();
    fill(client, "email", email).await;
    fill(client, "password", PASSWORD).await;
    click(client, "form button[type=submit].primary").await;
    wait_for_text(client, "Sign out").await;
}

/// Issue 14, item 4: at a phone's 390 px no signed-in page scrolls
/// sideways, and on every table each row's actions are on screen.
#[actix_web::test]
async fn no_signed_in_page_scrolls_sideways_on_a_phone() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 10_000);
    let pod = app.insert_pod(team.id, "a-rather-long-pod-name-for-a-phone-7");
    let stopped = app.insert_pod(team.id, "train-8");
    // A failing stream destination with a long URL and error: the status
    // panel and its buttons must fit too.
    let stream = app.insert_stream_destination(
        team.id,
        team.admin.user_id,
        "https://collector.logs.example.com/ingest/team-console/a-rather-long-path?token=abcdefghijklmnopqrstuvwxyz",
        "a shared secret for the phone test",
    );
    {
        use diesel::prelude::*;
        use team_console::db::schema::audit_stream_destinations as d;
        let now = time::OffsetDateTime::now_utc();
        diesel::update(d::table.find(stream))
            .set((
                d::failures.eq(3),
                d::last_error.eq("The request failed: io: Connection refused (os error 111) while connecting to collector.logs.example.com."),
                d::last_error_at.eq(now),
                d::next_attempt_at.eq(now + time::Duration::seconds(16)),
            ))
            .execute(&mut app.conn())
            .unwrap();
    }
    app.create_invite(
        &team.admin.browser,
        team.id,
        "dev",
        "someone.with.a.long.address@acme.example",
    )
    .await;
    let t = format!("/accounts/{}", team.id);
    let admin_pages = [
        "/".to_string(),
        t.clone(),
        format!("{t}/members"),
        format!("{t}/members/{}/remove", team.dev.user_id),
        format!("{t}/invites/new"),
        format!("{t}/leave"),
        format!("{t}/pods"),
        format!("{t}/pods/{pod}/connect"),
        format!("{t}/pods/{stopped}/terminate"),
        format!("{t}/billing"),
        format!("{t}/billing/usage"),
        format!("{t}/billing/spend"),
        format!("{t}/settings"),
        format!("{t}/settings/api-keys"),
        format!("{t}/settings/audit-streaming"),
        format!("{t}/delete"),
        format!("{t}/audit"),
        format!("/accounts/{}", team.admin.personal_account_id),
        "/profile".to_string(),
        "/profile/two-factor".to_string(),
        "/profile/delete".to_string(),
        "/no-such-page".to_string(),
    ];
    let dev_pages = [
        t.clone(),
        format!("{t}/members"),
        format!("{t}/pods"),
        format!("{t}/billing"),
        format!("{t}/settings"),
    ];
    // A started Pod, so the Pods page shows Stop and a running time.
    team.dev
        .browser
        .post_form(&format!("{t}/pods/{pod}/start"), &[])
        .await;

    for (user, pages) in [(&team.admin, &admin_pages[..]), (&team.dev, &dev_pages[..])] {
        let client = browser(&driver).await;
        client.set_window_size(390, 844).await.unwrap();
        sign_in_as(&client, &app, &user.email).await;
        for page in pages {
            client
                .goto(&format!("{}{page}", app.address))
                .await
                .unwrap();
            wait_for_text(&client, "Team Console").await;
            let fit = client
                .execute(
                    "const out = [...document.querySelectorAll('table a, table button, table select')] \
                       .filter(e => { const r = e.getBoundingClientRect(); \
                         return r.width === 0 || r.right > window.innerWidth || r.left < 0; }) \
                       .map(e => e.textContent.trim()); \
                     const wide = [...document.querySelectorAll('body *')] \
                       .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
                       .slice(-3).map(e => e.tagName + '.' + e.className); \
                     return [document.documentElement.scrollWidth, window.innerWidth, out, wide];",
                    vec![],
                )
                .await
                .unwrap();
            let (scroll, inner) = (fit[0].as_i64().unwrap(), fit[1].as_i64().unwrap());
            assert!(inner <= 390, "the window is {inner} px wide");
            let name = page.replace('/', "_");
            if scroll > inner || fit[2].as_array().is_some_and(|a| !a.is_empty()) {
                screenshot(&client, &format!("14-phone{name}")).await;
            }
            assert!(
                scroll <= inner,
                "{page} at 390 px: {scroll} > {inner}, too wide: {}",
                fit[3]
            );
            assert_eq!(
                fit[2],
                serde_json::json!([]),
                "{page}: table actions off screen at 390 px"
            );
        }
        client.close().await.unwrap();
    }
}

/// Issue 14, item 11: after a refused submit, focus is on a summary of the
/// errors at the top of the form, which links to each field.
#[actix_web::test]
async fn a_refused_form_focuses_a_summary_linking_to_each_field() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let client = browser(&driver).await;
    client
        .goto(&format!("{}/sign-up", app.address))
        .await
        .unwrap();
    fill(&client, "email", "not-an-email").await;
    fill(&client, "display_name", "Eve").await;
    fill(&client, "password", "short").await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "There are 2 problems").await;
    let focused = client
        .execute(
            "const a = document.activeElement; \
             return [a.className, [...a.querySelectorAll('a')].map(l => l.getAttribute('href'))];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused[0], "error-summary");
    assert_eq!(focused[1], serde_json::json!(["#email", "#password"]));
    screenshot(&client, "14-error-summary").await;
    client.close().await.unwrap();
}

/// Issue 15: a person enrols an authenticator in Chromium by reading the
/// key from the set-up page (as typing it into an app would), sees the
/// QR code drawn in the page and their recovery codes, then signs in with
/// a code.
#[actix_web::test]
async fn a_user_enrols_an_authenticator_and_signs_in_with_a_code() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let client = browser(&driver).await;
    let code = |secret: &[u8], steps: i64| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp() + steps * 30;
        team_console::accounts::two_factor::code_at(secret, now as u64, 6)
    };

    client
        .goto(&format!("{}/sign-up", app.address))
        .await
        .unwrap();
    fill(&client, "email", "tess@acme.example").await;
    fill(&client, "display_name", "Tess Totp").await;
    fill(&client, "password", PASSWORD).await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "Welcome to Team Console, Tess Totp.").await;

    // The name in the header leads to the profile.
    click(&client, "a.user-name").await;
    wait_for_text(&client, "Your profile").await;
    client
        .find(Locator::LinkText("Set up two-factor authentication"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "Can't scan it?").await;
    let modules = client
        .execute(
            "return document.querySelectorAll('svg.qr rect').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(modules.as_u64().unwrap() > 50, "a QR code: {modules}");
    screenshot(&client, "20-two-factor-setup").await;
    let key = client
        .find(Locator::Id("totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = totp_rs::Secret::Encoded(key.split_whitespace().collect())
        .to_bytes()
        .expect("a base32 key");
    fill(&client, "code", &code(&secret, 0)).await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "Your recovery codes").await;
    let codes = client
        .find(Locator::Id("recovery-codes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(codes.lines().filter(|l| !l.trim().is_empty()).count(), 10);
    screenshot(&client, "21-recovery-codes").await;

    // Signing in now takes a code.
    click(&client, "form[action='/sign-out'] button").await;
    wait_for_text(&client, "You are signed out.").await;
    fill(&client, "email", "tess@acme.example").await;
    fill(&client, "password", PASSWORD).await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "enter the code it shows").await;
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/sign-in/two-factor"
    );
    screenshot(&client, "22-code-page").await;
    // The next step's code: the one used to confirm cannot serve again.
    fill(&client, "code", &code(&secret, 1)).await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "Your personal account").await;
    click(&client, "a.user-name").await;
    let profile = wait_for_text(&client, "Sessions").await;
    assert!(
        profile.contains("Recovery codes left: 10 of 10"),
        "{profile}"
    );
    assert!(profile.contains("Chrome on Linux"), "{profile}");
    screenshot(&client, "23-profile").await;

    client.close().await.unwrap();
}

/// Spend controls in a real browser: the quota and limit inputs sit in
/// table cells outside their forms (`form=` attributes), which only a
/// browser submits; the page fits a phone.
#[actix_web::test]
async fn an_admin_gives_devs_a_limit_and_an_a100_quota_from_spend_controls() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let admin = browser(&driver).await;
    admin
        .goto(&format!("{}/sign-in", app.address))
        .await
        .unwrap();
    fill(&admin, "email", &team.admin.email).await;
    fill(&admin, "password", PASSWORD).await;
    click(&admin, "form button[type=submit].primary").await;
    wait_for_text(&admin, "Acme GPU").await;

    // Billing, then Spend controls.
    admin
        .goto(&format!("{}/accounts/{}/billing", app.address, team.id))
        .await
        .unwrap();
    admin
        .find(Locator::LinkText("Spend controls"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&admin, "Monthly limit per role").await;
    fill(&admin, "limit_dev", "500").await;
    click(&admin, "form[action$='/billing/spend/roles'] button").await;
    wait_for_text(&admin, "One role's monthly limit was changed.").await;
    fill(&admin, "quota-dev-a100-80gb", "4").await;
    click(&admin, "form#quota-dev button").await;
    wait_for_text(&admin, "One of the Dev role's GPU quotas was changed.").await;
    let member_limit = format!("limit-{}-limit", team.dev.user_id);
    fill(&admin, &member_limit, "800").await;
    click(&admin, &format!("form#limit-{} button", team.dev.user_id)).await;
    let text = wait_for_text(&admin, "Dan Dev's own monthly limit is now $800.00.").await;
    assert!(text.contains("$800.00 (own)"), "{text}");
    screenshot(&admin, "09-spend-controls").await;

    use diesel::prelude::*;
    use team_console::db::schema::role_gpu_quotas;
    let quota: i32 = role_gpu_quotas::table
        .select(role_gpu_quotas::max_gpus)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(quota, 4);

    // The page fits a phone: its tables scroll inside their frames.
    admin.set_window_size(390, 844).await.unwrap();
    for page in ["billing/spend", "billing/usage"] {
        admin
            .goto(&format!("{}/accounts/{}/{page}", app.address, team.id))
            .await
            .unwrap();
        wait_for_text(&admin, "Acme GPU").await;
        let fit = admin
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (fit[0].as_i64().unwrap(), fit[1].as_i64().unwrap());
        assert!(scroll <= inner, "{page} on a phone: {scroll} > {inner}");
    }
    admin.close().await.unwrap();
}

/// A person who forgot their password asks for a link from the sign-in
/// page, reads it in the mail the test SMTP server received, and sets a
/// new password in the browser.
#[actix_web::test]
async fn a_person_resets_a_forgotten_password_from_the_mailed_link() {
    let Some(driver) = start_driver() else { return };
    let smtp = crate::support::smtp::SmtpServer::start();
    let (app, hand) = TestApp::spawn_mailing(&smtp).await;
    let user = app.signed_up_user("Fay Forgot").await;
    let client = browser(&driver).await;

    client
        .goto(&format!("{}/sign-in", app.address))
        .await
        .unwrap();
    client
        .find(Locator::LinkText("Forgot password?"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "Forgot your password?").await;
    fill(&client, "email", &user.email).await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "is on its way").await;
    screenshot(&client, "30-forgot-password-sent").await;

    app.deliver_mail(hand.now()).await;
    let link = smtp
        .to(&user.email)
        .first()
        .and_then(|m| m.link(&format!("{}/reset-password/", app.address)))
        .expect("the reset link in the mail");
    client.goto(&link).await.unwrap();
    wait_for_text(&client, "Choose a new password").await;
    fill(&client, "password", "short").await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "Use at least 12 characters").await;
    let new_password = "saffron kettle orbit 93 lantern";
    fill(&client, "password", new_password).await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "Your password is changed").await;
    screenshot(&client, "31-password-reset").await;

    click(&client, "a.button.primary[href='/sign-in']").await;
    wait_for_text(&client, "Sign in").await;
    fill(&client, "email", &user.email).await;
    fill(&client, "password", new_password).await;
    click(&client, "form button[type=submit].primary").await;
    wait_for_text(&client, "Your personal account").await;

    client.close().await.unwrap();
}
