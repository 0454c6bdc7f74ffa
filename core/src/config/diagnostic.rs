//! Config errors that say where: file, line, column and the key's path.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The text of a config file, to turn byte offsets into lines and columns.
#[derive(Debug)]
pub struct SourceText {
    path: PathBuf,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(path: impl Into<PathBuf>, text: &str) -> Arc<Self> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Arc::new(SourceText {
            path: path.into(),
            line_starts,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        (line, offset - self.line_starts[line - 1] + 1)
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line and column, when the problem has a place in the file.
    pub location: Option<(usize, usize)>,
    /// Dotted path of the key, e.g. `collectors.sample.path`; empty for the file.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            location: None,
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn at(mut self, source: &SourceText, span: Option<Range<usize>>) -> Self {
        self.location = span.map(|s| source.line_col(s.start));
        self
    }
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub path: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ConfigErrors {
            path: path.into(),
            errors: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }

    pub fn extend(&mut self, other: ConfigErrors) {
        self.errors.extend(other.errors);
    }

    /// `Ok(value)` if no error was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{n} error{} in config `{}`",
            if n == 1 { "" } else { "s" },
            self.path.display()
        )?;
        let mut sorted: Vec<&ConfigError> = self.errors.iter().collect();
        sorted.sort_by_key(|e| e.location.unwrap_or((usize::MAX, 0)));
        for e in sorted {
            write!(f, "\n  {}", self.path.display())?;
            if let Some((line, col)) = e.location {
                write!(f, ":{line}:{col}")?;
            }
            if e.key.is_empty() {
                write!(f, ": {}", e.message)?;
            } else {
                write!(f, ": `{}`: {}", e.key, e.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// "; did you mean `x`?" when one of `candidates` is close to `name`, else "".
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// "`a`, `b`, `c`" for lists in messages.
pub fn backticked<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let src = SourceText::new("c.toml", "a = 1\nbb = 2\n\nccc = 3");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(6), (2, 1));
        assert_eq!(src.line_col(9), (2, 4));
        assert_eq!(src.line_col(14), (4, 1));
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            did_you_mean("pth", ["path", "type"]),
            "; did you mean `path`?"
        );
        assert_eq!(
            did_you_mean("focus_flie", ["focus_file"]),
            "; did you mean `focus_file`?"
        );
        assert_eq!(did_you_mean("zzzzzz", ["path", "type"]), "");
    }
}
