//! `gcp_compute_inventory`: what runs and what bills on Compute Engine, into
//! the `inventory` dataset: VM instances, persistent disks and static
//! addresses, per configured project.
//!
//! Plain REST (`instances.aggregatedList`, `disks.aggregatedList`,
//! `addresses.aggregatedList` of the Compute Engine API v1,
//! <https://cloud.google.com/compute/docs/reference/rest/v1>) with the
//! credentials of `google-cloud-auth`, as the other GCP components use
//! them. Not Google's generated `google-cloud-compute-v1` crate: it holds
//! the whole Compute API (like `aws-sdk-ec2`, the slowest crate of this
//! build, STACK.md) for three list calls read here; its build cost was not
//! measured.
//!
//! Paging by `pageToken` (500 per page); 429 and 5xx are retried with
//! jittered backoff (`max_attempts`). A project that refuses access (401,
//! 403) is a warning and skipped, and the others are collected; any other
//! failure, or a page that is not the documented shape, fails the run and
//! stores nothing, naming the project, the call and the page. Each run is
//! one snapshot: every row has the run's time.
//!
//! Mapped columns: `provider` `Google Cloud` and `account_id` the project,
//! as the billing export names them; `resource_id` the resource's name, as
//! the billing export's `resource.name` holds it (its numeric id, zone and
//! self link are in `attributes`); `instance_type` the machine type (a
//! custom type `custom-4-16384` as named, its vCPUs and memory in
//! `attributes.custom_vcpus` and `custom_memory_mib`); `state` the status in
//! lower case; `lifecycle` `spot` for the Spot provisioning model or a
//! preemptible VM, else `on_demand`; `group` the managed instance group
//! that created the VM (its `created-by` metadata); `tags` the labels. A
//! disk is `attached_to` its first user and `boot` when an instance boots
//! from it; an address is `in_use` or `reserved` and `attached_to` its
//! first user.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::cost_rows::tags_json;
use vitals_core::resource_rows::{InventoryRow, RowsBuilder};

use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;
use crate::gcp::{GcpCredentials, ProjectError, RestApi};

const API: &str = "compute.googleapis.com";
const DEFAULT_ENDPOINT: &str = "https://compute.googleapis.com";
/// A guard against an API that never stops paging.
const MAX_PAGES: usize = 10_000;
const PROVIDER: &str = "Google Cloud";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcpComputeConfig {
    /// Project ids to read.
    projects: Vec<String>,
    /// A JSON key file; default Application Default Credentials.
    credentials_file: Option<String>,
    /// No credentials (tests, emulators).
    #[serde(default)]
    anonymous: bool,
    /// Overrides `https://compute.googleapis.com` (tests, private endpoints).
    endpoint_url: Option<String>,
    /// Attempts per page for 429, 5xx and network failures. Default 5.
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    /// Seconds to wait for each answer. Default 60.
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_max_attempts() -> u32 {
    5
}

fn default_timeout() -> u64 {
    60
}

#[derive(Debug)]
pub struct GcpComputeInventory {
    name: String,
    config: GcpComputeConfig,
    credentials: GcpCredentials,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let parsed: GcpComputeConfig = config.parse()?;
    check_projects(config, &parsed.projects)?;
    crate::gcp::check_rest(
        config,
        &[("endpoint_url", &parsed.endpoint_url)],
        parsed.max_attempts,
    )?;
    let credentials =
        GcpCredentials::from_config(config, parsed.credentials_file.as_deref(), parsed.anonymous)?;
    Ok(Box::new(GcpComputeInventory {
        name: config.name.clone(),
        config: parsed,
        credentials,
    }))
}

/// `projects`: at least one, each a project id.
pub(crate) fn check_projects(
    config: &ComponentConfig,
    projects: &[String],
) -> Result<(), ConfigErrors> {
    if projects.is_empty() {
        return Err(config.error(Some("projects"), "must list at least one project id"));
    }
    if let Some(bad) = projects.iter().find(|p| !is_project_id(p)) {
        return Err(config.error(
            Some("projects"),
            format!("`{bad}` is not a project id (6 to 30 lowercase letters, digits and dashes)"),
        ));
    }
    Ok(())
}

fn is_project_id(p: &str) -> bool {
    (6..=30).contains(&p.len())
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The last part of a resource URL (`.../zones/us-central1-a` → `us-central1-a`).
fn last_part(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// A zone's region (`us-central1-a` → `us-central1`).
fn region_of_zone(zone: &str) -> String {
    zone.rsplit_once('-')
        .map_or_else(|| zone.to_string(), |(r, _)| r.to_string())
}

/// The name of a disk's or address's first user (`users`: resource URLs).
fn first_user(v: &Value) -> Option<String> {
    v["users"]
        .as_array()?
        .iter()
        .find_map(Value::as_str)
        .map(|u| last_part(u).to_string())
}

fn time(v: &Value) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc).naive_utc())
}

fn labels(v: &Value) -> String {
    let map: Map<String, Value> = v.as_object().cloned().unwrap_or_default();
    tags_json(map.into_iter().collect())
}

impl GcpComputeInventory {
    fn endpoint(&self) -> &str {
        self.config
            .endpoint_url
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
    }

    /// Every item of every scope of `call` (`instances`, `disks`,
    /// `addresses`) in `project`, with its scope (`zones/…`, `regions/…`).
    async fn aggregated(
        &self,
        rest: &RestApi,
        project: &str,
        call: &'static str,
        report: &mut CollectReport,
    ) -> Result<Vec<(String, Value)>, ProjectError> {
        let url = format!(
            "{}/compute/v1/projects/{project}/aggregated/{call}",
            self.endpoint()
        );
        let bad = |page: usize, message: String| {
            ProjectError::Failed(CollectError::BadResponse {
                api: API,
                page,
                message: format!("project `{project}`, {call}.aggregatedList: {message}"),
            })
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let what = format!("project `{project}`, {call}.aggregatedList");
        for page in 1..=MAX_PAGES {
            let mut query = vec![
                ("maxResults", "500".to_string()),
                ("returnPartialSuccess", "true".to_string()),
            ];
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let body = rest.get_json(page, &what, &url, &query).await?;
            report.pages += 1;
            let Some(body) = body.as_object() else {
                return Err(bad(page, "not a JSON object".into()));
            };
            if let Some(items) = body.get("items") {
                let Some(items) = items.as_object() else {
                    return Err(bad(page, "`items` is not an object of scopes".into()));
                };
                for (scope, list) in items {
                    if let Some(w) = list.get("warning")
                        && w["code"] != "NO_RESULTS_ON_PAGE"
                    {
                        report.warnings.push(format!(
                            "project `{project}`, {call} in {scope}: {}",
                            w["message"].as_str().unwrap_or("a warning")
                        ));
                    }
                    match list.get(call) {
                        None => {}
                        Some(Value::Array(found)) => {
                            out.extend(found.iter().map(|v| (scope.clone(), v.clone())))
                        }
                        Some(_) => {
                            return Err(bad(page, format!("`items.{scope}.{call}` is not a list")));
                        }
                    }
                }
            }
            for u in body
                .get("unreachables")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                report.warnings.push(format!(
                    "project `{project}`, {call}: {} unreachable, its resources left out",
                    u.as_str().unwrap_or("a scope")
                ));
            }
            token = crate::collector::next_page(body.get("nextPageToken").and_then(Value::as_str));
            if token.is_none() {
                return Ok(out);
            }
        }
        Err(bad(MAX_PAGES, format!("more than {MAX_PAGES} pages")))
    }

    async fn project(
        &self,
        rest: &RestApi,
        project: &str,
        ts: NaiveDateTime,
        report: &mut CollectReport,
    ) -> Result<Vec<InventoryRow>, ProjectError> {
        let mut rows = Vec::new();
        let instances = self.aggregated(rest, project, "instances", report).await?;
        let mut boot_disks = std::collections::BTreeSet::new();
        for (_, v) in &instances {
            for d in v["disks"].as_array().into_iter().flatten() {
                if d["boot"] == true
                    && let Some(source) = d["source"].as_str()
                {
                    boot_disks.insert(source.to_string());
                }
            }
            rows.push(instance_row(project, ts, v).map_err(|m| {
                ProjectError::Failed(CollectError::BadResponse {
                    api: API,
                    page: 0,
                    message: format!("project `{project}`, instance: {m}"),
                })
            })?);
        }
        for (_, v) in self.aggregated(rest, project, "disks", report).await? {
            let Some(name) = v["name"].as_str() else {
                continue;
            };
            let zone = last_part(v["zone"].as_str().unwrap_or_default()).to_string();
            let user = first_user(&v);
            let self_link = v["selfLink"].as_str().unwrap_or_default();
            rows.push(InventoryRow {
                ts,
                provider: PROVIDER.into(),
                account_id: Some(project.into()),
                region_id: Some(region_of_zone(&zone)),
                resource_id: name.into(),
                resource_type: "volume".into(),
                instance_type: None,
                state: Some(
                    if user.is_none() {
                        "available"
                    } else {
                        "in-use"
                    }
                    .into(),
                ),
                attached_to: user.clone(),
                lifecycle: None,
                group: None,
                launched_at: time(&v["creationTimestamp"]),
                tags: Some(labels(&v["labels"])),
                platform: None,
                tenancy: None,
                volume_type: v["type"].as_str().map(|t| last_part(t).to_string()),
                size_gib: v["sizeGb"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| v["sizeGb"].as_f64()),
                iops: v["provisionedIops"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| v["provisionedIops"].as_f64()),
                boot: Some(boot_disks.contains(self_link)),
                attributes: Some(
                    json!({"zone": zone, "id": v["id"], "self_link": self_link}).to_string(),
                ),
            });
        }
        for (scope, v) in self.aggregated(rest, project, "addresses", report).await? {
            let Some(name) = v["name"].as_str() else {
                continue;
            };
            let user = first_user(&v);
            let region = v["region"]
                .as_str()
                .map(|r| last_part(r).to_string())
                .or_else(|| scope.strip_prefix("regions/").map(str::to_string));
            rows.push(InventoryRow {
                ts,
                provider: PROVIDER.into(),
                account_id: Some(project.into()),
                region_id: region,
                resource_id: name.into(),
                resource_type: "address".into(),
                instance_type: None,
                state: v["status"].as_str().map(str::to_lowercase),
                attached_to: user.clone(),
                lifecycle: None,
                group: None,
                launched_at: time(&v["creationTimestamp"]),
                tags: Some(labels(&v["labels"])),
                platform: None,
                tenancy: None,
                volume_type: None,
                size_gib: None,
                iops: None,
                boot: None,
                attributes: Some(
                    json!({
                        "address": v["address"],
                        "address_type": v["addressType"],
                        "id": v["id"],
                    })
                    .to_string(),
                ),
            });
        }
        Ok(rows)
    }
}

/// One instance as a row; `Err` names what is missing.
fn instance_row(project: &str, ts: NaiveDateTime, v: &Value) -> Result<InventoryRow, String> {
    let name = v["name"].as_str().ok_or("no `name`")?;
    let zone = last_part(
        v["zone"]
            .as_str()
            .ok_or_else(|| format!("`{name}`: no `zone`"))?,
    );
    let machine = last_part(
        v["machineType"]
            .as_str()
            .ok_or_else(|| format!("`{name}`: no `machineType`"))?,
    )
    .to_string();
    let scheduling = &v["scheduling"];
    let spot = scheduling["provisioningModel"] == "SPOT" || scheduling["preemptible"] == true;
    let group = v["metadata"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["key"] == "created-by")
        .and_then(|i| i["value"].as_str())
        .filter(|s| s.contains("/instanceGroupManagers/"))
        .map(|s| last_part(s).to_string());
    let mut attributes = json!({
        "zone": zone,
        "id": v["id"],
        "self_link": v["selfLink"],
        "provisioning_model": scheduling["provisioningModel"],
    });
    // `custom-4-16384` (or `n2-custom-4-16384`, `-ext` for extended memory).
    let parts: Vec<&str> = machine.trim_end_matches("-ext").rsplitn(3, '-').collect();
    if machine.contains("custom")
        && let [memory, vcpus, _] = parts[..]
        && let (Ok(vcpus), Ok(memory)) = (vcpus.parse::<u32>(), memory.parse::<u32>())
    {
        attributes["custom_vcpus"] = vcpus.into();
        attributes["custom_memory_mib"] = memory.into();
    }
    Ok(InventoryRow {
        ts,
        provider: PROVIDER.into(),
        account_id: Some(project.into()),
        region_id: Some(region_of_zone(zone)),
        resource_id: name.into(),
        resource_type: "instance".into(),
        instance_type: Some(machine),
        state: v["status"].as_str().map(str::to_lowercase),
        attached_to: None,
        lifecycle: Some(if spot { "spot" } else { "on_demand" }.into()),
        group,
        launched_at: time(&v["creationTimestamp"]),
        tags: Some(labels(&v["labels"])),
        platform: None,
        tenancy: None,
        volume_type: None,
        size_gib: None,
        iops: None,
        boot: None,
        attributes: Some(attributes.to_string()),
    })
}

#[async_trait]
impl Collector for GcpComputeInventory {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "gcp_compute_inventory"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Inventory
    }

    async fn collect(
        &self,
        _window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let ts = Utc::now().naive_utc();
        let rest = RestApi::new(
            API,
            &self.credentials,
            self.config.timeout_secs,
            self.config.max_attempts,
        )?;
        let mut report = CollectReport::default();
        let mut rows = RowsBuilder::<InventoryRow>::new();
        let mut read = 0;
        for project in &self.config.projects {
            match self.project(&rest, project, ts, &mut report).await {
                Ok(found) => {
                    read += 1;
                    for row in found {
                        rows.push(row);
                    }
                }
                Err(ProjectError::Denied(message)) => {
                    tracing::warn!(
                        collector = self.name,
                        "project `{project}`: access refused, skipped: {message}"
                    );
                    report.warnings.push(format!(
                        "project `{project}`: access refused, skipped: {message}"
                    ));
                }
                Err(ProjectError::Failed(e)) => return Err(e),
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
            days: Some([ts.date()].into()),
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_map_machine_types_spot_and_groups() {
        let ts = Utc::now().naive_utc();
        let v = json!({
            "id": "4567", "name": "web-1",
            "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a",
            "machineType": "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/machineTypes/n2-custom-4-16384",
            "status": "RUNNING", "creationTimestamp": "2024-08-01T09:00:00.000-07:00",
            "scheduling": {"provisioningModel": "SPOT"},
            "labels": {"service": "web"},
            "metadata": {"items": [{"key": "created-by", "value": "projects/123/zones/us-central1-a/instanceGroupManagers/web-mig"}]}
        });
        let r = instance_row("proj-a1", ts, &v).unwrap();
        assert_eq!(r.instance_type.as_deref(), Some("n2-custom-4-16384"));
        assert_eq!(r.region_id.as_deref(), Some("us-central1"));
        assert_eq!(r.state.as_deref(), Some("running"));
        assert_eq!(r.lifecycle.as_deref(), Some("spot"));
        assert_eq!(r.group.as_deref(), Some("web-mig"));
        assert_eq!(r.tags.as_deref(), Some(r#"{"service":"web"}"#));
        assert_eq!(
            r.launched_at.unwrap().to_string(),
            "2024-08-01 16:00:00",
            "UTC"
        );
        let a: Value = serde_json::from_str(r.attributes.as_deref().unwrap()).unwrap();
        assert_eq!(
            (a["custom_vcpus"].clone(), a["custom_memory_mib"].clone()),
            (json!(4), json!(16384))
        );
        assert!(
            instance_row("p", ts, &json!({"name": "x"}))
                .unwrap_err()
                .contains("zone")
        );
        assert!(is_project_id("proj-a1") && !is_project_id("Proj") && !is_project_id("ab"));
    }
}
