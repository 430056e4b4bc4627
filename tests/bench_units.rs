//! The benchmark's own unit tests: how it reads wrk's output and the
//! server log, and how it writes pgbench scripts. The benchmark is a
//! `harness = false` bench target (benches/console/main.rs), which `cargo
//! test` does not build and could not run without running the benchmark
//! (and where `#[test]` functions are dropped), so its two modules with
//! pure logic are compiled here a second time and tested from here.
//! Nothing here needs PostgreSQL or wrk.

// The rest of those modules serves the benchmark, not these tests.
#![allow(dead_code)]

#[path = "../benches/console/load.rs"]
mod load;
#[path = "../benches/console/sql.rs"]
mod sql;

/// benches/console/load.rs: reading wrk's output.
mod load_tests {
    use crate::load::parse;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 2s test @ http://127.0.0.1:1/x\n  2 threads and 32 connections\n  Latency Distribution\n     50%  512.00us\n     75%    1.00ms\n     99%    1.20ms\n  12345 requests in 2.00s, 20.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 5\nRequests/sec:   6172.50\nTransfer/sec:     10.00MB\n";
        let m = parse(text).unwrap();
        assert_eq!(m.requests, 12345);
        assert_eq!(m.failures, 8);
        assert!((m.p50_ms - 0.512).abs() < 1e-9);
        assert!((m.p99_ms - 1.2).abs() < 1e-9);
        assert!((m.per_second - 6172.5).abs() < 1e-9);
    }
}

/// benches/console/sql.rs: pgbench scripts and the statements in the server log.
mod sql_tests {
    use crate::sql::{Sql, local_settings, parse_log, pgbench_script};

    #[test]
    fn placeholders_become_variables_and_literals() {
        let sql = Sql {
            text: "SELECT 1 WHERE a = $1 AND b = $2 AND c = $1 LIMIT $10".into(),
            params: (1..=10).map(|n| format!("v{n}'")).collect(),
        };
        assert_eq!(
            pgbench_script(std::slice::from_ref(&sql)),
            "SELECT 1 WHERE a = :q0p1 AND b = :q0p2 AND c = :q0p1 LIMIT :q0p10;\n"
        );
        assert!(sql.literals().ends_with(", 'v9''', 'v10'''"));
        assert!(sql.clone().checked().is_ok());
        let short = Sql {
            params: vec!["x".into()],
            ..sql
        };
        assert!(short.checked().is_err());
    }

    #[test]
    fn statements_and_parameters_come_from_the_log() {
        let log = "2026-11-27 23:25:29.746 UTC [41] LOG:  duration: 0.020 ms  bind s1: SELECT 1 WHERE a = $1
2026-11-27 23:25:29.746 UTC [41] DETAIL:  parameters: $1 = 'x'
2026-11-27 23:25:29.747 UTC [41] LOG:  duration: 0.051 ms  execute s1: SELECT 1 WHERE a = $1
2026-11-27 23:25:29.747 UTC [42] LOG:  checkpoint starting: time
2026-11-27 23:25:29.747 UTC [41] DETAIL:  parameters: $1 = 'it''s, = ok'
2026-11-27 23:25:29.748 UTC [41] LOG:  duration: 0.100 ms  execute <unnamed>: WITH a AS (
\t  SELECT $1) SELECT * FROM a WHERE b = $2 AND c = $3
2026-11-27 23:25:29.748 UTC [41] DETAIL:  parameters: $1 = '\\x00ff', $2 = NULL, $3 = '51'
";
        let got = parse_log(log);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].text, "SELECT 1 WHERE a = $1");
        assert_eq!(got[0].params, ["it's, = ok"]);
        assert_eq!(
            got[1].text,
            "WITH a AS (\n  SELECT $1) SELECT * FROM a WHERE b = $2 AND c = $3"
        );
        assert_eq!(got[1].params, ["\\x00ff", "", "51"]);
    }

    #[test]
    fn a_search_transaction_is_read_whole_and_run_whole() {
        // As diesel sends a search: BEGIN and COMMIT over the simple
        // protocol, SET LOCAL and the query over the extended one. A
        // connection the pool opens meanwhile sends its settings with the
        // simple protocol too: they are not the page's.
        let log = "2026-11-29 03:25:29.745 UTC [41] LOG:  duration: 0.010 ms  statement: BEGIN
2026-11-29 03:25:29.745 UTC [43] LOG:  duration: 0.020 ms  statement: SET plan_cache_mode = force_generic_plan;
2026-11-29 03:25:29.746 UTC [41] LOG:  duration: 0.030 ms  parse <unnamed>: SET LOCAL plan_cache_mode = force_custom_plan
2026-11-29 03:25:29.746 UTC [41] LOG:  duration: 0.010 ms  bind <unnamed>: SET LOCAL plan_cache_mode = force_custom_plan
2026-11-29 03:25:29.746 UTC [41] LOG:  duration: 0.010 ms  execute <unnamed>: SET LOCAL plan_cache_mode = force_custom_plan
2026-11-29 03:25:29.747 UTC [41] LOG:  duration: 0.051 ms  execute s1: SELECT 1 WHERE a ILIKE $1
2026-11-29 03:25:29.747 UTC [41] DETAIL:  parameters: $1 = '%quokka%'
2026-11-29 03:25:29.748 UTC [41] LOG:  duration: 0.010 ms  statement: COMMIT
2026-11-29 03:25:29.748 UTC [41] LOG:  duration: 0.040 ms  execute s2: SELECT 2 WHERE b = $1
2026-11-29 03:25:29.748 UTC [41] DETAIL:  parameters: $1 = 'x'
";
        let got = parse_log(log);
        let texts: Vec<&str> = got.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "BEGIN",
                "SET LOCAL plan_cache_mode = force_custom_plan",
                "SELECT 1 WHERE a ILIKE $1",
                "COMMIT",
                "SELECT 2 WHERE b = $1",
            ]
        );
        assert_eq!(got[2].params, ["%quokka%"]);
        assert_eq!(
            pgbench_script(&got[..4]),
            "BEGIN;\nSET LOCAL plan_cache_mode = force_custom_plan;\nSELECT 1 WHERE a ILIKE :q2p1;\nCOMMIT;\n"
        );
        // EXPLAIN applies the transaction's settings to its query only.
        let settings: Vec<&str> = local_settings(&got, &got[2])
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(settings, ["SET LOCAL plan_cache_mode = force_custom_plan"]);
        assert!(local_settings(&got, &got[4]).is_empty());
    }
}
