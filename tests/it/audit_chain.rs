//! The audit log as evidence (issue 17): hash-chained entries and signed
//! checkpoints, verified, with tampering done as the database superuser
//! (bypassing the append-only triggers) detected and named. Modelled on
//! CloudTrail's log-file validation tests.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Text};
use team_console::audit::chain::{self, Problem};
use team_console::ids::AccountId;
use uuid::Uuid;

use crate::support::{SECRET_KEY, Team, TestApp};

fn public() -> ed25519_dalek::VerifyingKey {
    chain::signing_key(SECRET_KEY).verifying_key()
}

fn seal(app: &TestApp) {
    chain::checkpoint_all(
        &mut app.conn(),
        &chain::signing_key(SECRET_KEY),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
}

fn verify(app: &TestApp, team: Uuid) -> chain::Report {
    chain::verify(&mut app.conn(), Some(AccountId::from_uuid(team)), &public()).unwrap()
}

/// A team whose log holds a handful of entries, a checkpoint, and a few more.
async fn sealed_team(app: &TestApp) -> Team {
    let team = app.team().await;
    team.add_funds(&["10", "20", "30"]).await;
    seal(app);
    team.add_funds(&["40", "50"]).await;
    team
}

/// The ids of the team's entries, in the order they were written.
fn entry_ids(app: &TestApp, team: Uuid) -> Vec<i64> {
    use team_console::db::schema::audit_entries as a;
    a::table
        .filter(a::account_id.eq(team))
        .order(a::id.asc())
        .select(a::id)
        .load(&mut app.conn())
        .unwrap()
}

/// Runs `sql` as the superuser with the triggers off, as an attacker with
/// the database's keys would.
fn tamper(app: &TestApp, sql: &str) {
    use diesel::connection::SimpleConnection;
    app.conn()
        .batch_execute(&format!("SET session_replication_role = replica; {sql}"))
        .unwrap();
}

#[actix_web::test]
async fn an_intact_log_verifies_with_its_checkpoints() {
    let app = TestApp::spawn().await;
    let team = sealed_team(&app).await;
    seal(&app);

    let report = verify(&app, team.id);

    assert_eq!(report.problems, vec![]);
    assert_eq!(report.checkpoints, 2);
    assert!(report.entries >= 8, "{report:?}");
    let signed_in = chain::verify(&mut app.conn(), None, &public()).unwrap();
    assert_eq!(signed_in.problems, vec![], "the chain of sign-ins");
    // The page reads the checkpoint as a sentence.
    let (_, page) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", team.id))
        .await;
    assert!(page.contains("sealed the log with a signed checkpoint"));
}

#[actix_web::test]
async fn each_kind_of_tampering_is_detected_and_named() {
    let app = TestApp::spawn().await;

    // A changed field.
    let team = sealed_team(&app).await;
    let ids = entry_ids(&app, team.id);
    tamper(
        &app,
        &format!(
            "UPDATE audit_entries SET ip = '6.6.6.6' WHERE id = {}",
            ids[2]
        ),
    );
    assert_eq!(
        verify(&app, team.id).problems,
        vec![Problem::Modified { id: ids[2] }]
    );

    // A deleted entry.
    let team = sealed_team(&app).await;
    let ids = entry_ids(&app, team.id);
    tamper(
        &app,
        &format!("DELETE FROM audit_entries WHERE id = {}", ids[1]),
    );
    let problems = verify(&app, team.id).problems;
    assert!(
        problems.contains(&Problem::Deleted { before: ids[2] }),
        "{problems:?}"
    );
    // The checkpoint after it counted one entry more than stand before it.
    let checkpoint = checkpoint_id(&app, team.id);
    assert!(problems.contains(&Problem::CheckpointMismatch { id: checkpoint }));

    // An inserted entry.
    let team = sealed_team(&app).await;
    tamper(
        &app,
        &format!(
            "INSERT INTO audit_entries (account_id, action, resource_type, details) \
             VALUES ('{}', 'billing.funds_added', 'billing', '{{}}')",
            team.id
        ),
    );
    let inserted = *entry_ids(&app, team.id).last().unwrap();
    assert_eq!(
        verify(&app, team.id).problems,
        vec![Problem::Inserted { id: inserted }]
    );

    // Two entries swapped (everything but their ids).
    let team = sealed_team(&app).await;
    let ids = entry_ids(&app, team.id);
    let (x, y) = (ids[2], ids[3]);
    tamper(
        &app,
        &format!(
            "UPDATE audit_entries e SET occurred_at = o.occurred_at, actor_id = o.actor_id, \
               actor_email = o.actor_email, actor_name = o.actor_name, action = o.action, \
               resource_type = o.resource_type, resource_id = o.resource_id, ip = o.ip, \
               user_agent = o.user_agent, details = o.details, prev_hash = o.prev_hash, hash = o.hash \
             FROM audit_entries o \
             WHERE (e.id, o.id) IN (({x}, {y}), ({y}, {x}))"
        ),
    );
    let problems = verify(&app, team.id).problems;
    assert!(
        problems.contains(&Problem::Reordered { id: x }),
        "{problems:?}"
    );

    // A removed checkpoint.
    let team = sealed_team(&app).await;
    let checkpoint = checkpoint_id(&app, team.id);
    tamper(
        &app,
        &format!("DELETE FROM audit_entries WHERE id = {checkpoint}"),
    );
    let after = entry_ids(&app, team.id)
        .into_iter()
        .find(|id| *id > checkpoint)
        .unwrap();
    let problems = verify(&app, team.id).problems;
    assert_eq!(problems, vec![Problem::Deleted { before: after }]);

    // Entries removed from the end of a chain.
    let team = sealed_team(&app).await;
    let last = *entry_ids(&app, team.id).last().unwrap();
    tamper(
        &app,
        &format!("DELETE FROM audit_entries WHERE id = {last}"),
    );
    let problems = verify(&app, team.id).problems;
    assert!(
        matches!(problems.as_slice(), [Problem::TailMissing { .. }]),
        "{problems:?}"
    );

    // A forged signature, its entry's hash and the chain's head recomputed
    // (anyone can compute a hash; nobody else can sign).
    let team = app.team().await;
    team.billing
        .browser
        .post_form(
            &format!("/accounts/{}/billing/funds", team.id),
            &[("amount", "10")],
        )
        .await;
    seal(&app);
    let checkpoint = checkpoint_id(&app, team.id);
    forge_signature(&app, team.id, checkpoint);
    assert_eq!(
        verify(&app, team.id).problems,
        vec![Problem::BadSignature { id: checkpoint }]
    );

    // An intact team beside them all still verifies.
    let intact = sealed_team(&app).await;
    assert_eq!(verify(&app, intact.id).problems, vec![]);
}

fn checkpoint_id(app: &TestApp, team: Uuid) -> i64 {
    use team_console::db::schema::audit_entries as a;
    a::table
        .filter(a::account_id.eq(team))
        .filter(a::action.eq("audit.checkpoint"))
        .select(a::id)
        .first(&mut app.conn())
        .unwrap()
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    occurred_at: String,
    #[diesel(sql_type = Text)]
    details: String,
    #[diesel(sql_type = Bytea)]
    prev_hash: Vec<u8>,
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn forge_signature(app: &TestApp, team: Uuid, checkpoint: i64) {
    let row: Row = diesel::sql_query(format!(
        "SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS occurred_at, \
                details::text AS details, prev_hash, id FROM audit_entries WHERE id = {checkpoint}"
    ))
    .get_result(&mut app.conn())
    .unwrap();
    let mut details: serde_json::Value = serde_json::from_str(&row.details).unwrap();
    details["signature"] = serde_json::Value::from("00".repeat(64));
    let details = chain::canonical_json(&details);
    let occurred_at = time::OffsetDateTime::parse(
        &row.occurred_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let hash = chain::entry_hash(
        &row.prev_hash,
        &chain::Fields {
            account: Some(AccountId::from_uuid(team)),
            occurred_at,
            actor_id: None,
            actor_email: None,
            actor_name: None,
            action: "audit.checkpoint",
            resource_type: "audit",
            resource_id: Some(&team.to_string()),
            ip: None,
            user_agent: None,
            details: &details,
        },
    );
    let hex = chain::hex(&hash);
    tamper(
        app,
        &format!(
            "UPDATE audit_entries SET details = '{details}'::jsonb, hash = '\\x{hex}' WHERE id = {}; \
             UPDATE audit_chains SET last_hash = '\\x{hex}' WHERE chain = '{team}';",
            row.id
        ),
    );
}

#[actix_web::test]
async fn concurrent_writers_on_one_account_keep_one_unbroken_chain() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/billing/funds", team.id);
    let adds = (0..20).map(|_| team.billing.browser.post_form(&path, &[("amount", "10")]));

    futures_util::future::join_all(adds).await;

    let report = verify(&app, team.id);
    assert_eq!(report.problems, vec![]);
    let funds = entry_ids(&app, team.id).len() as i64;
    assert_eq!(report.entries, funds, "every entry is on the chain");
}

#[actix_web::test]
async fn the_verify_command_exits_non_zero_naming_the_tampered_entry() {
    let app = TestApp::spawn().await;
    let team = sealed_team(&app).await;
    let run = || {
        app.command(&["audit", "verify", "--account", &team.id.to_string()])
            .output()
            .unwrap()
    };
    let intact = run();
    assert!(intact.status.success(), "{intact:?}");
    assert!(String::from_utf8_lossy(&intact.stdout).contains("intact"));

    let ids = entry_ids(&app, team.id);
    tamper(
        &app,
        &format!(
            "UPDATE audit_entries SET ip = '6.6.6.6' WHERE id = {}",
            ids[1]
        ),
    );
    let tampered = run();

    assert!(!tampered.status.success());
    let said = String::from_utf8_lossy(&tampered.stdout);
    assert!(
        said.contains(&format!("entry {} was modified", ids[1])),
        "{said}"
    );
}

/// `team-console audit …` with only `env` (no database settings unless
/// given): what an auditor runs on their own machine.
fn audit_cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_team-console"))
        .arg("audit")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// Verifies `bytes` as an export file, offline, with the public key only.
fn verify_file(bytes: &[u8], name: &str) -> (bool, String) {
    let file = std::env::temp_dir().join(format!("tc-export-{}-{name}", Uuid::new_v4().simple()));
    std::fs::write(&file, bytes).unwrap();
    let key = chain::public_key_hex(&public());
    let said = audit_cli(
        &[
            "verify",
            "--export",
            &file.to_string_lossy(),
            "--public-key",
            &key,
        ],
        &[],
    );
    let _ = std::fs::remove_file(&file);
    said
}

/// An export carries what verifying it needs: the operator's JSON Lines
/// and the page's CSV verify offline with only the public key, and an
/// edited or removed line is named.
#[actix_web::test]
async fn an_export_verifies_offline_with_only_the_public_key() {
    let app = TestApp::spawn().await;
    let team = sealed_team(&app).await;
    let ids = entry_ids(&app, team.id);

    // The operator's JSON Lines.
    let out = app
        .command(&["audit", "export", "--account", &team.id.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let jsonl = String::from_utf8(out.stdout).unwrap();
    assert_eq!(jsonl.lines().count(), ids.len());
    let (ok, said) = verify_file(jsonl.as_bytes(), "intact.jsonl");
    assert!(ok, "{said}");
    assert!(
        said.contains("1 checkpoints") && said.contains("intact"),
        "{said}"
    );
    assert!(said.contains("2 after the last checkpoint"), "{said}");

    // An amount changed in the file (the $20.00 added before the checkpoint).
    let edited = jsonl.replacen("\"amount_cents\":2000", "\"amount_cents\":200", 1);
    assert_ne!(edited, jsonl);
    let changed: i64 = edited
        .lines()
        .find(|l| l.contains("\"amount_cents\":200,") || l.contains("\"amount_cents\":200}"))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .unwrap();
    let (ok, said) = verify_file(edited.as_bytes(), "edited.jsonl");
    assert!(!ok);
    assert!(
        said.contains(&format!("entry {changed} was modified")),
        "{said}"
    );

    // The page's CSV (an Admin's download), then with a row taken out.
    let res = team
        .admin
        .browser
        .get(&format!("/accounts/{}/audit.csv", team.id))
        .await;
    let csv = res.text().await.unwrap();
    let (ok, said) = verify_file(csv.as_bytes(), "intact.csv");
    assert!(ok, "{said}");
    let mut lines: Vec<&str> = csv.lines().collect();
    // Newest first: the third line from the end is the third entry written.
    let removed = lines.len() - 3;
    let gone = lines.remove(removed);
    assert!(gone.contains(&format!(",{},", ids[2])), "{gone}");
    let (ok, said) = verify_file(lines.join("\n").as_bytes(), "cut.csv");
    assert!(!ok);
    assert!(
        said.contains(&format!("an entry before entry {} was deleted", ids[3])),
        "{said}"
    );
}
