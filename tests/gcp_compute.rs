//! `gcp_compute_inventory` against a local server replaying the Compute
//! Engine API v1's documented answers (no peer exists: PEERS.md). Shapes
//! follow https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList,
//! .../disks/aggregatedList and .../addresses/aggregatedList (an `items`
//! object of `zones/…` or `regions/…` scopes, each with its list or a
//! `warning`, and `nextPageToken`), and errors
//! https://cloud.google.com/apis/design/errors (`{"error": {"code",
//! "message", "status"}}`). Two projects: `proj-alpha` over two pages of
//! instances after a 429; `proj-beta` refuses access (403), is skipped,
//! and `proj-alpha` is collected. A malformed page fails the run and
//! stores nothing.

use serde_json::{Value, json};

use crate::harness::{Workspace, duckdb_rows};
use crate::peers::{Fault, FaultProxy, Request};

fn ok(body: Value) -> Fault {
    (
        200,
        vec![("Content-Type", "application/json")],
        body.to_string(),
    )
}

const ZONE: &str = "https://www.googleapis.com/compute/v1/projects/proj-alpha/zones/us-central1-a";

fn instance(name: &str, machine: &str, status: &str, extra: Value) -> Value {
    let mut v = json!({
        "kind": "compute#instance",
        "id": format!("{}", name.len() * 1000),
        "name": name,
        "zone": ZONE,
        "machineType": format!("{ZONE}/machineTypes/{machine}"),
        "status": status,
        "creationTimestamp": "2024-08-01T02:00:00.000-07:00",
        "selfLink": format!("{ZONE}/instances/{name}"),
        "scheduling": {"provisioningModel": "STANDARD", "preemptible": false},
        "disks": [{"boot": true, "source": format!("{ZONE}/disks/{name}-boot")}],
        "labels": {"service": "web"},
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// The replayed API: what `r` asks, answered as documented.
fn answer(r: &Request, malformed: bool) -> Fault {
    let path = r.line.split(' ').nth(1).unwrap_or_default();
    if path.contains("/projects/proj-beta/") {
        return (
            403,
            vec![("Content-Type", "application/json")],
            json!({"error": {"code": 403, "message": "Required 'compute.instances.list' permission for 'projects/proj-beta'", "status": "PERMISSION_DENIED"}}).to_string(),
        );
    }
    if path.contains("/aggregated/instances") && !path.contains("pageToken") {
        if r.n == 0 {
            return (
                429,
                vec![("Content-Type", "application/json")],
                json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}).to_string(),
            );
        }
        return ok(json!({
            "kind": "compute#instanceAggregatedList",
            "items": {
                "zones/us-central1-a": {"instances": [
                    instance("web-1", "e2-standard-4", "RUNNING", json!({
                        "metadata": {"items": [{"key": "created-by", "value": "projects/123/zones/us-central1-a/instanceGroupManagers/web-mig"}]}
                    })),
                    instance("batch-1", "n2-custom-4-16384", "RUNNING", json!({
                        "scheduling": {"provisioningModel": "SPOT", "preemptible": false},
                        "labels": {"workload": "batch"}
                    })),
                ]},
                "zones/us-central1-b": {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/us-central1-b' on this page."}},
            },
            "nextPageToken": "page-2",
        }));
    }
    if path.contains("/aggregated/instances") {
        return ok(json!({
            "kind": "compute#instanceAggregatedList",
            "items": {"zones/us-central1-a": {"instances": [
                instance("old-1", "n1-standard-2", "TERMINATED", json!({"scheduling": {"preemptible": true}})),
            ]}},
        }));
    }
    if path.contains("/aggregated/disks") {
        if malformed {
            return ok(json!({"kind": "compute#diskAggregatedList", "items": ["not", "scopes"]}));
        }
        return ok(json!({
            "kind": "compute#diskAggregatedList",
            "items": {"zones/us-central1-a": {"disks": [
                {"id": "1", "name": "web-1-boot", "zone": ZONE, "sizeGb": "20", "type": format!("{ZONE}/diskTypes/pd-balanced"),
                 "users": [format!("{ZONE}/instances/web-1")], "selfLink": format!("{ZONE}/disks/web-1-boot"),
                 "creationTimestamp": "2024-08-01T02:00:00.000-07:00"},
                {"id": "2", "name": "orphan-data", "zone": ZONE, "sizeGb": "500", "type": format!("{ZONE}/diskTypes/pd-ssd"),
                 "selfLink": format!("{ZONE}/disks/orphan-data"), "labels": {"team": "data"},
                 "creationTimestamp": "2024-06-01T00:00:00.000Z"},
            ]}},
        }));
    }
    if path.contains("/aggregated/addresses") {
        return ok(json!({
            "kind": "compute#addressAggregatedList",
            "items": {"regions/us-central1": {"addresses": [
                {"id": "7", "name": "web-ip", "address": "34.1.2.3", "addressType": "EXTERNAL", "status": "IN_USE",
                 "region": "https://www.googleapis.com/compute/v1/projects/proj-alpha/regions/us-central1",
                 "users": [format!("{ZONE}/instances/web-1")], "creationTimestamp": "2024-08-01T00:00:00.000Z"},
                {"id": "8", "name": "spare-ip", "address": "34.1.2.4", "addressType": "EXTERNAL", "status": "RESERVED",
                 "region": "https://www.googleapis.com/compute/v1/projects/proj-alpha/regions/us-central1",
                 "creationTimestamp": "2024-08-01T00:00:00.000Z"},
            ]}},
        }));
    }
    (404, vec![], format!("the replay does not know {}", r.line))
}

fn workspace(url: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        &format!(
            "[store]\npath = \"store\"\n\n[collectors.gce]\ntype = \"gcp_compute_inventory\"\n\
             projects = [\"proj-alpha\", \"proj-beta\"]\nanonymous = true\nendpoint_url = \"{url}\"\n"
        ),
    );
    ws
}

#[test]
fn two_projects_one_refused_are_collected_into_inventory() {
    let server = FaultProxy::start(0, Box::new(|r: &Request| Some(answer(r, false))));
    let ws = workspace(&server.url());
    let run = ws.run(&["collect"]);
    run.success();
    assert!(
        run.stderr
            .contains("project `proj-beta`: access refused, skipped")
            && run.stderr.contains("compute.instances.list"),
        "{}",
        run.stderr
    );
    let rows = duckdb_rows(&format!(
        "SELECT resource_id, resource_type, account_id, region_id, instance_type, state, lifecycle, \
                \"group\", attached_to, volume_type, size_gib, boot, tags, \
                strftime(launched_at, '%Y-%m-%d %H:%M') \
         FROM read_parquet('{}/inventory/**/*.parquet') ORDER BY resource_type, resource_id",
        ws.path("store").display()
    ));
    let got: Vec<Vec<Option<&str>>> = rows
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|v| v.as_str()).collect())
        .collect();
    let s = Some;
    let want: Vec<Vec<Option<&str>>> = vec![
        vec![
            s("spare-ip"),
            s("address"),
            s("proj-alpha"),
            s("us-central1"),
            None,
            s("reserved"),
            None,
            None,
            None,
            None,
            None,
            None,
            s("{}"),
            s("2024-08-01 00:00"),
        ],
        vec![
            s("web-ip"),
            s("address"),
            s("proj-alpha"),
            s("us-central1"),
            None,
            s("in_use"),
            None,
            None,
            s("web-1"),
            None,
            None,
            None,
            s("{}"),
            s("2024-08-01 00:00"),
        ],
        vec![
            s("batch-1"),
            s("instance"),
            s("proj-alpha"),
            s("us-central1"),
            s("n2-custom-4-16384"),
            s("running"),
            s("spot"),
            None,
            None,
            None,
            None,
            None,
            s(r#"{"workload":"batch"}"#),
            s("2024-08-01 09:00"),
        ],
        vec![
            s("old-1"),
            s("instance"),
            s("proj-alpha"),
            s("us-central1"),
            s("n1-standard-2"),
            s("terminated"),
            s("spot"),
            None,
            None,
            None,
            None,
            None,
            s(r#"{"service":"web"}"#),
            s("2024-08-01 09:00"),
        ],
        vec![
            s("web-1"),
            s("instance"),
            s("proj-alpha"),
            s("us-central1"),
            s("e2-standard-4"),
            s("running"),
            s("on_demand"),
            s("web-mig"),
            None,
            None,
            None,
            None,
            s(r#"{"service":"web"}"#),
            s("2024-08-01 09:00"),
        ],
        vec![
            s("orphan-data"),
            s("volume"),
            s("proj-alpha"),
            s("us-central1"),
            None,
            s("available"),
            None,
            None,
            None,
            s("pd-ssd"),
            s("500.0"),
            s("False"),
            s(r#"{"team":"data"}"#),
            s("2024-06-01 00:00"),
        ],
        vec![
            s("web-1-boot"),
            s("volume"),
            s("proj-alpha"),
            s("us-central1"),
            None,
            s("in-use"),
            None,
            None,
            s("web-1"),
            s("pd-balanced"),
            s("20.0"),
            s("True"),
            s("{}"),
            s("2024-08-01 09:00"),
        ],
    ];
    assert_eq!(got, want);
    // The 429 was retried; each list call of proj-alpha, the second
    // instances page, and proj-beta's refusal.
    assert_eq!(server.count(), 1 + 4 + 1, "{}", server.count());
}

#[test]
fn a_malformed_page_fails_the_run_and_stores_nothing() {
    let server = FaultProxy::start(0, Box::new(|r: &Request| Some(answer(r, true))));
    let ws = workspace(&server.url());
    let run = ws.run(&["collect"]);
    ws.assert_collect_failed(
        &run,
        "gce",
        "project `proj-alpha`, disks.aggregatedList: `items` is not an object of scopes",
    );
}
