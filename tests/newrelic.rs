//! `newrelic` against NerdGraph answers replayed by a local HTTP server (no
//! New Relic peer exists; PEERS.md). The answers follow the documented
//! shape (docs.newrelic.com, "NerdGraph tutorial: Query your data using
//! NRQL": `data.actor.account.nrql.results`; a `FACET … TIMESERIES` result
//! per facet and bucket with `facet`, `beginTimeSeconds`, `endTimeSeconds`
//! and the selected aliases; errors as GraphQL `errors` with
//! `extensions.errorClass`; NerdGraph's concurrency limit as HTTP 429).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::harness::{Workspace, duckdb_rows, service_stats};
use crate::peers::{Fault, FaultProxy, Request};

const DAY_START: i64 = 1_793_577_600; // 2026-11-02T00:00:00Z

fn ok(body: Value) -> Fault {
    (
        200,
        vec![("Content-Type", "application/json")],
        body.to_string(),
    )
}

/// One result: a facet's bucket.
fn result(
    service: &str,
    k: i64,
    requests: u64,
    errors: u64,
    apdex: [u64; 3],
    p: [f64; 3],
) -> Value {
    let begin = DAY_START + k * 300;
    let [s, t, f] = apdex;
    let latency = if requests == 0 {
        json!({"50": null, "95": null, "99": null})
    } else {
        json!({"50": p[0], "95": p[1], "99": p[2]})
    };
    json!({
        "beginTimeSeconds": begin,
        "endTimeSeconds": begin + 300,
        "facet": service,
        "appName": service,
        "requests": requests,
        "errors": errors,
        "latency": latency,
        "apdex": {"s": s, "t": t, "f": f, "count": s + t + f,
                  "score": if requests == 0 { Value::Null } else { json!((s as f64 + t as f64 / 2.0) / (s + t + f) as f64) }},
    })
}

/// A day of answers: `checkout` has only its first bucket busy, with New
/// Relic's worked Apdex example (170 satisfied, 20 tolerating, 10
/// frustrated); `search` is busy all day.
fn day_results() -> (Vec<Value>, u64, u64) {
    let mut results = vec![result(
        "checkout",
        0,
        200,
        4,
        [170, 20, 10],
        [0.21, 0.9, 2.4],
    )];
    for k in 1..288 {
        results.push(result("checkout", k, 0, 0, [0, 0, 0], [0.0; 3]));
    }
    let (mut requests, mut errors) = (0, 0);
    for k in 0..288 {
        let n = 100 + (k as u64 * 7) % 50;
        let e = k as u64 % 3;
        results.push(result(
            "search",
            k,
            n,
            e,
            [n - 10 - e, 10, e],
            [0.05, 0.2, 0.4],
        ));
        requests += n;
        errors += e;
    }
    (results, requests, errors)
}

fn nerdgraph(results: Vec<Value>) -> Value {
    json!({"data": {"actor": {"account": {"nrql": {"results": results}}}}})
}

fn workspace(url: &str, extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        &format!(
            r#"
[store]
path = "store"

[collectors.nr]
type = "newrelic"
account_id = 1234567
api_key = "NRAK-TESTKEY"
endpoint_url = "{url}/graphql"
{extra}

[analyzers.latency]
type = "latency_summary"
"#
        ),
    );
    ws
}

const ONE_DAY: [&str; 5] = ["collect", "--since", "2026-11-02", "--until", "2026-11-02"];

#[test]
fn nrql_results_become_latency_rows_after_rate_limits() {
    let (results, search_requests, search_errors) = day_results();
    let answer = nerdgraph(results);
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let log = Arc::clone(&seen);
    let server = FaultProxy::start(
        0,
        Box::new(move |r: &Request| {
            log.lock().unwrap().push((r.head.clone(), r.body.clone()));
            Some(match r.n {
                // NerdGraph's concurrency limit, then NRQL's rate limit.
                0 => (
                    429,
                    vec![("Content-Type", "application/json")],
                    r#"{"errors":[{"message":"Too many concurrent requests"}]}"#.to_string(),
                ),
                1 => ok(
                    json!({"errors": [{"message": "NRQL query rate limit exceeded", "extensions": {"errorClass": "TOO_MANY_REQUESTS"}}], "data": null}),
                ),
                _ => ok(answer.clone()),
            })
        }),
    );
    let ws = workspace(&server.url(), "");
    let run = ws.run(&ONE_DAY);
    run.success();
    assert_eq!(server.count(), 3, "two limits, then the answer");
    let (head, body) = seen.lock().unwrap()[2].clone();
    assert!(
        head.contains("API-Key: NRAK-TESTKEY") || head.contains("api-key: NRAK-TESTKEY"),
        "{head}"
    );
    let sent: Value = serde_json::from_str(&body).unwrap();
    let nrql = sent["variables"]["nrql"].as_str().unwrap();
    for part in [
        "percentile(duration, 50, 95, 99)",
        "apdex(duration, t: 0.5)",
        "FROM Transaction FACET appName",
        "SINCE 1793577600000 UNTIL 1793664000000 TIMESERIES 5 minutes",
    ] {
        assert!(nrql.contains(part), "{part:?} not in {nrql}");
    }
    assert_eq!(sent["variables"]["account"], 1234567);

    // The worked example's interval, as stored.
    let stored = duckdb_rows(&format!(
        "SELECT apdex_satisfied, apdex_tolerating, apdex_frustrated, p95_s, requests, errors \
         FROM read_parquet('{}/latency/**/*.parquet') \
         WHERE service = 'checkout' AND ts = TIMESTAMP '2026-11-02 00:00:00'",
        ws.path("store").display()
    ));
    let n = |i: usize| stored[0][i].as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(
        [n(0), n(1), n(2), n(3), n(4), n(5)],
        [170.0, 20.0, 10.0, 0.9, 200.0, 4.0]
    );

    let doc = ws.analyze("2026-11-02", "2026-11-02");
    // 170 satisfied, 20 tolerating, 10 frustrated → 0.90, "Good".
    let checkout = service_stats(&doc, "checkout");
    assert!((checkout["apdex"].as_f64().unwrap() - 0.90).abs() < 1e-12);
    assert_eq!(checkout["apdex_band"], "good");
    // A day of 5-minute quantiles cannot be combined: never averaged.
    assert_eq!(checkout["quantiles_from"], "unavailable");
    assert!(checkout["p95_s"].is_null());
    let search = service_stats(&doc, "search");
    assert_eq!(search["requests"].as_f64().unwrap(), search_requests as f64);
    assert_eq!(search["errors"].as_f64().unwrap(), search_errors as f64);
}

#[test]
fn bad_answers_fail_clearly_and_store_nothing() {
    let cases: Vec<(Fault, &str)> = vec![
        (
            ok(
                json!({"errors": [{"message": "Invalid API key", "extensions": {"errorClass": "UNAUTHORIZED"}}], "data": null}),
            ),
            "New Relic NerdGraph: credentials: UNAUTHORIZED: Invalid API key",
        ),
        (
            ok(
                json!({"errors": [{"message": "NRQL Syntax Error: Error at line 1 position 80", "extensions": {"errorClass": "NRDB_QUERY_ERROR"}}], "data": null}),
            ),
            "New Relic NerdGraph page 1: NRDB_QUERY_ERROR: NRQL Syntax Error",
        ),
        (
            {
                let (mut results, _, _) = day_results();
                results[5].as_object_mut().unwrap().remove("requests");
                ok(nerdgraph(results))
            },
            "New Relic NerdGraph page 1: result 5: missing `requests`",
        ),
        (
            {
                let (mut results, _, _) = day_results();
                results[7]["errors"] = json!("many");
                ok(nerdgraph(results))
            },
            "result 7: `errors` is \"many\", not a number",
        ),
        (
            (500, vec![], "internal error".to_string()),
            "New Relic NerdGraph page 1: HTTP 500 Internal Server Error: internal error",
        ),
    ];
    for (answer, expected) in cases {
        let server = FaultProxy::start(0, Box::new(move |_| Some(answer.clone())));
        let ws = workspace(&server.url(), "max_attempts = 2");
        let run = ws.run(&ONE_DAY);
        ws.assert_collect_failed(&run, "nr", expected);
    }
}
