//! Every sink type, one line each. Adding a sink is a new file plus one
//! line here.

use vitals_core::config::{
    Build, ComponentConfig, ConfigErrors, build_registered, registered_types,
};

use crate::Sink;
use crate::{alertmanager, email, pagerduty, slack, webhook};

const REGISTRY: &[(&str, Build<Box<dyn Sink>>)] = &[
    ("webhook", webhook::build),
    ("pagerduty", pagerduty::build),
    ("slack", slack::build),
    ("alertmanager", alertmanager::build),
    ("email", email::build),
];

/// The known sink types, in registry order.
pub fn types() -> Vec<&'static str> {
    registered_types(REGISTRY)
}

/// Builds a sink from its config table, without I/O; an unknown `type` is
/// an error listing the known ones.
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Sink>, ConfigErrors> {
    build_registered(REGISTRY, config)
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    #[test]
    fn unknown_types_are_refused_with_the_list() {
        let cfg =
            ComponentConfig::from_toml(ComponentKind::Sink, "x", "type = \"webhok\"").unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("did you mean `webhook`"), "{err}");
    }
}
