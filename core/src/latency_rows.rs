//! Latency rows and the builder that turns them into the canonical frame:
//! every latency collector uses it, and so do tests that need latency rows.

use crate::Dataset;
use crate::dataset::ColumnType;
use crate::error::Error;
use crate::latency::{Apdex, Histogram};
use chrono::NaiveDateTime;
use polars::prelude::*;

/// One interval of one service (and endpoint) from one source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyRow {
    /// Start of the interval, UTC.
    pub ts: NaiveDateTime,
    pub interval_s: i64,
    pub service: String,
    pub endpoint: Option<String>,
    pub requests: f64,
    pub errors: f64,
    /// Apdex counts and the `T` (seconds) they were counted with.
    pub apdex: Option<(f64, Apdex)>,
    pub histogram: Option<Histogram>,
    /// The source's own quantiles (exact ones, or the only ones it has).
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub p99_s: Option<f64>,
}

/// Collects [`LatencyRow`]s column by column.
#[derive(Debug, Default)]
pub struct LatencyFrameBuilder {
    ts: Vec<i64>,
    interval_s: Vec<i64>,
    service: Vec<String>,
    endpoint: Vec<Option<String>>,
    numbers: [Vec<Option<f64>>; 9],
    interpolated: Vec<Option<bool>>,
    bounds: Vec<Option<Series>>,
    counts: Vec<Option<Series>>,
}

const NUMBER_COLUMNS: [&str; 9] = [
    "requests",
    "errors",
    "apdex_t_s",
    "apdex_satisfied",
    "apdex_tolerating",
    "apdex_frustrated",
    "p50_s",
    "p95_s",
    "p99_s",
];

impl LatencyFrameBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn push(&mut self, row: LatencyRow) {
        self.ts.push(row.ts.and_utc().timestamp_micros());
        self.interval_s.push(row.interval_s);
        self.service.push(row.service);
        self.endpoint.push(row.endpoint);
        let (t, a) = match row.apdex {
            Some((t, a)) => (Some(t), Some(a)),
            None => (None, None),
        };
        let numbers = [
            Some(row.requests),
            Some(row.errors),
            t,
            a.map(|a| a.satisfied),
            a.map(|a| a.tolerating),
            a.map(|a| a.frustrated),
            row.p50_s,
            row.p95_s,
            row.p99_s,
        ];
        for (buf, v) in self.numbers.iter_mut().zip(numbers) {
            buf.push(v);
        }
        self.interpolated.push(a.map(|a| a.interpolated));
        match row.histogram {
            Some(h) => {
                let (b, c) = h.into_parts();
                self.bounds.push(Some(Series::new(PlSmallStr::EMPTY, b)));
                self.counts.push(Some(Series::new(PlSmallStr::EMPTY, c)));
            }
            None => {
                self.bounds.push(None);
                self.counts.push(None);
            }
        }
    }

    /// The canonical latency frame, `source` on every row, checked against
    /// the schema.
    pub fn finish(self, source: &str) -> Result<DataFrame, Error> {
        let n = self.len();
        let frame_error = |e: PolarsError| Error::polars("building the latency frame", e);
        let list = ColumnType::ListFloat64.dtype();
        let mut columns = vec![
            Column::new("ts".into(), self.ts)
                .cast(&ColumnType::Datetime.dtype())
                .map_err(frame_error)?,
            Column::new("interval_s".into(), self.interval_s),
            Column::new("service".into(), self.service),
            Column::new("endpoint".into(), self.endpoint),
        ];
        for (name, values) in NUMBER_COLUMNS.into_iter().zip(self.numbers) {
            columns.push(Column::new(name.into(), values));
        }
        columns.push(Column::new("apdex_interpolated".into(), self.interpolated));
        for (name, values) in [("hist_bounds_s", self.bounds), ("hist_counts", self.counts)] {
            let chunked: ListChunked = values.into_iter().collect();
            columns.push(
                chunked
                    .with_name(name.into())
                    .into_series()
                    .cast(&list)
                    .map_err(frame_error)?
                    .into(),
            );
        }
        columns.push(Column::new("source".into(), vec![source; n]));
        let df = DataFrame::new(n, columns).map_err(frame_error)?;
        Dataset::Latency.conform(df)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_a_conforming_frame() {
        let mut b = LatencyFrameBuilder::new();
        let ts = chrono::NaiveDate::from_ymd_opt(2026, 11, 2)
            .unwrap()
            .and_hms_opt(10, 5, 0)
            .unwrap();
        let h = Histogram::new(vec![0.1, 0.5, f64::INFINITY], vec![3.0, 1.0, 0.0]).unwrap();
        b.push(LatencyRow {
            ts,
            interval_s: 300,
            service: "checkout".into(),
            endpoint: Some("/pay".into()),
            requests: 4.0,
            errors: 1.0,
            apdex: Some((0.5, h.apdex(0.5))),
            histogram: Some(h),
            p95_s: Some(0.4),
            ..Default::default()
        });
        b.push(LatencyRow {
            ts,
            interval_s: 300,
            service: "search".into(),
            requests: 0.0,
            ..Default::default()
        });
        let df = b.finish("logs").unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(df.schema().as_ref(), &Dataset::Latency.schema());
        let bounds = df.column("hist_bounds_s").unwrap().list().unwrap();
        assert_eq!(bounds.get_as_series(0).unwrap().len(), 3);
        assert!(bounds.get_as_series(1).is_none());
    }
}
