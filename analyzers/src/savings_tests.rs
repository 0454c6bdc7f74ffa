//! The three savings analyzers over one small store: inventory, 14 days of
//! hourly utilization, prices and resource-level billing, with every
//! saving recomputed here from the same prices and costs.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use vitals_core::Dataset;
use vitals_core::cost_rows::{CostFrameBuilder, CostRow};
use vitals_core::evidence::{
    IdleReason, IdleResourceEvidence, RightsizingEvidence, SavingBasis, SizingVerdict,
    SpotCandidateEvidence,
};
use vitals_core::finding::Finding;
use vitals_core::period::DayRange;
use vitals_core::resource_rows::{InventoryRow, PriceRow, RowsBuilder, UtilizationRow};
use vitals_core::store::Store;
use vitals_core::summary::Summary;

use crate::analyzer::{AnalysisContext, Analyzer};
use crate::registry;

const FIRST: &str = "2024-09-16";
const DAYS: i64 = 14;

fn day(i: i64) -> NaiveDate {
    FIRST.parse::<NaiveDate>().unwrap() + Duration::days(i)
}

fn hour(h: i64) -> NaiveDateTime {
    day(0).and_hms_opt(0, 0, 0).unwrap() + Duration::hours(h)
}

fn instance(id: &str, ty: &str, group: Option<&str>, tags: &str) -> InventoryRow {
    InventoryRow {
        ts: day(DAYS - 1).and_hms_opt(6, 0, 0).unwrap(),
        provider: "AWS".into(),
        account_id: Some("111122223333".into()),
        region_id: Some("us-east-1".into()),
        resource_id: id.into(),
        resource_type: "instance".into(),
        instance_type: Some(ty.into()),
        state: Some("running".into()),
        lifecycle: Some("on_demand".into()),
        group: group.map(str::to_string),
        launched_at: Some(day(-20).and_hms_opt(0, 0, 0).unwrap()),
        tags: Some(tags.into()),
        platform: Some("linux".into()),
        tenancy: Some("default".into()),
        attributes: Some(r#"{"availability_zone":"us-east-1a"}"#.into()),
        ..Default::default()
    }
}

/// An hourly CPU series: the hour's maximum is `max(h)`, its mean half of it.
fn cpu(rows: &mut RowsBuilder<UtilizationRow>, id: &str, hours: i64, max: impl Fn(i64) -> f64) {
    for h in 0..hours {
        let m = max(h);
        rows.push(UtilizationRow {
            ts: hour(DAYS * 24 - hours + h),
            resource_id: id.into(),
            metric: "cpu_utilization".into(),
            avg: Some(m / 2.0),
            max: Some(m),
            samples: 12,
        });
    }
}

fn metric(rows: &mut RowsBuilder<UtilizationRow>, id: &str, name: &str, rate: f64) {
    for h in 0..DAYS * 24 {
        rows.push(UtilizationRow {
            ts: hour(h),
            resource_id: id.into(),
            metric: name.into(),
            avg: Some(rate),
            max: None,
            samples: 12,
        });
    }
}

/// The CPU maxima of `i-over`; numpy's `percentile(v, 99.5)` of them is
/// 14.94745 (computed with numpy 2 over the same expression).
fn over_cpu(h: i64) -> f64 {
    5.0 + ((h * 37) % 100) as f64 / 10.0 + (h % 7) as f64 * 0.013
}

/// numpy's default (`linear`) percentile, written out.
fn numpy_percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

const PRICES: [(&str, &str, Option<&str>, f64); 7] = [
    ("m5.large", "on_demand", None, 0.096),
    ("m5.xlarge", "on_demand", None, 0.192),
    ("m5.2xlarge", "on_demand", None, 0.384),
    ("m5.large", "spot", Some("us-east-1a"), 0.035),
    ("m5.large", "spot", Some("us-east-1b"), 0.041),
    ("m5.xlarge", "spot", Some("us-east-1a"), 0.07),
    ("m5.2xlarge", "spot", Some("us-east-1a"), 0.15),
];

/// `i-idle`'s effective cost per day (resource-level billing).
const IDLE_DAILY: f64 = 2.304;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let mut inv = RowsBuilder::<InventoryRow>::new();
    inv.push(instance(
        "i-idle",
        "m5.large",
        None,
        r#"{"service":"legacy","team":"it-ops"}"#,
    ));
    inv.push(instance("i-busy", "m5.large", None, "{}"));
    inv.push(instance(
        "i-over",
        "m5.2xlarge",
        None,
        r#"{"owner":"platform"}"#,
    ));
    inv.push(instance("i-under", "m5.large", None, "{}"));
    inv.push(instance("i-short", "m5.xlarge", None, "{}"));
    inv.push(instance(
        "i-batch",
        "m5.xlarge",
        None,
        r#"{"workload":"batch","owner":"data"}"#,
    ));
    inv.push(instance("i-web1", "m5.large", Some("web"), "{}"));
    inv.push(instance("i-web2", "m5.large", Some("web"), "{}"));
    let mut young = instance("i-young", "m5.large", Some("web"), "{}");
    young.launched_at = Some(day(DAYS - 3).and_hms_opt(0, 0, 0).unwrap());
    inv.push(young);
    // A type the catalog does not know: listed, never judged.
    inv.push(instance("i-exotic", "zz9.large", None, "{}"));
    let base = instance("x", "x", None, "{}");
    let volume = |id: &str, attached: Option<&str>, boot: bool| InventoryRow {
        resource_id: id.into(),
        resource_type: "volume".into(),
        instance_type: None,
        state: Some(
            if attached.is_some() {
                "in-use"
            } else {
                "available"
            }
            .into(),
        ),
        attached_to: attached.map(str::to_string),
        lifecycle: None,
        volume_type: Some("gp3".into()),
        size_gib: Some(100.0),
        iops: Some(3000.0),
        boot: Some(boot),
        launched_at: Some(day(-30).and_hms_opt(0, 0, 0).unwrap()),
        attributes: None,
        ..base.clone()
    };
    inv.push(volume("vol-free", None, false));
    inv.push(volume("vol-boot", Some("i-busy"), true));
    let mut fresh = volume("vol-fresh", None, false);
    fresh.launched_at = Some(day(DAYS - 2).and_hms_opt(0, 0, 0).unwrap());
    inv.push(fresh);
    let address = |id: &str, attached: Option<&str>| InventoryRow {
        resource_id: id.into(),
        resource_type: "address".into(),
        instance_type: None,
        attached_to: attached.map(str::to_string),
        state: None,
        lifecycle: None,
        attributes: None,
        ..base.clone()
    };
    inv.push(address("eipalloc-free", None));
    inv.push(address("eipalloc-used", Some("i-busy")));
    let lb = |id: &str, healthy: u32| InventoryRow {
        resource_id: id.into(),
        resource_type: "load_balancer".into(),
        instance_type: None,
        state: Some("active".into()),
        lifecycle: None,
        attributes: Some(format!(
            r#"{{"type":"application","target_groups":[{{"name":"tg","targets":2,"healthy":{healthy}}}]}}"#
        )),
        ..base.clone()
    };
    inv.push(lb("lb-dead", 0));
    inv.push(lb("lb-busy", 2));
    let inventory = inv.finish("inv").unwrap();
    store
        .replace_days(
            Dataset::Inventory,
            "inv",
            inventory,
            &BTreeSet::from([day(DAYS - 1)]),
        )
        .unwrap();

    let mut u = RowsBuilder::<UtilizationRow>::new();
    let all = DAYS * 24;
    cpu(&mut u, "i-idle", all, |_| 4.0);
    cpu(&mut u, "i-busy", all, |h| 40.0 + (h % 24) as f64);
    cpu(&mut u, "i-over", all, over_cpu);
    cpu(&mut u, "i-under", all, |h| 95.0 + (h % 5) as f64);
    cpu(&mut u, "i-short", 29, |_| 3.0);
    for id in ["i-batch", "i-web1", "i-web2", "i-young"] {
        cpu(&mut u, id, all, |h| 50.0 + (h % 30) as f64);
    }
    // Memory for `i-over`: 10 % at most, so memory may shrink too.
    metric(&mut u, "i-over", "memory_utilization", 10.0);
    metric(&mut u, "i-idle", "network_in_bytes", 20.0);
    metric(&mut u, "i-idle", "network_out_bytes", 20.0);
    for id in [
        "i-busy", "i-over", "i-under", "i-batch", "i-web1", "i-web2", "i-young",
    ] {
        metric(&mut u, id, "network_in_bytes", 50_000.0);
    }
    metric(&mut u, "lb-busy", "request_count", 3.0);
    let days: BTreeSet<NaiveDate> = (0..DAYS).map(day).collect();
    store
        .replace_days(Dataset::Utilization, "cw", u.finish("cw").unwrap(), &days)
        .unwrap();

    let mut p = RowsBuilder::<PriceRow>::new();
    for (ty, option, zone, price) in PRICES {
        p.push(PriceRow {
            ts: day(DAYS - 1).and_hms_opt(5, 0, 0).unwrap(),
            provider: "AWS".into(),
            region_id: "us-east-1".into(),
            availability_zone: zone.map(str::to_string),
            instance_type: ty.into(),
            purchase_option: option.into(),
            operating_system: "linux".into(),
            price_per_hour: price,
            currency: "USD".into(),
            price_source: "pricing:GetProducts".into(),
        });
    }
    store
        .replace_days(
            Dataset::Prices,
            "prices",
            p.finish("prices").unwrap(),
            &BTreeSet::from([day(DAYS - 1)]),
        )
        .unwrap();

    // Resource-level billing for `i-idle` only (by its ARN, as AWS's FOCUS
    // export names it): every other saving comes from prices.
    let mut cost = CostFrameBuilder::new();
    for d in 0..DAYS {
        let start = day(d).and_hms_opt(0, 0, 0).unwrap();
        cost.push(CostRow {
            charge_period_start: start,
            charge_period_end: start + Duration::days(1),
            provider: "AWS".into(),
            charge_category: "Usage".into(),
            resource_id: Some("arn:aws:ec2:us-east-1:111122223333:instance/i-idle".into()),
            billed_cost: IDLE_DAILY,
            effective_cost: IDLE_DAILY,
            billing_currency: "USD".into(),
            ..Default::default()
        });
    }
    store
        .replace_days(Dataset::Cost, "focus", cost.finish("focus").unwrap(), &days)
        .unwrap();
    (dir, store)
}

fn run(ty: &str, store: &Store) -> (Vec<Finding>, Vec<Summary>) {
    run_owned_by(ty, store, vitals_core::finding::DEFAULT_OWNER_TAG)
}

fn run_owned_by(ty: &str, store: &Store, owner_tag: &str) -> (Vec<Finding>, Vec<Summary>) {
    let cfg = vitals_core::config::ComponentConfig::from_toml(
        vitals_core::config::ComponentKind::Analyzer,
        ty,
        &format!("type = \"{ty}\""),
    )
    .unwrap();
    let analyzer: Box<dyn Analyzer> = registry::build(&cfg).unwrap();
    let period = DayRange::new(day(DAYS - 7), day(DAYS - 1)).unwrap();
    let now: DateTime<Utc> = day(DAYS + 1).and_hms_opt(8, 0, 0).unwrap().and_utc();
    let out = analyzer
        .analyze(&AnalysisContext::new(store, period, now).with_owner_tag(owner_tag))
        .unwrap();
    (out.findings, out.summaries)
}

/// Each savings finding's (resource, owner), sorted.
fn owners(findings: &[Finding]) -> Vec<(String, Option<String>)> {
    let mut got: Vec<_> = findings
        .iter()
        .map(|f| (f.resource_id.clone().unwrap(), f.owner.clone()))
        .collect();
    got.sort();
    got
}

#[test]
fn findings_carry_the_owner_tag_of_their_resource() {
    let (_dir, store) = store();
    let own = |id: &str, owner: Option<&str>| (id.to_string(), owner.map(String::from));
    // A tag other than the default names owners where configured.
    let (idle, _) = run_owned_by("idle_resource", &store, "team");
    assert_eq!(
        owners(&idle),
        vec![
            own("eipalloc-free", None),
            own("i-idle", Some("it-ops")),
            own("lb-dead", None),
            own("vol-free", None),
        ]
    );
    let (idle, _) = run("idle_resource", &store);
    assert!(idle.iter().all(|f| f.owner.is_none()), "{idle:?}");
    let (sized, _) = run("rightsizing", &store);
    let over = owners(&sized);
    assert!(over.contains(&own("i-over", Some("platform"))), "{over:?}");
    assert!(over.contains(&own("i-under", None)), "{over:?}");
    let (spot, _) = run("spot_candidate", &store);
    let spot = owners(&spot);
    assert!(spot.contains(&own("i-batch", Some("data"))), "{spot:?}");
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn coverage(summaries: &[Summary]) -> &vitals_core::summary::SavingsCoverage {
    match &summaries[0] {
        Summary::Savings(c) => c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn idle_resources_are_found_with_their_savings() {
    let (_dir, store) = store();
    let (findings, summaries) = run("idle_resource", &store);
    let mut got: Vec<(String, IdleReason, f64)> = findings
        .iter()
        .map(|f| {
            let e = f.evidence_as::<IdleResourceEvidence>().unwrap();
            assert_eq!(Some(e.saving.monthly), f.monthly_savings);
            (f.resource_id.clone().unwrap(), e.reason, e.saving.monthly)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want = vec![
        (
            "eipalloc-free".to_string(),
            IdleReason::Unassociated,
            cents(0.005 * 730.0),
        ),
        (
            "i-idle".to_string(),
            IdleReason::LowUtilization,
            cents(IDLE_DAILY * 730.0 / 24.0),
        ),
        (
            "lb-dead".to_string(),
            IdleReason::NoHealthyTargets,
            cents(0.0225 * 730.0),
        ),
        (
            "vol-free".to_string(),
            IdleReason::Unattached,
            cents(100.0 * 0.08),
        ),
    ];
    assert_eq!(got, want);
    let idle = findings
        .iter()
        .find(|f| f.resource_id.as_deref() == Some("i-idle"))
        .unwrap()
        .evidence_as::<IdleResourceEvidence>()
        .unwrap();
    assert_eq!(idle.saving.basis, SavingBasis::BilledCost);
    assert_eq!(idle.saving.billed_days, Some(14));
    assert_eq!((idle.days_with_data, idle.days_low), (14, 14));
    // 40 B/s in + out: 3.456 MB a day.
    assert!((idle.days[0].network_bytes.unwrap() - 3_456_000.0).abs() < 1e-6);
    // `i-short` has two days of data: too little, listed, not idle.
    assert!(
        coverage(&summaries)
            .insufficient_data
            .contains(&"i-short".to_string())
    );
}

#[test]
fn rightsizing_follows_compute_optimizer_and_prices() {
    let (_dir, store) = store();
    let (findings, summaries) = run("rightsizing", &store);
    let by_id = |id: &str| {
        findings
            .iter()
            .find(|f| f.resource_id.as_deref() == Some(id))
            .map(|f| (f, f.evidence_as::<RightsizingEvidence>().unwrap()))
    };
    let (f, over) = by_id("i-over").unwrap();
    assert_eq!(over.verdict, SizingVerdict::OverProvisioned);
    // P99.5 of the hourly maxima equals numpy's linear percentile.
    let maxima: Vec<f64> = (0..DAYS * 24).map(over_cpu).collect();
    assert!((over.cpu_percentile_percent - numpy_percentile(&maxima, 99.5)).abs() < 1e-9);
    assert!((over.cpu_percentile_percent - 14.94745).abs() < 1e-9);
    assert_eq!(over.hours, 336);
    // 8 vCPU × 14.95 % × 1.2 = 1.43 vCPU; 32 GiB × 10 % × 1.2 = 3.84 GiB.
    assert_eq!(over.proposed_type, "m5.large");
    assert!(over.memory_considered);
    assert_eq!(over.saving.basis, SavingBasis::Price);
    assert_eq!(f.monthly_savings, Some(cents((0.384 - 0.096) * 730.0)));

    let (f, under) = by_id("i-under").unwrap();
    assert_eq!(under.verdict, SizingVerdict::UnderProvisioned);
    assert_eq!(under.proposed_type, "m5.xlarge");
    assert!(!under.memory_considered);
    assert_eq!(f.monthly_savings, None, "a cost increase is not a saving");
    assert_eq!(under.saving.monthly, cents(-(0.192 - 0.096) * 730.0));

    // The web group (three m5.large, two old enough for spot) is one
    // subject; busy at 50-79 %, it is optimized like `i-busy`.
    for optimized in ["i-busy", "web", "i-batch", "i-idle"] {
        assert!(by_id(optimized).is_none(), "{optimized}");
    }
    assert_eq!(findings.len(), 2, "{findings:#?}");
    // 29 hours: insufficient.
    assert_eq!(coverage(&summaries).insufficient_data, ["i-short"]);
    assert_eq!(coverage(&summaries).unknown_types, ["zz9.large"]);
}

#[test]
fn spot_candidates_are_grouped_or_tagged_and_old_enough() {
    let (_dir, store) = store();
    let (findings, _) = run("spot_candidate", &store);
    let mut got: Vec<(String, String, f64)> = findings
        .iter()
        .map(|f| {
            let e = f.evidence_as::<SpotCandidateEvidence>().unwrap();
            (
                f.resource_id.clone().unwrap(),
                e.reason,
                f.monthly_savings.unwrap(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let m5 = cents((0.096 - 0.035) * 730.0);
    assert_eq!(
        got,
        vec![
            (
                "i-batch".into(),
                "tagged".into(),
                cents((0.192 - 0.07) * 730.0)
            ),
            ("i-web1".into(), "auto_scaling_group".into(), m5),
            ("i-web2".into(), "auto_scaling_group".into(), m5),
        ]
    );
    let e = findings[0].evidence_as::<SpotCandidateEvidence>().unwrap();
    assert_eq!(e.availability_zone.as_deref(), Some("us-east-1a"));
}

#[test]
fn totals_count_each_resource_once() {
    let (_dir, store) = store();
    let mut all = Vec::new();
    for ty in ["idle_resource", "rightsizing", "spot_candidate"] {
        all.extend(run(ty, &store).0);
    }
    let total: f64 = vitals_core::savings::counted_savings(&all)
        .iter()
        .map(|f| f.monthly_savings.unwrap())
        .sum();
    let want = cents(0.005 * 730.0)
        + cents(IDLE_DAILY * 730.0 / 24.0)
        + cents(0.0225 * 730.0)
        + cents(100.0 * 0.08)
        + cents((0.384 - 0.096) * 730.0)
        + cents((0.192 - 0.07) * 730.0)
        + 2.0 * cents((0.096 - 0.035) * 730.0);
    assert!((total - want).abs() < 1e-9, "{total} vs {want}");
}

/// The fleet plans answer the same whatever their pass size: with passes of
/// two resources (an Auto Scaling group of three then spans what would be
/// two passes, and is kept in one) the daily means and the pooled P99.5
/// equal this test's own computation over the raw hourly rows, and the
/// scratch file is gone afterwards.
#[test]
fn fleet_plans_answer_the_same_in_small_passes() {
    use std::collections::{BTreeMap, HashMap};

    use crate::fleet::{daily_utilization_by, hourly_percentile_by};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let ids: Vec<String> = (0..7).map(|r| format!("i-{r}")).collect();
    let mut u = RowsBuilder::<UtilizationRow>::new();
    /// An hour's (hour, avg, max).
    type Hour = (i64, f64, Option<f64>);
    let mut raw: BTreeMap<(String, &str), Vec<Hour>> = BTreeMap::new();
    for (r, id) in ids.iter().enumerate() {
        let r = r as i64;
        for h in 0..DAYS * 24 {
            if (h + r) % 11 == 0 {
                continue; // gaps: hours without a datapoint
            }
            let max = ((h * (r + 3) * 37) % 1000) as f64 / 10.0;
            for (metric, avg, max) in [
                ("cpu_utilization", max / 2.0, Some(max)),
                ("network_in_bytes", (h % 5 + r) as f64 * 100.0, None),
            ] {
                u.push(UtilizationRow {
                    ts: hour(h),
                    resource_id: id.clone(),
                    metric: metric.into(),
                    avg: Some(avg),
                    max,
                    samples: 12,
                });
                raw.entry((id.clone(), metric))
                    .or_default()
                    .push((h, avg, max));
            }
        }
    }
    let days: BTreeSet<NaiveDate> = (0..DAYS).map(day).collect();
    store
        .replace_days(Dataset::Utilization, "cw", u.finish("cw").unwrap(), &days)
        .unwrap();
    let range = DayRange::new(day(0), day(DAYS - 1)).unwrap();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let metrics = ["cpu_utilization", "network_in_bytes"];

    let daily = daily_utilization_by(&store, range, &metrics, &id_refs, "t", 2).unwrap();
    let mut want_days = 0;
    for ((id, metric), hours) in &raw {
        let mut by_day: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for (h, avg, _) in hours {
            by_day.entry(h / 24).or_default().push(*avg);
        }
        let got = &daily[&(id.clone(), metric.to_string())];
        assert_eq!(got.len(), by_day.len(), "{id} {metric}");
        for (g, (d, values)) in got.iter().zip(&by_day) {
            assert_eq!(g.day, day(*d));
            assert_eq!(g.hours as usize, values.len());
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            assert!((g.mean - mean).abs() < 1e-9, "{id} {metric} {d}");
            want_days += 1;
        }
    }
    assert_eq!(daily.values().map(Vec::len).sum::<usize>(), want_days);

    // i-0, i-1 and i-2 are one group; the others are their own subjects.
    let subject_of: BTreeMap<String, String> = ids
        .iter()
        .enumerate()
        .map(|(r, id)| {
            let s = if r < 3 { "asg".to_string() } else { id.clone() };
            (id.clone(), s)
        })
        .collect();
    let p =
        hourly_percentile_by(&store, range, "cpu_utilization", 0.995, &subject_of, "t", 2).unwrap();
    let mut pooled: HashMap<&str, Vec<f64>> = HashMap::new();
    for ((id, metric), hours) in &raw {
        if *metric == "cpu_utilization" {
            pooled
                .entry(subject_of[id].as_str())
                .or_default()
                .extend(hours.iter().map(|(_, _, max)| max.unwrap()));
        }
    }
    assert_eq!(p.len(), 5);
    for (subject, values) in &pooled {
        let got = p[*subject];
        assert_eq!(got.hours as usize, values.len(), "{subject}");
        assert!(
            (got.value - numpy_percentile(values, 99.5)).abs() < 1e-9,
            "{subject}: {} vs {}",
            got.value,
            numpy_percentile(values, 99.5)
        );
    }
    let left: Vec<_> = std::fs::read_dir(store.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".scratch"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A GCP VM as `gcp_compute_inventory` stores it.
fn gce(id: &str, ty: &str, attributes: &str) -> InventoryRow {
    InventoryRow {
        provider: "Google Cloud".into(),
        account_id: Some("proj-alpha".into()),
        region_id: Some("us-central1".into()),
        attributes: Some(attributes.into()),
        ..instance(id, ty, None, "{}")
    }
}

/// An hourly series of `metric` for `id`: `value(h)` in hour `h` of the
/// last `hours`.
fn hourly(
    rows: &mut RowsBuilder<UtilizationRow>,
    id: &str,
    metric: &str,
    hours: i64,
    value: impl Fn(i64) -> f64,
) {
    for h in 0..hours {
        rows.push(UtilizationRow {
            ts: hour(DAYS * 24 - hours + h),
            resource_id: id.into(),
            metric: metric.into(),
            avg: Some(value(h)),
            max: None,
            samples: 1,
        });
    }
}

#[test]
fn gcp_vms_follow_the_idle_vm_recommender() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let mut inv = RowsBuilder::<InventoryRow>::new();
    for (id, ty) in [
        ("gce-idle", "e2-standard-4"),
        ("gce-edge", "e2-standard-4"),
        ("gce-net", "e2-standard-4"),
        ("gce-new", "e2-standard-4"),
        ("gce-gpu", "a2-highgpu-1g"),
    ] {
        inv.push(gce(id, ty, "{}"));
    }
    inv.push(gce("gce-custom", "custom-2-4096", r#"{"custom_vcpus":2}"#));
    for (id, state, user) in [
        ("spare-ip", "reserved", None),
        ("lb-ip", "in_use", Some("fr-web")),
    ] {
        inv.push(InventoryRow {
            resource_type: "address".into(),
            instance_type: None,
            state: Some(state.into()),
            attached_to: user.map(str::to_string),
            ..gce(id, "", "{}")
        });
    }
    store
        .replace_days(
            Dataset::Inventory,
            "gce",
            inv.finish("gce").unwrap(),
            &BTreeSet::from([day(DAYS - 1)]),
        )
        .unwrap();
    let all = DAYS * 24;
    let mut u = RowsBuilder::<UtilizationRow>::new();
    // 4 vCPUs: 0.03 vCPU is 0.75 %. 0.5 % is 0.02 vCPU: idle.
    hourly(&mut u, "gce-idle", "cpu_utilization", all, |_| 0.5);
    // Below in 95 % of the hours: the rule wants 97 %.
    hourly(&mut u, "gce-edge", "cpu_utilization", all, |h| {
        if h % 20 == 0 { 20.0 } else { 0.5 }
    });
    hourly(&mut u, "gce-net", "cpu_utilization", all, |_| 0.5);
    hourly(&mut u, "gce-new", "cpu_utilization", 3 * 24, |_| 0.5);
    hourly(&mut u, "gce-gpu", "cpu_utilization", all, |_| 0.5);
    // 2 vCPUs: 1 % is 0.02 vCPU.
    hourly(&mut u, "gce-custom", "cpu_utilization", all, |_| 1.0);
    for id in ["gce-idle", "gce-edge", "gce-new", "gce-gpu", "gce-custom"] {
        hourly(&mut u, id, "network_in_bytes", all, |_| 1500.0);
        hourly(&mut u, id, "network_out_bytes", all, |_| 900.0);
    }
    hourly(&mut u, "gce-net", "network_in_bytes", all, |_| 5000.0);
    hourly(&mut u, "gce-net", "network_out_bytes", all, |_| 900.0);
    let days: BTreeSet<NaiveDate> = (0..DAYS).map(day).collect();
    store
        .replace_days(
            Dataset::Utilization,
            "gmon",
            u.finish("gmon").unwrap(),
            &days,
        )
        .unwrap();
    // The billing export's resource-level rows name a VM by its name.
    let mut cost = CostFrameBuilder::new();
    for d in 0..DAYS {
        let start = day(d).and_hms_opt(0, 0, 0).unwrap();
        cost.push(CostRow {
            charge_period_start: start,
            charge_period_end: start + Duration::days(1),
            provider: "Google Cloud".into(),
            charge_category: "Usage".into(),
            resource_id: Some("gce-idle".into()),
            billed_cost: 3.25,
            effective_cost: 3.25,
            billing_currency: "USD".into(),
            ..Default::default()
        });
    }
    store
        .replace_days(Dataset::Cost, "gcp", cost.finish("gcp").unwrap(), &days)
        .unwrap();

    let (findings, summaries) = run("idle_resource", &store);
    let idle: Vec<(&str, f64)> = findings
        .iter()
        .map(|f| {
            (
                f.resource_id.as_deref().unwrap(),
                f.monthly_savings.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        idle,
        [
            ("gce-idle", cents(3.25 * 730.0 / 24.0)),
            // Reserved and used by nothing; in use by a forwarding rule is not idle.
            ("spare-ip", cents(0.005 * 730.0)),
        ]
    );
    let e = findings[0].evidence_as::<IdleResourceEvidence>().unwrap();
    assert_eq!(e.reason, IdleReason::LowUtilization);
    assert!(e.rule.starts_with("GCP's idle-VM rule"), "{}", e.rule);
    assert_eq!((e.days_with_data, e.days_low), (14, 14));
    let c = coverage(&summaries);
    assert_eq!(c.insufficient_data, ["gce-new"]);
    assert_eq!(c.unknown_types, ["a2-highgpu-1g"]);
    // Idle by the rule but without billed cost or a price: not a finding
    // without a saving, and said so.
    assert_eq!(c.unpriced, ["gce-custom"]);
}
