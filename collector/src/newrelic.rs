//! `newrelic`: latency, Apdex and errors from New Relic through NerdGraph
//! NRQL queries.
//!
//! One NRQL query per time slice (a day, or less where the interval would
//! give a slice more than NRQL's 366 `TIMESERIES` buckets):
//!
//! ```text
//! SELECT count(*) AS 'requests', filter(count(*), WHERE error IS true) AS 'errors',
//!        percentile(duration, 50, 95, 99) AS 'latency', apdex(duration, t: T) AS 'apdex'
//! FROM Transaction [WHERE …] FACET appName[, name]
//! SINCE <ms> UNTIL <ms> TIMESERIES <interval> LIMIT MAX
//! ```
//!
//! sent to the region's NerdGraph endpoint with the `API-Key` header. Each
//! result (one facet, one bucket) is one latency row: the source's own
//! P50/P95/P99 (New Relic keeps no mergeable histogram, so a day's P95 needs
//! an instance with `interval = "1d"`), Apdex satisfied, tolerating and
//! frustrated counts (exact, as New Relic counts them: errors frustrated),
//! requests and errors.
//!
//! HTTP 429 (NerdGraph's concurrency limit), 5xx and GraphQL errors that say
//! a limit was hit are retried with jittered backoff; an invalid key is a
//! credentials error; any other GraphQL error, or a result without a field
//! the query asked for, fails the run and nothing is stored.

use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors, Secret};
use vitals_core::latency::Apdex;

use crate::aws;
use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;
use crate::http_retry;
use crate::latency_rows::{self, LatencyFrameBuilder, LatencyRow, last_complete_interval_end};

const API: &str = "New Relic NerdGraph";

/// NRQL's largest number of `TIMESERIES` buckets in one query.
const MAX_BUCKETS: i64 = 366;

/// `[collectors.NAME] type = "newrelic"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRelicConfig {
    /// The account the data is in.
    pub account_id: u64,
    /// A user key (`NRAK-…`), sent as the `API-Key` header; best given as
    /// `"${NEW_RELIC_API_KEY}"`.
    pub api_key: Secret,
    /// `us` (default) or `eu`: which NerdGraph endpoint.
    #[serde(default)]
    pub region: Region,
    /// Overrides the region's endpoint (tests, proxies).
    pub endpoint_url: Option<String>,
    /// The event type queried. Default `Transaction`.
    #[serde(default = "default_event_type")]
    pub event_type: String,
    /// Also facet by transaction `name` (the endpoint). Default false.
    #[serde(default)]
    pub by_endpoint: bool,
    /// An NRQL condition added as `WHERE …`, e.g. `appName LIKE 'prod-%'`.
    #[serde(rename = "where")]
    pub where_clause: Option<String>,
    /// The interval (`TIMESERIES` bucket), e.g. `1m`, `5m` (default), `1d`;
    /// it must divide a day.
    #[serde(default = "latency_rows::default_interval")]
    pub interval: String,
    /// Apdex threshold T in seconds. Default 0.5.
    #[serde(default = "latency_rows::default_apdex_t_s")]
    pub apdex_t_s: f64,
    /// Days read per run without `--since`/`--until`, today (to its last
    /// complete interval) included. Default 2.
    #[serde(default = "latency_rows::default_lookback_days")]
    pub lookback_days: u32,
    /// Attempts per query, the first included. Default 5.
    #[serde(default = "aws::default_max_attempts")]
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    #[default]
    Us,
    Eu,
}

impl Region {
    fn endpoint(self) -> &'static str {
        match self {
            Region::Us => "https://api.newrelic.com/graphql",
            Region::Eu => "https://api.eu.newrelic.com/graphql",
        }
    }
}

fn default_event_type() -> String {
    "Transaction".into()
}

#[derive(Debug)]
pub struct NewRelic {
    name: String,
    config: NewRelicConfig,
    endpoint: String,
    step_s: i64,
    http: reqwest::Client,
}

/// Builds a `newrelic` collector from its config table (no I/O).
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let c: NewRelicConfig = config.parse()?;
    aws::check(config, c.endpoint_url.as_deref(), c.max_attempts)?;
    let step_s = config.seconds_dividing_day("interval", &c.interval, 1)?;
    if c.api_key.expose().trim().is_empty() {
        return Err(config.error(Some("api_key"), "must not be empty"));
    }
    if !(c.apdex_t_s > 0.0 && c.apdex_t_s.is_finite()) {
        return Err(config.error(Some("apdex_t_s"), "must be a positive number of seconds"));
    }
    if !(1..=60).contains(&c.lookback_days) {
        return Err(config.error(Some("lookback_days"), "must be between 1 and 60"));
    }
    if c.event_type.is_empty()
        || !c
            .event_type
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        return Err(config.error(
            Some("event_type"),
            format!("`{}` is not an event type", c.event_type),
        ));
    }
    let http = http_retry::client(Duration::from_secs(120)).map_err(|e| config.error(None, e))?;
    Ok(Box::new(NewRelic {
        name: config.name.clone(),
        endpoint: c
            .endpoint_url
            .clone()
            .unwrap_or_else(|| c.region.endpoint().to_string()),
        step_s,
        config: c,
        http,
    }))
}

/// The longest slice of a day, in seconds, that is whole buckets, at most
/// [`MAX_BUCKETS`] of them, and divides the day.
fn slice_seconds(step_s: i64) -> i64 {
    (1..=MAX_BUCKETS)
        .rev()
        .map(|k| k * step_s)
        .find(|s| 86_400 % s == 0)
        .unwrap_or(step_s)
}

/// `5 minutes`, `1 day`, `30 seconds`: NRQL's spelling of a bucket.
fn nrql_duration(s: i64) -> String {
    let (n, unit) = match s {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl NewRelic {
    fn nrql(&self, since_s: i64, until_s: i64) -> String {
        let c = &self.config;
        let facet = if c.by_endpoint {
            "appName, name"
        } else {
            "appName"
        };
        let filter = c
            .where_clause
            .as_deref()
            .map(|w| format!(" WHERE {w}"))
            .unwrap_or_default();
        format!(
            "SELECT count(*) AS 'requests', filter(count(*), WHERE error IS true) AS 'errors', \
             percentile(duration, 50, 95, 99) AS 'latency', apdex(duration, t: {}) AS 'apdex' \
             FROM {}{filter} FACET {facet} SINCE {} UNTIL {} TIMESERIES {} LIMIT MAX",
            c.apdex_t_s,
            c.event_type,
            since_s * 1000,
            until_s * 1000,
            nrql_duration(self.step_s)
        )
    }

    /// Runs one NRQL query; its `results`.
    async fn query(&self, nrql: &str, page: usize) -> Result<Vec<Value>, CollectError> {
        let body = json!({
            "query": "query($account: Int!, $nrql: Nrql!) { actor { account(id: $account) { nrql(query: $nrql, timeout: 120) { results } } } }",
            "variables": { "account": self.config.account_id, "nrql": nrql },
        });
        let mut attempt = 1;
        loop {
            let response = http_retry::send(self.config.max_attempts, API, page, || {
                self.http
                    .post(&self.endpoint)
                    .header("API-Key", self.config.api_key.expose())
                    .json(&body)
            })
            .await?;
            let doc: Value = response
                .json()
                .await
                .map_err(|e| CollectError::BadResponse {
                    api: API,
                    page,
                    message: format!("not JSON: {e}"),
                })?;
            match graphql_error(&doc, page) {
                None => {}
                Some(e) if e.is_retryable() && attempt < self.config.max_attempts => {
                    tracing::debug!(page, attempt, "retrying: {e}");
                    tokio::time::sleep(crate::backoff::delay(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Some(e) => return Err(e),
            }
            let results = &doc["data"]["actor"]["account"]["nrql"]["results"];
            return results
                .as_array()
                .cloned()
                .ok_or_else(|| CollectError::BadResponse {
                    api: API,
                    page,
                    message: "no `data.actor.account.nrql.results` list".to_string(),
                });
        }
    }

    fn row(&self, r: &Value, i: usize, page: usize) -> Result<LatencyRow, CollectError> {
        let bad = |message: String| CollectError::BadResponse {
            api: API,
            page,
            message: format!("result {i}: {message}"),
        };
        let number = |v: &Value, what: &str| -> Result<Option<f64>, CollectError> {
            match v {
                Value::Null => Ok(None),
                Value::Number(n) => Ok(n.as_f64()),
                other => Err(bad(format!("`{what}` is {other}, not a number"))),
            }
        };
        let required = |key: &str| -> Result<f64, CollectError> {
            number(&r[key], key)?.ok_or_else(|| bad(format!("missing `{key}`")))
        };
        let begin = required("beginTimeSeconds")? as i64;
        let end = required("endTimeSeconds")? as i64;
        let facets: Vec<String> = match &r["facet"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect(),
            other => return Err(bad(format!("`facet` is {other}, not a name"))),
        };
        let service = facets
            .first()
            .cloned()
            .ok_or_else(|| bad("empty `facet`".to_string()))?;
        let endpoint = if self.config.by_endpoint {
            facets.get(1).cloned()
        } else {
            None
        };
        let latency = match (&r["latency"], &r["percentile.duration"]) {
            (Value::Object(_), _) => &r["latency"],
            (_, p) => p,
        };
        let q = |k: &str| number(&latency[k], &format!("latency.{k}"));
        let apdex = match &r["apdex"] {
            Value::Object(_) => &r["apdex"],
            _ => r,
        };
        let counts = [
            number(&apdex["s"], "apdex.s")?,
            number(&apdex["t"], "apdex.t")?,
            number(&apdex["f"], "apdex.f")?,
        ];
        let apdex = match counts {
            [Some(s), Some(t), Some(f)] => Some((
                self.config.apdex_t_s,
                Apdex {
                    satisfied: s,
                    tolerating: t,
                    frustrated: f,
                    interpolated: false,
                },
            )),
            _ => None,
        };
        Ok(LatencyRow {
            ts: DateTime::from_timestamp(begin, 0)
                .ok_or_else(|| bad(format!("`beginTimeSeconds` {begin} is out of range")))?
                .naive_utc(),
            interval_s: end - begin,
            service,
            endpoint,
            requests: required("requests")?,
            errors: required("errors")?,
            apdex,
            histogram: None,
            p50_s: q("50")?,
            p95_s: q("95")?,
            p99_s: q("99")?,
        })
    }
}

/// The GraphQL `errors` of a response as a collection error, if any.
fn graphql_error(doc: &Value, page: usize) -> Option<CollectError> {
    let errors = doc["errors"].as_array().filter(|e| !e.is_empty())?;
    let messages: Vec<String> = errors
        .iter()
        .map(|e| {
            let class = e["extensions"]["errorClass"].as_str().unwrap_or_default();
            let message = e["message"].as_str().unwrap_or("(no message)");
            if class.is_empty() {
                message.to_string()
            } else {
                format!("{class}: {message}")
            }
        })
        .collect();
    let text = messages.join("; ");
    let lower = text.to_lowercase();
    Some(
        if lower.contains("unauthorized")
            || lower.contains("api key")
            || lower.contains("forbidden")
        {
            CollectError::Credentials {
                api: API,
                message: text,
            }
        } else {
            let retryable = lower.contains("rate limit")
                || lower.contains("too_many_requests")
                || lower.contains("too many")
                || lower.contains("timeout");
            CollectError::Api {
                api: API,
                page,
                message: text,
                retryable,
            }
        },
    )
}

#[async_trait]
impl Collector for NewRelic {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "newrelic"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Latency
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let end_limit_s = last_complete_interval_end(self.step_s);
        let slice = slice_seconds(self.step_s);
        let mut builder = LatencyFrameBuilder::new();
        let mut report = CollectReport::default();
        if let Some(range) = window.days_or_last_through_today(self.config.lookback_days) {
            for day in range.days() {
                let day_start = day
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp();
                let mut since = day_start;
                while since < day_start + 86_400 && since < end_limit_s {
                    let until = (since + slice).min(end_limit_s);
                    let page = report.pages + 1;
                    let results = self.query(&self.nrql(since, until), page).await?;
                    report.pages += 1;
                    for (i, r) in results.iter().enumerate() {
                        builder.push(self.row(r, i, page)?);
                    }
                    since = until;
                }
            }
        }
        latency_rows::into_collected(builder, &self.name, report, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_stay_within_nrqls_bucket_limit_and_divide_the_day() {
        assert_eq!(slice_seconds(300), 86_400);
        assert_eq!(slice_seconds(60), 21_600);
        assert_eq!(slice_seconds(86_400), 86_400);
        assert_eq!(nrql_duration(300), "5 minutes");
        assert_eq!(nrql_duration(86_400), "1 day");
    }

    #[test]
    fn graphql_errors_are_told_apart() {
        let err = |class: &str, message: &str| {
            graphql_error(
                &json!({"errors": [{"message": message, "extensions": {"errorClass": class}}], "data": null}),
                1,
            )
            .unwrap()
        };
        assert!(matches!(
            err("UNAUTHORIZED", "Invalid API key"),
            CollectError::Credentials { .. }
        ));
        assert!(err("TOO_MANY_REQUESTS", "rate limit exceeded").is_retryable());
        assert!(!err("NRDB_QUERY_ERROR", "NRQL Syntax Error: Error at line 1").is_retryable());
        assert!(graphql_error(&json!({"data": {}}), 1).is_none());
    }
}
