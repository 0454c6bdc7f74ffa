//! What the savings analyzers (`idle_resource`, `rightsizing`,
//! `spot_candidate`) read, as Polars plans over the store: the latest
//! inventory snapshot, utilization by day and by percentile, each
//! resource's own billed cost, and prices.
//!
//! Every plan reduces in Polars (group-bys over the lookback) and hands
//! Rust only one row per resource, metric and day, or fewer; a fleet of
//! thousands of instances with 14 days of hourly metrics is millions of
//! rows scanned once and a few tens of thousands kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::evidence::{Saving, SavingBasis};
use vitals_core::frames::{collect_streaming, exact_sum, latest_of_each_source, on_days};
use vitals_core::period::DayRange;
use vitals_core::store::Store;

use crate::analyzer::AnalysisContext;
use crate::error::AnalyzeError;

/// Hours in the month every saving is stated for (AWS and GCP both price a
/// month as 730 hours).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// The days a savings analyzer looks at: the `days` ending with the
/// period's last day (the day of `now` at the latest).
pub fn lookback(ctx: &AnalysisContext<'_>, days: u32) -> DayRange {
    let end = ctx.period.end.min(ctx.today);
    DayRange {
        start: end - Duration::days(i64::from(days.max(1)) - 1),
        end,
    }
}

/// The moment rules about age ("running for 7 days") are judged at: the
/// end of the lookback's last day, or `now` if earlier.
pub fn reference_time(ctx: &AnalysisContext<'_>, range: DayRange) -> NaiveDateTime {
    let end_of_day = (range.end + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    end_of_day.min(ctx.now.naive_utc())
}

/// One resource as its latest snapshot in the lookback shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    pub provider: String,
    pub account_id: Option<String>,
    pub region_id: Option<String>,
    pub resource_id: String,
    pub resource_type: String,
    pub instance_type: Option<String>,
    pub state: Option<String>,
    pub attached_to: Option<String>,
    pub lifecycle: Option<String>,
    pub group: Option<String>,
    pub launched_at: Option<NaiveDateTime>,
    pub tags: BTreeMap<String, String>,
    pub platform: Option<String>,
    pub volume_type: Option<String>,
    pub size_gib: Option<f64>,
    pub iops: Option<f64>,
    pub boot: bool,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl Resource {
    pub fn is_running(&self) -> bool {
        self.state.as_deref() == Some("running")
    }

    /// The availability zone an inventory collector recorded.
    pub fn availability_zone(&self) -> Option<&str> {
        self.attributes
            .get("availability_zone")
            .and_then(|v| v.as_str())
    }

    /// The keys the cost dataset may name this resource by: its id, and
    /// the ARN AWS's CUR and FOCUS exports use for some resource types.
    fn cost_keys(&self) -> Vec<String> {
        let mut keys = vec![self.resource_id.clone()];
        if self.provider == "AWS"
            && let (Some(region), Some(account)) = (&self.region_id, &self.account_id)
        {
            let kind = match self.resource_type.as_str() {
                "instance" => Some("instance"),
                "volume" => Some("volume"),
                "address" => Some("elastic-ip"),
                _ => None,
            };
            if let Some(kind) = kind {
                keys.push(format!(
                    "arn:aws:ec2:{region}:{account}:{kind}/{}",
                    self.resource_id
                ));
            }
        }
        keys
    }
}

fn frame_error(analyzer: &str, what: &str) -> impl Fn(PolarsError) -> AnalyzeError {
    let (analyzer, what) = (analyzer.to_string(), what.to_string());
    move |e| AnalyzeError::Frame {
        analyzer: analyzer.clone(),
        message: format!("{what}: {e}"),
    }
}

fn store_error(analyzer: &str) -> impl Fn(vitals_core::Error) -> AnalyzeError {
    let analyzer = analyzer.to_string();
    move |source| AnalyzeError::Store {
        analyzer: analyzer.clone(),
        source,
    }
}

/// Rows of `frame` whose `ts` falls on a day of `range`.
fn ts_in(frame: LazyFrame, range: DayRange) -> LazyFrame {
    frame.filter(on_days("ts", range))
}

/// The store's inventory and what it said over the lookback.
#[derive(Debug, Default)]
pub struct Inventory {
    /// The latest snapshot: per source its latest `ts` in the lookback,
    /// and per resource the latest source's row.
    pub resources: Vec<Resource>,
    /// Resources seen `running` in some snapshot of the lookback.
    pub ever_running: BTreeSet<String>,
    /// Resources seen attached to something in some snapshot.
    pub ever_attached: BTreeSet<String>,
}

impl Inventory {
    pub fn load(store: &Store, range: DayRange, analyzer: &str) -> Result<Self, AnalyzeError> {
        let scan = ts_in(
            store
                .scan(Dataset::Inventory, Some(range))
                .map_err(store_error(analyzer))?,
            range,
        );
        let latest = latest_of_each_source(scan.clone())
            .map_err(frame_error(analyzer, "latest inventory"))?
            .sort(
                ["resource_id", "ts"],
                SortMultipleOptions::default().with_order_descending_multi([false, true]),
            );
        let df = collect_streaming(latest).map_err(frame_error(analyzer, "latest inventory"))?;
        let resources =
            resources_of(&df).map_err(frame_error(analyzer, "reading the inventory"))?;
        let history = scan.group_by([col("resource_id")]).agg([
            col("state")
                .eq(lit("running"))
                .fill_null(lit(false))
                .any(true)
                .alias("running"),
            col("attached_to").is_not_null().any(true).alias("attached"),
        ]);
        let df = collect_streaming(history).map_err(frame_error(analyzer, "inventory history"))?;
        let mut inventory = Inventory {
            resources,
            ..Default::default()
        };
        let mut read = || -> PolarsResult<()> {
            let ids = df.column("resource_id")?.str()?;
            let running = df.column("running")?.bool()?;
            let attached = df.column("attached")?.bool()?;
            for i in 0..df.height() {
                let Some(id) = ids.get(i) else { continue };
                if running.get(i) == Some(true) {
                    inventory.ever_running.insert(id.to_string());
                }
                if attached.get(i) == Some(true) {
                    inventory.ever_attached.insert(id.to_string());
                }
            }
            Ok(())
        };
        read().map_err(frame_error(analyzer, "inventory history"))?;
        Ok(inventory)
    }

    pub fn of_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = &'a Resource> {
        self.resources
            .iter()
            .filter(move |r| r.resource_type == resource_type)
    }
}

/// The frame's rows as resources, the first row of each id kept (the
/// frame is sorted latest first within an id).
fn resources_of(df: &DataFrame) -> PolarsResult<Vec<Resource>> {
    let text = |name: &str| -> PolarsResult<StringChunked> { Ok(df.column(name)?.str()?.clone()) };
    let number =
        |name: &str| -> PolarsResult<Float64Chunked> { Ok(df.column(name)?.f64()?.clone()) };
    let [
        provider,
        account,
        region,
        id,
        rtype,
        itype,
        state,
        attached,
        lifecycle,
        group,
        tags,
        platform,
        vtype,
        attributes,
    ] = [
        "provider",
        "account_id",
        "region_id",
        "resource_id",
        "resource_type",
        "instance_type",
        "state",
        "attached_to",
        "lifecycle",
        "group",
        "tags",
        "platform",
        "volume_type",
        "attributes",
    ]
    .map(text);
    let (size, iops) = (number("size_gib")?, number("iops")?);
    let boot = df.column("boot")?.bool()?.clone();
    let launched = df.column("launched_at")?.datetime()?.physical().clone();
    let s = |c: &PolarsResult<StringChunked>, i: usize| -> PolarsResult<Option<String>> {
        Ok(c.as_ref()
            .map_err(|e| PolarsError::ComputeError(e.to_string().into()))?
            .get(i)
            .map(str::to_string))
    };
    let mut out: Vec<Resource> = Vec::new();
    for i in 0..df.height() {
        let resource_id = s(&id, i)?.unwrap_or_default();
        if out.last().is_some_and(|r| r.resource_id == resource_id) {
            continue;
        }
        let tags = s(&tags, i)?
            .and_then(|t| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&t).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        let attributes = s(&attributes, i)?
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default();
        out.push(Resource {
            provider: s(&provider, i)?.unwrap_or_default(),
            account_id: s(&account, i)?,
            region_id: s(&region, i)?,
            resource_id,
            resource_type: s(&rtype, i)?.unwrap_or_default(),
            instance_type: s(&itype, i)?,
            state: s(&state, i)?,
            attached_to: s(&attached, i)?,
            lifecycle: s(&lifecycle, i)?,
            group: s(&group, i)?,
            launched_at: launched
                .get(i)
                .and_then(chrono::DateTime::from_timestamp_micros)
                .map(|t| t.naive_utc()),
            tags,
            platform: s(&platform, i)?,
            volume_type: s(&vtype, i)?,
            size_gib: size.get(i),
            iops: iops.get(i),
            boot: boot.get(i).unwrap_or(false),
            attributes,
        });
    }
    Ok(out)
}

// Polars' streaming group-by keeps the rows of a high-cardinality grouping
// until it ends (measured: 273 MB to group 10 M rows by 10,000 resources,
// 57 MB by 14 days). So the savings plans bound the rows each group-by sees,
// and still read the store's utilization once, not once per batch of
// resources (which made time grow with the square of the fleet: 10.4 s at
// 10,000 instances against 4.6 s now).

/// Daily means group one day at a time (that day's partitions only), this
/// many resources at a time: at most 20,000 × 24 hours × the metrics' rows.
pub const RESOURCES_PER_DAY_PASS: usize = 20_000;

/// Percentiles need every hour of the lookback: one read of the store
/// writes the metric's values, keyed by integer subject, to a scratch
/// Parquet file under the store, and the quantiles group that file this
/// many resources' worth of subjects at a time: at most 5,000 × 24 × the
/// lookback's days rows of 12 bytes.
pub const RESOURCES_PER_PASS: usize = 5_000;

/// One day of one metric of one resource: the mean of its hourly `avg`
/// and the hours it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyUse {
    pub day: NaiveDate,
    pub mean: f64,
    pub hours: u32,
}

/// Per (resource, metric), its days in `range`, oldest first.
pub type DailyUtilization = HashMap<(String, String), Vec<DailyUse>>;

fn metric_filter(metrics: &[&str]) -> Expr {
    metrics
        .iter()
        .map(|m| col("metric").eq(lit(*m)))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}

/// The daily means of `metrics` over `range` for the resources `ids`.
///
/// The group keys are integers (the resource's index in `ids`, the
/// metric's in `metrics`), joined on from small tables: string keys would
/// be views into the scanned batches and keep them alive, so memory would
/// grow with the dataset (measured: 565 MB for 5,000 instances' 14 days,
/// 1.04 GB for 10,000).
pub fn daily_utilization(
    store: &Store,
    range: DayRange,
    metrics: &[&str],
    ids: &[&str],
    analyzer: &str,
) -> Result<DailyUtilization, AnalyzeError> {
    daily_utilization_by(store, range, metrics, ids, analyzer, RESOURCES_PER_DAY_PASS)
}

/// [`daily_utilization`], `per_pass` resources a pass.
pub(crate) fn daily_utilization_by(
    store: &Store,
    range: DayRange,
    metrics: &[&str],
    ids: &[&str],
    analyzer: &str,
    per_pass: usize,
) -> Result<DailyUtilization, AnalyzeError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let metric_code =
        metrics
            .iter()
            .enumerate()
            .fold(lit(NULL).cast(DataType::UInt32), |acc, (i, m)| {
                when(col("metric").eq(lit(*m)))
                    .then(lit(i as u32))
                    .otherwise(acc)
            });
    let mut indexes = Vec::new();
    for (chunk, part) in ids.chunks(per_pass.max(1)).enumerate() {
        let first = (chunk * per_pass.max(1)) as u32;
        indexes.push(
            df!(
                "resource_id" => part,
                "rid" => (first..first + part.len() as u32).collect::<Vec<u32>>()
            )
            .map_err(frame_error(analyzer, "resource index"))?,
        );
    }
    let mut out: DailyUtilization = HashMap::new();
    for day in range.days() {
        let one_day = DayRange {
            start: day,
            end: day,
        };
        for index in &indexes {
            let plan = ts_in(
                store
                    .scan(Dataset::Utilization, Some(one_day))
                    .map_err(store_error(analyzer))?,
                one_day,
            )
            .filter(metric_filter(metrics).and(col("avg").is_not_null()))
            .select([
                col("resource_id"),
                metric_code.clone().alias("mid"),
                col("avg"),
            ])
            .join(
                index.clone().lazy(),
                [col("resource_id")],
                [col("resource_id")],
                JoinArgs {
                    build_side: Some(JoinBuildSide::ForceRight),
                    ..JoinArgs::new(JoinType::Inner)
                },
            )
            .group_by([col("rid"), col("mid")])
            .agg([col("avg").mean().alias("mean"), len().alias("hours")]);
            let df = collect_streaming(plan).map_err(frame_error(analyzer, "daily utilization"))?;
            let mut read = || -> PolarsResult<()> {
                let rid = df.column("rid")?.u32()?;
                let mid = df.column("mid")?.u32()?;
                let mean = df.column("mean")?.f64()?;
                let hours = df.column("hours")?.cast(&DataType::UInt32)?;
                let hours = hours.u32()?;
                for i in 0..df.height() {
                    let (Some(r), Some(m), Some(v)) = (rid.get(i), mid.get(i), mean.get(i)) else {
                        continue;
                    };
                    let (Some(id), Some(metric)) = (ids.get(r as usize), metrics.get(m as usize))
                    else {
                        continue;
                    };
                    out.entry((id.to_string(), metric.to_string()))
                        .or_default()
                        .push(DailyUse {
                            day,
                            mean: v,
                            hours: hours.get(i).unwrap_or(0),
                        });
                }
                Ok(())
            };
            read().map_err(frame_error(analyzer, "daily utilization"))?;
        }
    }
    // Days were read oldest first, so each (resource, metric) is in order.
    Ok(out)
}

/// Per (resource, metric): hours with a value, and hours below a limit.
pub type HoursBelow = HashMap<(String, String), (u32, u32)>;

/// Per (resource, metric) of `limits` (resource, metric, limit): the hours
/// with a value in `range`, and how many of them are below the limit. One
/// Polars pass over the utilization; only the counts reach Rust.
pub fn hours_below(
    store: &Store,
    range: DayRange,
    limits: &[(String, &'static str, f64)],
    analyzer: &str,
) -> Result<HoursBelow, AnalyzeError> {
    if limits.is_empty() {
        return Ok(HashMap::new());
    }
    let limits_df = df!(
        "resource_id" => limits.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        "metric" => limits.iter().map(|l| l.1).collect::<Vec<_>>(),
        "limit" => limits.iter().map(|l| l.2).collect::<Vec<_>>()
    )
    .map_err(frame_error(analyzer, "hourly limits"))?;
    let metrics: Vec<&str> = limits
        .iter()
        .map(|l| l.1)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let plan = ts_in(
        store
            .scan(Dataset::Utilization, Some(range))
            .map_err(store_error(analyzer))?,
        range,
    )
    .filter(metric_filter(&metrics).and(col("avg").is_not_null()))
    .select([col("resource_id"), col("metric"), col("avg")])
    .join(
        limits_df.lazy(),
        [col("resource_id"), col("metric")],
        [col("resource_id"), col("metric")],
        JoinArgs {
            build_side: Some(JoinBuildSide::ForceRight),
            ..JoinArgs::new(JoinType::Inner)
        },
    )
    .group_by([col("resource_id"), col("metric")])
    .agg([
        len().cast(DataType::UInt32).alias("hours"),
        col("avg")
            .lt(col("limit"))
            .cast(DataType::UInt32)
            .sum()
            .alias("below"),
    ]);
    let df = collect_streaming(plan).map_err(frame_error(analyzer, "hours below limits"))?;
    let read = || -> PolarsResult<HoursBelow> {
        let id = df.column("resource_id")?.str()?;
        let metric = df.column("metric")?.str()?;
        let hours = df.column("hours")?.u32()?;
        let below = df.column("below")?.u32()?;
        Ok((0..df.height())
            .filter_map(|i| {
                Some((
                    (id.get(i)?.to_string(), metric.get(i)?.to_string()),
                    (hours.get(i)?, below.get(i).unwrap_or(0)),
                ))
            })
            .collect())
    };
    read().map_err(frame_error(analyzer, "hours below limits"))
}

/// A Compute Engine machine type's vCPUs: a custom type's from the
/// inventory's `custom_vcpus`, a shared-core type's (`e2-micro`, `f1-micro`,
/// ...) as `machineTypes.list` states them, else the number ending the name
/// (`n2-standard-8`: 8, `c3-standard-4-lssd`: 4), as GCP names predefined
/// types. `None` when the name does not say.
pub fn gcp_vcpus(
    machine: &str,
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> Option<f64> {
    if let Some(v) = attributes.get("custom_vcpus").and_then(|v| v.as_f64()) {
        return Some(v);
    }
    match machine {
        "e2-micro" | "e2-small" | "e2-medium" => return Some(2.0),
        "f1-micro" | "g1-small" => return Some(1.0),
        _ => {}
    }
    let name = machine.trim_end_matches("-lssd").trim_end_matches("-metal");
    name.rsplit('-')
        .next()?
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .map(f64::from)
}

/// A percentile of hourly values and the hours it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentile {
    pub value: f64,
    pub hours: u32,
}

/// Per subject, the `q` quantile (linear interpolation, as numpy's
/// default) of the hourly maximum of `metric` (the hour's `avg` where the
/// source gave no maximum) over `range`, pooling the resources that
/// `subject_of` maps to one subject (an Auto Scaling group's members).
pub fn hourly_percentile(
    store: &Store,
    range: DayRange,
    metric: &str,
    q: f64,
    subject_of: &BTreeMap<String, String>,
    analyzer: &str,
) -> Result<HashMap<String, Percentile>, AnalyzeError> {
    hourly_percentile_by(
        store,
        range,
        metric,
        q,
        subject_of,
        analyzer,
        RESOURCES_PER_PASS,
    )
}

/// [`hourly_percentile`], `per_pass` resources' worth of subjects a pass.
pub(crate) fn hourly_percentile_by(
    store: &Store,
    range: DayRange,
    metric: &str,
    q: f64,
    subject_of: &BTreeMap<String, String>,
    analyzer: &str,
    per_pass: usize,
) -> Result<HashMap<String, Percentile>, AnalyzeError> {
    if subject_of.is_empty() {
        return Ok(HashMap::new());
    }
    // Subjects by index: an integer group key (see `daily_utilization`).
    let names: Vec<&str> = subject_of
        .values()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index_of: HashMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i as u32))
        .collect();
    // A pass per `RESOURCES_PER_PASS` resources' worth of subjects (see
    // there); a subject's members are in one pass.
    let mut passes: Vec<(Vec<&str>, Vec<u32>)> = Vec::new();
    let mut members: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for (r, s) in subject_of {
        members
            .entry(index_of[s.as_str()])
            .or_default()
            .push(r.as_str());
    }
    for (sid, rs) in members {
        if passes
            .last()
            .is_none_or(|(ids, _)| ids.len() + rs.len() > per_pass)
        {
            passes.push((Vec::new(), Vec::new()));
        }
        let (ids, sids) = passes.last_mut().expect("a pass was pushed");
        sids.extend(std::iter::repeat_n(sid, rs.len()));
        ids.extend(rs);
    }
    // One read of the store: every subject's values, as (sid, value).
    let all_ids: Vec<&str> = passes
        .iter()
        .flat_map(|(ids, _)| ids.iter().copied())
        .collect();
    let all_sids: Vec<u32> = passes
        .iter()
        .flat_map(|(_, sids)| sids.iter().copied())
        .collect();
    let subjects = df!("resource_id" => all_ids, "sid" => all_sids)
        .map_err(frame_error(analyzer, "subjects"))?;
    let scratch = Scratch::new(store, analyzer)?;
    let values = scratch.path("values.parquet");
    let spill = ts_in(
        store
            .scan(Dataset::Utilization, Some(range))
            .map_err(store_error(analyzer))?,
        range,
    )
    .filter(col("metric").eq(lit(metric)))
    .select([
        col("resource_id"),
        coalesce(&[col("max"), col("avg")]).alias("value"),
    ])
    .filter(col("value").is_not_null())
    .join(
        subjects.lazy(),
        [col("resource_id")],
        [col("resource_id")],
        JoinArgs {
            build_side: Some(JoinBuildSide::ForceRight),
            ..JoinArgs::new(JoinType::Inner)
        },
    )
    .select([col("sid"), col("value")]);
    sink_parquet(spill, &values).map_err(frame_error(analyzer, "hourly values"))?;
    let mut out = HashMap::new();
    for (_, sids) in passes {
        let (Some(&lo), Some(&hi)) = (sids.first(), sids.last()) else {
            continue;
        };
        let plan = LazyFrame::scan_parquet(
            PlRefPath::new(values.to_string_lossy().into_owned()),
            ScanArgsParquet::default(),
        )
        .map_err(frame_error(analyzer, "hourly values"))?
        .filter(col("sid").gt_eq(lit(lo)).and(col("sid").lt_eq(lit(hi))))
        .group_by([col("sid")])
        .agg([
            col("value")
                .quantile(lit(q), QuantileMethod::Linear)
                .alias("p"),
            len().alias("hours"),
        ]);
        let df = collect_streaming(plan).map_err(frame_error(analyzer, "hourly percentile"))?;
        let mut read = || -> PolarsResult<()> {
            let sid = df.column("sid")?.u32()?;
            let p = df.column("p")?.cast(&DataType::Float64)?;
            let p = p.f64()?;
            let hours = df.column("hours")?.cast(&DataType::UInt32)?;
            let hours = hours.u32()?;
            for i in 0..df.height() {
                if let (Some(s), Some(v)) =
                    (sid.get(i).and_then(|s| names.get(s as usize)), p.get(i))
                {
                    out.insert(
                        s.to_string(),
                        Percentile {
                            value: v,
                            hours: hours.get(i).unwrap_or(0),
                        },
                    );
                }
            }
            Ok(())
        };
        read().map_err(frame_error(analyzer, "hourly percentile"))?;
    }
    Ok(out)
}

/// A scratch directory under the store (`.scratch-*`, beside the datasets'
/// directories, so on the store's disk rather than a possibly memory-backed
/// `/tmp`), removed when dropped.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(store: &Store, analyzer: &str) -> Result<Scratch, AnalyzeError> {
        let dir = tempfile::Builder::new()
            .prefix(".scratch-")
            .tempdir_in(store.root())
            .map_err(|e| AnalyzeError::Frame {
                analyzer: analyzer.to_string(),
                message: format!(
                    "creating a scratch directory in {}: {e}",
                    store.root().display()
                ),
            })?;
        Ok(Scratch { dir })
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

/// Streams `plan` into a Parquet file.
fn sink_parquet(plan: LazyFrame, path: &std::path::Path) -> PolarsResult<()> {
    plan.sink(
        SinkDestination::File {
            target: SinkTarget::Path(PlRefPath::new(path.to_string_lossy().into_owned())),
        },
        FileWriteFormat::Parquet(Default::default()),
        UnifiedSinkArgs::default(),
    )?
    .collect_with_engine(Engine::Streaming)?;
    Ok(())
}

/// A subject's own effective cost over the lookback.
#[derive(Debug, Clone, PartialEq)]
pub struct BilledCost {
    pub cost: f64,
    pub days: u32,
    pub currency: String,
}

impl BilledCost {
    /// The cost per month of 730 hours, from the days it was billed.
    pub fn monthly(&self) -> f64 {
        self.cost / f64::from(self.days.max(1)) * HOURS_PER_MONTH / 24.0
    }
}

/// Per subject, the effective cost of the resources `subject_of` maps to
/// it (by resource id or ARN) over `range`. Subjects whose rows are in
/// more than one currency are left out (amounts are never added across
/// currencies).
pub fn billed_costs(
    store: &Store,
    range: DayRange,
    resources: &[(&Resource, String)],
    analyzer: &str,
) -> Result<HashMap<String, BilledCost>, AnalyzeError> {
    // Subjects by index: an integer group key (see `daily_utilization`).
    let mut names: Vec<&str> = Vec::new();
    let mut index_of: HashMap<&str, u32> = HashMap::new();
    let mut keys = Vec::new();
    let mut sids = Vec::new();
    for (r, subject) in resources {
        let sid = *index_of.entry(subject.as_str()).or_insert_with(|| {
            names.push(subject.as_str());
            names.len() as u32 - 1
        });
        for key in r.cost_keys() {
            keys.push(key);
            sids.push(sid);
        }
    }
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let map =
        df!("resource_id" => keys, "sid" => sids).map_err(frame_error(analyzer, "cost keys"))?;
    let ts = col(Dataset::Cost.time_column());
    let plan = store
        .scan(Dataset::Cost, Some(range))
        .map_err(store_error(analyzer))?
        .filter(on_days(Dataset::Cost.time_column(), range).and(col("resource_id").is_not_null()))
        .select([
            col("resource_id"),
            col("effective_cost"),
            col("billing_currency"),
            ts.dt().date().alias("day"),
        ])
        .join(
            map.lazy(),
            [col("resource_id")],
            [col("resource_id")],
            JoinArgs {
                build_side: Some(JoinBuildSide::ForceRight),
                ..JoinArgs::new(JoinType::Inner)
            },
        )
        .group_by([col("sid"), col("billing_currency")])
        .agg([
            exact_sum(col("effective_cost")).alias("cost"),
            col("day").n_unique().alias("days"),
        ]);
    let df = collect_streaming(plan).map_err(frame_error(analyzer, "billed cost"))?;
    let read = || -> PolarsResult<HashMap<String, BilledCost>> {
        let sid = df.column("sid")?.u32()?;
        let currency = df.column("billing_currency")?.str()?;
        let cost = df.column("cost")?.f64()?;
        let days = df.column("days")?.cast(&DataType::UInt32)?;
        let days = days.u32()?;
        let mut out: HashMap<String, BilledCost> = HashMap::new();
        let mut mixed = BTreeSet::new();
        for i in 0..df.height() {
            let (Some(s), Some(c)) = (
                sid.get(i).and_then(|s| names.get(s as usize)),
                currency.get(i),
            ) else {
                continue;
            };
            let billed = BilledCost {
                cost: cost.get(i).unwrap_or(0.0),
                days: days.get(i).unwrap_or(0),
                currency: c.to_string(),
            };
            if out.insert(s.to_string(), billed).is_some() {
                mixed.insert(s.to_string());
            }
        }
        for s in mixed {
            out.remove(&s);
        }
        Ok(out)
    };
    read().map_err(frame_error(analyzer, "billed cost"))
}

/// The latest price of each (provider, region, type, purchase option,
/// zone) read up to the lookback's end, Linux only (the rules price Linux
/// shared tenancy; other platforms keep their billed cost basis).
#[derive(Debug, Default)]
pub struct PriceBook {
    /// provider → region → type → purchase option → prices (one per zone);
    /// nested so that a lookup by `&str` allocates nothing.
    prices: Nested<Nested<Nested<Nested<Vec<Price>>>>>,
}

/// One level of [`PriceBook`]'s keys.
type Nested<T> = HashMap<String, T>;

/// One price.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub availability_zone: Option<String>,
    pub per_hour: f64,
    pub currency: String,
    pub source: String,
}

impl PriceBook {
    pub fn load(store: &Store, until: NaiveDate, analyzer: &str) -> Result<Self, AnalyzeError> {
        let end = (until + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists");
        let keys = [
            "provider",
            "region_id",
            "instance_type",
            "purchase_option",
            "availability_zone",
        ];
        let latest_of_key = col("ts")
            .max()
            .over(keys.map(col))
            .map_err(frame_error(analyzer, "prices"))?;
        let plan = store
            .scan(Dataset::Prices, None)
            .map_err(store_error(analyzer))?
            .filter(
                col("ts")
                    .lt(lit(end).dt().cast_time_unit(TimeUnit::Microseconds))
                    .and(col("operating_system").eq(lit("linux"))),
            )
            .filter(col("ts").eq(latest_of_key))
            .select([
                col("provider"),
                col("region_id"),
                col("instance_type"),
                col("purchase_option"),
                col("availability_zone"),
                col("price_per_hour"),
                col("currency"),
                col("price_source"),
            ])
            .sort(keys, SortMultipleOptions::default().with_nulls_last(true));
        let df = collect_streaming(plan).map_err(frame_error(analyzer, "prices"))?;
        let read = || -> PolarsResult<PriceBook> {
            let t = |n: &str| -> PolarsResult<StringChunked> { Ok(df.column(n)?.str()?.clone()) };
            let (provider, region, itype, option, zone, currency, source) = (
                t("provider")?,
                t("region_id")?,
                t("instance_type")?,
                t("purchase_option")?,
                t("availability_zone")?,
                t("currency")?,
                t("price_source")?,
            );
            let price = df.column("price_per_hour")?.f64()?;
            let mut book = PriceBook::default();
            for i in 0..df.height() {
                let key = [&provider, &region, &itype, &option]
                    .map(|c| c.get(i).unwrap_or_default().to_string());
                let [p, r, ty, o] = key;
                book.prices
                    .entry(p)
                    .or_default()
                    .entry(r)
                    .or_default()
                    .entry(ty)
                    .or_default()
                    .entry(o)
                    .or_default()
                    .push(Price {
                        availability_zone: zone.get(i).map(str::to_string),
                        per_hour: price.get(i).unwrap_or(f64::NAN),
                        currency: currency.get(i).unwrap_or_default().to_string(),
                        source: source.get(i).unwrap_or_default().to_string(),
                    });
            }
            Ok(book)
        };
        read().map_err(frame_error(analyzer, "prices"))
    }

    fn of(
        &self,
        provider: &str,
        region: &str,
        instance_type: &str,
        option: &str,
    ) -> Option<&[Price]> {
        self.prices
            .get(provider)?
            .get(region)?
            .get(instance_type)?
            .get(option)
            .map(Vec::as_slice)
    }

    /// The on-demand price of a type in a region.
    pub fn on_demand(&self, provider: &str, region: &str, instance_type: &str) -> Option<&Price> {
        self.of(provider, region, instance_type, "on_demand")?
            .iter()
            .find(|p| p.per_hour.is_finite())
    }

    /// The spot price in `zone`, or where the zone is unknown or has none,
    /// the highest of the region's zones (the conservative saving).
    pub fn spot(
        &self,
        provider: &str,
        region: &str,
        instance_type: &str,
        zone: Option<&str>,
    ) -> Option<&Price> {
        let prices = self.of(provider, region, instance_type, "spot")?;
        let finite = prices.iter().filter(|p| p.per_hour.is_finite());
        zone.and_then(|z| {
            finite
                .clone()
                .find(|p| p.availability_zone.as_deref() == Some(z))
        })
        .or_else(|| finite.max_by(|a, b| a.per_hour.total_cmp(&b.per_hour)))
    }
}

/// The saving of removing or changing a resource: from its billed cost
/// where the store has one, else from `price_per_hour` × 730 × `count`;
/// `None` when neither is known. `fraction` is the share saved, with where
/// it came from.
pub fn saving(
    billed: Option<&BilledCost>,
    price: Option<(f64, &str, &str)>,
    count: u32,
    fraction: f64,
    fraction_from: &str,
    proposed_price_per_hour: Option<f64>,
) -> Option<Saving> {
    let (basis, current_monthly, currency) = match (billed, price) {
        (Some(b), _) => (SavingBasis::BilledCost, b.monthly(), b.currency.clone()),
        (None, Some((per_hour, currency, _))) => (
            SavingBasis::Price,
            per_hour * HOURS_PER_MONTH * f64::from(count),
            currency.to_string(),
        ),
        (None, None) => return None,
    };
    Some(Saving {
        monthly: round_cents(current_monthly * fraction),
        currency,
        basis,
        current_monthly: round_cents(current_monthly),
        fraction,
        fraction_from: fraction_from.to_string(),
        billed_days: billed.map(|b| b.days),
        billed_cost: billed.map(|b| b.cost),
        price_per_hour: price.map(|p| p.0),
        proposed_price_per_hour,
        price_source: price.map(|p| p.2.to_string()),
    })
}

/// Money to the cent, as every saving is stated.
pub fn round_cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A list price an analyzer's config may set, for resources the `prices`
/// dataset does not cover (volumes, addresses, load balancers).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListPrice {
    pub per_hour: f64,
    #[serde(default = "usd")]
    pub currency: String,
}

fn usd() -> String {
    "USD".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_730_hours_of_the_days_billed() {
        let b = BilledCost {
            cost: 2.304 * 14.0,
            days: 14,
            currency: "USD".into(),
        };
        assert!((b.monthly() - 70.08).abs() < 1e-9);
        let s = saving(
            Some(&b),
            Some((0.096, "USD", "x")),
            1,
            0.5,
            "prices",
            Some(0.048),
        )
        .unwrap();
        assert_eq!(s.basis, SavingBasis::BilledCost);
        assert_eq!(s.monthly, 35.04);
        let s = saving(None, Some((0.096, "USD", "x")), 2, 1.0, "removed", None).unwrap();
        assert_eq!(s.basis, SavingBasis::Price);
        assert_eq!(s.monthly, 140.16);
        assert!(saving(None, None, 1, 1.0, "removed", None).is_none());
    }
}
