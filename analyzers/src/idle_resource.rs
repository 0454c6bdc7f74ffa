//! `idle_resource`: resources that bill but do no work, by AWS Trusted
//! Advisor's rules (thresholds and day counts configurable):
//!
//! - **instances**: running, with daily mean CPU ≤ 10 % and network in +
//!   out ≤ 5 MB (10⁶ bytes) on at least 4 days of the last 14. A day counts
//!   when it has both CPU and network data; an instance with fewer such
//!   days than `low_days` has too little data and is never called idle
//!   (it is listed in the coverage summary instead). Daily network bytes
//!   are the day's mean rate × 86,400 s.
//! - **stopped instances** whose volumes still bill: stopped now and not
//!   seen running in the last `volume_days`; the saving is their volumes'.
//! - **volumes** (boot volumes excluded): unattached now, created at least
//!   `unattached_days` (7) ago and not seen attached in the lookback (the store's
//!   snapshots; with fewer, the creation time stands in); or attached with
//!   a daily mean of read + write operations below `volume_iops` per
//!   second on each of the last `volume_days` days (all of which need data).
//! - **Compute Engine VMs** (`provider` `Google Cloud`), by GCP's idle-VM
//!   recommender instead: over the last `lookback_days` (14) with at least
//!   `gcp_min_days` (5) days of data, CPU below `gcp_cpu_vcpus` (0.03) of a
//!   vCPU in at least `gcp_cpu_share` (97 %) of the hours, and received
//!   below `gcp_received_bytes_per_s` (2000) and sent below
//!   `gcp_sent_bytes_per_s` (1000) bytes per second in at least
//!   `gcp_network_share` (95 %) of them. The vCPUs come from the machine
//!   type (a custom type's from the inventory); a type whose vCPUs are not
//!   known is listed as not in the catalog.
//! - **Elastic IPs** (and reserved GCP addresses) not associated with a
//!   running instance.
//! - **load balancers** with no healthy targets, or fewer than
//!   `lb_requests_per_day` requests on each of the last `lb_days` days (all
//!   with data).
//!
//! The saving is the resource's whole monthly cost (fraction 1): its own
//! billed cost over the lookback where the store has resource-level
//! billing, else its on-demand price (instances, from `prices`) or the list
//! price in this analyzer's config (volumes per GB-month, addresses and
//! load balancers per hour) × 730 hours.

use std::collections::{BTreeMap, HashMap};

use chrono::Duration;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::{IdleDay, IdleReason, IdleResourceEvidence, Saving};
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::summary::{SavingsCoverage, Summary};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;
use crate::fleet::{
    self, BilledCost, DailyUse, HOURS_PER_MONTH, Inventory, ListPrice, PriceBook, Resource,
};

/// `[analyzers.NAME] type = "idle_resource"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdleConfig {
    /// Days looked back for instances. Default 14.
    #[serde(default = "default_lookback_days")]
    lookback_days: u32,
    /// Low days that make an instance idle. Default 4.
    #[serde(default = "default_low_days")]
    low_days: u32,
    /// A day is low at or below this mean CPU, percent. Default 10.
    #[serde(default = "default_cpu_percent")]
    cpu_percent: f64,
    /// ... and at or below this network in + out, MB (10⁶ bytes). Default 5.
    #[serde(default = "default_network_mb")]
    network_mb: f64,
    /// Days a volume must be quiet. Default 7.
    #[serde(default = "default_seven")]
    volume_days: u32,
    /// Days a volume must have been unattached. Default 7.
    #[serde(default = "default_seven")]
    unattached_days: u32,
    /// Quiet volumes: below this mean read + write operations per second,
    /// every day. Default 1.
    #[serde(default = "default_volume_iops")]
    volume_iops: f64,
    /// Days a load balancer must be quiet. Default 7.
    #[serde(default = "default_seven")]
    lb_days: u32,
    /// Quiet load balancers: fewer requests a day than this. Default 100.
    #[serde(default = "default_lb_requests")]
    lb_requests_per_day: f64,
    /// Volume list prices per GB-month by volume type, for volumes without
    /// billed cost (AWS us-east-1 list prices by default).
    #[serde(default = "default_volume_prices")]
    volume_gb_month: BTreeMap<String, f64>,
    /// Provisioned IOPS price per IOPS-month (io1, io2). Default 0.065.
    #[serde(default = "default_iops_month")]
    volume_iops_month: f64,
    /// An Elastic IP's hourly price. Default 0.005 USD (public IPv4).
    #[serde(default = "default_address_price")]
    address_price: ListPrice,
    /// A load balancer's hourly price. Default 0.0225 USD (ALB).
    #[serde(default = "default_lb_price")]
    load_balancer_price: ListPrice,
    /// GCP's idle-VM rule: CPU below this many vCPUs... Default 0.03.
    #[serde(default = "default_gcp_cpu_vcpus")]
    gcp_cpu_vcpus: f64,
    /// ... in at least this share of the hours. Default 0.97.
    #[serde(default = "default_gcp_cpu_share")]
    gcp_cpu_share: f64,
    /// Received bytes per second below this... Default 2000.
    #[serde(default = "default_gcp_received")]
    gcp_received_bytes_per_s: f64,
    /// ... and sent below this... Default 1000.
    #[serde(default = "default_gcp_sent")]
    gcp_sent_bytes_per_s: f64,
    /// ... in at least this share of the hours. Default 0.95.
    #[serde(default = "default_gcp_network_share")]
    gcp_network_share: f64,
    /// Days with data a VM needs before it is judged. Default 5.
    #[serde(default = "default_gcp_min_days")]
    gcp_min_days: u32,
}

fn default_gcp_cpu_vcpus() -> f64 {
    0.03
}

fn default_gcp_cpu_share() -> f64 {
    0.97
}

fn default_gcp_received() -> f64 {
    2000.0
}

fn default_gcp_sent() -> f64 {
    1000.0
}

fn default_gcp_network_share() -> f64 {
    0.95
}

fn default_gcp_min_days() -> u32 {
    5
}

/// The cost dataset's (and inventory's) name of Google Cloud.
const GCP: &str = "Google Cloud";

fn default_lookback_days() -> u32 {
    14
}
fn default_low_days() -> u32 {
    4
}
fn default_cpu_percent() -> f64 {
    10.0
}
fn default_network_mb() -> f64 {
    5.0
}
fn default_seven() -> u32 {
    7
}
fn default_volume_iops() -> f64 {
    1.0
}
fn default_lb_requests() -> f64 {
    100.0
}
fn default_volume_prices() -> BTreeMap<String, f64> {
    [
        ("gp3", 0.08),
        ("gp2", 0.10),
        ("io1", 0.125),
        ("io2", 0.125),
        ("st1", 0.045),
        ("sc1", 0.015),
        ("standard", 0.05),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
fn default_iops_month() -> f64 {
    0.065
}
fn default_address_price() -> ListPrice {
    ListPrice {
        per_hour: 0.005,
        currency: "USD".into(),
    }
}
fn default_lb_price() -> ListPrice {
    ListPrice {
        per_hour: 0.0225,
        currency: "USD".into(),
    }
}

#[derive(Debug)]
pub struct IdleResource {
    name: String,
    config: IdleConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: IdleConfig = config.parse()?;
    let checks = [
        (
            "lookback_days",
            (1..=93).contains(&parsed.lookback_days),
            "must be 1 to 93",
        ),
        (
            "low_days",
            parsed.low_days >= 1 && parsed.low_days <= parsed.lookback_days,
            "must be 1 to `lookback_days`",
        ),
        (
            "cpu_percent",
            (0.0..=100.0).contains(&parsed.cpu_percent),
            "must be 0 to 100",
        ),
        (
            "network_mb",
            parsed.network_mb.is_finite() && parsed.network_mb >= 0.0,
            "must be 0 or more",
        ),
        (
            "volume_days",
            (1..=93).contains(&parsed.volume_days),
            "must be 1 to 93",
        ),
        (
            "lb_days",
            (1..=93).contains(&parsed.lb_days),
            "must be 1 to 93",
        ),
        (
            "unattached_days",
            parsed.unattached_days <= 93,
            "must be 0 to 93",
        ),
        (
            "gcp_cpu_share",
            (0.0..=1.0).contains(&parsed.gcp_cpu_share),
            "must be 0 to 1",
        ),
        (
            "gcp_network_share",
            (0.0..=1.0).contains(&parsed.gcp_network_share),
            "must be 0 to 1",
        ),
        (
            "gcp_cpu_vcpus",
            parsed.gcp_cpu_vcpus.is_finite() && parsed.gcp_cpu_vcpus > 0.0,
            "must be above 0",
        ),
        (
            "gcp_min_days",
            parsed.gcp_min_days >= 1 && parsed.gcp_min_days <= parsed.lookback_days,
            "must be 1 to `lookback_days`",
        ),
    ];
    for (key, ok, message) in checks {
        if !ok {
            return Err(config.error(Some(key), message));
        }
    }
    Ok(Box::new(IdleResource {
        name: config.name.clone(),
        config: parsed,
    }))
}

/// The rule's thresholds for instances, apart from the store, so that its
/// edges can be tested on their own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceRule {
    pub low_days: u32,
    pub cpu_percent: f64,
    pub network_bytes: f64,
}

impl Default for InstanceRule {
    fn default() -> Self {
        InstanceRule {
            low_days: default_low_days(),
            cpu_percent: default_cpu_percent(),
            network_bytes: default_network_mb() * 1e6,
        }
    }
}

/// How one instance's days were judged.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceVerdict {
    pub days: Vec<IdleDay>,
    pub days_low: u32,
    /// `None`: too little data to judge.
    pub idle: Option<bool>,
}

impl InstanceRule {
    /// Judges an instance from its daily CPU and network (in and out)
    /// means; a day needs CPU and some network data to count.
    pub fn judge(
        &self,
        cpu: &[DailyUse],
        network_in: &[DailyUse],
        network_out: &[DailyUse],
    ) -> InstanceVerdict {
        let by_day =
            |v: &[DailyUse]| -> BTreeMap<_, _> { v.iter().map(|d| (d.day, d.mean)).collect() };
        let (net_in, net_out) = (by_day(network_in), by_day(network_out));
        let mut days = Vec::new();
        for d in cpu {
            let (i, o) = (net_in.get(&d.day), net_out.get(&d.day));
            if i.is_none() && o.is_none() {
                continue;
            }
            let network = (i.copied().unwrap_or(0.0) + o.copied().unwrap_or(0.0)) * 86_400.0;
            days.push(IdleDay {
                day: d.day,
                cpu_percent: Some(d.mean),
                network_bytes: Some(network),
                iops: None,
                requests: None,
                low: d.mean <= self.cpu_percent && network <= self.network_bytes,
            });
        }
        let days_low = days.iter().filter(|d| d.low).count() as u32;
        let idle = (days.len() as u32 >= self.low_days).then_some(days_low >= self.low_days);
        InstanceVerdict {
            days,
            days_low,
            idle,
        }
    }
}

const METRICS: [&str; 6] = [
    "cpu_utilization",
    "network_in_bytes",
    "network_out_bytes",
    "volume_read_ops",
    "volume_write_ops",
    "request_count",
];

impl Analyzer for IdleResource {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "idle_resource"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[
            Dataset::Inventory,
            Dataset::Utilization,
            Dataset::Cost,
            Dataset::Prices,
        ]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let c = &self.config;
        let longest = c.lookback_days.max(c.volume_days).max(c.lb_days);
        let range = fleet::lookback(ctx, longest);
        let inventory = Inventory::load(ctx.store, range, &self.name)?;
        let ids: Vec<&str> = inventory
            .resources
            .iter()
            .map(|r| r.resource_id.as_str())
            .collect();
        let usage = fleet::daily_utilization(ctx.store, range, &METRICS, &ids, &self.name)?;
        let prices = PriceBook::load(ctx.store, range.end, &self.name)?;
        let subjects: Vec<(&Resource, String)> = inventory
            .resources
            .iter()
            .map(|r| (r, r.resource_id.clone()))
            .collect();
        let billed = fleet::billed_costs(
            ctx.store,
            fleet::lookback(ctx, c.lookback_days),
            &subjects,
            &self.name,
        )?;
        let instance_range = fleet::lookback(ctx, c.lookback_days);
        // GCP's rule counts hours below per-VM limits (CPU in percent of
        // the VM's vCPUs), in one pass over the utilization.
        let mut gcp_limits = Vec::new();
        for r in inventory
            .of_type("instance")
            .filter(|r| r.provider == GCP && r.is_running())
        {
            let vcpus = r
                .instance_type
                .as_deref()
                .and_then(|t| fleet::gcp_vcpus(t, &r.attributes));
            if let Some(v) = vcpus {
                gcp_limits.push((
                    r.resource_id.clone(),
                    "cpu_utilization",
                    c.gcp_cpu_vcpus / v * 100.0,
                ));
                gcp_limits.push((
                    r.resource_id.clone(),
                    "network_in_bytes",
                    c.gcp_received_bytes_per_s,
                ));
                gcp_limits.push((
                    r.resource_id.clone(),
                    "network_out_bytes",
                    c.gcp_sent_bytes_per_s,
                ));
            }
        }
        let gcp_hours = fleet::hours_below(ctx.store, instance_range, &gcp_limits, &self.name)?;
        let mut run = Run {
            analyzer: self,
            ctx,
            gcp_hours: &gcp_hours,
            usage: &usage,
            billed: &billed,
            prices: &prices,
            coverage: SavingsCoverage {
                analyzer: self.name.clone(),
                finding_kind: self.type_name().to_string(),
                ..Default::default()
            },
            findings: Vec::new(),
        };
        let at = fleet::reference_time(ctx, range);
        let volume_range = fleet::lookback(ctx, c.volume_days);
        let lb_range = fleet::lookback(ctx, c.lb_days);
        let volumes_of: BTreeMap<&str, Vec<&Resource>> =
            inventory
                .of_type("volume")
                .fold(BTreeMap::new(), |mut m, v| {
                    if let Some(i) = &v.attached_to {
                        m.entry(i.as_str()).or_insert_with(Vec::new).push(v);
                    }
                    m
                });
        let instances: HashMap<&str, &Resource> = inventory
            .of_type("instance")
            .map(|r| (r.resource_id.as_str(), r))
            .collect();
        for r in inventory.of_type("instance") {
            if r.is_running() && r.provider == GCP {
                run.gcp_instance(r, instance_range);
            } else if r.is_running() {
                run.instance(r, instance_range);
            } else if r.state.as_deref() == Some("stopped")
                && !inventory.ever_running.contains(&r.resource_id)
            {
                let volumes = volumes_of.get(r.resource_id.as_str()).cloned();
                run.stopped_instance(r, volumes.unwrap_or_default(), volume_range);
            }
        }
        for v in inventory.of_type("volume").filter(|v| !v.boot) {
            run.volume(v, &inventory, volume_range, at);
        }
        for a in inventory.of_type("address") {
            // A GCP address says itself whether anything uses it (a VM, a
            // forwarding rule): `reserved` is unused.
            if a.provider == GCP {
                if a.state.as_deref() == Some("reserved") {
                    run.address(a, &instances);
                }
                continue;
            }
            let running = a
                .attached_to
                .as_deref()
                .and_then(|i| instances.get(i))
                .is_some_and(|i| i.is_running());
            // An address on a network interface (a NAT gateway, an ENI) is
            // in use; only an instance that is not running leaves it idle.
            let on_other = a
                .attached_to
                .as_deref()
                .is_some_and(|t| !t.starts_with("i-"));
            if !running && !on_other {
                run.address(a, &instances);
            }
        }
        for lb in inventory.of_type("load_balancer") {
            run.load_balancer(lb, lb_range);
        }
        let Run {
            findings, coverage, ..
        } = run;
        Ok(AnalysisOutput {
            findings,
            summaries: vec![Summary::Savings(Box::new(coverage))],
        })
    }
}

/// One analysis run's state.
struct Run<'a> {
    analyzer: &'a IdleResource,
    ctx: &'a AnalysisContext<'a>,
    /// GCP VMs: per (VM, metric), hours with data and hours below the limit.
    gcp_hours: &'a fleet::HoursBelow,
    usage: &'a fleet::DailyUtilization,
    billed: &'a HashMap<String, BilledCost>,
    prices: &'a PriceBook,
    coverage: SavingsCoverage,
    findings: Vec<Finding>,
}

impl Run<'_> {
    fn days(&self, id: &str, metric: &str, range: vitals_core::period::DayRange) -> Vec<DailyUse> {
        self.usage
            .get(&(id.to_string(), metric.to_string()))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|d| range.contains(d.day))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn instance_price(&self, r: &Resource) -> Option<(f64, String, String)> {
        let (region, ty) = (r.region_id.as_deref()?, r.instance_type.as_deref()?);
        let p = self.prices.on_demand(&r.provider, region, ty)?;
        Some((p.per_hour, p.currency.clone(), p.source.clone()))
    }

    fn volume_price(&self, v: &Resource) -> Option<(f64, String, String)> {
        let c = &self.analyzer.config;
        let gb_month = *c.volume_gb_month.get(v.volume_type.as_deref()?)?;
        let size = v.size_gib?;
        let iops = match v.volume_type.as_deref() {
            Some("io1" | "io2") => v.iops.unwrap_or(0.0) * c.volume_iops_month,
            _ => 0.0,
        };
        Some((
            (size * gb_month + iops) / HOURS_PER_MONTH,
            "USD".into(),
            format!(
                "list price {gb_month}/GB-month ({}) from the analyzer's config",
                v.volume_type.as_deref().unwrap_or_default()
            ),
        ))
    }

    /// GCP's idle-VM rule (see the module docs).
    fn gcp_instance(&mut self, r: &Resource, range: vitals_core::period::DayRange) {
        let c = &self.analyzer.config;
        let id = &r.resource_id;
        self.coverage.judged += 1;
        let Some(vcpus) = r
            .instance_type
            .as_deref()
            .and_then(|t| fleet::gcp_vcpus(t, &r.attributes))
        else {
            self.coverage
                .unknown_types
                .push(r.instance_type.clone().unwrap_or_else(|| id.clone()));
            return;
        };
        let share = |metric: &str| {
            self.gcp_hours
                .get(&(id.clone(), metric.to_string()))
                .filter(|(hours, _)| *hours > 0)
                .map(|(hours, below)| f64::from(*below) / f64::from(*hours))
        };
        let (cpu, rx, tx) = (
            share("cpu_utilization"),
            share("network_in_bytes"),
            share("network_out_bytes"),
        );
        let cpu_days = self.days(id, "cpu_utilization", range);
        let (Some(cpu), Some(rx), Some(tx)) = (cpu, rx, tx) else {
            self.coverage.insufficient_data.push(id.clone());
            return;
        };
        if (cpu_days.len() as u32) < c.gcp_min_days {
            self.coverage.insufficient_data.push(id.clone());
            return;
        }
        if !(cpu >= c.gcp_cpu_share && rx >= c.gcp_network_share && tx >= c.gcp_network_share) {
            return;
        }
        let cpu_limit = c.gcp_cpu_vcpus / vcpus * 100.0;
        let by_day = |metric: &str| -> BTreeMap<chrono::NaiveDate, f64> {
            self.days(id, metric, range)
                .into_iter()
                .map(|d| (d.day, d.mean))
                .collect()
        };
        let (rx_days, tx_days) = (by_day("network_in_bytes"), by_day("network_out_bytes"));
        let days: Vec<IdleDay> = cpu_days
            .iter()
            .map(|d| {
                let (i, o) = (rx_days.get(&d.day), tx_days.get(&d.day));
                IdleDay {
                    day: d.day,
                    cpu_percent: Some(d.mean),
                    network_bytes: Some(
                        (i.copied().unwrap_or(0.0) + o.copied().unwrap_or(0.0)) * 86_400.0,
                    ),
                    iops: None,
                    requests: None,
                    low: d.mean < cpu_limit
                        && i.is_some_and(|v| *v < c.gcp_received_bytes_per_s)
                        && o.is_some_and(|v| *v < c.gcp_sent_bytes_per_s),
                }
            })
            .collect();
        let days_low = days.iter().filter(|d| d.low).count() as u32;
        let rule = format!(
            "GCP's idle-VM rule: CPU below {} vCPU ({cpu_limit:.3}% of {vcpus}) in {:.1}% of the hours (at least {:.0}%), \
             received below {} B/s in {:.1}% and sent below {} B/s in {:.1}% (at least {:.0}%), over the last {} days",
            c.gcp_cpu_vcpus,
            cpu * 100.0,
            c.gcp_cpu_share * 100.0,
            c.gcp_received_bytes_per_s,
            rx * 100.0,
            c.gcp_sent_bytes_per_s,
            tx * 100.0,
            c.gcp_network_share * 100.0,
            c.lookback_days
        );
        let days_with_data = days.len() as u32;
        self.push(
            r,
            IdleReason::LowUtilization,
            rule,
            days_with_data,
            days_low,
            days,
            Vec::new(),
            self.instance_price(r),
            1,
        );
    }

    fn instance(&mut self, r: &Resource, range: vitals_core::period::DayRange) {
        let c = &self.analyzer.config;
        let rule = InstanceRule {
            low_days: c.low_days,
            cpu_percent: c.cpu_percent,
            network_bytes: c.network_mb * 1e6,
        };
        let id = &r.resource_id;
        let verdict = rule.judge(
            &self.days(id, "cpu_utilization", range),
            &self.days(id, "network_in_bytes", range),
            &self.days(id, "network_out_bytes", range),
        );
        self.coverage.judged += 1;
        match verdict.idle {
            None => self.coverage.insufficient_data.push(id.clone()),
            Some(false) => {}
            Some(true) => {
                let rule_text = format!(
                    "daily mean CPU <= {}% and network in + out <= {} MB on at least {} of the last {} days",
                    c.cpu_percent, c.network_mb, c.low_days, c.lookback_days
                );
                let days_with_data = verdict.days.len() as u32;
                self.push(
                    r,
                    IdleReason::LowUtilization,
                    rule_text,
                    days_with_data,
                    verdict.days_low,
                    verdict.days,
                    Vec::new(),
                    self.instance_price(r),
                    1,
                );
            }
        }
    }

    fn stopped_instance(
        &mut self,
        r: &Resource,
        volumes: Vec<&Resource>,
        range: vitals_core::period::DayRange,
    ) {
        if volumes.is_empty() {
            return;
        }
        self.coverage.judged += 1;
        // The volumes' own cost, summed: billed where each has it, else its
        // list price.
        let mut monthly = 0.0;
        let mut currency = None::<String>;
        let mut billed_all = true;
        for v in &volumes {
            let (m, cur) = match (self.billed.get(&v.resource_id), self.volume_price(v)) {
                (Some(b), _) => (b.monthly(), b.currency.clone()),
                (None, Some((per_hour, cur, _))) => {
                    billed_all = false;
                    (per_hour * HOURS_PER_MONTH, cur)
                }
                (None, None) => {
                    self.coverage.unpriced.push(v.resource_id.clone());
                    return;
                }
            };
            if currency.as_ref().is_some_and(|c| *c != cur) {
                self.coverage.unpriced.push(r.resource_id.clone());
                return;
            }
            currency = Some(cur);
            monthly += m;
        }
        let saving = Saving {
            monthly: fleet::round_cents(monthly),
            currency: currency.unwrap_or_default(),
            basis: if billed_all {
                vitals_core::evidence::SavingBasis::BilledCost
            } else {
                vitals_core::evidence::SavingBasis::Price
            },
            current_monthly: fleet::round_cents(monthly),
            fraction: 1.0,
            fraction_from: "removed (the stopped instance's volumes)".into(),
            billed_days: None,
            billed_cost: None,
            price_per_hour: None,
            proposed_price_per_hour: None,
            price_source: (!billed_all).then(|| "volume list prices".to_string()),
        };
        let evidence = IdleResourceEvidence {
            resource_type: r.resource_type.clone(),
            reason: IdleReason::StoppedWithVolumes,
            region_id: r.region_id.clone(),
            instance_type: r.instance_type.clone(),
            rule: format!(
                "stopped and not running in the last {} days, with volumes attached",
                range.days().count()
            ),
            days_with_data: 0,
            days_low: 0,
            days: Vec::new(),
            volumes: volumes.iter().map(|v| v.resource_id.clone()).collect(),
            saving,
        };
        self.finding(r, evidence);
    }

    fn volume(
        &mut self,
        v: &Resource,
        inventory: &Inventory,
        range: vitals_core::period::DayRange,
        at: chrono::NaiveDateTime,
    ) {
        let c = &self.analyzer.config;
        let days_needed = c.volume_days;
        self.coverage.judged += 1;
        if v.attached_to.is_none() {
            let unattached = c.unattached_days;
            let old_enough = v
                .launched_at
                .is_some_and(|t| t <= at - Duration::days(i64::from(unattached)));
            if old_enough && !inventory.ever_attached.contains(&v.resource_id) {
                let rule = format!("unattached for at least {unattached} days");
                self.push(
                    v,
                    IdleReason::Unattached,
                    rule,
                    0,
                    0,
                    Vec::new(),
                    Vec::new(),
                    self.volume_price(v),
                    1,
                );
            }
            return;
        }
        let read: BTreeMap<_, _> = self
            .days(&v.resource_id, "volume_read_ops", range)
            .into_iter()
            .map(|d| (d.day, d.mean))
            .collect();
        let write: BTreeMap<_, _> = self
            .days(&v.resource_id, "volume_write_ops", range)
            .into_iter()
            .map(|d| (d.day, d.mean))
            .collect();
        let days: Vec<IdleDay> = range
            .days()
            .filter_map(|day| {
                let (r, w) = (read.get(&day), write.get(&day));
                if r.is_none() && w.is_none() {
                    return None;
                }
                let iops = r.copied().unwrap_or(0.0) + w.copied().unwrap_or(0.0);
                Some(IdleDay {
                    day,
                    cpu_percent: None,
                    network_bytes: None,
                    iops: Some(iops),
                    requests: None,
                    low: iops < c.volume_iops,
                })
            })
            .collect();
        if (days.len() as u32) < days_needed {
            if days.is_empty() {
                // No volume metrics collected at all: nothing to say.
                self.coverage.judged -= 1;
            } else {
                self.coverage.insufficient_data.push(v.resource_id.clone());
            }
            return;
        }
        let low = days.iter().filter(|d| d.low).count() as u32;
        if low == days.len() as u32 {
            let rule = format!(
                "read + write below {} operations per second on each of the last {days_needed} days",
                c.volume_iops
            );
            let n = days.len() as u32;
            self.push(
                v,
                IdleReason::LowIops,
                rule,
                n,
                low,
                days,
                Vec::new(),
                self.volume_price(v),
                1,
            );
        }
    }

    fn address(&mut self, a: &Resource, instances: &HashMap<&str, &Resource>) {
        let c = &self.analyzer.config;
        self.coverage.judged += 1;
        let rule = match a.attached_to.as_deref() {
            None => "not associated".to_string(),
            Some(i) => format!(
                "associated with {i}, which is {}",
                instances
                    .get(i)
                    .and_then(|r| r.state.as_deref())
                    .unwrap_or("not in the inventory")
            ),
        };
        let price = Some((
            c.address_price.per_hour,
            c.address_price.currency.clone(),
            "list price per hour from the analyzer's config".to_string(),
        ));
        self.push(
            a,
            IdleReason::Unassociated,
            rule,
            0,
            0,
            Vec::new(),
            Vec::new(),
            price,
            1,
        );
    }

    fn load_balancer(&mut self, lb: &Resource, range: vitals_core::period::DayRange) {
        let c = &self.analyzer.config;
        self.coverage.judged += 1;
        let price = Some((
            c.load_balancer_price.per_hour,
            c.load_balancer_price.currency.clone(),
            "list price per hour from the analyzer's config".to_string(),
        ));
        let (targets, healthy) = target_health(lb);
        if healthy == 0 {
            let rule = if targets == 0 {
                "no targets registered".to_string()
            } else {
                format!("none of its {targets} targets healthy")
            };
            self.push(
                lb,
                IdleReason::NoHealthyTargets,
                rule,
                0,
                0,
                Vec::new(),
                Vec::new(),
                price,
                1,
            );
            return;
        }
        let days: Vec<IdleDay> = self
            .days(&lb.resource_id, "request_count", range)
            .into_iter()
            .map(|d| {
                let requests = d.mean * 86_400.0;
                IdleDay {
                    day: d.day,
                    cpu_percent: None,
                    network_bytes: None,
                    iops: None,
                    requests: Some(requests),
                    low: requests < c.lb_requests_per_day,
                }
            })
            .collect();
        if (days.len() as u32) < c.lb_days {
            self.coverage.insufficient_data.push(lb.resource_id.clone());
            return;
        }
        let low = days.iter().filter(|d| d.low).count() as u32;
        if low == days.len() as u32 {
            let rule = format!(
                "fewer than {} requests a day on each of the last {} days",
                c.lb_requests_per_day, c.lb_days
            );
            let n = days.len() as u32;
            self.push(
                lb,
                IdleReason::LowRequests,
                rule,
                n,
                low,
                days,
                Vec::new(),
                price,
                1,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        r: &Resource,
        reason: IdleReason,
        rule: String,
        days_with_data: u32,
        days_low: u32,
        days: Vec<IdleDay>,
        volumes: Vec<String>,
        price: Option<(f64, String, String)>,
        count: u32,
    ) {
        let price_ref = price.as_ref().map(|(p, c, s)| (*p, c.as_str(), s.as_str()));
        let Some(saving) = fleet::saving(
            self.billed.get(&r.resource_id),
            price_ref,
            count,
            1.0,
            "removed",
            None,
        ) else {
            self.coverage.unpriced.push(r.resource_id.clone());
            return;
        };
        let evidence = IdleResourceEvidence {
            resource_type: r.resource_type.clone(),
            reason,
            region_id: r.region_id.clone(),
            instance_type: r.instance_type.clone(),
            rule,
            days_with_data,
            days_low,
            days,
            volumes,
            saving,
        };
        self.finding(r, evidence);
    }

    fn finding(&mut self, r: &Resource, evidence: IdleResourceEvidence) {
        let what = match evidence.reason {
            IdleReason::LowUtilization => "idle",
            IdleReason::StoppedWithVolumes => "stopped, its volumes still billing",
            IdleReason::Unattached => "unattached",
            IdleReason::LowIops => "unused (next to no I/O)",
            IdleReason::Unassociated => "not associated with a running instance",
            IdleReason::NoHealthyTargets => "without healthy targets",
            IdleReason::LowRequests => "next to no requests",
        };
        let label = match r.resource_type.as_str() {
            "address" => "Elastic IP",
            "load_balancer" => "load balancer",
            other => other,
        };
        let title = format!(
            "{label} {}{} {what}: {:.2} {}/month",
            r.resource_id,
            r.instance_type
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            evidence.saving.monthly,
            evidence.saving.currency
        );
        let kind = self.analyzer.type_name();
        let finding = Finding {
            finding_id: finding_id(
                kind,
                &self.analyzer.name,
                &[&r.provider, &r.resource_id, reason_key(evidence.reason)],
            ),
            kind: kind.to_string(),
            severity: Severity::Warning,
            provider: Some(r.provider.clone()),
            account_id: r.account_id.clone(),
            service: r.tags.get("service").cloned(),
            resource_id: Some(r.resource_id.clone()),
            title,
            monthly_savings: Some(evidence.saving.monthly),
            currency: Some(evidence.saving.currency.clone()),
            evidence: Finding::evidence_json(&evidence),
            first_seen: self.ctx.now,
            last_seen: self.ctx.now,
            owner: r.tags.get(self.ctx.owner_tag).cloned(),
            slo_safety: None,
            status: FindingStatus::Open,
        };
        self.findings.push(finding);
    }
}

fn reason_key(reason: IdleReason) -> &'static str {
    match reason {
        IdleReason::LowUtilization => "low_utilization",
        IdleReason::StoppedWithVolumes => "stopped_with_volumes",
        IdleReason::Unattached => "unattached",
        IdleReason::LowIops => "low_iops",
        IdleReason::Unassociated => "unassociated",
        IdleReason::NoHealthyTargets => "no_healthy_targets",
        IdleReason::LowRequests => "low_requests",
    }
}

/// Targets registered and healthy, from the load balancer's attributes
/// (`target_groups: [{"targets": N, "healthy": N}]`).
fn target_health(lb: &Resource) -> (u64, u64) {
    let groups = lb
        .attributes
        .get("target_groups")
        .and_then(|g| g.as_array())
        .cloned()
        .unwrap_or_default();
    let field = |g: &serde_json::Value, k: &str| g.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    groups.iter().fold((0, 0), |(t, h), g| {
        (t + field(g, "targets"), h + field(g, "healthy"))
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn days(values: &[f64]) -> Vec<DailyUse> {
        let first = NaiveDate::from_ymd_opt(2024, 9, 16).unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| DailyUse {
                day: first + Duration::days(i as i64),
                mean: *v,
                hours: 24,
            })
            .collect()
    }

    /// 14 days of CPU with `low` of them at `low_cpu`, the rest busy; the
    /// network quiet throughout (2 MB a day in, 1 MB out).
    fn judge(low: usize, low_cpu: f64) -> InstanceVerdict {
        let cpu: Vec<f64> = (0..14)
            .map(|i| if i < low { low_cpu } else { 45.0 })
            .collect();
        let net_in = days(&[2e6 / 86_400.0; 14]);
        let net_out = days(&[1e6 / 86_400.0; 14]);
        InstanceRule::default().judge(&days(&cpu), &net_in, &net_out)
    }

    #[test]
    fn three_low_days_of_fourteen_are_not_idle_four_are() {
        let v = judge(3, 2.0);
        assert_eq!((v.days_low, v.idle), (3, Some(false)));
        let v = judge(4, 2.0);
        assert_eq!((v.days_low, v.idle), (4, Some(true)));
    }

    #[test]
    fn cpu_exactly_at_the_threshold_is_low_and_just_above_is_not() {
        assert_eq!(judge(4, 10.0).idle, Some(true));
        assert_eq!(judge(4, 10.000_001).idle, Some(false));
    }

    #[test]
    fn busy_network_keeps_a_quiet_cpu_from_idle() {
        let cpu = days(&[1.0; 14]);
        // 6 MB a day in: above 5 MB.
        let net_in = days(&[6e6 / 86_400.0; 14]);
        let v = InstanceRule::default().judge(&cpu, &net_in, &[]);
        assert_eq!((v.days_low, v.idle), (0, Some(false)));
    }

    #[test]
    fn too_few_days_with_data_are_never_idle() {
        // Three days, all quiet: insufficient, not idle.
        let cpu = days(&[1.0; 3]);
        let net = days(&[10.0; 3]);
        let v = InstanceRule::default().judge(&cpu, &net, &net);
        assert_eq!((v.days_low, v.idle), (3, None));
        // CPU without network: no day counts.
        let v = InstanceRule::default().judge(&days(&[1.0; 14]), &[], &[]);
        assert_eq!(v.idle, None);
    }
}
