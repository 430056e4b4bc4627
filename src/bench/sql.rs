//! The SQL side: the statements a page really sends (read back from
//! pg_stat_statements, so the benchmark times the application's own SQL,
//! not a copy), timed directly with pgbench, explained with EXPLAIN.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use crate::bench::load::Measured;

/// One statement as the application sends it (`$1`…) and the values of
/// its parameters, in order.
#[derive(Debug, Clone)]
pub struct Sql {
    pub text: String,
    pub params: Vec<String>,
}

impl Sql {
    /// `text` with every `$n` replaced by `f(n)`.
    fn map_params(&self, f: impl Fn(usize) -> String) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut chars = self.text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push_str(&f(n));
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Refuses a statement whose placeholders do not match the values
    /// given (the application's query changed shape).
    pub fn checked(self) -> anyhow::Result<Sql> {
        let highest = std::cell::Cell::new(0);
        self.map_params(|n| {
            highest.set(highest.get().max(n));
            String::new()
        });
        if highest.get() != self.params.len() {
            bail!(
                "the statement has {} parameters but the benchmark supplies {}: update src/bench to the query's new shape\n{}",
                highest.get(),
                self.params.len(),
                self.text
            );
        }
        Ok(self)
    }

    /// The statement with its values inlined as literals (for EXPLAIN).
    pub fn with_literals(&self) -> String {
        self.map_params(|n| format!("'{}'", self.params[n - 1].replace('\'', "''")))
    }

    /// A pgbench script: `:p1`… are bound by `-D p1=…` and sent as the
    /// parameters of a prepared statement (`-M prepared`), like diesel does.
    fn pgbench_script(&self) -> String {
        format!("{};\n", self.map_params(|n| format!(":p{n}")))
    }
}

/// Where pgbench connects: the cluster's socket folder and the database.
pub struct Target {
    pub socket_dir: PathBuf,
    pub database: String,
    pub work_dir: PathBuf,
}

pub fn find_pgbench() -> anyhow::Result<PathBuf> {
    if Command::new("pgbench").arg("--version").output().is_ok() {
        return Ok(PathBuf::from("pgbench"));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pgbench"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().context(
        "pgbench was not found (PATH, /usr/lib/postgresql/*/bin): install the PostgreSQL client packages (apt-get install postgresql-client)",
    )
}

/// `pgbench -c clients -T seconds` on `sql`; p50/p99 from its
/// per-transaction log.
pub fn pgbench(
    pgbench: &Path,
    target: &Target,
    sql: &Sql,
    clients: u32,
    seconds: u64,
) -> anyhow::Result<Measured> {
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = target.work_dir.join(format!("pgbench-{run}"));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("script.sql");
    std::fs::write(&script, sql.pgbench_script())?;
    let mut cmd = Command::new(pgbench);
    cmd.args(["-n", "-M", "prepared", "-f"])
        .arg(&script)
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
        ])
        .args(["-T", &seconds.to_string(), "-l"])
        .arg(format!("--log-prefix={}", dir.join("log").display()))
        .arg("-h")
        .arg(&target.socket_dir)
        .args(["-p", "5432", "-U", "postgres"]);
    for (i, value) in sql.params.iter().enumerate() {
        cmd.arg("-D").arg(format!("p{}={value}", i + 1));
    }
    cmd.arg(&target.database);
    let output = cmd.output().context("running pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut m = Measured::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("tps = ") {
            m.per_second = rest.split_whitespace().next().unwrap_or("0").parse()?;
        } else if let Some(rest) = line.strip_prefix("number of failed transactions: ") {
            m.failures = rest.split_whitespace().next().unwrap_or("0").parse()?;
        }
    }
    let mut latencies: Vec<u64> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("log."))
        {
            let log = std::fs::read_to_string(&path)?;
            latencies.extend(
                log.lines()
                    .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()),
            );
        }
    }
    if latencies.is_empty() || m.per_second == 0.0 {
        bail!("pgbench measured nothing:\n{text}");
    }
    latencies.sort_unstable();
    let at =
        |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    m.p50_ms = at(0.50);
    m.p99_ms = at(0.99);
    m.requests = latencies.len() as u64;
    std::fs::remove_dir_all(&dir)?;
    Ok(m)
}

/// A statement pg_stat_statements saw since the last reset.
#[derive(Debug, Clone, QueryableByName)]
pub struct Statement {
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = Double)]
    pub mean_ms: f64,
    #[diesel(sql_type = Text)]
    pub query: String,
}

pub fn reset_statements(conn: &mut PgConnection) -> anyhow::Result<()> {
    diesel::sql_query("SELECT pg_stat_statements_reset()").execute(conn)?;
    Ok(())
}

/// Everything the application's database saw since the reset, most
/// called first (the benchmark's own statistics queries left out).
pub fn statements(conn: &mut PgConnection) -> anyhow::Result<Vec<Statement>> {
    Ok(diesel::sql_query(
        "SELECT calls, mean_exec_time AS mean_ms, query FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query NOT LIKE '%pg_stat_statements%'
          ORDER BY calls DESC, total_exec_time DESC",
    )
    .load(conn)?)
}

/// The statement containing every one of `needles`.
pub fn find<'a>(statements: &'a [Statement], needles: &[&str]) -> anyhow::Result<&'a Statement> {
    statements
        .iter()
        .find(|s| needles.iter().all(|n| s.query.contains(n)))
        .with_context(|| {
            let seen: Vec<&str> = statements.iter().map(|s| s.query.as_str()).collect();
            format!(
                "no statement containing {needles:?} among:\n{}",
                seen.join("\n")
            )
        })
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

/// The plan with the values inlined (as PostgreSQL plans a custom plan for
/// them); the statement and values are the benchmark's own, not input.
pub fn explain(conn: &mut PgConnection, sql: &Sql) -> anyhow::Result<String> {
    let lines: Vec<PlanLine> = diesel::sql_query(format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        sql.with_literals()
    ))
    .load(conn)?;
    Ok(lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_variables_and_literals() {
        let sql = Sql {
            text: "SELECT 1 WHERE a = $1 AND b = $2 AND c = $1 LIMIT $10".into(),
            params: (1..=10).map(|n| format!("v{n}'")).collect(),
        };
        assert_eq!(
            sql.pgbench_script(),
            "SELECT 1 WHERE a = :p1 AND b = :p2 AND c = :p1 LIMIT :p10;\n"
        );
        assert!(sql.with_literals().ends_with("LIMIT 'v10'''"));
        assert!(sql.clone().checked().is_ok());
        let short = Sql {
            params: vec!["x".into()],
            ..sql
        };
        assert!(short.checked().is_err());
    }
}
