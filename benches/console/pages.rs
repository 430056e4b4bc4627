//! Issue 7: signed-in pages under load (concurrency 32): dashboard,
//! members (50), pods (50), audit first page. Each against its own SQL
//! (every statement one request sends, with the same values) through
//! pgbench, with every statement the page sent during the load counted
//! from pg_stat_statements (round trips per request and where the
//! database time goes).

use crate::cpu::{self, Cpu};
use crate::load::{self, Measured};
use crate::sql::{self, Statement};
use crate::{Bench, BenchArgs, mark, ms};

struct Row {
    name: &'static str,
    http: Measured,
    sql: Measured,
    /// Statements of one request (what pgbench runs as one transaction).
    sent: usize,
    round_trips: f64,
    statements: Vec<Statement>,
    /// CPU time of the console and of PostgreSQL during the HTTP run.
    cpu: Cpu,
}

fn pages(bench: &Bench) -> Vec<(&'static str, String)> {
    let account = bench.account_id;
    vec![
        ("dashboard", format!("/accounts/{account}")),
        ("members (50)", format!("/accounts/{account}/members")),
        ("pods (50)", format!("/accounts/{account}/pods")),
        ("audit first page", format!("/accounts/{account}/audit")),
    ]
}

pub fn run(bench: &mut Bench, args: &BenchArgs) -> anyhow::Result<String> {
    let entries = crate::seed::entries(&mut bench.conn, bench.account_id)?;
    let mut rows = Vec::new();
    for (name, path) in pages(bench) {
        eprintln!("pages: {name} at c32 for {} s, then its SQL", args.duration);
        let page_sql = bench.page_sql(&path)?;
        sql::reset_statements(&mut bench.conn)?;
        let before = cpu::sample(&bench.data_dir);
        let http = load::wrk(&bench.url(&path), &bench.cookie, 32, args.duration)?;
        let cpu = cpu::sample(&bench.data_dir) - before;
        let statements = sql::statements(&mut bench.conn)?;
        bench.expect_ok(&path)?;
        let calls: i64 = statements.iter().map(|s| s.calls).sum();
        let sql = sql::pgbench(&bench.pgbench, &bench.target, &page_sql, 32, args.duration)?;
        rows.push(Row {
            name,
            sent: page_sql.len(),
            round_trips: calls as f64 / http.requests as f64,
            http,
            sql,
            statements,
            cpu,
        });
    }
    Ok(report(&rows, entries))
}

fn report(rows: &[Row], entries: i64) -> String {
    let mut out = format!(
        "## Signed-in pages at concurrency 32 (issue 7)\n\nThe audit log holds {entries} entries of the team.\n\n\
         | page | req/s | p50 | p99 | non-2xx | its SQL (statements) | SQL tps | req/s ÷ tps (≥ 0.8) | SQL round trips per request under load (≤ 3) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        let share = r.http.per_second / r.sql.per_second;
        out.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {} | {:.0} | {share:.2} ({}) | {:.2} ({}) |\n",
            r.name,
            r.http.per_second,
            ms(r.http.p50_ms),
            ms(r.http.p99_ms),
            r.http.failures,
            r.sent,
            r.sql.per_second,
            mark(share >= 0.8),
            r.round_trips,
            mark(r.round_trips <= 3.05),
        ));
    }
    out.push_str(
        "\n### CPU per page under load (issue 19; /proc, during the HTTP run)\n\n\
         | page | console µs/page | PostgreSQL µs/page | console ÷ PostgreSQL (target) | req/s ÷ SQL tps |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let per_page =
            |t: std::time::Duration| t.as_secs_f64() * 1e6 / r.http.requests.max(1) as f64;
        let (console, database) = (per_page(r.cpu.console), per_page(r.cpu.database));
        let ratio = console / database.max(f64::MIN_POSITIVE);
        let target = if r.name == "dashboard" { 1.0 } else { 0.5 };
        out.push_str(&format!(
            "| {} | {console:.0} | {database:.0} | {ratio:.2} (≤ {target}: {}) | {:.2} |\n",
            r.name,
            mark(ratio <= target),
            r.http.per_second / r.sql.per_second,
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
