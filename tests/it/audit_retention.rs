//! Retention (issue 17): entries older than AUDIT_RETENTION_DAYS expire,
//! the expiry is itself recorded, and what is kept still verifies, from
//! the database and from an export; a chain whose start was removed
//! without an expiry record accounting for it is named by `verify`, and
//! the console cannot expire anything younger than 90 days.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use ed25519_dalek::Signer;
use team_console::audit::chain::{self, Fields, GENESIS, Problem};
use team_console::audit::query::EntryRow;
use team_console::audit::retention;
use team_console::db::schema::{audit_chains, audit_entries as a};
use team_console::ids::AccountId;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{SECRET_KEY, TestApp};

fn key() -> ed25519_dalek::SigningKey {
    chain::signing_key(SECRET_KEY)
}

fn entries(app: &TestApp, team: Uuid) -> Vec<EntryRow> {
    a::table
        .filter(a::account_id.eq(team))
        .order(a::id.asc())
        .select(EntryRow::as_select())
        .load(&mut app.conn())
        .unwrap()
}

fn verify(app: &TestApp, team: Uuid) -> chain::Report {
    let public = key().verifying_key();
    chain::verify(&mut app.conn(), Some(AccountId::from_uuid(team)), &public).unwrap()
}

fn expire(app: &TestApp, team: Uuid) -> i64 {
    retention::expire(
        &mut app.conn(),
        Some(AccountId::from_uuid(team)),
        &key(),
        400,
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

/// Rewrites the team's log as if its first `n` entries had been written
/// `days` days earlier, relinked and re-signed as the console would have
/// written them (as the superuser): the log of a team that old.
fn backdate(app: &TestApp, team: Uuid, n: usize, days: i64) {
    let log = entries(app, team);
    let mut conn = app.conn();
    conn.batch_execute("SET session_replication_role = replica")
        .unwrap();
    let mut prev = log[0].prev_hash.clone().unwrap_or(GENESIS.to_vec());
    for (i, e) in log.iter().enumerate() {
        let occurred_at = match i < n {
            true => e.occurred_at - Duration::days(days),
            false => e.occurred_at,
        };
        let mut details: serde_json::Value = serde_json::from_str(&e.details.raw).unwrap();
        if e.action == "audit.checkpoint" {
            let (entries, signed_at) = (
                details["entries"].as_i64().unwrap(),
                details["signed_at"].as_str().unwrap().to_string(),
            );
            let message = chain::checkpoint_message(team, entries, &prev, &signed_at);
            details["last_hash"] = chain::hex(&prev).into();
            details["signature"] = chain::hex(&key().sign(&message).to_bytes()).into();
        }
        let text = chain::canonical_json(&details);
        let hash = chain::entry_hash(
            &prev,
            &Fields {
                occurred_at,
                ..Fields::of(e, &text)
            },
        );
        diesel::update(a::table.filter(a::id.eq(e.id)))
            .set((
                a::occurred_at.eq(occurred_at),
                a::details.eq(&details),
                a::prev_hash.eq(&prev),
                a::hash.eq(hash.to_vec()),
            ))
            .execute(&mut conn)
            .unwrap();
        prev = hash.to_vec();
    }
    diesel::update(audit_chains::table.find(team))
        .set(audit_chains::last_hash.eq(prev))
        .execute(&mut conn)
        .unwrap();
}

#[actix_web::test]
async fn old_entries_expire_the_expiry_is_recorded_and_the_rest_still_verifies() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    team.add_funds(&["10", "20", "30"]).await;
    let before = entries(&app, team.id);
    let old = before.len() - 2;
    backdate(&app, team.id, old, 500);
    assert_eq!(verify(&app, team.id).problems, vec![], "backdated intact");

    assert_eq!(expire(&app, team.id), old as i64);

    let after = entries(&app, team.id);
    assert_eq!(after[0].id, before[old].id, "the first kept entry");
    let actions: Vec<&str> = after.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "billing.funds_added",
            "billing.funds_added",
            "audit.checkpoint",
            "audit.expired"
        ],
        "sealed before the cut, the expiry recorded after it"
    );
    let report = verify(&app, team.id);
    assert_eq!(report.problems, vec![]);
    assert_eq!(report.expired, old as i64);
    assert_eq!(report.checkpoints, 1);
    // An export of what is kept verifies offline too.
    let public = key().verifying_key();
    let exported = chain::verify_export(after.clone(), &public);
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].1.problems, vec![]);
    assert_eq!(exported[0].1.expired, old as i64);
    // The user select lists who acted in what is kept: only Bea Billing
    // added the funds still there.
    let people: Vec<String> =
        team_console::audit::query::people(&mut app.conn(), AccountId::from_uuid(team.id))
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
    assert_eq!(people, ["Bea Billing"]);
    // Nothing older is left: another pass removes nothing and records nothing.
    assert_eq!(expire(&app, team.id), 0);
    assert_eq!(entries(&app, team.id).len(), after.len());

    // The Admin reads the expiry as a sentence, and how long entries are kept.
    let (_, page) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", team.id))
        .await;
    assert!(page.contains("Entries are kept for 400 days."), "{page}");
    assert!(
        page.contains(&format!(
            "Team Console removed {old} entries older than 400 days"
        )),
        "{page}"
    );

    // A year on, the next expiry counts from where the last one left off.
    team.add_funds(&["40", "50"]).await;
    let kept = entries(&app, team.id);
    backdate(&app, team.id, kept.len() - 1, 450);
    assert_eq!(verify(&app, team.id).problems, vec![], "backdated again");
    let removed = expire(&app, team.id);
    assert_eq!(removed, kept.len() as i64 - 1);
    let report = verify(&app, team.id);
    assert_eq!(report.problems, vec![]);
    assert_eq!(report.expired, old as i64 + removed);
}

/// Every console expires hourly: two at once remove the entries once and
/// record one expiry.
#[actix_web::test]
async fn two_consoles_expiring_at_once_record_one_expiry() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    team.add_funds(&["10", "20"]).await;
    let log = entries(&app, team.id);
    let old = log.len() - 1;
    backdate(&app, team.id, old, 500);

    let expiring: Vec<_> = (0..2)
        .map(|_| {
            let url = app.db_url.clone();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                retention::expire(
                    &mut conn,
                    Some(AccountId::from_uuid(team.id)),
                    &key(),
                    400,
                    OffsetDateTime::now_utc(),
                )
                .unwrap()
            })
        })
        .collect();
    let removed: Vec<i64> = expiring.into_iter().map(|t| t.join().unwrap()).collect();

    assert_eq!(removed.iter().sum::<i64>(), old as i64, "{removed:?}");
    let expiries = entries(&app, team.id)
        .iter()
        .filter(|e| e.action == "audit.expired")
        .count();
    assert_eq!(expiries, 1);
    assert_eq!(verify(&app, team.id).problems, vec![]);
}

#[actix_web::test]
async fn a_start_removed_without_an_expiry_record_is_named() {
    let app = TestApp::spawn().await;
    let tamper = |sql: &str| {
        app.conn()
            .batch_execute(&format!("SET session_replication_role = replica; {sql}"))
            .unwrap()
    };

    // The first entries removed, no expiry at all.
    let team = app.team().await;
    team.add_funds(&["10", "20"]).await;
    chain::checkpoint_all(&mut app.conn(), &key(), OffsetDateTime::now_utc()).unwrap();
    team.add_funds(&["30"]).await;
    let log = entries(&app, team.id);
    tamper(&format!(
        "DELETE FROM audit_entries WHERE account_id = '{}' AND id < {}",
        team.id, log[3].id
    ));
    assert_eq!(
        verify(&app, team.id).problems,
        vec![Problem::Truncated { first: log[3].id }]
    );

    // An expiry, then one entry more removed than it accounts for.
    let team = app.team().await;
    team.add_funds(&["10", "20", "30"]).await;
    let log = entries(&app, team.id);
    backdate(&app, team.id, log.len() - 2, 500);
    expire(&app, team.id);
    let kept = entries(&app, team.id);
    tamper(&format!(
        "DELETE FROM audit_entries WHERE id = {}",
        kept[0].id
    ));
    let problems = verify(&app, team.id).problems;
    assert!(
        problems.contains(&Problem::Truncated { first: kept[1].id }),
        "{problems:?}"
    );
}

#[actix_web::test]
async fn the_console_cannot_expire_entries_younger_than_90_days() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    team.add_funds(&["10"]).await;
    let log = entries(&app, team.id);

    // As the console, with its clock 200 days ahead: the database refuses.
    let mut serving = PgConnection::establish(&app.serving_url).unwrap();
    let refused = retention::expire(
        &mut serving,
        Some(AccountId::from_uuid(team.id)),
        &key(),
        90,
        OffsetDateTime::now_utc() + Duration::days(200),
    )
    .unwrap_err();
    assert!(
        refused.to_string().contains("kept for at least 90 days"),
        "{refused}"
    );
    assert_eq!(entries(&app, team.id).len(), log.len(), "nothing removed");
    assert_eq!(verify(&app, team.id).problems, vec![]);
}

/// What an operator runs: `team-console audit expire`, then `audit verify`.
#[actix_web::test]
async fn the_expire_command_expires_and_verify_still_passes() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    team.add_funds(&["10", "20"]).await;
    let old = entries(&app, team.id).len() - 1;
    backdate(&app, team.id, old, 500);
    let run = |args: &[&str]| {
        let out = app.command(&[&["audit"], args].concat()).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let said = run(&["expire"]);

    assert!(
        said.contains(&format!("{old} entries older than 400 days expired")),
        "{said}"
    );
    let said = run(&["verify", "--account", &team.id.to_string()]);
    assert!(
        said.contains(&format!("{old} expired before the first, intact")),
        "{said}"
    );
}
