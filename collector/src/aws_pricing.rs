//! `aws_pricing`: the hourly prices the savings analyzers need, into the
//! `prices` dataset: on-demand Linux shared-tenancy prices from the AWS
//! Price List Query API (`GetProducts`) and current spot prices per
//! availability zone from EC2's `DescribeSpotPriceHistory`.
//!
//! Which types: those of the latest inventory in each of its regions, and
//! their right-sizing candidates (every size of the same family and of
//! newer generations of its class, same architecture, from the shipped
//! catalog); spot prices for the inventory's own types. `GetProducts` was
//! chosen over the public bulk offer files because a filtered query reads
//! a few kilobytes per type where a region's offer file is gigabytes; it
//! needs credentials (`pricing:GetProducts`), which every other AWS
//! collector needs too. The filters are those AWS's console and SkyPilot
//! use for a Linux list price: `operatingSystem=Linux`, `tenancy=Shared`,
//! `preInstalledSw=NA`, `capacitystatus=Used`, `licenseModel=No License
//! required`, the region's `regionCode`, and the types (`ANY_OF`, 50 at a
//! time).
//!
//! A product that lacks the documented fields (`product.attributes`, an
//! `OnDemand` term with an hourly `pricePerUnit.USD`) fails the run, naming
//! the page and the field; nothing of a failed run is stored.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_pricing::types::{Filter, FilterType};
use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::catalog::Catalog;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::frames::{collect_streaming, latest_of_each_source};
use vitals_core::resource_rows::{PriceRow, RowsBuilder};
use vitals_core::{Dataset, Store};

use crate::aws::{self, AwsFailure};
use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;

const PRODUCTS: &str = "pricing:GetProducts";
const SPOT: &str = "ec2:DescribeSpotPriceHistory";
/// Types per `GetProducts` query (its `ANY_OF` value is a list).
const TYPES_PER_QUERY: usize = 50;
const MAX_PAGES: usize = 10_000;

/// `[collectors.NAME] type = "aws_pricing"`; beside these, the AWS
/// connection keys of [`aws::AwsConnection`] (`region`: where the Price
/// List API is asked, `us-east-1` by default; it also serves
/// `eu-central-1` and `ap-south-1`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AwsPricingConfig {
    /// Regions to price. Default: every region of the latest inventory.
    regions: Option<Vec<String>>,
    /// Types priced in every region beside the inventory's.
    #[serde(default)]
    instance_types: Vec<String>,
    /// Also price right-sizing candidates. Default true.
    #[serde(default = "yes")]
    candidates: bool,
    /// Also read spot prices. Default true.
    #[serde(default = "yes")]
    spot: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug)]
pub struct AwsPricing {
    name: String,
    config: AwsPricingConfig,
    aws: aws::AwsConnection,
    store: Option<Store>,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let (connection, parsed): (aws::AwsConnection, AwsPricingConfig) = config.parse_shared()?;
    connection.check(config)?;
    if let Some(bad) = parsed
        .instance_types
        .iter()
        .find(|t| Catalog::aws().get(t).is_none())
    {
        return Err(config.error(
            Some("instance_types"),
            format!("`{bad}` is not an instance type of the catalog"),
        ));
    }
    Ok(Box::new(AwsPricing {
        name: config.name.clone(),
        config: parsed,
        aws: connection,
        store: None,
    }))
}

/// The instance types of `provider` in the latest inventory, per region.
pub(crate) fn inventory_types(
    store: &Store,
    today: NaiveDate,
    provider: &str,
) -> Result<BTreeMap<String, BTreeSet<String>>, CollectError> {
    let err = |e: PolarsError| CollectError::Frame {
        dataset: "inventory",
        message: format!("reading the store: {e}"),
    };
    let range = vitals_core::period::DayRange {
        start: today - Duration::days(14),
        end: today,
    };
    let scan = store
        .scan(Dataset::Inventory, Some(range))
        .map_err(|e| CollectError::Frame {
            dataset: "inventory",
            message: e.to_string(),
        })?;
    let plan = latest_of_each_source(scan)
        .map_err(err)?
        .filter(
            col("provider")
                .eq(lit(provider))
                .and(col("resource_type").eq(lit("instance")))
                .and(col("instance_type").is_not_null())
                .and(col("region_id").is_not_null()),
        )
        .select([col("region_id"), col("instance_type")])
        .unique(None, UniqueKeepStrategy::Any);
    let df = collect_streaming(plan).map_err(err)?;
    let region = df.column("region_id").map_err(err)?.str().map_err(err)?;
    let ty = df
        .column("instance_type")
        .map_err(err)?
        .str()
        .map_err(err)?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in 0..df.height() {
        if let (Some(r), Some(t)) = (region.get(i), ty.get(i)) {
            out.entry(r.to_string()).or_default().insert(t.to_string());
        }
    }
    Ok(out)
}

/// One product of a `GetProducts` page: its type, region and hourly
/// on-demand USD price. `Err` names the missing or malformed field.
pub fn parse_product(text: &str) -> Result<(String, String, f64, Option<String>), String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("a PriceList element is not JSON: {e}"))?;
    let attributes = v
        .pointer("/product/attributes")
        .ok_or("`product.attributes` is missing")?;
    let field = |name: &str| -> Result<String, String> {
        attributes
            .get(name)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or(format!("`product.attributes.{name}` is missing"))
    };
    let (instance_type, region) = (field("instanceType")?, field("regionCode")?);
    let terms = v
        .pointer("/terms/OnDemand")
        .and_then(|t| t.as_object())
        .filter(|t| !t.is_empty())
        .ok_or(format!(
            "`terms.OnDemand` is missing for {instance_type} in {region}"
        ))?;
    let mut hourly = None;
    for term in terms.values() {
        let dims = term
            .get("priceDimensions")
            .and_then(|d| d.as_object())
            .ok_or(format!(
                "`priceDimensions` is missing for {instance_type} in {region}"
            ))?;
        for d in dims.values() {
            if d.get("unit").and_then(|u| u.as_str()) != Some("Hrs") {
                continue;
            }
            let usd = d
                .pointer("/pricePerUnit/USD")
                .and_then(|p| p.as_str())
                .ok_or(format!(
                    "`pricePerUnit.USD` is missing for {instance_type} in {region}"
                ))?;
            let price: f64 = usd
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or(format!(
                    "`pricePerUnit.USD` = `{usd}` is not a price ({instance_type} in {region})"
                ))?;
            hourly = Some(price);
        }
    }
    let price = hourly.ok_or(format!(
        "no hourly (`Hrs`) on-demand price for {instance_type} in {region}"
    ))?;
    let published = v
        .get("publicationDate")
        .and_then(|p| p.as_str())
        .map(str::to_string);
    Ok((instance_type, region, price, published))
}

#[async_trait]
impl Collector for AwsPricing {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "aws_pricing"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Prices
    }

    fn reads(&self) -> &'static [Dataset] {
        &[Dataset::Inventory]
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
            message: "aws_pricing reads the inventory's types from the store, and was given none"
                .into(),
        })?;
        let today = window.today;
        let mut by_region =
            tokio::task::spawn_blocking(move || inventory_types(&store, today, "AWS"))
                .await
                .map_err(|e| CollectError::Task(e.to_string()))??;
        if let Some(regions) = &self.config.regions {
            by_region.retain(|r, _| regions.contains(r));
            for r in regions {
                by_region.entry(r.clone()).or_default();
            }
        }
        let catalog = Catalog::aws();
        let now = Utc::now().naive_utc();
        let mut report = CollectReport::default();
        let mut rows = RowsBuilder::<PriceRow>::new();
        let sdk = self.aws.settings(&self.name).sdk_config().await;
        let pricing = aws_sdk_pricing::Client::new(&sdk);
        for (region, own) in &by_region {
            let mut wanted: BTreeSet<String> = own.clone();
            wanted.extend(self.config.instance_types.iter().cloned());
            if self.config.candidates {
                for t in own {
                    match catalog.get(t) {
                        Some(current) => wanted.extend(
                            catalog
                                .sizing_candidates(current)
                                .map(|c| c.instance_type.clone()),
                        ),
                        None => report.warnings.push(format!(
                            "{region}: `{t}` is not in the catalog; its candidates are not priced"
                        )),
                    }
                }
            }
            let wanted: Vec<String> = wanted.into_iter().collect();
            for chunk in wanted.chunks(TYPES_PER_QUERY) {
                self.on_demand(&pricing, region, chunk, now, &mut rows, &mut report)
                    .await?;
            }
            if self.config.spot && !own.is_empty() {
                let mut settings = self.aws.settings(&self.name);
                settings.region = region.clone();
                let ec2 = aws_sdk_ec2::Client::new(&settings.sdk_config().await);
                let own: Vec<String> = own.iter().cloned().collect();
                self.spot(&ec2, region, &own, now, &mut rows, &mut report)
                    .await?;
            }
        }
        if by_region.is_empty() {
            report.warnings.push(
                "the store holds no AWS inventory and no `regions` are set: nothing to price"
                    .into(),
            );
        }
        out.send(rows.take(&self.name)?).await?;
        report.rows = out.rows();
        Ok(Collected {
            days: Some([now.date()].into()),
            report,
        })
    }
}

impl AwsPricing {
    async fn on_demand(
        &self,
        client: &aws_sdk_pricing::Client,
        region: &str,
        types: &[String],
        now: NaiveDateTime,
        rows: &mut RowsBuilder<PriceRow>,
        report: &mut CollectReport,
    ) -> Result<(), CollectError> {
        let term = |field: &str, value: &str| {
            Filter::builder()
                .r#type(FilterType::TermMatch)
                .field(field)
                .value(value)
                .build()
                .expect("type, field and value are set")
        };
        let filters = vec![
            term("regionCode", region),
            term("operatingSystem", "Linux"),
            term("tenancy", "Shared"),
            term("preInstalledSw", "NA"),
            term("capacitystatus", "Used"),
            term("licenseModel", "No License required"),
            Filter::builder()
                .r#type(FilterType::AnyOf)
                .field("instanceType")
                .value(types.join(","))
                .build()
                .expect("type, field and value are set"),
        ];
        let mut seen: BTreeMap<String, f64> = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .get_products()
                .service_code("AmazonEC2")
                .format_version("aws_v1")
                .set_filters(Some(filters.clone()))
                .max_results(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e).into_error(PRODUCTS, report.pages + 1))?;
            report.pages += 1;
            for text in page.price_list() {
                let (ty, product_region, price, published) =
                    parse_product(text).map_err(|message| CollectError::BadResponse {
                        api: PRODUCTS,
                        page: report.pages,
                        message,
                    })?;
                if product_region != region || !types.contains(&ty) {
                    continue;
                }
                if let Some(old) = seen.insert(ty.clone(), price) {
                    if old != price {
                        report.warnings.push(format!(
                            "{region} {ty}: two on-demand prices ({old} and {price}); the latter kept"
                        ));
                    }
                    continue;
                }
                rows.push(PriceRow {
                    ts: now,
                    provider: "AWS".into(),
                    region_id: region.to_string(),
                    availability_zone: None,
                    instance_type: ty,
                    purchase_option: "on_demand".into(),
                    operating_system: "linux".into(),
                    price_per_hour: price,
                    currency: "USD".into(),
                    price_source: match published {
                        Some(p) => format!("{PRODUCTS} (published {p})"),
                        None => PRODUCTS.to_string(),
                    },
                });
            }
            token = crate::collector::next_page(page.next_token());
            if token.is_none() {
                break;
            }
        }
        Ok(())
    }

    async fn spot(
        &self,
        client: &aws_sdk_ec2::Client,
        region: &str,
        types: &[String],
        now: NaiveDateTime,
        rows: &mut RowsBuilder<PriceRow>,
        report: &mut CollectReport,
    ) -> Result<(), CollectError> {
        let at = aws_sdk_ec2::primitives::DateTime::from_secs(now.and_utc().timestamp());
        // The latest price per (type, zone).
        let mut latest: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .describe_spot_price_history()
                .set_instance_types(Some(
                    types
                        .iter()
                        .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()))
                        .collect(),
                ))
                .product_descriptions("Linux/UNIX")
                .start_time(at)
                .end_time(at)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk(&e).into_error(SPOT, report.pages + 1))?;
            report.pages += 1;
            for p in page.spot_price_history() {
                let bad = |field: &str| CollectError::BadResponse {
                    api: SPOT,
                    page: report.pages,
                    message: format!("a spot price without `{field}` in {region}"),
                };
                let ty = p
                    .instance_type()
                    .map(|t| t.as_str().to_string())
                    .ok_or_else(|| bad("instanceType"))?;
                let zone = p
                    .availability_zone()
                    .map(str::to_string)
                    .ok_or_else(|| bad("availabilityZone"))?;
                let price: f64 = p
                    .spot_price()
                    .and_then(|s| s.parse().ok())
                    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| bad("spotPrice"))?;
                let t = p.timestamp().map_or(0, |t| t.secs());
                let e = latest.entry((ty, zone)).or_insert((t, price));
                if t >= e.0 {
                    *e = (t, price);
                }
            }
            token = crate::collector::next_page(page.next_token());
            if token.is_none() {
                break;
            }
        }
        for ((ty, zone), (_, price)) in latest {
            rows.push(PriceRow {
                ts: now,
                provider: "AWS".into(),
                region_id: region.to_string(),
                availability_zone: Some(zone),
                instance_type: ty,
                purchase_option: "spot".into(),
                operating_system: "linux".into(),
                price_per_hour: price,
                currency: "USD".into(),
                price_source: SPOT.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One element of `GetProducts`' `PriceList`, in the shape of the AWS
    /// Price List Query API reference (GetProducts, "Response Syntax") and
    /// its bulk offer files.
    fn product(ty: &str, region: &str, usd: &str) -> String {
        serde_json::json!({
            "product": {"productFamily": "Compute Instance", "sku": "SKU1",
                "attributes": {"instanceType": ty, "regionCode": region, "operatingSystem": "Linux",
                    "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}},
            "serviceCode": "AmazonEC2",
            "terms": {"OnDemand": {"SKU1.JRTCKXETXF": {"sku": "SKU1", "priceDimensions": {
                "SKU1.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": usd},
                    "description": "$0.096 per On Demand Linux m5.large Instance Hour"}}}}},
            "version": "20240925", "publicationDate": "2024-09-25T18:32:22Z"
        })
        .to_string()
    }

    #[test]
    fn a_product_gives_its_hourly_price_or_names_what_is_missing() {
        let (ty, region, price, published) =
            parse_product(&product("m5.large", "us-east-1", "0.0960000000")).unwrap();
        assert_eq!(
            (ty.as_str(), region.as_str(), price),
            ("m5.large", "us-east-1", 0.096)
        );
        assert_eq!(published.as_deref(), Some("2024-09-25T18:32:22Z"));
        let no_usd = product("m5.large", "us-east-1", "0.096").replace("\"USD\"", "\"EUR\"");
        let err = parse_product(&no_usd).unwrap_err();
        assert!(
            err.contains("`pricePerUnit.USD` is missing for m5.large"),
            "{err}"
        );
        let no_type = product("m5.large", "us-east-1", "0.096").replace("instanceType", "x");
        assert_eq!(
            parse_product(&no_type).unwrap_err(),
            "`product.attributes.instanceType` is missing"
        );
        assert!(parse_product("{").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn candidates_are_the_family_and_its_newer_generations() {
        let c = Catalog::aws();
        let m5 = c.get("m5.large").unwrap();
        let names: Vec<&str> = c
            .sizing_candidates(m5)
            .map(|t| t.instance_type.as_str())
            .collect();
        assert!(names.contains(&"m5.xlarge") && names.contains(&"m7i.large"));
        assert!(!names.contains(&"m4.large") && !names.contains(&"c5.large"));
        assert!(
            !names.contains(&"m7g.large"),
            "arm64 is not a candidate for x86_64"
        );
    }
}
