//! `--only chain` (issue 17): what the audit log's hash chain costs.
//!
//! **Writers.** 32 threads, each on a connection of its own set up as the
//! console's pool sets its connections up, record entries for
//! `--case-duration` seconds, each entry in a transaction of its own as a
//! change records it: through `audit::Change::record`, the one way the
//! console writes an entry (lock the chain's head, insert the linked
//! entry, move the head), and, for the baseline, the same entry written as
//! it was before the chain (one INSERT, no links). Once with all 32 on one
//! account (their writes queue on its chain's head) and once on 32
//! accounts; the two ways alternate, twice each.
//!
//! **Verify.** For each `--sizes`, a team with that many entries, linked
//! by the chain's own hash function (`chain::entry_hash`) and copied in
//! with COPY (the table's secondary indexes dropped meanwhile and rebuilt
//! after, as the other seeds do), sealed with one signed checkpoint by
//! `chain::checkpoint`; then `chain::verify`, what `team-console audit
//! verify --account ID` runs, timed on a fresh connection, and its report
//! checked: every entry on the chain, the checkpoint good, no problem.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use uuid::Uuid;

use team_console::audit::chain::{self, Fields};
use team_console::audit::{Action, Actor, Change, Origin};
use team_console::db::schema::{audit_chains, audit_entries};
use team_console::ids::{AccountId, PodId, UserId};

use crate::BenchArgs;

/// Concurrent writers, as the issue asks.
const WRITERS: usize = 32;

/// Runs both parts and returns the report's Markdown.
pub fn run(conn: &mut PgConnection, url: &str, args: &BenchArgs) -> anyhow::Result<String> {
    let mut report = String::new();
    report.push_str(&writers(conn, url, args)?);
    report.push_str(&verify(conn, url, args)?);
    Ok(report)
}

fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let mut conn = PgConnection::establish(url)?;
    for (name, value) in team_console::db::SESSION_SETTINGS {
        conn.batch_execute(&format!("SET {name} = {value}"))?;
    }
    Ok(conn)
}

/// A team with its Admin, made in SQL; returns the account and the Admin.
fn team(conn: &mut PgConnection, name: &str) -> anyhow::Result<(Uuid, Uuid)> {
    let (account, admin) = (Uuid::new_v4(), Uuid::new_v4());
    conn.batch_execute(&format!(
        "INSERT INTO users (id, email, display_name, password_hash)
           VALUES ('{admin}', 'admin-{admin}@bench.example', 'Admin of {name}', 'not a hash');
         INSERT INTO accounts (id, kind, name, owner_id, balance_cents)
           VALUES ('{account}', 'team', '{name}', '{admin}', 100000000);
         INSERT INTO memberships (account_id, user_id, role) VALUES ('{account}', '{admin}', 'admin');"
    ))?;
    Ok((account, admin))
}

/// What every writer records: a Pod start, as the Pods page records it.
fn action(n: u64) -> Action {
    Action::PodStarted {
        pod: PodId::from_uuid(Uuid::new_v4()),
        name: format!("train-{n}"),
        gpus: "2 × A100".into(),
        from: "stopped",
        to: "running",
        balance_cents: 1_234_500,
    }
}

fn actor(admin: Uuid) -> Actor {
    Actor::user(UserId::from_uuid(admin), "admin@bench.example", "Ada Admin")
}

fn origin() -> Origin {
    Origin {
        ip: Some("10.1.2.3".into()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".into(),
        ),
    }
}

/// The entry as it was written before the chain: one INSERT, no links.
fn record_unchained(conn: &mut PgConnection, change: &Change, action: Action) -> QueryResult<()> {
    use audit_entries as a;
    let kind = action.kind();
    diesel::insert_into(a::table)
        .values((
            a::occurred_at.eq(change.now),
            a::account_id.eq(change.account_id),
            a::actor_id.eq(change.actor.id),
            a::actor_email.eq(&change.actor.email),
            a::actor_name.eq(&change.actor.name),
            a::action.eq(kind.name()),
            a::resource_type.eq(kind.resource_type()),
            a::resource_id.eq(action.resource_id()),
            a::ip.eq(&change.origin.ip),
            a::user_agent.eq(&change.origin.user_agent),
            a::details.eq(action.details()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Chain,
    Baseline,
}

/// Entries per second that `WRITERS` threads record for `seconds`, the
/// thread `i` on `accounts[i % accounts.len()]`.
fn throughput(url: &str, accounts: &[(Uuid, Uuid)], way: Way, seconds: u64) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for i in 0..WRITERS {
        let (account, admin) = accounts[i % accounts.len()];
        let mut conn = connect(url)?;
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || -> anyhow::Result<u64> {
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) {
                let change = Change {
                    account_id: AccountId::from_uuid(account),
                    actor: actor(admin),
                    origin: origin(),
                    now: time::OffsetDateTime::now_utc(),
                };
                let action = action(written);
                conn.transaction(|conn| match way {
                    Way::Chain => change.record(conn, action),
                    Way::Baseline => record_unchained(conn, &change, action),
                })?;
                written += 1;
            }
            Ok(written)
        }));
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut written = 0;
    for thread in threads {
        written += thread
            .join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    Ok(written as f64 / started.elapsed().as_secs_f64())
}

fn writers(conn: &mut PgConnection, url: &str, args: &BenchArgs) -> anyhow::Result<String> {
    // Teams of their own for each way: the baseline's unlinked entries in
    // a chain would read as inserted ones.
    let teams = |conn: &mut PgConnection, way: &str, count: usize| {
        (0..count)
            .map(|i| team(conn, &format!("Chain bench {way} {count}.{i}")))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let seconds = args.case_duration;
    let mut out = format!(
        "## Recording entries with the chain (issue 17)\n\n\
         {WRITERS} writers, each entry in a transaction of its own, {seconds} s per run; \
         rounds alternate the chain and the baseline (the same entry as one INSERT, no links), \
         each on teams of its own.\n\n\
         | accounts | round | baseline entries/s | chain entries/s | chain ÷ baseline |\n\
         |---|---:|---:|---:|---:|\n"
    );
    let mut summary = String::new();
    let mut chained_teams = Vec::new();
    for (label, count) in [("1 (all writers on one)", 1), ("32 (one each)", WRITERS)] {
        let base_teams = teams(conn, "baseline", count)?;
        let chain_teams = teams(conn, "chain", count)?;
        // Plans made and caches warm before the first measured run.
        throughput(url, &chain_teams, Way::Chain, 1)?;
        throughput(url, &base_teams, Way::Baseline, 1)?;
        let (mut base_sum, mut chain_sum) = (0.0, 0.0);
        for round in 1..=2 {
            let base = throughput(url, &base_teams, Way::Baseline, seconds)?;
            let chained = throughput(url, &chain_teams, Way::Chain, seconds)?;
            eprintln!("  {label}, round {round}: baseline {base:.0}/s, chain {chained:.0}/s");
            out.push_str(&format!(
                "| {label} | {round} | {base:.0} | {chained:.0} | {:.2} |\n",
                chained / base
            ));
            base_sum += base;
            chain_sum += chained;
        }
        let ratio = chain_sum / base_sum;
        summary.push_str(&format!(
            "- {label}: chain ÷ baseline {ratio:.2} over both rounds (target ≥ 0.8: {}).\n",
            if ratio >= 0.8 { "met" } else { "**not met**" }
        ));
        chained_teams.extend(chain_teams);
    }
    // Every chain the writers extended is unbroken.
    let key = chain::signing_key(b"benchmark");
    for (account, _) in &chained_teams {
        let report = chain::verify(
            conn,
            Some(AccountId::from_uuid(*account)),
            &key.verifying_key(),
        )?;
        ensure!(
            report.problems.is_empty() && report.before_chain == 0,
            "a chain the writers extended has problems: {:?}",
            report.problems
        );
    }
    out.push_str(&format!(
        "\n{summary}\nAfterwards `chain::verify` found each of the {} chains the writers \
         extended unbroken.\n\n",
        chained_teams.len()
    ));
    Ok(out)
}

/// The columns an entry is copied in with.
#[derive(Insertable)]
#[diesel(table_name = audit_entries, treat_none_as_default_value = false)]
struct Linked {
    occurred_at: time::OffsetDateTime,
    account_id: Uuid,
    actor_id: Uuid,
    actor_email: String,
    actor_name: String,
    action: &'static str,
    resource_type: &'static str,
    resource_id: String,
    ip: String,
    user_agent: &'static str,
    details: serde_json::Value,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
];

/// `n` linked entries of `account`, over the last year in time order: Pod
/// starts and stops, role changes, funds added, as the seed's mix.
fn seed_linked(conn: &mut PgConnection, account: Uuid, n: i64) -> anyhow::Result<(Vec<u8>, i64)> {
    const CHUNK: i64 = 20_000;
    let actors: Vec<(Uuid, String, String)> = (0..20)
        .map(|i| {
            (
                Uuid::new_v4(),
                format!("member{i}@bench.example"),
                format!("Member {i}"),
            )
        })
        .collect();
    let pods: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(365);
    let step = 31_536_000_000_000_i64 / n.max(1);
    let mut prev = chain::GENESIS.to_vec();
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let chunk: Vec<Linked> = (done..(done + CHUNK).min(n))
            .map(|g| {
                let (actor_id, email, name) = &actors[(g * 7 % 20) as usize];
                let pod = pods[(g % 50) as usize];
                let (action, resource_type, resource_id, details) = match g % 10 {
                    0..=3 => (
                        "pod.started",
                        "pod",
                        pod.to_string(),
                        serde_json::json!({"name": format!("pod-{}", g % 50), "gpus": "1 × RTX 4090", "from": "stopped", "to": "running", "balance_cents": g % 100_000}),
                    ),
                    4..=7 => (
                        "pod.stopped",
                        "pod",
                        pod.to_string(),
                        serde_json::json!({"name": format!("pod-{}", g % 50), "from": "running", "to": "stopped"}),
                    ),
                    8 => (
                        "member.role_changed",
                        "member",
                        actor_id.to_string(),
                        serde_json::json!({"name": name, "email": email, "old_role": "dev", "new_role": "admin"}),
                    ),
                    _ => (
                        "billing.funds_added",
                        "billing",
                        account.to_string(),
                        serde_json::json!({"amount_cents": g % 5_000, "balance_cents": g % 100_000}),
                    ),
                };
                // Microseconds, as PostgreSQL keeps them.
                let occurred_at = start + time::Duration::microseconds(g * step);
                let ip = format!("10.{}.{}.{}", g % 7, g % 20, g % 200);
                let user_agent = AGENTS[(g % 3) as usize];
                let details_text = chain::canonical_json(&details);
                let hash = chain::entry_hash(
                    &prev,
                    &Fields {
                        account: Some(AccountId::from_uuid(account)),
                        occurred_at,
                        actor_id: Some(UserId::from_uuid(*actor_id)),
                        actor_email: Some(email),
                        actor_name: Some(name),
                        action,
                        resource_type,
                        resource_id: Some(&resource_id),
                        ip: Some(&ip),
                        user_agent: Some(user_agent),
                        details: &details_text,
                    },
                )
                .to_vec();
                Linked {
                    occurred_at,
                    account_id: account,
                    actor_id: *actor_id,
                    actor_email: email.clone(),
                    actor_name: name.clone(),
                    action,
                    resource_type,
                    resource_id,
                    ip,
                    user_agent,
                    details,
                    prev_hash: std::mem::replace(&mut prev, hash.clone()),
                    hash,
                }
            })
            .collect();
        done += chunk.len() as i64;
        diesel::copy_from(audit_entries::table)
            .from_insertable(&chunk)
            .execute(conn)?;
        if done % 1_000_000 == 0 || done == n {
            eprintln!(
                "  linked {done} of {n} entries ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    // The chain's head, as the writers leave it.
    diesel::insert_into(audit_chains::table)
        .values((
            audit_chains::chain.eq(account),
            audit_chains::last_hash.eq(&prev),
            audit_chains::entries.eq(n),
        ))
        .execute(conn)?;
    Ok((prev, n))
}

fn verify(conn: &mut PgConnection, url: &str, args: &BenchArgs) -> anyhow::Result<String> {
    let mut out = String::from(
        "## Verifying a chain (issue 17)\n\n\
         `chain::verify` (what `team-console audit verify --account ID` runs) over one \
         team's linked entries, sealed by one signed checkpoint, on a fresh connection.\n\n\
         | entries | verify | entries/s | target |\n|---:|---:|---:|---|\n",
    );
    let key = chain::signing_key(b"benchmark");
    for &size in &args.sizes {
        let (account, _) = team(conn, &format!("Verify {size}"))?;
        crate::seed::without_indexes(conn, |conn| {
            seed_linked(conn, account, size)?;
            Ok(())
        })?;
        let account = AccountId::from_uuid(account);
        ensure!(
            chain::checkpoint(conn, Some(account), &key, time::OffsetDateTime::now_utc())?,
            "no checkpoint was written"
        );
        let mut fresh = connect(url)?;
        let clock = Instant::now();
        let report = chain::verify(&mut fresh, Some(account), &key.verifying_key())?;
        let took = clock.elapsed().as_secs_f64();
        ensure!(
            report.problems.is_empty() && report.entries == size + 1 && report.checkpoints == 1,
            "verify of {size} entries: {} on the chain, {} checkpoints, problems {:?}",
            report.entries,
            report.checkpoints,
            report.problems
        );
        eprintln!("  verified {size} entries in {took:.1} s");
        let target = if size >= 10_000_000 {
            if took < 120.0 {
                "< 2 min: met"
            } else {
                "< 2 min: **not met**"
            }
        } else {
            "(at 10M: < 2 min)"
        };
        out.push_str(&format!(
            "| {size} | {took:.1} s | {:.0} | {target} |\n",
            (size + 1) as f64 / took
        ));
    }
    out.push('\n');
    Ok(out)
}
