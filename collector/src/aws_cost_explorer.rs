//! `aws_cost_explorer`: daily AWS cost from Cost Explorer's `GetCostAndUsage`.
//!
//! One call per run (following `NextPageToken`), DAILY, with the metrics
//! UnblendedCost (→ `billed_cost`), AmortizedCost (→ `effective_cost`),
//! NetAmortizedCost (→ `x_net_amortized_cost`) and UsageQuantity (→
//! `consumed_quantity`), grouped by SERVICE and LINKED_ACCOUNT, or by SERVICE
//! and a tag key when `tag_key` is set (the API allows two group keys).
//!
//! Cost Explorer revises recent days (`Estimated: true`), so without
//! `--since`/`--until` every run asks for the last `lookback_days` complete
//! days and replaces all of them, days without cost included. A run fails
//! whole, storing nothing, if any page fails after the SDK's retries
//! (throttling and 5xx are retried with jittered exponential backoff) or
//! does not have the documented shape.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_costexplorer::config::http::HttpResponse;
use aws_sdk_costexplorer::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_costexplorer::types::{
    DateInterval, Granularity, GroupDefinition, GroupDefinitionType, ResultByTime,
};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::period::DayRange;

use crate::aws::{self, AwsFailure};
use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;
use vitals_core::cost_rows::{CostFrameBuilder, CostRow};

const API: &str = "GetCostAndUsage";
const UNBLENDED: &str = "UnblendedCost";
const AMORTIZED: &str = "AmortizedCost";
const NET_AMORTIZED: &str = "NetAmortizedCost";
const USAGE: &str = "UsageQuantity";
/// A guard against an API that never stops paging.
const MAX_PAGES: usize = 10_000;

/// `[collectors.NAME] type = "aws_cost_explorer"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
/// Beside these, the AWS connection keys of [`aws::AwsConnection`].
struct AwsCostExplorerConfig {
    /// Group by this cost allocation tag instead of the linked account.
    tag_key: Option<String>,
    /// Complete days, ending yesterday (UTC), that each run re-collects and
    /// replaces. Default 3.
    #[serde(default = "default_lookback_days")]
    lookback_days: u32,
}

fn default_lookback_days() -> u32 {
    3
}

#[derive(Debug)]
pub struct AwsCostExplorer {
    name: String,
    config: AwsCostExplorerConfig,
    aws: aws::AwsConnection,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let (connection, parsed): (aws::AwsConnection, AwsCostExplorerConfig) =
        config.parse_shared()?;
    if !(1..=365).contains(&parsed.lookback_days) {
        return Err(config.error(Some("lookback_days"), "must be between 1 and 365"));
    }
    connection.check(config)?;
    if parsed
        .tag_key
        .as_deref()
        .is_some_and(|k| k.trim().is_empty())
    {
        return Err(config.error(Some("tag_key"), "must not be empty"));
    }
    Ok(Box::new(AwsCostExplorer {
        name: config.name.clone(),
        config: parsed,
        aws: connection,
    }))
}

#[async_trait]
impl Collector for AwsCostExplorer {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "aws_cost_explorer"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Cost
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let days = self.days(window);
        let client = self.client().await;
        let mut builder = CostFrameBuilder::new();
        let mut report = CollectReport::default();
        let Some(days) = days else {
            return Ok(Collected {
                days: Some(BTreeSet::new()),
                report,
            });
        };
        let period = DateInterval::builder()
            .start(days.start.to_string())
            // The API's end is exclusive.
            .end((days.end + Duration::days(1)).to_string())
            .build()
            .map_err(|e| CollectError::Task(format!("building the request: {e}")))?;
        let second_key = match &self.config.tag_key {
            Some(tag) => GroupDefinition::builder()
                .r#type(GroupDefinitionType::Tag)
                .key(tag)
                .build(),
            None => GroupDefinition::builder()
                .r#type(GroupDefinitionType::Dimension)
                .key("LINKED_ACCOUNT")
                .build(),
        };
        let mut token: Option<String> = None;
        let mut seen_tokens = BTreeSet::new();
        let mut estimated = BTreeSet::new();
        for page in 1..=MAX_PAGES {
            let response = client
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(Granularity::Daily)
                .metrics(UNBLENDED)
                .metrics(AMORTIZED)
                .metrics(NET_AMORTIZED)
                .metrics(USAGE)
                .group_by(
                    GroupDefinition::builder()
                        .r#type(GroupDefinitionType::Dimension)
                        .key("SERVICE")
                        .build(),
                )
                .group_by(second_key.clone())
                .set_next_page_token(token.clone())
                .send()
                .await
                .map_err(|e| api_error(e, page))?;
            report.pages += 1;
            let names: HashMap<&str, &str> = response
                .dimension_value_attributes()
                .iter()
                .filter_map(|d| Some((d.value()?, d.attributes()?.get("description")?.as_str())))
                .collect();
            let mapping = Mapping {
                page,
                range: days,
                tag_key: self.config.tag_key.as_deref(),
                account_names: &names,
            };
            for (i, result) in response.results_by_time().iter().enumerate() {
                let day = mapping.result(i, result, &mut builder)?;
                if result.estimated() {
                    estimated.insert(day);
                }
            }
            token = crate::collector::next_page(response.next_page_token());
            match &token {
                None => break,
                Some(t) if !seen_tokens.insert(t.clone()) => {
                    return Err(CollectError::BadResponse {
                        api: API,
                        page,
                        message: format!(
                            "`NextPageToken` `{t}` came back a second time; paging would not end"
                        ),
                    });
                }
                Some(_) if page == MAX_PAGES => {
                    return Err(CollectError::BadResponse {
                        api: API,
                        page,
                        message: format!("still paging after {MAX_PAGES} pages"),
                    });
                }
                Some(_) => {}
            }
        }
        if !estimated.is_empty() {
            tracing::debug!(
                collector = %self.name,
                days = estimated.len(),
                "Cost Explorer marks some days as estimated; later runs replace them"
            );
        }
        report.rows = builder.len();
        out.send(builder.finish(&self.name)?).await?;
        Ok(Collected {
            // Every requested day is replaced, so a day whose cost was revised
            // down to nothing loses its old rows.
            days: Some(days.days().collect()),
            report,
        })
    }
}

impl AwsCostExplorer {
    /// The days a run asks for: `--since`/`--until` when given, else the last
    /// `lookback_days` complete days. `None` if the window holds no day.
    fn days(&self, window: CollectWindow) -> Option<DayRange> {
        window.days_or_last(self.config.lookback_days)
    }

    async fn client(&self) -> aws_sdk_costexplorer::Client {
        let settings = self.aws.settings(&self.name);
        aws_sdk_costexplorer::Client::new(&settings.sdk_config().await)
    }
}

/// Maps one page's results onto cost rows, checking the documented shape.
struct Mapping<'a> {
    page: usize,
    range: DayRange,
    tag_key: Option<&'a str>,
    account_names: &'a HashMap<&'a str, &'a str>,
}

impl Mapping<'_> {
    fn bad(&self, message: String) -> CollectError {
        CollectError::BadResponse {
            api: API,
            page: self.page,
            message,
        }
    }

    /// Maps `ResultsByTime[i]`; returns its day.
    fn result(
        &self,
        i: usize,
        result: &ResultByTime,
        out: &mut CostFrameBuilder,
    ) -> Result<NaiveDate, CollectError> {
        let at = format!("ResultsByTime[{i}]");
        let start = result
            .time_period()
            .map(|p| p.start())
            .ok_or_else(|| self.bad(format!("{at}: `TimePeriod` is missing")))?;
        let day = start
            .get(..10)
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .ok_or_else(|| self.bad(format!("{at}.TimePeriod.Start: `{start}` is not a date")))?;
        if !self.range.contains(day) {
            return Err(self.bad(format!(
                "{at}: day {day} is outside the requested {}",
                self.range
            )));
        }
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        for (g, group) in result.groups().iter().enumerate() {
            let at = format!("{at}.Groups[{g}]");
            let [service, second] = group.keys() else {
                return Err(self.bad(format!(
                    "{at}.Keys: expected 2 keys, found {}",
                    group.keys().len()
                )));
            };
            let metrics = group
                .metrics()
                .ok_or_else(|| self.bad(format!("{at}: `Metrics` is missing")))?;
            let amount =
                |name: &str, required: bool| -> Result<Option<(f64, Option<&str>)>, CollectError> {
                    let Some(value) = metrics.get(name) else {
                        return if required {
                            Err(self.bad(format!("{at}.Metrics: `{name}` is missing")))
                        } else {
                            Ok(None)
                        };
                    };
                    let text = value.amount().ok_or_else(|| {
                        self.bad(format!("{at}.Metrics.{name}: `Amount` is missing"))
                    })?;
                    let number = text
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .ok_or_else(|| {
                            self.bad(format!(
                                "{at}.Metrics.{name}.Amount: `{text}` is not a number"
                            ))
                        })?;
                    Ok(Some((number, value.unit())))
                };
            let (billed, currency) = amount(UNBLENDED, true)?.expect("required");
            let (effective, effective_currency) = amount(AMORTIZED, true)?.expect("required");
            let currency = currency
                .ok_or_else(|| self.bad(format!("{at}.Metrics.{UNBLENDED}: `Unit` is missing")))?;
            if effective_currency.is_some_and(|c| c != currency) {
                return Err(self.bad(format!(
                    "{at}.Metrics: {UNBLENDED} is in {currency} but {AMORTIZED} in {}",
                    effective_currency.unwrap_or_default()
                )));
            }
            let net = amount(NET_AMORTIZED, false)?.map(|(n, _)| n);
            let usage = amount(USAGE, false)?;
            let (account, tags) = match self.tag_key {
                None => (Some(second.clone()), None),
                Some(key) => (None, tag_json(key, second)),
            };
            out.push(CostRow {
                charge_period_start: midnight,
                charge_period_end: midnight + Duration::days(1),
                provider: "AWS".to_string(),
                sub_account_name: account
                    .as_deref()
                    .and_then(|a| self.account_names.get(a))
                    .map(|n| n.to_string()),
                sub_account_id: account,
                service_name: Some(product_name(service).to_string()),
                charge_category: if service == "Tax" { "Tax" } else { "Usage" }.to_string(),
                consumed_quantity: usage.map(|(q, _)| q),
                consumed_unit: usage.and_then(|(_, u)| u).map(str::to_string),
                billed_cost: billed,
                effective_cost: effective,
                billing_currency: currency.to_string(),
                tags,
                x_net_amortized_cost: net,
                ..CostRow::default()
            });
        }
        Ok(day)
    }
}

/// Cost Explorer splits EC2 into two SERVICE values that CUR and the FOCUS
/// export both call by the product's name; vitals uses that name, so the same
/// spend reads the same whichever road it came by. Other services already
/// carry their product's name.
fn product_name(service: &str) -> &str {
    match service {
        "Amazon Elastic Compute Cloud - Compute" | "EC2 - Other" => "Amazon Elastic Compute Cloud",
        other => other,
    }
}

/// Cost Explorer's tag group key is `key$value` (`key$` when untagged).
fn tag_json(key: &str, group_key: &str) -> Option<String> {
    let value = group_key.split_once('$').map_or(group_key, |(_, v)| v);
    (!value.is_empty()).then(|| serde_json::json!({ key: value }).to_string())
}

fn api_error<E>(e: SdkError<E, HttpResponse>, page: usize) -> CollectError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = AwsFailure::from_sdk(&e);
    if failure.credentials {
        return CollectError::Credentials {
            api: API,
            message: failure.message,
        };
    }
    CollectError::Api {
        api: API,
        page,
        message: failure.message,
        retryable: failure.retryable,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_costexplorer::types::{Group, MetricValue};
    use vitals_core::config::ComponentKind;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn metric(amount: &str, unit: &str) -> MetricValue {
        MetricValue::builder().amount(amount).unit(unit).build()
    }

    fn result(day: &str, groups: Vec<Group>) -> ResultByTime {
        let next = (d(day) + Duration::days(1)).to_string();
        let mut r = ResultByTime::builder()
            .time_period(
                DateInterval::builder()
                    .start(day)
                    .end(next)
                    .build()
                    .unwrap(),
            )
            .estimated(false);
        for g in groups {
            r = r.groups(g);
        }
        r.build()
    }

    fn group(service: &str, second: &str, unblended: &str, amortized: &str) -> Group {
        Group::builder()
            .keys(service)
            .keys(second)
            .metrics(UNBLENDED, metric(unblended, "USD"))
            .metrics(AMORTIZED, metric(amortized, "USD"))
            .metrics(USAGE, metric("3", "Hrs"))
            .build()
    }

    fn map(tag_key: Option<&str>, r: &ResultByTime) -> Result<CostFrameBuilder, CollectError> {
        let names = HashMap::from([("111122223333", "prod")]);
        let mapping = Mapping {
            page: 2,
            range: DayRange::new(d("2024-09-01"), d("2024-09-03")).unwrap(),
            tag_key,
            account_names: &names,
        };
        let mut out = CostFrameBuilder::new();
        mapping.result(0, r, &mut out)?;
        Ok(out)
    }

    #[test]
    fn groups_become_rows_with_account_names() {
        let r = result(
            "2024-09-02",
            vec![group("Amazon EC2", "111122223333", "12.3456789", "10.5")],
        );
        let frame = map(None, &r).unwrap().finish("ce").unwrap();
        assert_eq!(frame.height(), 1);
        let text = |c: &str| {
            frame
                .column(c)
                .unwrap()
                .str()
                .unwrap()
                .get(0)
                .map(str::to_string)
        };
        assert_eq!(text("sub_account_id").as_deref(), Some("111122223333"));
        assert_eq!(text("sub_account_name").as_deref(), Some("prod"));
        assert_eq!(text("service_name").as_deref(), Some("Amazon EC2"));
        assert_eq!(text("consumed_unit").as_deref(), Some("Hrs"));
        let number = |c: &str| frame.column(c).unwrap().f64().unwrap().get(0);
        assert_eq!(number("billed_cost"), Some(12.3456789));
        assert_eq!(number("effective_cost"), Some(10.5));
        assert_eq!(number("x_net_amortized_cost"), None);

        // Cost Explorer's two EC2 services carry the product's name.
        let r = result(
            "2024-09-02",
            vec![
                group("EC2 - Other", "1", "1", "1"),
                group("Amazon Elastic Compute Cloud - Compute", "1", "1", "1"),
            ],
        );
        let frame = map(None, &r).unwrap().finish("ce").unwrap();
        let names: Vec<Option<&str>> = frame
            .column("service_name")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(names, [Some("Amazon Elastic Compute Cloud"); 2]);
    }

    #[test]
    fn tag_groups_become_tags() {
        let r = result(
            "2024-09-02",
            vec![
                group("S3", "team$search", "1", "1"),
                group("S3", "team$", "2", "2"),
            ],
        );
        let frame = map(Some("team"), &r).unwrap().finish("ce").unwrap();
        let tags: Vec<Option<&str>> = frame
            .column("tags")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(tags, [Some(r#"{"team":"search"}"#), None]);
        assert_eq!(frame.column("sub_account_id").unwrap().null_count(), 2);
    }

    #[test]
    fn bad_pages_name_the_place() {
        let r = result(
            "2024-09-02",
            vec![
                group("EC2", "1", "1", "1"),
                group("EC2", "1", "twelve", "1"),
            ],
        );
        let err = map(None, &r).unwrap_err().to_string();
        assert_eq!(
            err,
            "GetCostAndUsage page 2: ResultsByTime[0].Groups[1].Metrics.UnblendedCost.Amount: `twelve` is not a number"
        );
        let missing = Group::builder()
            .keys("EC2")
            .keys("1")
            .metrics(UNBLENDED, metric("1", "USD"))
            .build();
        let err = map(None, &result("2024-09-02", vec![missing]))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("ResultsByTime[0].Groups[0].Metrics: `AmortizedCost` is missing"),
            "{err}"
        );
        let no_amount = Group::builder()
            .keys("EC2")
            .keys("1")
            .metrics(UNBLENDED, MetricValue::builder().unit("USD").build())
            .metrics(AMORTIZED, metric("1", "USD"))
            .build();
        let err = map(None, &result("2024-09-02", vec![no_amount]))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("Metrics.UnblendedCost: `Amount` is missing"),
            "{err}"
        );
        let err = map(None, &result("2024-08-01", vec![]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("day 2024-08-01 is outside the requested 2024-09-01..2024-09-03"),
            "{err}"
        );
    }

    #[test]
    fn runs_ask_for_the_last_complete_days_or_the_window() {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "ce",
            "type = \"aws_cost_explorer\"\nlookback_days = 3",
        )
        .unwrap();
        let (aws, config) = cfg.parse_shared().unwrap();
        let c = AwsCostExplorer {
            name: "ce".into(),
            config,
            aws,
        };
        let w = |since: Option<&str>, until: Option<&str>| CollectWindow {
            since: since.map(d),
            until: until.map(d),
            today: d("2024-09-10"),
        };
        assert_eq!(
            c.days(w(None, None)),
            DayRange::new(d("2024-09-07"), d("2024-09-09"))
        );
        assert_eq!(
            c.days(w(Some("2024-09-01"), None)),
            DayRange::new(d("2024-09-01"), d("2024-09-09"))
        );
        assert_eq!(
            c.days(w(Some("2024-09-01"), Some("2024-09-02"))),
            DayRange::new(d("2024-09-01"), d("2024-09-02"))
        );
    }

    #[test]
    fn config_is_checked() {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "ce",
            "type = \"aws_cost_explorer\"\nendpoint_url = \"localhost:5000\"",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("`collectors.ce.endpoint_url`: `localhost:5000` is not an http(s) URL"),
            "{err}"
        );
        // The shared AWS keys and the collector's own are checked together:
        // a bad value of each is reported, and a misspelt key is told of
        // the shared keys too.
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "ce",
            "type = \"aws_cost_explorer\"\nmax_attempts = \"five\"\nlookback_days = \"x\"\nregoin = \"eu-west-1\"",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        for expected in [
            "`collectors.ce.max_attempts`",
            "`collectors.ce.lookback_days`",
            "`collectors.ce.regoin`: unknown key",
            "did you mean `region`",
        ] {
            assert!(err.contains(expected), "{expected} not in {err}");
        }
        let (aws, own): (aws::AwsConnection, AwsCostExplorerConfig) = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "ce",
            "type = \"aws_cost_explorer\"\nregion = \"eu-west-1\"\nlookback_days = 7",
        )
        .unwrap()
        .parse_shared()
        .unwrap();
        assert_eq!(
            (aws.region.as_str(), aws.max_attempts, own.lookback_days),
            ("eu-west-1", 5, 7)
        );
    }
}
