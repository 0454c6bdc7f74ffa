//! `${ENV_VAR}` interpolation in config string values.
//!
//! Interpolation happens on parsed string values, never on the raw file, so a
//! variable's value cannot change the TOML structure. `$${` writes a literal `${`.

use std::borrow::Cow;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{ConfigError, SourceText};

/// Replaces `${NAME}` in every string value of `table`, reporting each unset or
/// malformed reference with its place.
pub fn interpolate_table(
    table: &mut DeTable<'static>,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    source: &SourceText,
    errors: &mut Vec<ConfigError>,
) {
    for (key, value) in table.iter_mut() {
        let child = join(path, key.get_ref());
        interpolate_value(value, &child, env, source, errors);
    }
}

fn interpolate_value(
    value: &mut Spanned<DeValue<'static>>,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    source: &SourceText,
    errors: &mut Vec<ConfigError>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains('$') => match expand(s, env) {
            Ok(expanded) => *s = Cow::Owned(expanded),
            Err(message) => errors.push(ConfigError::new(path, message).at(source, Some(span))),
        },
        DeValue::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), env, source, errors);
            }
        }
        DeValue::Table(t) => interpolate_table(t, path, env, source, errors),
        _ => {}
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Expands `${NAME}` references; `$${` is a literal `${`; any other `$` is kept.
pub fn expand(input: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(literal) = after.strip_prefix("${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "unterminated `${`: write `$${` for a literal `${`".to_string())?;
            let name = &body[..end];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(format!(
                    "invalid environment variable name `{name}` in `${{{name}}}`"
                ));
            }
            let value =
                env(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some("/srv/vitals".into()),
            "TOKEN" => Some("s3cr\"et".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_and_keeps_the_rest() {
        assert_eq!(
            expand("${HOME_DIR}/data", &env).unwrap(),
            "/srv/vitals/data"
        );
        assert_eq!(expand("a$b $$ ${TOKEN}", &env).unwrap(), "a$b $$ s3cr\"et");
        assert_eq!(expand("$${HOME_DIR}", &env).unwrap(), "${HOME_DIR}");
        assert_eq!(expand("no refs", &env).unwrap(), "no refs");
    }

    #[test]
    fn unset_and_malformed_references_are_errors() {
        assert_eq!(
            expand("${NOPE}", &env).unwrap_err(),
            "environment variable `NOPE` is not set"
        );
        assert!(
            expand("${HOME_DIR", &env)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            expand("${1A}", &env)
                .unwrap_err()
                .contains("invalid environment variable name")
        );
    }
}
