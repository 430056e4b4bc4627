//! `--only sweep` (issue 16): the spend sweep over 1,000 teams with 10,000
//! running Pods, 1 % of them over a limit, must finish in under a second
//! and stop exactly the right Pods.
//!
//! Seeded in SQL: 1,000 teams of 5 members (an Admin and 4 Devs), each
//! member running 2 one-GPU Pods started an hour ago (10,000 running) and
//! keeping 2 stopped ones; every team has a budget ($100,000, far off) and
//! a Dev limit of $500; every member has $100 of charged usage this month
//! (20 %) and some last month. Each round puts 50 other Devs (1 % of the
//! members, whose 100 Pods are 1 % of the running ones) at $600 of charged
//! usage, times one sweep through `team_console::spend::sweep`, the very
//! function the console's sweeper calls, with a connection set up as the
//! console's pool sets its connections up, then checks that exactly their
//! 100 Pods stopped and were charged once. A second sweep right after, with
//! nothing to stop, is timed too (the sweep every 15 s most of the time).

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{bail, ensure};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use uuid::Uuid;

use crate::BenchArgs;

pub const TEAMS: i64 = 1_000;
pub const MEMBERS: i64 = 5;
pub const PODS_PER_MEMBER: i64 = 2;
/// Devs put over their limit in each round: 1 % of the members.
const OVER_PER_ROUND: i64 = TEAMS * MEMBERS / 100;

/// Seeds, sweeps `args.sweep_rounds` times, and reports.
pub fn run(conn: &mut PgConnection, args: &BenchArgs) -> anyhow::Result<String> {
    let rounds = args.sweep_rounds.max(1) as i64;
    ensure!(
        rounds * OVER_PER_ROUND <= TEAMS,
        "at most {} rounds",
        TEAMS / OVER_PER_ROUND
    );
    let started = Instant::now();
    seed(conn)?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    // As the console's pool sets up each connection (db::SESSION_SETTINGS).
    for (name, value) in team_console::db::SESSION_SETTINGS {
        conn.batch_execute(&format!("SET {name} = {value}"))?;
    }
    // One sweep before measuring: plans made, caches warm, nothing to do.
    let warm = team_console::spend::sweep(conn, time::OffsetDateTime::now_utc())?;
    ensure!(warm.stopped.is_empty(), "the warm-up sweep stopped Pods");

    let mut rows = Vec::new();
    let mut stopping = Vec::new();
    let mut idle = Vec::new();
    let mut profile = String::new();
    for round in 0..rounds {
        let expected = arm(conn, round)?;
        let last = round + 1 == rounds;
        if last {
            diesel::sql_query("SELECT pg_stat_statements_reset()").execute(conn)?;
        }
        let now = time::OffsetDateTime::now_utc();
        let clock = Instant::now();
        let report = team_console::spend::sweep(conn, now)?;
        let took = clock.elapsed().as_secs_f64() * 1000.0;
        if last {
            profile = statements(conn, took)?;
        }
        let stopped: BTreeSet<Uuid> = report.stopped.iter().map(|s| s.pod_id.as_uuid()).collect();
        let exact = stopped == expected && charged_once(conn, &expected)?;
        if !exact {
            bail!(
                "round {round}: stopped {} Pods, {} expected, exactly the right ones: no",
                stopped.len(),
                expected.len()
            );
        }
        let clock = Instant::now();
        let again = team_console::spend::sweep(conn, time::OffsetDateTime::now_utc())?;
        let idle_ms = clock.elapsed().as_secs_f64() * 1000.0;
        ensure!(again.stopped.is_empty(), "a second sweep stopped Pods");
        rows.push(format!(
            "| {} | {} | {} | {} | {:.0} ms | {:.0} ms |",
            round + 1,
            report.running,
            report.stopped.len(),
            report.alerts,
            took,
            idle_ms
        ));
        eprintln!(
            "round {}: {} running, {} stopped, {} alerts, {took:.0} ms; then {idle_ms:.0} ms",
            round + 1,
            report.running,
            report.stopped.len(),
            report.alerts
        );
        stopping.push(took);
        idle.push(idle_ms);
    }
    Ok(format!(
        "### Spend sweep (issue 16)\n\n\
         {TEAMS} teams, {} members, {} running Pods; each round puts {OVER_PER_ROUND} Devs \
         (1 % of the members; their Pods are 1 % of the running ones) over their $500 limit \
         and sweeps once. Every round stopped exactly those Pods, each charged once.\n\n\
         | round | running Pods seen | stopped | alerts raised | sweep | next sweep (nothing to stop) |\n\
         |---:|---:|---:|---:|---:|---:|\n{}\n\n\
         Sweep that stops 1 %: median {:.0} ms, max {:.0} ms (target < 1,000 ms: {}). \
         Sweep with nothing to stop: median {:.0} ms.\n\n{profile}",
        TEAMS * MEMBERS,
        TEAMS * MEMBERS * PODS_PER_MEMBER,
        rows.join("\n"),
        median(&mut stopping.clone()),
        stopping.iter().copied().fold(0.0, f64::max),
        crate::mark(stopping.iter().all(|ms| *ms < 1000.0)),
        median(&mut idle),
    ))
}

/// What the database spent the last stopping sweep on (pg_stat_statements),
/// against the sweep's `took` ms seen by the console.
fn statements(conn: &mut PgConnection, took: f64) -> anyhow::Result<String> {
    #[derive(QueryableByName)]
    struct Statement {
        #[diesel(sql_type = BigInt)]
        calls: i64,
        #[diesel(sql_type = diesel::sql_types::Double)]
        total_ms: f64,
        #[diesel(sql_type = Text)]
        query: String,
    }
    let rows: Vec<Statement> = diesel::sql_query(
        "SELECT calls, total_exec_time AS total_ms, query FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query NOT LIKE '%pg_stat_statements%'
          ORDER BY total_exec_time DESC",
    )
    .load(conn)?;
    let calls: i64 = rows.iter().map(|r| r.calls).sum();
    let total: f64 = rows.iter().map(|r| r.total_ms).sum();
    let mut out = format!(
        "The last stopping sweep, from pg_stat_statements: {calls} statements, {total:.0} ms \
         executing in PostgreSQL of the {took:.0} ms the sweep took (the rest: round trips and \
         the console's own work).\n\n| calls | total | statement |\n|---:|---:|---|\n"
    );
    for row in rows.iter().take(12) {
        let query: String = row.query.split_whitespace().collect::<Vec<_>>().join(" ");
        let query: String = query.chars().take(110).collect();
        out.push_str(&format!(
            "| {} | {:.1} ms | `{}…` |\n",
            row.calls,
            row.total_ms,
            query.replace('|', "\\|").replace('`', "'")
        ));
    }
    out.push('\n');
    Ok(out)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The teams, members, Pods, limits and usage of the module's description.
fn seed(conn: &mut PgConnection) -> anyhow::Result<()> {
    let last_member = MEMBERS - 1;
    let last_team = TEAMS - 1;
    let last_pod = PODS_PER_MEMBER - 1;
    conn.batch_execute(&format!(
        "CREATE SCHEMA sweep;
         CREATE TABLE sweep.teams (t int PRIMARY KEY, account_id uuid NOT NULL);
         INSERT INTO sweep.teams SELECT t, gen_random_uuid() FROM generate_series(0, {last_team}) t;
         CREATE TABLE sweep.members (t int, m int, user_id uuid NOT NULL, account_id uuid NOT NULL,
                                     PRIMARY KEY (t, m));
         INSERT INTO sweep.members
           SELECT t.t, m, gen_random_uuid(), t.account_id
             FROM sweep.teams t, generate_series(0, {last_member}) m;
         CREATE TABLE sweep.pods (t int, m int, k int, pod_id uuid NOT NULL, PRIMARY KEY (t, m, k));
         INSERT INTO sweep.pods SELECT t, m, k, gen_random_uuid()
           FROM sweep.members, generate_series(0, {last_pod}) k;

         INSERT INTO users (id, email, display_name, password_hash)
           SELECT user_id, 'sweep-' || t || '-' || m || '@bench.example', 'Member ' || t || '.' || m,
                  'not a hash: cannot sign in'
             FROM sweep.members;
         INSERT INTO accounts (id, kind, name, owner_id, balance_cents)
           SELECT t.account_id, 'team', 'Sweep team ' || t.t, m.user_id, 100000000
             FROM sweep.teams t JOIN sweep.members m ON m.t = t.t AND m.m = 0;
         INSERT INTO memberships (account_id, user_id, role)
           SELECT account_id, user_id, CASE WHEN m = 0 THEN 'admin' ELSE 'dev' END FROM sweep.members;
         INSERT INTO team_budgets (account_id, monthly_cents, updated_at)
           SELECT account_id, 10000000, now() FROM sweep.teams;
         INSERT INTO role_spend_limits (account_id, role, monthly_cents, updated_at)
           SELECT account_id, 'dev', 50000, now() FROM sweep.teams;

         INSERT INTO pods (id, account_id, name, gpu_type, gpu_count, image, status,
                           hourly_price_cents, created_at, started_at, started_by)
           SELECT p.pod_id, m.account_id, 'sweep-' || p.t || '-' || p.m || '-' || p.k, 'rtx-4090', 1,
                  'pytorch/pytorch:latest', 'running', 69, now() - interval '2 days',
                  now() - interval '1 hour', m.user_id
             FROM sweep.pods p JOIN sweep.members m ON m.t = p.t AND m.m = p.m;
         INSERT INTO pods (id, account_id, name, gpu_type, gpu_count, image, status,
                           hourly_price_cents, created_at)
           SELECT gen_random_uuid(), account_id, 'idle-' || t || '-' || m || '-' || k, 'l40s', 2,
                  'pytorch/pytorch:latest', 'stopped', 198, now() - interval '10 days'
             FROM sweep.members, generate_series(0, {last_pod}) k;

         INSERT INTO monthly_usage (month, account_id, user_id, pod_id, running_seconds, gpu_seconds, cost_cents)
           SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - (g || ' month')::interval)::date,
                  m.account_id, m.user_id, p.pod_id, 521740, 521740, 10000
             FROM sweep.members m JOIN sweep.pods p ON p.t = m.t AND p.m = m.m AND p.k = 0,
                  generate_series(0, 1) g;
         ANALYZE;"
    ))?;
    Ok(())
}

/// Puts round `round`'s Devs over their limit; returns their running Pods.
fn arm(conn: &mut PgConnection, round: i64) -> anyhow::Result<BTreeSet<Uuid>> {
    let (from, to) = (round * OVER_PER_ROUND, (round + 1) * OVER_PER_ROUND);
    conn.batch_execute(&format!(
        "UPDATE monthly_usage u SET cost_cents = 60000
           FROM sweep.members m
          WHERE u.user_id = m.user_id AND m.m = 1 AND m.t >= {from} AND m.t < {to}
            AND u.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date"
    ))?;
    #[derive(QueryableByName)]
    struct Pod {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let pods: Vec<Pod> = diesel::sql_query(format!(
        "SELECT pod_id::text AS id FROM sweep.pods WHERE m = 1 AND t >= {from} AND t < {to}"
    ))
    .load(conn)?;
    pods.into_iter()
        .map(|p| Ok(Uuid::parse_str(&p.id)?))
        .collect()
}

/// Every Pod of `pods` has exactly one usage charge.
fn charged_once(conn: &mut PgConnection, pods: &BTreeSet<Uuid>) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let ids: Vec<String> = pods.iter().map(|p| format!("'{p}'")).collect();
    let charged: Count = diesel::sql_query(format!(
        "SELECT count(DISTINCT pod_id) AS n FROM billing_transactions
          WHERE kind = 'usage_charged' AND pod_id IN ({})
         HAVING count(*) = count(DISTINCT pod_id)",
        ids.join(", ")
    ))
    .get_result(conn)
    .optional()?
    .unwrap_or(Count { n: -1 });
    Ok(charged.n == pods.len() as i64)
}
