//! `gcp_monitoring`: hourly utilization of Compute Engine VMs from Cloud
//! Monitoring, into the `utilization` dataset, the metrics GCP's own
//! idle-VM and machine-type recommenders read.
//!
//! Plain REST (`projects.timeSeries.list` of the Monitoring API v3,
//! <https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list>)
//! with `google-cloud-auth`'s credentials, per configured project, aligned
//! to the hour (`aggregation.alignmentPeriod = 3600s`) over the
//! `lookback_days` complete days ending yesterday (or `--since..--until`):
//!
//! | metric | Cloud Monitoring type | aligners | unit |
//! |---|---|---|---|
//! | `cpu_utilization` | `compute.googleapis.com/instance/cpu/utilization` | `ALIGN_MEAN`, `ALIGN_MAX` | percent of the VM's vCPUs (the fraction × 100, as CloudWatch's) |
//! | `memory_utilization` | `agent.googleapis.com/memory/percent_used` (`state = "used"`; the Ops Agent, where installed) | `ALIGN_MEAN`, `ALIGN_MAX` | percent |
//! | `network_in_bytes` | `compute.googleapis.com/instance/network/received_bytes_count` | `ALIGN_RATE` | bytes per second (no max: the rate is the hour's) |
//! | `network_out_bytes` | `compute.googleapis.com/instance/network/sent_bytes_count` | `ALIGN_RATE` | bytes per second |
//!
//! `resource_id` is the VM's name (the `instance_name` metric label), as
//! `gcp_compute_inventory` and the billing export name it; each aligned
//! point is one sample. Paging, retries, a refused project and a malformed
//! page as in `gcp_compute_inventory`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::resource_rows::{RowsBuilder, UtilizationRow};

use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;
use crate::gcp::{GcpCredentials, ProjectError, RestApi};

const API: &str = "monitoring.googleapis.com";
const DEFAULT_ENDPOINT: &str = "https://monitoring.googleapis.com";
const MAX_PAGES: usize = 10_000;

/// What is read: our metric, Cloud Monitoring's type and extra filter,
/// the aligners for `avg` and `max`, and the factor to our unit.
struct Series {
    metric: &'static str,
    gcp_type: &'static str,
    filter: &'static str,
    avg: &'static str,
    max: Option<&'static str>,
    scale: f64,
}

const SERIES: [Series; 4] = [
    Series {
        metric: "cpu_utilization",
        gcp_type: "compute.googleapis.com/instance/cpu/utilization",
        filter: "",
        avg: "ALIGN_MEAN",
        max: Some("ALIGN_MAX"),
        scale: 100.0,
    },
    Series {
        metric: "memory_utilization",
        gcp_type: "agent.googleapis.com/memory/percent_used",
        filter: " AND metric.labels.state = \"used\"",
        avg: "ALIGN_MEAN",
        max: Some("ALIGN_MAX"),
        scale: 1.0,
    },
    Series {
        metric: "network_in_bytes",
        gcp_type: "compute.googleapis.com/instance/network/received_bytes_count",
        filter: "",
        avg: "ALIGN_RATE",
        max: None,
        scale: 1.0,
    },
    Series {
        metric: "network_out_bytes",
        gcp_type: "compute.googleapis.com/instance/network/sent_bytes_count",
        filter: "",
        avg: "ALIGN_RATE",
        max: None,
        scale: 1.0,
    },
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcpMonitoringConfig {
    projects: Vec<String>,
    credentials_file: Option<String>,
    #[serde(default)]
    anonymous: bool,
    /// Overrides `https://monitoring.googleapis.com`.
    endpoint_url: Option<String>,
    /// Complete days read each run (the recommenders read 14). Default 14.
    #[serde(default = "default_lookback_days")]
    lookback_days: u32,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_lookback_days() -> u32 {
    14
}

fn default_max_attempts() -> u32 {
    5
}

fn default_timeout() -> u64 {
    60
}

#[derive(Debug)]
pub struct GcpMonitoring {
    name: String,
    config: GcpMonitoringConfig,
    credentials: GcpCredentials,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let parsed: GcpMonitoringConfig = config.parse()?;
    crate::gcp_compute_inventory::check_projects(config, &parsed.projects)?;
    crate::gcp::check_rest(
        config,
        &[("endpoint_url", &parsed.endpoint_url)],
        parsed.max_attempts,
    )?;
    if !(1..=42).contains(&parsed.lookback_days) {
        return Err(config.error(
            Some("lookback_days"),
            "must be 1 to 42 (Cloud Monitoring keeps six weeks)",
        ));
    }
    let credentials =
        GcpCredentials::from_config(config, parsed.credentials_file.as_deref(), parsed.anonymous)?;
    Ok(Box::new(GcpMonitoring {
        name: config.name.clone(),
        config: parsed,
        credentials,
    }))
}

/// Per (VM, hour): avg and max.
type Hours = BTreeMap<(String, NaiveDateTime), (Option<f64>, Option<f64>)>;

impl GcpMonitoring {
    /// Every aligned point of `s` in `project` with `aligner`, into `hours`
    /// (`max` or not).
    #[allow(clippy::too_many_arguments)]
    async fn read(
        &self,
        rest: &RestApi,
        project: &str,
        s: &Series,
        aligner: &str,
        is_max: bool,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        hours: &mut Hours,
        report: &mut CollectReport,
    ) -> Result<(), ProjectError> {
        let url = format!(
            "{}/v3/projects/{project}/timeSeries",
            self.config
                .endpoint_url
                .as_deref()
                .unwrap_or(DEFAULT_ENDPOINT)
                .trim_end_matches('/')
        );
        let what = format!(
            "project `{project}`, timeSeries.list {} {aligner}",
            s.gcp_type
        );
        let bad = |page: usize, message: String| {
            ProjectError::Failed(CollectError::BadResponse {
                api: API,
                page,
                message: format!("{what}: {message}"),
            })
        };
        let mut token: Option<String> = None;
        for page in 1..=MAX_PAGES {
            let mut query = vec![
                (
                    "filter",
                    format!(
                        "metric.type = \"{}\" AND resource.type = \"gce_instance\"{}",
                        s.gcp_type, s.filter
                    ),
                ),
                ("interval.startTime", start.to_rfc3339()),
                ("interval.endTime", end.to_rfc3339()),
                ("aggregation.alignmentPeriod", "3600s".to_string()),
                ("aggregation.perSeriesAligner", aligner.to_string()),
                ("pageSize", "1000".to_string()),
            ];
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let body = rest.get_json(page, &what, &url, &query).await?;
            report.pages += 1;
            let series = match body.get("timeSeries") {
                None => &[][..],
                Some(Value::Array(list)) => list.as_slice(),
                Some(_) => return Err(bad(page, "`timeSeries` is not a list".into())),
            };
            for ts in series {
                let Some(vm) = ts["metric"]["labels"]["instance_name"].as_str() else {
                    report.warnings.push(format!(
                        "{what}: a series without `metric.labels.instance_name`, left out"
                    ));
                    continue;
                };
                let Some(points) = ts["points"].as_array() else {
                    return Err(bad(
                        page,
                        format!("series of `{vm}`: `points` is not a list"),
                    ));
                };
                for p in points {
                    let end = p["interval"]["endTime"]
                        .as_str()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .ok_or_else(|| {
                            bad(
                                page,
                                format!("series of `{vm}`: a point without `interval.endTime`"),
                            )
                        })?;
                    let value = &p["value"];
                    let v = value["doubleValue"]
                        .as_f64()
                        .or_else(|| value["int64Value"].as_str().and_then(|s| s.parse().ok()))
                        .or_else(|| value["int64Value"].as_f64())
                        .ok_or_else(|| {
                            bad(page, format!("series of `{vm}`: a point without a number"))
                        })?;
                    let hour = (end.with_timezone(&Utc) - chrono::Duration::hours(1)).naive_utc();
                    let slot = hours.entry((vm.to_string(), hour)).or_default();
                    if is_max {
                        slot.1 = Some(v * s.scale);
                    } else {
                        slot.0 = Some(v * s.scale);
                    }
                }
            }
            token = crate::collector::next_page(body.get("nextPageToken").and_then(Value::as_str));
            if token.is_none() {
                return Ok(());
            }
        }
        Err(bad(MAX_PAGES, format!("more than {MAX_PAGES} pages")))
    }
}

#[async_trait]
impl Collector for GcpMonitoring {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "gcp_monitoring"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Utilization
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let mut report = CollectReport::default();
        let Some(days) = window.days_or_last(self.config.lookback_days) else {
            return Ok(Collected {
                days: Some(Default::default()),
                report,
            });
        };
        let start = days.start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let end = (days.end + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        let rest = RestApi::new(
            API,
            &self.credentials,
            self.config.timeout_secs,
            self.config.max_attempts,
        )?;
        let mut rows = RowsBuilder::<UtilizationRow>::new();
        let mut read = 0;
        'projects: for project in &self.config.projects {
            let mut found: Vec<UtilizationRow> = Vec::new();
            for s in &SERIES {
                let mut hours = Hours::new();
                for (aligner, is_max) in
                    std::iter::once((s.avg, false)).chain(s.max.map(|m| (m, true)))
                {
                    match self
                        .read(
                            &rest,
                            project,
                            s,
                            aligner,
                            is_max,
                            (start, end),
                            &mut hours,
                            &mut report,
                        )
                        .await
                    {
                        Ok(()) => {}
                        Err(ProjectError::Denied(message)) => {
                            tracing::warn!(
                                collector = self.name,
                                "project `{project}`: access refused, skipped: {message}"
                            );
                            report.warnings.push(format!(
                                "project `{project}`: access refused, skipped: {message}"
                            ));
                            continue 'projects;
                        }
                        Err(ProjectError::Failed(e)) => return Err(e),
                    }
                }
                found.extend(
                    hours
                        .into_iter()
                        .map(|((vm, ts), (avg, max))| UtilizationRow {
                            ts,
                            resource_id: vm,
                            metric: s.metric.to_string(),
                            avg,
                            max,
                            samples: 1,
                        }),
                );
            }
            read += 1;
            for row in found.into_iter().filter(|r| days.contains(r.ts.date())) {
                rows.push(row);
            }
        }
        if read == 0 {
            return Err(CollectError::Credentials {
                api: API,
                message: format!("no project could be read: {}", report.warnings.join("; ")),
            });
        }
        out.send(rows.take(&self.name)?).await?;
        report.rows = out.rows();
        Ok(Collected {
            days: Some(days.days().collect()),
            report,
        })
    }
}
