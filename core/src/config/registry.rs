//! The shape every component registry shares: a list of (type name, build
//! function), one line per type, looked up by a config's `type`.

use super::component::ComponentConfig;
use super::diagnostic::ConfigErrors;

/// Builds a component from its config table, checking it without I/O.
pub type Build<T> = fn(&ComponentConfig) -> Result<T, ConfigErrors>;

/// The type names of a registry, in its order.
pub fn registered_types<T>(registry: &[(&'static str, Build<T>)]) -> Vec<&'static str> {
    registry.iter().map(|(name, _)| *name).collect()
}

/// Builds `config` with the entry of its `type`; an unknown type is an
/// error that lists the known ones.
pub fn build_registered<T>(
    registry: &[(&'static str, Build<T>)],
    config: &ComponentConfig,
) -> Result<T, ConfigErrors> {
    match registry.iter().find(|(name, _)| *name == config.type_name) {
        Some((_, build)) => build(config),
        None => Err(config.unknown_type(&registered_types(registry))),
    }
}
