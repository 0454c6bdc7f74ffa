//! Delivery through the `webhook` sink to a receiver that checks every
//! Standard Webhooks signature with its own code and with the
//! specification's Python library (tests/fixtures/webhook_receiver.py): what a run finds is recorded in
//! the outbox before it is sent, survives a receiver that is down, is sent
//! once it is up (through 429s with `Retry-After`), and is never sent
//! twice; resolutions and test messages follow the same road.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::{Workspace, copy_sample_dir, free_port, repo};
use crate::peers::{Alertmanager, WebhookReceiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn outbox_files(ws: &Workspace) -> usize {
    std::fs::read_dir(ws.path("data/state/outbox/hooks"))
        .map(|rd| {
            rd.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
        })
        .unwrap_or(0)
}

fn delivered(r: &WebhookReceiver) -> Vec<Value> {
    r.requests()
        .into_iter()
        .filter(|q| q["refused"] == false)
        .collect()
}

/// Writes the sample config with a signed webhook sink `hooks` on `port`
/// whose route is `route`, and returns it.
fn with_hooks(ws: &Workspace, port: u16, route: &str) -> String {
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap()
        + &format!(
            "\n[sinks.hooks]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\
             secret = \"{SECRET}\"\n{route}\n"
        );
    ws.write("config.toml", &config);
    config
}

#[test]
fn findings_reach_a_webhook_once_each_through_an_outage_and_429s() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let port = free_port();
    let config = with_hooks(&ws, port, "kinds = [\"idle_resource\"]");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample/fleet/expected.json")).unwrap(),
    )
    .unwrap();
    let idle: BTreeSet<String> = expected
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "idle_resource")
        .map(|f| f["resource_id"].as_str().unwrap().to_string())
        .collect();
    assert!(idle.len() >= 5, "{idle:?}");

    // The receiver is down: `check --connect` says so.
    let check = ws.run(&["check", "--connect"]);
    check.code(1);
    assert!(
        check
            .stdout
            .contains("sink `hooks` (webhook): NOT reachable"),
        "{check:#?}"
    );
    // The run says so too, exits 1, and keeps every notification in the
    // outbox; a second cycle while it is still down records nothing more
    // (no state changed) and keeps them all.
    for _ in 0..2 {
        let run = ws.run(&["run", "--once"]);
        run.code(1);
        assert!(
            run.stdout
                .contains(&format!("sink `hooks`: 0 sent, {} pending", idle.len())),
            "{run:#?}"
        );
        assert_eq!(outbox_files(&ws), idle.len());
    }

    // Up, refusing its first two requests with 429 and Retry-After: the
    // next run sends what waited (it found nothing new itself).
    let log = ws.path("received.jsonl");
    let receiver = WebhookReceiver::start(port, SECRET, &log, 2);
    let run = ws.run(&["run", "--once"]);
    run.success();
    assert!(
        run.stdout
            .contains(&format!("sink `hooks`: {} sent, 0 pending", idle.len())),
        "{run:#?}"
    );
    assert_eq!(outbox_files(&ws), 0);
    let all = receiver.requests();
    assert_eq!(all.len(), idle.len() + 2, "two refused, then each once");
    // Our receiver's own check and Standard Webhooks' Python library both
    // verify every signature; the library rejects each one over a tampered
    // body.
    assert!(
        all.iter().all(|q| q["verified"] == true
            && q["library_verified"] == true
            && q["tampered_rejected"] == true),
        "{all:?}"
    );
    let got = delivered(&receiver);
    let ids: BTreeSet<&str> = got.iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "no id delivered twice");
    // The refused ones came again with the same id.
    for refused in all.iter().filter(|q| q["refused"] == true) {
        assert!(ids.contains(refused["id"].as_str().unwrap()));
    }
    let resources: BTreeSet<String> = got
        .iter()
        .map(|q| {
            assert_eq!(q["body"]["type"], "finding.opened", "{q}");
            assert_eq!(q["body"]["data"]["kind"], "idle_resource");
            q["body"]["data"]["resource_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(resources, idle);

    // Nothing changed: nothing is sent.
    ws.run(&["run", "--once"]).success();
    assert_eq!(delivered(&receiver).len(), idle.len());

    // The idle instances stop being idle: each is told resolved, once.
    let strict = config.replace(
        "[analyzers.idle]\ntype = \"idle_resource\"\n",
        "[analyzers.idle]\ntype = \"idle_resource\"\ncpu_percent = 0.0\n",
    );
    ws.write("config.toml", &strict);
    ws.run(&["run", "--once"]).success();
    let resolved: Vec<Value> = delivered(&receiver)
        .into_iter()
        .filter(|q| q["body"]["type"] == "finding.resolved")
        .collect();
    let listed = ws.run(&[
        "findings", "list", "--status", "resolved", "--format", "json",
    ]);
    listed.success();
    let listed: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
    assert!(!listed.is_empty());
    let told: BTreeSet<&str> = resolved
        .iter()
        .map(|q| q["body"]["data"]["finding_id"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = listed
        .iter()
        .map(|t| t["finding"]["finding_id"].as_str().unwrap())
        .collect();
    assert_eq!(told, want);
    assert_eq!(resolved.len(), want.len());

    // A test message on demand; an unknown sink is named.
    let run = ws.run(&["notify", "test", "hooks"]);
    run.success();
    assert!(run.stdout.contains("sink `hooks`: "), "{run:#?}");
    assert_eq!(
        delivered(&receiver).last().unwrap()["body"]["type"],
        "vitals.test"
    );
    let run = ws.run(&["notify", "test", "hook"]);
    run.code(1);
    assert!(
        run.stderr.contains("no sink named `hook`") && run.stderr.contains("did you mean `hooks`"),
        "{}",
        run.stderr
    );
    // The secret and the URL's token never reach the logs.
    assert!(!run.stderr.contains("MfKQ9r8G"));
}

/// PagerDuty (Events API v2, replayed in its documented shape by
/// tests/fixtures/pagerduty_events.py, which also checks each event's
/// required fields): one `trigger` per opened finding with the finding id
/// as `dedup_key`, through a 429 (retried no sooner than its
/// `Retry-After`) and a 503; then `resolve` with the same keys.
#[test]
fn pagerduty_triggers_and_resolves_by_finding_id() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let port = free_port();
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap()
        + &format!(
            "\n[sinks.oncall]\ntype = \"pagerduty\"\nurl = \"http://127.0.0.1:{port}/v2/enqueue\"\n\
             routing_key = \"R0UT1NGKEY\"\nkinds = [\"idle_resource\"]\n"
        );
    ws.write("config.toml", &config);
    // The first event is answered 429 with `Retry-After: 2`, the second
    // 503.
    let pd = WebhookReceiver::pagerduty(port, &ws.path("events.jsonl"), 2);
    let run = ws.run(&["run", "--once"]);
    run.success();
    assert!(!run.stderr.contains("R0UT1NGKEY"), "the key is a secret");
    let open = ws.run(&[
        "findings",
        "list",
        "--kind",
        "idle_resource",
        "--format",
        "json",
    ]);
    open.success();
    let open: Vec<Value> = serde_json::from_str(&open.stdout).unwrap();
    let events = pd.requests();
    assert!(
        events
            .iter()
            .all(|e| e["problems"].as_array().unwrap().is_empty()),
        "{events:?}"
    );
    let accepted: Vec<&Value> = events.iter().filter(|e| e["refused"] == false).collect();
    assert_eq!(events.len(), accepted.len() + 2, "a 429 and a 503, retried");
    // Each refused event came again, the throttled one no sooner than its
    // `Retry-After`.
    for refused in events.iter().filter(|e| e["refused"] == true) {
        let key = &refused["event"]["dedup_key"];
        let again = accepted
            .iter()
            .find(|e| &e["event"]["dedup_key"] == key)
            .unwrap_or_else(|| panic!("{key} was not retried"));
        let waited = again["at"].as_f64().unwrap() - refused["at"].as_f64().unwrap();
        if refused["status"] == 429 {
            assert!(
                waited >= 2.0,
                "retried {waited:.3} s after a Retry-After of 2 s"
            );
        } else {
            assert_eq!(refused["status"], 503);
        }
    }
    let triggered: BTreeSet<&str> = accepted
        .iter()
        .map(|e| {
            assert_eq!(e["event"]["event_action"], "trigger");
            assert_eq!(e["event"]["payload"]["severity"], "warning");
            e["event"]["dedup_key"].as_str().unwrap()
        })
        .collect();
    let ids: BTreeSet<&str> = open
        .iter()
        .map(|t| t["finding"]["finding_id"].as_str().unwrap())
        .collect();
    assert_eq!(triggered, ids);
    assert_eq!(accepted.len(), ids.len());

    ws.write(
        "config.toml",
        &config.replace(
            "[analyzers.idle]\ntype = \"idle_resource\"\n",
            "[analyzers.idle]\ntype = \"idle_resource\"\ncpu_percent = 0.0\n",
        ),
    );
    ws.run(&["run", "--once"]).success();
    let resolved = ws.run(&[
        "findings", "list", "--status", "resolved", "--format", "json",
    ]);
    let resolved: Vec<Value> = serde_json::from_str(&resolved.stdout).unwrap();
    let want: BTreeSet<&str> = resolved
        .iter()
        .map(|t| t["finding"]["finding_id"].as_str().unwrap())
        .collect();
    assert!(!want.is_empty());
    let events = pd.requests();
    let resolves: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["event"]["event_action"] == "resolve")
        .map(|e| e["event"]["dedup_key"].as_str().unwrap())
        .collect();
    assert_eq!(resolves, want);
    assert!(resolves.is_subset(&triggered));
}

/// `owners` routes by the owner tag: the webhook gets the findings about
/// resources the sample's inventory tags `owner = it-ops` and about the
/// service config.toml gives `payments` (`checkout`), and nothing else.
#[test]
fn owners_route_findings_to_their_sink() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let port = free_port();
    with_hooks(&ws, port, "owners = [\"it-ops\", \"payments\"]");
    let hooks = WebhookReceiver::start(port, SECRET, &ws.path("hooks.jsonl"), 0);
    ws.run(&["run", "--once"]).success();

    // The oracle: the inventory's own tags, read here.
    let inventory = std::fs::read_to_string(repo().join("sample/fleet/inventory.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(inventory.as_bytes());
    let it_ops: BTreeSet<String> = reader
        .deserialize::<std::collections::BTreeMap<String, String>>()
        .map(|r| r.unwrap())
        .filter(|r| serde_json::from_str::<Value>(&r["tags"]).unwrap()["owner"] == "it-ops")
        .map(|r| r["resource_id"].clone())
        .collect();
    assert!(!it_ops.is_empty());
    let got = delivered(&hooks);
    let findings: Vec<&Value> = got.iter().map(|q| &q["body"]["data"]).collect();
    assert!(!findings.is_empty());
    for f in &findings {
        match f["resource_id"].as_str() {
            Some(id) => assert!(it_ops.iter().any(|r| id.ends_with(r.as_str())), "{f}"),
            None => assert_eq!(f["service"], "checkout", "{f}"),
        }
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample/fleet/expected.json")).unwrap(),
    )
    .unwrap();
    let want: BTreeSet<&str> = expected
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["resource_id"].as_str())
        .filter(|id| it_ops.iter().any(|r| id.ends_with(r.as_str())))
        .collect();
    let sent: BTreeSet<&str> = findings
        .iter()
        .filter_map(|f| f["resource_id"].as_str())
        .collect();
    assert!(!want.is_empty());
    assert!(want.is_subset(&sent), "{want:?} vs {sent:?}");
    assert!(
        findings.iter().any(|f| f["owner"] == "payments"),
        "{findings:?}"
    );
    // `findings list --owner` names the same.
    let mut listed_ids = listed(&ws, &["--owner", "it-ops"]);
    listed_ids.extend(listed(&ws, &["--owner", "payments"]));
    let sent_ids: BTreeSet<String> = findings
        .iter()
        .map(|f| f["finding_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed_ids, sent_ids);
}

/// Slack (an incoming webhook: https://api.slack.com/messaging/webhooks;
/// no peer exists, so tests/fixtures/slack_webhook.py answers as that page
/// documents and checks Block Kit's limits): one digest for the whole run,
/// in Block Kit with a plain-text fallback, sent again after a 429 (no
/// sooner than its `Retry-After`) and a 500, and nothing when nothing
/// changed.
#[test]
fn slack_gets_one_digest_per_run() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let port = free_port();
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap()
        + &format!(
            "\n[sinks.team]\ntype = \"slack\"\nwebhook_url = \"http://127.0.0.1:{port}/services/T0/B0/S3CRET\"\n\
             kinds = [\"idle_resource\", \"rightsizing\"]\nreport_url = \"https://vitals.example/reports/\"\n"
        );
    ws.write("config.toml", &config);
    let slack = WebhookReceiver::slack(port, &ws.path("slack.jsonl"), 2);
    let run = ws.run(&["run", "--once"]);
    run.success();
    assert!(
        !run.stderr.contains("S3CRET"),
        "the webhook URL is a secret"
    );
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample/fleet/expected.json")).unwrap(),
    )
    .unwrap();
    let n = expected
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "idle_resource" || f["kind"] == "rightsizing")
        .count();
    let posts = slack.requests();
    let statuses: Vec<&Value> = posts.iter().map(|p| &p["status"]).collect();
    assert_eq!(
        statuses,
        [429, 500, 200],
        "one digest, posted again after the 429 and the 500"
    );
    assert!(posts.iter().all(|p| p["body"] == posts[0]["body"]));
    assert!(
        posts.iter().all(|p| p["problems"] == json!([])),
        "{posts:?}"
    );
    let waited = posts[1]["at"].as_f64().unwrap() - posts[0]["at"].as_f64().unwrap();
    assert!(
        waited >= 2.0,
        "Retry-After: 2 honoured, waited {waited:.2} s"
    );
    let body = &posts[2]["body"];
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0]["text"]["text"],
        format!("vitals: {n} finding(s) {n} new")
    );
    assert_eq!(
        blocks.iter().filter(|b| b["type"] == "section").count(),
        n.min(40)
    );
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("m5.2xlarge -> m5.large"), "{text}");
    assert!(text.contains("https://vitals.example/reports/"), "{text}");

    ws.run(&["run", "--once"]).success();
    assert_eq!(slack.requests().len(), 3, "nothing changed, nothing sent");
}

/// The sample's idle instances stop being idle: `config` with a CPU
/// threshold no instance is under.
fn nothing_idle(config: &str) -> String {
    let strict = config.replace(
        "[analyzers.idle]\ntype = \"idle_resource\"\n",
        "[analyzers.idle]\ntype = \"idle_resource\"\ncpu_percent = 0.0\n",
    );
    assert_ne!(strict, config);
    strict
}

/// The ids `vitals findings list ARGS --format json` lists.
fn listed(ws: &Workspace, args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["findings", "list", "--format", "json"];
    all.extend_from_slice(args);
    let run = ws.run(&all);
    run.success();
    let listed: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    listed
        .iter()
        .map(|t| t["finding"]["finding_id"].as_str().unwrap().to_string())
        .collect()
}

/// Waits up to 20 s for `done` over what the receiver got, then returns it.
fn wait_for(r: &WebhookReceiver, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = r.requests();
        if done(&got) || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Every (finding_id, status) in Alertmanager's webhook notifications
/// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config),
/// with how many times each came.
fn alert_notifications(got: &[Value]) -> std::collections::BTreeMap<(String, String), usize> {
    let mut seen = std::collections::BTreeMap::new();
    for q in got {
        for a in q["body"]["alerts"].as_array().unwrap() {
            assert_eq!(a["labels"]["alertname"], "idle_resource", "{a}");
            assert!(a["labels"]["severity"].is_string(), "{a}");
            assert!(a["annotations"]["title"].is_string(), "{a}");
            let key = (
                a["labels"]["finding_id"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            );
            *seen.entry(key).or_insert(0) += 1;
        }
    }
    seen
}

/// Alertmanager (Debian's `prometheus-alertmanager`, the real server)
/// routing to a local webhook: each opened finding reaches the receiver as
/// `firing` once, stays firing while later runs re-post it, and its
/// resolution arrives as `resolved` once.
#[test]
fn alertmanager_fires_and_resolves_each_finding_once() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let hook_port = free_port();
    let receiver = WebhookReceiver::start(hook_port, "unused", &ws.path("am.jsonl"), 0);
    let am = Alertmanager::start(&format!("127.0.0.1:{hook_port}"));
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap()
        + &format!(
            "\n[sinks.am]\ntype = \"alertmanager\"\nurl = \"{}\"\nkinds = [\"idle_resource\"]\n",
            am.url()
        );
    ws.write("config.toml", &config);
    let check = ws.run(&["check", "--connect"]);
    check.success();
    assert!(
        check.stdout.contains("1 sink(s)")
            && check.stdout.contains("sink `am` (alertmanager): reachable"),
        "{check:#?}"
    );
    ws.run(&["run", "--once"]).success();
    let open = listed(&ws, &["--kind", "idle_resource"]);
    assert!(open.len() >= 5, "{open:?}");
    let firing = |got: &[Value]| {
        alert_notifications(got)
            .keys()
            .filter(|(_, s)| s == "firing")
            .count()
    };
    wait_for(&receiver, |got| firing(got) == open.len());
    // Re-posted by the next run (nothing changed): still firing, not
    // notified again.
    ws.run(&["run", "--once"]).success();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let seen = alert_notifications(&receiver.requests());
    let want: std::collections::BTreeMap<(String, String), usize> = open
        .iter()
        .map(|id| ((id.clone(), "firing".to_string()), 1))
        .collect();
    assert_eq!(seen, want);

    ws.write("config.toml", &nothing_idle(&config));
    ws.run(&["run", "--once"]).success();
    let resolved = listed(&ws, &["--status", "resolved"]);
    assert!(!resolved.is_empty() && resolved.is_subset(&open));
    let resolutions = |got: &[Value]| {
        alert_notifications(got)
            .keys()
            .filter(|(_, s)| s == "resolved")
            .count()
    };
    wait_for(&receiver, |got| resolutions(got) == resolved.len());
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut want = want;
    for id in &resolved {
        want.insert((id.clone(), "resolved".to_string()), 1);
    }
    assert_eq!(alert_notifications(&receiver.requests()), want);
}

/// Waits up to 60 s for `done`, failing with `what`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn sigkill(mut daemon: std::process::Child) {
    daemon.kill().unwrap(); // SIGKILL: no shutdown code runs
    daemon.wait().unwrap();
}

/// The daemon killed with SIGKILL after recording and before sending (the
/// receiver down), and again after sending and before hearing the answer
/// (the receiver holding its response), then restarted: every finding is
/// delivered, and the one that went twice carries the same idempotency key
/// both times.
#[test]
fn sigkill_between_recording_sending_and_marking_loses_nothing() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let hook = free_port();
    let listen = free_port();
    let config = std::fs::read_to_string(repo().join("config.toml"))
        .unwrap()
        .replace(
            "listen = \"127.0.0.1:9464\"",
            &format!("listen = \"127.0.0.1:{listen}\""),
        )
        + &format!(
            "\n[sinks.hooks]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{hook}/hook\"\n\
             secret = \"{SECRET}\"\nkinds = [\"idle_resource\"]\n"
        );
    ws.write("config.toml", &config);

    // Recorded, then killed before anything could be sent (no receiver).
    let daemon = crate::daemon::start_daemon(&ws, listen);
    eventually("the outbox holds the run's findings", || {
        outbox_files(&ws) >= 5
    });
    sigkill(daemon);
    let pending = outbox_files(&ws);
    let open = listed(&ws, &["--kind", "idle_resource"]);
    assert_eq!(pending, open.len());

    // Up, but holding its answer to the first request: killed after
    // sending it and before marking it sent.
    let log = ws.path("received.jsonl");
    let receiver = WebhookReceiver::stalling(hook, SECRET, &log, 0, 1);
    let daemon = crate::daemon::start_daemon(&ws, listen);
    eventually("the receiver got the first notification", || {
        !receiver.requests().is_empty()
    });
    sigkill(daemon);
    let first = receiver.requests()[0].clone();
    assert_eq!(first["stalled"], true);
    assert_eq!(outbox_files(&ws), pending, "nothing was marked sent");

    // Restarted: everything goes, the stalled one again under its key.
    let daemon = crate::daemon::start_daemon(&ws, listen);
    eventually("every notification delivered", || outbox_files(&ws) == 0);
    crate::daemon::stop(daemon);
    let all = receiver.requests();
    assert!(all.iter().all(|q| q["verified"] == true), "{all:?}");
    let delivered: Vec<&Value> = all.iter().filter(|q| q["stalled"] == false).collect();
    let ids: BTreeSet<&str> = delivered
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), delivered.len(), "each answered once");
    assert!(
        ids.contains(first["id"].as_str().unwrap()),
        "the duplicate has the same key"
    );
    let told: BTreeSet<String> = delivered
        .iter()
        .map(|q| {
            q["body"]["data"]["finding_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(told, open);
    assert_eq!(
        all.len(),
        open.len() + 1,
        "one duplicate, the unanswered one"
    );
}

/// 200 findings in one run reach a digest sink as one message.
#[test]
fn two_hundred_findings_make_one_digest() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    // 200 more request-log services on the sample's last day, every
    // request 900 ms or slower: each misses its P95 and Apdex objectives.
    let mut csv = String::from("timestamp,service,endpoint,duration_ms,status\n");
    let day = 1_727_568_000; // 2024-09-29T00:00:00Z
    for s in 0..200 {
        for i in 0..120 {
            csv.push_str(&format!(
                "{},svc{s:03},/,{},200\n",
                day + i * 600 + s,
                900 + i
            ));
        }
    }
    ws.write("many/requests.csv", &csv);
    let port = free_port();
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap();
    ws.write(
        "config.toml",
        &(config
            + &format!(
                "\n[collectors.many]\ntype = \"request_log\"\npath = \"many/requests.csv\"\n\
                 [sinks.team]\ntype = \"slack\"\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\n"
            )),
    );
    let slack = WebhookReceiver::slack(port, &ws.path("slack.jsonl"), 0);
    ws.run(&["run", "--once"]).success();
    let open = listed(&ws, &["--status", "open"]);
    assert!(open.len() >= 200, "{}", open.len());
    let posts = slack.requests();
    assert_eq!(posts.len(), 1, "one digest, not {} messages", open.len());
    // Within Block Kit's limits, as Slack checks them.
    assert_eq!(posts[0]["status"], 200, "{:?}", posts[0]["problems"]);
    let header = posts[0]["body"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap();
    assert_eq!(
        header,
        format!("vitals: {0} finding(s) {0} new", open.len())
    );
}
