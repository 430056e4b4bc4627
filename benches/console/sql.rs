//! The SQL side: every statement a page really sends, with the values it
//! binds (read back from the server log, so the benchmark times the
//! application's own SQL, not a copy), timed directly with pgbench,
//! explained with EXPLAIN; pg_stat_statements counts them under load.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use crate::load::Measured;

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

    /// Refuses a statement whose placeholders do not match its values (a
    /// log line read wrong).
    pub fn checked(self) -> anyhow::Result<Sql> {
        let highest = std::cell::Cell::new(0);
        self.map_params(|n| {
            highest.set(highest.get().max(n));
            String::new()
        });
        if highest.get() != self.params.len() {
            bail!(
                "the statement has {} parameters but the log gave {} values\n{}",
                highest.get(),
                self.params.len(),
                self.text
            );
        }
        Ok(self)
    }

    /// Its values as quoted literals, in order (for EXPLAIN … EXECUTE).
    pub fn literals(&self) -> String {
        self.params
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A pgbench command: `:q{i}p{n}` are bound by `-D q{i}p{n}=…` and
    /// sent as the parameters of a prepared statement (`-M prepared`), like
    /// diesel does.
    fn pgbench_command(&self, i: usize) -> String {
        format!("{};\n", self.map_params(|n| format!(":q{i}p{n}")))
    }
}

/// The pgbench script of a page: all its statements, in order, as one
/// transaction (pgbench's tps is then pages per second).
pub(crate) fn pgbench_script(page: &[Sql]) -> String {
    page.iter()
        .enumerate()
        .map(|(i, sql)| sql.pgbench_command(i))
        .collect()
}

/// Server log settings while a page's statements are captured: every
/// statement is logged with its parameters.
fn log_every_statement(conn: &mut PgConnection, on: bool) -> anyhow::Result<()> {
    diesel::sql_query(if on {
        "ALTER SYSTEM SET log_min_duration_statement = 0"
    } else {
        "ALTER SYSTEM RESET log_min_duration_statement"
    })
    .execute(conn)?;
    diesel::sql_query("SELECT pg_reload_conf()").execute(conn)?;
    Ok(())
}

/// Every statement the console sends while `request` runs, in order, with
/// the values it binds: the server logs every statement meanwhile, and
/// this reads them back. `request` runs once before the capture too (an
/// idle server process applies the new log settings only once it has
/// received a message).
pub fn capture(
    conn: &mut PgConnection,
    server_log: &Path,
    request: impl Fn() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Sql>> {
    log_every_statement(conn, true)?;
    let captured = (|| -> anyhow::Result<Vec<Sql>> {
        std::thread::sleep(std::time::Duration::from_millis(100));
        request()?;
        let start = std::fs::metadata(server_log)?.len();
        request()?;
        let log = std::fs::read(server_log)?;
        Ok(parse_log(&String::from_utf8_lossy(&log[start as usize..])))
    })();
    log_every_statement(conn, false)?;
    let statements = captured?;
    if statements.is_empty() {
        bail!("the server log shows no statement of the request");
    }
    statements.into_iter().map(Sql::checked).collect()
}

/// The executed statements in a server log written with
/// `log_min_duration_statement = 0` and the default `log_line_prefix`
/// (`%m [%p] `): each `duration: … execute <name>: SQL` entry (the
/// extended protocol, as diesel sends queries), with the `DETAIL:
/// parameters: $1 = '…', …` entry of the same process after it; and each
/// `duration: … statement: SQL` entry (the simple protocol, as diesel
/// sends `BEGIN` and `COMMIT`) that controls a transaction or sets a
/// setting for it (`SET LOCAL`): the page's search runs in a transaction
/// of its own, and pgbench must run it the same way. Other simple
/// statements are left out: the pool sends its connection settings that
/// way when it opens a connection, which may happen during any request.
pub(crate) fn parse_log(log: &str) -> Vec<Sql> {
    // Entries start with the prefix's timestamp; a statement's other lines
    // are continuation lines.
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in log.lines() {
        let starts_entry = line.len() > 24
            && line.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && line.as_bytes()[4] == b'-';
        match (starts_entry, line.find("] ")) {
            (true, Some(end)) => {
                let pid = line[..end].rsplit('[').next().unwrap_or("").to_string();
                entries.push((pid, line[end + 2..].to_string()));
            }
            _ => {
                if let Some((_, text)) = entries.last_mut() {
                    text.push('\n');
                    text.push_str(line.trim_start_matches('\t'));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (i, (pid, text)) in entries.iter().enumerate() {
        let Some(rest) = text.strip_prefix("LOG:  duration: ") else {
            continue;
        };
        if let Some((_, sql)) = rest.split_once(" ms  statement: ") {
            if in_transaction_control(sql) {
                out.push(Sql {
                    text: sql.trim_end_matches(';').to_string(),
                    params: Vec::new(),
                });
            }
            continue;
        }
        let Some(sql) = rest
            .split_once(" execute ")
            .and_then(|(_, s)| s.split_once(": "))
            .map(|(_, sql)| sql)
        else {
            continue;
        };
        let params = entries[i + 1..]
            .iter()
            .find(|(p, _)| p == pid)
            .and_then(|(_, t)| t.strip_prefix("DETAIL:  parameters: "))
            .map(parse_params)
            .unwrap_or_default();
        out.push(Sql {
            text: sql.to_string(),
            params,
        });
    }
    out
}

/// A statement that begins or ends a transaction, or sets a setting for
/// the rest of it.
fn in_transaction_control(sql: &str) -> bool {
    let upper = sql.trim_start().to_ascii_uppercase();
    let first = upper.split_whitespace().next().unwrap_or_default();
    let first = first.trim_end_matches(';');
    matches!(
        first,
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE"
    ) || upper.starts_with("SET LOCAL ")
}

/// `$1 = 'a''b', $2 = NULL` → `["a'b", ""]` (NULL is never bound by the
/// pages measured).
fn parse_params(list: &str) -> Vec<String> {
    let mut params = Vec::new();
    let mut rest = list;
    while let Some((_, value)) = rest.split_once(" = ") {
        if let Some(quoted) = value.strip_prefix('\'') {
            let mut v = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = quoted.len();
            while let Some((at, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                    } else {
                        end = at + 1;
                        break;
                    }
                }
                v.push(c);
            }
            params.push(v);
            rest = &quoted[end..];
        } else {
            params.push(String::new());
            rest = value.split_once(", ").map_or("", |(_, r)| r);
        }
    }
    params
}

/// Where pgbench connects: the cluster's socket folder and the database;
/// the server's log.
pub struct Target {
    pub socket_dir: PathBuf,
    pub database: String,
    pub work_dir: PathBuf,
    pub server_log: PathBuf,
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

/// `pgbench -c clients -T seconds` on a page's statements (one
/// transaction a page); p50/p99 from its per-transaction log.
pub fn pgbench(
    pgbench: &Path,
    target: &Target,
    page: &[Sql],
    clients: u32,
    seconds: u64,
) -> anyhow::Result<Measured> {
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = target.work_dir.join(format!("pgbench-{run}"));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("script.sql");
    std::fs::write(&script, pgbench_script(page))?;
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
        .args(["-p", "5432", "-U", "postgres"])
        // The console's connections' settings, so the statements run as
        // they do for the console.
        .env(
            "PGOPTIONS",
            team_console::db::SESSION_SETTINGS
                .iter()
                .map(|(name, value)| format!("-c {name}={value}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    for (i, sql) in page.iter().enumerate() {
        for (n, value) in sql.params.iter().enumerate() {
            cmd.arg("-D").arg(format!("q{i}p{}={value}", n + 1));
        }
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

/// The statement of a page containing every one of `needles`.
pub fn find_sent<'a>(page: &'a [Sql], needles: &[&str]) -> anyhow::Result<&'a Sql> {
    page.iter()
        .find(|s| needles.iter().all(|n| s.text.contains(n)))
        .with_context(|| {
            let seen: Vec<&str> = page.iter().map(|s| s.text.as_str()).collect();
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

/// The settings `main` runs with besides the connection's: the `SET
/// LOCAL` statements the page sent before it in the same transaction (a
/// search plans for its term: `SET LOCAL plan_cache_mode =
/// force_custom_plan`).
pub fn local_settings<'a>(page: &'a [Sql], main: &Sql) -> Vec<&'a Sql> {
    let before = page
        .iter()
        .position(|s| std::ptr::eq(s, main))
        .unwrap_or(page.len());
    let mut settings = Vec::new();
    for s in &page[..before] {
        let upper = s.text.trim_start().to_ascii_uppercase();
        if upper.starts_with("SET LOCAL ") {
            settings.push(s);
        } else if ["BEGIN", "START", "COMMIT", "END", "ROLLBACK"]
            .iter()
            .any(|w| upper.starts_with(w))
        {
            // A transaction begins or ends: what was set before is gone.
            settings.clear();
        }
    }
    settings
}

/// The plan the console's connections run, executed with the request's
/// values. The statement and its values are what the console sent for the
/// benchmark's own request (read back from the server log), not outside
/// input; literals are quoted by `literals`.
pub fn explain(conn: &mut PgConnection, page: &[Sql], main: &Sql) -> anyhow::Result<String> {
    use diesel::connection::SimpleConnection;
    // The plan the console runs: prepared, with its connections' settings
    // (a generic plan) and whatever the page set for the statement's
    // transaction (a search: a plan for its term), executed with the
    // request's values. All of it in a transaction, so every setting ends
    // with it.
    let lines = conn.transaction(|conn| -> anyhow::Result<Vec<PlanLine>> {
        for (name, value) in team_console::db::SESSION_SETTINGS {
            conn.batch_execute(&format!("SET LOCAL {name} = {value}"))?;
        }
        for setting in local_settings(page, main) {
            conn.batch_execute(&setting.text)?;
        }
        conn.batch_execute(&format!("PREPARE bench_explain AS {}", main.text))?;
        let lines: Result<Vec<PlanLine>, _> = diesel::sql_query(format!(
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_explain({})",
            main.literals()
        ))
        .load(conn);
        conn.batch_execute("DEALLOCATE bench_explain")?;
        Ok(lines?)
    })?;
    Ok(lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n"))
}
