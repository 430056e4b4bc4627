//! Issue 7.5: a storm of wrong passwords must not starve page requests.
//! The members page is loaded at a modest concurrency alone (baseline),
//! then again while a second wrk hammers the sign-in form with a new email
//! and a new forwarded client address on every request (a botnet: no
//! throttle ever locks, so every attempt costs a full argon2 verification
//! against the dummy hash). Its p99 must stay within 2× the baseline.

use std::process::Command;

use anyhow::Context;

use crate::load::{self, Measured};
use crate::{Bench, BenchArgs, mark, ms};

/// Members-page concurrency: enough to measure, not enough to saturate.
const PAGE_CONNECTIONS: u32 = 4;
const STORM_CONNECTIONS: u32 = 32;

/// The wrk script of the storm: random email and X-Forwarded-For (from the
/// 198.18.0.0/15 benchmarking range; header values only, no traffic goes
/// there) per request.
fn storm_script(cookie: &str, token: &str) -> String {
    format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "{cookie}"
request = function()
  wrk.headers["X-Forwarded-For"] = string.format("198.18.%d.%d", math.random(0, 255), math.random(1, 254))
  local body = "csrf_token={token}&email=storm" .. math.random(1, 1000000000) .. "%40example.com&password=not+the+password"
  return wrk.format(nil, nil, nil, body)
end
"#
    )
}

pub fn run(bench: &mut Bench, args: &BenchArgs) -> anyhow::Result<String> {
    let members = bench.url(&format!("/accounts/{}/members", bench.account_id));
    eprintln!(
        "storm: members page alone at c{PAGE_CONNECTIONS} for {} s",
        args.duration
    );
    bench.expect_ok(&format!("/accounts/{}/members", bench.account_id))?;
    let baseline = load::wrk(&members, &bench.cookie, PAGE_CONNECTIONS, args.duration)?;

    // A signed-out visitor's session and CSRF token for the storm.
    let mut visitor = crate::http::Client::new(bench.addr);
    let token = visitor.get("/sign-in")?.csrf_token()?;
    let script = bench.target.work_dir.join("storm.lua");
    std::fs::write(&script, storm_script(&visitor.cookie_header(), &token))?;
    eprintln!("storm: the same during a storm of wrong passwords (c{STORM_CONNECTIONS})");
    let mut storm = Command::new("wrk");
    storm
        .args(["-t", "1", "-c", &STORM_CONNECTIONS.to_string()])
        .args(["-d", &format!("{}s", args.duration + 4), "--timeout", "30s"])
        .arg("-s")
        .arg(&script)
        .arg(bench.url("/sign-in"));
    // The storm runs in a thread; the members page is measured meanwhile.
    let storm = std::thread::scope(|scope| {
        let handle = scope.spawn(move || storm.output());
        std::thread::sleep(std::time::Duration::from_secs(2));
        let during = load::wrk(&members, &bench.cookie, PAGE_CONNECTIONS, args.duration);
        (during, handle.join())
    });
    let during = storm.0?;
    let storm_output = storm
        .1
        .map_err(|_| anyhow::anyhow!("storm thread panicked"))?
        .context("running wrk")?;
    let storm_text = String::from_utf8_lossy(&storm_output.stdout).to_string();
    let attempts = storm_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "?".into());
    let ratio = during.p99_ms / baseline.p99_ms.max(0.001);
    Ok(report(&baseline, &during, &attempts, ratio))
}

fn report(baseline: &Measured, during: &Measured, attempts: &str, ratio: f64) -> String {
    format!(
        "## Sign-in storm (issue 7.5)\n\n\
         Members page at c{PAGE_CONNECTIONS}, alone and during a storm of wrong passwords \
         (c{STORM_CONNECTIONS}, a new email and client address per attempt, {attempts} attempts/s).\n\n\
         | | req/s | p50 | p99 | non-2xx |\n|---|---:|---:|---:|---:|\n\
         | members, alone | {:.0} | {} | {} | {} |\n\
         | members, during the storm | {:.0} | {} | {} | {} |\n\n\
         p99 during ÷ p99 alone: **{ratio:.2}** (target ≤ 2: {}).\n\n",
        baseline.per_second,
        ms(baseline.p50_ms),
        ms(baseline.p99_ms),
        baseline.failures,
        during.per_second,
        ms(during.p50_ms),
        ms(during.p99_ms),
        during.failures,
        mark(ratio <= 2.0),
    )
}
