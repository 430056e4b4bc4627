//! HTTP load through wrk (Debian's package), with the session cookie.

use std::process::Command;

use anyhow::{Context, bail};

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// wrk's "Non-2xx or 3xx responses" plus socket errors. (A 3xx would
    /// be a lost session; the caller checks for it with a real request
    /// before and after each run.)
    pub failures: u64,
    pub requests: u64,
}

pub fn require_wrk() -> anyhow::Result<()> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => bail!(
            "wrk is not installed: the benchmark drives HTTP load with it. Install it with `apt-get install wrk` (Debian/Ubuntu)."
        ),
    }
}

/// `wrk -c connections` for `seconds` against `url`, as the signed-in
/// Admin (their session cookie).
pub fn wrk(url: &str, cookie: &str, connections: u32, seconds: u64) -> anyhow::Result<Measured> {
    wrk_with(url, &format!("Cookie: {cookie}"), connections, seconds)
}

/// The same, sending `header` ("Authorization: Bearer tc_…" for the API).
pub fn wrk_with(
    url: &str,
    header: &str,
    connections: u32,
    seconds: u64,
) -> anyhow::Result<Measured> {
    let threads = connections.min(2);
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args([
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "--timeout",
            "10s",
        ])
        .args(["-H", header, url])
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text).with_context(|| format!("reading wrk's output:\n{text}"))
}

pub(crate) fn parse(text: &str) -> anyhow::Result<Measured> {
    let mut m = Measured::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => m.p50_ms = millis(v)?,
            ["99%", v] => m.p99_ms = millis(v)?,
            ["Requests/sec:", v] => m.per_second = v.parse()?,
            [n, "requests", "in", ..] => m.requests = n.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => m.failures += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                m.failures += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    if m.requests == 0 {
        bail!("no requests completed");
    }
    Ok(m)
}

/// "512.00us", "1.20ms", "2.01s" in milliseconds.
fn millis(value: &str) -> anyhow::Result<f64> {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .context("no unit")?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        other => bail!("unknown unit {other}"),
    })
}
