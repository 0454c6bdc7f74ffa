//! Latency arithmetic shared by the collectors and analyzers: quantiles of
//! raw samples, mergeable histograms with Prometheus's quantile rule, the
//! fine log-bucketed histogram of raw samples, and Apdex.
//!
//! A histogram is stored as ascending upper bounds (`hist_bounds_s`, the
//! last one usually `+Inf`) and the count of each bucket on its own
//! (`hist_counts`, not cumulative): bucket `i` holds the values in
//! `(bounds[i-1], bounds[i]]`, the first bucket starting at zero as in
//! Prometheus. Per-bucket counts add up when histograms are merged.

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;

/// The `q`-quantile of sorted samples by linear interpolation between the
/// closest ranks: numpy's default (`method="linear"`), DuckDB's
/// `quantile_cont` and Polars' `QuantileMethod::Linear`. `None` when there
/// are no samples or `q` is outside 0..=1.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    let (a, b) = (sorted[lo], sorted[hi]);
    // numpy's `_lerp`: exact at both ends, symmetric in between.
    let t = h - lo as f64;
    Some(if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    })
}

/// Why a histogram cannot be built from the given bounds and counts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistogramError {
    #[error("{bounds} bucket bounds but {counts} counts")]
    LengthMismatch { bounds: usize, counts: usize },
    #[error("bucket bounds must be strictly ascending and not NaN (bound {index} is {value})")]
    BoundsNotAscending { index: usize, value: f64 },
    #[error("bucket {index} has count {value}; counts must be finite and not negative")]
    BadCount { index: usize, value: f64 },
}

/// A histogram with per-bucket counts; see the module docs for the layout.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<f64>,
}

impl Histogram {
    /// Checks the layout: as many counts as bounds, bounds strictly
    /// ascending, counts finite and not negative.
    pub fn new(bounds: Vec<f64>, counts: Vec<f64>) -> Result<Self, HistogramError> {
        if bounds.len() != counts.len() {
            return Err(HistogramError::LengthMismatch {
                bounds: bounds.len(),
                counts: counts.len(),
            });
        }
        for (i, &b) in bounds.iter().enumerate() {
            if b.is_nan() || (i > 0 && b <= bounds[i - 1]) {
                return Err(HistogramError::BoundsNotAscending { index: i, value: b });
            }
        }
        if let Some((index, &value)) = counts
            .iter()
            .enumerate()
            .find(|(_, c)| !c.is_finite() || **c < 0.0)
        {
            return Err(HistogramError::BadCount { index, value });
        }
        Ok(Histogram { bounds, counts })
    }

    /// From Prometheus-style cumulative counts (`le` buckets). A cumulative
    /// count below the one before it (which scrape timing can produce) is
    /// raised to it first, as `histogram_quantile` does.
    pub fn from_cumulative(bounds: Vec<f64>, cumulative: &[f64]) -> Result<Self, HistogramError> {
        if let Some((index, &value)) = cumulative
            .iter()
            .enumerate()
            .find(|(_, c)| !c.is_finite() || **c < 0.0)
        {
            return Err(HistogramError::BadCount { index, value });
        }
        let mut counts = Vec::with_capacity(cumulative.len());
        let mut running = 0.0_f64;
        for &c in cumulative {
            let c = c.max(running);
            counts.push(c - running);
            running = c;
        }
        Histogram::new(bounds, counts)
    }

    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    pub fn counts(&self) -> &[f64] {
        &self.counts
    }

    pub fn into_parts(self) -> (Vec<f64>, Vec<f64>) {
        (self.bounds, self.counts)
    }

    /// How many values the histogram holds.
    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    fn cumulative(&self) -> Vec<f64> {
        self.counts
            .iter()
            .scan(0.0, |run, c| {
                *run += c;
                Some(*run)
            })
            .collect()
    }

    /// The `q`-quantile by Prometheus's rule (`histogram_quantile`, Prometheus
    /// 2.x `bucketQuantile`): find the bucket holding rank `q × total` and
    /// interpolate linearly inside it, the first bucket starting at zero; a
    /// rank in the `+Inf` bucket answers the highest finite bound. `None`
    /// where Prometheus answers NaN: no values, fewer than two buckets, a
    /// last bound that is not `+Inf`, or `q` outside 0..=1.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.bounds.len();
        if !(0.0..=1.0).contains(&q) || n < 2 || self.bounds[n - 1] != f64::INFINITY {
            return None;
        }
        let cumulative = self.cumulative();
        let observations = cumulative[n - 1];
        if observations <= 0.0 {
            return None;
        }
        let mut rank = q * observations;
        let b = cumulative[..n - 1].partition_point(|&c| c < rank);
        if b == n - 1 {
            return Some(self.bounds[n - 2]);
        }
        if b == 0 && self.bounds[0] <= 0.0 {
            return Some(self.bounds[0]);
        }
        let end = self.bounds[b];
        let mut count = cumulative[b];
        let mut start = 0.0;
        if b > 0 {
            start = self.bounds[b - 1];
            count -= cumulative[b - 1];
            rank -= cumulative[b - 1];
        }
        Some(start + (end - start) * (rank / count))
    }

    /// How many values are at most `x`, interpolated linearly inside the
    /// bucket that holds `x` (the assumption `histogram_quantile` makes), and
    /// whether interpolation was needed (`x` is not a bucket bound).
    /// Values in the `+Inf` bucket are all counted above any finite `x`.
    pub fn count_at_most(&self, x: f64) -> (f64, bool) {
        let mut below = 0.0;
        let mut start = 0.0_f64.min(self.bounds.first().copied().unwrap_or(0.0));
        for (&end, &count) in self.bounds.iter().zip(&self.counts) {
            if x == end {
                return (below + count, false);
            }
            if x < end {
                if x <= start || end.is_infinite() {
                    return (below, x != start && count > 0.0);
                }
                let part = count * (x - start) / (end - start);
                return (below + part, count > 0.0);
            }
            below += count;
            start = end;
        }
        (below, false)
    }

    /// Apdex counts for threshold `t`: satisfied at most `t`, tolerating up
    /// to `4t`, frustrated above; interpolated where `t` or `4t` falls
    /// inside a bucket.
    pub fn apdex(&self, t: f64) -> Apdex {
        let (satisfied, i1) = self.count_at_most(t);
        let (within_4t, i2) = self.count_at_most(4.0 * t);
        let total = self.total();
        Apdex {
            satisfied,
            tolerating: (within_4t - satisfied).max(0.0),
            frustrated: (total - within_4t).max(0.0),
            interpolated: i1 || i2,
        }
    }

    /// Adds histograms together. Equal bounds add bucket by bucket, exactly.
    /// Different bounds are brought onto the union of all bounds, each
    /// histogram's cumulative count at a bound it lacks being interpolated
    /// as in [`Histogram::count_at_most`]; that is exact for histograms on
    /// one grid (such as [`LogBuckets`]) and an approximation otherwise.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Histogram>) -> Histogram {
        let parts: Vec<&Histogram> = parts.into_iter().collect();
        let Some(first) = parts.first() else {
            return Histogram::default();
        };
        if parts.iter().all(|h| h.bounds == first.bounds) {
            let mut counts = first.counts.clone();
            for h in &parts[1..] {
                for (c, x) in counts.iter_mut().zip(&h.counts) {
                    *c += x;
                }
            }
            return Histogram {
                bounds: first.bounds.clone(),
                counts,
            };
        }
        let mut bounds: Vec<f64> = parts
            .iter()
            .flat_map(|h| h.bounds.iter().copied())
            .collect();
        bounds.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
        bounds.dedup();
        let mut cumulative = vec![0.0; bounds.len()];
        for h in parts {
            for (c, &b) in cumulative.iter_mut().zip(&bounds) {
                *c += if b.is_infinite() {
                    h.total()
                } else {
                    h.count_at_most(b).0
                };
            }
        }
        // Rounding can leave a cumulative count a hair below the one before.
        Histogram::from_cumulative(bounds, &cumulative).unwrap_or_default()
    }
}

/// Log-spaced buckets for raw samples: bucket `i` is `(γ^(i-1), γ^i]` with
/// `γ = 1 + relative_error`, so any value read back from a bucket is within
/// that relative error of the true one. Zero (and below) has its own bucket
/// with bound 0. Only the buckets that hold values are stored, each with its
/// lower edge as a zero-count bound, and a final `+Inf` bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogBuckets {
    gamma: f64,
    ln_gamma: f64,
}

impl LogBuckets {
    /// `relative_error` must be in (0, 1).
    pub fn new(relative_error: f64) -> Option<Self> {
        (relative_error > 0.0 && relative_error < 1.0).then(|| {
            let gamma = 1.0 + relative_error;
            LogBuckets {
                gamma,
                ln_gamma: gamma.ln(),
            }
        })
    }

    /// The upper bound of bucket `i`.
    pub fn upper(&self, i: i32) -> f64 {
        self.gamma.powi(i)
    }

    /// The bucket of a positive finite value; `None` for zero, negative or
    /// non-finite values.
    pub fn index(&self, x: f64) -> Option<i32> {
        if !(x > 0.0 && x.is_finite()) {
            return None;
        }
        let mut i = (x.ln() / self.ln_gamma).ceil() as i32;
        // `ln` rounding can land one bucket off at an edge; the bounds decide.
        if x > self.upper(i) {
            i += 1;
        } else if x <= self.upper(i - 1) {
            i -= 1;
        }
        Some(i)
    }

    /// A histogram from (bucket index, count) pairs sorted by index, and the
    /// count of values at or below zero.
    pub fn histogram(&self, zero: f64, buckets: &[(i32, f64)]) -> Histogram {
        let mut bounds = Vec::with_capacity(buckets.len() * 2 + 2);
        let mut counts = Vec::with_capacity(buckets.len() * 2 + 2);
        if zero > 0.0 {
            bounds.push(0.0);
            counts.push(zero);
        }
        let mut last: Option<i32> = None;
        for &(i, c) in buckets {
            if last != Some(i - 1) {
                bounds.push(self.upper(i - 1));
                counts.push(0.0);
            }
            bounds.push(self.upper(i));
            counts.push(c);
            last = Some(i);
        }
        bounds.push(f64::INFINITY);
        counts.push(0.0);
        Histogram { bounds, counts }
    }
}

/// Apdex counts (New Relic's definition): satisfied responses within `T`,
/// tolerating within `4T`, frustrated beyond; counts may be fractional when
/// read off a histogram.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Apdex {
    pub satisfied: f64,
    pub tolerating: f64,
    pub frustrated: f64,
    /// `T` or `4T` fell inside a histogram bucket, so the counts are
    /// interpolated rather than exact.
    pub interpolated: bool,
}

impl Apdex {
    /// `(satisfied + tolerating / 2) / total`; `None` without responses.
    pub fn score(&self) -> Option<f64> {
        apdex_score(self.satisfied, self.tolerating, self.frustrated)
    }
}

/// `(satisfied + tolerating / 2) / (satisfied + tolerating + frustrated)`;
/// `None` when there is nothing to score.
pub fn apdex_score(satisfied: f64, tolerating: f64, frustrated: f64) -> Option<f64> {
    let total = satisfied + tolerating + frustrated;
    (total > 0.0).then(|| (satisfied + tolerating / 2.0) / total)
}

/// The rating band of an Apdex score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApdexBand {
    Unacceptable,
    Poor,
    Fair,
    Good,
    Excellent,
}

impl ApdexBand {
    /// Excellent ≥ 0.94, Good ≥ 0.85, Fair ≥ 0.70, Poor ≥ 0.50, else
    /// Unacceptable.
    pub fn of(score: f64) -> ApdexBand {
        match score {
            s if s >= 0.94 => ApdexBand::Excellent,
            s if s >= 0.85 => ApdexBand::Good,
            s if s >= 0.70 => ApdexBand::Fair,
            s if s >= 0.50 => ApdexBand::Poor,
            _ => ApdexBand::Unacceptable,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApdexBand::Excellent => "Excellent",
            ApdexBand::Good => "Good",
            ApdexBand::Fair => "Fair",
            ApdexBand::Poor => "Poor",
            ApdexBand::Unacceptable => "Unacceptable",
        }
    }
}

impl fmt::Display for ApdexBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    #[test]
    fn linear_quantiles_match_numpy() {
        // numpy.percentile([1, 2, 3, 4, 10], [0, 25, 50, 90, 95, 100])
        let s = [1.0, 2.0, 3.0, 4.0, 10.0];
        let want = [
            (0.0, 1.0),
            (0.25, 2.0),
            (0.5, 3.0),
            (0.9, 7.6),
            (0.95, 8.8),
            (1.0, 10.0),
        ];
        for (q, v) in want {
            assert!((quantile_sorted(&s, q).unwrap() - v).abs() < 1e-12, "q={q}");
        }
        assert_eq!(quantile_sorted(&[7.0], 0.95), Some(7.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(quantile_sorted(&s, 1.5), None);
    }

    #[test]
    fn histogram_quantiles_follow_prometheus() {
        // Cumulative le buckets 0.1:10, 0.25:60, 0.5:90, 1:95, +Inf:100.
        let h = Histogram::from_cumulative(
            vec![0.1, 0.25, 0.5, 1.0, INF],
            &[10.0, 60.0, 90.0, 95.0, 100.0],
        )
        .unwrap();
        // rank 50 is 40/50 of the way through (0.1, 0.25].
        assert!((h.quantile(0.5).unwrap() - 0.22).abs() < 1e-12);
        // rank 5 in the first bucket, which starts at zero.
        assert!((h.quantile(0.05).unwrap() - 0.05).abs() < 1e-12);
        // rank 99 falls in +Inf: the highest finite bound.
        assert_eq!(h.quantile(0.99), Some(1.0));
        assert_eq!(
            Histogram::new(vec![0.1, INF], vec![0.0, 0.0])
                .unwrap()
                .quantile(0.5),
            None
        );
        assert_eq!(
            Histogram::new(vec![0.1, 1.0], vec![1.0, 1.0])
                .unwrap()
                .quantile(0.5),
            None
        );
    }

    #[test]
    fn non_monotonic_cumulative_counts_are_raised_like_prometheus() {
        let h = Histogram::from_cumulative(vec![0.1, 0.2, INF], &[5.0, 4.0, 10.0]).unwrap();
        assert_eq!(h.counts(), &[5.0, 0.0, 5.0]);
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert!(matches!(
            Histogram::new(vec![1.0, 0.5], vec![1.0, 1.0]),
            Err(HistogramError::BoundsNotAscending { index: 1, .. })
        ));
        assert!(matches!(
            Histogram::new(vec![1.0], vec![1.0, 1.0]),
            Err(HistogramError::LengthMismatch { .. })
        ));
        assert!(matches!(
            Histogram::new(vec![1.0, INF], vec![1.0, f64::NAN]),
            Err(HistogramError::BadCount { index: 1, .. })
        ));
    }

    #[test]
    fn new_relic_worked_apdex_example() {
        // docs.newrelic.com "Apdex: Measure user satisfaction": T = 0.5 s,
        // 170 satisfied, 20 tolerating, 10 frustrated → 0.90.
        let h = Histogram::new(vec![0.5, 2.0, INF], vec![170.0, 20.0, 10.0]).unwrap();
        let a = h.apdex(0.5);
        assert_eq!(
            (a.satisfied, a.tolerating, a.frustrated),
            (170.0, 20.0, 10.0)
        );
        assert!(!a.interpolated);
        assert!((a.score().unwrap() - 0.90).abs() < 1e-12);
        assert_eq!(ApdexBand::of(0.90), ApdexBand::Good);
    }

    #[test]
    fn apdex_between_bounds_is_interpolated_and_flagged() {
        // 100 values in (0.25, 1]: T = 0.4 takes 15/75 of them, 4T = 1.6
        // lies in +Inf's bucket, which is empty.
        let h = Histogram::new(vec![0.25, 1.0, INF], vec![0.0, 100.0, 0.0]).unwrap();
        let a = h.apdex(0.4);
        assert!((a.satisfied - 20.0).abs() < 1e-12);
        assert!((a.tolerating - 80.0).abs() < 1e-12);
        assert_eq!(a.frustrated, 0.0);
        assert!(a.interpolated);
    }

    #[test]
    fn apdex_bands() {
        let bands = [
            (0.94, ApdexBand::Excellent),
            (0.9399, ApdexBand::Good),
            (0.85, ApdexBand::Good),
            (0.70, ApdexBand::Fair),
            (0.50, ApdexBand::Poor),
            (0.4999, ApdexBand::Unacceptable),
        ];
        for (s, b) in bands {
            assert_eq!(ApdexBand::of(s), b, "{s}");
        }
        assert_eq!(apdex_score(0.0, 0.0, 0.0), None);
    }

    #[test]
    fn log_buckets_hold_values_within_their_error() {
        let lb = LogBuckets::new(0.01).unwrap();
        for x in [1e-6, 0.000_123, 0.1, 0.5, 1.0, 1.01, 2.5, 300.0] {
            let i = lb.index(x).unwrap();
            assert!(
                lb.upper(i - 1) < x && x <= lb.upper(i),
                "{x} not in bucket {i}"
            );
            assert!(lb.upper(i) / lb.upper(i - 1) <= 1.0100001);
        }
        assert_eq!(lb.index(0.0), None);
        assert_eq!(lb.index(f64::NAN), None);
    }

    #[test]
    fn merging_log_histograms_is_exact_on_the_grid() {
        let lb = LogBuckets::new(0.01).unwrap();
        let a = lb.histogram(0.0, &[(10, 3.0), (12, 1.0)]);
        let b = lb.histogram(2.0, &[(11, 4.0), (12, 2.0)]);
        let m = Histogram::merge([&a, &b]);
        assert_eq!(m.total(), 12.0);
        let whole = lb.histogram(2.0, &[(10, 3.0), (11, 4.0), (12, 3.0)]);
        for q in [0.1, 0.5, 0.95] {
            let (x, y) = (m.quantile(q).unwrap(), whole.quantile(q).unwrap());
            assert!((x - y).abs() < 1e-12, "q={q}: {x} vs {y}");
        }
    }

    #[test]
    fn merging_equal_bounds_adds_buckets() {
        let a = Histogram::new(vec![0.1, 1.0, INF], vec![1.0, 2.0, 3.0]).unwrap();
        let b = Histogram::new(vec![0.1, 1.0, INF], vec![4.0, 5.0, 6.0]).unwrap();
        assert_eq!(Histogram::merge([&a, &b]).counts(), &[5.0, 7.0, 9.0]);
        assert_eq!(Histogram::merge([]), Histogram::default());
    }
}
