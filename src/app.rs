//! The configured components, built and cross-checked from a config file.

use std::path::Path;

use vitals_analyzers::Analyzer;
use vitals_collector::Collector;
use vitals_core::Store;
use vitals_core::config::{ComponentConfig, ComponentKind, Config, ConfigErrors, backticked};
use vitals_reports::Report;

/// Everything a command needs: the config and its built components.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub collectors: Vec<Box<dyn Collector>>,
    pub analyzers: Vec<Box<dyn Analyzer>>,
    pub reports: Vec<Box<dyn Report>>,
    /// The sinks, with their outboxes.
    pub delivery: vitals_sinks::delivery::Delivery,
}

impl App {
    /// Loads and checks a config and builds every component, without I/O
    /// beyond reading the file. Every error in the file comes back at once.
    pub fn load(path: &Path) -> Result<App, ConfigErrors> {
        // Building a component checks its table without I/O; doing it while
        // loading puts its errors beside the rest of the file's.
        let config = Config::load_checked(path, &|c| match c.kind {
            ComponentKind::Collector => vitals_collector::registry::build(c).map(drop),
            ComponentKind::Analyzer => vitals_analyzers::registry::build(c).map(drop),
            ComponentKind::Report => vitals_reports::registry::build(c).map(drop),
            ComponentKind::Sink => vitals_sinks::registry::build(c).map(drop),
        })?;
        let mut errors = ConfigErrors::new(path);
        let collectors = build_all(
            &config.collectors,
            vitals_collector::registry::build,
            &mut errors,
        );
        let analyzers = build_all(
            &config.analyzers,
            vitals_analyzers::registry::build,
            &mut errors,
        );
        let reports = build_all(
            &config.reports,
            vitals_reports::registry::build,
            &mut errors,
        );
        let sinks = build_all(&config.sinks, vitals_sinks::registry::build, &mut errors);
        if errors.is_empty() {
            for (report, cfg) in reports.iter().zip(&config.reports) {
                if let Err(e) = resolve_needs(report.as_ref(), cfg, &analyzers) {
                    errors.extend(e);
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let store = Store::open(config.store_path()).map_err(|e| {
            let mut errors = ConfigErrors::new(path);
            errors.push(vitals_core::config::ConfigError::new(
                "store.path",
                e.to_string(),
            ));
            errors
        })?;
        let mut collectors = collectors;
        for c in &mut collectors {
            c.attach_store(&store);
        }
        // Collectors that read what others store run after them.
        collectors.sort_by_key(|c| !c.reads().is_empty());
        let delivery = vitals_sinks::delivery::Delivery::new(
            sinks.into_iter().map(std::sync::Arc::from).collect(),
            store.root(),
        );
        Ok(App {
            config,
            store,
            collectors,
            analyzers,
            reports,
            delivery,
        })
    }

    pub fn report(&self, name: &str) -> Option<&dyn Report> {
        self.reports
            .iter()
            .find(|r| r.name() == name)
            .map(|r| r.as_ref())
    }
}

fn build_all<T>(
    configs: &[ComponentConfig],
    build: fn(&ComponentConfig) -> Result<T, ConfigErrors>,
    errors: &mut ConfigErrors,
) -> Vec<T> {
    configs
        .iter()
        .filter_map(|c| build(c).map_err(|e| errors.extend(e)).ok())
        .collect()
}

/// Every summary a report reads must be found: the named instance, which
/// must be of the right type, or else exactly one of the type (at most one
/// for a summary the report can do without).
fn resolve_needs(
    report: &dyn Report,
    config: &ComponentConfig,
    analyzers: &[Box<dyn Analyzer>],
) -> Result<(), ConfigErrors> {
    for need in report.needs() {
        resolve_need(report, &need, config, analyzers)?;
    }
    Ok(())
}

fn resolve_need(
    report: &dyn Report,
    need: &vitals_reports::Need<'_>,
    config: &ComponentConfig,
    analyzers: &[Box<dyn Analyzer>],
) -> Result<(), ConfigErrors> {
    let ty = need.analyzer_type;
    let of_type: Vec<&str> = analyzers
        .iter()
        .filter(|a| a.type_name() == ty)
        .map(|a| a.name())
        .collect();
    match need.instance {
        Some(name) => match analyzers.iter().find(|a| a.name() == name) {
            Some(a) if a.type_name() == ty => Ok(()),
            Some(a) => Err(config.error(
                Some(need.key),
                format!("analyzer `{name}` is of type `{}`, but this report needs a `{ty}`", a.type_name()),
            )),
            None => Err(config.error(
                Some(need.key),
                format!(
                    "no analyzer named `{name}`{}",
                    vitals_core::config::did_you_mean(name, of_type.iter().copied())
                ),
            )),
        },
        None if of_type.len() == 1 => Ok(()),
        None if of_type.is_empty() && !need.required => Ok(()),
        None if of_type.is_empty() => Err(config.error(
            None,
            format!("report type `{}` needs an analyzer of type `{ty}`; add `[analyzers.NAME]` with `type = \"{ty}\"`", report.type_name()),
        )),
        None => Err(config.error(
            None,
            format!("several `{ty}` analyzers ({}): set `{}` to the one to use", backticked(of_type.iter().copied()), need.key),
        )),
    }
}
