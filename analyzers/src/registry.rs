//! Every analyzer type, one line each. Adding an analyzer is a new file plus
//! one line here.

use vitals_core::config::{
    Build, ComponentConfig, ConfigErrors, build_registered, registered_types,
};

use crate::analyzer::Analyzer;
use crate::{
    commitment, cost_anomaly, cost_per_request, cost_summary, idle_resource, latency_summary,
    p95_regression, rightsizing, slo, slo_safe_savings, spot_candidate,
};

const REGISTRY: &[(&str, Build<Box<dyn Analyzer>>)] = &[
    ("cost_summary", cost_summary::build),
    ("cost_anomaly", cost_anomaly::build),
    ("cost_per_request", cost_per_request::build),
    ("commitment", commitment::build),
    ("latency_summary", latency_summary::build),
    ("p95_regression", p95_regression::build),
    ("slo", slo::build),
    ("slo_safe_savings", slo_safe_savings::build),
    ("idle_resource", idle_resource::build),
    ("rightsizing", rightsizing::build),
    ("spot_candidate", spot_candidate::build),
];

/// The known analyzer types, in registry order.
pub fn types() -> Vec<&'static str> {
    registered_types(REGISTRY)
}

/// Builds an analyzer from its config table, without I/O; an unknown `type` is
/// an error listing the known ones.
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    build_registered(REGISTRY, config)
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    #[test]
    fn unknown_types_are_refused_with_the_list() {
        let cfg =
            ComponentConfig::from_toml(ComponentKind::Analyzer, "x", "type = \"cost_sumary\"")
                .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("did you mean `cost_summary`"), "{err}");
    }

    #[test]
    fn every_registered_type_builds_with_defaults() {
        for ty in types() {
            let cfg = ComponentConfig::from_toml(
                ComponentKind::Analyzer,
                "x",
                &format!("type = \"{ty}\""),
            )
            .unwrap();
            let a = build(&cfg).unwrap();
            assert_eq!(a.type_name(), ty);
            assert_eq!(a.name(), "x");
        }
    }
}
