//! One `[collectors.NAME]`, `[analyzers.NAME]` or `[reports.NAME]` table.
//!
//! Core does not know component types: it keeps each table with its spans and
//! lets the component's registry parse it into its own typed config with
//! [`ComponentConfig::parse`], which reports every unknown key (with "did you
//! mean") and the first type error, each with its line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diagnostic::{ConfigError, ConfigErrors, SourceText, backticked, did_you_mean};
use super::interpolate::join;

/// The three kinds of configured components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Collector,
    Analyzer,
    Report,
    Sink,
}

impl ComponentKind {
    /// The config section, e.g. `collectors`.
    pub fn section(self) -> &'static str {
        match self {
            ComponentKind::Collector => "collectors",
            ComponentKind::Analyzer => "analyzers",
            ComponentKind::Report => "reports",
            ComponentKind::Sink => "sinks",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComponentKind::Collector => "collector",
            ComponentKind::Analyzer => "analyzer",
            ComponentKind::Report => "report",
            ComponentKind::Sink => "sink",
        })
    }
}

/// A component's config table, kept with its place in the file.
#[derive(Debug, Clone)]
pub struct ComponentConfig {
    pub kind: ComponentKind,
    /// The table key: the instance's name, store source and metrics label.
    pub name: String,
    /// The `type` key.
    pub type_name: String,
    /// The table without `type`.
    table: DeTable<'static>,
    span: Range<usize>,
    type_span: Range<usize>,
    source: Arc<SourceText>,
    base_dir: PathBuf,
}

impl ComponentConfig {
    pub(crate) fn new(
        kind: ComponentKind,
        name: String,
        type_name: Spanned<String>,
        table: DeTable<'static>,
        span: Range<usize>,
        source: Arc<SourceText>,
    ) -> Self {
        let base_dir = source
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        ComponentConfig {
            kind,
            name,
            type_span: type_name.span(),
            type_name: type_name.into_inner(),
            table,
            span,
            source,
            base_dir,
        }
    }

    /// A component config built in code (tests, defaults), with no file behind it.
    pub fn from_toml(kind: ComponentKind, name: &str, text: &str) -> Result<Self, ConfigErrors> {
        let config = super::Config::parse_str(
            &format!("[{}.{name}]\n{text}", kind.section()),
            Path::new("<inline>"),
            &|_| None,
        )?;
        let list = match kind {
            ComponentKind::Collector => config.collectors,
            ComponentKind::Analyzer => config.analyzers,
            ComponentKind::Report => config.reports,
            ComponentKind::Sink => config.sinks,
        };
        Ok(list.into_iter().next().expect("one component was parsed"))
    }

    /// `collectors.NAME`.
    pub fn key_path(&self) -> String {
        format!("{}.{}", self.kind.section(), self.name)
    }

    /// Resolves a path from this config against the config file's directory.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    pub fn config_path(&self) -> &Path {
        self.source.path()
    }

    /// Parses the table into a component's typed config: see [`parse_table`].
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigErrors> {
        let what = format!("{} type `{}`", self.kind, self.type_name);
        parse_table(
            &self.key_path(),
            &what,
            &self.table,
            self.span.clone(),
            &self.source,
        )
    }

    /// Parses the keys a group of component types shares, declared once in
    /// `S` (the AWS connection, say), and the component's own keys in `T`,
    /// from the one table. A key of neither is unknown, and the hint lists
    /// both sets.
    pub fn parse_shared<S: DeserializeOwned, T: DeserializeOwned>(
        &self,
    ) -> Result<(S, T), ConfigErrors> {
        let what = format!("{} type `{}`", self.kind, self.type_name);
        let shared_keys = struct_fields::<S>();
        let mut shared = self.table.clone();
        let mut own = self.table.clone();
        for (key, _) in self.table.iter() {
            if shared_keys.contains(&key.get_ref().as_ref()) {
                own.remove(key.get_ref().as_ref());
            } else {
                shared.remove(key.get_ref().as_ref());
            }
        }
        let path = self.key_path();
        let s = parse_table_knowing(&path, &what, &shared, self.span.clone(), &self.source, &[]);
        let t = parse_table_knowing(
            &path,
            &what,
            &own,
            self.span.clone(),
            &self.source,
            shared_keys,
        );
        match (s, t) {
            (Ok(s), Ok(t)) => Ok((s, t)),
            (Err(mut a), Err(b)) => {
                a.extend(b);
                Err(a)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// An error about this component, placed at `key` (or at the table).
    pub fn error(&self, key: Option<&str>, message: impl Into<String>) -> ConfigErrors {
        let span = key
            .and_then(|k| self.table.get(k).map(|v| v.span()))
            .unwrap_or_else(|| self.span.clone());
        let path = key.map_or_else(|| self.key_path(), |k| join(&self.key_path(), k));
        let mut errors = ConfigErrors::new(self.source.path());
        errors.push(ConfigError::new(path, message).at(&self.source, Some(span)));
        errors
    }

    /// A duration at `key` (`text`, e.g. `5m`) as whole seconds that divide
    /// a day, so that intervals line up with UTC days; at least `min_secs`.
    pub fn seconds_dividing_day(
        &self,
        key: &str,
        text: &str,
        min_secs: u64,
    ) -> Result<i64, ConfigErrors> {
        let value = humantime::parse_duration(text).map_err(|e| {
            self.error(
                Some(key),
                format!("invalid duration `{text}`: {e} (e.g. `1m`, `5m`, `1h`)"),
            )
        })?;
        let secs = value.as_secs();
        if value.subsec_nanos() != 0 || secs < min_secs.max(1) || 86_400 % secs != 0 {
            return Err(self.error(
                Some(key),
                format!(
                    "`{text}` must be a whole number of seconds, at least {} s, that divides a day (e.g. `1m`, `5m`, `1h`)",
                    min_secs.max(1)
                ),
            ));
        }
        Ok(secs as i64)
    }

    /// The error for a `type` no registry entry matches.
    pub fn unknown_type(&self, known: &[&str]) -> ConfigErrors {
        let mut errors = ConfigErrors::new(self.source.path());
        errors.push(
            ConfigError::new(
                join(&self.key_path(), "type"),
                format!(
                    "unknown {} type `{}`{} (known types: {})",
                    self.kind,
                    self.type_name,
                    did_you_mean(&self.type_name, known.iter().copied()),
                    backticked(known.iter().copied())
                ),
            )
            .at(&self.source, Some(self.type_span.clone())),
        );
        errors
    }
}

/// Parses `table` (found at `key_path`, spanning `span`) into `T`. Every
/// unknown key is reported with the closest known key, and the table is then
/// parsed without them, so a type error in the same table is reported as well.
/// `what` names the table in messages ("collector type `focus_file`").
pub(crate) fn parse_table<T: DeserializeOwned>(
    key_path: &str,
    what: &str,
    table: &DeTable<'static>,
    span: Range<usize>,
    source: &SourceText,
) -> Result<T, ConfigErrors> {
    parse_table_knowing(key_path, what, table, span, source, &[])
}

/// [`parse_table`], with `also_known` keys (parsed elsewhere) listed in the
/// hint for an unknown key.
fn parse_table_knowing<T: DeserializeOwned>(
    key_path: &str,
    what: &str,
    table: &DeTable<'static>,
    span: Range<usize>,
    source: &SourceText,
    also_known: &[&'static str],
) -> Result<T, ConfigErrors> {
    let fields = struct_fields::<T>();
    let all_keys: Vec<&'static str> = fields.iter().chain(also_known).copied().collect();
    let mut errors = ConfigErrors::new(source.path());
    let mut remaining = table.clone();
    for (key, _) in table
        .iter()
        .filter(|(k, _)| !fields.contains(&k.get_ref().as_ref()))
    {
        let hint = did_you_mean(key.get_ref(), all_keys.iter().copied());
        let known = if hint.is_empty() {
            format!("; known keys: {}", backticked(all_keys.iter().copied()))
        } else {
            String::new()
        };
        errors.push(
            ConfigError::new(
                join(key_path, key.get_ref()),
                format!("unknown key for {what}{hint}{known}"),
            )
            .at(source, Some(key.span())),
        );
        remaining.remove(key.get_ref().as_ref());
    }
    // Serde stops at the first bad value: report it, set its key aside and
    // parse again, so every bad value of the table is reported at once.
    loop {
        let value = Spanned::new(span.clone(), DeValue::Table(remaining.clone()));
        match T::deserialize(ValueDeserializer::from(value)) {
            Ok(parsed) => return errors.into_result(parsed),
            Err(e) => {
                // Name the key whose value holds the error, when there is one.
                let key = e
                    .span()
                    .and_then(|s| remaining.iter().find(|(_, v)| v.span().contains(&s.start)))
                    .map(|(k, _)| k.get_ref().to_string());
                let path = key
                    .as_deref()
                    .map_or_else(|| key_path.to_string(), |k| join(key_path, k));
                let place = e.span().unwrap_or(span.clone());
                errors.push(
                    ConfigError::new(path, e.message().trim().to_string()).at(source, Some(place)),
                );
                match key {
                    Some(k) => {
                        remaining.remove(k.as_str());
                    }
                    None => return Err(errors),
                }
            }
        }
    }
}

/// The field names of a struct config, read from its `Deserialize` impl, so
/// unknown keys can be listed all at once with suggestions. (Serde stops at
/// the first unknown key.) Structs that use `flatten` report no fields.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields.unwrap_or(&[])
}

struct FieldProbe<'a>(&'a mut Option<&'static [&'static str]>);

#[derive(Debug)]
struct ProbeDone;

impl fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<T: fmt::Display>(_: T) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeDone> {
        *self.0 = Some(fields);
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        path: String,
        #[serde(default)]
        max_bad_row_fraction: f64,
    }

    #[test]
    fn fields_are_read_from_the_deserialize_impl() {
        assert_eq!(struct_fields::<Probe>(), &["path", "max_bad_row_fraction"]);
    }

    #[test]
    fn unknown_keys_type_errors_and_missing_keys_are_all_reported() {
        let c = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "files",
            "type = \"focus_file\"\npth = \"x\"\nmax_bad_row_fraction = \"lots\"\nzzzzzzzzzz = 1\n",
        )
        .unwrap();
        let errs = c.parse::<Probe>().unwrap_err();
        let text = errs.to_string();
        // `path` is missing too (it was misspelt): that is reported as well.
        assert_eq!(errs.errors.len(), 4, "{text}");
        assert!(
            text.contains("`collectors.files`: missing field `path`"),
            "{text}"
        );
        assert!(text.contains(":3:1: `collectors.files.pth`: unknown key for collector type `focus_file`; did you mean `path`?"), "{text}");
        assert!(
            text.contains(":4:24: `collectors.files.max_bad_row_fraction`: invalid type"),
            "{text}"
        );
        assert!(
            text.contains("`collectors.files.zzzzzzzzzz`: unknown key")
                && text.contains("known keys: `path`"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_key_points_at_the_table() {
        let c = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "files",
            "type = \"focus_file\"\n",
        )
        .unwrap();
        let text = c.parse::<Probe>().unwrap_err().to_string();
        assert!(
            text.contains("`collectors.files`: missing field `path`"),
            "{text}"
        );
    }

    #[test]
    fn unknown_types_list_the_known_ones() {
        let c = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "files",
            "type = \"focus_flie\"\n",
        )
        .unwrap();
        let text = c
            .unknown_type(&["focus_file", "aws_cost_explorer"])
            .to_string();
        assert!(
            text.contains("unknown collector type `focus_flie`; did you mean `focus_file`? (known types: `focus_file`, `aws_cost_explorer`)"),
            "{text}"
        );
    }
}
