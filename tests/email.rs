//! The `email` sink against aiosmtpd (the real server, PEERS.md) with
//! STARTTLS and AUTH required, each message read back by Python's own MIME
//! parser (tests/fixtures/parse_mail.py): the weekly report arrives once,
//! in text and HTML with every chart an inline `cid:` part, and with a CSV
//! of its findings whose counted savings sum to the JSON report's total.
//! A wrong password, a server that does not offer STARTTLS and a refused
//! recipient are clear errors, and the report is sent once they are fixed.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::{Workspace, copy_sample_dir, repo};
use crate::peers::{SmtpFaults, SmtpServer};

const USER: &str = "vitals";
const PASSWORD: &str = "c0rrect-h0rse";

fn with_mail(ws: &Workspace, smtp: &SmtpServer, password: &str, to: &[&str]) -> String {
    let to: Vec<String> = to.iter().map(|a| format!("\"{a}\"")).collect();
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap()
        + &format!(
            "\n[sinks.mail]\ntype = \"email\"\nserver = \"127.0.0.1:{}\"\nusername = \"{USER}\"\n\
             password = \"{password}\"\nca_file = \"{}\"\nfrom = \"vitals <vitals@example.com>\"\n\
             to = [{}]\nmax_attempts = 2\n",
            smtp.port,
            smtp.ca_file().display(),
            to.join(", ")
        );
    ws.write("config.toml", &config);
    config
}

#[test]
fn the_weekly_report_arrives_once_over_starttls_with_inline_charts_and_a_csv() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let smtp = SmtpServer::start(USER, PASSWORD, SmtpFaults::default());
    with_mail(
        &ws,
        &smtp,
        PASSWORD,
        &["sre@example.com", "finops@example.com"],
    );
    let run = ws.run(&["run", "--once"]);
    run.success();
    assert!(
        run.stdout.contains("sink `mail`: 1 sent, 0 pending"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(PASSWORD), "the password is a secret");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let m = SmtpServer::parse(&messages[0]);

    assert_eq!(m["rcpt_to"], "sre@example.com, finops@example.com");
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("vitals: ") && subject.contains("2024-W39"),
        "{subject}"
    );
    let structure: Vec<&str> = m["structure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        &structure[..5],
        [
            "multipart/mixed",
            "multipart/related",
            "multipart/alternative",
            "text/plain",
            "text/html"
        ]
    );
    assert_eq!(structure.last(), Some(&"text/csv"));
    // The text part is the Markdown report, the HTML part the HTML one
    // with no data: image left.
    let md = std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.md")).unwrap();
    assert_eq!(m["text"].as_str().unwrap().replace("\r\n", "\n"), md);
    let html = m["html"].as_str().unwrap();
    assert!(
        !html.contains("data:image"),
        "mail clients block data: images"
    );
    // Every cid: the HTML references is an attached PNG, and every chart
    // of the HTML file is one.
    let cids: Vec<&str> = m["html_cids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let file = std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.html")).unwrap();
    assert!(!cids.is_empty());
    assert_eq!(cids.len(), file.matches("data:image/png;base64,").count());
    for cid in &cids {
        assert_eq!(m["images"][cid], true, "cid:{cid} resolves to a PNG part");
    }
    assert_eq!(m["images"].as_object().unwrap().len(), cids.len());

    // The CSV's counted savings sum, per currency, to the JSON report's
    // savings total.
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.json")).unwrap(),
    )
    .unwrap();
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for line in json["savings"]["totals"].as_array().unwrap() {
        *want
            .entry(line["currency"].as_str().unwrap().to_string())
            .or_default() += line["monthly"].as_f64().unwrap();
    }
    assert!(want.values().all(|&v| v > 0.0), "{want:?}");
    assert_eq!(m["csv_name"], "weekly-2024-W39-findings.csv");
    let rows = m["csv_rows"].as_array().unwrap();
    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    for r in rows {
        let counted = r["counted_monthly_savings"].as_str().unwrap();
        if !counted.is_empty() {
            *got.entry(r["currency"].as_str().unwrap().to_string())
                .or_default() += counted.parse::<f64>().unwrap();
        }
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (currency, total) in &want {
        assert!(
            (got[currency] - total).abs() < 0.005,
            "{currency}: {got:?} vs {want:?}"
        );
    }
    let counted = json["savings"]["counted"].as_array().unwrap().len();
    let nonempty = rows
        .iter()
        .filter(|r| r["counted_monthly_savings"] != "")
        .count();
    assert_eq!(nonempty, counted);
    // Every savings finding of the JSON report is a row.
    let ids: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["finding_id"].as_str().unwrap())
        .collect();
    for f in json["savings"]["findings"].as_array().unwrap() {
        assert!(ids.contains(f["finding_id"].as_str().unwrap()), "{f}");
    }

    // The next run writes the same week's report again: not sent again.
    let run = ws.run(&["run", "--once"]);
    run.success();
    assert_eq!(smtp.messages().len(), 1, "one report per week");

    // A test message on demand.
    ws.run(&["notify", "test", "mail"]).success();
    let test = SmtpServer::parse(smtp.messages().last().unwrap());
    assert_eq!(test["subject"], "vitals test message");
}

/// Runs `run --once` and returns its stderr, checking the report waits.
fn fails_and_keeps_the_report(ws: &Workspace, what: &str) -> String {
    let run = ws.run(&["run", "--once"]);
    run.code(1);
    assert!(
        run.stdout
            .contains("sink `mail`: 0 sent, 0 pending, 1 given up"),
        "{what}: {run:#?}"
    );
    assert!(
        !run.stderr.contains(PASSWORD),
        "{what}: the password is a secret"
    );
    run.stderr
}

#[test]
fn smtp_refusals_are_clear_and_the_report_goes_once_they_are_fixed() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let smtp = SmtpServer::start(
        USER,
        PASSWORD,
        SmtpFaults {
            reject: Some("gone@example.com"),
            ..Default::default()
        },
    );

    // A wrong password: `check --connect` says so without sending.
    with_mail(&ws, &smtp, "wr0ng", &["sre@example.com"]);
    let check = ws.run(&["check", "--connect"]);
    check.code(1);
    assert!(
        check.stdout.contains("sink `mail` (email): NOT reachable") && check.stdout.contains("535"),
        "{check:#?}"
    );
    let err = fails_and_keeps_the_report(&ws, "wrong password");
    assert!(
        err.contains("535") && err.contains("check `username` and `password`"),
        "{err}"
    );
    assert!(!err.contains("wr0ng"));

    // A refused recipient.
    with_mail(
        &ws,
        &smtp,
        PASSWORD,
        &["sre@example.com", "gone@example.com"],
    );
    let err = fails_and_keeps_the_report(&ws, "refused recipient");
    assert!(err.contains("550") && err.contains("check `to`"), "{err}");
    assert!(smtp.messages().is_empty());

    // Fixed: the next run sends the report it could not send before.
    with_mail(&ws, &smtp, PASSWORD, &["sre@example.com"]);
    let check = ws.run(&["check", "--connect"]);
    check.success();
    assert!(
        check.stdout.contains("sink `mail` (email): reachable"),
        "{check:#?}"
    );
    assert!(smtp.messages().is_empty(), "checking sends nothing");
    let run = ws.run(&["run", "--once"]);
    run.success();
    assert!(
        run.stdout.contains("sink `mail`: 1 sent, 0 pending"),
        "{run:#?}"
    );
    assert_eq!(smtp.messages().len(), 1);

    // A server that does not offer STARTTLS: nothing goes in the clear.
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let plain = SmtpServer::start(
        USER,
        PASSWORD,
        SmtpFaults {
            no_starttls: true,
            ..Default::default()
        },
    );
    with_mail(&ws, &plain, PASSWORD, &["sre@example.com"]);
    let err = fails_and_keeps_the_report(&ws, "no STARTTLS");
    assert!(err.to_lowercase().contains("starttls"), "{err}");
    assert!(plain.messages().is_empty());
}

#[test]
fn each_owner_gets_a_digest_of_only_their_findings() {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let smtp = SmtpServer::start(USER, PASSWORD, SmtpFaults::default());
    // The sample's instances carry `owner` tags; config.toml gives `api`,
    // `search` and `checkout` owners for the latency findings.
    let config = with_mail(&ws, &smtp, PASSWORD, &["sre@example.com"]);
    ws.write(
        "config.toml",
        &(config
            + "[sinks.mail.owner_digests]\nplatform = \"platform@example.com\"\n\
               clinical-data = [\"dba@example.com\", \"lead@example.com\"]\n\
               nobody = \"nobody@example.com\"\n"),
    );
    let run = ws.run(&["run", "--once"]);
    run.success();
    // The full report and two digests: `nobody` owns nothing this week.
    assert!(
        run.stdout.contains("sink `mail`: 3 sent, 0 pending"),
        "{run:#?}"
    );
    let mails: Vec<Value> = smtp
        .messages()
        .iter()
        .map(|m| SmtpServer::parse(m))
        .collect();
    assert_eq!(mails.len(), 3);
    let to = |rcpt: &str| {
        mails
            .iter()
            .find(|m| m["rcpt_to"] == rcpt)
            .unwrap_or_else(|| panic!("no mail to {rcpt}"))
    };
    assert!(to("sre@example.com")["csv_name"] == "weekly-2024-W39-findings.csv");

    // The oracle: the JSON report's findings, their owners and what its
    // totals count.
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.json")).unwrap(),
    )
    .unwrap();
    let counted: std::collections::BTreeSet<&str> = json["savings"]["counted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let all: Vec<&Value> = ["anomalies", "latency_findings"]
        .iter()
        .flat_map(|k| json[k].as_array().unwrap())
        .chain(json["savings"]["findings"].as_array().unwrap())
        .collect();

    for (owner, rcpt) in [
        ("platform", "platform@example.com"),
        ("clinical-data", "dba@example.com, lead@example.com"),
    ] {
        let m = to(rcpt);
        let theirs: Vec<&&Value> = all.iter().filter(|f| f["owner"] == owner).collect();
        assert!(!theirs.is_empty(), "{owner} owns findings in the sample");
        assert!(
            m["subject"].as_str().unwrap().contains(owner),
            "{}",
            m["subject"]
        );
        assert_eq!(
            m["csv_name"],
            format!("weekly-2024-W39-{owner}-findings.csv")
        );
        let rows = m["csv_rows"].as_array().unwrap();
        assert!(rows.iter().all(|r| r["owner"] == owner), "{rows:?}");
        let mut got: Vec<&str> = rows
            .iter()
            .map(|r| r["finding_id"].as_str().unwrap())
            .collect();
        let mut want: Vec<&str> = theirs
            .iter()
            .map(|f| f["finding_id"].as_str().unwrap())
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{owner}: exactly their findings");
        // Their counted savings: what the full report counts of theirs.
        let sum: f64 = rows
            .iter()
            .filter_map(|r| r["counted_monthly_savings"].as_str())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f64>().unwrap())
            .sum();
        let want_sum: f64 = theirs
            .iter()
            .filter(|f| counted.contains(f["finding_id"].as_str().unwrap()))
            .map(|f| f["monthly_savings"].as_f64().unwrap())
            .sum();
        assert!(want_sum > 0.0, "{owner} has savings in the sample");
        assert!(
            (sum - want_sum).abs() < 0.005,
            "{owner}: {sum} vs {want_sum}"
        );
        let text = m["text"].as_str().unwrap();
        assert!(text.contains(&format!("What **{owner}** owns")), "{text}");
        assert!(text.contains("## Savings"), "{text}");
        for company_wide in [
            "## Total",
            "## Cost anomalies",
            "## By provider",
            "## By service",
        ] {
            assert!(
                !text.contains(company_wide),
                "{owner}: {company_wide}\n{text}"
            );
        }
        assert!(
            m["images"].as_object().unwrap().is_empty(),
            "no cost charts"
        );
    }
    // The latency table keeps the services a digest's findings are about:
    // `api` (owned by platform, a regression this week), not `search`.
    let platform = to("platform@example.com")["text"].as_str().unwrap();
    assert!(platform.contains("| api |"), "{platform}");
    assert!(!platform.contains("| search |"), "{platform}");

    // Once per owner and week, like the report.
    ws.run(&["run", "--once"]).success();
    assert_eq!(smtp.messages().len(), 3);
}
