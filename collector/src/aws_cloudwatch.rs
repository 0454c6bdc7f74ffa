//! `aws_cloudwatch`: hourly utilization of the resources of the latest
//! inventory, from CloudWatch `GetMetricData`, into the `utilization`
//! dataset.
//!
//! | resource | CloudWatch (namespace, metric, statistic) | vitals metric |
//! |---|---|---|
//! | instance | `AWS/EC2 CPUUtilization` Average, Maximum, SampleCount | `cpu_utilization` |
//! | instance | `CWAgent mem_used_percent` Average, Maximum, SampleCount (where the agent runs) | `memory_utilization` |
//! | instance | `AWS/EC2 NetworkIn`, `NetworkOut` Sum | `network_in_bytes`, `network_out_bytes` (Sum / 3600: bytes per second) |
//! | volume | `AWS/EBS VolumeReadOps`, `VolumeWriteOps` Sum | `volume_read_ops`, `volume_write_ops` (per second) |
//! | ALB | `AWS/ApplicationELB RequestCount` Sum | `request_count` (per second) |
//! | NLB | `AWS/NetworkELB NewFlowCount` Sum | `request_count` (new flows per second) |
//! | CLB | `AWS/ELB RequestCount` Sum | `request_count` (per second) |
//!
//! `ListMetrics` first says which of these series exist (it is free, and
//! `GetMetricData` is billed per metric: most volumes and most instances
//! without the agent lack some); the queries for those go in batches of up
//! to 500 (the API's limit) per account and region, each result followed
//! through `NextToken`. The first run reads
//! `backfill_days` (14); later runs read from the day of the latest hour
//! already stored (the earliest such day over the resources that have
//! series; a new resource brings the backfill back), re-reading those days
//! whole, for every resource, so that the partitions it replaces stay
//! complete. Only complete hours are read. An
//! hour without datapoints has no row: a resource that has none is counted
//! in the run's warnings, never stored as zero use. Throttling is retried by
//! the SDK with jittered backoff; a query that comes back `InternalError`
//! or `Forbidden`, or still `PartialData` without a next page, fails the run
//! (nothing stored), naming the resource and metric.
//!
//! It reads the latest inventory from the store, so it runs after the
//! collectors of other datasets in a cycle.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime as AwsTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use chrono::{Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::Store;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::frames::{collect_streaming, latest_of_each_source};
use vitals_core::resource_rows::{RowsBuilder, UtilizationRow};

use crate::aws::{self, AwsFailure};
use crate::collector::{BATCH_ROWS, Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;

const API: &str = "cloudwatch:GetMetricData";
/// The API's limit of queries per request.
pub const MAX_QUERIES: usize = 500;
const MAX_PAGES: usize = 10_000;
const PERIOD_S: i32 = 3600;

/// `[collectors.NAME] type = "aws_cloudwatch"`; beside these, the AWS
/// connection keys of [`aws::AwsConnection`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AwsCloudWatchConfig {
    /// Days read on the first run (and for a resource seen for the first
    /// time). Default 14 (CloudWatch keeps hourly data 63 days).
    #[serde(default = "default_backfill_days")]
    backfill_days: u32,
    /// Roles to assume, one per account, matched to the inventory's accounts
    /// by the account id in the ARN. Default: the running credentials.
    #[serde(default)]
    role_arns: Vec<String>,
    /// Only these regions of the inventory. Default: every region in it.
    regions: Option<Vec<String>>,
    /// Queries per `GetMetricData` request, at most 500. Default 500.
    #[serde(default = "default_batch")]
    queries_per_request: usize,
}

fn default_backfill_days() -> u32 {
    14
}
fn default_batch() -> usize {
    MAX_QUERIES
}

#[derive(Debug)]
pub struct AwsCloudWatch {
    name: String,
    config: AwsCloudWatchConfig,
    aws: aws::AwsConnection,
    store: Option<Store>,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let (connection, parsed): (aws::AwsConnection, AwsCloudWatchConfig) = config.parse_shared()?;
    connection.check(config)?;
    if !(1..=63).contains(&parsed.backfill_days) {
        return Err(config.error(
            Some("backfill_days"),
            "must be 1 to 63 (CloudWatch keeps hourly data 63 days)",
        ));
    }
    if !(1..=MAX_QUERIES).contains(&parsed.queries_per_request) {
        return Err(config.error(Some("queries_per_request"), "must be 1 to 500"));
    }
    if let Some(bad) = parsed.role_arns.iter().find(|r| role_account(r).is_none()) {
        return Err(config.error(Some("role_arns"), format!("`{bad}` is not a role ARN")));
    }
    Ok(Box::new(AwsCloudWatch {
        name: config.name.clone(),
        config: parsed,
        aws: connection,
        store: None,
    }))
}

/// The account id of `arn:aws:iam::123456789012:role/name`.
fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    let (arn_, _partition, iam, _region, account, role) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn_ == "arn" && iam == "iam" && role.starts_with("role/") && !account.is_empty())
        .then_some(account)
}

/// One statistic of one metric of one resource.
#[derive(Debug, Clone)]
struct Query {
    resource: String,
    /// vitals' metric and which of its columns the statistic fills.
    metric: &'static str,
    column: Column,
    namespace: &'static str,
    name: &'static str,
    stat: &'static str,
    dimension: (&'static str, String),
    /// Every dimension of the series (`ListMetrics` says which: the agent
    /// adds `ImageId`, `InstanceType`, ... to `InstanceId`).
    dimensions: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Avg,
    Max,
    Samples,
    /// A Sum turned into a per-second rate.
    RatePerSecond,
}

/// The queries for one inventory resource.
fn queries(resource_type: &str, id: &str, attributes: &serde_json::Value) -> Vec<Query> {
    let q = |metric, column, namespace, name, stat, dim: &'static str, value: String| Query {
        resource: id.to_string(),
        metric,
        column,
        namespace,
        name,
        stat,
        dimensions: vec![(dim.to_string(), value.clone())],
        dimension: (dim, value),
    };
    let id_s = id.to_string();
    match resource_type {
        "instance" => {
            let mut out = Vec::new();
            for (metric, ns, name) in [
                ("cpu_utilization", "AWS/EC2", "CPUUtilization"),
                ("memory_utilization", "CWAgent", "mem_used_percent"),
            ] {
                for (column, stat) in [
                    (Column::Avg, "Average"),
                    (Column::Max, "Maximum"),
                    (Column::Samples, "SampleCount"),
                ] {
                    out.push(q(
                        metric,
                        column,
                        ns,
                        name,
                        stat,
                        "InstanceId",
                        id_s.clone(),
                    ));
                }
            }
            for (metric, name) in [
                ("network_in_bytes", "NetworkIn"),
                ("network_out_bytes", "NetworkOut"),
            ] {
                out.push(q(
                    metric,
                    Column::RatePerSecond,
                    "AWS/EC2",
                    name,
                    "Sum",
                    "InstanceId",
                    id_s.clone(),
                ));
            }
            out
        }
        "volume" => [
            ("volume_read_ops", "VolumeReadOps"),
            ("volume_write_ops", "VolumeWriteOps"),
        ]
        .into_iter()
        .map(|(metric, name)| {
            q(
                metric,
                Column::RatePerSecond,
                "AWS/EBS",
                name,
                "Sum",
                "VolumeId",
                id_s.clone(),
            )
        })
        .collect(),
        "load_balancer" => {
            // The dimension is the ARN's part after `loadbalancer/`.
            let Some(dim) = id.split_once(":loadbalancer/").map(|(_, d)| d.to_string()) else {
                return Vec::new();
            };
            let kind = attributes.get("type").and_then(|t| t.as_str());
            // A classic load balancer's dimension is its name, which is
            // the whole of that part of its ARN.
            let (ns, name, dimension) = match kind {
                Some("network") => ("AWS/NetworkELB", "NewFlowCount", "LoadBalancer"),
                Some("application") | None => {
                    ("AWS/ApplicationELB", "RequestCount", "LoadBalancer")
                }
                Some("classic") => ("AWS/ELB", "RequestCount", "LoadBalancerName"),
                Some(_) => return Vec::new(),
            };
            vec![q(
                "request_count",
                Column::RatePerSecond,
                ns,
                name,
                "Sum",
                dimension,
                dim,
            )]
        }
        _ => Vec::new(),
    }
}

/// A resource of the latest inventory.
#[derive(Debug, Clone)]
struct Target {
    account: String,
    region: String,
    resource_type: String,
    id: String,
    attributes: serde_json::Value,
}

fn store_error(e: impl std::fmt::Display) -> CollectError {
    CollectError::Frame {
        dataset: "inventory",
        message: format!("reading the store: {e}"),
    }
}

/// The latest inventory snapshot's instances, volumes and load balancers,
/// and the latest hour this collector stored per resource.
fn targets(
    store: &Store,
    source: &str,
    today: NaiveDate,
    backfill_days: u32,
) -> Result<(Vec<Target>, HashMap<String, NaiveDateTime>), CollectError> {
    let range = vitals_core::period::DayRange {
        start: today - Duration::days(i64::from(backfill_days)),
        end: today,
    };
    let inventory = latest_of_each_source(
        store
            .scan(Dataset::Inventory, Some(range))
            .map_err(store_error)?,
    )
    .map_err(store_error)?
    .filter(
        col("resource_type")
            .eq(lit("instance"))
            .or(col("resource_type").eq(lit("volume")))
            .or(col("resource_type").eq(lit("load_balancer"))),
    )
    .filter(col("provider").eq(lit("AWS")))
    .select([
        col("account_id"),
        col("region_id"),
        col("resource_type"),
        col("resource_id"),
        col("attributes"),
    ])
    .unique(Some(cols(["resource_id"])), UniqueKeepStrategy::Any)
    .sort(["resource_id"], Default::default());
    let df = collect_streaming(inventory).map_err(store_error)?;
    let text = |n: &str| -> Result<StringChunked, CollectError> {
        Ok(df
            .column(n)
            .map_err(store_error)?
            .str()
            .map_err(store_error)?
            .clone())
    };
    let (account, region, kind, id, attributes) = (
        text("account_id")?,
        text("region_id")?,
        text("resource_type")?,
        text("resource_id")?,
        text("attributes")?,
    );
    let mut out = Vec::new();
    for i in 0..df.height() {
        let (Some(a), Some(r), Some(k), Some(rid)) =
            (account.get(i), region.get(i), kind.get(i), id.get(i))
        else {
            continue;
        };
        out.push(Target {
            account: a.to_string(),
            region: r.to_string(),
            resource_type: k.to_string(),
            id: rid.to_string(),
            attributes: attributes
                .get(i)
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default(),
        });
    }
    let stored = store
        .scan(Dataset::Utilization, Some(range))
        .map_err(store_error)?
        .filter(col("source").eq(lit(source)))
        .group_by([col("resource_id")])
        .agg([col("ts").max().alias("latest")]);
    let df = collect_streaming(stored).map_err(store_error)?;
    let ids = df
        .column("resource_id")
        .map_err(store_error)?
        .str()
        .map_err(store_error)?;
    let latest = df
        .column("latest")
        .map_err(store_error)?
        .datetime()
        .map_err(store_error)?
        .physical()
        .clone();
    let mut last = HashMap::new();
    for i in 0..df.height() {
        if let (Some(id), Some(t)) = (ids.get(i), latest.get(i))
            && let Some(t) = chrono::DateTime::from_timestamp_micros(t)
        {
            last.insert(id.to_string(), t.naive_utc());
        }
    }
    Ok((out, last))
}

/// The series that exist: (namespace, metric, resource's dimension value)
/// → every dimension of the series.
type Series = BTreeMap<(&'static str, &'static str, String), Vec<(String, String)>>;

/// One hour's figures of one (resource, metric), as they arrive.
#[derive(Debug, Default, Clone, Copy)]
struct Hour {
    avg: Option<f64>,
    max: Option<f64>,
    samples: Option<f64>,
}

#[async_trait]
impl Collector for AwsCloudWatch {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "aws_cloudwatch"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Utilization
    }

    fn reads(&self) -> &'static [Dataset] {
        &[Dataset::Inventory, Dataset::Utilization]
    }

    fn attach_store(&mut self, store: &Store) {
        self.store = Some(store.clone());
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let store = self.store.clone().ok_or_else(|| CollectError::Frame {
            dataset: "utilization",
            message: "aws_cloudwatch reads the latest inventory from the store, and was given none"
                .into(),
        })?;
        let now = Utc::now().naive_utc();
        // Complete hours only.
        let end = now
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(now);
        let backfill_start = (end.date() - Duration::days(i64::from(self.config.backfill_days)))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists");
        let (source, today, days_back) =
            (self.name.clone(), window.today, self.config.backfill_days);
        let (targets, stored) =
            tokio::task::spawn_blocking(move || targets(&store, &source, today, days_back))
                .await
                .map_err(|e| CollectError::Task(e.to_string()))??;
        let mut report = CollectReport::default();
        if targets.is_empty() {
            report.warnings.push(
                "the store holds no AWS inventory to read metrics for; run aws_inventory first"
                    .into(),
            );
            return Ok(Collected {
                days: Some(BTreeSet::new()),
                report,
            });
        }
        // A day's partition holds every resource's hours, so every day
        // replaced is re-read for all of them: from the day of the latest
        // hour stored, or the backfill's start if some resource with data
        // has none stored yet (a new one; resources without any series do
        // not count).
        let mut groups: BTreeMap<(String, String), Vec<Query>> = BTreeMap::new();
        let wanted_regions = self.config.regions.as_ref();
        for t in &targets {
            if wanted_regions.is_some_and(|r| !r.contains(&t.region)) {
                continue;
            }
            groups
                .entry((t.account.clone(), t.region.clone()))
                .or_default()
                .extend(queries(&t.resource_type, &t.id, &t.attributes));
        }
        let mut clients = Vec::new();
        for ((account, region), qs) in &groups {
            let mut settings = self.aws.settings(&self.name);
            settings.region = region.clone();
            if let Some(role) = self
                .config
                .role_arns
                .iter()
                .find(|r| role_account(r) == Some(account.as_str()))
            {
                settings.role_arn = Some(role.clone());
            }
            let client = aws_sdk_cloudwatch::Client::new(&settings.sdk_config().await);
            let existing = self.existing(&client, qs, &mut report).await?;
            let qs: Vec<Query> = qs
                .iter()
                .filter_map(|q| {
                    let dims = existing.get(&(q.namespace, q.name, q.dimension.1.clone()))?;
                    let mut q = q.clone();
                    q.dimensions = dims.clone();
                    Some(q)
                })
                .collect();
            clients.push((client, qs));
        }
        let start = clients
            .iter()
            .flat_map(|(_, qs)| qs.iter())
            .map(|q| {
                stored
                    .get(&q.resource)
                    .map(|t| t.date().and_hms_opt(0, 0, 0).expect("midnight exists"))
                    .filter(|t| *t > backfill_start)
                    .unwrap_or(backfill_start)
            })
            .min()
            .unwrap_or(end);
        let first_day = start.date();
        let mut hours: BTreeMap<(String, &'static str, i64), Hour> = BTreeMap::new();
        let mut with_data: BTreeSet<String> = BTreeSet::new();
        for (client, qs) in &clients {
            for batch in qs.chunks(self.config.queries_per_request) {
                self.fetch(
                    client,
                    batch,
                    start,
                    end,
                    &mut hours,
                    &mut with_data,
                    &mut report,
                )
                .await?;
            }
        }
        let mut rows = RowsBuilder::<UtilizationRow>::new();
        // One row per (resource, metric, hour) that has an average or a rate.
        for ((resource, metric, at), h) in hours {
            let Some(ts) = chrono::DateTime::from_timestamp(at, 0).map(|t| t.naive_utc()) else {
                continue;
            };
            if h.avg.is_none() {
                continue;
            }
            rows.push(UtilizationRow {
                ts,
                resource_id: resource,
                metric: metric.to_string(),
                avg: h.avg,
                max: h.max,
                samples: h.samples.map_or(1, |s| s.round() as i64),
            });
            if rows.len() >= BATCH_ROWS {
                out.send(rows.take(&self.name)?).await?;
            }
        }
        out.send(rows.take(&self.name)?).await?;
        let silent: Vec<&str> = targets
            .iter()
            .filter(|t| !with_data.contains(&t.id))
            .map(|t| t.id.as_str())
            .collect();
        if !silent.is_empty() {
            report.warnings.push(format!(
                "{} resource(s) had no datapoints (no data, not zero use): {}{}",
                silent.len(),
                silent
                    .iter()
                    .take(10)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                if silent.len() > 10 { ", ..." } else { "" }
            ));
        }
        report.rows = out.rows();
        let days: BTreeSet<NaiveDate> = vitals_core::period::DayRange {
            start: first_day,
            end: end.date(),
        }
        .days()
        .collect();
        Ok(Collected {
            days: Some(days),
            report,
        })
    }
}

impl AwsCloudWatch {
    /// The (namespace, metric, dimension value) series that exist, from
    /// `ListMetrics` (free of charge, and it lists every series with data
    /// in the last two weeks): `GetMetricData` is billed per metric asked
    /// for, and most volumes and most instances without the CloudWatch
    /// agent have none of some metrics.
    async fn existing(
        &self,
        client: &aws_sdk_cloudwatch::Client,
        queries: &[Query],
        report: &mut CollectReport,
    ) -> Result<BTreeMap<(&'static str, &'static str, String), Vec<(String, String)>>, CollectError>
    {
        const LIST: &str = "cloudwatch:ListMetrics";
        let kinds: BTreeSet<(&'static str, &'static str, &'static str)> = queries
            .iter()
            .map(|q| (q.namespace, q.name, q.dimension.0))
            .collect();
        let mut found: Series = BTreeMap::new();
        for (namespace, name, dimension) in kinds {
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let page = client
                    .list_metrics()
                    .namespace(namespace)
                    .metric_name(name)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk(&e).into_error(LIST, report.pages + 1))?;
                report.pages += 1;
                for m in page.metrics() {
                    // The series of one resource: the one keyed by its
                    // dimension alone, else (the agent's appended
                    // dimensions) the one with the fewest others.
                    let dims: Vec<(String, String)> = m
                        .dimensions()
                        .iter()
                        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                        .collect();
                    let Some((_, value)) = dims.iter().find(|(n, _)| n == dimension) else {
                        continue;
                    };
                    let key = (namespace, name, value.clone());
                    let better = found.get(&key).is_none_or(|old| dims.len() < old.len());
                    if better {
                        found.insert(key, dims);
                    }
                }
                token = crate::collector::next_page(page.next_token());
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// One batch of queries, through every page; its datapoints go into
    /// `hours`.
    #[allow(clippy::too_many_arguments)]
    async fn fetch(
        &self,
        client: &aws_sdk_cloudwatch::Client,
        batch: &[Query],
        start: NaiveDateTime,
        end: NaiveDateTime,
        hours: &mut BTreeMap<(String, &'static str, i64), Hour>,
        with_data: &mut BTreeSet<String>,
        report: &mut CollectReport,
    ) -> Result<(), CollectError> {
        if start >= end {
            return Ok(());
        }
        let built: Vec<MetricDataQuery> = batch
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let metric = Metric::builder()
                    .namespace(q.namespace)
                    .metric_name(q.name)
                    .set_dimensions(Some(
                        q.dimensions
                            .iter()
                            .map(|(n, v)| Dimension::builder().name(n).value(v).build())
                            .collect(),
                    ))
                    .build();
                MetricDataQuery::builder()
                    .id(format!("q{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(PERIOD_S)
                            .stat(q.stat)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut token: Option<String> = None;
        let mut status: HashMap<usize, StatusCode> = HashMap::new();
        for _ in 0..MAX_PAGES {
            let page = client
                .get_metric_data()
                .set_metric_data_queries(Some(built.clone()))
                .start_time(AwsTime::from_secs(start.and_utc().timestamp()))
                .end_time(AwsTime::from_secs(end.and_utc().timestamp()))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e).into_error(API, report.pages + 1))?;
            report.pages += 1;
            for r in page.metric_data_results() {
                let Some(i) = r
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i < batch.len())
                else {
                    return Err(CollectError::BadResponse {
                        api: API,
                        page: report.pages,
                        message: format!("a result with an unknown id {:?}", r.id()),
                    });
                };
                if r.timestamps().len() != r.values().len() {
                    return Err(CollectError::BadResponse {
                        api: API,
                        page: report.pages,
                        message: format!(
                            "{} {}: {} timestamps for {} values",
                            batch[i].resource,
                            batch[i].name,
                            r.timestamps().len(),
                            r.values().len()
                        ),
                    });
                }
                if let Some(s) = r.status_code() {
                    status.insert(i, s.clone());
                }
                let q = &batch[i];
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    if !v.is_finite() {
                        continue;
                    }
                    with_data.insert(q.resource.clone());
                    let hour = hours
                        .entry((q.resource.clone(), q.metric, t.secs()))
                        .or_default();
                    match q.column {
                        Column::Avg => hour.avg = Some(*v),
                        Column::Max => hour.max = Some(*v),
                        Column::Samples => hour.samples = Some(*v),
                        Column::RatePerSecond => hour.avg = Some(*v / f64::from(PERIOD_S)),
                    }
                }
            }
            token = crate::collector::next_page(page.next_token());
            if token.is_none() {
                break;
            }
        }
        // Every query complete, or the run fails whole.
        for (i, s) in status {
            let q = &batch[i];
            let what = format!(
                "{} {}/{} {} of {}",
                q.stat, q.namespace, q.name, q.dimension.0, q.resource
            );
            match s {
                StatusCode::Complete => {}
                StatusCode::PartialData => {
                    return Err(CollectError::BadResponse {
                        api: API,
                        page: report.pages,
                        message: format!("{what}: still PartialData after the last page"),
                    });
                }
                other => {
                    return Err(CollectError::Api {
                        api: API,
                        page: report.pages,
                        message: format!("{what}: status {}", other.as_str()),
                        retryable: true,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account() {
        assert_eq!(
            role_account("arn:aws:iam::111122223333:role/vitals-read"),
            Some("111122223333")
        );
        assert_eq!(role_account("arn:aws:iam::111122223333:user/x"), None);
        assert_eq!(role_account("vitals"), None);
    }

    #[test]
    fn each_resource_kind_gets_its_metrics() {
        let none = serde_json::Value::Null;
        let i = queries("instance", "i-1", &none);
        assert_eq!(i.len(), 8);
        assert!(
            i.iter()
                .any(|q| q.namespace == "CWAgent" && q.stat == "Maximum")
        );
        let v = queries("volume", "vol-1", &none);
        assert_eq!(v.len(), 2);
        let alb = queries(
            "load_balancer",
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc",
            &serde_json::json!({"type": "application"}),
        );
        assert_eq!(alb[0].dimension.1, "app/web/50dc");
        assert_eq!(alb[0].name, "RequestCount");
        let nlb = queries(
            "load_balancer",
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/int/50dc",
            &serde_json::json!({"type": "network"}),
        );
        assert_eq!(nlb[0].namespace, "AWS/NetworkELB");
        let clb = queries(
            "load_balancer",
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/legacy-web",
            &serde_json::json!({"type": "classic"}),
        );
        assert_eq!(clb[0].namespace, "AWS/ELB");
        assert_eq!(
            clb[0].dimension,
            ("LoadBalancerName", "legacy-web".to_string())
        );
        assert!(queries("bucket", "b", &none).is_empty());
    }
}
