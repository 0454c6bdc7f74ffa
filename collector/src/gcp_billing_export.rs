//! `gcp_billing_export`: the Cloud Billing export to BigQuery, standard
//! (`gcp_billing_export_v1_*`) or detailed (`gcp_billing_export_resource_v1_*`).
//!
//! The client is `google-cloud-bigquery`, Google's own Rust client: it runs
//! queries as jobs through the BigQuery v2 REST API, pages through the
//! results, retries transient failures, takes an endpoint override (which is
//! how tests point it at bqemulator) and any `google-cloud-auth` credentials.
//! (Its sibling `google-cloud-bigquery-v2` is the raw generated API, with no
//! job polling or typed rows; the Storage Read API would move line items,
//! where one aggregating query moves a few thousand day-level rows.)
//!
//! The aggregation is pushed down into the query: one row per day, billing
//! account, project, service, SKU, region, cost type and label set (and
//! resource, for the detailed table), with the credits of each line item
//! summed. A filter on `_PARTITIONTIME` (the export's ingestion-time
//! partitions; a line item is never exported before its usage starts)
//! limits the scan to the window's partitions onward.
//!
//! `billed_cost` is the cost before credits. Credits (sustained and committed
//! use discounts, promotions, free tier) are in `effective_cost`: each group
//! with credits gets a second row, `charge_category = "Credit"`, with its
//! credits as `effective_cost` and zero `billed_cost`, so credits can be
//! shown on their own and every total of effective cost includes them.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use google_cloud_bigquery::client::BigQuery;
use google_cloud_bigquery::query::Row;
use google_cloud_bigquery::query::retry_policy::RetryableErrors;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::RetryPolicyExt;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::period::DayRange;

use crate::aws;
use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;
use crate::gcp::GcpCredentials;
use vitals_core::cost_rows::{CostFrameBuilder, CostRow, tags_json};

const API: &str = "BigQuery";
const DETAILED_PREFIX: &str = "gcp_billing_export_resource_v1_";

/// `[collectors.NAME] type = "gcp_billing_export"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcpBillingExportConfig {
    /// The export table: `project.dataset.gcp_billing_export_v1_XXXXXX_XXXXXX_XXXXXX`
    /// (standard) or `project.dataset.gcp_billing_export_resource_v1_...` (detailed).
    table: String,
    /// The project that runs (and pays for) the query jobs. Default: the table's.
    job_project: Option<String>,
    /// Group by resource too. Default: true for `gcp_billing_export_resource_v1_*` tables.
    detailed: Option<bool>,
    /// Complete days, ending yesterday (UTC), that each run re-collects and
    /// replaces: billing data for a day keeps arriving for a few days. Default 5.
    #[serde(default = "default_lookback_days")]
    lookback_days: u32,
    /// Override of the BigQuery endpoint (tests, private endpoints).
    endpoint_url: Option<String>,
    /// A JSON key file (service account, authorized user or external account)
    /// instead of application default credentials.
    credentials_file: Option<String>,
    /// Send no credentials (emulators).
    #[serde(default)]
    anonymous: bool,
    /// Attempts per API call, the first included (429, 5xx, timeouts). Default 5.
    #[serde(default = "aws::default_max_attempts")]
    max_attempts: u32,
}

fn default_lookback_days() -> u32 {
    5
}

/// A `project.dataset.table` identifier, checked so it can be quoted in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TableId {
    project: String,
    dataset: String,
    table: String,
}

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.project, self.dataset, self.table)
    }
}

impl TableId {
    fn parse(text: &str) -> Result<TableId, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let [project, dataset, table] = parts[..] else {
            return Err(format!("`{text}` is not `project.dataset.table`"));
        };
        let project_ok = !project.is_empty()
            && project
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == ':');
        let name_ok =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !project_ok {
            return Err(format!(
                "`{project}` is not a project id (lowercase letters, digits, `-`)"
            ));
        }
        if !name_ok(dataset) || !name_ok(table) {
            return Err(format!(
                "`{dataset}.{table}`: dataset and table names are letters, digits and `_`"
            ));
        }
        Ok(TableId {
            project: project.to_string(),
            dataset: dataset.to_string(),
            table: table.to_string(),
        })
    }
}

#[derive(Debug)]
pub struct GcpBillingExport {
    name: String,
    table: TableId,
    job_project: String,
    detailed: bool,
    lookback_days: u32,
    endpoint_url: Option<String>,
    credentials: GcpCredentials,
    max_attempts: u32,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    Ok(Box::new(GcpBillingExport::new(config)?))
}

impl GcpBillingExport {
    /// Checks the config (no I/O).
    fn new(config: &ComponentConfig) -> Result<GcpBillingExport, ConfigErrors> {
        let c: GcpBillingExportConfig = config.parse()?;
        let table = TableId::parse(&c.table).map_err(|e| config.error(Some("table"), e))?;
        if !(1..=400).contains(&c.lookback_days) {
            return Err(config.error(Some("lookback_days"), "must be between 1 and 400"));
        }
        aws::check(config, c.endpoint_url.as_deref(), c.max_attempts)?;
        let credentials =
            GcpCredentials::from_config(config, c.credentials_file.as_deref(), c.anonymous)?;
        Ok(GcpBillingExport {
            name: config.name.clone(),
            job_project: c.job_project.unwrap_or_else(|| table.project.clone()),
            detailed: c
                .detailed
                .unwrap_or_else(|| table.table.starts_with(DETAILED_PREFIX)),
            table,
            lookback_days: c.lookback_days,
            endpoint_url: c.endpoint_url,
            credentials,
            max_attempts: c.max_attempts,
        })
    }

    /// `--since`/`--until` when given, else the last `lookback_days` complete days.
    fn days(&self, window: CollectWindow) -> Option<DayRange> {
        window.days_or_last(self.lookback_days)
    }

    /// The one aggregating query over `days`.
    fn sql(&self, days: DayRange) -> String {
        let t = &self.table;
        let resource = if self.detailed {
            "resource.name"
        } else {
            "CAST(NULL AS STRING)"
        };
        format!(
            "SELECT
  CAST(DATE(usage_start_time) AS STRING) AS day,
  billing_account_id,
  project.id AS project_id,
  project.name AS project_name,
  service.description AS service,
  sku.id AS sku_id,
  location.region AS region,
  {resource} AS resource_name,
  currency,
  cost_type,
  TO_JSON_STRING(labels) AS labels,
  SUM(cost) AS cost,
  SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS credits,
  SUM(cost_at_list) AS list_cost,
  SUM(usage.amount_in_pricing_units) AS pricing_quantity,
  MAX(usage.pricing_unit) AS pricing_unit
FROM `{}.{}.{}`
WHERE _PARTITIONTIME >= TIMESTAMP('{}')
  AND usage_start_time >= TIMESTAMP('{}')
  AND usage_start_time < TIMESTAMP('{}')
GROUP BY day, billing_account_id, project_id, project_name, service, sku_id, region, resource_name, currency, cost_type, labels",
            t.project,
            t.dataset,
            t.table,
            days.start - Duration::days(1),
            days.start,
            days.end + Duration::days(1),
        )
    }

    async fn client(&self) -> Result<BigQuery, CollectError> {
        let credentials = self.credentials.build(API)?;
        let backoff = ExponentialBackoffBuilder::default()
            .with_initial_delay(StdDuration::from_millis(200))
            .with_maximum_delay(StdDuration::from_secs(20))
            .with_scaling(2.0)
            .build()
            .map_err(|e| CollectError::Task(format!("backoff policy: {e}")))?;
        let mut builder = BigQuery::builder()
            .with_project_id(&self.job_project)
            .with_credentials(credentials)
            .with_retry_policy(RetryableErrors.with_attempt_limit(self.max_attempts))
            .with_backoff_policy(backoff);
        if let Some(url) = &self.endpoint_url {
            builder = builder.with_endpoint(url.trim_end_matches('/'));
        }
        builder
            .build()
            .await
            .map_err(|e| CollectError::Task(format!("building the BigQuery client: {e}")))
    }
}

#[async_trait]
impl Collector for GcpBillingExport {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "gcp_billing_export"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Cost
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let mut builder = CostFrameBuilder::new();
        let mut report = CollectReport::default();
        let Some(days) = self.days(window) else {
            return Ok(Collected {
                days: Some(BTreeSet::new()),
                report,
            });
        };
        let client = self.client().await?;
        let complete = client
            .query(self.sql(days))
            .until_done()
            .await
            .map_err(|e| query_error(&e, &self.table))?;
        let mut rows = complete.read();
        let mut index = 0usize;
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| row_error(&e, &self.table, index))?;
            map_row(&row, index, days, &mut builder)
                .map_err(|message| bad(&self.table, message))?;
            index += 1;
        }
        report.pages = 1;
        report.rows = builder.len();
        out.send(builder.finish(&self.name)?).await?;
        Ok(Collected {
            // Every requested day is replaced: a day whose rows were revised
            // away loses them.
            days: Some(days.days().collect()),
            report,
        })
    }
}

/// A result that does not have the shape the query asks for.
fn bad(table: &TableId, message: String) -> CollectError {
    CollectError::Remote {
        operation: "reading the results from",
        target: table.to_string(),
        message,
        retryable: false,
    }
}

/// Maps one result row: one cost row, and a credit row if it has credits.
fn map_row(
    row: &Row,
    index: usize,
    days: DayRange,
    out: &mut CostFrameBuilder,
) -> Result<(), String> {
    let at = format!("row {}", index + 1);
    let text = |name: &str| -> Result<Option<String>, String> {
        row.get::<Option<String>>(name)
            .map_err(|e| format!("{at}: `{name}`: {e}"))
    };
    let number = |name: &str| -> Result<Option<f64>, String> {
        row.get::<Option<f64>>(name)
            .map_err(|e| format!("{at}: `{name}`: {e}"))
    };
    let required =
        |name: &str, v: Option<String>| v.ok_or_else(|| format!("{at}: `{name}` is null"));
    let day_text = required("day", text("day")?)?;
    let day: NaiveDate = day_text
        .parse()
        .map_err(|_| format!("{at}: `day` `{day_text}` is not a date"))?;
    if !days.contains(day) {
        return Err(format!("{at}: day {day} is outside the requested {days}"));
    }
    let cost = number("cost")?.ok_or_else(|| format!("{at}: `cost` is null"))?;
    let credits = number("credits")?.unwrap_or(0.0);
    for value in [cost, credits] {
        if !value.is_finite() {
            return Err(format!("{at}: an amount is not a finite number"));
        }
    }
    let currency = required("currency", text("currency")?)?;
    let charge_category = match text("cost_type")?.as_deref() {
        None | Some("regular") => "Usage",
        Some("tax") => "Tax",
        Some(_) => "Adjustment",
    };
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    let usage = CostRow {
        charge_period_start: midnight,
        charge_period_end: midnight + Duration::days(1),
        provider: "Google Cloud".to_string(),
        billing_account_id: text("billing_account_id")?,
        sub_account_id: text("project_id")?,
        sub_account_name: text("project_name")?,
        service_name: text("service")?,
        sku_id: text("sku_id")?,
        charge_category: charge_category.to_string(),
        resource_id: text("resource_name")?,
        region_id: text("region")?,
        pricing_quantity: number("pricing_quantity")?,
        pricing_unit: text("pricing_unit")?,
        billed_cost: cost,
        effective_cost: cost,
        list_cost: number("list_cost")?,
        billing_currency: currency,
        tags: labels_json(text("labels")?.as_deref())
            .map_err(|e| format!("{at}: `labels`: {e}"))?,
        ..CostRow::default()
    };
    let credit = (credits != 0.0).then(|| CostRow {
        charge_category: "Credit".to_string(),
        billed_cost: 0.0,
        effective_cost: credits,
        list_cost: None,
        pricing_quantity: None,
        pricing_unit: None,
        ..usage.clone()
    });
    out.push(usage);
    if let Some(c) = credit {
        out.push(c);
    }
    Ok(())
}

/// `[{"key": "team", "value": "search"}, ...]` as a JSON object, or `None`
/// when there are no labels.
fn labels_json(labels: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = labels else {
        return Ok(None);
    };
    let list: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON list: {e}"))?;
    let mut object = std::collections::BTreeMap::new();
    for entry in list {
        let key = entry["key"].as_str().ok_or("a label without a `key`")?;
        let value = match &entry["value"] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        object.insert(key.to_string(), serde_json::Value::String(value));
    }
    Ok((!object.is_empty()).then(|| tags_json(object)))
}

fn gax_error(e: &google_cloud_gax::error::Error, table: &TableId) -> CollectError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(": {text}"));
        }
        source = s.source();
    }
    let status = e.http_status_code();
    if e.is_authentication() || matches!(status, Some(401 | 403)) {
        return CollectError::Credentials { api: API, message };
    }
    let retryable =
        e.is_timeout() || e.is_io() || e.is_connect() || matches!(status, Some(429 | 500..=599));
    CollectError::Remote {
        operation: "querying",
        target: table.to_string(),
        message,
        retryable,
    }
}

fn query_error(e: &google_cloud_bigquery::error::QueryError, table: &TableId) -> CollectError {
    use google_cloud_bigquery::error::QueryError;
    match e {
        QueryError::Rpc { source, .. } => gax_error(source, table),
        QueryError::JobFailed { errors, .. } => CollectError::Remote {
            operation: "querying",
            target: table.to_string(),
            message: format!(
                "the query job failed: {}",
                errors
                    .iter()
                    .map(|e| format!("{} ({})", e.message.trim(), e.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            retryable: false,
        },
        other => CollectError::Remote {
            operation: "querying",
            target: table.to_string(),
            message: other.to_string(),
            retryable: false,
        },
    }
}

fn row_error(
    e: &google_cloud_bigquery::error::RowError,
    table: &TableId,
    index: usize,
) -> CollectError {
    use google_cloud_bigquery::error::RowError;
    match e {
        RowError::Rpc { source, .. } => gax_error(source, table),
        other => bad(table, format!("row {}: {other}", index + 1)),
    }
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    fn collector(extra: &str) -> GcpBillingExport {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "gcp",
            &format!("type = \"gcp_billing_export\"\ntable = \"billing-proj.billing.gcp_billing_export_resource_v1_01AB\"\n{extra}"),
        )
        .unwrap();
        GcpBillingExport::new(&cfg).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_query_scans_only_the_window_partitions_and_groups_by_resource_when_detailed() {
        let range = DayRange::new(d("2024-09-01"), d("2024-09-30")).unwrap();
        let sql = collector("").sql(range);
        assert!(
            sql.contains("FROM `billing-proj.billing.gcp_billing_export_resource_v1_01AB`"),
            "{sql}"
        );
        assert!(
            sql.contains("_PARTITIONTIME >= TIMESTAMP('2024-08-31')"),
            "{sql}"
        );
        assert!(
            sql.contains("usage_start_time >= TIMESTAMP('2024-09-01')"),
            "{sql}"
        );
        assert!(
            sql.contains("usage_start_time < TIMESTAMP('2024-10-01')"),
            "{sql}"
        );
        assert!(sql.contains("resource.name AS resource_name"), "{sql}");
        let standard = collector("detailed = false").sql(range);
        assert!(
            standard.contains("CAST(NULL AS STRING) AS resource_name"),
            "{standard}"
        );
    }

    #[test]
    fn table_ids_are_checked_before_they_reach_sql() {
        assert!(TableId::parse("p.d.t").is_ok());
        assert!(
            TableId::parse("p.d")
                .unwrap_err()
                .contains("is not `project.dataset.table`")
        );
        assert!(TableId::parse("p.d.t`; DROP").is_err());
        assert!(
            TableId::parse("P!.d.t")
                .unwrap_err()
                .contains("is not a project id")
        );
    }

    #[test]
    fn labels_become_a_json_object() {
        assert_eq!(
            labels_json(Some(
                r#"[{"key":"team","value":"search"},{"key":"env","value":"prod"}]"#
            ))
            .unwrap(),
            Some(r#"{"env":"prod","team":"search"}"#.to_string())
        );
        assert_eq!(labels_json(Some("[]")).unwrap(), None);
        assert_eq!(labels_json(None).unwrap(), None);
        assert!(labels_json(Some("{")).is_err());
    }

    #[test]
    fn runs_ask_for_the_last_days_or_the_window() {
        let c = collector("lookback_days = 3");
        let w = CollectWindow {
            since: None,
            until: None,
            today: d("2024-09-10"),
        };
        assert_eq!(c.days(w), DayRange::new(d("2024-09-07"), d("2024-09-09")));
    }

    #[test]
    fn config_is_checked() {
        let err = |extra: &str| {
            let cfg = ComponentConfig::from_toml(
                ComponentKind::Collector,
                "gcp",
                &format!("type = \"gcp_billing_export\"\n{extra}"),
            )
            .unwrap();
            build(&cfg).unwrap_err().to_string()
        };
        assert!(
            err("table = \"a.b\"")
                .contains("`collectors.gcp.table`: `a.b` is not `project.dataset.table`")
        );
        assert!(
            err("table = \"a.b.c\"\nanonymous = true\ncredentials_file = \"k.json\"")
                .contains("exclude each other")
        );
    }
}
