//! Bad input gets a clear message, a documented exit code (1 runtime, 2
//! config), and loses nothing already stored.

use crate::harness::{Workspace, repo};

#[test]
fn a_malformed_config_reports_every_error_at_once() {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        r#"[store]
path = "store"
pth = "x"

[server]
listen = "not an address"

[colectors.a]
type = "focus_file"

[collectors.b]
type = "focus_files"
path = "x"

[collectors.c]
type = "focus_file"
path = "${VITALS_TEST_UNSET_VARIABLE}"

[schedule]
report_cron = "every monday"
timezone = "Europe/Berln"
"#,
    );
    let run = ws.run(&["check"]);
    run.code(2);
    let err = &run.stderr;
    for expected in [
        "config.toml:3:1: `store.pth`: unknown key",
        "did you mean `path`",
        "config.toml:6:10: `server.listen`",
        "config.toml:8:2: `colectors`: unknown section; did you mean `collectors`?",
        "`collectors.b.type`: unknown collector type `focus_files`; did you mean `focus_file`",
        "VITALS_TEST_UNSET_VARIABLE",
        "`schedule.report_cron`",
        "did you mean `Europe/Berlin`",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("7 errors in config `config.toml`"), "{err}");
    // `check` does no I/O: no store was created.
    assert!(!ws.path("store").exists());
}

#[test]
fn a_missing_config_file_is_a_config_error() {
    let ws = Workspace::new();
    let run = ws.run(&["collect"]);
    run.code(2);
    assert!(
        run.stderr.contains("cannot read the config file"),
        "{}",
        run.stderr
    );
}

#[test]
fn broken_rows_are_reported_with_file_and_line_and_the_rest_is_loaded() {
    let ws = Workspace::with_focus_files();
    let sample = std::fs::read_to_string(repo().join(crate::harness::SAMPLE)).unwrap();
    let mut lines: Vec<String> = sample.lines().map(str::to_string).collect();
    // Line 5: an amount that is not a number. Line 9: a row cut short.
    lines[4] = lines[4].replacen(",0.", ",zero.", 1);
    lines[8] = lines[8].split(',').take(5).collect::<Vec<_>>().join(",");
    ws.write("files/broken.csv", &(lines.join("\n") + "\n"));
    let run = ws.run(&["collect"]);
    run.success();
    assert!(
        run.stdout.contains("files: 998 rows from 1 file(s)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 bad row(s) left out"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("broken.csv:5: `BilledCost`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("broken.csv:9: expected 44 fields, found 5"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_that_is_not_focus_fails_and_keeps_what_was_stored() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    ws.run(&["collect"]).success();
    let before =
        std::fs::read(ws.path("store/cost/day=2024-09-18/source=files/part.parquet")).unwrap();
    let files = ws.store_files();

    ws.write("files/zz-other.csv", "date,amount\n2024-09-18,5\n");
    let run = ws.run(&["collect"]);
    run.code(1);
    assert!(
        run.stderr.contains("zz-other.csv` is not a FOCUS export"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("none of its 2 columns is a FOCUS column"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("files: failed, nothing stored"),
        "{}",
        run.stdout
    );
    assert_eq!(
        ws.store_files(),
        files,
        "no partition was added, replaced or left half-written"
    );
    let after =
        std::fs::read(ws.path("store/cost/day=2024-09-18/source=files/part.parquet")).unwrap();
    assert_eq!(before, after);
}

#[test]
fn an_empty_directory_is_a_clear_failure_and_writes_nothing() {
    let ws = Workspace::with_focus_files();
    let run = ws.run(&["collect"]);
    run.code(1);
    assert!(run.stderr.contains("no files match"), "{}", run.stderr);
    assert!(ws.store_files().is_empty());
    // With nothing collected, a report has nothing to cover.
    let run = ws.run(&["report", "weekly"]);
    run.code(1);
    assert!(
        run.stderr.contains("no cost data in the store"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_report_without_its_analyzer_is_a_config_error() {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        "[reports.weekly]\ntype = \"weekly_cost_report\"\n",
    );
    let run = ws.run(&["check"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("needs an analyzer of type `cost_summary`"),
        "{}",
        run.stderr
    );
}

/// Every summary a report reads is declared and checked at load time: an
/// optional one may be absent, but two of a type need the report to say
/// which, and a named one must exist and be of the right type.
#[test]
fn a_report_names_its_latency_analyzer_when_there_are_two() {
    let ws = Workspace::new();
    let config = |extra: &str| {
        format!(
            "[analyzers.cost]\ntype = \"cost_summary\"\n\
             [analyzers.api]\ntype = \"latency_summary\"\n\
             [analyzers.batch]\ntype = \"latency_summary\"\n\
             [analyzers.slo]\ntype = \"slo\"\n\
             [reports.weekly]\ntype = \"weekly_cost_report\"\n{extra}"
        )
    };
    ws.write("config.toml", &config(""));
    let run = ws.run(&["check"]);
    run.code(2);
    assert!(
        run.stderr.contains(
            "several `latency_summary` analyzers (`api`, `batch`): set `latency_analyzer`"
        ),
        "{}",
        run.stderr
    );
    ws.write("config.toml", &config("latency_analyzer = \"api\"\n"));
    ws.run(&["check"]).success();
    ws.write("config.toml", &config("latency_analyzer = \"apii\"\n"));
    let run = ws.run(&["check"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("`reports.weekly.latency_analyzer`: no analyzer named `apii`")
            && run.stderr.contains("`api`"),
        "{}",
        run.stderr
    );
    ws.write(
        "config.toml",
        &config("latency_analyzer = \"api\"\nslo_analyzer = \"cost\"\n"),
    );
    let run = ws.run(&["check"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("analyzer `cost` is of type `cost_summary`, but this report needs a `slo`"),
        "{}",
        run.stderr
    );
    // Without any latency analyzer the report is valid: no latency section.
    ws.write(
        "config.toml",
        "[analyzers.cost]\ntype = \"cost_summary\"\n[reports.weekly]\ntype = \"weekly_cost_report\"\n",
    );
    ws.run(&["check"]).success();
}
