//! `gcp_pricing`: Compute Engine machine prices into the `prices` dataset,
//! from the Cloud Billing Catalog API
//! (<https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list>,
//! service `6F81-5844-456A`) and the machine types' vCPUs and memory from
//! `machineTypes.aggregatedList` of the Compute Engine API v1.
//!
//! Which machine types: every type of the series (`e2`, `n2`, `n2d`, ...)
//! the latest inventory's GCP VMs run, in their regions (their right-sizing
//! candidates), plus `machine_types`. A machine's price an hour is vCPUs ×
//! the series' core price + GiB × its RAM price, per purchase option: the
//! SKUs' `usageType` `OnDemand` → `on_demand`, `Preemptible` → `spot`,
//! `Commit1Yr` → `commit_1y`, `Commit3Yr` → `commit_3y`. A SKU's price is
//! `units + nanos / 10⁹` of its tier starting at 0. A SKU belongs to a
//! series when its description has the series as a word (`N2 Instance Core
//! running in Americas`, `Spot Preemptible N2 Instance Ram ...`,
//! `Commitment v1: N2 Cpu in Americas for 1 Year`); descriptions of custom,
//! sole-tenancy, premium or extended-memory SKUs are left out. Series
//! whose SKUs do not name them (`c2`'s "Compute optimized") are not
//! priced, and said so. Plain REST with `google-cloud-auth`, as the other
//! GCP collectors; paging, retries and failures as theirs.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::resource_rows::{PriceRow, RowsBuilder};
use vitals_core::{Dataset, Store};

use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;
use crate::gcp::{GcpCredentials, ProjectError, RestApi};

const BILLING_API: &str = "cloudbilling.googleapis.com";
const COMPUTE_API: &str = "compute.googleapis.com";
const COMPUTE_SERVICE: &str = "6F81-5844-456A";
const MAX_PAGES: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcpPricingConfig {
    /// Projects whose `machineTypes` are read (the first that answers).
    projects: Vec<String>,
    /// Machine types priced besides the inventory's series.
    #[serde(default)]
    machine_types: Vec<String>,
    /// Regions priced. Default: the latest inventory's GCP regions.
    regions: Option<Vec<String>>,
    /// Default `USD`.
    #[serde(default = "default_currency")]
    currency: String,
    credentials_file: Option<String>,
    #[serde(default)]
    anonymous: bool,
    /// Overrides `https://cloudbilling.googleapis.com`.
    endpoint_url: Option<String>,
    /// Overrides `https://compute.googleapis.com`.
    compute_endpoint_url: Option<String>,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_currency() -> String {
    "USD".to_string()
}

fn default_max_attempts() -> u32 {
    5
}

fn default_timeout() -> u64 {
    60
}

#[derive(Debug)]
pub struct GcpPricing {
    name: String,
    config: GcpPricingConfig,
    credentials: GcpCredentials,
    store: Option<Store>,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let parsed: GcpPricingConfig = config.parse()?;
    crate::gcp_compute_inventory::check_projects(config, &parsed.projects)?;
    crate::gcp::check_rest(
        config,
        &[
            ("endpoint_url", &parsed.endpoint_url),
            ("compute_endpoint_url", &parsed.compute_endpoint_url),
        ],
        parsed.max_attempts,
    )?;
    if parsed.currency.len() != 3 {
        return Err(config.error(Some("currency"), "must be a 3-letter ISO 4217 code"));
    }
    let credentials =
        GcpCredentials::from_config(config, parsed.credentials_file.as_deref(), parsed.anonymous)?;
    Ok(Box::new(GcpPricing {
        name: config.name.clone(),
        config: parsed,
        credentials,
        store: None,
    }))
}

/// A machine type's series: its name up to the first dash (`n2-standard-8`
/// → `n2`).
fn series_of(machine: &str) -> &str {
    machine.split('-').next().unwrap_or(machine)
}

/// A SKU's price an hour of its tier starting at 0 (`units + nanos / 10⁹`).
fn tier_zero_price(sku: &Value) -> Option<f64> {
    let expression = &sku["pricingInfo"].as_array()?.first()?["pricingExpression"];
    let tier = expression["tieredRates"]
        .as_array()?
        .iter()
        .find(|t| t["startUsageAmount"].as_f64().unwrap_or(0.0) == 0.0)?;
    let price = &tier["unitPrice"];
    let units = match &price["units"] {
        Value::String(s) => s.parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => 0.0,
    };
    Some(units + price["nanos"].as_f64().unwrap_or(0.0) / 1e9)
}

/// `OnDemand` → `on_demand` and so on; `None` for a usage type not priced.
fn purchase_option(usage_type: &str) -> Option<&'static str> {
    match usage_type {
        "OnDemand" => Some("on_demand"),
        "Preemptible" => Some("spot"),
        "Commit1Yr" => Some("commit_1y"),
        "Commit3Yr" => Some("commit_3y"),
        _ => None,
    }
}

/// Core and RAM prices per (series, region, purchase option): [core, GiB].
type SkuPrices = BTreeMap<(String, String, &'static str), [Option<f64>; 2]>;

/// What one SKU prices, if it is a machine series' core or RAM.
fn read_sku(sku: &Value, series: &BTreeSet<String>, prices: &mut SkuPrices) {
    let category = &sku["category"];
    if category["resourceFamily"] != "Compute" {
        return;
    }
    let slot = match category["resourceGroup"].as_str() {
        Some("CPU") => 0,
        Some("RAM") => 1,
        _ => return,
    };
    let Some(option) = category["usageType"].as_str().and_then(purchase_option) else {
        return;
    };
    let description = sku["description"].as_str().unwrap_or_default();
    let lower = description.to_lowercase();
    if ["custom", "sole tenancy", "premium", "extended"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return;
    }
    let words: BTreeSet<String> = description
        .split([' ', ':'])
        .map(str::to_lowercase)
        .collect();
    let Some(s) = series.iter().find(|s| words.contains(*s)) else {
        return;
    };
    let Some(price) = tier_zero_price(sku) else {
        return;
    };
    for region in sku["serviceRegions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        prices
            .entry((s.clone(), region.to_string(), option))
            .or_default()[slot] = Some(price);
    }
}

impl GcpPricing {
    fn endpoint<'a>(&'a self, own: &'a Option<String>, default: &'a str) -> &'a str {
        own.as_deref().unwrap_or(default).trim_end_matches('/')
    }

    /// vCPUs and memory (GiB) per (region, machine type) of `series`,
    /// from the first project that answers.
    async fn machine_types(
        &self,
        series: &BTreeSet<String>,
        report: &mut CollectReport,
    ) -> Result<BTreeMap<(String, String), (f64, f64)>, CollectError> {
        let rest = RestApi::new(
            COMPUTE_API,
            &self.credentials,
            self.config.timeout_secs,
            self.config.max_attempts,
        )?;
        let base = self.endpoint(
            &self.config.compute_endpoint_url,
            "https://compute.googleapis.com",
        );
        let mut refusals = Vec::new();
        for project in &self.config.projects {
            let url = format!("{base}/compute/v1/projects/{project}/aggregated/machineTypes");
            let what = format!("project `{project}`, machineTypes.aggregatedList");
            let mut out = BTreeMap::new();
            let mut token: Option<String> = None;
            let mut pages = 0;
            let result: Result<(), ProjectError> = async {
                for page in 1..=MAX_PAGES {
                    let mut query = vec![("maxResults", "500".to_string())];
                    if let Some(t) = &token {
                        query.push(("pageToken", t.clone()));
                    }
                    let body = rest.get_json(page, &what, &url, &query).await?;
                    pages += 1;
                    let items = match body.get("items") {
                        None => None,
                        Some(Value::Object(items)) => Some(items),
                        Some(_) => {
                            return Err(ProjectError::Failed(CollectError::BadResponse {
                                api: COMPUTE_API,
                                page,
                                message: format!("{what}: `items` is not an object of scopes"),
                            }));
                        }
                    };
                    for (scope, list) in items.into_iter().flatten() {
                        let zone = scope.strip_prefix("zones/").unwrap_or(scope);
                        let region = zone.rsplit_once('-').map_or(zone, |(r, _)| r).to_string();
                        for m in list["machineTypes"].as_array().into_iter().flatten() {
                            let (Some(name), Some(cpus), Some(mb)) = (
                                m["name"].as_str(),
                                m["guestCpus"].as_f64(),
                                m["memoryMb"].as_f64(),
                            ) else {
                                continue;
                            };
                            if series.contains(series_of(name)) {
                                out.insert((region.clone(), name.to_string()), (cpus, mb / 1024.0));
                            }
                        }
                    }
                    token = crate::collector::next_page(
                        body.get("nextPageToken").and_then(Value::as_str),
                    );
                    if token.is_none() {
                        return Ok(());
                    }
                }
                Err(ProjectError::Failed(CollectError::BadResponse {
                    api: COMPUTE_API,
                    page: MAX_PAGES,
                    message: format!("{what}: more than {MAX_PAGES} pages"),
                }))
            }
            .await;
            report.pages += pages;
            match result {
                Ok(()) => return Ok(out),
                Err(ProjectError::Denied(m)) => refusals.push(format!("project `{project}`: {m}")),
                Err(ProjectError::Failed(e)) => return Err(e),
            }
        }
        Err(CollectError::Credentials {
            api: COMPUTE_API,
            message: format!(
                "no project answered machineTypes.aggregatedList: {}",
                refusals.join("; ")
            ),
        })
    }

    /// Every SKU of Compute Engine that prices a core or RAM of `series`.
    async fn skus(
        &self,
        series: &BTreeSet<String>,
        report: &mut CollectReport,
    ) -> Result<SkuPrices, CollectError> {
        let rest = RestApi::new(
            BILLING_API,
            &self.credentials,
            self.config.timeout_secs,
            self.config.max_attempts,
        )?;
        let base = self.endpoint(
            &self.config.endpoint_url,
            "https://cloudbilling.googleapis.com",
        );
        let url = format!("{base}/v1/services/{COMPUTE_SERVICE}/skus");
        let what = format!("services/{COMPUTE_SERVICE}/skus");
        let mut prices = SkuPrices::new();
        let mut token: Option<String> = None;
        for page in 1..=MAX_PAGES {
            let mut query = vec![
                ("currencyCode", self.config.currency.clone()),
                ("pageSize", "5000".to_string()),
            ];
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let body = rest.get_json(page, &what, &url, &query).await?;
            report.pages += 1;
            match body.get("skus") {
                None => {}
                Some(Value::Array(skus)) => {
                    for sku in skus {
                        read_sku(sku, series, &mut prices);
                    }
                }
                Some(_) => {
                    return Err(CollectError::BadResponse {
                        api: BILLING_API,
                        page,
                        message: format!("{what}: `skus` is not a list"),
                    });
                }
            }
            token = crate::collector::next_page(body.get("nextPageToken").and_then(Value::as_str));
            if token.is_none() {
                return Ok(prices);
            }
        }
        Err(CollectError::BadResponse {
            api: BILLING_API,
            page: MAX_PAGES,
            message: format!("{what}: more than {MAX_PAGES} pages"),
        })
    }
}

#[async_trait]
impl Collector for GcpPricing {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "gcp_pricing"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Prices
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
            dataset: "prices",
            message:
                "gcp_pricing reads the inventory's machine types from the store, and was given none"
                    .into(),
        })?;
        let today = window.today;
        let mut by_region = tokio::task::spawn_blocking(move || {
            crate::aws_pricing::inventory_types(&store, today, "Google Cloud")
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
        if let Some(regions) = &self.config.regions {
            by_region.retain(|r, _| regions.contains(r));
            for r in regions {
                by_region.entry(r.clone()).or_default();
            }
        }
        for types in by_region.values_mut() {
            types.extend(self.config.machine_types.iter().cloned());
        }
        let series: BTreeSet<String> = by_region
            .values()
            .flatten()
            .map(|t| series_of(t).to_string())
            .collect();
        let now = Utc::now().naive_utc();
        let mut report = CollectReport::default();
        let mut rows = RowsBuilder::<PriceRow>::new();
        if !series.is_empty() {
            let machines = self.machine_types(&series, &mut report).await?;
            let skus = self.skus(&series, &mut report).await?;
            let mut unpriced = BTreeSet::new();
            for region in by_region.keys() {
                for ((r, machine), (cpus, gib)) in machines.range((region.clone(), String::new())..)
                {
                    if r != region {
                        break;
                    }
                    let s = series_of(machine).to_string();
                    let mut priced = false;
                    for option in ["on_demand", "spot", "commit_1y", "commit_3y"] {
                        let Some([Some(core), ram]) =
                            skus.get(&(s.clone(), region.clone(), option)).copied()
                        else {
                            continue;
                        };
                        // Some series (e2 shared-core, f1, g1) bill no RAM.
                        let per_hour = cpus * core + gib * ram.unwrap_or(0.0);
                        priced = true;
                        rows.push(PriceRow {
                            ts: now,
                            provider: "Google Cloud".into(),
                            region_id: region.clone(),
                            availability_zone: None,
                            instance_type: machine.clone(),
                            purchase_option: option.into(),
                            operating_system: "linux".into(),
                            price_per_hour: per_hour,
                            currency: self.config.currency.clone(),
                            price_source: format!(
                                "cloudbilling:services/{COMPUTE_SERVICE}/skus ({cpus} vCPU × core + {gib} GiB × RAM)"
                            ),
                        });
                    }
                    if !priced {
                        unpriced.insert(format!("{region} {s}"));
                    }
                }
            }
            for u in unpriced {
                report.warnings.push(format!(
                    "{u}: no on-demand core SKU names the series; not priced"
                ));
            }
        }
        out.send(rows.take(&self.name)?).await?;
        report.rows = out.rows();
        Ok(Collected {
            days: Some([now.date()].into()),
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sku(description: &str, group: &str, usage: &str, units: &str, nanos: i64) -> Value {
        json!({
            "skuId": "X", "description": description,
            "category": {"resourceFamily": "Compute", "resourceGroup": group, "usageType": usage},
            "serviceRegions": ["us-central1"],
            "pricingInfo": [{"pricingExpression": {"usageUnit": "h", "tieredRates": [
                {"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": units, "nanos": nanos}}
            ]}}]
        })
    }

    #[test]
    fn skus_price_their_series_by_word_and_tier_zero() {
        let series: BTreeSet<String> = ["n2".to_string(), "e2".to_string()].into();
        let mut prices = SkuPrices::new();
        for s in [
            sku(
                "N2 Instance Core running in Americas",
                "CPU",
                "OnDemand",
                "0",
                31_611_000,
            ),
            sku(
                "N2 Instance Ram running in Americas",
                "RAM",
                "OnDemand",
                "0",
                4_237_000,
            ),
            sku(
                "N2D AMD Instance Core running in Americas",
                "CPU",
                "OnDemand",
                "0",
                27_502_000,
            ),
            sku(
                "Spot Preemptible N2 Instance Core running in Americas",
                "CPU",
                "Preemptible",
                "0",
                7_000_000,
            ),
            sku(
                "Commitment v1: N2 Cpu in Americas for 1 Year",
                "CPU",
                "Commit1Yr",
                "0",
                19_915_000,
            ),
            sku(
                "N2 Custom Instance Core running in Americas",
                "CPU",
                "OnDemand",
                "1",
                0,
            ),
        ] {
            read_sku(&s, &series, &mut prices);
        }
        let get = |o| {
            prices
                .get(&("n2".to_string(), "us-central1".to_string(), o))
                .copied()
        };
        assert_eq!(get("on_demand"), Some([Some(0.031611), Some(0.004237)]));
        assert_eq!(get("spot"), Some([Some(0.007), None]));
        assert_eq!(get("commit_1y"), Some([Some(0.019915), None]));
        assert_eq!(
            prices.len(),
            3,
            "n2d and custom SKUs are not n2's: {prices:?}"
        );
        assert_eq!(series_of("n2-standard-8"), "n2");
    }
}
