//! The catalog of instance types: what each type is (vCPUs, memory, GPUs,
//! architecture, family, size and its normalization factor, generation,
//! burstable, spot-capable), for right-sizing and spot savings.
//!
//! The AWS catalog ships in the repo (`catalog/aws_instance_types.jsonl`,
//! compacted from the `DescribeInstanceTypes` output moto bundles; its
//! source, date and licence are in `catalog/README.md`) and is refreshed by
//! `scripts/catalog_aws.py` from the same shape.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// One instance type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceType {
    pub instance_type: String,
    /// The part before the `.` (`m5`, `c7gn`).
    pub family: String,
    /// The part after it (`large`, `12xlarge`, `metal`).
    pub size: String,
    pub generation: Generation,
    pub vcpu: u32,
    pub memory_mib: u64,
    /// Whole GPUs (0 for a fraction of one; see [`InstanceType::has_gpu`]).
    pub gpu_count: u32,
    pub gpu_model: Option<String>,
    pub gpu_memory_mib: u64,
    /// `x86_64`, `arm64`, `i386`, `x86_64_mac`, `arm64_mac`.
    pub architectures: Vec<String>,
    /// T-family CPU credits.
    pub burstable: bool,
    /// Offered as spot capacity.
    pub spot: bool,
    pub bare_metal: bool,
    /// AWS's instance size flexibility units (`large` = 4, `xlarge` = 8).
    pub normalization_factor: f64,
}

impl InstanceType {
    /// Memory in GiB.
    pub fn memory_gib(&self) -> f64 {
        self.memory_mib as f64 / 1024.0
    }

    /// Any GPU, a fraction of one included (`g6f` types have a part of an
    /// L4: a count of 0 and GPU memory).
    pub fn has_gpu(&self) -> bool {
        self.gpu_count > 0 || self.gpu_memory_mib > 0
    }
}

/// A family's class and generation: `m6i` → (`m`, 6), `c7gn` → (`c`, 7);
/// irregular names (`u-6tb1`, `mac2-m2pro`'s dash) → `None`. Families of
/// one class and a higher number are newer generations of it.
pub fn family_class(family: &str) -> Option<(&str, u32)> {
    let letters = family.find(|c: char| c.is_ascii_digit())?;
    let rest = &family[letters..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let generation = rest[..digits].parse().ok()?;
    (letters > 0 && !family[..letters].contains('-')).then_some((&family[..letters], generation))
}

impl Catalog {
    /// The types right-sizing may propose for `current`: its family's, and
    /// those of newer generations of its class, sharing an architecture.
    pub fn sizing_candidates<'a>(
        &'a self,
        current: &'a InstanceType,
    ) -> impl Iterator<Item = &'a InstanceType> + 'a {
        let class = family_class(&current.family);
        self.types.values().filter(move |t| {
            let newer = match (class, family_class(&t.family)) {
                (Some((a, g)), Some((b, h))) => a == b && h > g,
                _ => false,
            };
            (t.family == current.family || newer)
                && t.architectures
                    .iter()
                    .any(|a| current.architectures.contains(a))
        })
    }
}

/// The provider's current or previous generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    Current,
    Previous,
}

/// Instance types by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    types: BTreeMap<String, InstanceType>,
}

const AWS_JSONL: &str = include_str!("../../catalog/aws_instance_types.jsonl");

impl Catalog {
    /// The AWS catalog shipped with vitals, parsed once.
    pub fn aws() -> &'static Catalog {
        static AWS: OnceLock<Catalog> = OnceLock::new();
        AWS.get_or_init(|| {
            // The shipped file is checked by the tests; a broken one is a
            // build defect, not an input error.
            Catalog::from_jsonl(AWS_JSONL).expect("catalog/aws_instance_types.jsonl is valid")
        })
    }

    /// A catalog from JSON lines, one type per line; an error names the line.
    pub fn from_jsonl(text: &str) -> Result<Catalog, String> {
        let mut types = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let t: InstanceType =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            if t.vcpu == 0
                || t.memory_mib == 0
                || t.normalization_factor.is_nan()
                || t.normalization_factor <= 0.0
            {
                return Err(format!(
                    "line {}: `{}` has no vCPUs, memory or normalization factor",
                    i + 1,
                    t.instance_type
                ));
            }
            if let Some(old) = types.insert(t.instance_type.clone(), t) {
                return Err(format!(
                    "line {}: `{}` listed twice",
                    i + 1,
                    old.instance_type
                ));
            }
        }
        Ok(Catalog { types })
    }

    pub fn get(&self, instance_type: &str) -> Option<&InstanceType> {
        self.types.get(instance_type)
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Every type, by name.
    pub fn iter(&self) -> impl Iterator<Item = &InstanceType> {
        self.types.values()
    }

    /// The types of one family, smallest first.
    pub fn family<'a>(&'a self, family: &'a str) -> impl Iterator<Item = &'a InstanceType> + 'a {
        let mut of: Vec<&InstanceType> =
            self.types.values().filter(|t| t.family == family).collect();
        of.sort_by(|a, b| {
            a.normalization_factor
                .total_cmp(&b.normalization_factor)
                .then_with(|| a.instance_type.cmp(&b.instance_type))
        });
        of.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_catalog_holds_what_describe_instance_types_says() {
        let c = Catalog::aws();
        // moto 5.2.5's instance_types.json.gz (see catalog/README.md).
        assert_eq!(c.len(), 1_395);
        let m5 = c.get("m5.large").unwrap();
        assert_eq!((m5.vcpu, m5.memory_mib, m5.gpu_count), (2, 8_192, 0));
        assert_eq!(m5.family, "m5");
        assert_eq!(m5.architectures, ["x86_64"]);
        assert_eq!(m5.normalization_factor, 4.0);
        assert!(m5.spot && !m5.burstable && !m5.bare_metal);
        assert!(c.get("t3.micro").unwrap().burstable);
        assert_eq!(c.get("t3.micro").unwrap().normalization_factor, 0.5);
        let graviton = c.get("m7g.xlarge").unwrap();
        assert_eq!(graviton.architectures, ["arm64"]);
        assert_eq!((graviton.vcpu, graviton.memory_gib()), (4, 16.0));
        // A metal size takes the factor of the virtual size with its vCPUs.
        assert_eq!(c.get("m5.metal").unwrap().normalization_factor, 192.0);
        assert_eq!(
            c.get("m5.metal").unwrap().normalization_factor,
            c.get("m5.24xlarge").unwrap().normalization_factor
        );
        let gpus = c.iter().filter(|t| t.has_gpu()).count();
        assert!(c.get("g6f.large").unwrap().has_gpu());
        let arm = c
            .iter()
            .filter(|t| t.architectures.iter().any(|a| a == "arm64"))
            .count();
        let burstable = c.iter().filter(|t| t.burstable).count();
        let spot = c.iter().filter(|t| t.spot).count();
        // The research notes' counts of the same file.
        assert_eq!((gpus, burstable, spot), (65, 28, 1_365));
        assert!(arm >= 418, "{arm}");
        let sizes: Vec<&str> = c.family("m5").map(|t| t.size.as_str()).collect();
        assert_eq!(sizes.first(), Some(&"large"));
        assert!(
            sizes
                .last()
                .is_some_and(|s| *s == "24xlarge" || *s == "metal"),
            "{sizes:?}"
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let good = r#"{"instance_type":"x.large","family":"x","size":"large","generation":"current","vcpu":2,"memory_mib":4096,"gpu_count":0,"gpu_model":null,"gpu_memory_mib":0,"architectures":["x86_64"],"burstable":false,"spot":true,"bare_metal":false,"normalization_factor":4.0}"#;
        assert_eq!(Catalog::from_jsonl(good).unwrap().len(), 1);
        let err = Catalog::from_jsonl(&format!("{good}\n{{\"instance_type\": 3}}")).unwrap_err();
        assert!(err.starts_with("line 2: "), "{err}");
        let err = Catalog::from_jsonl(&format!("{good}\n{good}")).unwrap_err();
        assert_eq!(err, "line 2: `x.large` listed twice");
        let zero = good.replace("\"vcpu\":2", "\"vcpu\":0");
        assert!(Catalog::from_jsonl(&zero).unwrap_err().contains("no vCPUs"));
    }
}
