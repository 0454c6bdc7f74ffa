//! Savings on AWS end to end: `aws_inventory` and `aws_cloudwatch` through
//! the real SDK crates against moto (EC2, Auto Scaling, ELBv2, CloudWatch;
//! PEERS.md), `aws_pricing` against a local server replaying the documented
//! shapes (moto serves no Price List API and fakes spot prices), and the
//! three savings analyzers. The expected findings and every saving are
//! computed here from the fleet the fixture built and the same prices.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Workspace, duckdb_rows, repo};
use crate::peers::{Fault, FaultProxy, Moto, Request, venv_bin};

/// On-demand Linux prices the replayed `GetProducts` answers with (AWS's
/// public list prices).
const ON_DEMAND: [(&str, &str, f64); 10] = [
    ("us-east-1", "m5.large", 0.096),
    ("us-east-1", "m5.xlarge", 0.192),
    ("us-east-1", "m5.2xlarge", 0.384),
    ("us-east-1", "c5.large", 0.085),
    ("us-east-1", "c5.xlarge", 0.17),
    ("us-east-1", "r5.xlarge", 0.252),
    ("us-east-1", "t3.medium", 0.0416),
    ("eu-west-1", "m5.large", 0.107),
    ("eu-west-1", "m5.xlarge", 0.214),
    ("eu-west-1", "m5.4xlarge", 0.856),
];

/// Spot prices the replayed `DescribeSpotPriceHistory` answers with.
const SPOT: [(&str, &str, &str, f64); 5] = [
    ("us-east-1", "us-east-1a", "m5.large", 0.035),
    ("us-east-1", "us-east-1b", "m5.large", 0.038),
    ("us-east-1", "us-east-1a", "r5.xlarge", 0.065),
    ("us-east-1", "us-east-1a", "c5.xlarge", 0.061),
    ("eu-west-1", "eu-west-1a", "m5.large", 0.04),
];

/// The load-balancer hour this test configures (not the default).
const LB_HOUR: f64 = 0.0252;

fn od(region: &str, ty: &str) -> f64 {
    ON_DEMAND
        .iter()
        .find(|(r, t, _)| *r == region && *t == ty)
        .map(|p| p.2)
        .unwrap_or_else(|| panic!("no price for {ty} in {region}"))
}

fn spot(region: &str, zone: &str, ty: &str) -> f64 {
    SPOT.iter()
        .find(|(r, z, t, _)| *r == region && *z == zone && *t == ty)
        .map(|p| p.3)
        .unwrap()
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// One `GetProducts` `PriceList` element, in the shape of the AWS Price
/// List Query API reference (`GetProducts`, Response Syntax: each element a
/// JSON string of `product`, `serviceCode`, `terms.OnDemand.*.priceDimensions`,
/// `version`, `publicationDate`), as the bulk offer files hold it too.
fn product(region: &str, ty: &str, price: f64, broken: bool) -> String {
    let price_per_unit = if broken {
        serde_json::json!({})
    } else {
        serde_json::json!({ "USD": format!("{price:.10}") })
    };
    serde_json::json!({
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": ty, "regionCode": region, "operatingSystem": "Linux",
                "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
                "licenseModel": "No License required", "usagetype": format!("BoxUsage:{ty}"),
            },
            "sku": format!("SKU{ty}{region}"),
        },
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {format!("SKU{ty}.JRTCKXETXF"): {
            "priceDimensions": {format!("SKU{ty}.JRTCKXETXF.6YS6EN2CT7"): {
                "unit": "Hrs", "pricePerUnit": price_per_unit, "beginRange": "0", "endRange": "Inf",
                "description": format!("On Demand Linux {ty} Instance Hour"),
            }},
            "sku": format!("SKU{ty}{region}"), "effectiveDate": "2024-09-01T00:00:00Z",
            "offerTermCode": "JRTCKXETXF", "termAttributes": {},
        }}},
        "version": "20240925183222",
        "publicationDate": "2024-09-25T18:32:22Z",
    })
    .to_string()
}

/// The values of the form fields named `prefix...` (`InstanceType.1=...`).
fn form_values(body: &str, prefix: &str) -> Vec<String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v.replace("%2E", ".").replace("%2F", "/"))
        .collect()
}

/// The signing region of a SigV4 request (`Credential=KEY/DATE/REGION/...`).
fn signing_region(head: &str) -> String {
    head.split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or_default()
        .to_string()
}

/// Answers `GetProducts` (JSON 1.1, two products a page, following
/// `NextToken`) and `DescribeSpotPriceHistory` (EC2's query protocol, the
/// XML of the EC2 API reference's example response).
fn price_answer(r: &Request, broken: bool) -> Option<Fault> {
    if r.head.contains("AWSPriceListService.GetProducts") {
        let body: Value = serde_json::from_str(&r.body).ok()?;
        let filter = |field: &str| {
            body["Filters"]
                .as_array()?
                .iter()
                .find(|f| f["Field"] == field)
                .and_then(|f| f["Value"].as_str())
                .map(str::to_string)
        };
        let region = filter("regionCode")?;
        let types: Vec<String> = filter("instanceType")?
            .split(',')
            .map(str::to_string)
            .collect();
        let all: Vec<String> = ON_DEMAND
            .iter()
            .filter(|(r, t, _)| *r == region && types.iter().any(|x| x == t))
            .map(|(r, t, p)| product(r, t, *p, broken))
            .collect();
        let page: usize = body["NextToken"]
            .as_str()
            .and_then(|t| t.strip_prefix("page-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let items: Vec<&String> = all.iter().skip(page * 2).take(2).collect();
        let mut answer = serde_json::json!({"FormatVersion": "aws_v1", "PriceList": items});
        if all.len() > (page + 1) * 2 {
            answer["NextToken"] = Value::String(format!("page-{}", page + 1));
        }
        return Some((
            200,
            vec![("Content-Type", "application/x-amz-json-1.1")],
            answer.to_string(),
        ));
    }
    if r.body.contains("Action=DescribeSpotPriceHistory") {
        let region = signing_region(&r.head);
        let types = form_values(&r.body, "InstanceType.");
        let items: String = SPOT
            .iter()
            .filter(|(reg, _, t, _)| *reg == region && types.iter().any(|x| x == t))
            .map(|(_, zone, t, p)| {
                format!(
                    "<item><instanceType>{t}</instanceType><productDescription>Linux/UNIX</productDescription>\
                     <spotPrice>{p:.6}</spotPrice><timestamp>2026-12-01T23:51:02.000Z</timestamp>\
                     <availabilityZone>{zone}</availabilityZone></item>"
                )
            })
            .collect();
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSpotPriceHistoryResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId><spotPriceHistorySet>{items}</spotPriceHistorySet>\
             <nextToken/></DescribeSpotPriceHistoryResponse>"
        );
        return Some((200, vec![("Content-Type", "text/xml;charset=UTF-8")], xml));
    }
    Some((
        400,
        vec![],
        format!("the price replay does not know {}", r.line),
    ))
}

/// Builds the fleet in moto (tests/fixtures/moto_fleet.py, boto3).
fn build_fleet(moto: &Moto) -> Value {
    let out = Command::new(venv_bin("python"))
        .arg(repo().join("tests/fixtures/moto_fleet.py"))
        .arg(moto.url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moto_fleet.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn config(moto: &str, prices: &str) -> String {
    format!(
        r#"
[store]
path = "store"

[collectors.inventory]
type = "aws_inventory"
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "{moto}"

[collectors.metrics]
type = "aws_cloudwatch"
endpoint_url = "{moto}"

[collectors.prices]
type = "aws_pricing"
endpoint_url = "{prices}"

# moto creates every instance and volume now: the age rules (spot after 7
# days, volumes unattached for 7) are pinned by the analyzers' unit tests.
[analyzers.idle]
type = "idle_resource"
unattached_days = 0
load_balancer_price = {{ per_hour = {LB_HOUR} }}

[analyzers.rightsizing]
type = "rightsizing"

[analyzers.spot]
type = "spot_candidate"
min_running_days = 0
"#
    )
}

/// (kind, resource id, monthly saving or none)
type Expected = (String, String, Option<f64>);

/// What the analyzers must find, computed from the fleet and the prices.
fn expected(fleet: &Value) -> Vec<Expected> {
    let us = &fleet["regions"]["us-east-1"];
    let eu = &fleet["regions"]["eu-west-1"];
    let id = |r: &Value, role: &str| r["instances"][role]["id"].as_str().unwrap().to_string();
    let month = |hourly: f64| cents(hourly * 730.0);
    let mut want: Vec<Expected> = Vec::new();
    let mut push = |kind: &str, resource: String, saving: Option<f64>| {
        want.push((kind.to_string(), resource, saving))
    };
    push(
        "idle_resource",
        id(us, "idle-t3"),
        Some(month(od("us-east-1", "t3.medium"))),
    );
    push(
        "idle_resource",
        id(us, "idle-m5"),
        Some(month(od("us-east-1", "m5.large"))),
    );
    push(
        "idle_resource",
        id(eu, "eu-idle"),
        Some(month(od("eu-west-1", "m5.large"))),
    );
    // The stopped instance's root volume (gp2 at 0.10 per GB-month).
    let stopped = id(us, "stopped");
    let root = &us["root_volumes"][&stopped];
    assert_eq!(root["type"], "gp2");
    push(
        "idle_resource",
        stopped,
        Some(cents(root["size"].as_f64().unwrap() * 0.10)),
    );
    for (role, per_gb) in [("free-gp3", 0.08), ("free-gp2", 0.10), ("quiet", 0.08)] {
        let v = &us["volumes"][role];
        push(
            "idle_resource",
            v["id"].as_str().unwrap().to_string(),
            Some(cents(v["size"].as_f64().unwrap() * per_gb)),
        );
    }
    push(
        "idle_resource",
        us["addresses"]["spare"].as_str().unwrap().to_string(),
        Some(month(0.005)),
    );
    push(
        "idle_resource",
        us["load_balancers"]["empty"].as_str().unwrap().to_string(),
        Some(month(LB_HOUR)),
    );
    push(
        "idle_resource",
        eu["load_balancers"]["legacy-quiet"]
            .as_str()
            .unwrap()
            .to_string(),
        Some(month(LB_HOUR)),
    );
    push(
        "rightsizing",
        id(us, "oversized"),
        Some(month(
            od("us-east-1", "m5.2xlarge") - od("us-east-1", "m5.large"),
        )),
    );
    push(
        "rightsizing",
        id(eu, "eu-oversized"),
        Some(month(
            od("eu-west-1", "m5.4xlarge") - od("eu-west-1", "m5.xlarge"),
        )),
    );
    push("rightsizing", id(us, "undersized"), None);
    let web_saving =
        month(od("us-east-1", "m5.large") - spot("us-east-1", "us-east-1a", "m5.large"));
    for n in 0..3 {
        push(
            "spot_candidate",
            id(us, &format!("web-{n}")),
            Some(web_saving),
        );
    }
    push(
        "spot_candidate",
        id(us, "batch"),
        Some(month(
            od("us-east-1", "r5.xlarge") - spot("us-east-1", "us-east-1a", "r5.xlarge"),
        )),
    );
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    want
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

fn week_ago() -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(6)).to_string()
}

#[test]
fn savings_on_a_moto_fleet_equal_the_tests_own_computation() {
    let moto = Moto::start();
    let fleet = build_fleet(&moto);
    let prices = FaultProxy::start(1, Box::new(|r| price_answer(r, false)));
    let ws = Workspace::new();
    ws.write("config.toml", &config(&moto.url(), &prices.url()));
    let run = ws.run_aws(&["collect"], true);
    run.success();
    for line in ["inventory: ", "metrics: ", "prices: "] {
        assert!(run.stdout.contains(line), "{line} missing:\n{run:#?}");
    }
    assert!(
        run.stderr
            .contains("had no datapoints (no data, not zero use)"),
        "{}",
        run.stderr
    );
    // The buckets, each with its region (GetBucketLocation), read back by
    // DuckDB from the store's Parquet.
    let buckets = duckdb_rows(&format!(
        "SELECT resource_id, region_id FROM read_parquet('{}/inventory/**/*.parquet') \
         WHERE resource_type = 'bucket' ORDER BY 1",
        ws.path("store").display()
    ));
    let buckets: Vec<(String, String)> = buckets
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        buckets,
        [
            ("acme-eu-west-1-logs".to_string(), "eu-west-1".to_string()),
            ("acme-us-east-1-logs".to_string(), "us-east-1".to_string()),
        ]
    );
    let analysis = ws.analyze(&week_ago(), &today());
    let findings = analysis["findings"].as_array().unwrap();
    let mut got: Vec<Expected> = findings
        .iter()
        .filter(|f| {
            ["idle_resource", "rightsizing", "spot_candidate"]
                .contains(&f["kind"].as_str().unwrap())
        })
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["resource_id"].as_str().unwrap().to_string(),
                f["monthly_savings"].as_f64(),
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let want = expected(&fleet);
    assert_eq!(
        got, want,
        "findings: no missing, no extra, every saving to the cent"
    );
    // The evidence says how: prices from the replayed APIs, the proposed type.
    let by_resource = |id: &str| {
        findings
            .iter()
            .find(|f| f["resource_id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let oversized = by_resource(
        fleet["regions"]["us-east-1"]["instances"]["oversized"]["id"]
            .as_str()
            .unwrap(),
    );
    let e = &oversized["evidence"];
    assert_eq!(e["proposed_type"], "m5.large");
    assert_eq!(e["memory_considered"], true);
    assert_eq!(e["saving"]["basis"], "price");
    assert!(
        e["saving"]["price_source"]
            .as_str()
            .unwrap()
            .starts_with("pricing:GetProducts"),
        "{e}"
    );
    // Hourly maxima were 8..10 % of 8 vCPUs: P99.5 = 10.
    assert!(
        (e["cpu_percentile_percent"].as_f64().unwrap() - 10.0).abs() < 1e-9,
        "{e}"
    );
    let undersized = by_resource(
        fleet["regions"]["us-east-1"]["instances"]["undersized"]["id"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(undersized["evidence"]["proposed_type"], "c5.xlarge");
    assert_eq!(
        undersized["evidence"]["saving"]["monthly"].as_f64(),
        Some(cents(
            -(od("us-east-1", "c5.xlarge") - od("us-east-1", "c5.large")) * 730.0
        ))
    );
    let web = by_resource(
        fleet["regions"]["us-east-1"]["instances"]["web-0"]["id"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(web["evidence"]["group"], "web-asg");
    // The quiet classic load balancer has a healthy instance: it is idle
    // by its requests (AWS/ELB RequestCount), 48 a day.
    let quiet = by_resource(
        fleet["regions"]["eu-west-1"]["load_balancers"]["legacy-quiet"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(quiet["evidence"]["reason"], "low_requests", "{quiet}");
    let days = quiet["evidence"]["days"].as_array().unwrap();
    assert!(
        days.iter()
            .all(|d| (d["requests"].as_f64().unwrap() - 48.0).abs() < 1e-6),
        "{quiet}"
    );
    assert_eq!(
        web["evidence"]["spot_price_source"],
        "ec2:DescribeSpotPriceHistory"
    );

    // A second collection reads only the days not yet complete (today),
    // and the findings stay the same.
    let rows = |r: &crate::harness::Run| -> usize {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with("metrics: "))
            .unwrap();
        line["metrics: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let again = ws.run_aws(&["collect", "--source", "metrics"], true);
    again.success();
    assert!(
        rows(&again) < rows(&run) / 7,
        "{} rows again, {} the first time",
        rows(&again),
        rows(&run)
    );
    let analysis = ws.analyze(&week_ago(), &today());
    let n = |a: &Value| {
        a["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["monthly_savings"].is_number() || f["kind"] == "rightsizing")
            .count()
    };
    assert_eq!(n(&analysis), want.len());
}

/// A tiny fleet (one instance per region) for the fault tests.
fn one_instance_per_region(moto: &Moto) {
    let script = r#"
import sys, boto3
for region in ["us-east-1", "eu-west-1"]:
    ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name=region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large")
"#;
    let out = Command::new(venv_bin("python"))
        .args(["-c", script, &moto.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ec2_error(status: u16, code: &'static str) -> Fault {
    (
        status,
        vec![("Content-Type", "text/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>\
             <Message>{code} (from the test)</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
        ),
    )
}

fn inventory_config(endpoint: &str) -> String {
    format!(
        "[store]\npath = \"store\"\n\n[collectors.inventory]\ntype = \"aws_inventory\"\nregions = [\"us-east-1\", \"eu-west-1\"]\nendpoint_url = \"{endpoint}\"\nbuckets = false\n"
    )
}

#[test]
fn a_throttled_page_is_retried_and_a_denied_region_is_skipped() {
    let moto = Moto::start();
    one_instance_per_region(&moto);
    // The first DescribeInstances is throttled (EC2's RequestLimitExceeded),
    // the SDK backs off and asks again.
    let throttled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&throttled);
    let proxy = FaultProxy::start(
        moto.port,
        Box::new(move |r| {
            (r.body.contains("Action=DescribeInstances")
                && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0)
                .then(|| ec2_error(503, "RequestLimitExceeded"))
        }),
    );
    let ws = Workspace::new();
    ws.write("config.toml", &inventory_config(&proxy.url()));
    let run = ws.run_aws(&["collect"], true);
    run.success();
    assert!(throttled.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    // Both regions: an instance and its root volume each.
    assert!(run.stdout.contains("inventory: 4 rows"), "{run:#?}");

    // eu-west-1 refuses EC2: reported, skipped, us-east-1 collected.
    let proxy = FaultProxy::start(
        moto.port,
        Box::new(|r| {
            (signing_region(&r.head) == "eu-west-1" && r.body.contains("Action=Describe"))
                .then(|| ec2_error(403, "UnauthorizedOperation"))
        }),
    );
    let ws = Workspace::new();
    ws.write("config.toml", &inventory_config(&proxy.url()));
    let run = ws.run_aws(&["collect"], true);
    run.success();
    assert!(run.stdout.contains("inventory: 2 rows"), "{run:#?}");
    assert!(
        run.stderr
            .contains("region eu-west-1: ec2:DescribeInstances access denied, region skipped"),
        "{}",
        run.stderr
    );
}

#[test]
fn partial_metric_data_and_a_price_without_its_field_store_nothing() {
    let moto = Moto::start();
    one_instance_per_region(&moto);
    // Metrics for the us-east-1 instance, then its results marked partial
    // with no next page.
    let script = r#"
import sys, datetime, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
cw = boto3.client("cloudwatch", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
iid = ec2.describe_instances()["Reservations"][0]["Instances"][0]["InstanceId"]
now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "CPUUtilization",
    "Dimensions": [{"Name": "InstanceId", "Value": iid}],
    "Timestamp": now - datetime.timedelta(hours=h), "Value": 5.0} for h in range(1, 30)])
"#;
    let out = Command::new(venv_bin("python"))
        .args(["-c", script, &moto.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ws = Workspace::new();
    ws.write("config.toml", &inventory_config(&moto.url()));
    ws.run_aws(&["collect"], true).success();
    let proxy = FaultProxy::rewriting(
        moto.port,
        Box::new(|_| None),
        Box::new(|r, body| {
            if r.body.contains("Action=GetMetricData") {
                body.replace(
                    "<StatusCode>Complete</StatusCode>",
                    "<StatusCode>PartialData</StatusCode>",
                )
            } else {
                body
            }
        }),
    );
    let prices = FaultProxy::start(1, Box::new(|r| price_answer(r, true)));
    ws.write(
        "config.toml",
        &format!(
            "{}\n[collectors.metrics]\ntype = \"aws_cloudwatch\"\nendpoint_url = \"{}\"\n\n[collectors.prices]\ntype = \"aws_pricing\"\nendpoint_url = \"{}\"\nspot = false\n",
            inventory_config(&moto.url()),
            proxy.url(),
            prices.url()
        ),
    );
    let run = ws.run_aws(&["collect", "--source", "metrics"], true);
    run.code(1);
    assert!(
        run.stderr.contains("still PartialData after the last page")
            && run.stderr.contains("CPUUtilization"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("metrics: failed, nothing stored"),
        "{run:#?}"
    );
    let run = ws.run_aws(&["collect", "--source", "prices"], true);
    run.code(1);
    assert!(
        run.stderr
            .contains("pricing:GetProducts page 1: `pricePerUnit.USD` is missing for m5.large"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("prices: failed, nothing stored"),
        "{run:#?}"
    );
    let stored: Vec<_> = ws
        .store_files()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("/utilization/") || s.contains("/prices/")
        })
        .collect();
    assert!(stored.is_empty(), "{stored:?}");
}
