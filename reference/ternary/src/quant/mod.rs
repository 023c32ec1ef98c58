//! Group-wise ternary projection (BitNet b1.58 "absmean", Ternary Bonsai format), its
//! verification; the 2-bit packed export is [`PackedTernary`] (module `packed`).
//!
//! # Projection
//!
//! A tensor is flattened in row-major order and cut into groups of `group_size` (128)
//! consecutive weights. A trailing partial group (when the element count is not a multiple of
//! the group size) is a group of its own, with its own scale computed over its own elements.
//! For a weight matrix stored `[out_features, in_features]` with `in_features` a multiple of
//! 128 every group therefore lies inside one row, which is the llama.cpp layout.
//!
//! For each group `G`:
//!
//! ```text
//! s   = mean_{w ∈ G} |w|                      (mean, not max: see below)
//! q_i = clamp(round(w_i / s), -1, 1)          ∈ {-1, 0, +1}
//! Ŵ_i = s · q_i
//! ```
//!
//! If `s = 0` every weight of the group is zero, `w / s` would be `NaN`, and all codes are 0.
//!
//! `round` is round-half-to-even (`f32::round_ties_even`), the rule of `numpy.round` and
//! `torch.round`, so a Python submission and this reference agree on exact ties.
//!
//! Why the mean and not the max: with `s = max|w|` a single outlier pushes `|w/s|` of every other
//! weight of its group under 0.5 and the whole group collapses to zero; the mean keeps about a
//! third of the weights at zero for Gaussian-like groups and uses all three levels.
//!
//! # Straight-through estimator
//!
//! `round` has zero derivative almost everywhere, so training uses the straight-through
//! estimator: the forward pass uses `Ŵ`, and the backward pass hands `∂L/∂Ŵ` to the latent
//! weights unchanged, `∂L/∂W := ∂L/∂Ŵ`, with `s` treated as a constant. In this crate the model
//! computes gradients with respect to the projected weights it ran with
//! ([`crate::model::ModelWeights::project`]), and the optimizer applies them to the latent ones.

mod packed;

use serde::{Deserialize, Serialize};

use crate::error::TernaryError;
pub use packed::{PackedTernary, verify_packed_against_latent};

/// Group size of Ternary Bonsai / llama.cpp `Q2_0`.
pub const GROUP_SIZE: usize = 128;

/// Tolerance of the prompt's check `|round(W/s) − q| < 1e-5`.
pub const CODE_TOLERANCE: f32 = 1e-5;

/// Ternary codes of one tensor and the scale of each group.
#[derive(Debug, Clone, PartialEq)]
pub struct TernaryProjection {
    /// One code in {−1, 0, +1} per weight, row-major.
    pub codes: Vec<i8>,
    /// `s = mean|W|` of each group, in group order.
    pub scales: Vec<f32>,
    /// Weights per group (the last group may be shorter).
    pub group_size: usize,
}

impl TernaryProjection {
    /// `Ŵ_i = s_{group(i)} · q_i`.
    pub fn dequantize(&self) -> Vec<f32> {
        self.codes
            .chunks(self.group_size)
            .zip(&self.scales)
            .flat_map(|(codes, &scale)| codes.iter().map(move |&q| scale * f32::from(q)))
            .collect()
    }
}

fn check_group_size(group_size: usize) -> Result<(), TernaryError> {
    if group_size == 0 {
        return Err(TernaryError::InvalidGroupSize(group_size));
    }
    Ok(())
}

fn check_finite(values: &[f32]) -> Result<(), TernaryError> {
    match values.iter().position(|w| !w.is_finite()) {
        Some(index) => Err(TernaryError::NonFinite { index }),
        None => Ok(()),
    }
}

/// `s = mean|w|` of one group, accumulated in f64 so that the scale of a 128-weight group does not
/// depend on summation order at the 1e-7 level.
pub fn mean_abs(group: &[f32]) -> f32 {
    let sum: f64 = group.iter().map(|w| f64::from(w.abs())).sum();
    (sum / group.len() as f64) as f32
}

/// `clamp(round_half_even(w / s), −1, 1)`, with the `s = 0` guard.
///
/// For the three-level result the rounding reduces to two comparisons of `r = w/s` with ±0.5:
/// `r > 0.5 → +1`, `r < −0.5 → −1`, otherwise 0 (a tie ±0.5 rounds to the even 0). This is
/// exactly the clamped rounding for every finite `r`, and avoids the `roundevenf` library call
/// the generic x86-64 target makes for `f32::round_ties_even`.
pub fn ternary_code(w: f32, scale: f32) -> i8 {
    if scale > 0.0 {
        let r = w / scale;
        i8::from(r > 0.5) - i8::from(r < -0.5)
    } else {
        0
    }
}

/// Projects a row-major tensor to ternary codes and per-group scales.
pub fn project_ternary(
    latent: &[f32],
    group_size: usize,
) -> Result<TernaryProjection, TernaryError> {
    check_group_size(group_size)?;
    check_finite(latent)?;
    let mut codes = Vec::with_capacity(latent.len());
    let mut scales = Vec::with_capacity(latent.len().div_ceil(group_size));
    for group in latent.chunks(group_size) {
        let scale = mean_abs(group);
        codes.extend(group.iter().map(|&w| ternary_code(w, scale)));
        scales.push(scale);
    }
    Ok(TernaryProjection {
        codes,
        scales,
        group_size,
    })
}

/// Writes `Ŵ = s · clamp(round(W/s), −1, 1)` into `projected`: the forward-pass weights.
///
/// The training loop calls this once per step for every ternary layer; it allocates nothing.
pub fn project_into(
    latent: &[f32],
    group_size: usize,
    projected: &mut [f32],
) -> Result<(), TernaryError> {
    check_group_size(group_size)?;
    if latent.len() != projected.len() {
        return Err(TernaryError::Shape(format!(
            "projection of {} weights into a buffer of {}",
            latent.len(),
            projected.len()
        )));
    }
    check_finite(latent)?;
    for (group, out) in latent
        .chunks(group_size)
        .zip(projected.chunks_mut(group_size))
    {
        let scale = mean_abs(group);
        for (o, &w) in out.iter_mut().zip(group) {
            *o = scale * f32::from(ternary_code(w, scale));
        }
    }
    Ok(())
}

/// What a ternary check found for one tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TernaryReport {
    /// Weights in the tensor.
    pub n_weights: usize,
    /// Weights per group.
    pub group_size: usize,
    /// Groups, the partial one included.
    pub n_groups: usize,
    /// Length of the trailing partial group, 0 when the groups tile the tensor exactly.
    pub partial_group_len: usize,
    /// Groups whose scale is 0 (all-zero groups; all their codes are 0).
    pub zero_scale_groups: usize,
    /// Fractions of codes −1, 0, +1.
    pub fraction_minus_one: f64,
    /// Fraction of codes 0.
    pub fraction_zero: f64,
    /// Fraction of codes +1.
    pub fraction_plus_one: f64,
    /// Fraction of latent weights with `|W/s| > 1.5`, i.e. clipped by the clamp.
    pub fraction_clamped: f64,
    /// `max |Ŵ/s − round(Ŵ/s)|` over the tensor: the prompt's check, must be < 1e-5.
    pub max_code_deviation: f32,
    /// Mean of the group scales `s`.
    pub mean_scale: f64,
}

struct ReportBuilder {
    counts: [usize; 3],
    clamped: usize,
    zero_scale_groups: usize,
    max_code_deviation: f32,
    scale_sum: f64,
}

impl ReportBuilder {
    fn new() -> Self {
        Self {
            counts: [0; 3],
            clamped: 0,
            zero_scale_groups: 0,
            max_code_deviation: 0.0,
            scale_sum: 0.0,
        }
    }

    fn finish(self, n_weights: usize, group_size: usize) -> TernaryReport {
        let n = n_weights.max(1) as f64;
        let n_groups = n_weights.div_ceil(group_size);
        TernaryReport {
            n_weights,
            group_size,
            n_groups,
            partial_group_len: n_weights % group_size,
            zero_scale_groups: self.zero_scale_groups,
            fraction_minus_one: self.counts[0] as f64 / n,
            fraction_zero: self.counts[1] as f64 / n,
            fraction_plus_one: self.counts[2] as f64 / n,
            fraction_clamped: self.clamped as f64 / n,
            max_code_deviation: self.max_code_deviation,
            mean_scale: self.scale_sum / n_groups.max(1) as f64,
        }
    }
}

/// Recomputes the projection of `latent` and checks the result is ternary: for every weight,
/// `r = Ŵ/s` satisfies `|r − round(r)| < 1e-5` and `round(r) ∈ {−1, 0, +1}`; in a zero-scale group
/// `Ŵ` must be exactly 0.
///
/// This never trusts a stored projection: it starts from the latent weights.
pub fn verify_ternary(latent: &[f32], group_size: usize) -> Result<TernaryReport, TernaryError> {
    check_group_size(group_size)?;
    check_finite(latent)?;
    let mut report = ReportBuilder::new();
    for (g, group) in latent.chunks(group_size).enumerate() {
        let scale = mean_abs(group);
        report.scale_sum += f64::from(scale);
        if scale == 0.0 {
            report.zero_scale_groups += 1;
        }
        for (j, &w) in group.iter().enumerate() {
            let index = g * group_size + j;
            let projected = scale * f32::from(ternary_code(w, scale));
            let ratio = if scale > 0.0 {
                projected / scale
            } else {
                projected
            };
            let code = ratio.round_ties_even();
            let deviation = (ratio - code).abs();
            report.max_code_deviation = report.max_code_deviation.max(deviation);
            if deviation >= CODE_TOLERANCE || !(-1.0..=1.0).contains(&code) {
                return Err(TernaryError::NotTernary { index, ratio });
            }
            report.counts[(code as i32 + 1) as usize] += 1;
            if scale > 0.0 && (w / scale).abs() > 1.5 {
                report.clamped += 1;
            }
        }
    }
    Ok(report.finish(latent.len(), group_size))
}

/// Checks a tensor that claims to be already projected (what a submission might save instead of
/// latent weights): inside each group, every weight divided by the group's largest magnitude
/// must be within 1e-5 of −1, 0 or +1. The mean-|W| rule cannot be checked without the latent
/// weights; [`verify_packed_against_latent`] does that.
pub fn verify_projected(
    projected: &[f32],
    group_size: usize,
) -> Result<TernaryReport, TernaryError> {
    check_group_size(group_size)?;
    check_finite(projected)?;
    let mut report = ReportBuilder::new();
    for (g, group) in projected.chunks(group_size).enumerate() {
        let scale = group.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        report.scale_sum += f64::from(scale);
        if scale == 0.0 {
            report.zero_scale_groups += 1;
            report.counts[1] += group.len();
            continue;
        }
        for (j, &w) in group.iter().enumerate() {
            let ratio = w / scale;
            let code = ratio.round_ties_even();
            let deviation = (ratio - code).abs();
            report.max_code_deviation = report.max_code_deviation.max(deviation);
            if deviation >= CODE_TOLERANCE {
                return Err(TernaryError::NotTernary {
                    index: g * group_size + j,
                    ratio,
                });
            }
            report.counts[(code as i32 + 1) as usize] += 1;
        }
    }
    Ok(report.finish(projected.len(), group_size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use rand_distr::{Distribution, Normal};

    /// `n` weights ~ N(0, 0.7²), reproducible from `seed` (the packing tests use them too).
    pub(super) fn gaussian(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 0.7).expect("valid normal");
        (0..n).map(|_| normal.sample(&mut rng)).collect()
    }

    #[test]
    fn codes_are_ternary_and_scales_are_mean_abs() {
        let w = gaussian(3 * GROUP_SIZE, 1);
        let p = project_ternary(&w, GROUP_SIZE).unwrap();
        assert!(p.codes.iter().all(|q| (-1..=1).contains(q)));
        assert_eq!(p.scales.len(), 3);
        for (group, &s) in w.chunks(GROUP_SIZE).zip(&p.scales) {
            let naive = group.iter().map(|x| x.abs()).sum::<f32>() / group.len() as f32;
            assert!((s - naive).abs() < 1e-5 * naive);
        }
        // All three levels are used for Gaussian weights.
        for level in [-1, 0, 1] {
            assert!(p.codes.contains(&level));
        }
        let report = verify_ternary(&w, GROUP_SIZE).unwrap();
        assert!(report.max_code_deviation < CODE_TOLERANCE);
        let total = report.fraction_minus_one + report.fraction_zero + report.fraction_plus_one;
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_group() {
        // s = (0.1 + 0.5 + 2.0 + 0.0 + 0.9 + 0.5) / 6 = 4/6; w/s = 0.15, −0.75, 3, 0, 1.35, 0.75.
        let w = [0.1, -0.5, 2.0, 0.0, 0.9, 0.5];
        let p = project_ternary(&w, 6).unwrap();
        assert!((p.scales[0] - 4.0 / 6.0).abs() < 1e-6);
        assert_eq!(p.codes, vec![0, -1, 1, 0, 1, 1]);
        let r = verify_ternary(&w, 6).unwrap();
        assert!(
            (r.fraction_clamped - 1.0 / 6.0).abs() < 1e-12,
            "only w/s = 3 is clamped"
        );
    }

    #[test]
    fn ties_round_half_to_even() {
        // s = 1, w/s = ±0.5 → 0 (numpy/torch rounding), 1.5 → 2 → clamped to 1.
        let w = [0.5, -0.5, 1.5, 1.5];
        let p = project_ternary(&w, 4).unwrap();
        assert_eq!(p.scales[0], 1.0);
        assert_eq!(p.codes, vec![0, 0, 1, 1]);
    }

    #[test]
    fn threshold_code_equals_clamped_round_half_even() {
        let mut rng = StdRng::seed_from_u64(8);
        let ties = [
            0.5f32, -0.5, 1.5, -1.5, 2.5, 0.0, -0.0, 0.49999997, 0.50000006,
        ];
        let random = (0..10_000).map(|_| rng.random_range(-4.0f32..4.0));
        for r in ties.into_iter().chain(random) {
            let expected = r.round_ties_even().clamp(-1.0, 1.0) as i8;
            assert_eq!(ternary_code(r, 1.0), expected, "w/s = {r}");
        }
    }

    #[test]
    fn zero_group_has_zero_codes_not_nan() {
        let mut w = vec![0.0f32; GROUP_SIZE];
        w.extend(gaussian(GROUP_SIZE, 2));
        let p = project_ternary(&w, GROUP_SIZE).unwrap();
        assert_eq!(p.scales[0], 0.0);
        assert!(p.codes[..GROUP_SIZE].iter().all(|&q| q == 0));
        assert!(p.dequantize().iter().all(|x| x.is_finite()));
        let mut out = vec![f32::NAN; w.len()];
        project_into(&w, GROUP_SIZE, &mut out).unwrap();
        assert!(out[..GROUP_SIZE].iter().all(|&x| x == 0.0));
        assert_eq!(verify_ternary(&w, GROUP_SIZE).unwrap().zero_scale_groups, 1);
    }

    #[test]
    fn trailing_partial_group_has_its_own_scale() {
        let w = gaussian(2 * GROUP_SIZE + 5, 3);
        let p = project_ternary(&w, GROUP_SIZE).unwrap();
        assert_eq!(p.scales.len(), 3);
        let tail = &w[2 * GROUP_SIZE..];
        assert!((p.scales[2] - mean_abs(tail)).abs() < 1e-7);
        let r = verify_ternary(&w, GROUP_SIZE).unwrap();
        assert_eq!((r.n_groups, r.partial_group_len), (3, 5));
    }

    #[test]
    fn project_into_matches_dequantized_projection() {
        let w = gaussian(300, 4);
        let mut out = vec![0.0; 300];
        project_into(&w, GROUP_SIZE, &mut out).unwrap();
        assert_eq!(out, project_ternary(&w, GROUP_SIZE).unwrap().dequantize());
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(
            project_ternary(&[1.0], 0),
            Err(TernaryError::InvalidGroupSize(0))
        ));
        assert!(matches!(
            verify_ternary(&[1.0, f32::NAN], 2),
            Err(TernaryError::NonFinite { index: 1 })
        ));
        assert!(project_into(&[1.0; 4], 2, &mut [0.0; 3]).is_err());
    }

    #[test]
    fn verify_projected_rejects_non_ternary_values() {
        let w = gaussian(256, 5);
        let projected = project_ternary(&w, GROUP_SIZE).unwrap().dequantize();
        verify_projected(&projected, GROUP_SIZE).unwrap();
        // A full-precision tensor is not ternary.
        assert!(matches!(
            verify_projected(&w, GROUP_SIZE),
            Err(TernaryError::NotTernary { .. })
        ));
        // A value of 2·s in a group whose other non-zeros are s is not ternary either.
        let mut doubled = projected.clone();
        let i = doubled.iter().position(|&x| x != 0.0).unwrap();
        doubled[i] *= 2.0;
        assert!(verify_projected(&doubled, GROUP_SIZE).is_err());
    }
}
