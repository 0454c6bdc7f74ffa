//! `gcp_pricing` against a local server replaying the Cloud Billing
//! Catalog API's and Compute Engine's documented answers (no peer exists:
//! PEERS.md). Shapes: https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list
//! (`skus[]` with `category`, `serviceRegions`, `pricingInfo[].pricingExpression.tieredRates[].unitPrice{units,nanos}`,
//! `nextPageToken`) and https://cloud.google.com/compute/docs/reference/rest/v1/machineTypes/aggregatedList
//! (`guestCpus`, `memoryMb`). Every machine type of the inventory's series
//! is priced vCPUs × core + GiB × RAM per purchase option, equal to the
//! test's own computation from the same SKUs; the first project refuses
//! access and the second answers; a 429 is retried; a malformed page fails
//! the run.

use std::collections::BTreeMap;

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

/// (description, resourceGroup, usageType, units, nanos) in us-central1.
const SKUS: [(&str, &str, &str, &str, i64); 9] = [
    (
        "E2 Instance Core running in Americas",
        "CPU",
        "OnDemand",
        "0",
        21_811_590,
    ),
    (
        "E2 Instance Ram running in Americas",
        "RAM",
        "OnDemand",
        "0",
        2_923_360,
    ),
    (
        "Spot Preemptible E2 Instance Core running in Americas",
        "CPU",
        "Preemptible",
        "0",
        6_543_000,
    ),
    (
        "Spot Preemptible E2 Instance Ram running in Americas",
        "RAM",
        "Preemptible",
        "0",
        877_000,
    ),
    (
        "N2 Instance Core running in Americas",
        "CPU",
        "OnDemand",
        "0",
        31_611_000,
    ),
    (
        "N2 Instance Ram running in Americas",
        "RAM",
        "OnDemand",
        "0",
        4_237_000,
    ),
    (
        "Commitment v1: N2 Cpu in Americas for 1 Year",
        "CPU",
        "Commit1Yr",
        "0",
        19_915_000,
    ),
    (
        "Commitment v1: N2 Ram in Americas for 1 Year",
        "RAM",
        "Commit1Yr",
        "0",
        2_669_000,
    ),
    (
        "N2 Custom Instance Core running in Americas",
        "CPU",
        "OnDemand",
        "1",
        0,
    ),
];

/// (zone, name, guestCpus, memoryMb).
const MACHINES: [(&str, &str, u32, u32); 6] = [
    ("us-central1-a", "e2-standard-2", 2, 8192),
    ("us-central1-a", "e2-standard-4", 4, 16384),
    ("us-central1-a", "n2-standard-4", 4, 16384),
    ("us-central1-a", "n2-highmem-2", 2, 16384),
    ("us-central1-a", "c2-standard-4", 4, 16384),
    ("europe-west1-b", "e2-standard-4", 4, 16384),
];

fn sku_json(
    i: usize,
    (description, group, usage, units, nanos): (&str, &str, &str, &str, i64),
) -> Value {
    json!({
        "name": format!("services/6F81-5844-456A/skus/{i}"), "skuId": format!("{i}"),
        "description": description,
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute", "resourceGroup": group, "usageType": usage},
        "serviceRegions": ["us-central1"],
        "pricingInfo": [{"effectiveTime": "2026-12-01T00:00:00Z", "pricingExpression": {
            "usageUnit": if group == "CPU" { "h" } else { "GiBy.h" },
            "tieredRates": [{"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": units, "nanos": nanos}}]
        }}],
    })
}

fn answer(r: &Request, malformed: bool) -> Fault {
    let line = &r.line;
    if line.contains("/projects/proj-first/") {
        return (
            403,
            vec![("Content-Type", "application/json")],
            json!({"error": {"code": 403, "message": "Required 'compute.machineTypes.list' permission", "status": "PERMISSION_DENIED"}}).to_string(),
        );
    }
    if line.contains("/aggregated/machineTypes") {
        let mut items = serde_json::Map::new();
        for (zone, name, cpus, mb) in MACHINES {
            let entry = items
                .entry(format!("zones/{zone}"))
                .or_insert_with(|| json!({"machineTypes": []}));
            entry["machineTypes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"kind": "compute#machineType", "name": name, "guestCpus": cpus, "memoryMb": mb, "zone": zone}));
        }
        return ok(json!({"kind": "compute#machineTypeAggregatedList", "items": items}));
    }
    if line.contains("/v1/services/6F81-5844-456A/skus") {
        if !line.contains("pageToken") {
            if !line.contains("currencyCode=USD") {
                return (400, vec![], "no currency".into());
            }
            if r.n == 2 {
                return (
                    429,
                    vec![("Content-Type", "application/json")],
                    json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}).to_string(),
                );
            }
            let first: Vec<Value> = SKUS[..5]
                .iter()
                .enumerate()
                .map(|(i, s)| sku_json(i, *s))
                .collect();
            return ok(json!({"skus": first, "nextPageToken": "next"}));
        }
        if malformed {
            return ok(json!({"skus": {"not": "a list"}}));
        }
        let rest: Vec<Value> = SKUS[5..]
            .iter()
            .enumerate()
            .map(|(i, s)| sku_json(i + 5, *s))
            .collect();
        return ok(json!({"skus": rest}));
    }
    (404, vec![], format!("the replay does not know {line}"))
}

const INVENTORY: &str = "ts,provider,account_id,region_id,resource_id,resource_type,instance_type,state,attached_to,lifecycle,group,launched_at,tags,platform,tenancy,volume_type,size_gib,iops,boot,attributes
2026-12-01T06:00:00Z,Google Cloud,proj-second,us-central1,web-1,instance,e2-standard-4,running,,on_demand,,2026-08-01T09:00:00Z,{},,,,,,,{}
2026-12-01T06:00:00Z,Google Cloud,proj-second,us-central1,db-1,instance,n2-standard-4,running,,on_demand,,2026-08-01T09:00:00Z,{},,,,,,,{}
2026-12-01T06:00:00Z,AWS,111122223333,us-east-1,i-1,instance,m5.large,running,,on_demand,,2026-08-01T09:00:00Z,{},linux,default,,,,,{}
";

fn workspace(url: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write("inventory.csv", INVENTORY);
    ws.write(
        "config.toml",
        &format!(
            "[store]\npath = \"store\"\n\n[collectors.inventory]\ntype = \"table_file\"\ndataset = \"inventory\"\npath = \"inventory.csv\"\n\n\
             [collectors.gprices]\ntype = \"gcp_pricing\"\nprojects = [\"proj-first\", \"proj-second\"]\nanonymous = true\n\
             endpoint_url = \"{url}\"\ncompute_endpoint_url = \"{url}\"\n"
        ),
    );
    ws.run(&["collect", "--source", "inventory"]).success();
    ws
}

#[test]
fn machine_prices_are_vcpus_times_core_plus_gib_times_ram() {
    let server = FaultProxy::start(0, Box::new(|r: &Request| Some(answer(r, false))));
    let ws = workspace(&server.url());
    let run = ws.run(&["collect", "--source", "gprices"]);
    run.success();
    let rows = duckdb_rows(&format!(
        "SELECT provider, region_id, instance_type, purchase_option, price_per_hour, currency \
         FROM read_parquet('{}/prices/**/*.parquet') ORDER BY ALL",
        ws.path("store").display()
    ));
    let got: BTreeMap<(String, String), f64> = rows
        .iter()
        .map(|r| {
            assert_eq!(r[0], "Google Cloud");
            assert_eq!(r[1], "us-central1", "only the inventory's regions");
            assert_eq!(r[5], "USD");
            (
                (
                    r[2].as_str().unwrap().to_string(),
                    r[3].as_str().unwrap().to_string(),
                ),
                r[4].as_str().unwrap().parse::<f64>().unwrap(),
            )
        })
        .collect();
    // The test's own prices from the same SKUs.
    let price = |description: &str| {
        let (_, _, _, units, nanos) = SKUS.iter().find(|s| s.0 == description).unwrap();
        units.parse::<f64>().unwrap() + *nanos as f64 / 1e9
    };
    let machine =
        |cpus: f64, gib: f64, core: &str, ram: &str| cpus * price(core) + gib * price(ram);
    let mut want: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (name, cpus, gib) in [("e2-standard-2", 2.0, 8.0), ("e2-standard-4", 4.0, 16.0)] {
        want.insert(
            (name.into(), "on_demand".into()),
            machine(
                cpus,
                gib,
                "E2 Instance Core running in Americas",
                "E2 Instance Ram running in Americas",
            ),
        );
        want.insert(
            (name.into(), "spot".into()),
            machine(
                cpus,
                gib,
                "Spot Preemptible E2 Instance Core running in Americas",
                "Spot Preemptible E2 Instance Ram running in Americas",
            ),
        );
    }
    for (name, cpus, gib) in [("n2-standard-4", 4.0, 16.0), ("n2-highmem-2", 2.0, 16.0)] {
        want.insert(
            (name.into(), "on_demand".into()),
            machine(
                cpus,
                gib,
                "N2 Instance Core running in Americas",
                "N2 Instance Ram running in Americas",
            ),
        );
        want.insert(
            (name.into(), "commit_1y".into()),
            machine(
                cpus,
                gib,
                "Commitment v1: N2 Cpu in Americas for 1 Year",
                "Commitment v1: N2 Ram in Americas for 1 Year",
            ),
        );
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, w) in &want {
        assert!((got[k] - w).abs() < 1e-12, "{k:?}: {} vs {w}", got[k]);
    }
    // The refused project, then the second; the 429 retried.
    assert!(server.count() >= 5, "{}", server.count());
}

#[test]
fn a_malformed_catalog_page_fails_the_run_and_stores_nothing() {
    let server = FaultProxy::start(0, Box::new(|r: &Request| Some(answer(r, true))));
    let ws = workspace(&server.url());
    let run = ws.run(&["collect", "--source", "gprices"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("services/6F81-5844-456A/skus: `skus` is not a list"),
        "{}",
        run.stderr
    );
    assert!(
        !ws.path("store/prices").exists(),
        "a failed run stores nothing"
    );
}
