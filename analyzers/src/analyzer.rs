//! The `Analyzer` trait and what it is given and gives back.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use vitals_core::finding::Finding;
use vitals_core::period::DayRange;
use vitals_core::summary::Summary;
use vitals_core::{Dataset, Store};

use crate::error::AnalyzeError;

/// What one analysis run looks at.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisContext<'a> {
    pub store: &'a Store,
    /// The days under analysis (a report's week, or `--since..--until`).
    pub period: DayRange,
    /// Today's UTC date (`now`'s).
    pub today: NaiveDate,
    /// The time of the run: analyzers take the clock from here, never from
    /// the system, so that they stay pure and tests deterministic.
    pub now: DateTime<Utc>,
    /// The resource tag (or label) naming a resource's owner, which
    /// findings about resources carry ([`Finding::owner`]). Default
    /// `owner`.
    ///
    /// [`Finding::owner`]: vitals_core::finding::Finding::owner
    pub owner_tag: &'a str,
}

impl<'a> AnalysisContext<'a> {
    /// A context for `period` at `now`.
    pub fn new(store: &'a Store, period: DayRange, now: DateTime<Utc>) -> Self {
        AnalysisContext {
            store,
            period,
            today: now.date_naive(),
            now,
            owner_tag: vitals_core::finding::DEFAULT_OWNER_TAG,
        }
    }

    /// The same context reading owners from `tag`.
    pub fn with_owner_tag(self, tag: &'a str) -> Self {
        AnalysisContext {
            owner_tag: tag,
            ..self
        }
    }
}

/// Findings and summary tables of one run.
#[derive(Debug, Clone, Default)]
pub struct AnalysisOutput {
    pub findings: Vec<Finding>,
    pub summaries: Vec<Summary>,
}

/// A Polars pipeline over the store. Synchronous: the daemon runs it under
/// `spawn_blocking`.
pub trait Analyzer: Send + Sync + fmt::Debug {
    /// The instance's name (its config key).
    fn name(&self) -> &str;

    /// The registry type, which is also the `kind` of its findings.
    fn type_name(&self) -> &'static str;

    /// The datasets it reads (savings analyzers join cost with inventory
    /// and utilization). The first is the one it is about: a refresh of
    /// that dataset's figures runs it, a refresh of another's does not.
    fn datasets(&self) -> &'static [Dataset];

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError>;

    /// Runs once every analyzer of the run has, over all they produced:
    /// an analyzer that judges other analyzers' findings
    /// (`slo_safe_savings`) annotates them here. Default: nothing.
    fn refine(&self, _findings: &mut [Finding], _summaries: &[Summary]) {}
}
