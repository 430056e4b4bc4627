//! The test harness: the real server on a random port over a fresh
//! database, and browsers (cookie-keeping clients that do not follow
//! redirects) to drive it.

pub mod api;
pub mod collector;
pub mod database;
pub mod pods;
pub mod smtp;
pub mod spend;
pub mod two_factor;

use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use team_console::Application;
use team_console::config::Settings;
use uuid::Uuid;

pub use database::Server;

pub struct TestApp {
    pub address: String,
    pub db_name: String,
    /// A superuser URL of the app's database, to arrange and inspect rows
    /// whatever the serving role may do (apps without a database of their
    /// own on the shared server: their serving URL).
    pub db_url: String,
    /// What the app serves with (the restricted serving role).
    pub serving_url: String,
    /// Where it serves /metrics, if its settings asked for it.
    pub metrics_address: Option<String>,
    /// How it sends mail (tests deliver it: `deliver_mail`).
    pub mail: team_console::config::MailSettings,
    /// Its secret key (which opens the sealed mail).
    pub secret_key: Vec<u8>,
    handle: team_console::Handle,
}

/// The SECRET_KEY of every test app (checkpoints are signed with a key
/// derived from it).
pub const SECRET_KEY: &[u8] = b"test secret key, at least 32 bytes long!";

pub fn test_settings(database_url: String) -> Settings {
    Settings {
        database_url,
        bind_addr: "127.0.0.1:0".into(),
        public_url: None,
        secret_key: SECRET_KEY.to_vec(),
        cookie_secure: None,
        trusted_proxy: None,
        database_pool_size: 4,
        // Cheap hashing: tests check behaviour, not hashing cost.
        argon2: argon2::Params::new(256, 1, 1, None).unwrap(),
        workers: Some(1),
        clock: team_console::clock::Clock::system(),
        metrics_addr: None,
        backup: None,
        // Tests sweep when they choose to (`spend::sweep`), by their clock.
        spend_sweep_interval: None,
        api_rate_limit: 600,
        audit_retention_days: 400,
        // Tests deliver mail when they choose to (`mail::deliver_due`),
        // into a folder of their own unless they set an SMTP server.
        mail: team_console::config::MailSettings {
            smtp_url: None,
            from: "Team Console <console@example.com>".into(),
            outbox_dir: std::env::temp_dir().join(format!("tc-outbox-{}", Uuid::new_v4().simple())),
            interval: None,
        },
        // Tests deliver audit entries when they choose to
        // (`streaming::deliver_due`); their collectors listen on 127.0.0.1.
        audit_stream: team_console::config::AuditStreamSettings {
            allow_private: true,
            interval: None,
        },
    }
}

/// Every log line the apps of this test run wrote (access logs included),
/// in the text format, so tests can check what never appears in them.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// The same lines in the JSON format (LOG_FORMAT=json), written by the
/// same subscriber.
static JSON_LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// A folder of a test's own under the temporary directory ("tc-{what}-…"),
/// removed however the test ends: a failed test used to leave its
/// cluster's 50 MB behind. Declare it before whatever runs in it (a
/// console, a cluster), so that it is dropped after them.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    /// The folder's path; nothing is created.
    pub fn new(what: &str) -> ScratchDir {
        ScratchDir(std::env::temp_dir().join(format!("tc-{what}-{}", Uuid::new_v4().simple())))
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for ScratchDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Every line the apps of this run logged, as LOG_FORMAT=json writes them.
pub fn json_logs() -> String {
    String::from_utf8_lossy(&JSON_LOGS.lock().unwrap()).into_owned()
}

/// Where the captured logs end now. With `logs_since`, a test reads only
/// what was written while it did something, without copying the whole
/// run's logs each time.
pub fn log_mark() -> usize {
    LOGS.lock().unwrap().len()
}

/// The log lines written since `mark` (by any app of the run).
pub fn logs_since(mark: usize) -> String {
    let logs = LOGS.lock().unwrap();
    String::from_utf8_lossy(&logs[mark.min(logs.len())..]).into_owned()
}

/// Where the JSON logs end now (see `json_logs_since`).
pub fn json_log_mark() -> usize {
    JSON_LOGS.lock().unwrap().len()
}

/// The JSON log lines written since `mark` (by any app of the run).
pub fn json_logs_since(mark: usize) -> String {
    let logs = JSON_LOGS.lock().unwrap();
    String::from_utf8_lossy(&logs[mark.min(logs.len())..]).into_owned()
}

/// Appends what the subscriber writes to one of the captures.
#[derive(Clone, Copy)]
struct LogWriter {
    to: &'static Mutex<Vec<u8>>,
    echo: bool,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.to.lock().unwrap().extend_from_slice(buf);
        if self.echo && std::env::var_os("TEST_LOG").is_some() {
            eprint!("{}", String::from_utf8_lossy(buf));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the apps' logs (info and up) in both formats, through the
/// layers the console logs with; TEST_LOG=1 also prints the text.
fn init_logs() {
    use team_console::logging::{LogFormat, layer};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let text = LogWriter {
            to: &LOGS,
            echo: true,
        };
        let json = LogWriter {
            to: &JSON_LOGS,
            echo: false,
        };
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(team_console::LOG_FILTER))
            .with(layer(LogFormat::Text, move || text, false))
            .with(layer(LogFormat::Json, move || json, false))
            .try_init();
    });
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let server = Server::get();
        let db_name = server.create_database();
        Self::spawn_with(test_settings(server.serving_url(&db_name)), db_name).await
    }

    /// An app with `settings`; `db_name`, when not empty, is its database on
    /// the shared server, dropped with the app.
    pub async fn spawn_with(settings: Settings, db_name: String) -> TestApp {
        init_logs();
        let serving_url = settings.database_url.clone();
        let mail = settings.mail.clone();
        let secret_key = settings.secret_key.clone();
        let db_url = if db_name.is_empty() {
            serving_url.clone()
        } else {
            Server::get().url(&db_name)
        };
        let app = Application::build(settings).expect("build the application");
        let port = app.port();
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            metrics_address,
            mail,
            secret_key,
            db_name,
            db_url,
            serving_url,
            handle,
        }
    }

    /// A new browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.address)
    }

    /// `team-console ARGS` against this app's database, as its operator
    /// (the owner's and the serving role's URLs, the app's secret key).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let urls = Server::get().urls(&self.db_name);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_team-console"));
        command
            .args(args)
            .env("DATABASE_URL", &urls.serving)
            .env("MIGRATION_DATABASE_URL", &urls.migration)
            .env(
                "SECRET_KEY",
                std::str::from_utf8(&self.secret_key).expect("the test key is text"),
            )
            .env("RUST_LOG", "error");
        command
    }

    /// A direct connection to this test's database (arrange and assert).
    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.db_url).expect("connect to the test database")
    }

    /// Signs a new user up through the form; returns their browser.
    pub async fn signed_up_user(&self, name: &str) -> TestUser {
        let browser = self.browser();
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let res = browser
            .post_form(
                "/sign-up",
                &[
                    ("email", email.as_str()),
                    ("display_name", name),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-up failed");
        let location = location(&res);
        let account_id = location
            .strip_prefix("/accounts/")
            .and_then(|id| Uuid::parse_str(id).ok())
            .expect("sign-up redirects to the personal account");
        let user_id = {
            use team_console::db::schema::users;
            users::table
                .filter(users::email.eq(&email))
                .select(users::id)
                .first::<Uuid>(&mut self.conn())
                .expect("user row")
        };
        TestUser {
            browser,
            email,
            user_id,
            personal_account_id: account_id,
        }
    }

    pub fn stop(&self) {
        drop(self.handle.stop(false));
    }

    /// Stops the app and its background work, and waits until it has.
    pub async fn shut_down(&self) {
        self.handle.stop(true).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if self.mail.smtp_url.is_none() {
            let _ = std::fs::remove_dir_all(&self.mail.outbox_dir);
        }
        if !self.db_name.is_empty() {
            Server::get().drop_database(&self.db_name);
        }
    }
}

/// A strong password every test user gets.
pub const PASSWORD: &str = "violet tractor banjo 7 harbour";

pub struct TestUser {
    pub browser: Browser,
    pub email: String,
    pub user_id: Uuid,
    pub personal_account_id: Uuid,
}

/// A cookie-keeping HTTP client that does not follow redirects and
/// remembers the last CSRF token it saw on a page.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    csrf: Arc<Mutex<Option<String>>>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            // No idle connection reuse: a request racing the server's
            // keep-alive close would fail for reasons the test is not about.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Browser {
            base: base.to_string(),
            client,
            jar,
            csrf: Arc::new(Mutex::new(None)),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The Cookie header this browser would send.
    pub fn cookie_header(&self) -> Option<String> {
        self.jar
            .cookies(&self.base.parse().unwrap())
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET failed")
    }

    /// GET and read the body, remembering the page's CSRF token.
    pub async fn get_page(&self, path: &str) -> (StatusCode, String) {
        let res = self.get(path).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        self.remember_csrf(&body);
        (status, body)
    }

    pub fn remember_csrf(&self, body: &str) {
        if let Some(token) = csrf_in(body) {
            *self.csrf.lock().unwrap() = Some(token);
        }
    }

    /// The CSRF token of this browser's session (fetched from a page if
    /// none was seen yet).
    pub async fn csrf(&self) -> String {
        if let Some(token) = self.csrf.lock().unwrap().clone() {
            return token;
        }
        self.get_page("/sign-in").await;
        self.csrf
            .lock()
            .unwrap()
            .clone()
            .expect("a CSRF token on /sign-in")
    }

    /// POSTs a form with this session's CSRF token added. A redirect after
    /// the post is not followed, but the token is refreshed when the
    /// session changes (sign-in issues a new one).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", token.as_str()));
        let res = self
            .client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .expect("POST failed");
        if ["/sign-in", "/sign-up", "/sign-out", "/sign-in/two-factor"].contains(&path) {
            *self.csrf.lock().unwrap() = None;
        }
        res
    }

    /// POSTs a form exactly as given (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST failed")
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form("/sign-in", &[("email", email), ("password", password)])
            .await
    }
}

pub fn csrf_in(body: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[track_caller]
pub fn assert_redirect_to(res: &reqwest::Response, expected: &str) {
    assert!(
        res.status().is_redirection(),
        "expected a redirect to {expected}, got {}",
        res.status()
    );
    assert_eq!(location(res), expected);
}

/// Audit actions recorded in this test's database, oldest first.
pub fn audit_actions(conn: &mut PgConnection) -> Vec<String> {
    use team_console::db::schema::audit_entries;
    audit_entries::table
        .order(audit_entries::id.asc())
        .select(audit_entries::action)
        .load(conn)
        .unwrap()
}

impl TestApp {
    /// Converts the user's personal account into a team through the form.
    pub async fn convert_to_team(&self, user: &TestUser, name: &str) -> Uuid {
        let id = user.personal_account_id;
        let res = user
            .browser
            .post_form(
                &format!("/accounts/{id}/convert"),
                &[("name", name), ("confirm", "yes")],
            )
            .await;
        assert_redirect_to(&res, &format!("/accounts/{id}/members"));
        id
    }

    /// Arrange: makes `user_id` a member of the account with `role`.
    pub fn add_member(&self, account_id: Uuid, user_id: Uuid, role: team_console::authz::Role) {
        use team_console::db::schema::memberships;
        diesel::insert_into(memberships::table)
            .values((
                memberships::account_id.eq(account_id),
                memberships::user_id.eq(user_id),
                memberships::role.eq(role.as_str()),
            ))
            .execute(&mut self.conn())
            .unwrap();
    }

    /// Arrange: a new team owned by `owner` (an Admin), inserted directly.
    pub fn insert_team(&self, owner: Uuid, name: &str) -> Uuid {
        use team_console::db::schema::accounts;
        let id = Uuid::new_v4();
        diesel::insert_into(accounts::table)
            .values((
                accounts::id.eq(id),
                accounts::kind.eq("team"),
                accounts::name.eq(name),
                accounts::owner_id.eq(owner),
            ))
            .execute(&mut self.conn())
            .unwrap();
        self.add_member(id, owner, team_console::authz::Role::Admin);
        id
    }

    /// The role `user_id` has in the account, if any.
    pub fn role_of(&self, account_id: Uuid, user_id: Uuid) -> Option<String> {
        use team_console::db::schema::memberships;
        memberships::table
            .find((account_id, user_id))
            .select(memberships::role)
            .first(&mut self.conn())
            .optional()
            .unwrap()
    }
}

/// A team whose owner is an Admin, with one member of each other role.
pub struct Team {
    pub id: Uuid,
    pub admin: TestUser,
    pub basic: TestUser,
    pub billing: TestUser,
    pub dev: TestUser,
}

impl Team {
    /// The Billing member adds each amount (dollars) to the balance: an
    /// audit entry each.
    pub async fn add_funds(&self, amounts: &[&str]) {
        for amount in amounts {
            self.billing
                .browser
                .post_form(
                    &format!("/accounts/{}/billing/funds", self.id),
                    &[("amount", amount)],
                )
                .await;
        }
    }
}

impl TestApp {
    /// "Acme GPU", converted through the form, with a Basic, a Billing and
    /// a Dev member besides its Admin.
    pub async fn team(&self) -> Team {
        use team_console::authz::Role;
        let admin = self.signed_up_user("Alice Admin").await;
        let id = self.convert_to_team(&admin, "Acme GPU").await;
        let basic = self.signed_up_user("Bob Basic").await;
        let billing = self.signed_up_user("Bea Billing").await;
        let dev = self.signed_up_user("Dan Dev").await;
        self.add_member(id, basic.user_id, Role::Basic);
        self.add_member(id, billing.user_id, Role::Billing);
        self.add_member(id, dev.user_id, Role::Dev);
        Team {
            id,
            admin,
            basic,
            billing,
            dev,
        }
    }
}

/// Invite links shown on a page (the read-only fields of pending invites).
pub fn invite_links(body: &str) -> Vec<String> {
    body.split("readonly value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|v| v.contains("/invites/"))
        .map(str::to_owned)
        .collect()
}

impl TestApp {
    /// An Admin creates an invite through the form; returns its link.
    pub async fn create_invite(
        &self,
        admin: &Browser,
        team: Uuid,
        role: &str,
        email: &str,
    ) -> String {
        let res = admin
            .post_form(
                &format!("/accounts/{team}/invites"),
                &[("role", role), ("email", email), ("lifetime_hours", "168")],
            )
            .await;
        assert_redirect_to(&res, &format!("/accounts/{team}/members#invites"));
        let (_, body) = admin.get_page(&format!("/accounts/{team}/members")).await;
        invite_links(&body)
            .into_iter()
            .next()
            .expect("the new invite's link")
    }

    /// Opens an invite link in `browser` (which keeps it in its session).
    pub async fn open_invite(&self, browser: &Browser, link: &str) -> reqwest::Response {
        let path = link
            .strip_prefix(&self.address)
            .expect("link built from PUBLIC_URL");
        browser.get(path).await
    }
}

impl TestApp {
    /// An app with a manual clock (at `pods::T0`) that mails through `smtp`.
    pub async fn spawn_mailing(
        smtp: &smtp::SmtpServer,
    ) -> (TestApp, team_console::clock::ClockHand) {
        let server = Server::get();
        let db_name = server.create_database();
        let mut settings = test_settings(server.serving_url(&db_name));
        let (clock, hand) = team_console::clock::Clock::manual(pods::T0);
        settings.clock = clock;
        settings.mail.smtp_url = Some(smtp.url());
        (TestApp::spawn_with(settings, db_name).await, hand)
    }

    /// Sends the mail due at `now`, as the console's sender does every
    /// few seconds (off in tests), off the test's thread.
    pub async fn deliver_mail(
        &self,
        now: time::OffsetDateTime,
    ) -> team_console::mail::DeliveryReport {
        let (url, mail, secret) = (
            self.db_url.clone(),
            self.mail.clone(),
            self.secret_key.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let sender = team_console::mail::Sender::new(
                mail.smtp_url.as_deref(),
                &mail.from,
                &mail.outbox_dir,
                &secret,
            )
            .expect("the test's mail settings");
            let mut conn = PgConnection::establish(&url).expect("connect to the test database");
            team_console::mail::deliver_due(&mut conn, &sender, now).expect("deliver mail")
        })
        .await
        .expect("the delivery thread")
    }
}

/// A refused POST answers post/redirect/get: 303 to `to`, whose page then
/// shows the reason (an error flash). Returns that page.
pub async fn assert_refused_to(browser: &Browser, res: reqwest::Response, to: &str) -> String {
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "a refused POST redirects: {}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(location(&res), to);
    let path = to.split('#').next().unwrap();
    let (status, body) = browser.get_page(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("flash flash-error"), "no error flash: {body}");
    body
}
