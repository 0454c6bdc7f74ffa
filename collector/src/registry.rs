//! Every collector type, one line each. Adding a source is a new file plus
//! one line here.

use vitals_core::config::{
    Build, ComponentConfig, ConfigErrors, build_registered, registered_types,
};

use crate::collector::Collector;
use crate::{
    aws_cloudwatch, aws_cost_explorer, aws_cur, aws_inventory, aws_pricing, focus_file,
    gcp_billing_export, gcp_compute_inventory, gcp_monitoring, gcp_pricing, newrelic, prometheus,
    request_log, table_file,
};

const REGISTRY: &[(&str, Build<Box<dyn Collector>>)] = &[
    ("focus_file", focus_file::build),
    ("aws_cost_explorer", aws_cost_explorer::build),
    ("aws_cur", aws_cur::build),
    ("gcp_billing_export", gcp_billing_export::build),
    ("request_log", request_log::build),
    ("prometheus", prometheus::build),
    ("newrelic", newrelic::build),
    ("table_file", table_file::build),
    ("aws_inventory", aws_inventory::build),
    ("aws_cloudwatch", aws_cloudwatch::build),
    ("aws_pricing", aws_pricing::build),
    ("gcp_compute_inventory", gcp_compute_inventory::build),
    ("gcp_monitoring", gcp_monitoring::build),
    ("gcp_pricing", gcp_pricing::build),
];

/// The known collector types, in registry order.
pub fn types() -> Vec<&'static str> {
    registered_types(REGISTRY)
}

/// Builds a collector from its config table, without I/O; an unknown `type` is
/// an error listing the known ones.
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    build_registered(REGISTRY, config)
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
            // File collectors need a `path`; the others build from defaults.
            let extra = match ty {
                "focus_file" | "request_log" => "\npath = \"p\"",
                "table_file" => "\npath = \"p\"\ndataset = \"inventory\"",
                "prometheus" => "\nendpoint_url = \"http://127.0.0.1:9090\"",
                "newrelic" => "\naccount_id = 1\napi_key = \"NRAK-TEST\"",
                "aws_cur" => "\npath = \"s3://bucket/prefix/export\"",
                "gcp_billing_export" => "\ntable = \"p.d.gcp_billing_export_v1_X\"",
                "gcp_compute_inventory" | "gcp_monitoring" | "gcp_pricing" => {
                    "\nprojects = [\"proj-alpha\"]"
                }
                _ => "",
            };
            let cfg = ComponentConfig::from_toml(
                ComponentKind::Collector,
                "x",
                &format!("type = \"{ty}\"{extra}"),
            )
            .unwrap();
            let c = build(&cfg).unwrap();
            assert_eq!(c.type_name(), ty);
            assert_eq!(c.name(), "x");
        }
    }
}
