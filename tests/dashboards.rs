//! Every Grafana panel query parses as PromQL: each dashboard expression
//! becomes a recording rule that `promtool check rules` (Prometheus's own
//! parser) must accept. That the queries name only vitals' metrics is
//! checked in `src/metrics.rs`.

use std::process::Command;

use crate::harness::{Workspace, promtool, repo};

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| exprs(i, out)),
        _ => {}
    }
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let ws = Workspace::new();
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut found = Vec::new();
        exprs(&json, &mut found);
        for expr in found {
            count += 1;
            // A YAML double-quoted scalar: JSON's string escaping is valid in it.
            rules.push_str(&format!(
                "      - record: vitals:dashboard_query_{count}\n        expr: {}\n",
                serde_json::to_string(&expr).unwrap()
            ));
        }
    }
    assert!(count >= 20, "only {count} dashboard queries found");
    ws.write("rules.yml", &rules);
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(ws.path("rules.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("dashboards: {count} queries parse as PromQL");
}
