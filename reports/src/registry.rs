//! Every report type, one line each. Adding a report is a new file plus one
//! line here.

use vitals_core::config::{
    Build, ComponentConfig, ConfigErrors, build_registered, registered_types,
};

use crate::report::Report;
use crate::weekly_cost_report;

const REGISTRY: &[(&str, Build<Box<dyn Report>>)] =
    &[("weekly_cost_report", weekly_cost_report::build)];

/// The known report types, in registry order.
pub fn types() -> Vec<&'static str> {
    registered_types(REGISTRY)
}

/// Builds a report from its config table, without I/O; an unknown `type` is
/// an error listing the known ones.
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Report>, ConfigErrors> {
    build_registered(REGISTRY, config)
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    #[test]
    fn unknown_types_are_refused_with_the_list() {
        let cfg =
            ComponentConfig::from_toml(ComponentKind::Report, "x", "type = \"weekly_cost_reprot\"")
                .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("did you mean `weekly_cost_report`"), "{err}");
    }

    #[test]
    fn every_registered_type_builds_with_defaults() {
        for ty in types() {
            let cfg =
                ComponentConfig::from_toml(ComponentKind::Report, "x", &format!("type = \"{ty}\""))
                    .unwrap();
            let r = build(&cfg).unwrap();
            assert_eq!(r.type_name(), ty);
            assert_eq!(r.name(), "x");
        }
    }
}
