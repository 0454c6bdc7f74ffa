//! The README's first command on the bundled sample: `vitals run --once`
//! with the root `config.toml`.

use crate::harness::{Workspace, copy_sample_dir, duckdb_rows, repo};

/// The sample's two bills: the FOCUS sample and the sample fleet's.
const BILLS: [&str; 2] = [crate::harness::SAMPLE, "sample/fleet/focus.csv"];

#[test]
fn the_sample_report_has_the_sample_totals_per_provider() {
    let ws = Workspace::new();
    std::fs::copy(repo().join("config.toml"), ws.path("config.toml")).unwrap();
    copy_sample_dir(&ws);
    let run = ws.run(&["run", "--once"]);
    run.success();
    // It says where the report is.
    let html = ws.path("reports-out/weekly-2024-W39.html");
    assert!(
        run.stdout.contains("report written: ") && run.stdout.contains("weekly-2024-W39.html"),
        "{run:#?}"
    );
    assert!(html.is_file());
    // It prints the savings it found, with their total.
    assert!(
        run.stdout
            .contains("monthly savings (each resource counted once):")
            && run.stdout.contains("m5.2xlarge -> m5.large"),
        "{run:#?}"
    );
    let html = std::fs::read_to_string(html).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.json")).unwrap(),
    )
    .unwrap();
    let md = std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.md")).unwrap();

    // The oracle: DuckDB's per-provider sums over the same files, to 4 places.
    let files = BILLS
        .map(|f| format!("'{}'", repo().join(f).display()))
        .join(", ");
    let read = format!(
        "read_csv([{files}], header = true, nullstr = 'NULL', union_by_name = true, \
                  types = {{'BilledCost': 'DECIMAL(38,18)', 'EffectiveCost': 'DECIMAL(38,18)'}})"
    );
    let sql = format!(
        "SELECT ProviderName, ROUND(SUM(BilledCost), 4)::VARCHAR, ROUND(SUM(EffectiveCost), 4)::VARCHAR \
         FROM {read} GROUP BY ALL ORDER BY 1"
    );
    let month = &json["cost"]["month_to_date"];
    assert_eq!(month["month"], "2024-09");
    let providers = month["by_provider"].as_array().unwrap();
    let expected = duckdb_rows(&sql);
    assert_eq!(providers.len(), expected.len());
    for row in &expected {
        let (name, billed, effective) = (
            row[0].as_str().unwrap(),
            row[1].as_str().unwrap(),
            row[2].as_str().unwrap(),
        );
        let p = providers
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            format!("{:.4}", p["cost"]["current"]["billed"].as_f64().unwrap()),
            trim4(billed),
            "{name}"
        );
        assert_eq!(
            format!("{:.4}", p["cost"]["current"]["effective"].as_f64().unwrap()),
            trim4(effective),
            "{name}"
        );
        // The HTML and Markdown show the same figures (grouped by
        // thousands as the report writes them).
        let shown = |v: &str| grouped(&trim4(v));
        assert!(html.contains(&shown(billed)), "{name} {billed} not in HTML");
        assert!(
            md.contains(&format!(
                "| {name} | {} | {} |",
                shown(billed),
                shown(effective)
            )),
            "{name} in Markdown:\n{md}"
        );
    }
    let total = &month["totals"][0]["cost"]["current"];
    let oracle = duckdb_rows(&format!(
        "SELECT ROUND(SUM(BilledCost), 4)::VARCHAR, ROUND(SUM(EffectiveCost), 4)::VARCHAR FROM {read}"
    ));
    let (billed, effective) = (
        trim4(oracle[0][0].as_str().unwrap()),
        trim4(oracle[0][1].as_str().unwrap()),
    );
    assert_eq!(format!("{:.4}", total["billed"].as_f64().unwrap()), billed);
    assert_eq!(
        format!("{:.4}", total["effective"].as_f64().unwrap()),
        effective
    );
    assert!(html.contains(&grouped(&billed)) && html.contains(&grouped(&effective)));
    assert!(
        html.contains("data:image/png;base64,"),
        "the chart is embedded"
    );
    // The week itself: Monday 2024-09-23 to Sunday 2024-09-29.
    assert_eq!(json["cost"]["period"]["start"], "2024-09-23");
    assert_eq!(json["cost"]["period"]["end"], "2024-09-29");

    // The latency section, from the sample's request log: every service,
    // api's regression that recovered with both times, search's new one,
    // checkout's missed error-rate objective.
    let latency = md
        .split("## Latency and SLOs")
        .nth(1)
        .expect("a latency section")
        .split("\n## ")
        .next()
        .unwrap();
    let row = |service: &str| {
        latency
            .lines()
            .find(|l| l.starts_with(&format!("| {service} |")))
            .unwrap_or_else(|| panic!("no row for {service}:\n{latency}"))
    };
    let api = row("api");
    assert!(
        api.contains("from 2024-09-24 10:00 to 2024-09-25") && api.contains("recovered"),
        "{api}"
    );
    assert!(
        row("search").contains("at 2024-09-29 19:00 UTC"),
        "{latency}"
    );
    assert!(row("search").contains("h of evidence"), "{latency}");
    // Markdown-escaped, in bold.
    assert!(
        row("checkout").contains(r"**missed: error\_rate**"),
        "{latency}"
    );
    assert!(html.contains("recovered"));

    the_savings_section_matches_the_generators_findings(&json, &md, &html);
}

/// The sample fleet's findings and savings equal those its generator
/// (scripts/sample_fleet.py) computed from the same costs and prices, in
/// the JSON, and the Markdown and HTML show the total.
fn the_savings_section_matches_the_generators_findings(
    json: &serde_json::Value,
    md: &str,
    html: &str,
) {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample/fleet/expected.json")).unwrap(),
    )
    .unwrap();
    let key = |f: &serde_json::Value| {
        (
            f["kind"].as_str().unwrap().to_string(),
            f["resource_id"].as_str().unwrap().to_string(),
            f["monthly_savings"].as_f64().map(|v| format!("{v:.2}")),
        )
    };
    let mut want: Vec<_> = expected.as_array().unwrap().iter().map(key).collect();
    let savings = &json["savings"];
    let mut got: Vec<_> = savings["findings"]
        .as_array()
        .expect("a savings section in the JSON report")
        .iter()
        .map(key)
        .collect();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "no missing, no extra findings, every saving to the cent"
    );
    // Each resource once, with its largest saving: the test's own count.
    let mut best: std::collections::BTreeMap<String, f64> = Default::default();
    for (_, resource, saving) in &want {
        if let Some(s) = saving {
            let s: f64 = s.parse().unwrap();
            let e = best.entry(resource.clone()).or_insert(0.0);
            *e = e.max(s);
        }
    }
    let total: f64 = best.values().sum();
    let reported = savings["totals"][0]["monthly"].as_f64().unwrap();
    assert!((reported - total).abs() < 1e-6, "{reported} vs {total}");
    let shown = grouped(&format!("{total:.2}"));
    let section = md.split("## Savings").nth(1).expect("a Savings section");
    assert!(
        section.contains(&format!("**Total** | **{shown} USD**")),
        "{section}"
    );
    assert!(html.contains(&format!("{shown} USD")));
    // What a person reads: the proposed type, the evidence, the basis.
    assert!(section.contains("m5.2xlarge → m5.large"), "{section}");
    assert!(section.contains("P99.5 CPU"), "{section}");
    assert!(section.contains("Under-provisioned"), "{section}");
}

/// `1234.5600` as the report writes it: `1,234.5600`.
fn grouped(v: &str) -> String {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}.{frac}")
}

/// DuckDB prints `ROUND(x, 4)` of a wide decimal with all its scale digits.
fn trim4(s: &str) -> String {
    format!("{:.4}", s.parse::<f64>().unwrap())
}

#[test]
fn report_writes_one_format_to_a_chosen_file_for_a_chosen_week() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    ws.run(&["collect"]).success();
    let run = ws.run(&["report", "weekly", "--week", "2024-W38", "--out", "w38.md"]);
    run.success();
    let md = std::fs::read_to_string(ws.path("w38.md")).unwrap();
    assert!(
        md.contains("2024-W38") && md.contains("2024-09-16 – 2024-09-22"),
        "{md}"
    );
    let run = ws.run(&["report", "weekly", "--format", "json", "--out", "-"]);
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["week"], "2024-W39");
    ws.run(&["report", "wekly"]).code(1);
    assert!(
        ws.run(&["report", "wekly"])
            .stderr
            .contains("did you mean `weekly`")
    );
}
