//! Issues 6 and 13: the Audit logs first page, unfiltered, with each
//! filter and with a free-text search (a rare and a common word, alone and
//! with the busiest member), at each log size, over HTTP (wrk) and as the
//! page's own SQL (pgbench), at concurrency 1 and 32; EXPLAIN plans at the
//! largest size. Each size is a team of its own in the same tables, and
//! each case is measured on every size in turn, so what a size comparison
//! sees is the size, not whatever else the machine did between two
//! far-apart runs.

use time::{Duration, OffsetDateTime};

use crate::load::{self, Measured};
use crate::seed::{COMMON, RARE};
use crate::sql;
use crate::{Bench, BenchArgs, Team, mark, ms};

/// One view of the page: its name and query string.
struct Case {
    name: &'static str,
    query: String,
}

/// The cases: the same for every team but for the team's own Pod.
fn cases(team: &Team) -> Vec<Case> {
    let s = &team.seeded;
    let today = OffsetDateTime::now_utc().date();
    let (from, to) = (today - Duration::days(30), today - Duration::days(24));
    [
        ("unfiltered", String::new()),
        ("user", format!("user={}", s.busy_user)),
        ("resource type", "resource=invite".into()),
        ("resource id", format!("resource_id={}", s.pod_id)),
        ("action", "action=member.role_changed".into()),
        ("date range", format!("from={from}&to={to}")),
        (
            "user + resource",
            format!("user={}&resource=pod", s.other_user),
        ),
        // Issue 13: free-text search, alone and with the busiest member.
        ("search rare", format!("q={RARE}")),
        ("search common", format!("q={COMMON}")),
        (
            "search rare + user",
            format!("q={RARE}&user={}", s.busy_user),
        ),
        (
            "search common + user",
            format!("q={COMMON}&user={}", s.busy_user),
        ),
    ]
    .into_iter()
    .map(|(name, query)| Case { name, query })
    .collect()
}

/// The page's main statement as the application sent it.
const PAGE_QUERY: [&str; 2] = [
    "FROM \"audit_entries\" WHERE",
    "ORDER BY \"audit_entries\".\"occurred_at\" DESC",
];

struct Row {
    size: i64,
    case: &'static str,
    http1: Measured,
    sql1: Measured,
    http32: Measured,
    sql32: Measured,
    /// The SQL with as many clients as the console's pool has
    /// connections: the database's best, as the console can use it.
    sql_pool: Measured,
}

pub fn run(bench: &mut Bench, args: &BenchArgs) -> anyhow::Result<String> {
    let mut rows = Vec::new();
    let mut plans = String::new();
    let largest = *args.sizes.last().unwrap_or(&0);
    let names: Vec<&'static str> = cases(&bench.teams[0]).iter().map(|c| c.name).collect();
    for (c, name) in names.into_iter().enumerate() {
        for t in 0..bench.teams.len() {
            let (size, account_id) = (bench.teams[t].entries, bench.teams[t].account_id);
            let case = cases(&bench.teams[t]).swap_remove(c);
            let path = match case.query.as_str() {
                "" => format!("/accounts/{account_id}/audit"),
                q => format!("/accounts/{account_id}/audit?{q}"),
            };
            let page_sql = bench.page_sql(&path)?;
            let main = sql::find_sent(&page_sql, &PAGE_QUERY)?;
            eprintln!("  {name} at {size} entries: HTTP and SQL at c1 and c32");
            let d = args.case_duration;
            let url = bench.url(&path);
            let http1 = load::wrk(&url, &bench.cookie, 1, d)?;
            let sql1 = sql::pgbench(&bench.pgbench, &bench.target, &page_sql, 1, d)?;
            let http32 = load::wrk(&url, &bench.cookie, 32, d)?;
            let sql32 = sql::pgbench(&bench.pgbench, &bench.target, &page_sql, 32, d)?;
            let sql_pool =
                sql::pgbench(&bench.pgbench, &bench.target, &page_sql, bench.pool_size, d)?;
            bench.expect_ok(&path)?;
            if size == largest {
                plans.push_str(&format!(
                    "### {name} ({size} entries)\n\n`GET {}`\n\n```\n{}\n```\n\n",
                    path.replace(&account_id.to_string(), "{account}"),
                    sql::explain(&mut bench.conn, &page_sql, main)?
                ));
                if name == "unfiltered" || name == "search rare" {
                    let sent: Vec<&str> = page_sql.iter().map(|s| s.text.as_str()).collect();
                    plans.push_str(&format!(
                        "Every statement of one request, as sent (`$n` bound), which pgbench runs as one transaction:\n\n```sql\n{};\n```\n\n",
                        sent.join(";\n\n")
                    ));
                }
            }
            rows.push(Row {
                size,
                case: name,
                http1,
                sql1,
                http32,
                sql32,
                sql_pool,
            });
        }
    }
    rows.sort_by_key(|r| r.size);
    let api = api_against_page(bench, args, &rows)?;
    Ok(format!(
        "## Audit logs first page (issues 6 and 13)\n\n{}\n{}\n{}\n{api}\n## EXPLAIN (ANALYZE, BUFFERS) at {largest} entries\n\n{plans}",
        detail(&rows, bench.pool_size),
        summary(&rows, args.sizes[0], largest, bench.pool_size),
        search_summary(&rows, &args.sizes)
    ))
}

/// Issue 21: `GET /api/v1/accounts/{id}/audit` (first page, unfiltered,
/// 50 entries as JSON) at c32, right after the page's own run at the same
/// size: its req/s should be at least the HTML page's.
fn api_against_page(bench: &mut Bench, args: &BenchArgs, rows: &[Row]) -> anyhow::Result<String> {
    let mut out = String::from(
        "\n### The JSON API's GET audit against the page (issue 21)\n\n| entries | page req/s c32 | API req/s c32 | API c32 p50 / p99 | ratio (≥ 1) | non-2xx |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for t in 0..bench.teams.len() {
        let (size, account_id) = (bench.teams[t].entries, bench.teams[t].account_id);
        let Some(page) = rows
            .iter()
            .find(|r| r.size == size && r.case == "unfiltered")
        else {
            continue;
        };
        let secret = api_key(bench, account_id)?;
        let url = bench.url(&format!("/api/v1/accounts/{account_id}/audit"));
        eprintln!("  API audit at {size} entries: HTTP at c32");
        let header = format!("Authorization: Bearer {secret}");
        let api = load::wrk_with(&url, &header, 32, args.case_duration)?;
        let ratio = api.per_second / page.http32.per_second;
        out.push_str(&format!(
            "| {size} | {:.0} | {:.0} | {} / {} | {ratio:.2} ({}) | {} |\n",
            page.http32.per_second,
            api.per_second,
            ms(api.p50_ms),
            ms(api.p99_ms),
            mark(ratio >= 1.0),
            api.failures
        ));
    }
    Ok(out)
}

/// An `audit:read` key of the Admin's for the account, made by the core.
fn api_key(bench: &mut Bench, account_id: uuid::Uuid) -> anyhow::Result<String> {
    use team_console::api_keys::{self, NewKey};
    use team_console::audit::{Actor, Change, Origin};
    use team_console::ids::{AccountId, UserId};
    let new = NewKey::check("benchmark", &["audit:read".to_string()], "")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let cx = Change {
        account_id: AccountId::from_uuid(account_id),
        actor: Actor::user(
            UserId::from_uuid(bench.admin_id),
            "bench@example.com",
            "Bench Admin",
        ),
        origin: Origin::default(),
        now: OffsetDateTime::now_utc(),
    };
    Ok(api_keys::create(&mut bench.conn, &cx, &new)?.secret)
}

fn detail(rows: &[Row], pool: u32) -> String {
    let mut out = format!(
        "| entries | case | HTTP c1 p50 | SQL c1 p50 | HTTP − SQL p50 | HTTP c32 req/s | SQL c32 tps | req/s ÷ tps | SQL c{pool} tps | req/s ÷ that | HTTP c32 p50 / p99 | SQL c32 p50 / p99 | non-2xx |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} | {} / {} | {} / {} | {} |\n",
            r.size,
            r.case,
            ms(r.http1.p50_ms),
            ms(r.sql1.p50_ms),
            ms(r.http1.p50_ms - r.sql1.p50_ms),
            r.http32.per_second,
            r.sql32.per_second,
            r.http32.per_second / r.sql32.per_second,
            r.sql_pool.per_second,
            r.http32.per_second / r.sql_pool.per_second,
            ms(r.http32.p50_ms),
            ms(r.http32.p99_ms),
            ms(r.sql32.p50_ms),
            ms(r.sql32.p99_ms),
            r.http1.failures + r.http32.failures,
        ));
    }
    out
}

fn is_search(case: &str) -> bool {
    case.starts_with("search")
}

/// Issue 13's target for the search cases: the first page at the largest
/// size, HTTP c1 p50 ≤ 50 ms (the SQL beside it, and every size).
fn search_summary(rows: &[Row], sizes: &[i64]) -> String {
    let largest = *sizes.last().unwrap_or(&0);
    let mut out = String::from("\n### Search targets (issue 13)\n\n| case |");
    for size in sizes {
        out.push_str(&format!(" HTTP c1 p50 at {size} |"));
    }
    out.push_str(&format!(
        " SQL c1 p50 at {largest} | HTTP c1 p50 at {largest} ≤ 50 ms |\n|---|"
    ));
    out.push_str(&"---:|".repeat(sizes.len() + 2));
    out.push('\n');
    let cases: Vec<&str> = rows
        .iter()
        .filter(|r| r.size == largest && is_search(r.case))
        .map(|r| r.case)
        .collect();
    for case in cases {
        let at = |size: i64| rows.iter().find(|r| r.size == size && r.case == case);
        out.push_str(&format!("| {case} |"));
        for &size in sizes {
            match at(size) {
                Some(r) => out.push_str(&format!(" {} |", ms(r.http1.p50_ms))),
                None => out.push_str(" – |"),
            }
        }
        if let Some(r) = at(largest) {
            out.push_str(&format!(
                " {} | {} |",
                ms(r.sql1.p50_ms),
                mark(r.http1.p50_ms <= 50.0)
            ));
        }
        out.push('\n');
    }
    out
}

/// The issue's three targets per case: latency at the largest size within
/// 1.1× of the smallest, HTTP p50 − SQL p50 ≤ 0.3 ms, req/s ≥ 0.8 × tps.
fn summary(rows: &[Row], smallest: i64, largest: i64, pool: u32) -> String {
    let mut out = format!(
        "\n### Targets\n\n| case | HTTP c1 p50 at {smallest} | at {largest} | ratio (≤ 1.1) | HTTP − SQL p50 at {largest} (≤ 0.3 ms) | req/s ÷ tps at c32, {largest} (≥ 0.8) | req/s ÷ the SQL's tps at c{pool} (stricter) |\n|---|---:|---:|---:|---:|---:|---:|\n"
    );
    let at = |size: i64, case: &str| rows.iter().find(|r| r.size == size && r.case == case);
    for r in rows
        .iter()
        .filter(|r| r.size == largest && !is_search(r.case))
    {
        let Some(small) = at(smallest, r.case) else {
            continue;
        };
        let ratio = r.http1.p50_ms / small.http1.p50_ms;
        let gap = r.http1.p50_ms - r.sql1.p50_ms;
        let share = r.http32.per_second / r.sql32.per_second;
        let strict = r.http32.per_second / r.sql_pool.per_second;
        out.push_str(&format!(
            "| {} | {} | {} | {ratio:.2} ({}) | {} ({}) | {share:.2} ({}) | {strict:.2} |\n",
            r.case,
            ms(small.http1.p50_ms),
            ms(r.http1.p50_ms),
            mark(ratio <= 1.1),
            ms(gap),
            mark(gap <= 0.3),
            mark(share >= 0.8),
        ));
    }
    out
}
