//! `aws_inventory`: what runs and what bills on AWS, into the `inventory`
//! dataset: EC2 instances, EBS volumes, Elastic IPs, load balancers (ELBv2
//! application and network load balancers with their target groups'
//! health, and classic load balancers with their instances' health), and S3
//! buckets with their region.
//!
//! Per account (the running credentials', or each of `role_arns`, assumed)
//! and per region (`regions`, or every region `DescribeRegions` lists as
//! enabled). A region or account that refuses access is reported as a
//! warning and skipped, and the others are collected; any other failure of a
//! page after the SDK's retries (throttling is retried with jittered
//! backoff) fails the run and stores nothing. Each run is one snapshot:
//! every row has the run's time and the run replaces its day's partition.
//!
//! Mapped columns: `lifecycle` is `spot` for spot instances (EC2's
//! `InstanceLifecycle`), else `on_demand` (reservations and savings plans
//! are billing, not lifecycle); `group` is the `aws:autoscaling:groupName`
//! tag; a volume is `boot` when attached at its instance's root device;
//! an address's `attached_to` is its instance (or network interface) while
//! it has an association. `attributes` holds the availability zone, and a
//! load balancer's `type` (`application`, `network`, `gateway` or
//! `classic`), `name` and `target_groups: [{name, arn, targets, healthy}]`.
//! A classic load balancer registers instances directly: it has one group,
//! without name or ARN, of its instances (healthy = `InService`), and its
//! `resource_id` is the ARN the bill names it by,
//! `arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/NAME`.
//! Terminated instances are left out (they bill nothing).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::cost_rows::tags_json;
use vitals_core::resource_rows::{InventoryRow, RowsBuilder};

use crate::aws::{self, AwsFailure, AwsSettings};
use crate::collector::{BATCH_ROWS, Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;

/// A guard against an API that never stops paging.
const MAX_PAGES: usize = 10_000;

/// `[collectors.NAME] type = "aws_inventory"`; beside these, the AWS
/// connection keys of [`aws::AwsConnection`] (`region` is where
/// `DescribeRegions` and STS are asked).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AwsInventoryConfig {
    /// Regions to read. Default: every enabled region of each account.
    regions: Option<Vec<String>>,
    /// Roles to assume, one per account. Default: the running credentials'
    /// account only.
    #[serde(default)]
    role_arns: Vec<String>,
    /// Also list S3 buckets. Default true.
    #[serde(default = "yes")]
    buckets: bool,
    /// Also list load balancers (ELBv2 and classic) and their targets'
    /// health. Default true.
    #[serde(default = "yes")]
    load_balancers: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug)]
pub struct AwsInventory {
    name: String,
    config: AwsInventoryConfig,
    aws: aws::AwsConnection,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let (connection, parsed): (aws::AwsConnection, AwsInventoryConfig) = config.parse_shared()?;
    connection.check(config)?;
    if let Some(regions) = &parsed.regions {
        if regions.is_empty() {
            return Err(config.error(Some("regions"), "must list at least one region"));
        }
        if let Some(bad) = regions.iter().find(|r| !is_region_name(r)) {
            return Err(config.error(
                Some("regions"),
                format!("`{bad}` is not a region name (like `us-east-1`)"),
            ));
        }
    }
    if let Some(bad) = parsed
        .role_arns
        .iter()
        .find(|r| !r.starts_with("arn:aws") || !r.contains(":role/"))
    {
        return Err(config.error(Some("role_arns"), format!("`{bad}` is not a role ARN")));
    }
    Ok(Box::new(AwsInventory {
        name: config.name.clone(),
        config: parsed,
        aws: connection,
    }))
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: letters and digits in
/// dash-separated parts ending in a number.
fn is_region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// Error codes that mean "not allowed here" rather than "broken".
const DENIED: [&str; 8] = [
    "UnauthorizedOperation",
    "AuthFailure",
    "AccessDenied",
    "AccessDeniedException",
    "OptInRequired",
    "UnauthorizedAccess",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
];

/// One failed call, as the run sees it.
struct Failure {
    api: &'static str,
    denied: bool,
    failure: AwsFailure,
}

impl Failure {
    fn of<E>(api: &'static str, e: &SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = e.code().map(str::to_string);
        let status = e.raw_response().map(|r| r.status().as_u16());
        Failure {
            api,
            denied: code.as_deref().is_some_and(|c| DENIED.contains(&c)) || status == Some(403),
            failure: AwsFailure::from_sdk(e),
        }
    }

    fn into_error(mut self, page: usize) -> CollectError {
        // A denial is the API's answer about this scope, not bad credentials.
        self.failure.credentials &= !self.denied;
        self.failure.into_error(self.api, page)
    }
}

fn time(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Option<NaiveDateTime> {
    let t = t?;
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()).map(|t| t.naive_utc())
}

fn tags<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> (String, BTreeMap<String, String>) {
    let map: BTreeMap<String, String> = pairs
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect();
    let json = tags_json(
        map.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    );
    (json, map)
}

/// What one account and region hold.
struct Scope<'a> {
    provider_account: &'a str,
    region: &'a str,
    ts: NaiveDateTime,
}

#[async_trait]
impl Collector for AwsInventory {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "aws_inventory"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Inventory
    }

    async fn collect(
        &self,
        _window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let now = Utc::now().naive_utc();
        let mut report = CollectReport::default();
        let mut rows = RowsBuilder::<InventoryRow>::new();
        let roles: Vec<Option<&str>> = if self.config.role_arns.is_empty() {
            vec![None]
        } else {
            self.config
                .role_arns
                .iter()
                .map(|r| Some(r.as_str()))
                .collect()
        };
        let mut accounts_read = 0;
        for role in &roles {
            let mut settings = self.aws.settings(&self.name);
            settings.role_arn = role.map(str::to_string).or(settings.role_arn);
            match self.account(&settings, now, &mut report).await {
                Ok(found) => {
                    accounts_read += 1;
                    for row in found {
                        rows.push(row);
                        if rows.len() >= BATCH_ROWS {
                            out.send(rows.take(&self.name)?).await?;
                        }
                    }
                }
                Err(AccountError::Denied(message)) => {
                    let who = role.unwrap_or("the running credentials");
                    tracing::warn!(
                        collector = self.name,
                        "{who}: access denied, skipped: {message}"
                    );
                    report.warnings.push(format!(
                        "account of {who}: access denied, skipped: {message}"
                    ));
                }
                Err(AccountError::Failed(e)) => return Err(e),
            }
        }
        if accounts_read == 0 {
            return Err(CollectError::Credentials {
                api: "sts:GetCallerIdentity",
                message: format!("no account could be read: {}", report.warnings.join("; ")),
            });
        }
        out.send(rows.take(&self.name)?).await?;
        report.rows = out.rows();
        Ok(Collected {
            days: Some([now.date()].into()),
            report,
        })
    }
}

enum AccountError {
    Denied(String),
    Failed(CollectError),
}

impl AwsInventory {
    /// Everything of one account, or why not.
    async fn account(
        &self,
        settings: &AwsSettings,
        now: NaiveDateTime,
        report: &mut CollectReport,
    ) -> Result<Vec<InventoryRow>, AccountError> {
        let sdk = settings.sdk_config().await;
        let sts = aws_sdk_sts::Client::new(&sdk);
        let account = match sts.get_caller_identity().send().await {
            Ok(id) => id.account().unwrap_or_default().to_string(),
            Err(e) => {
                let f = Failure::of("sts:GetCallerIdentity", &e);
                return Err(if f.denied {
                    AccountError::Denied(f.failure.message)
                } else {
                    AccountError::Failed(f.into_error(1))
                });
            }
        };
        report.pages += 1;
        let regions = match &self.config.regions {
            Some(r) => r.clone(),
            None => {
                let ec2 = aws_sdk_ec2::Client::new(&sdk);
                let answer = ec2.describe_regions().send().await.map_err(|e| {
                    let f = Failure::of("ec2:DescribeRegions", &e);
                    if f.denied {
                        AccountError::Denied(f.failure.message)
                    } else {
                        AccountError::Failed(f.into_error(1))
                    }
                })?;
                report.pages += 1;
                answer
                    .regions()
                    .iter()
                    .filter(|r| r.opt_in_status() != Some("not-opted-in"))
                    .filter_map(|r| r.region_name().map(str::to_string))
                    .collect()
            }
        };
        let mut rows = Vec::new();
        for region in &regions {
            let scope = Scope {
                provider_account: &account,
                region,
                ts: now,
            };
            let mut found = Vec::new();
            match self.region(&sdk, &scope, &mut found, report).await {
                Ok(()) => rows.append(&mut found),
                Err(f) if f.denied => {
                    tracing::warn!(
                        collector = self.name,
                        account,
                        region,
                        "{}: access denied, region skipped: {}",
                        f.api,
                        f.failure.message
                    );
                    report.warnings.push(format!(
                        "account {account} region {region}: {} access denied, region skipped",
                        f.api
                    ));
                }
                Err(f) => return Err(AccountError::Failed(f.into_error(report.pages + 1))),
            }
        }
        if self.config.buckets {
            match self.buckets(&sdk, &account, now, &mut rows, report).await {
                Ok(()) => {}
                Err(f) if f.denied => report.warnings.push(format!(
                    "account {account}: {} access denied, buckets skipped",
                    f.api
                )),
                Err(f) => return Err(AccountError::Failed(f.into_error(report.pages + 1))),
            }
        }
        Ok(rows)
    }

    /// One region's instances, volumes, addresses and load balancers; on
    /// any failure nothing of the region is kept.
    async fn region(
        &self,
        sdk: &aws_config::SdkConfig,
        scope: &Scope<'_>,
        rows: &mut Vec<InventoryRow>,
        report: &mut CollectReport,
    ) -> Result<(), Failure> {
        let conf = aws_sdk_ec2::config::Builder::from(sdk)
            .region(aws_sdk_ec2::config::Region::new(scope.region.to_string()))
            .build();
        let ec2 = aws_sdk_ec2::Client::from_conf(conf);
        let base = |id: String, kind: &str| InventoryRow {
            ts: scope.ts,
            provider: "AWS".into(),
            account_id: Some(scope.provider_account.to_string()),
            region_id: Some(scope.region.to_string()),
            resource_id: id,
            resource_type: kind.into(),
            ..Default::default()
        };

        // Instances, and each one's root device for its volumes.
        let mut roots: HashMap<String, String> = HashMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = ec2
                .describe_instances()
                .set_next_token(token.take())
                .max_results(1000)
                .send()
                .await
                .map_err(|e| Failure::of("ec2:DescribeInstances", &e))?;
            report.pages += 1;
            for reservation in page.reservations() {
                for i in reservation.instances() {
                    let Some(id) = i.instance_id() else { continue };
                    let state = i
                        .state()
                        .and_then(|s| s.name())
                        .map(|s| s.as_str().to_string());
                    if matches!(state.as_deref(), Some("terminated" | "shutting-down")) {
                        continue;
                    }
                    if let Some(root) = i.root_device_name() {
                        roots.insert(id.to_string(), root.to_string());
                    }
                    let (tags_text, tag_map) = tags(i.tags().iter().map(|t| (t.key(), t.value())));
                    let zone = i.placement().and_then(|p| p.availability_zone());
                    let platform = match i.platform().map(|p| p.as_str().to_lowercase()) {
                        Some(p) => p,
                        None => match i.platform_details() {
                            Some(d) if d.to_lowercase().contains("windows") => "windows".into(),
                            _ => "linux".into(),
                        },
                    };
                    let mut row = base(id.to_string(), "instance");
                    row.account_id = reservation
                        .owner_id()
                        .map(str::to_string)
                        .or(row.account_id);
                    row.instance_type = i.instance_type().map(|t| t.as_str().to_string());
                    row.state = state;
                    row.lifecycle = Some(match i.instance_lifecycle().map(|l| l.as_str()) {
                        None => "on_demand".to_string(),
                        Some(l) => l.to_lowercase(),
                    });
                    row.group = tag_map.get("aws:autoscaling:groupName").cloned();
                    row.launched_at = time(i.launch_time());
                    row.tags = Some(tags_text);
                    row.platform = Some(platform);
                    row.tenancy = i
                        .placement()
                        .and_then(|p| p.tenancy())
                        .map(|t| t.as_str().to_string());
                    row.attributes = Some(
                        serde_json::json!({ "availability_zone": zone, "root_device_name": i.root_device_name() })
                            .to_string(),
                    );
                    rows.push(row);
                }
            }
            token = crate::collector::next_page(page.next_token());
            if token.is_none() {
                break;
            }
        }

        // Volumes.
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = ec2
                .describe_volumes()
                .set_next_token(token.take())
                .max_results(500)
                .send()
                .await
                .map_err(|e| Failure::of("ec2:DescribeVolumes", &e))?;
            report.pages += 1;
            for v in page.volumes() {
                let Some(id) = v.volume_id() else { continue };
                let attachment = v
                    .attachments()
                    .iter()
                    .find(|a| a.instance_id().is_some_and(|i| !i.is_empty()));
                let attached = attachment.and_then(|a| a.instance_id()).map(str::to_string);
                let boot = attachment.is_some_and(|a| {
                    let root = a.instance_id().and_then(|i| roots.get(i));
                    root.is_some() && a.device() == root.map(String::as_str)
                });
                let mut row = base(id.to_string(), "volume");
                row.state = v.state().map(|s| s.as_str().to_string());
                row.attached_to = attached;
                row.launched_at = time(v.create_time());
                row.tags = Some(tags(v.tags().iter().map(|t| (t.key(), t.value()))).0);
                row.volume_type = v.volume_type().map(|t| t.as_str().to_string());
                row.size_gib = v.size().map(f64::from);
                row.iops = v.iops().map(f64::from);
                row.boot = Some(boot);
                row.attributes = Some(
                    serde_json::json!({ "availability_zone": v.availability_zone() }).to_string(),
                );
                rows.push(row);
            }
            token = crate::collector::next_page(page.next_token());
            if token.is_none() {
                break;
            }
        }

        // Elastic IPs (one page: DescribeAddresses does not page).
        let addresses = ec2
            .describe_addresses()
            .send()
            .await
            .map_err(|e| Failure::of("ec2:DescribeAddresses", &e))?;
        report.pages += 1;
        for a in addresses.addresses() {
            let Some(id) = a.allocation_id().or(a.public_ip()) else {
                continue;
            };
            // moto answers an unassociated address with `InstanceId: ""`:
            // the association decides (PEERS.md).
            let associated = a.association_id().is_some_and(|s| !s.is_empty());
            let mut row = base(id.to_string(), "address");
            row.state = Some(
                if associated {
                    "associated"
                } else {
                    "unassociated"
                }
                .into(),
            );
            row.attached_to = associated
                .then(|| {
                    a.instance_id()
                        .filter(|i| !i.is_empty())
                        .or(a.network_interface_id())
                        .map(str::to_string)
                })
                .flatten();
            row.tags = Some(tags(a.tags().iter().map(|t| (t.key(), t.value()))).0);
            row.attributes = Some(serde_json::json!({ "public_ip": a.public_ip() }).to_string());
            rows.push(row);
        }

        if self.config.load_balancers {
            self.load_balancers(sdk, scope, rows, report).await?;
            self.classic_load_balancers(sdk, scope, rows, report)
                .await?;
        }
        Ok(())
    }

    async fn load_balancers(
        &self,
        sdk: &aws_config::SdkConfig,
        scope: &Scope<'_>,
        rows: &mut Vec<InventoryRow>,
        report: &mut CollectReport,
    ) -> Result<(), Failure> {
        use aws_sdk_elasticloadbalancingv2 as elb;
        let conf = elb::config::Builder::from(sdk)
            .region(elb::config::Region::new(scope.region.to_string()))
            .build();
        let client = elb::Client::from_conf(conf);
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .describe_load_balancers()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| Failure::of("elbv2:DescribeLoadBalancers", &e))?;
            report.pages += 1;
            for lb in page.load_balancers() {
                let Some(arn) = lb.load_balancer_arn() else {
                    continue;
                };
                let groups = client
                    .describe_target_groups()
                    .load_balancer_arn(arn)
                    .send()
                    .await
                    .map_err(|e| Failure::of("elbv2:DescribeTargetGroups", &e))?;
                report.pages += 1;
                let mut target_groups = Vec::new();
                for tg in groups.target_groups() {
                    let Some(tg_arn) = tg.target_group_arn() else {
                        continue;
                    };
                    let health = client
                        .describe_target_health()
                        .target_group_arn(tg_arn)
                        .send()
                        .await
                        .map_err(|e| Failure::of("elbv2:DescribeTargetHealth", &e))?;
                    report.pages += 1;
                    let targets = health.target_health_descriptions();
                    let healthy = targets
                        .iter()
                        .filter(|t| {
                            t.target_health()
                                .and_then(|h| h.state())
                                .is_some_and(|s| s.as_str() == "healthy")
                        })
                        .count();
                    target_groups.push(serde_json::json!({
                        "name": tg.target_group_name(),
                        "arn": tg_arn,
                        "targets": targets.len(),
                        "healthy": healthy,
                    }));
                }
                rows.push(InventoryRow {
                    ts: scope.ts,
                    provider: "AWS".into(),
                    account_id: Some(scope.provider_account.to_string()),
                    region_id: Some(scope.region.to_string()),
                    resource_id: arn.to_string(),
                    resource_type: "load_balancer".into(),
                    state: lb
                        .state()
                        .and_then(|s| s.code())
                        .map(|c| c.as_str().to_string()),
                    launched_at: time(lb.created_time()),
                    tags: Some("{}".into()),
                    attributes: Some(
                        serde_json::json!({
                            "type": lb.r#type().map(|t| t.as_str()),
                            "name": lb.load_balancer_name(),
                            "target_groups": target_groups,
                        })
                        .to_string(),
                    ),
                    ..Default::default()
                });
            }
            marker = crate::collector::next_page(page.next_marker());
            if marker.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Classic load balancers (the `elasticloadbalancing` API of 2012) and
    /// the health of their registered instances.
    async fn classic_load_balancers(
        &self,
        sdk: &aws_config::SdkConfig,
        scope: &Scope<'_>,
        rows: &mut Vec<InventoryRow>,
        report: &mut CollectReport,
    ) -> Result<(), Failure> {
        use aws_sdk_elasticloadbalancing as elb;
        let conf = elb::config::Builder::from(sdk)
            .region(elb::config::Region::new(scope.region.to_string()))
            .build();
        let client = elb::Client::from_conf(conf);
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .describe_load_balancers()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| Failure::of("elb:DescribeLoadBalancers", &e))?;
            report.pages += 1;
            for lb in page.load_balancer_descriptions() {
                let Some(name) = lb.load_balancer_name() else {
                    continue;
                };
                let health = client
                    .describe_instance_health()
                    .load_balancer_name(name)
                    .send()
                    .await
                    .map_err(|e| Failure::of("elb:DescribeInstanceHealth", &e))?;
                report.pages += 1;
                let states = health.instance_states();
                let healthy = states
                    .iter()
                    .filter(|s| s.state() == Some("InService"))
                    .count();
                rows.push(InventoryRow {
                    ts: scope.ts,
                    provider: "AWS".into(),
                    account_id: Some(scope.provider_account.to_string()),
                    region_id: Some(scope.region.to_string()),
                    resource_id: format!(
                        "arn:aws:elasticloadbalancing:{}:{}:loadbalancer/{name}",
                        scope.region, scope.provider_account
                    ),
                    resource_type: "load_balancer".into(),
                    // Classic load balancers have no state: one that exists serves.
                    state: Some("active".into()),
                    launched_at: time(lb.created_time()),
                    tags: Some("{}".into()),
                    attributes: Some(
                        serde_json::json!({
                            "type": "classic",
                            "name": name,
                            "target_groups": [{
                                "name": null,
                                "arn": null,
                                "targets": states.len(),
                                "healthy": healthy,
                            }],
                        })
                        .to_string(),
                    ),
                    ..Default::default()
                });
            }
            marker = crate::collector::next_page(page.next_marker());
            if marker.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// The account's S3 buckets with their regions (S3 lists buckets
    /// globally; `GetBucketLocation` says where each lives).
    async fn buckets(
        &self,
        sdk: &aws_config::SdkConfig,
        account: &str,
        now: NaiveDateTime,
        rows: &mut Vec<InventoryRow>,
        report: &mut CollectReport,
    ) -> Result<(), Failure> {
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let list = s3
            .list_buckets()
            .send()
            .await
            .map_err(|e| Failure::of("s3:ListBuckets", &e))?;
        report.pages += 1;
        for b in list.buckets() {
            let Some(name) = b.name() else { continue };
            let region = match s3.get_bucket_location().bucket(name).send().await {
                Ok(l) => {
                    report.pages += 1;
                    Some(match l.location_constraint().map(|c| c.as_str()) {
                        None | Some("") => "us-east-1".to_string(),
                        Some("EU") => "eu-west-1".to_string(),
                        Some(other) => other.to_string(),
                    })
                }
                Err(e) => {
                    let f = Failure::of("s3:GetBucketLocation", &e);
                    if !f.denied {
                        return Err(f);
                    }
                    report
                        .warnings
                        .push(format!("bucket {name}: its location is not readable"));
                    None
                }
            };
            rows.push(InventoryRow {
                ts: now,
                provider: "AWS".into(),
                account_id: Some(account.to_string()),
                region_id: region,
                resource_id: name.to_string(),
                resource_type: "bucket".into(),
                launched_at: time(b.creation_date()),
                tags: Some("{}".into()),
                ..Default::default()
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    fn build_with(extra: &str) -> Result<Box<dyn Collector>, ConfigErrors> {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "inv",
            &format!("type = \"aws_inventory\"\n{extra}"),
        )
        .unwrap();
        build(&cfg)
    }

    #[test]
    fn config_is_checked() {
        assert!(build_with("regions = [\"us-east-1\", \"eu-west-1\"]").is_ok());
        let err = build_with("regions = [\"us-east\"]")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`us-east` is not a region name"), "{err}");
        let err = build_with("regions = []").err().unwrap().to_string();
        assert!(err.contains("at least one region"), "{err}");
        let err = build_with("role_arns = [\"vitals\"]")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`vitals` is not a role ARN"), "{err}");
        let err = build_with("regoins = []").err().unwrap().to_string();
        assert!(err.contains("regoins"), "{err}");
        assert!(is_region_name("us-gov-west-1") && !is_region_name("US-east-1"));
    }
}
