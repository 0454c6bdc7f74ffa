//! Change points in a series: where its level shifts and stays shifted.
//!
//! Binary segmentation with a rank test. For a segment, every split that
//! leaves at least `min_points` on each side is scored with the
//! Mann–Whitney U statistic (normal approximation, tie-corrected) between
//! the two sides; the best split is kept when its two-sided p-value,
//! multiplied by the number of splits tried (Bonferroni: the best of many
//! tries is not one try), is at most `alpha`, and both halves are searched
//! in turn. Ranks make the test indifferent to the size of outliers, so a
//! one-point spike moves it no more than any other point does, and a
//! segment of fewer than `min_points` can never split off on its own.
//!
//! The candidates are then pruned: each is re-tested between its
//! neighbouring change points, its levels taken as the medians of the two
//! segments, and the weakest one failing `alpha` or `min_magnitude` is
//! removed until all pass. Slow drift thus cannot add up to a change, and a
//! spike inside a segment does not move its level.
//!
//! Cost: one sort per segment searched, so `O(n log² n)` per series; a few
//! microseconds for a series of a few hundred points.

use std::cmp::Ordering;

/// Detection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Largest Bonferroni-adjusted p-value of a change.
    pub alpha: f64,
    /// Smallest relative change of level, `|after - before| / |before|`.
    pub min_magnitude: f64,
    /// Fewest points on each side of a change (at least 2).
    pub min_points: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            alpha: 0.01,
            min_magnitude: 0.10,
            min_points: 3,
        }
    }
}

/// A level shift: the series is at `before` up to `index - 1` and at
/// `after` from `index` on (medians of the segments on either side).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePoint {
    pub index: usize,
    pub before: f64,
    pub after: f64,
    /// `(after - before) / |before|`.
    pub magnitude: f64,
    /// Bonferroni-adjusted two-sided p-value of the split between the
    /// neighbouring change points (or the ends).
    pub p_value: f64,
}

/// The change points of `values`, in order. Non-finite values must have
/// been removed by the caller.
pub fn detect(values: &[f64], params: &Params) -> Vec<ChangePoint> {
    let m = params.min_points.max(2);
    let mut splits = Vec::new();
    let mut stack = vec![(0, values.len())];
    while let Some((a, b)) = stack.pop() {
        if let Some((k, p)) = best_split(&values[a..b], m)
            && p <= params.alpha
        {
            splits.push(a + k);
            stack.push((a, a + k));
            stack.push((a + k, b));
        }
    }
    splits.sort_unstable();
    loop {
        let points = assess(values, &splits, m);
        let weakest = points
            .iter()
            .enumerate()
            .filter(|(_, c)| c.p_value > params.alpha || c.magnitude.abs() < params.min_magnitude)
            .min_by(|(_, x), (_, y)| {
                x.magnitude
                    .abs()
                    .partial_cmp(&y.magnitude.abs())
                    .unwrap_or(Ordering::Equal)
            })
            .map(|(i, _)| i);
        match weakest {
            Some(i) => {
                splits.remove(i);
            }
            None => return points,
        }
    }
}

/// Each split tested against its neighbours.
fn assess(values: &[f64], splits: &[usize], m: usize) -> Vec<ChangePoint> {
    (0..splits.len())
        .map(|i| {
            let start = if i == 0 { 0 } else { splits[i - 1] };
            let end = splits.get(i + 1).copied().unwrap_or(values.len());
            let k = splits[i];
            let before = median(&values[start..k]);
            let after = median(&values[k..end]);
            let segment = &values[start..end];
            let tries = (segment.len() + 1).saturating_sub(2 * m).max(1);
            let z = RankScan::new(segment).z(k - start);
            ChangePoint {
                index: k,
                before,
                after,
                magnitude: relative(before, after),
                p_value: (two_sided_p(z) * tries as f64).min(1.0),
            }
        })
        .collect()
}

fn relative(before: f64, after: f64) -> f64 {
    if before == 0.0 {
        if after == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(after)
        }
    } else {
        (after - before) / before.abs()
    }
}

/// The split of `segment` with the largest |z|, and its Bonferroni p-value.
fn best_split(segment: &[f64], m: usize) -> Option<(usize, f64)> {
    let n = segment.len();
    if n < 2 * m {
        return None;
    }
    let scan = RankScan::new(segment);
    let (k, z) = (m..=n - m)
        .map(|k| (k, scan.z(k).abs()))
        .max_by(|x, y| x.1.partial_cmp(&y.1).unwrap_or(Ordering::Equal))?;
    let tries = (n + 1 - 2 * m) as f64;
    Some((k, (two_sided_p(z) * tries).min(1.0)))
}

/// Mann–Whitney U between `segment[..k]` and `segment[k..]` for every `k`,
/// from one ranking of the segment.
struct RankScan {
    /// Prefix sums of the ranks, in series order.
    prefix: Vec<f64>,
    /// `n + 1 - Σ(t³ - t) / (n (n - 1))` over tie groups of size `t`.
    tie_factor: f64,
}

impl RankScan {
    fn new(segment: &[f64]) -> Self {
        let n = segment.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| {
            segment[i]
                .partial_cmp(&segment[j])
                .unwrap_or(Ordering::Equal)
        });
        let mut ranks = vec![0.0; n];
        let mut ties = 0.0;
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && segment[order[j]] == segment[order[i]] {
                j += 1;
            }
            // Positions i..j (0-based) share the average rank.
            let rank = (i + j + 1) as f64 / 2.0;
            for &o in &order[i..j] {
                ranks[o] = rank;
            }
            let t = (j - i) as f64;
            ties += t * t * t - t;
            i = j;
        }
        let mut prefix = Vec::with_capacity(n + 1);
        prefix.push(0.0);
        for r in ranks {
            prefix.push(prefix.last().copied().unwrap_or(0.0) + r);
        }
        let nf = n as f64;
        let tie_factor = if n > 1 {
            nf + 1.0 - ties / (nf * (nf - 1.0))
        } else {
            0.0
        };
        RankScan { prefix, tie_factor }
    }

    /// The z-score of U for the split before position `k`; 0 when the
    /// split is degenerate or every value is equal.
    fn z(&self, k: usize) -> f64 {
        let n = self.prefix.len() - 1;
        if k == 0 || k >= n {
            return 0.0;
        }
        let (k, rest) = (k as f64, (n - k) as f64);
        let u = self.prefix[k as usize] - k * (k + 1.0) / 2.0;
        let var = k * rest / 12.0 * self.tie_factor;
        if var <= 0.0 {
            return 0.0;
        }
        (u - k * rest / 2.0) / var.sqrt()
    }
}

/// The median; NaN for an empty slice.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `P(|Z| ≥ |z|)` for a standard normal `Z`.
fn two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The complementary error function, with a relative error below 1.2e-7
/// everywhere (Chebyshev fit, Numerical Recipes 2nd ed. §6.2): ample for
/// p-values compared with thresholds like 0.01.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn normal_tails() {
        // scipy.stats.norm.sf(x) * 2
        for (z, p) in [
            (1.959_963_985, 0.05),
            (2.575_829_304, 0.01),
            (4.0, 6.334_248_366e-5),
        ] {
            let got = two_sided_p(z);
            assert!((got - p).abs() / p < 1e-6, "z={z}: {got} vs {p}");
        }
    }

    #[test]
    fn a_clean_step_is_found_where_it_is() {
        let mut v = vec![100.0; 30];
        v.extend(vec![130.0; 30]);
        for (i, x) in v.iter_mut().enumerate() {
            *x += (i % 3) as f64; // ties broken, a little texture
        }
        let cps = detect(&v, &Params::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(cps[0].index, 30);
        assert!((cps[0].magnitude - 0.30).abs() < 0.02);
        assert!(cps[0].p_value < 1e-6);
    }

    #[test]
    fn spikes_and_flat_series_have_no_change() {
        let mut v: Vec<f64> = (0..60).map(|i| 100.0 + (i % 5) as f64).collect();
        v[20] = 400.0;
        v[40] = 10.0;
        v[41] = 10.0;
        assert!(detect(&v, &Params::default()).is_empty());
        assert!(detect(&[5.0; 50], &Params::default()).is_empty());
        assert!(detect(&[], &Params::default()).is_empty());
        assert!(detect(&[1.0, 2.0], &Params::default()).is_empty());
    }

    #[test]
    fn small_shifts_stay_below_the_minimum_magnitude() {
        let mut rng = Rng(7);
        let v: Vec<f64> = (0..200)
            .map(|i| {
                let level = if i < 100 { 100.0 } else { 105.0 };
                level * (1.0 + 0.01 * rng.normal())
            })
            .collect();
        // Highly significant, but 5 % is under the 10 % default.
        assert!(detect(&v, &Params::default()).is_empty());
        let p = Params {
            min_magnitude: 0.03,
            ..Params::default()
        };
        let cps = detect(&v, &p);
        assert_eq!(cps.len(), 1);
        assert!(cps[0].index.abs_diff(100) <= 2);
    }

    /// Apache Otava's tigerbeetle benchmark series (see
    /// `tests/fixtures/changepoints/tigerbeetle.json`): level shifts at 15
    /// and 71, a one-point drop at 10, a 4 % drop near 95 and slow drift.
    #[test]
    fn tigerbeetle_shifts_at_15_and_71_and_not_the_drop_at_10() {
        let json = include_str!("../../tests/fixtures/changepoints/tigerbeetle.json");
        let doc: serde_json::Value = serde_json::from_str(json).unwrap();
        let values: Vec<f64> = doc["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), 365);
        let cps = detect(&values, &Params::default());
        let found: Vec<usize> = cps.iter().map(|c| c.index).collect();
        println!("tigerbeetle change points: {cps:?}");
        assert_eq!(found.len(), 2, "{cps:?}");
        assert!(found[0].abs_diff(15) <= 2, "{found:?}");
        assert!(found[1].abs_diff(71) <= 2, "{found:?}");
        assert!(cps[0].magnitude < -0.10 && cps[1].magnitude > 0.10);
    }

    /// 1,000 stationary series of 200 points with 5 % Gaussian noise, then
    /// the same with one 20 % step placed away from the ends.
    #[test]
    fn false_alarms_and_detection_on_synthetic_series() {
        let params = Params::default();
        let (series, points) = (1000, 200);
        let mut rng = Rng(20_261_123);
        let mut false_regressions = 0;
        let mut false_changes = 0;
        for _ in 0..series {
            let level = 0.05 + rng.uniform();
            let v: Vec<f64> = (0..points)
                .map(|_| level * (1.0 + 0.05 * rng.normal()))
                .collect();
            let cps = detect(&v, &params);
            false_changes += cps.len();
            false_regressions += cps.iter().filter(|c| c.magnitude > 0.0).count();
        }
        let mut found_within_3 = 0;
        let mut extra = 0;
        for _ in 0..series {
            let level = 0.05 + rng.uniform();
            let at = 20 + (rng.uniform() * (points - 40) as f64) as usize;
            let v: Vec<f64> = (0..points)
                .map(|i| {
                    let l = if i < at { level } else { level * 1.2 };
                    l * (1.0 + 0.05 * rng.normal())
                })
                .collect();
            let cps = detect(&v, &params);
            let hit = cps
                .iter()
                .any(|c| c.index.abs_diff(at) <= 3 && c.magnitude > 0.0);
            found_within_3 += usize::from(hit);
            extra += cps.len() - usize::from(hit);
        }
        let per_10k = false_regressions as f64 / (series * points) as f64 * 10_000.0;
        let rate = found_within_3 as f64 / series as f64;
        println!(
            "p95_regression change points on {series} stationary series × {points} points (5 % noise): \
             {false_regressions} false regressions ({per_10k:.2} per 10,000 points), {false_changes} false changes in all; \
             on {series} series with one 20 % step: {found_within_3} found within ±3 points ({:.1} %), {extra} other changes",
            rate * 100.0
        );
        assert!(
            per_10k <= 1.0,
            "{per_10k} false regressions per 10,000 points"
        );
        assert!(rate >= 0.95, "detection rate {rate}");
    }
}
