//! Every analyzer type, one line each. Adding an analyzer is a new file plus
//! one line here.

use vitals_core::config::{ComponentConfig, ConfigErrors};

use crate::analyzer::Analyzer;
use crate::cost_summary;

type Build = fn(&ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors>;

const REGISTRY: &[(&str, Build)] = &[("cost_summary", cost_summary::build)];

/// The known analyzer types, in registry order.
pub fn types() -> Vec<&'static str> {
    REGISTRY.iter().map(|(name, _)| *name).collect()
}

/// Builds an analyzer from its config table, without I/O; an unknown `type`
/// is an error listing the known ones.
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    match REGISTRY.iter().find(|(name, _)| *name == config.type_name) {
        Some((_, build)) => build(config),
        None => Err(config.unknown_type(&types())),
    }
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
