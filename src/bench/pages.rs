//! Issue 7: signed-in pages under load (concurrency 32): dashboard,
//! members (50), pods (50), audit first page. Each against its main
//! statement through pgbench, with every statement the page sent during
//! the load counted from pg_stat_statements (round trips per request and
//! where the database time goes).

use crate::bench::load::{self, Measured};
use crate::bench::sql::{self, Sql, Statement};
use crate::bench::{Bench, BenchArgs, mark, ms};

struct Page {
    name: &'static str,
    path: String,
    /// Picks the page's main statement out of those it sent.
    main: &'static [&'static str],
    params: Vec<String>,
}

struct Row {
    name: &'static str,
    http: Measured,
    sql: Measured,
    round_trips: f64,
    statements: Vec<Statement>,
}

/// The hash of the Admin's session key, as the session load binds it.
fn session_key_hash(bench: &mut Bench) -> anyhow::Result<String> {
    use crate::db::schema::sessions;
    use diesel::prelude::*;
    let hash: Vec<u8> = sessions::table
        .filter(sessions::user_id.eq(bench.admin_id))
        .order(sessions::created_at.desc())
        .select(sessions::key_hash)
        .first(&mut bench.conn)?;
    Ok(format!(
        "\\x{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

fn pages(bench: &mut Bench) -> anyhow::Result<Vec<Page>> {
    let account = bench.account_id.to_string();
    let limit = (crate::audit::page::PAGE_SIZE + 1).to_string();
    let now = "now".to_string();
    Ok(vec![
        Page {
            name: "dashboard",
            path: format!("/accounts/{account}"),
            // The dashboard needs nothing but the session, its user and
            // their memberships, loaded together.
            main: &["FROM (((\"sessions\" LEFT OUTER JOIN \"users\""],
            params: vec![session_key_hash(bench)?, now.clone(), now],
        },
        Page {
            name: "members (50)",
            path: format!("/accounts/{account}/members"),
            main: &[
                "INNER JOIN \"users\"",
                "\"memberships\".\"account_id\" = $1",
            ],
            params: vec![account.clone()],
        },
        Page {
            name: "pods (50)",
            path: format!("/accounts/{account}/pods"),
            main: &["FROM \"pods\" WHERE"],
            params: vec![account.clone()],
        },
        Page {
            name: "audit first page",
            path: format!("/accounts/{account}/audit"),
            main: &crate::bench::audit::PAGE_QUERY,
            params: [account, limit]
                .into_iter()
                .chain(crate::audit::query::RESOURCE_EXISTS_LITERALS.map(String::from))
                .collect(),
        },
    ])
}

pub fn run(bench: &mut Bench, args: &BenchArgs) -> anyhow::Result<String> {
    let entries = crate::bench::seed::entries(&mut bench.conn, bench.account_id)?;
    let mut rows = Vec::new();
    for page in pages(bench)? {
        eprintln!(
            "pages: {} at c32 for {} s, then its SQL",
            page.name, args.duration
        );
        bench.expect_ok(&page.path)?;
        sql::reset_statements(&mut bench.conn)?;
        let http = load::wrk(&bench.url(&page.path), &bench.cookie, 32, args.duration)?;
        let statements = sql::statements(&mut bench.conn)?;
        bench.expect_ok(&page.path)?;
        let calls: i64 = statements.iter().map(|s| s.calls).sum();
        let text = sql::find(&statements, page.main)?.query.clone();
        let main = Sql {
            text,
            params: page.params.clone(),
        }
        .checked()?;
        let sql = sql::pgbench(&bench.pgbench, &bench.target, &main, 32, args.duration)?;
        rows.push(Row {
            name: page.name,
            round_trips: calls as f64 / http.requests as f64,
            http,
            sql,
            statements,
        });
    }
    Ok(report(&rows, entries))
}

fn report(rows: &[Row], entries: i64) -> String {
    let mut out = format!(
        "## Signed-in pages at concurrency 32 (issue 7)\n\nThe audit log holds {entries} entries of the team.\n\n\
         | page | req/s | p50 | p99 | non-2xx | main SQL tps | req/s ÷ tps (≥ 0.8) | SQL round trips per request (≤ 3) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        let share = r.http.per_second / r.sql.per_second;
        out.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {:.0} | {share:.2} ({}) | {:.2} ({}) |\n",
            r.name,
            r.http.per_second,
            ms(r.http.p50_ms),
            ms(r.http.p99_ms),
            r.http.failures,
            r.sql.per_second,
            mark(share >= 0.8),
            r.round_trips,
            mark(r.round_trips <= 3.05),
        ));
    }
    out.push_str("\n### Statements per page under load (pg_stat_statements)\n\n");
    for r in rows {
        out.push_str(&format!(
            "**{}**\n\n| per request | mean | statement |\n|---:|---:|---|\n",
            r.name
        ));
        let requests = r.http.requests.max(1) as f64;
        for s in &r.statements {
            let text: String = s.query.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = text.chars().take(140).collect();
            out.push_str(&format!(
                "| {:.2} | {} | `{}{}` |\n",
                s.calls as f64 / requests,
                ms(s.mean_ms),
                short.replace('|', "\\|"),
                if text.chars().count() > 140 {
                    "…"
                } else {
                    ""
                }
            ));
        }
        out.push('\n');
    }
    out
}
