//! The README's first command on the bundled sample: `vitals run --once`
//! with the root `config.toml`.

use crate::harness::{Workspace, duckdb_rows, repo};

#[test]
fn the_sample_report_has_the_sample_totals_per_provider() {
    let ws = Workspace::new();
    std::fs::copy(repo().join("config.toml"), ws.path("config.toml")).unwrap();
    ws.copy_sample(crate::harness::SAMPLE);
    let requests = ws.path(crate::harness::SAMPLE_REQUESTS);
    std::fs::create_dir_all(requests.parent().unwrap()).unwrap();
    std::fs::copy(repo().join(crate::harness::SAMPLE_REQUESTS), &requests).unwrap();
    let run = ws.run(&["run", "--once"]);
    run.success();
    // It says where the report is.
    let html = ws.path("reports-out/weekly-2024-W39.html");
    assert!(
        run.stdout.contains("report written: ") && run.stdout.contains("weekly-2024-W39.html"),
        "{run:#?}"
    );
    assert!(html.is_file());
    let html = std::fs::read_to_string(html).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.json")).unwrap(),
    )
    .unwrap();
    let md = std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.md")).unwrap();

    // The oracle: DuckDB's per-provider sums over the same file, to 4 places.
    let sql = format!(
        "SELECT ProviderName, ROUND(SUM(BilledCost), 4)::VARCHAR, ROUND(SUM(EffectiveCost), 4)::VARCHAR \
         FROM read_csv('{}', header = true, nullstr = 'NULL', \
                       types = {{'BilledCost': 'DECIMAL(38,18)', 'EffectiveCost': 'DECIMAL(38,18)'}}) \
         GROUP BY ALL ORDER BY 1",
        repo().join(crate::harness::SAMPLE).display()
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
        // The HTML and Markdown show the same figures.
        assert!(html.contains(&trim4(billed)), "{name} {billed} not in HTML");
        assert!(
            md.contains(&format!(
                "| {name} | {} | {} |",
                trim4(billed),
                trim4(effective)
            )),
            "{name} in Markdown:\n{md}"
        );
    }
    let total = &month["totals"][0]["cost"]["current"];
    assert_eq!(
        format!("{:.4}", total["billed"].as_f64().unwrap()),
        "20.5202"
    );
    assert_eq!(
        format!("{:.4}", total["effective"].as_f64().unwrap()),
        "14.9765"
    );
    assert!(html.contains("20.5202") && html.contains("14.9765"));
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
