//! Prometheus native histograms, as `query_range` returns them: per sample a
//! total count and the populated buckets, each with its boundaries written
//! out (`[rule, lower, upper, count]`), so no schema arithmetic is needed
//! here and any schema, zero threshold or custom layout reads the same way.
//!
//! A series is differenced between two samples bucket by bucket: the
//! earlier sample's observations inside each of the later sample's buckets
//! are subtracted from it. That is exact whenever no earlier bucket straddles
//! a later boundary, which holds when the resolution stays or drops (a
//! client lowering its schema to stay under its bucket limit) and when the
//! zero bucket widens. Otherwise (the resolution rose, the zero bucket
//! shrank), or when the count, a bucket, or the observations outside the
//! later buckets went down, the series was reset, and the later sample is the
//! increase, as Prometheus's own reset detection has it.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Deserialize;
use vitals_core::latency::Histogram;

use super::sample_value;

/// One native-histogram sample in the JSON of the HTTP API.
#[derive(Debug, Deserialize)]
pub(super) struct NativeJson {
    count: String,
    #[serde(default)]
    buckets: Vec<(u8, String, String, String)>,
}

/// One bucket: the observations in `(lower, upper]` (the zero bucket is
/// `[-threshold, threshold]`, and the bucket above it starts at the
/// threshold).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    lower: f64,
    upper: f64,
    count: f64,
}

/// A native histogram's total count and buckets, ascending.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Native {
    count: f64,
    buckets: Vec<Bucket>,
}

impl Native {
    /// Reads a sample; `Ok(None)` for a NaN count (no value at this step).
    fn parse(json: &NativeJson) -> Result<Option<Native>, String> {
        let number = |what: &str, s: &str| {
            sample_value(s).ok_or_else(|| format!("native histogram {what} `{s}` is not a number"))
        };
        let count = number("count", &json.count)?;
        if count.is_nan() {
            return Ok(None);
        }
        let mut buckets = Vec::with_capacity(json.buckets.len());
        for (_, lower, upper, n) in &json.buckets {
            let b = Bucket {
                lower: number("bucket boundary", lower)?,
                upper: number("bucket boundary", upper)?,
                count: number("bucket count", n)?,
            };
            if !(b.lower <= b.upper && b.count >= 0.0 && b.count.is_finite()) {
                return Err(format!(
                    "native histogram bucket [{lower}, {upper}] with count `{n}` is not a bucket"
                ));
            }
            buckets.push(b);
        }
        buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
        // The first bucket above a zero threshold that is not a bucket
        // boundary starts below it; what it holds is above the threshold.
        for i in 1..buckets.len() {
            let below = buckets[i - 1];
            if buckets[i].lower < below.upper {
                let zero_bucket = below.lower == -below.upper;
                if !zero_bucket || buckets[i].upper <= below.upper {
                    return Err("native histogram buckets overlap".into());
                }
                buckets[i].lower = below.upper;
            }
        }
        if !(count >= 0.0 && count.is_finite()) {
            return Err(format!(
                "native histogram count `{}` is not a count",
                json.count
            ));
        }
        Ok(Some(Native { count, buckets }))
    }

    /// How many observations.
    pub(super) fn count(&self) -> f64 {
        self.count
    }

    /// Observations at most `x`, or `None` when a bucket straddles `x`.
    fn at_most(&self, x: f64) -> Option<f64> {
        let mut sum = 0.0;
        for b in &self.buckets {
            if b.upper <= x {
                sum += b.count;
            } else if b.lower < x {
                return None;
            } else {
                break;
            }
        }
        Some(sum)
    }

    /// What was observed between `prev` and `self`: `self` itself after a
    /// reset (see the module docs).
    fn increase_since(&self, prev: &Native) -> Native {
        let reset = || self.clone();
        if self.count < prev.count {
            return reset();
        }
        let prev_total: f64 = prev.buckets.iter().map(|b| b.count).sum();
        let tolerance = 1e-9 * prev_total.max(1.0);
        let mut covered = 0.0;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for b in &self.buckets {
            let (Some(hi), Some(lo)) = (prev.at_most(b.upper), prev.at_most(b.lower)) else {
                return reset();
            };
            let before = hi - lo;
            let count = b.count - before;
            if count < -tolerance {
                return reset();
            }
            covered += before;
            if count > 0.0 {
                buckets.push(Bucket { count, ..*b });
            }
        }
        if prev_total - covered > tolerance {
            return reset();
        }
        Native {
            count: self.count - prev.count,
            buckets,
        }
    }
}

/// Increase per interval of one native-histogram series sampled at the
/// steps of a day, as [`super::increases`] does for counters.
pub(super) fn increases(
    samples: &[(f64, NativeJson)],
    day: (i64, i64),
    last: &mut Option<Native>,
) -> Result<Vec<(usize, Native)>, String> {
    super::step_increases(samples, day, last, Native::parse, Native::increase_since)
}

/// A bucket boundary as a map key.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Edge(f64);

impl Eq for Edge {}

impl PartialOrd for Edge {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Edge {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The increases of several series (a service's, within one interval)
/// added up.
#[derive(Debug, Default)]
pub(super) struct NativeSum {
    count: f64,
    buckets: BTreeMap<(Edge, Edge), f64>,
}

impl NativeSum {
    pub(super) fn add(&mut self, h: &Native) {
        self.count += h.count;
        for b in &h.buckets {
            *self
                .buckets
                .entry((Edge(b.lower), Edge(b.upper)))
                .or_default() += b.count;
        }
    }

    /// Requests: the histograms' total count.
    pub(super) fn count(&self) -> f64 {
        self.count
    }

    /// As a [`Histogram`]: every bucket's lower and upper boundary is a
    /// bound, so buckets with nothing between them stay empty, and the
    /// quantiles are those `histogram_quantile` reads off the native
    /// histogram (linear inside a bucket; the zero bucket starts at zero,
    /// negative observations, which durations do not have, count as zero).
    /// Series of one service at different resolutions meet on the union of
    /// their boundaries, a coarse bucket split linearly where a finer one
    /// has a boundary inside it (Prometheus instead lowers all to the
    /// coarsest). Observations in no bucket (NaN) make a `+Inf` bucket, so
    /// a rank among them answers the highest boundary, as Prometheus does.
    pub(super) fn histogram(&self) -> Option<Histogram> {
        let buckets: Vec<(f64, f64, f64)> = self
            .buckets
            .iter()
            .map(|((lower, upper), count)| (lower.0.max(0.0), upper.0.max(0.0), *count))
            .collect();
        let mut bounds: Vec<f64> = buckets
            .iter()
            .flat_map(|&(lower, upper, _)| [lower, upper])
            .collect();
        // Zero is a bound only for observations at or below it; `+Inf`
        // (the top of custom buckets) comes last, once.
        let at_zero = buckets.iter().any(|&(_, upper, _)| upper == 0.0);
        bounds.retain(|&b| b.is_finite() && (b > 0.0 || at_zero));
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let mut cumulative: Vec<f64> = bounds
            .iter()
            .map(|&x| {
                buckets
                    .iter()
                    .map(|&(lower, upper, count)| {
                        if upper <= x {
                            count
                        } else if lower >= x {
                            0.0
                        } else {
                            count * (x - lower) / (upper - lower)
                        }
                    })
                    .sum()
            })
            .collect();
        let in_buckets: f64 = buckets.iter().map(|b| b.2).sum();
        bounds.push(f64::INFINITY);
        cumulative.push(self.count.max(in_buckets));
        Histogram::from_cumulative(bounds, &cumulative).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(count: u64, buckets: &[(f64, f64, u64)]) -> NativeJson {
        NativeJson {
            count: count.to_string(),
            buckets: buckets
                .iter()
                .map(|(l, u, c)| (0, l.to_string(), u.to_string(), c.to_string()))
                .collect(),
        }
    }

    fn native(count: u64, buckets: &[(f64, f64, u64)]) -> Native {
        Native::parse(&json(count, buckets)).unwrap().unwrap()
    }

    const Z: f64 = 0.001;

    #[test]
    fn increases_subtract_bucket_by_bucket() {
        let prev = native(5, &[(-Z, Z, 1), (0.25, 0.5, 4)]);
        let cur = native(9, &[(-Z, Z, 1), (0.125, 0.25, 2), (0.25, 0.5, 6)]);
        assert_eq!(
            cur.increase_since(&prev),
            native(4, &[(0.125, 0.25, 2), (0.25, 0.5, 2)])
        );
    }

    #[test]
    fn lower_resolution_is_no_reset() {
        // Schema 1 to 0: (0.25, 0.354] and (0.354, 0.5] become (0.25, 0.5].
        let prev = native(
            5,
            &[
                (0.25, 0.353_553_390_593_273_8, 2),
                (0.353_553_390_593_273_8, 0.5, 3),
            ],
        );
        let cur = native(7, &[(0.25, 0.5, 7)]);
        assert_eq!(cur.increase_since(&prev), native(2, &[(0.25, 0.5, 2)]));
        // The other way round is a reset, as in Prometheus.
        assert_eq!(prev.increase_since(&cur), prev);
    }

    #[test]
    fn resets_are_detected() {
        let prev = native(5, &[(0.25, 0.5, 3), (0.5, 1.0, 2)]);
        // Fewer observations in all.
        let fewer = native(2, &[(0.25, 0.5, 2)]);
        assert_eq!(fewer.increase_since(&prev), fewer);
        // As many in all, but one bucket went down.
        let moved = native(5, &[(0.25, 0.5, 2), (0.5, 1.0, 3)]);
        assert_eq!(moved.increase_since(&prev), moved);
        // A populated earlier bucket no longer there.
        let gone = native(6, &[(0.25, 0.5, 6)]);
        assert_eq!(gone.increase_since(&prev), gone);
        // A narrower zero bucket.
        let wide = native(1, &[(-0.01, 0.01, 1)]);
        let narrow = native(2, &[(-Z, Z, 2)]);
        assert_eq!(narrow.increase_since(&wide), narrow);
    }

    #[test]
    fn custom_buckets_read_as_classic_ones() {
        // Schema -53 (Prometheus 3): explicit bounds, the first from -Inf,
        // the last to +Inf.
        let inf = f64::INFINITY;
        let mut sum = NativeSum::default();
        sum.add(&native(10, &[(-inf, 0.1, 2), (0.1, 0.5, 5), (0.5, inf, 3)]));
        let h = sum.histogram().unwrap();
        assert_eq!(h.bounds(), &[0.1, 0.5, inf]);
        assert_eq!(h.counts(), &[2.0, 5.0, 3.0]);
        // Rank 9.5 in the +Inf bucket: the highest finite bound.
        assert_eq!(h.quantile(0.95), Some(0.5));
    }

    #[test]
    fn the_bucket_above_the_zero_bucket_starts_at_the_threshold() {
        let h = native(3, &[(-0.3, 0.3, 1), (0.25, 0.5, 2)]);
        assert_eq!(h.buckets[1].lower, 0.3);
        assert!(Native::parse(&json(3, &[(-0.3, 0.3, 1), (0.1, 0.2, 2)])).is_err());
    }

    #[test]
    fn steps_gaps_and_nan() {
        let mut samples = vec![
            (0.0, json(1, &[(0.25, 0.5, 1)])),
            (300.0, json(3, &[(0.25, 0.5, 3)])),
            (600.0, json(0, &[])),
            (900.0, json(4, &[(0.5, 1.0, 4)])),
        ];
        samples[2].1.count = "NaN".into();
        let got = increases(&samples, (0, 300), &mut None).unwrap();
        assert_eq!(
            got,
            vec![
                (0, native(2, &[(0.25, 0.5, 2)])),
                // NaN at 600: the increase from 300 lands at (600, 900].
                // 3 in (0.25, 0.5] then none: a reset.
                (2, native(4, &[(0.5, 1.0, 4)])),
            ]
        );
        samples[1].1.buckets[0].3 = "many".into();
        assert_eq!(
            increases(&samples, (0, 300), &mut None).unwrap_err(),
            "native histogram bucket count `many` is not a number"
        );
    }

    #[test]
    fn sums_read_as_prometheus_reads_them() {
        let mut sum = NativeSum::default();
        sum.add(&native(4, &[(-Z, Z, 1), (0.25, 0.5, 3)]));
        sum.add(&native(7, &[(0.25, 0.5, 1), (1.0, 2.0, 4)]));
        // 2 observations that are NaN: in no bucket.
        let h = sum.histogram().unwrap();
        assert_eq!(h.bounds(), &[Z, 0.25, 0.5, 1.0, 2.0, f64::INFINITY]);
        assert_eq!(h.counts(), &[1.0, 0.0, 4.0, 0.0, 4.0, 2.0]);
        assert_eq!(sum.count(), 11.0);
        // Rank 0.05 × 11 = 0.55 in the zero bucket, from zero.
        assert!((h.quantile(0.05).unwrap() - 0.55 * Z).abs() < 1e-15);
        // Rank 5.5: 0.5 into (1, 2] of 4.
        assert!((h.quantile(0.5).unwrap() - 1.125).abs() < 1e-12);
        // Rank 10.45: beyond the buckets, the highest boundary.
        assert_eq!(h.quantile(0.95), Some(2.0));
        // A coarse bucket meets a finer boundary inside it.
        let mut mixed = NativeSum::default();
        mixed.add(&native(4, &[(0.25, 0.5, 4)]));
        mixed.add(&native(1, &[(0.25, 0.353_553_390_593_273_8, 1)]));
        let h = mixed.histogram().unwrap();
        let at = h.count_at_most(0.353_553_390_593_273_8).0;
        assert!((at - (1.0 + 4.0 * (0.353_553_390_593_273_8 - 0.25) / 0.25)).abs() < 1e-12);
    }
}
