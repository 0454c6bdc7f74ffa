//! Findings that live across runs: `vitals run --once` on the bundled
//! sample records them in the store; a second run keeps them open; a
//! config under which some are no longer produced resolves exactly those;
//! the original config reopens them with their history; people acknowledge
//! and snooze them with `vitals findings`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::{Workspace, copy_sample_dir, repo};

fn sample() -> Workspace {
    let ws = Workspace::new();
    std::fs::copy(repo().join("config.toml"), ws.path("config.toml")).unwrap();
    copy_sample_dir(&ws);
    ws
}

fn list(ws: &Workspace, args: &[&str]) -> Vec<Value> {
    let mut argv = vec!["findings", "list", "--format", "json"];
    argv.extend_from_slice(args);
    let run = ws.run(&argv);
    run.success();
    serde_json::from_str::<Value>(&run.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ids(findings: &[Value]) -> BTreeSet<String> {
    findings
        .iter()
        .map(|t| t["finding"]["finding_id"].as_str().unwrap().to_string())
        .collect()
}

fn events(t: &Value) -> Vec<String> {
    t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn findings_open_stay_open_resolve_and_reopen_across_runs() {
    let ws = sample();
    ws.run(&["run", "--once"]).success();
    let first = list(&ws, &["--status", "all"]);
    // Every savings finding the generator expects is stored, open.
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample/fleet/expected.json")).unwrap(),
    )
    .unwrap();
    let want: BTreeSet<(String, String)> = expected
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["resource_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let savings_kinds = ["idle_resource", "rightsizing", "spot_candidate"];
    let got: BTreeSet<(String, String)> = first
        .iter()
        .map(|t| &t["finding"])
        .filter(|f| savings_kinds.contains(&f["kind"].as_str().unwrap()))
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["resource_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // The cost and latency analyzers' findings are kept too.
    assert!(
        first
            .iter()
            .any(|t| t["finding"]["kind"] == "p95_regression"),
        "{first:?}"
    );
    for t in &first {
        assert_eq!(t["finding"]["status"], "open", "{t}");
        assert_eq!(events(t), ["opened"]);
        assert_eq!(t["finding"]["first_seen"], t["finding"]["last_seen"]);
    }

    // A second run: the same findings, still open, first seen unchanged.
    ws.run(&["run", "--once"]).success();
    let second = list(&ws, &["--status", "all"]);
    assert_eq!(ids(&second), ids(&first));
    for t in &second {
        let before = first
            .iter()
            .find(|b| b["finding"]["finding_id"] == t["finding"]["finding_id"])
            .unwrap();
        assert_eq!(t["finding"]["status"], "open");
        assert_eq!(t["finding"]["first_seen"], before["finding"]["first_seen"]);
        assert!(
            t["finding"]["last_seen"].as_str() > before["finding"]["last_seen"].as_str(),
            "{t}"
        );
        assert_eq!(events(t), ["opened"], "nothing to notify");
    }

    // Acknowledge one idle instance by a prefix of its id, with a note.
    let idle_instances: BTreeSet<String> = second
        .iter()
        .filter(|t| t["finding"]["evidence"]["reason"] == "low_utilization")
        .map(|t| t["finding"]["finding_id"].as_str().unwrap().to_string())
        .collect();
    assert!(idle_instances.len() >= 2, "{idle_instances:?}");
    let acked = idle_instances.iter().next().unwrap().clone();
    let run = ws.run(&[
        "findings",
        "ack",
        &acked[..10],
        "--note",
        "decommission in Q1",
    ]);
    run.success();
    assert!(run.stdout.contains(&acked), "{run:#?}");
    let quiet = list(&ws, &["--status", "quiet"]);
    assert_eq!(ids(&quiet), BTreeSet::from([acked.clone()]));
    assert_eq!(quiet[0]["acknowledged"]["note"], "decommission in Q1");
    let text = ws.run(&["findings", "list", "--status", "quiet"]);
    text.success();
    assert!(
        text.stdout.contains("open, acknowledged") && text.stdout.contains("decommission in Q1"),
        "{}",
        text.stdout
    );
    // An id that names nothing, or several: exit 1, saying so.
    let run = ws.run(&["findings", "ack", "zzzz"]);
    run.code(1);
    assert!(run.stderr.contains("no finding `zzzz`"), "{}", run.stderr);
    let run = ws.run(&["findings", "ack", ""]);
    run.code(1);

    // Under a CPU threshold no instance meets, the idle instances are no
    // longer produced: exactly they resolve.
    let config = std::fs::read_to_string(ws.path("config.toml")).unwrap();
    let strict = config.replace(
        "[analyzers.idle]\ntype = \"idle_resource\"\n",
        "[analyzers.idle]\ntype = \"idle_resource\"\ncpu_percent = 0.0\n",
    );
    assert_ne!(strict, config);
    ws.write("config.toml", &strict);
    ws.run(&["run", "--once"]).success();
    let resolved = list(&ws, &["--status", "resolved"]);
    assert_eq!(ids(&resolved), idle_instances);
    for t in &resolved {
        assert_eq!(events(t).last().unwrap(), "resolved");
        assert!(t["resolved_at"].is_string());
    }
    assert_eq!(
        list(&ws, &["--status", "open"]).len() + resolved.len(),
        second.len()
    );

    // Back to the original config: they reopen, history and first seen kept,
    // the acknowledgement ended (a reopened finding is news).
    ws.write("config.toml", &config);
    ws.run(&["run", "--once"]).success();
    let all = list(&ws, &["--status", "all"]);
    assert_eq!(ids(&all), ids(&first));
    let reopened = all
        .iter()
        .find(|t| t["finding"]["finding_id"] == acked.as_str())
        .unwrap();
    assert_eq!(reopened["finding"]["status"], "open");
    assert_eq!(
        events(reopened),
        ["opened", "acknowledged", "resolved", "reopened"]
    );
    let before = first
        .iter()
        .find(|t| t["finding"]["finding_id"] == acked.as_str())
        .unwrap();
    assert_eq!(
        reopened["finding"]["first_seen"],
        before["finding"]["first_seen"]
    );
    assert!(reopened["acknowledged"].is_null());
    assert!(list(&ws, &["--status", "quiet"]).is_empty());

    // Snooze until a day; listed as snoozed.
    let snoozed = idle_instances.iter().nth(1).unwrap();
    ws.run(&["findings", "snooze", snoozed, "--until", "2099-01-01"])
        .success();
    let quiet = list(&ws, &["--status", "quiet"]);
    assert_eq!(ids(&quiet), BTreeSet::from([snoozed.clone()]));
    assert_eq!(quiet[0]["snoozed_until"], "2099-01-01T00:00:00Z");
}

#[test]
fn a_corrupt_findings_state_is_named_and_left_alone() {
    let ws = sample();
    std::fs::create_dir_all(ws.path("data/state")).unwrap();
    let broken = "{\"version\": 1, \"findings\": {";
    ws.write("data/state/findings.json", broken);
    let run = ws.run(&["findings", "list"]);
    run.code(1);
    assert!(
        run.stderr.contains("findings.json") && run.stderr.contains("move it aside"),
        "{}",
        run.stderr
    );
    // The daemon's cycle reports it and fails, and keeps the file.
    let run = ws.run(&["run", "--once"]);
    run.code(1);
    assert!(run.stderr.contains("recording findings"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path("data/state/findings.json")).unwrap(),
        broken
    );
    // A policy that could never resolve anything is a config error.
    let config = std::fs::read_to_string(ws.path("config.toml")).unwrap();
    ws.write(
        "config.toml",
        &config.replacen("[findings]\n", "[findings]\nresolve_after_runs = 0\n", 1),
    );
    let run = ws.run(&["check"]);
    run.code(2);
    assert!(
        run.stderr.contains("findings.resolve_after_runs"),
        "{}",
        run.stderr
    );
}
