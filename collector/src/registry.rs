//! Every collector type, one line each. Adding a source is a new file plus
//! one line here.

use vitals_core::config::{ComponentConfig, ConfigErrors};

use crate::collector::Collector;
use crate::focus_file;

type Build = fn(&ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors>;

const REGISTRY: &[(&str, Build)] = &[("focus_file", focus_file::build)];

/// The known collector types, in registry order.
pub fn types() -> Vec<&'static str> {
    REGISTRY.iter().map(|(name, _)| *name).collect()
}

/// Builds a collector from its config table. Checks the config without I/O;
/// an unknown `type` is an error listing the known ones.
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
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
            ComponentConfig::from_toml(ComponentKind::Collector, "x", "type = \"focus\"").unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("unknown collector type `focus`"), "{err}");
        assert!(err.contains("known types: `focus_file`"), "{err}");
    }

    #[test]
    fn every_registered_type_builds_under_its_name() {
        for ty in types() {
            let cfg = ComponentConfig::from_toml(
                ComponentKind::Collector,
                "x",
                &format!("type = \"{ty}\"\npath = \"p\""),
            )
            .unwrap();
            let c = build(&cfg).unwrap();
            assert_eq!(c.type_name(), ty);
            assert_eq!(c.name(), "x");
        }
    }
}
