//! Backups as an operator takes them: `team-console backup` while the
//! console serves, `team-console restore` on a new machine (a fresh data
//! folder or another server's database), and scheduled backups that one
//! console at a time takes and rotates. The commands are the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use reqwest::StatusCode;
use team_console::backup::{Schedule, files};
use team_console::db::local_cluster::{ClusterOptions, LocalCluster};
use team_console::db::{self, roles};

use crate::resilience::Console;
use crate::support::database::OWNER_ROLE;
use crate::support::{
    Browser, PASSWORD, ScratchDir, Server, TestApp, assert_redirect_to, location, test_settings,
};

/// Runs `team-console ARGS` with exactly the database settings in `env`;
/// returns whether it succeeded, and what it printed.
fn cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_team-console"));
    for var in [
        "DATABASE_URL",
        "MIGRATION_DATABASE_URL",
        "DATA_DIR",
        "SECRET_KEY",
        "LOG_FORMAT",
        "METRICS_ADDR",
        "BACKUP_DIR",
        "BACKUP_EVERY",
        "BACKUP_KEEP",
        "RUST_BACKTRACE",
    ] {
        command.env_remove(var);
    }
    command
        .env("RUST_LOG", "info")
        .args(args)
        .envs(env.iter().copied());
    let output = command.output().expect("run team-console");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

fn temp_dir(what: &str) -> ScratchDir {
    let dir = ScratchDir::new(what);
    std::fs::create_dir_all(&*dir).unwrap();
    dir
}

/// The one backup the console wrote into `dir`.
fn only_backup(dir: &Path) -> PathBuf {
    let found = files::backups_in(dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

/// A superuser URL of the console's database in the local cluster of `data_dir`.
fn local_url(data_dir: &Path, user: &str) -> String {
    format!(
        "postgres://{user}@/team_console?host={}&port=5432",
        data_dir.join("postgres/run").display()
    )
}

/// Signs a new user up on the console at `browser`, converts their account
/// to a team "Acme GPU"; returns the email and the team's id.
async fn admin_of_a_team(browser: &Browser) -> (String, String) {
    let email = format!("ada-{}@example.com", uuid::Uuid::new_v4().simple());
    let res = browser
        .post_form(
            "/sign-up",
            &[
                ("email", email.as_str()),
                ("display_name", "Ada Admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let team = location(&res).trim_start_matches("/accounts/").to_string();
    let res = browser
        .post_form(
            &format!("/accounts/{team}/convert"),
            &[("name", "Acme GPU"), ("confirm", "yes")],
        )
        .await;
    assert_redirect_to(&res, &format!("/accounts/{team}/members"));
    (email, team)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

/// The story of the README: back up a console that is busy, lose the
/// machine, restore on a new one with two commands, carry on. Everyone is
/// still signed in, pending invite links still work, and every change
/// acknowledged before the backup began is there, each with its audit
/// entry; what came in during the backup is there whole or not at all.
#[actix_web::test]
async fn a_backup_taken_while_writing_restores_on_a_new_machine_with_every_acknowledged_change() {
    let (old_machine, new_machine, backups) =
        (temp_dir("old"), temp_dir("new"), temp_dir("backups"));
    let console = Console::start(&old_machine, &[]);
    let alice = Browser::new(&console.address);
    let (email, team) = admin_of_a_team(&alice).await;
    let res = alice
        .post_form(
            &format!("/accounts/{team}/invites"),
            &[("role", "dev"), ("email", ""), ("lifetime_hours", "168")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, members) = alice.get_page(&format!("/accounts/{team}/members")).await;
    let link = crate::support::invite_links(&members).remove(0);
    let invite_path = link.strip_prefix(&console.address).unwrap().to_string();

    // A stream of writes: $1, $2, $3… added one after the other.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (alice, team) = (alice.clone(), team.clone());
        let (acknowledged, writing) = (acknowledged.clone(), writing.clone());
        actix_web::rt::spawn(async move {
            let mut dollars = 1;
            while writing.load(Ordering::SeqCst) && dollars <= 400 {
                let res = alice
                    .post_form(
                        &format!("/accounts/{team}/billing/funds"),
                        &[("amount", dollars.to_string().as_str())],
                    )
                    .await;
                assert_eq!(res.status(), StatusCode::SEE_OTHER);
                acknowledged.store(dollars, Ordering::SeqCst);
                dollars += 1;
            }
        })
    };
    while acknowledged.load(Ordering::SeqCst) < 5 {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    // Act: back up while the writes go on, then restore on the new machine.
    let before_backup = acknowledged.load(Ordering::SeqCst);
    let out = backups.to_string_lossy().into_owned();
    let data_dir = old_machine.to_string_lossy().into_owned();
    let (ok, printed) = actix_web::rt::task::spawn_blocking(move || {
        cli(&["backup", "--out", &out], &[("DATA_DIR", &data_dir)])
    })
    .await
    .unwrap();
    assert!(ok, "{printed}");
    let during_backup = acknowledged.load(Ordering::SeqCst) - before_backup;
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    writing.store(false, Ordering::SeqCst);
    writer.await.unwrap();
    let file = only_backup(&backups);
    drop(console);
    let (ok, printed) = cli(
        &["restore", &file.to_string_lossy()],
        &[("DATA_DIR", &new_machine.to_string_lossy())],
    );
    assert!(ok, "{printed}");
    let console = Console::start(&new_machine, &[]);

    // Assert: Alice's session goes on, on the new machine.
    let again = Browser::new(&console.address);
    let cookie = alice.cookie_header().expect("Alice's session cookie");
    again.jar.add_cookie_str(
        &format!("{cookie}; Path=/"),
        &console.address.parse().unwrap(),
    );
    let (status, billing) = again.get_page(&format!("/accounts/{team}/billing")).await;
    assert_eq!(status, StatusCode::OK, "still signed in");
    let mut conn = PgConnection::establish(&local_url(&new_machine, "postgres")).unwrap();
    #[derive(QueryableByName)]
    struct Amount {
        #[diesel(sql_type = BigInt)]
        cents: i64,
    }
    let amounts: Vec<i64> = diesel::sql_query(
        "SELECT amount_cents AS cents FROM billing_transactions ORDER BY amount_cents",
    )
    .load::<Amount>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|a| a.cents)
    .collect();
    let restored = amounts.len();
    assert!(
        restored >= before_backup,
        "{restored} of the {before_backup} writes acknowledged before the backup ({during_backup} came during it)"
    );
    let expected: Vec<i64> = (1..=restored as i64).map(|d| d * 100).collect();
    assert_eq!(amounts, expected, "a prefix of the writes, none torn");
    let balance = (restored * (restored + 1) / 2) as i64 * 100;
    let balance = team_console::format::money(balance);
    assert!(billing.contains(&balance), "the balance shows: {balance}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM audit_entries WHERE action = 'billing.funds_added'"
        ),
        restored as i64,
        "each change with its audit entry"
    );
    for action in ["user.signed_up", "account.converted", "invite.created"] {
        let sql = format!("SELECT count(*) AS n FROM audit_entries WHERE action = '{action}'");
        assert_eq!(count(&mut conn, &sql), 1, "{action}");
    }
    let (status, audit) = again.get_page(&format!("/accounts/{team}/audit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(audit.contains("Acme GPU"), "the audit log reads as before");
    // The invite link sent before the machine was lost still opens.
    let invitee = Browser::new(&console.address);
    let res = invitee.get(&invite_path).await;
    assert_redirect_to(&res, "/invite");
    let (status, landing) = invitee.get_page("/invite").await;
    assert_eq!(status, StatusCode::OK);
    assert!(landing.contains("Join Acme GPU"), "{landing}");
    let res = Browser::new(&console.address)
        .sign_in(&email, PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the password too");

    drop(conn);
    drop(console);
}

/// A database at the schema of an older console: every migration but the
/// last, run as the owner role, the serving role granted.
/// Drops the test's own database when the test ends (passed or not).
struct DroppedAtEnd(String);

impl Drop for DroppedAtEnd {
    fn drop(&mut self) {
        Server::get().drop_database(&self.0);
    }
}

fn older_database(server: &Server) -> String {
    use diesel::migration::MigrationSource;
    use diesel_migrations::MigrationHarness;
    let name = format!("tc_older_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::establish(&server.url("postgres")).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
        .execute(&mut admin)
        .unwrap();
    let urls = server.urls(&name);
    let mut owner = PgConnection::establish(&urls.migration).unwrap();
    let mut migrations = MigrationSource::<diesel::pg::Pg>::migrations(&db::MIGRATIONS).unwrap();
    migrations.sort_by_key(|m| m.name().version().to_string());
    migrations.pop();
    diesel::migration::MigrationConnection::setup(&mut owner).unwrap();
    for migration in &migrations {
        owner.run_migration(&**migration).unwrap();
    }
    roles::grant_to_serving_role(&mut owner, &urls.serving).unwrap();
    name
}

/// A backup from an older console on another server is restored into a
/// new machine's data folder: migrated forward, every object owned by the
/// new machine's owner role and the serving role granted exactly what it
/// is granted after a migration run, whatever the roles were called where
/// the backup was taken.
#[actix_web::test]
async fn a_restored_older_backup_is_migrated_forward_and_owned_and_granted_as_on_its_new_machine() {
    let server = Server::get();
    let source = older_database(server);
    let _source = DroppedAtEnd(source.clone());
    // Written as the older console would (today's console need not run on
    // an older schema): a user row through the serving role.
    let ada_email = format!("ada-{}@example.com", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!(
        "INSERT INTO users (id, email, display_name, password_hash) \
         VALUES ('{}', '{ada_email}', 'Ada', 'not a hash')",
        uuid::Uuid::new_v4()
    ))
    .execute(&mut PgConnection::establish(&server.serving_url(&source)).unwrap())
    .unwrap();
    let (backups, new_machine) = (temp_dir("older"), temp_dir("new"));
    let urls = server.urls(&source);
    let known = db::known_migrations();

    // Act: into a folder that does not exist yet (the trailing slash says
    // it is one).
    let (ok, printed) = cli(
        &["backup", "--out", &format!("{}/daily/", backups.display())],
        &[
            ("DATABASE_URL", &urls.serving),
            ("MIGRATION_DATABASE_URL", &urls.migration),
        ],
    );
    assert!(ok, "{printed}");
    let file = only_backup(&backups.join("daily"));
    let (ok, printed) = cli(
        &["restore", &file.to_string_lossy()],
        &[("DATA_DIR", &new_machine.to_string_lossy())],
    );
    assert!(ok, "{printed}");

    // Assert
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let older = &known[known.len() - 2];
    assert!(
        name.ends_with(&format!("-schema-{older}.dump")),
        "the name says the schema it holds: {name}"
    );
    let _cluster =
        LocalCluster::start(&new_machine.join("postgres"), ClusterOptions::throwaway()).unwrap();
    let mut conn = PgConnection::establish(&local_url(&new_machine, "postgres")).unwrap();
    let applied: Vec<String> = {
        #[derive(QueryableByName)]
        struct Version {
            #[diesel(sql_type = Text)]
            version: String,
        }
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .load::<Version>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|v| v.version)
            .collect()
    };
    assert_eq!(applied, known, "migrated forward");
    let not_the_owners = format!(
        "SELECT (SELECT count(*) FROM pg_class \
                  WHERE relnamespace = 'public'::regnamespace AND relowner <> '{0}'::regrole) \
              + (SELECT count(*) FROM pg_proc \
                  WHERE pronamespace = 'public'::regnamespace AND proowner <> '{0}'::regrole \
                    AND NOT EXISTS (SELECT 1 FROM pg_depend \
                                     WHERE objid = pg_proc.oid AND deptype = 'e')) AS n",
        roles::LOCAL_OWNER
    );
    // (pg_trgm's functions stay the extension's creator's.)
    assert_eq!(count(&mut conn, &not_the_owners), 0, "all the owner's");
    let mut serving =
        PgConnection::establish(&local_url(&new_machine, roles::LOCAL_SERVING)).unwrap();
    let sql = format!("SELECT count(*) AS n FROM users WHERE email = '{ada_email}'");
    assert_eq!(
        count(&mut serving, &sql),
        1,
        "the serving role reads the users"
    );
    for refused in [
        "DELETE FROM audit_entries",
        "SELECT count(*) AS n FROM backups",
        "SELECT count(*) AS n FROM __diesel_schema_migrations",
        "CREATE TABLE public.x (id integer)",
    ] {
        let err = diesel::sql_query(refused)
            .execute(&mut serving)
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{refused}: {err}"
        );
    }
    #[derive(QueryableByName)]
    struct Owns {
        #[diesel(sql_type = Bool)]
        owns: bool,
    }
    let owns = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relowner = '{0}'::regrole \
                        UNION ALL SELECT 1 FROM pg_proc WHERE proowner = '{0}'::regrole) AS owns",
        roles::LOCAL_SERVING
    ))
    .get_result::<Owns>(&mut conn)
    .unwrap();
    assert!(!owns.owns, "the serving role owns nothing");

    drop((conn, serving));
}

/// Restoring over data is refused and leaves it as it was; `--force`
/// replaces it, and a console started on it serves what the backup held.
#[actix_web::test]
async fn restore_refuses_a_database_that_holds_rows_unless_forced() {
    let server = Server::get();
    let source = TestApp::spawn().await;
    let ada = source.signed_up_user("Ada").await;
    let target = TestApp::spawn().await;
    let bob = target.signed_up_user("Bob").await;
    let dir = temp_dir("force");
    let file = dir.join("console.dump");
    let source_urls = server.urls(&source.db_name);
    let (ok, printed) = cli(
        &["backup", "--out", &file.to_string_lossy()],
        &[
            ("DATABASE_URL", &source_urls.serving),
            ("MIGRATION_DATABASE_URL", &source_urls.migration),
        ],
    );
    assert!(ok, "{printed}");
    let target_urls = server.urls(&target.db_name);
    let target_env = [
        ("DATABASE_URL", target_urls.serving.as_str()),
        ("MIGRATION_DATABASE_URL", target_urls.migration.as_str()),
    ];
    let emails = |app: &TestApp| -> Vec<String> {
        use team_console::db::schema::users;
        users::table
            .select(users::email)
            .order(users::email)
            .load(&mut app.conn())
            .unwrap()
    };

    let (ok, printed) = cli(&["restore", &file.to_string_lossy()], &target_env);

    assert!(!ok, "refused");
    assert!(printed.contains("not empty"), "{printed}");
    assert!(printed.contains("--force"), "says how to go on: {printed}");
    assert_eq!(emails(&target), vec![bob.email], "left as it was");

    let (ok, printed) = cli(
        &["restore", "--force", &file.to_string_lossy()],
        &target_env,
    );

    assert!(ok, "{printed}");
    assert_eq!(emails(&target), vec![ada.email.clone()], "replaced");
    target.stop();
    let restored =
        TestApp::spawn_with(test_settings(target_urls.serving.clone()), String::new()).await;
    let res = restored.browser().sign_in(&ada.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

/// A backup holding a migration this console does not know is refused
/// before the target is touched.
#[actix_web::test]
async fn restore_refuses_a_backup_from_a_newer_console() {
    let server = Server::get();
    let source = TestApp::spawn().await;
    source.signed_up_user("Ada").await;
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000000')")
        .execute(&mut source.conn())
        .unwrap();
    let dir = temp_dir("newer");
    let urls = server.urls(&source.db_name);
    let (ok, printed) = cli(
        &["backup", "--out", &dir.to_string_lossy()],
        &[
            ("DATABASE_URL", &urls.serving),
            ("MIGRATION_DATABASE_URL", &urls.migration),
        ],
    );
    assert!(ok, "{printed}");
    let target = server.create_database();
    let target_urls = server.urls(&target);

    let (ok, printed) = cli(
        &["restore", &only_backup(&dir).to_string_lossy()],
        &[
            ("DATABASE_URL", &target_urls.serving),
            ("MIGRATION_DATABASE_URL", &target_urls.migration),
        ],
    );

    assert!(!ok);
    assert!(printed.contains("newer than this console"), "{printed}");
    let mut conn = PgConnection::establish(&server.url(&target)).unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users"), 0);
    drop(conn);
    server.drop_database(&target);
}

/// Two consoles share a database and a backup folder: one backup is taken
/// per period (never two at once, never two in one period), and the
/// folder keeps the newest BACKUP_KEEP, leaving other files alone.
#[actix_web::test]
async fn scheduled_backups_are_taken_once_per_period_by_one_console_and_rotated() {
    #[derive(QueryableByName, Debug)]
    struct Taken {
        #[diesel(sql_type = Text)]
        file: String,
        #[diesel(sql_type = diesel::sql_types::Double)]
        after_previous: f64,
    }
    let server = Server::get();
    let db_name = server.create_database();
    let urls = server.urls(&db_name);
    let dir = temp_dir("scheduled");
    std::fs::write(dir.join("notes.txt"), "the operator's").unwrap();
    let every = Duration::from_secs(1);
    let settings = || {
        let mut settings = test_settings(urls.serving.clone());
        settings.backup = Some(Schedule {
            dir: dir.to_path_buf(),
            every,
            keep: 3,
            database_url: urls.migration.clone(),
        });
        settings
    };
    let first = TestApp::spawn_with(settings(), String::new()).await;
    let second = TestApp::spawn_with(settings(), String::new()).await;
    let mut conn = PgConnection::establish(&server.url(&db_name)).unwrap();
    let taken = |conn: &mut PgConnection| -> Vec<Taken> {
        diesel::sql_query(
            "SELECT file, coalesce(extract(epoch FROM taken_at - lag(taken_at) \
                    OVER (ORDER BY taken_at))::float8, 1e9) AS after_previous \
               FROM backups ORDER BY taken_at",
        )
        .load(conn)
        .unwrap()
    };

    // Act: wait for five periods' backups.
    let started = Instant::now();
    while taken(&mut conn).len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "backups are taken"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    first.shut_down().await;
    second.shut_down().await;
    // A backup under way when the consoles stopped ends on its own thread,
    // on its own connection as the owner role.
    let working = format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
          WHERE datname = '{db_name}' AND usename = '{OWNER_ROLE}'"
    );
    let mut idle_looks = 0;
    while idle_looks < 3 {
        idle_looks = if count(&mut conn, &working) == 0 {
            idle_looks + 1
        } else {
            0
        };
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    let taken = taken(&mut conn);
    for backup in &taken {
        assert!(
            backup.after_previous >= every.as_secs_f64(),
            "one per period: {taken:?}"
        );
    }
    let newest: Vec<PathBuf> = taken[taken.len() - 3..]
        .iter()
        .map(|t| PathBuf::from(&t.file))
        .collect();
    assert_eq!(files::backups_in(&dir).unwrap(), newest, "the newest three");
    assert!(dir.join("notes.txt").exists());
    let mut names = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"));
    assert_eq!(names.next(), None, "no half-written backup left");
    drop(conn);
    server.drop_database(&db_name);
}
