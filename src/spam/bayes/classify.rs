//! Robinson's f(w) per feature and Fisher's chi-square combining (see `spam::bayes`).

/// Robinson's s: the strength of the prior, in messages.
const S: f64 = 1.0;
/// Robinson's x: the probability assumed for a feature never seen.
const X: f64 = 0.5;
/// Features closer to 0.5 than this say nothing and are left out (SpamBayes' minimum
/// strength).
const MIN_STRENGTH: f64 = 0.1;

/// The spam probability of a message from its features' counts, `(spam, ham)` messages that
/// held each, against `nspam` and `nham` messages learnt; the `max` strongest features count.
/// `None` when no feature is significant (nothing known: no symbol at all, rather than
/// BAYES_50's "known and neutral").
pub fn probability(counts: &[(u64, u64)], nspam: u64, nham: u64, max: usize) -> Option<f64> {
    if nspam == 0 || nham == 0 {
        return None;
    }
    let (ns, nh) = (nspam as f64, nham as f64);
    let mut fw: Vec<f64> = counts
        .iter()
        .filter(|(s, h)| s + h > 0)
        .map(|&(s, h)| {
            // Frequencies per class, so a corpus with more spam than ham is not biased; a
            // count above its class total (after aging or a race) is capped at it.
            let ps = (s as f64 / ns).min(1.0);
            let ph = (h as f64 / nh).min(1.0);
            let p = ps / (ps + ph);
            let n = (s + h) as f64;
            (S * X + n * p) / (S + n)
        })
        .filter(|f| (f - 0.5).abs() >= MIN_STRENGTH)
        .collect();
    if fw.is_empty() {
        return None;
    }
    if fw.len() > max {
        fw.select_nth_unstable_by(max - 1, |a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        fw.truncate(max);
    }
    Some(chi_square(&fw))
}

/// Fisher's combining as Robinson applied it: H = C⁻¹(−2 Σ ln f, 2n) is near 1 when the
/// features are spammy, S = C⁻¹(−2 Σ ln(1 − f), 2n) near 1 when they are hammy; the result
/// I = (1 + H − S) / 2 is near 1 for spam, near 0 for ham, near 0.5 when both or neither.
/// Sums of logarithms, not products, so a hundred features do not underflow.
fn chi_square(fw: &[f64]) -> f64 {
    // f(w) is strictly inside (0, 1) by construction (s > 0); the clamp guards the logs.
    let clamp = |f: f64| f.clamp(1e-12, 1.0 - 1e-12);
    let ln_p: f64 = fw.iter().map(|&f| clamp(f).ln()).sum();
    let ln_q: f64 = fw.iter().map(|&f| (1.0 - clamp(f)).ln()).sum();
    let v = 2 * fw.len();
    let h = chi2q(-2.0 * ln_p, v);
    let s = chi2q(-2.0 * ln_q, v);
    ((1.0 + h - s) / 2.0).clamp(0.0, 1.0)
}

/// P(χ² ≥ x2) for an even number `v` of degrees of freedom: the series
/// e^(−m) Σ_{i < v/2} m^i / i!, with m = x2 / 2.
fn chi2q(x2: f64, v: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// One band of the probability scale and its symbol, as SpamAssassin names them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub symbol: &'static str,
    /// The band holds probabilities from `low` (inclusive) to the next band's `low`.
    pub low: f64,
}

/// The bands, ascending.
pub const BANDS: [Band; 9] = [
    Band {
        symbol: "BAYES_00",
        low: 0.0,
    },
    Band {
        symbol: "BAYES_05",
        low: 0.01,
    },
    Band {
        symbol: "BAYES_20",
        low: 0.05,
    },
    Band {
        symbol: "BAYES_40",
        low: 0.20,
    },
    Band {
        symbol: "BAYES_50",
        low: 0.40,
    },
    Band {
        symbol: "BAYES_60",
        low: 0.60,
    },
    Band {
        symbol: "BAYES_80",
        low: 0.80,
    },
    Band {
        symbol: "BAYES_95",
        low: 0.95,
    },
    Band {
        symbol: "BAYES_99",
        low: 0.99,
    },
];

/// The index in [`BANDS`] of probability `p`.
pub fn band(p: f64) -> usize {
    BANDS.iter().rposition(|b| p >= b.low).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2q_matches_known_values() {
        // P(χ²₂ ≥ x) = e^(−x/2).
        assert!((chi2q(2.0, 2) - (-1.0f64).exp()).abs() < 1e-12);
        // P(χ²₄ ≥ 4) = e^(−2)(1 + 2) ≈ 0.406.
        assert!((chi2q(4.0, 4) - 3.0 * (-2.0f64).exp()).abs() < 1e-12);
        assert_eq!(chi2q(0.0, 10), 1.0);
        assert!(chi2q(10_000.0, 300) < 1e-100);
    }

    #[test]
    fn evidence_moves_the_probability_and_conflict_stays_unsure() {
        let spammy = vec![(50, 0); 20];
        let hammy = vec![(0, 50); 20];
        let p = probability(&spammy, 100, 100, 150).unwrap();
        assert!(p > 0.99, "{p}");
        let p = probability(&hammy, 100, 100, 150).unwrap();
        assert!(p < 0.01, "{p}");
        let both: Vec<_> = spammy.iter().chain(&hammy).copied().collect();
        let p = probability(&both, 100, 100, 150).unwrap();
        assert!((p - 0.5).abs() < 0.05, "{p}");
        // Unknown or neutral features give no answer at all.
        assert_eq!(probability(&[(0, 0), (5, 5)], 100, 100, 150), None);
        assert_eq!(probability(&spammy, 0, 100, 150), None);
        // A feature seen once is weak: f(w) = (0.5 + 1) / 2 = 0.75 and counts.
        assert!(probability(&[(1, 0)], 100, 100, 150).unwrap() > 0.5);
    }

    #[test]
    fn only_the_strongest_features_count() {
        // 10 strong spam features and 500 weak ham ones: with max 10 only the spam counts.
        let mut c = vec![(90, 0); 10];
        c.extend(vec![(1, 4); 500]);
        assert!(probability(&c, 100, 100, 10).unwrap() > 0.99);
    }

    #[test]
    fn bands_are_spamassassin_s() {
        assert_eq!(BANDS[band(0.0)].symbol, "BAYES_00");
        assert_eq!(BANDS[band(0.0099)].symbol, "BAYES_00");
        assert_eq!(BANDS[band(0.01)].symbol, "BAYES_05");
        assert_eq!(BANDS[band(0.5)].symbol, "BAYES_50");
        assert_eq!(BANDS[band(0.97)].symbol, "BAYES_95");
        assert_eq!(BANDS[band(1.0)].symbol, "BAYES_99");
    }
}
