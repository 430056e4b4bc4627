//! `/metrics`: Prometheus's text format on METRICS_ADDR only, with counters
//! that follow what users do. Every app of the test binary shares one
//! recorder (it is the process's), so counts are compared as increases.

use std::collections::{BTreeMap, HashMap};

use reqwest::StatusCode;

use crate::support::{Browser, TestApp, test_settings};

/// One sample line: `name{label="value",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The exposition, parsed strictly: every line is `# HELP name text`,
/// `# TYPE name kind`, a sample, or blank; anything else fails the test.
struct Exposition {
    types: HashMap<String, String>,
    helps: HashMap<String, String>,
    samples: Vec<Sample>,
}

fn parse(text: &str) -> Exposition {
    let mut exposition = Exposition {
        types: HashMap::new(),
        helps: HashMap::new(),
        samples: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            exposition.types.insert(name.into(), kind.into());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect(line);
            exposition.helps.insert(name.into(), help.into());
        } else {
            assert!(!line.starts_with('#'), "an unknown comment: {line}");
            exposition.samples.push(sample(line));
        }
    }
    exposition
}

fn sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect(line);
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("a value: {line}")),
    };
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}').expect(line)),
        None => (series, ""),
    };
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "a metric name: {line}"
    );
    let mut parsed = BTreeMap::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect(line);
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect(line) {
                (_, '\\') => value.push(chars.next().expect(line).1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        parsed.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Sample {
        name: name.into(),
        labels: parsed,
        value,
    }
}

impl Exposition {
    /// The value of the series `name` with (at least) these labels; 0 when
    /// it has not been counted yet.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            })
            .map(|s| s.value)
            .sum()
    }
}

async fn scrape(app: &TestApp) -> Exposition {
    let address = app.metrics_address.as_ref().expect("a metrics listener");
    let res = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&res.text().await.unwrap())
}

async fn app_with_metrics() -> TestApp {
    let server = crate::support::Server::get();
    let db_name = server.create_database();
    let mut settings = test_settings(server.serving_url(&db_name));
    settings.metrics_addr = Some("127.0.0.1:0".into());
    TestApp::spawn_with(settings, db_name).await
}

#[actix_web::test]
async fn metrics_are_prometheus_text_and_count_what_users_do() {
    let app = app_with_metrics().await;
    let before = scrape(&app).await;
    let browser = app.browser();

    for _ in 0..3 {
        assert_eq!(browser.get("/sign-in").await.status(), StatusCode::OK);
    }
    let ada = app.signed_up_user("Ada").await;
    let stranger = Browser::new(&app.address);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = stranger
            .sign_in(&ada.email, "not the password at all")
            .await;
        statuses.push(res.status());
    }
    let after = scrape(&app).await;

    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count(),
        5
    );
    assert_eq!(
        statuses[5],
        StatusCode::TOO_MANY_REQUESTS,
        "locked after five"
    );
    let kinds = [
        ("team_console_http_requests_total", "counter"),
        ("team_console_http_request_duration_seconds", "histogram"),
        ("team_console_db_pool_connections", "gauge"),
        ("team_console_db_pool_max_connections", "gauge"),
        ("team_console_db_pool_waiting", "gauge"),
        ("team_console_password_hashing_permits", "gauge"),
        ("team_console_password_hashing_permits_in_use", "gauge"),
        ("team_console_sign_in_failures_total", "counter"),
        ("team_console_sign_in_throttled_total", "counter"),
        ("team_console_audit_entries_recorded_total", "counter"),
    ];
    for (name, kind) in kinds {
        assert_eq!(
            after.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
        assert!(after.helps.contains_key(name), "{name} is described");
    }
    let increase = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let requests = "team_console_http_requests_total";
    let get_sign_in = [("method", "GET"), ("route", "/sign-in"), ("status", "200")];
    assert!(increase(requests, &get_sign_in) >= 3.0);
    let refused = [("method", "POST"), ("route", "/sign-in"), ("status", "400")];
    assert!(increase(requests, &refused) >= 5.0);
    let throttled = [("method", "POST"), ("route", "/sign-in"), ("status", "429")];
    assert!(increase(requests, &throttled) >= 1.0);
    assert!(increase("team_console_sign_in_failures_total", &[]) >= 5.0);
    assert!(increase("team_console_sign_in_throttled_total", &[]) >= 1.0);
    let signed_up = [("action", "user.signed_up")];
    assert!(increase("team_console_audit_entries_recorded_total", &signed_up) >= 1.0);
    let failed = [("action", "user.sign_in_failed")];
    assert!(increase("team_console_audit_entries_recorded_total", &failed) >= 5.0);
    // The histogram: cumulative buckets ending at +Inf, which is the count.
    let route = [("method", "GET"), ("route", "/sign-in")];
    let count = after.value("team_console_http_request_duration_seconds_count", &route);
    assert!(
        count - before.value("team_console_http_request_duration_seconds_count", &route) >= 3.0
    );
    let mut buckets: Vec<(f64, f64)> = after
        .samples
        .iter()
        .filter(|s| s.name == "team_console_http_request_duration_seconds_bucket")
        .filter(|s| s.labels.get("route").map(String::as_str) == Some("/sign-in"))
        .filter(|s| s.labels.get("method").map(String::as_str) == Some("GET"))
        .map(|s| {
            let le = s.labels["le"].as_str();
            (
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                },
                s.value,
            )
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 5, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count));
    // Gauges read at the scrape: this app's pool and hasher.
    assert_eq!(
        after.value("team_console_db_pool_max_connections", &[]),
        4.0
    );
    assert!(after.value("team_console_password_hashing_permits", &[]) >= 1.0);
    // Routes are the route table's patterns, never paths with ids or
    // tokens in them (whatever the other tests of the run requested).
    let patterns: Vec<&str> = team_console::routes::all().iter().map(|r| r.path).collect();
    for sample in after.samples.iter().filter(|s| s.name == requests) {
        let route = sample.labels["route"].as_str();
        assert!(route == "unmatched" || patterns.contains(&route), "{route}");
    }
}

#[actix_web::test]
async fn metrics_are_served_on_their_own_address_only() {
    let app = app_with_metrics().await;
    let without = TestApp::spawn().await;
    let metrics_address = app.metrics_address.clone().unwrap();

    let on_public = app.browser().get("/metrics").await.status();
    let on_default = without.browser().get("/metrics").await.status();
    let pages_on_metrics = reqwest::get(format!("{metrics_address}/sign-in"))
        .await
        .unwrap()
        .status();

    assert_eq!(on_public, StatusCode::NOT_FOUND);
    assert_eq!(on_default, StatusCode::NOT_FOUND, "off by default");
    assert!(without.metrics_address.is_none());
    assert_eq!(pages_on_metrics, StatusCode::NOT_FOUND, "no pages there");
}
