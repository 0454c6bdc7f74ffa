//! Change points in a series: where its level shifts, whether it stays
//! shifted, comes back, or has only just moved.
//!
//! Binary segmentation with rank tests. A segment is searched three ways,
//! and the most significant candidate, if its adjusted p-value is at most
//! `alpha`, splits it; the pieces are searched in turn:
//!
//! - **one cut** (a lasting step): every split leaving at least `min_points`
//!   on each side, scored with the Mann–Whitney U statistic between the two
//!   sides (normal approximation, tie-corrected); the two-sided p-value of
//!   the best is multiplied by the number of splits tried (Bonferroni: the
//!   best of many tries is not one try).
//! - **two cuts** (an epidemic change: up, then back): every sub-interval of
//!   at least `min_points` with at least `min_points` outside it on each
//!   side, scored with U between the inside and the outside. One cut cannot
//!   find this: with the same level at both ends of a series, no single split
//!   separates it. The p-value is multiplied by the number of intervals tried.
//!   This is the "segment against the rest" scan of epidemic change-point
//!   tests, chosen over wild or seeded binary segmentation because it needs
//!   no random or seeded intervals and keeps one family of tests per search,
//!   so the Bonferroni correction stays simple and the false-alarm rate where
//!   it was; it costs `O(n²)` per segment with prefix sums of ranks, a few
//!   hundred microseconds for a fortnight of hourly points.
//! - **the last points** (a change that just happened), for the segment that
//!   ends the series only: the last `j` points against the rest, for `j` from
//!   `min_points` to [`FRESH_POINTS_MAX`]. With few points on one side the
//!   normal approximation is far too cautious (three points above 197 others
//!   are a 1-in-1.3-million arrangement, the approximation says 1 in 330),
//!   so the exact null distribution of U is used: the arrangements with `v`
//!   inversions are the partitions of `v` into at most `j` parts. The tests
//!   are few and discrete, so Tarone's correction replaces Bonferroni: only
//!   the `j` whose smallest possible p-value could pass count as tries. The
//!   same exact test lets a very short series (12 daily points) show a step.
//!
//! Ranks make every test indifferent to the size of outliers, so a one-point
//! spike moves it no more than any other point does, and a level must hold
//! `min_points` points to be one.
//!
//! The candidates are then pruned: each is re-tested between its
//! neighbouring change points (the last one with the exact test too when
//! few points follow it), its levels taken as the medians of the two
//! segments, and the weakest one failing `alpha` or `min_magnitude` is
//! removed until all pass. Slow drift thus cannot add up to a change, and a
//! spike inside a segment does not move its level.
//!
//! With a season (say 24 hourly points a day), each point is first divided
//! by the median of its phase across the series relative to the mean of
//! those medians, when that takes out at least a fifth of the spread (median
//! absolute deviation); medians of several cycles are not moved by a change
//! lasting a fraction of them, and a step shifts every phase alike, so it
//! survives. Levels are reported from the adjusted points.

use std::borrow::Cow;
use std::cmp::Ordering;

/// Most points after a change that the exact test of the last points looks
/// at; past this the one-cut test has all the power it needs.
pub const FRESH_POINTS_MAX: usize = 12;

/// Detection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Largest adjusted p-value of a change.
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
    /// Adjusted two-sided p-value of the split between the neighbouring
    /// change points (or the ends).
    pub p_value: f64,
    /// Points from the change to the next one or the end of the series: how
    /// much evidence the new level has.
    pub points_after: usize,
}

/// The seasonal phase of every point: `phase[i]` in `0..period`.
#[derive(Debug, Clone, Copy)]
pub struct Season<'a> {
    pub phase: &'a [usize],
    pub period: usize,
}

/// The change points of `values`, in order. Non-finite values must have
/// been removed by the caller.
pub fn detect(values: &[f64], params: &Params) -> Vec<ChangePoint> {
    detect_seasonal(values, None, params)
}

/// [`detect`], with the season taken out first where it is strong.
pub fn detect_seasonal(
    values: &[f64],
    season: Option<Season<'_>>,
    params: &Params,
) -> Vec<ChangePoint> {
    let m = params.min_points.max(2);
    let x = match season {
        Some(s) if s.phase.len() == values.len() => deseasonalize(values, s),
        _ => Cow::Borrowed(values),
    };
    let n = x.len();
    let mut splits = Vec::new();
    let mut stack = vec![(0, n)];
    while let Some((a, b)) = stack.pop() {
        let Some(cut) = best_cut(&x[a..b], m, b == n, params.alpha) else {
            continue;
        };
        match cut {
            Cut::One(k) => {
                splits.push(a + k);
                stack.push((a, a + k));
                stack.push((a + k, b));
            }
            Cut::Two(s, e) => {
                splits.extend([a + s, a + e]);
                stack.push((a, a + s));
                stack.push((a + s, a + e));
                stack.push((a + e, b));
            }
        }
    }
    splits.sort_unstable();
    splits.dedup();
    loop {
        let points = assess(&x, &splits, m, params.alpha);
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

/// Where a segment splits: once, or around an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cut {
    One(usize),
    Two(usize, usize),
}

/// The most significant way to cut `segment`, if its adjusted p-value is at
/// most `alpha`. `at_end`: the segment ends the series, so its last points
/// are tested on their own too.
fn best_cut(segment: &[f64], m: usize, at_end: bool, alpha: f64) -> Option<Cut> {
    let n = segment.len();
    if n < 2 * m {
        return None;
    }
    let scan = RankScan::new(segment);
    let mut best: Option<(Cut, f64)> = None;
    let mut consider = |cut: Cut, p: f64| {
        if p <= alpha && best.is_none_or(|(_, q)| p < q) {
            best = Some((cut, p));
        }
    };
    if let Some((k, z)) = (m..=n - m)
        .map(|k| (k, scan.z(0, k).abs()))
        .max_by(|x, y| x.1.total_cmp(&y.1))
    {
        let tries = (n + 1 - 2 * m) as f64;
        consider(Cut::One(k), (two_sided_p(z) * tries).min(1.0));
    }
    if n >= 3 * m {
        // For a given inside length the variance of U is fixed, so the best
        // interval of that length is the one whose rank sum is furthest from
        // its mean: the largest and smallest window sums (an integer
        // reduction), then the square root once per length, and the window
        // itself looked up only when it beats the best so far.
        let p2 = &scan.prefix2;
        let mut top = (0, 0, 0.0_f64);
        for k in m..=n - 2 * m {
            let starts = m..=n - m - k;
            let (mut hi, mut lo) = (i64::MIN, i64::MAX);
            for s in starts.clone() {
                let w = p2[s + k] - p2[s];
                hi = hi.max(w);
                lo = lo.min(w);
            }
            let mean2 = (k * (n + 1)) as i64;
            let target = if hi - mean2 >= mean2 - lo { hi } else { lo };
            let var = k as f64 * (n - k) as f64 / 12.0 * scan.tie_factor;
            if var <= 0.0 {
                continue;
            }
            let z = ((target - mean2) as f64 / 2.0).abs() / var.sqrt();
            if z > top.2
                && let Some(s) = starts.clone().find(|&s| p2[s + k] - p2[s] == target)
            {
                top = (s, s + k, z);
            }
        }
        let tries = ((n - 3 * m + 1) * (n - 3 * m + 2) / 2) as f64;
        if top.2 > 0.0 {
            consider(
                Cut::Two(top.0, top.1),
                (two_sided_p(top.2) * tries).min(1.0),
            );
        }
    }
    if at_end && let Some((j, p)) = fresh_change(segment, m, alpha) {
        consider(Cut::One(n - j), p);
    }
    best.map(|(cut, _)| cut)
}

/// The last `j` points of `segment` against the rest, for every `j` from `m`
/// to [`FRESH_POINTS_MAX`] (and at most half the segment): the most
/// significant `j` and its adjusted p-value.
fn fresh_change(segment: &[f64], m: usize, alpha: f64) -> Option<(usize, f64)> {
    let tests = fresh_tests(segment.len(), m);
    let tries = tarone_tries(segment.len(), tests.clone(), alpha)?;
    let sorted = sorted(segment);
    tests
        .map(|j| (j, (exact_two_sided(segment, &sorted, j) * tries).min(1.0)))
        .min_by(|x, y| x.1.total_cmp(&y.1))
}

/// [`fresh_change`]'s adjusted p-value for one `j`; `None` if `j` is not
/// one of its tests.
fn fresh_p(segment: &[f64], m: usize, j: usize, alpha: f64) -> Option<f64> {
    let tests = fresh_tests(segment.len(), m);
    if !tests.contains(&j) {
        return None;
    }
    let tries = tarone_tries(segment.len(), tests, alpha)?;
    Some((exact_two_sided(segment, &sorted(segment), j) * tries).min(1.0))
}

/// The `j` tested by [`fresh_change`] in a segment of `n` points.
fn fresh_tests(n: usize, m: usize) -> std::ops::RangeInclusive<usize> {
    m..=FRESH_POINTS_MAX.min(n / 2)
}

/// The number of tries Tarone's correction counts for `tests` at `alpha`:
/// the smallest `K` such that at most `K` of them could reach `alpha / K`
/// at all. Test `j`'s smallest two-sided p-value is `2 / C(n, j)` (every
/// point after above, or below, every point before). `None` without tests.
fn tarone_tries(n: usize, tests: std::ops::RangeInclusive<usize>, alpha: f64) -> Option<f64> {
    let min_p: Vec<f64> = tests.map(|j| 2.0 / choose(n, j)).collect();
    if min_p.is_empty() {
        return None;
    }
    let k = (1..=min_p.len())
        .find(|&k| min_p.iter().filter(|&&q| q <= alpha / k as f64).count() <= k)
        .unwrap_or(min_p.len());
    Some(k as f64)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The exact two-sided Mann–Whitney p-value of the last `j` points of
/// `segment` against the `m` before them (no normal approximation);
/// `sorted` is the segment sorted. An arrangement with `v` inversions
/// (pairs where a point before is above a point after) is a partition of
/// `v` into at most `j` parts of at most `m`, so `P(V ≤ v)` is a count of
/// partitions over `C(m + j, j)`. Ties count as inversions both ways, which
/// can only make the p-value larger. Past `m` inversions the part bound
/// would matter and the count is not needed: with at least `m` inversions
/// either way the p-value is never small, and 1 is returned.
fn exact_two_sided(segment: &[f64], sorted: &[f64], j: usize) -> f64 {
    let n = segment.len();
    let m = n - j;
    let after = &segment[m..];
    let (mut above, mut below) = (0usize, 0usize);
    for a in after {
        // Points of the whole segment above, below and equal to `a`, less
        // those of the points after (itself among the equal ones).
        let less = sorted.partition_point(|x| x < a);
        let not_more = sorted.partition_point(|x| x <= a);
        let (mut less_after, mut equal_after) = (0, 0);
        for b in after {
            match b.partial_cmp(a) {
                Some(Ordering::Less) => less_after += 1,
                Some(Ordering::Equal) => equal_after += 1,
                _ => {}
            }
        }
        let more_after = j - less_after - equal_after;
        let ties = (not_more - less) - equal_after;
        above += (n - not_more) - more_after + ties;
        below += less - less_after + ties;
    }
    // `above` inversions few: the points after are high; `below` few: low.
    let fewest = above.min(below);
    if fewest > m {
        return 1.0;
    }
    let mut ways = vec![0.0_f64; fewest + 1];
    ways[0] = 1.0;
    for part in 1..=j {
        for v in part..=fewest {
            ways[v] += ways[v - part];
        }
    }
    let p = ways.iter().sum::<f64>() / choose(n, j);
    (2.0 * p).min(1.0)
}

/// The binomial coefficient as a float.
fn choose(n: usize, k: usize) -> f64 {
    let k = k.min(n.saturating_sub(k));
    (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64)
}

/// Each split tested against its neighbours.
fn assess(values: &[f64], splits: &[usize], m: usize, alpha: f64) -> Vec<ChangePoint> {
    (0..splits.len())
        .map(|i| {
            let start = if i == 0 { 0 } else { splits[i - 1] };
            let end = splits.get(i + 1).copied().unwrap_or(values.len());
            let k = splits[i];
            let before = median(&values[start..k]);
            let after = median(&values[k..end]);
            let segment = &values[start..end];
            let tries = (segment.len() + 1).saturating_sub(2 * m).max(1);
            let z = RankScan::new(segment).z(0, k - start);
            let mut p_value = (two_sided_p(z) * tries as f64).min(1.0);
            let points_after = end - k;
            if end == values.len()
                && let Some(p) = fresh_p(segment, m, points_after, alpha)
            {
                p_value = p_value.min(p);
            }
            ChangePoint {
                index: k,
                before,
                after,
                magnitude: relative(before, after),
                p_value,
                points_after,
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

/// Mann–Whitney U between any interval of a segment and the rest of it, from
/// one ranking of the segment.
struct RankScan {
    /// Prefix sums of the ranks, in series order.
    prefix: Vec<f64>,
    /// The same of twice the ranks (whole numbers, since tied ranks are
    /// halves), for the interval scan's integer arithmetic.
    prefix2: Vec<i64>,
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
        let mut prefix2 = Vec::with_capacity(n + 1);
        prefix.push(0.0);
        prefix2.push(0);
        for r in ranks {
            prefix.push(prefix.last().copied().unwrap_or(0.0) + r);
            prefix2.push(prefix2.last().copied().unwrap_or(0) + (2.0 * r) as i64);
        }
        let nf = n as f64;
        let tie_factor = if n > 1 {
            nf + 1.0 - ties / (nf * (nf - 1.0))
        } else {
            0.0
        };
        RankScan {
            prefix,
            prefix2,
            tie_factor,
        }
    }

    /// The z-score of U between the points in `start..end` and the rest of
    /// the segment (positive when they rank high); 0 when either side is
    /// empty or every value is equal.
    fn z(&self, start: usize, end: usize) -> f64 {
        let n = self.prefix.len() - 1;
        if start >= end || end - start >= n || end > n {
            return 0.0;
        }
        let (k, rest) = ((end - start) as f64, (n - (end - start)) as f64);
        let u = self.prefix[end] - self.prefix[start] - k * (k + 1.0) / 2.0;
        let var = k * rest / 12.0 * self.tie_factor;
        if var <= 0.0 {
            return 0.0;
        }
        (u - k * rest / 2.0) / var.sqrt()
    }
}

/// `values` with the season divided out, if that takes out at least a fifth
/// of their spread; else `values` as they are (see the module docs).
fn deseasonalize<'v>(values: &'v [f64], season: Season<'_>) -> Cow<'v, [f64]> {
    let p = season.period;
    if p < 2 || values.len() < 3 * p || season.phase.iter().any(|&h| h >= p) {
        return Cow::Borrowed(values);
    }
    let mut by_phase: Vec<Vec<f64>> = vec![Vec::new(); p];
    for (&v, &h) in values.iter().zip(season.phase) {
        by_phase[h].push(v);
    }
    if by_phase.iter().any(|v| v.len() < 2) {
        return Cow::Borrowed(values);
    }
    let profile: Vec<f64> = by_phase.iter().map(|v| median(v)).collect();
    let mean = profile.iter().sum::<f64>() / p as f64;
    if !(mean > 0.0 && mean.is_finite()) || profile.iter().any(|&f| f.is_nan() || f <= 0.0) {
        return Cow::Borrowed(values);
    }
    let adjusted: Vec<f64> = values
        .iter()
        .zip(season.phase)
        .map(|(&v, &h)| v * mean / profile[h])
        .collect();
    if mad(&adjusted) <= 0.8 * mad(values) {
        Cow::Owned(adjusted)
    } else {
        Cow::Borrowed(values)
    }
}

/// The median absolute deviation from the median.
fn mad(values: &[f64]) -> f64 {
    let mid = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - mid).abs()).collect();
    median(&deviations)
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

    /// The acceptance figures of temporary and fresh changes: 1,000 seeded
    /// series of 200 hourly points each, 5 % relative Gaussian noise and a
    /// daily season of ±15 %: stationary; with one-point spikes only; with
    /// one regression of +30 % lasting 10–40 points; with one step of +20 %
    /// in the last 15 points.
    #[test]
    fn temporary_and_fresh_changes_on_seasonal_series() {
        let params = Params::default();
        let (series, points, period) = (1000, 200, 24);
        let phase: Vec<usize> = (0..points).map(|i| i % period).collect();
        let season = Some(Season {
            phase: &phase,
            period,
        });
        let mut rng = Rng(20_261_201);
        let make = |rng: &mut Rng, shape: &dyn Fn(usize) -> f64| -> Vec<f64> {
            let level = 0.05 + rng.uniform();
            let shift = rng.uniform() * std::f64::consts::TAU;
            (0..points)
                .map(|i| {
                    let day = (std::f64::consts::TAU * i as f64 / period as f64 + shift).sin();
                    level * shape(i) * (1.0 + 0.15 * day) * (1.0 + 0.05 * rng.normal())
                })
                .collect()
        };
        let regressions = |cps: &[ChangePoint]| cps.iter().filter(|c| c.magnitude > 0.0).count();

        let mut false_stationary = 0;
        let mut false_spikes = 0;
        for _ in 0..series {
            let v = make(&mut rng, &|_| 1.0);
            false_stationary += regressions(&detect_seasonal(&v, season, &params));
            let spikes: Vec<(usize, f64)> = (0..4)
                .map(|_| {
                    let at = (rng.uniform() * points as f64) as usize;
                    (at, 1.5 + 3.0 * rng.uniform())
                })
                .collect();
            let v = make(&mut rng, &|i| {
                spikes
                    .iter()
                    .find(|(at, _)| *at == i)
                    .map_or(1.0, |(_, f)| *f)
            });
            false_spikes += regressions(&detect_seasonal(&v, season, &params));
        }

        let (mut starts, mut ends, mut temporary_extra) = (0, 0, 0);
        for _ in 0..series {
            let len = 10 + (rng.uniform() * 31.0) as usize;
            let start = 10 + (rng.uniform() * (points - len - 20) as f64) as usize;
            let end = start + len;
            let v = make(&mut rng, &|i| {
                if (start..end).contains(&i) { 1.3 } else { 1.0 }
            });
            let cps = detect_seasonal(&v, season, &params);
            let up = cps
                .iter()
                .any(|c| c.magnitude > 0.0 && c.index.abs_diff(start) <= 3);
            let down = cps
                .iter()
                .any(|c| c.magnitude < 0.0 && c.index.abs_diff(end) <= 3);
            starts += usize::from(up);
            ends += usize::from(down);
            temporary_extra += cps.len() - usize::from(up) - usize::from(down);
        }

        let (mut fresh, mut fresh_extra) = (0, 0);
        let mut evidence = Vec::new();
        for _ in 0..series {
            let at = points - 15 + (rng.uniform() * 15.0) as usize;
            let v = make(&mut rng, &|i| if i >= at { 1.2 } else { 1.0 });
            let cps = detect_seasonal(&v, season, &params);
            let hit = cps
                .iter()
                .find(|c| c.magnitude > 0.0 && c.index.abs_diff(at) <= 3);
            if let Some(c) = hit {
                evidence.push(c.points_after);
            }
            fresh += usize::from(hit.is_some());
            fresh_extra += cps.len() - usize::from(hit.is_some());
        }
        let fewest_after = evidence.iter().min().copied().unwrap_or(0);

        let per_10k = |n: usize| n as f64 / (series * points) as f64 * 10_000.0;
        let share = |n: usize| n as f64 / series as f64;
        println!(
            "changepoint on {series} seasonal series × {points} points (±15 % daily, 5 % noise): \
             stationary {false_stationary} false regressions ({:.2} per 10,000 points); \
             spikes only {false_spikes} ({:.2} per 10,000); \
             +30 % for 10–40 points: start within ±3 in {:.1} %, end in {:.1} %, {temporary_extra} other changes; \
             +20 % step in the last 15 points: {:.1} % within ±3 (fewest points after a found one: {fewest_after}), \
             {fresh_extra} other changes",
            per_10k(false_stationary),
            per_10k(false_spikes),
            share(starts) * 100.0,
            share(ends) * 100.0,
            share(fresh) * 100.0,
        );
        assert!(per_10k(false_stationary) <= 1.0, "stationary");
        assert!(per_10k(false_spikes) <= 1.0, "spikes");
        assert!(share(starts) >= 0.90, "starts {}", share(starts));
        assert!(share(ends) >= 0.90, "ends {}", share(ends));
        assert!(share(fresh) >= 0.80, "fresh {}", share(fresh));
    }

    #[test]
    fn a_regression_that_recovered_has_both_cuts() {
        // The case: 45 points, +40 % from point 15 to 30.
        let mut rng = Rng(45);
        let v: Vec<f64> = (0..45)
            .map(|i| {
                let l = if (15..30).contains(&i) { 140.0 } else { 100.0 };
                l * (1.0 + 0.05 * rng.normal())
            })
            .collect();
        let cps = detect(&v, &Params::default());
        let at: Vec<usize> = cps.iter().map(|c| c.index).collect();
        assert_eq!(cps.len(), 2, "{cps:?}");
        assert!(at[0].abs_diff(15) <= 1 && at[1].abs_diff(30) <= 1, "{at:?}");
        assert!(cps[0].magnitude > 0.3 && cps[1].magnitude < -0.2, "{cps:?}");
        assert_eq!(cps[1].points_after, 45 - at[1]);
    }

    #[test]
    fn a_short_daily_series_shows_its_step() {
        let v = [
            100.0, 104.0, 98.0, 101.0, 103.0, 99.0, 150.0, 155.0, 149.0, 152.0, 147.0, 151.0,
        ];
        let cps = detect(&v, &Params::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(cps[0].index, 6);
        assert!(cps[0].magnitude > 0.4);
        println!("12 daily points, 50 % step at 6: {cps:?}");
    }

    #[test]
    fn exact_p_values_count_partitions() {
        // Three points above 197 others: 2 of C(200, 3) arrangements.
        let exact = |before: &[f64], after: &[f64]| {
            let segment = [before, after].concat();
            exact_two_sided(&segment, &sorted(&segment), after.len())
        };
        let before: Vec<f64> = (0..197).map(f64::from).collect();
        let p = exact(&before, &[500.0, 501.0, 502.0]);
        assert!((p - 2.0 / 1_313_400.0).abs() < 1e-15, "{p}");
        // One inversion: V ∈ {0, 1}, one arrangement each.
        let p = exact(&[1.0, 2.0, 4.0], &[3.0, 5.0]);
        assert!((p - 2.0 * 2.0 / 10.0).abs() < 1e-12, "{p}");
        // Six above six: 2 / C(12, 6).
        let p = exact(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0],
        );
        assert!((p - 2.0 / 924.0).abs() < 1e-15, "{p}");
        // Against every arrangement, counted one by one: random segments of
        // up to 12 points, the last 2 to 6 of them tested.
        let mut rng = Rng(12);
        let mut compared = 0;
        for _ in 0..300 {
            let n = 6 + (rng.uniform() * 7.0) as usize;
            let j = 2 + (rng.uniform() * (n / 2 - 1) as f64) as usize;
            let shift = rng.uniform() * 2.0;
            let v: Vec<f64> = (0..n)
                .map(|i| rng.normal() + if i >= n - j { shift } else { 0.0 })
                .collect();
            let inversions = |after: &[usize]| {
                let (mut above, mut below) = (0, 0);
                for &a in after {
                    for b in (0..n).filter(|b| !after.contains(b)) {
                        if v[b] > v[a] {
                            above += 1;
                        } else {
                            below += 1;
                        }
                    }
                }
                (above, below)
            };
            let (above, below) = inversions(&(n - j..n).collect::<Vec<_>>());
            let fewest = above.min(below);
            let got = exact_two_sided(&v, &sorted(&v), j);
            if fewest > n - j {
                assert_eq!(got, 1.0);
                continue;
            }
            let (mut total, mut as_extreme) = (0usize, 0usize);
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != j {
                    continue;
                }
                let after: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
                total += 1;
                as_extreme += usize::from(inversions(&after).0 <= fewest);
            }
            let want = (2.0 * as_extreme as f64 / total as f64).min(1.0);
            assert!((got - want).abs() < 1e-12, "n={n} j={j}: {got} vs {want}");
            compared += 1;
        }
        assert!(compared > 100, "{compared}");
        // Ties never make a change look more certain than without them.
        let tied = exact(&[1.0, 2.0, 3.0, 5.0], &[5.0, 6.0, 7.0]);
        let untied = exact(&[1.0, 2.0, 3.0, 4.9], &[5.0, 6.0, 7.0]);
        assert!(tied >= untied, "{tied} < {untied}");
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
