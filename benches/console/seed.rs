//! Seeding: one team per log size, each with 50 members (the same users)
//! and 50 Pods, a second account (to prove scoping), and audit entries by
//! the million with `INSERT … SELECT FROM generate_series` — about a minute
//! per 10M rows on 2 cores without indexes.
//!
//! Realism: 20 of the members act, with a skewed spread (the busiest does
//! about a fifth of everything); every action of an account's log
//! (`audit::ActionKind`) appears, weighted the way a GPU cloud's log is (Pod starts and stops and usage
//! charges dominate); resource ids come from pools of that resource type;
//! each team's entries are spread over the last 365 days in time order, as
//! a log is written. All the teams share the table, as accounts do. Each
//! entry names its actor as the console records it since issue 13
//! (`actor_name`), and a few carry a note with a word the search cases
//! look for (`COMMON`, `RARE`), placed by the entry's number, not by
//! chance.
//!
//! The table's secondary indexes are dropped before seeding and rebuilt
//! after it (read back from `pg_indexes`, with their columns' statistics
//! targets, so they always match the migrations): rebuilding the 7 B-trees
//! over 10M rows takes a few minutes and the trigram index about as long
//! again; maintaining them row by row takes much longer. Freshly built indexes are
//! denser than ones grown by inserts, so the figures are slightly
//! optimistic about index size; the plans are the same.

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use uuid::Uuid;

use team_console::audit::{ActionKind, RESOURCE_TYPES};

/// Members of the team (the Admin included), as the members page shows.
pub const MEMBERS: usize = 50;
/// Members who appear in the log.
pub const ACTORS: usize = 20;
pub const PODS: usize = 50;
const CHUNK: i64 = 1_000_000;

/// Words the search cases look for (issue 13), in the details' `note`
/// (a key no action writes, which the page shows only in the raw details):
/// `COMMON` in 1 % of each team's entries (every hundredth), `RARE` in 10
/// of them (one in each tenth of the log, so spread over the year, all by the
/// busiest member, so a search with that member's filter finds them). No
/// other seeded text holds any of their trigrams, so the trigram index
/// finds them as it would a name or an id of a real log.
pub const COMMON: &str = "nightly";
pub const RARE: &str = "quokka";

/// What the cases filter on.
pub struct Seeded {
    /// Actor 0 (the Admin, the busiest), actor 3.
    pub busy_user: Uuid,
    pub other_user: Uuid,
    /// A live Pod that has history.
    pub pod_id: Uuid,
}

/// How often an action happens, relative to the others.
fn weight(action: &str) -> i32 {
    match action {
        "pod.started" | "pod.stopped" | "billing.usage_charged" => 20,
        "pod.created" | "invite.created" => 5,
        "pod.terminated" | "billing.funds_added" | "invite.accepted" | "member.joined" => 3,
        "member.role_changed" => 2,
        _ => 1,
    }
}

fn resource_type(action: &str) -> &'static str {
    let prefix = action.split('.').next().unwrap_or_default();
    RESOURCE_TYPES
        .iter()
        .find(|t| **t == prefix)
        .copied()
        .unwrap_or("account")
}

/// Whether entry `g` of `n` is one of the ten with `RARE` (one in each
/// tenth of the log; a SQL condition over `g`).
fn rare(n: i64, g: &str) -> String {
    let step = (n / 10).max(1);
    format!("{g} % {step} = {half}", half = step / 2)
}

/// The note of entry `g` of `n`: `RARE` in ten of them, `COMMON` in every
/// hundredth of the rest, nothing in the others (a SQL expression over
/// `s.g`).
fn note(n: i64) -> String {
    format!(
        "CASE WHEN {rare} THEN jsonb_build_object('note', '{RARE} drill')
              WHEN s.g % 100 = 50 THEN jsonb_build_object('note', '{COMMON} retrain')
              ELSE '{{}}'::jsonb END",
        rare = rare(n, "s.g")
    )
}

/// What every team shares: the 49 members' users, the actions' weights,
/// and a second account with a log of its own.
pub fn shared(conn: &mut PgConnection, admin_id: Uuid) -> anyhow::Result<()> {
    conn.batch_execute(&format!(
        "CREATE SCHEMA bench;
         CREATE TABLE bench.members (i int PRIMARY KEY, id uuid NOT NULL, email text NOT NULL,
                                     name text NOT NULL);
         INSERT INTO bench.members
           SELECT 0, id, email, display_name FROM users WHERE id = '{admin_id}';
         INSERT INTO bench.members
           SELECT i, gen_random_uuid(), 'member' || i || '@bench.example', 'Member ' || i
             FROM generate_series(1, {last}) i;
         INSERT INTO users (id, email, display_name, password_hash)
           SELECT id, email, name, 'not a hash: cannot sign in' FROM bench.members WHERE i > 0;
         CREATE TABLE bench.resources (account_id uuid, resource_type text, i int, id text,
                                       PRIMARY KEY (account_id, resource_type, i));
         CREATE TABLE bench.pools (account_id uuid, resource_type text, size int,
                                   PRIMARY KEY (account_id, resource_type));",
        last = MEMBERS - 1
    ))?;
    // Actions, each repeated by its weight.
    let mut actions = Vec::new();
    for action in ActionKind::account_log().map(ActionKind::name) {
        for _ in 0..weight(action) {
            actions.push(format!(
                "({}, '{action}', '{}')",
                actions.len(),
                resource_type(action)
            ));
        }
    }
    conn.batch_execute(&format!(
        "CREATE TABLE bench.actions (i int PRIMARY KEY, action text, resource_type text);
         INSERT INTO bench.actions VALUES {};",
        actions.join(", ")
    ))?;
    second_account(conn)
}

/// Another team of the Admin's, made in SQL (the first one is made
/// through the forms).
pub fn new_team(conn: &mut PgConnection, admin_id: Uuid, name: &str) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    conn.batch_execute(&format!(
        "INSERT INTO accounts (id, kind, name, owner_id) VALUES ('{id}', 'team', '{name}', '{admin_id}');
         INSERT INTO memberships (account_id, user_id, role) VALUES ('{id}', '{admin_id}', 'admin');"
    ))?;
    Ok(id)
}

/// A team's 49 other members, 50 Pods, and the pools its log draws
/// resources from.
pub fn team(conn: &mut PgConnection, account_id: Uuid) -> anyhow::Result<Seeded> {
    let acct = account_id;
    conn.batch_execute(&format!(
        "INSERT INTO memberships (account_id, user_id, role)
           SELECT '{acct}', id, (ARRAY['basic','billing','dev','admin'])[1 + i % 4] FROM bench.members WHERE i > 0;
         INSERT INTO pods (id, account_id, name, gpu_type, gpu_count, image, status,
                           hourly_price_cents, created_at, started_at)
           SELECT gen_random_uuid(), '{acct}', 'pod-' || i, 'rtx-4090', 1 + i % 4, 'pytorch/pytorch:latest',
                  CASE WHEN i % 3 = 0 THEN 'running' ELSE 'stopped' END, 69 * (1 + i % 4),
                  now() - i * interval '1 day', CASE WHEN i % 3 = 0 THEN now() - interval '1 hour' END
             FROM generate_series(1, {PODS}) i;
         INSERT INTO bench.resources
           SELECT '{acct}', 'pod', row_number() OVER (ORDER BY name) - 1, id::text FROM pods WHERE account_id = '{acct}';
         INSERT INTO bench.resources SELECT '{acct}', 'pod', i, gen_random_uuid()::text FROM generate_series({PODS}, 199) i;
         INSERT INTO bench.resources SELECT '{acct}', 'invite', i, gen_random_uuid()::text FROM generate_series(0, 299) i;
         INSERT INTO bench.resources SELECT '{acct}', 'member', i, id::text FROM bench.members;
         INSERT INTO bench.resources SELECT '{acct}', 'user', i, id::text FROM bench.members;
         INSERT INTO bench.resources VALUES ('{acct}', 'account', 0, '{acct}'), ('{acct}', 'billing', 0, '{acct}'),
                                            ('{acct}', 'spend', 0, '{acct}');
         INSERT INTO bench.pools SELECT account_id, resource_type, count(*)::int FROM bench.resources
           WHERE account_id = '{acct}' GROUP BY 1, 2;"
    ))
    .map_err(|e| anyhow::anyhow!("seeding the team: {e}"))?;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let one = |conn: &mut PgConnection, sql: &str| -> anyhow::Result<Uuid> {
        let row: Id = diesel::sql_query(sql).get_result(conn)?;
        Ok(Uuid::parse_str(&row.id)?)
    };
    Ok(Seeded {
        busy_user: one(conn, "SELECT id::text AS id FROM bench.members WHERE i = 0")?,
        other_user: one(conn, "SELECT id::text AS id FROM bench.members WHERE i = 3")?,
        pod_id: one(
            conn,
            &format!(
                "SELECT id FROM bench.resources WHERE account_id = '{acct}' AND resource_type = 'pod' AND i = 0"
            ),
        )?,
    })
}

/// A personal account with a few hundred entries of its own: none may
/// show on the team's page.
fn second_account(conn: &mut PgConnection) -> anyhow::Result<()> {
    conn.batch_execute(
        "INSERT INTO users (id, email, display_name, password_hash)
           VALUES ('00000000-0000-4000-8000-0000000000aa', 'outsider@bench.example', 'Outsider', 'not a hash');
         INSERT INTO accounts (id, kind, name, owner_id)
           VALUES ('00000000-0000-4000-8000-0000000000bb', 'personal', 'Outsider',
                   '00000000-0000-4000-8000-0000000000aa');
         INSERT INTO memberships (account_id, user_id, role)
           VALUES ('00000000-0000-4000-8000-0000000000bb', '00000000-0000-4000-8000-0000000000aa', 'admin');
         INSERT INTO audit_entries (occurred_at, account_id, actor_id, actor_email, action, resource_type,
                                    resource_id, ip, user_agent)
           SELECT now() - g * interval '1 day', '00000000-0000-4000-8000-0000000000bb',
                  '00000000-0000-4000-8000-0000000000aa', 'outsider@bench.example',
                  (ARRAY['pod.started','pod.stopped','billing.funds_added'])[1 + g % 3],
                  (ARRAY['pod','pod','billing'])[1 + g % 3], gen_random_uuid()::text, '192.0.2.7', 'curl/8.5'
             FROM generate_series(1, 300) g;",
    )?;
    Ok(())
}

/// Entries of `account_id` now in the log.
pub fn entries(conn: &mut PgConnection, account_id: Uuid) -> anyhow::Result<i64> {
    use team_console::db::schema::audit_entries as a;
    Ok(a::table
        .filter(a::account_id.eq(account_id))
        .count()
        .get_result(conn)?)
}

/// Adds entries until each account has its number, then rebuilds the
/// indexes, VACUUM ANALYZE, CHECKPOINT and sync (so none of that work
/// runs during a measurement).
pub fn audit_logs(conn: &mut PgConnection, targets: &[(Uuid, i64)]) -> anyhow::Result<()> {
    let started = Instant::now();
    without_indexes(conn, |conn| {
        for &(account_id, target) in targets {
            let n = target - entries(conn, account_id)?;
            insert(conn, account_id, n, started)?;
        }
        Ok(())
    })
}

/// Runs `fill` with the audit table's secondary indexes dropped, then
/// rebuilds them, VACUUM ANALYZE, CHECKPOINT and sync.
pub fn without_indexes(
    conn: &mut PgConnection,
    fill: impl FnOnce(&mut PgConnection) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    #[derive(QueryableByName)]
    struct Def {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        def: String,
        /// Its columns' own statistics targets (`ALTER INDEX … SET
        /// STATISTICS`), which `indexdef` leaves out and a dropped index
        /// loses.
        #[diesel(sql_type = Text)]
        statistics: String,
    }
    let indexes: Vec<Def> = diesel::sql_query(
        "SELECT indexname AS name, indexdef AS def,
                coalesce((SELECT string_agg(format('ALTER INDEX %I.%I ALTER COLUMN %s SET STATISTICS %s',
                                                   schemaname, indexname, a.attnum, a.attstattarget), '; ')
                            FROM pg_attribute a
                           WHERE a.attrelid = format('%I.%I', schemaname, indexname)::regclass
                             AND a.attstattarget >= 0), '') AS statistics
           FROM pg_indexes
          WHERE tablename = 'audit_entries' AND indexname <> 'audit_entries_pkey'",
    )
    .load(conn)?;
    for index in &indexes {
        conn.batch_execute(&format!("DROP INDEX {}", index.name))?;
    }
    fill(conn)?;
    conn.batch_execute("SET maintenance_work_mem = '1GB'")?;
    for index in &indexes {
        let t = Instant::now();
        conn.batch_execute(&index.def)?;
        if !index.statistics.is_empty() {
            conn.batch_execute(&index.statistics)?;
        }
        eprintln!(
            "  rebuilt {} ({:.0} s)",
            index.name,
            t.elapsed().as_secs_f64()
        );
    }
    // Separate statements: VACUUM refuses to run in a (multi-statement) transaction.
    conn.batch_execute("VACUUM (ANALYZE) audit_entries")?;
    conn.batch_execute("CHECKPOINT")?;
    // With fsync off the checkpoint leaves gigabytes of dirty pages to the
    // kernel, which would write them back during the first measurements.
    nix::unistd::sync();
    eprintln!(
        "  logs ready in {:.0} s (insert, index rebuild, VACUUM ANALYZE, written to disk)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `n` entries for `account_id`, spread over the last 365 days in time
/// order, in chunks of a million.
fn insert(
    conn: &mut PgConnection,
    account_id: Uuid,
    n: i64,
    started: Instant,
) -> anyhow::Result<()> {
    let mut done = 0;
    while done < n {
        let chunk = CHUNK.min(n - done);
        let (lo, hi) = (done, done + chunk - 1);
        // Entry g of this step lands at (g + jitter) / n of the way through the year.
        let note = note(n);
        // The rare entries are the busiest member's, so that searching
        // for one with that member's filter finds them.
        let rare = rare(n, "g");
        conn.batch_execute(&format!(
            "INSERT INTO audit_entries (occurred_at, account_id, actor_id, actor_email, actor_name,
                                        action, resource_type, resource_id, ip, user_agent, details)
             SELECT s.ts, '{account_id}', m.id, m.email, m.name, a.action, a.resource_type, r.id,
                    '10.' || (s.g % 7) || '.' || s.ui || '.' || (s.g % 200),
                    (ARRAY['Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
                           'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
                           'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'])[1 + s.ui % 3],
                    CASE a.resource_type
                      WHEN 'pod' THEN jsonb_build_object('name', 'pod-' || x.ri, 'gpu', 'rtx-4090')
                      WHEN 'member' THEN jsonb_build_object('old_role', 'dev', 'new_role', 'admin')
                      WHEN 'billing' THEN jsonb_build_object('amount_cents', s.g % 5000)
                      WHEN 'invite' THEN jsonb_build_object('role', 'dev')
                      ELSE '{{}}'::jsonb END || {note}
               FROM (SELECT g,
                            now() - interval '365 days'
                              + make_interval(secs => (g + random()) * (31536000.0 / {n})) AS ts,
                            CASE WHEN {rare} THEN 0
                                 ELSE floor({ACTORS} * power(random(), 2))::int END AS ui,
                            floor(random() * (SELECT count(*) FROM bench.actions))::int AS ai,
                            random() AS rr
                       FROM generate_series({lo}, {hi}) g) s
               JOIN bench.members m ON m.i = s.ui
               JOIN bench.actions a ON a.i = s.ai
               JOIN bench.pools p ON p.account_id = '{account_id}' AND p.resource_type = a.resource_type
               JOIN LATERAL (SELECT floor(s.rr * p.size)::int AS ri) x ON true
               JOIN bench.resources r ON r.account_id = '{account_id}'
                                     AND r.resource_type = a.resource_type AND r.i = x.ri",
        ))?;
        done += chunk;
        eprintln!(
            "  seeded {} of {n} entries of {account_id} ({:.0} s)",
            done,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
