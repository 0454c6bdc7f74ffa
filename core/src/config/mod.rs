//! The config file: one TOML document of keyed tables.
//!
//! ```toml
//! [store]
//! path = "./data"
//!
//! [collectors.sample]       # the key is the instance's name
//! type = "focus_file"       # the registry entry that builds it
//! path = "sample/*.csv"
//! ```
//!
//! Parsing reports every problem it can find at once (syntax errors, unknown
//! sections and keys with "did you mean", type errors, unset `${ENV}`
//! references), each with its line and column. Components' own tables are
//! checked by their registries through [`ComponentConfig::parse`]. Relative
//! paths are resolved against the config file's directory.

mod component;
mod diagnostic;
mod interpolate;
mod registry;
mod secret;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use component::{ComponentConfig, ComponentKind, struct_fields};
pub use diagnostic::{ConfigError, ConfigErrors, SourceText, backticked, did_you_mean};
pub use interpolate::expand as expand_env;
pub use registry::{Build, build_registered, registered_types};
pub use secret::Secret;

use component::parse_table;

/// A check of one component's table, e.g. building it through its registry.
pub type ComponentCheck = dyn Fn(&ComponentConfig) -> Result<(), ConfigErrors>;

/// The default config file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config.toml";

const SECTIONS: &[&str] = &[
    "store",
    "server",
    "schedule",
    "findings",
    "collectors",
    "analyzers",
    "reports",
    "sinks",
];

/// A parsed, checked config file.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Arc<SourceText>,
    pub store: StoreConfig,
    pub server: ServerConfig,
    pub schedule: ScheduleConfig,
    /// `[findings]`: how findings live across runs and who owns them.
    pub findings: FindingsConfig,
    /// Components by name, in name order.
    pub collectors: Vec<ComponentConfig>,
    pub analyzers: Vec<ComponentConfig>,
    pub reports: Vec<ComponentConfig>,
    pub sinks: Vec<ComponentConfig>,
}

/// `[findings]`: how findings live across runs ([`crate::lifecycle`]) and
/// who owns them ([`crate::finding::Finding::owner`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsConfig {
    /// Consecutive runs of its analyzer without a finding before it
    /// resolves. Default 1; at least 1.
    #[serde(default = "default_resolve_after_runs")]
    pub resolve_after_runs: u32,
    /// Days a resolved finding is kept (with its history) before it is
    /// forgotten. Default 90.
    #[serde(default = "default_keep_resolved_days")]
    pub keep_resolved_days: u32,
    /// The resource tag (AWS) or label (GCP) whose value names a
    /// resource's owner. Default `owner`.
    #[serde(default = "default_owner_tag")]
    pub owner_tag: String,
    /// Owners of services, for findings about a service rather than a
    /// tagged resource (a P95 regression, an SLO breach): service name →
    /// owner. A resource's own tag wins.
    #[serde(default)]
    pub service_owners: std::collections::BTreeMap<String, String>,
}

fn default_resolve_after_runs() -> u32 {
    crate::lifecycle::LifecyclePolicy::default().resolve_after_runs
}

fn default_keep_resolved_days() -> u32 {
    crate::lifecycle::LifecyclePolicy::default().keep_resolved_days
}

fn default_owner_tag() -> String {
    crate::finding::DEFAULT_OWNER_TAG.to_string()
}

impl Default for FindingsConfig {
    fn default() -> Self {
        FindingsConfig {
            resolve_after_runs: default_resolve_after_runs(),
            keep_resolved_days: default_keep_resolved_days(),
            owner_tag: default_owner_tag(),
            service_owners: Default::default(),
        }
    }
}

impl FindingsConfig {
    pub fn lifecycle(&self) -> crate::lifecycle::LifecyclePolicy {
        crate::lifecycle::LifecyclePolicy {
            resolve_after_runs: self.resolve_after_runs,
            keep_resolved_days: self.keep_resolved_days,
        }
    }

    /// Gives each finding without an owner its service's owner, where
    /// `service_owners` names one.
    pub fn assign_service_owners(&self, findings: &mut [crate::finding::Finding]) {
        for f in findings.iter_mut().filter(|f| f.owner.is_none()) {
            f.owner = f
                .service
                .as_ref()
                .and_then(|s| self.service_owners.get(s))
                .cloned();
        }
    }
}

/// `[store]`: where the Parquet store lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the store; relative to the config file. Default `./data`.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
}

/// `[server]`: the HTTP endpoint of `vitals run`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address for `/metrics`, `/healthz` and `/readyz`. Default `127.0.0.1:9464`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

/// `[schedule]`: when `vitals run` collects and reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// How often every collector runs, then the analyzers (e.g. `"1h"`, `"15m"`).
    /// Default `1h`; at least `1m`.
    #[serde(default = "default_collect_interval", deserialize_with = "de_interval")]
    pub collect_interval: Duration,
    /// Cron expression (5 fields: minute hour day-of-month month day-of-week)
    /// for the reports. Default `0 7 * * MON`: Mondays at 07:00.
    #[serde(default = "default_report_cron", deserialize_with = "de_cron")]
    pub report_cron: CronSchedule,
    /// IANA time zone the cron expression is read in. Default `UTC`.
    #[serde(default = "default_timezone", deserialize_with = "de_timezone")]
    pub timezone: chrono_tz::Tz,
}

/// A parsed cron expression, kept with its text.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub expression: String,
    pub cron: croner::Cron,
}

impl FromStr for CronSchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cron = croner::parser::CronParser::builder()
            .build()
            .parse(s)
            .map_err(|e| format!("invalid cron expression `{s}`: {e}"))?;
        Ok(CronSchedule {
            expression: s.to_string(),
            cron,
        })
    }
}

fn default_store_path() -> PathBuf {
    PathBuf::from("./data")
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

fn default_collect_interval() -> Duration {
    Duration::from_secs(3600)
}

fn default_report_cron() -> CronSchedule {
    "0 7 * * MON"
        .parse()
        .expect("the default cron expression parses")
}

fn default_timezone() -> chrono_tz::Tz {
    chrono_tz::Tz::UTC
}

fn de_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let value = humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("invalid duration `{s}`: {e} (e.g. `1h`, `15m`)"))
    })?;
    if value < Duration::from_secs(60) {
        return Err(serde::de::Error::custom(format!(
            "interval `{s}` is below the minimum of 1m"
        )));
    }
    Ok(value)
}

fn de_cron<'de, D: Deserializer<'de>>(d: D) -> Result<CronSchedule, D::Error> {
    String::deserialize(d)?
        .parse()
        .map_err(serde::de::Error::custom)
}

fn de_timezone<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|_| {
        let hint = did_you_mean(&s, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()));
        serde::de::Error::custom(format!(
            "unknown time zone `{s}`{hint} (IANA names, e.g. `Europe/Berlin`)"
        ))
    })
}

impl Config {
    /// Reads and checks a config file, with `${VAR}` taken from the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_checked(path, &|_| Ok(()))
    }

    /// Like [`Config::load`], with `check` run on every component table so its
    /// errors (unknown types, bad keys) are reported with the file's others.
    pub fn load_checked(path: &Path, check: &ComponentCheck) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let mut errors = ConfigErrors::new(path);
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "; pass `--config FILE` or run from the directory that holds `config.toml`"
            } else {
                ""
            };
            errors.push(ConfigError::new(
                "",
                format!("cannot read the config file: {e}{hint}"),
            ));
            errors
        })?;
        Config::parse_str_checked(&text, path, &|name| std::env::var(name).ok(), check)
    }

    /// Parses config text; `path` is used in messages and to resolve relative paths.
    pub fn parse_str(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        Config::parse_str_checked(text, path, env, &|_| Ok(()))
    }

    /// [`Config::parse_str`] with a check of every component table.
    pub fn parse_str_checked(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        check: &ComponentCheck,
    ) -> Result<Config, ConfigErrors> {
        let source = SourceText::new(path, text);
        let mut errors = ConfigErrors::new(path);
        // The parsed tree borrows the text; the text of a config lives as long
        // as the process, so it is leaked rather than copied into every value.
        let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
        let (root, syntax) = DeTable::parse_recoverable(text);
        for e in syntax {
            errors.push(ConfigError::new("", e.message().trim().to_string()).at(&source, e.span()));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let root_span = root.span();
        let mut root = root.into_inner();

        let mut env_errors = Vec::new();
        interpolate::interpolate_table(&mut root, "", env, &source, &mut env_errors);
        errors.errors.extend(env_errors);

        for (key, _) in root.iter() {
            if !SECTIONS.contains(&key.get_ref().as_ref()) {
                let hint = did_you_mean(key.get_ref(), SECTIONS.iter().copied());
                errors.push(
                    ConfigError::new(
                        key.get_ref().to_string(),
                        format!(
                            "unknown section{hint} (known sections: {})",
                            backticked(SECTIONS.iter().copied())
                        ),
                    )
                    .at(&source, Some(key.span())),
                );
            }
        }

        let store = section(&root, "store", root_span.clone(), &source, &mut errors);
        let server = section(&root, "server", root_span.clone(), &source, &mut errors);
        let schedule = section(&root, "schedule", root_span.clone(), &source, &mut errors);
        let findings: Option<FindingsConfig> =
            section(&root, "findings", root_span, &source, &mut errors);
        if findings
            .as_ref()
            .is_some_and(|f| f.owner_tag.trim().is_empty())
        {
            errors.push(
                ConfigError::new("findings.owner_tag", "must not be empty").at(&source, None),
            );
        }
        if findings.as_ref().is_some_and(|f| f.resolve_after_runs == 0) {
            errors.push(
                ConfigError::new(
                    "findings.resolve_after_runs",
                    "must be at least 1 (the runs without a finding before it resolves)",
                )
                .at(&source, None),
            );
        }
        let collectors = components(&root, ComponentKind::Collector, &source, &mut errors);
        let analyzers = components(&root, ComponentKind::Analyzer, &source, &mut errors);
        let reports = components(&root, ComponentKind::Report, &source, &mut errors);
        let sinks = components(&root, ComponentKind::Sink, &source, &mut errors);
        for component in collectors
            .iter()
            .chain(&analyzers)
            .chain(&reports)
            .chain(&sinks)
        {
            if let Err(e) = check(component) {
                errors.extend(e);
            }
        }

        match (store, server, schedule, findings) {
            (Some(store), Some(server), Some(schedule), Some(findings)) if errors.is_empty() => {
                Ok(Config {
                    source,
                    store,
                    server,
                    schedule,
                    findings,
                    collectors,
                    analyzers,
                    reports,
                    sinks,
                })
            }
            _ => Err(errors),
        }
    }

    /// The config file's path.
    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        let base = self.path().parent().unwrap_or(Path::new(""));
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        }
    }

    /// The store directory, resolved.
    pub fn store_path(&self) -> PathBuf {
        self.resolve_path(&self.store.path)
    }

    pub fn components(&self, kind: ComponentKind) -> &[ComponentConfig] {
        match kind {
            ComponentKind::Collector => &self.collectors,
            ComponentKind::Analyzer => &self.analyzers,
            ComponentKind::Report => &self.reports,
            ComponentKind::Sink => &self.sinks,
        }
    }
}

/// Parses a fixed section; a missing section takes every default.
fn section<T: serde::de::DeserializeOwned>(
    root: &DeTable<'static>,
    name: &str,
    root_span: Range<usize>,
    source: &SourceText,
    errors: &mut ConfigErrors,
) -> Option<T> {
    let empty = DeTable::new();
    let (table, span) = match root.get(name) {
        Some(v) => match v.get_ref() {
            DeValue::Table(t) => (t, v.span()),
            other => {
                errors.push(
                    ConfigError::new(
                        name,
                        format!("expected a table, found a {}", other.type_str()),
                    )
                    .at(source, Some(v.span())),
                );
                return None;
            }
        },
        None => (&empty, root_span),
    };
    parse_table(name, &format!("`[{name}]`"), table, span, source)
        .map_err(|e| errors.extend(e))
        .ok()
}

/// Collects `[<section>.NAME]` tables, checking names and `type`.
fn components(
    root: &DeTable<'static>,
    kind: ComponentKind,
    source: &Arc<SourceText>,
    errors: &mut ConfigErrors,
) -> Vec<ComponentConfig> {
    let section = kind.section();
    let Some(value) = root.get(section) else {
        return Vec::new();
    };
    let DeValue::Table(entries) = value.get_ref() else {
        errors.push(
            ConfigError::new(
                section,
                format!("expected a table of named {kind}s, like `[{section}.NAME]`"),
            )
            .at(source, Some(value.span())),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in entries.iter() {
        let key_path = format!("{section}.{}", name.get_ref());
        let valid_name = !name.get_ref().is_empty()
            && name
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            errors.push(
                ConfigError::new(
                    key_path.clone(),
                    format!(
                        "invalid {kind} name `{}`: use lowercase letters, digits, `_` and `-` (it names store partitions and metric labels)",
                        name.get_ref()
                    ),
                )
                .at(source, Some(name.span())),
            );
            continue;
        }
        let DeValue::Table(table) = value.get_ref() else {
            errors.push(
                ConfigError::new(
                    key_path,
                    format!("expected a table, found a {}", value.get_ref().type_str()),
                )
                .at(source, Some(value.span())),
            );
            continue;
        };
        let mut table = table.clone();
        let type_name = match table.remove("type") {
            Some(t) => match t.get_ref() {
                DeValue::String(s) => Spanned::new(t.span(), s.to_string()),
                other => {
                    errors.push(
                        ConfigError::new(
                            format!("{key_path}.type"),
                            format!("expected a string, found a {}", other.type_str()),
                        )
                        .at(source, Some(t.span())),
                    );
                    continue;
                }
            },
            None => {
                errors.push(
                    ConfigError::new(
                        key_path,
                        format!("missing key `type`: every {kind} names its type"),
                    )
                    .at(source, Some(value.span())),
                );
                continue;
            }
        };
        out.push(ComponentConfig::new(
            kind,
            name.get_ref().to_string(),
            type_name,
            table,
            value.span(),
            source.clone(),
        ));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse_str(text, Path::new("/etc/vitals/config.toml"), &|name| {
            (name == "DATA_DIR").then(|| "/var/lib/vitals".to_string())
        })
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.store.path, PathBuf::from("./data"));
        assert_eq!(c.store_path(), PathBuf::from("/etc/vitals/./data"));
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9464");
        assert_eq!(c.schedule.collect_interval, Duration::from_secs(3600));
        assert_eq!(c.schedule.report_cron.expression, "0 7 * * MON");
        assert_eq!(c.schedule.timezone, chrono_tz::Tz::UTC);
        assert!(c.collectors.is_empty());
    }

    #[test]
    fn findings_owners_come_from_a_tag_else_the_service_map() {
        let c = parse("").unwrap();
        assert_eq!(c.findings.owner_tag, "owner");
        assert_eq!(
            c.findings.lifecycle(),
            crate::lifecycle::LifecyclePolicy::default()
        );
        let c = parse(
            "[findings]\nowner_tag = \"team\"\nresolve_after_runs = 3\n\
             [findings.service_owners]\napi = \"platform\"\n",
        )
        .unwrap();
        assert_eq!(c.findings.owner_tag, "team");
        assert_eq!(c.findings.lifecycle().resolve_after_runs, 3);
        let now = chrono::Utc::now();
        let f = |service: Option<&str>, owner: Option<&str>| crate::finding::Finding {
            finding_id: "f".into(),
            kind: "p95_regression".into(),
            severity: crate::finding::Severity::Warning,
            provider: None,
            account_id: None,
            service: service.map(Into::into),
            owner: owner.map(Into::into),
            slo_safety: None,
            resource_id: None,
            title: "t".into(),
            evidence: serde_json::Value::Null,
            monthly_savings: None,
            currency: None,
            first_seen: now,
            last_seen: now,
            status: crate::finding::FindingStatus::Open,
        };
        let mut found = [
            f(Some("api"), None),
            f(Some("api"), Some("data")),
            f(Some("web"), None),
            f(None, None),
        ];
        c.findings.assign_service_owners(&mut found);
        let got: Vec<Option<&str>> = found.iter().map(|f| f.owner.as_deref()).collect();
        // The resource's own tag wins over the service's owner.
        assert_eq!(got, [Some("platform"), Some("data"), None, None]);
        let err = parse("[findings]\nowner_tag = \" \"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("findings.owner_tag"), "{err}");
        let err = parse("[findings]\nowners = {}\n").unwrap_err().to_string();
        assert!(err.contains("owners"), "{err}");
    }

    #[test]
    fn components_keep_their_name_and_type() {
        let c = parse(
            "[collectors.zeta]\ntype = \"focus_file\"\npath = \"a\"\n[collectors.alpha]\ntype = \"focus_file\"\npath = \"${DATA_DIR}/b\"\n",
        )
        .unwrap();
        let names: Vec<_> = c.collectors.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["alpha", "zeta"]);
        assert_eq!(c.collectors[0].type_name, "focus_file");
    }

    #[test]
    fn every_error_in_the_file_is_reported_at_once() {
        let text = r#"
[store]
pth = "./data"

[server]
listen = "not an address"

[schedule]
collect_interval = "5s"
timezone = "Europe/Berln"
report_cron = "61 * * * *"

[colectors.x]
type = "focus_file"

[collectors.Bad-Name]
type = "focus_file"

[collectors.no_type]
path = "x"

[reports.weekly]
type = "weekly_cost_report"
out_dir = "${UNSET_VAR}/reports"
"#;
        let errs = parse(text).unwrap_err();
        let msg = errs.to_string();
        let expect = [
            "config.toml:3:1: `store.pth`: unknown key for `[store]`; did you mean `path`?",
            "config.toml:6:10: `server.listen`: invalid socket address syntax",
            "config.toml:9:20: `schedule.collect_interval`: interval `5s` is below the minimum of 1m",
            "config.toml:13:2: `colectors`: unknown section; did you mean `collectors`?",
            "`collectors.Bad-Name`: invalid collector name `Bad-Name`",
            "`collectors.no_type`: missing key `type`",
            "`reports.weekly.out_dir`: environment variable `UNSET_VAR` is not set",
        ];
        for e in expect {
            assert!(msg.contains(e), "missing {e:?} in:\n{msg}");
        }
        // serde stops at the first error in a section: one per section.
        assert!(
            msg.starts_with(&format!("{} errors in config", errs.errors.len())),
            "{msg}"
        );
        assert!(errs.errors.len() >= 7, "{msg}");
    }

    #[test]
    fn bad_timezone_and_cron_are_explained() {
        let msg = parse("[schedule]\ntimezone = \"Europe/Berln\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("unknown time zone `Europe/Berln`; did you mean `Europe/Berlin`?"),
            "{msg}"
        );
        let msg = parse("[schedule]\nreport_cron = \"61 * * * *\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("invalid cron expression `61 * * * *`"),
            "{msg}"
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let msg = parse("[store]\npath = \n").unwrap_err().to_string();
        assert!(msg.contains("config.toml:2:"), "{msg}");
    }

    #[test]
    fn env_values_cannot_change_the_structure() {
        let c = Config::parse_str(
            "[store]\npath = \"${EVIL}\"\n",
            Path::new("c.toml"),
            &|_| Some("x\"\n[server]\nlisten = \"0.0.0.0:1\"".to_string()),
        )
        .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9464");
        assert!(c.store.path.to_string_lossy().starts_with("x\""));
    }
}
