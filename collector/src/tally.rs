//! Per-file tallies of rows, bad rows and warnings, for file collectors.

use std::path::Path;

use crate::collector::{BAD_ROW_SAMPLES, BadRow, CollectReport, Position};
use crate::error::CollectError;

/// Tallies for one file, turned into the run's report at the end.
pub(crate) struct FileTally<'p> {
    path: &'p Path,
    label: String,
    /// Rows read, bad ones included.
    pub rows: usize,
    bad: usize,
    warnings: usize,
    samples: Vec<BadRow>,
    warning_samples: Vec<String>,
}

impl<'p> FileTally<'p> {
    pub fn new(path: &'p Path) -> Self {
        FileTally {
            path,
            label: path.display().to_string(),
            rows: 0,
            bad: 0,
            warnings: 0,
            samples: Vec::new(),
            warning_samples: Vec::new(),
        }
    }

    /// Counts a row left out; the first [`BAD_ROW_SAMPLES`] keep their place.
    pub fn bad_row(&mut self, position: Position, field: Option<&str>, message: String) {
        self.bad += 1;
        if self.samples.len() < BAD_ROW_SAMPLES {
            self.samples.push(BadRow {
                file: self.label.clone(),
                position,
                field: field.map(str::to_string),
                message,
            });
        }
    }

    /// Counts something a person should know that did not cost the row.
    pub fn warning(&mut self, position: Position, message: String) {
        self.warnings += 1;
        if self.warning_samples.len() < BAD_ROW_SAMPLES {
            let at = match position {
                Position::Line(l) => format!("{}:{l}", self.label),
                Position::Row(r) => format!("{} row {r}", self.label),
            };
            self.warning_samples.push(format!("{at}: {message}"));
        }
    }

    /// Fails the file if more than `max_bad_row_fraction` of its rows were
    /// bad; else adds its counts, samples and `note` (a file-level warning)
    /// to the run's report.
    pub fn finish(
        self,
        note: Option<String>,
        max_bad_row_fraction: f64,
        report: &mut CollectReport,
    ) -> Result<(), CollectError> {
        if self.bad > 0 && self.bad as f64 > max_bad_row_fraction * self.rows as f64 {
            let first = self
                .samples
                .into_iter()
                .next()
                .expect("a bad row was sampled");
            return Err(CollectError::TooManyBadRows {
                path: self.path.to_path_buf(),
                bad: self.bad,
                total: self.rows,
                max_fraction: max_bad_row_fraction,
                first: Box::new(first),
            });
        }
        report.files += 1;
        report.bad_rows += self.bad;
        report.bad_row_samples.extend(self.samples);
        if let Some(note) = note {
            report.warnings.push(format!("{}: {note}", self.label));
        }
        report.warnings.extend(self.warning_samples);
        if self.warnings > BAD_ROW_SAMPLES {
            report.warnings.push(format!(
                "{}: {} more warnings like these",
                self.label,
                self.warnings - BAD_ROW_SAMPLES
            ));
        }
        Ok(())
    }
}
