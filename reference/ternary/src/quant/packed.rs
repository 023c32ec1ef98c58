//! The 2-bit packed export of a ternary tensor.
//!
//! Each code is stored as the 2-bit value `c = q + 1`: `c = 0 → −s`, `1 → 0`, `2 → +s`, and
//! `3` is reserved (an error when unpacking). Four codes fill one byte, the first weight in the
//! lowest two bits: weight `i` lives in byte `i / 4` at bits `2·(i mod 4) .. 2·(i mod 4) + 1`.
//! Unused slots in the final byte hold `1` (a zero weight). Scales are stored as IEEE `f16`, one
//! per group, in group order.

use half::f16;

use super::{
    TernaryProjection, TernaryReport, check_group_size, mean_abs, project_ternary, ternary_code,
    verify_ternary,
};
use crate::error::TernaryError;

/// The 2-bit export of one ternary tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedTernary {
    /// Shape of the original tensor (row-major).
    pub shape: Vec<usize>,
    /// Weights per scale.
    pub group_size: usize,
    /// `ceil(n / 4)` bytes, four 2-bit codes each (see the module documentation).
    pub codes: Vec<u8>,
    /// One f16 scale per group.
    pub scales: Vec<f16>,
}

/// 2-bit code of a ternary value: `q + 1`.
const fn code_bits(q: i8) -> u8 {
    (q + 1) as u8
}

/// Code of a zero weight, used for the unused slots of the last byte.
const ZERO_CODE: u8 = 1;

/// The reserved 2-bit value.
const RESERVED_CODE: u8 = 3;

impl PackedTernary {
    /// Packs a projection of a tensor of the given shape.
    pub fn pack(projection: &TernaryProjection, shape: &[usize]) -> Result<Self, TernaryError> {
        let n: usize = shape.iter().product();
        if n != projection.codes.len()
            || projection.scales.len() != n.div_ceil(projection.group_size)
        {
            return Err(TernaryError::Shape(format!(
                "shape {shape:?} ({n} weights) does not match {} codes and {} scales",
                projection.codes.len(),
                projection.scales.len()
            )));
        }
        let codes = projection
            .codes
            .chunks(4)
            .map(|four| {
                (0..4).fold(0u8, |byte, slot| {
                    let bits = four.get(slot).map_or(ZERO_CODE, |&q| code_bits(q));
                    byte | (bits << (2 * slot))
                })
            })
            .collect();
        Ok(Self {
            shape: shape.to_vec(),
            group_size: projection.group_size,
            codes,
            scales: projection
                .scales
                .iter()
                .map(|&s| f16::from_f32(s))
                .collect(),
        })
    }

    /// Projects and packs latent weights in one go.
    pub fn from_latent(
        latent: &[f32],
        shape: &[usize],
        group_size: usize,
    ) -> Result<Self, TernaryError> {
        Self::pack(&project_ternary(latent, group_size)?, shape)
    }

    /// Number of weights: the product of `shape`.
    pub fn n_weights(&self) -> usize {
        self.shape.iter().product()
    }

    /// The ternary codes {−1, 0, +1}; the reserved value 3 is an error.
    pub fn unpack_codes(&self) -> Result<Vec<i8>, TernaryError> {
        let n = self.n_weights();
        if self.codes.len() != n.div_ceil(4) {
            return Err(TernaryError::Shape(format!(
                "{} packed bytes for {n} weights (expected {})",
                self.codes.len(),
                n.div_ceil(4)
            )));
        }
        (0..n)
            .map(|i| {
                let bits = (self.codes[i / 4] >> (2 * (i % 4))) & 0b11;
                if bits == RESERVED_CODE {
                    Err(TernaryError::ReservedCode { index: i })
                } else {
                    Ok(bits as i8 - 1)
                }
            })
            .collect()
    }

    /// `Ŵ` with the f16 scales.
    pub fn dequantize(&self) -> Result<Vec<f32>, TernaryError> {
        check_group_size(self.group_size)?;
        let codes = self.unpack_codes()?;
        if self.scales.len() != codes.len().div_ceil(self.group_size) {
            return Err(TernaryError::Shape(format!(
                "{} scales for {} weights in groups of {}",
                self.scales.len(),
                codes.len(),
                self.group_size
            )));
        }
        Ok(codes
            .chunks(self.group_size)
            .zip(&self.scales)
            .flat_map(|(codes, scale)| {
                let s = scale.to_f32();
                codes.iter().map(move |&q| s * f32::from(q))
            })
            .collect())
    }
}

/// Checks a packed export against the latent weights it claims to come from: same shape, the
/// scale of every group equal to `f16(mean|W|)` (within one f16 rounding step), and every code
/// equal to the recomputed `clamp(round(W/s), −1, 1)` except at exact ties (`|W/s|` within 1e-4
/// of 0.5, where rounding conventions may differ). Catches max-|W| scales, wrong group sizes,
/// reserved codes and codes that do not follow from the latent weights.
pub fn verify_packed_against_latent(
    latent: &[f32],
    packed: &PackedTernary,
) -> Result<TernaryReport, TernaryError> {
    if packed.n_weights() != latent.len() {
        return Err(TernaryError::Shape(format!(
            "packed shape {:?} holds {} weights, latent tensor has {}",
            packed.shape,
            packed.n_weights(),
            latent.len()
        )));
    }
    let report = verify_ternary(latent, packed.group_size)?;
    let codes = packed.unpack_codes()?;
    if packed.scales.len() != report.n_groups {
        return Err(TernaryError::Shape(format!(
            "{} scales for {} groups of {}",
            packed.scales.len(),
            report.n_groups,
            packed.group_size
        )));
    }
    for (g, (group, stored)) in latent
        .chunks(packed.group_size)
        .zip(&packed.scales)
        .enumerate()
    {
        let scale = mean_abs(group);
        let stored = stored.to_f32();
        // One f16 step at this magnitude: 2^-10 relative, plus subnormal slack.
        let tolerance = scale.abs() * 2f32.powi(-10) + 1e-7;
        if (stored - scale).abs() > tolerance {
            return Err(TernaryError::ScaleMismatch {
                group: g,
                stored,
                mean_abs: scale,
            });
        }
        for (j, &w) in group.iter().enumerate() {
            let index = g * packed.group_size + j;
            let expected = ternary_code(w, scale);
            let at_tie = scale > 0.0 && ((w / scale).abs() - 0.5).abs() < 1e-4;
            if codes[index] != expected && !at_tie {
                return Err(TernaryError::CodeMismatch {
                    index,
                    stored: codes[index],
                    expected,
                });
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::GROUP_SIZE;
    use crate::quant::tests::gaussian;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn pack_unpack_round_trip() {
        for n in [1usize, 3, 4, 5, 127, 128, 129, 1000] {
            let w = gaussian(n, n as u64);
            let p = project_ternary(&w, GROUP_SIZE).unwrap();
            let packed = PackedTernary::pack(&p, &[n]).unwrap();
            assert_eq!(packed.codes.len(), n.div_ceil(4));
            assert_eq!(packed.unpack_codes().unwrap(), p.codes);
            let dequantized = packed.dequantize().unwrap();
            for (a, b) in dequantized.iter().zip(p.dequantize()) {
                // Only the f16 rounding of the scale separates the two.
                assert!((a - b).abs() <= b.abs() * 1e-3);
            }
            verify_packed_against_latent(&w, &packed).unwrap();
        }
    }

    #[test]
    fn documented_bit_order() {
        // Codes −1, 0, +1, −1 → bits 0, 1, 2, 0 at positions 0, 2, 4, 6; then +1 padded by zeros.
        let p = TernaryProjection {
            codes: vec![-1, 0, 1, -1, 1],
            scales: vec![1.0],
            group_size: 128,
        };
        let packed = PackedTernary::pack(&p, &[5]).unwrap();
        assert_eq!(packed.codes, vec![0b00_10_01_00, 0b01_01_01_10]);
    }

    #[test]
    fn reserved_code_is_an_error() {
        let packed = PackedTernary {
            shape: vec![4],
            group_size: 128,
            codes: vec![0b11_01_01_01],
            scales: vec![f16::ONE],
        };
        assert!(matches!(
            packed.unpack_codes(),
            Err(TernaryError::ReservedCode { index: 3 })
        ));
    }

    #[test]
    fn packed_check_catches_wrong_scales_groups_and_codes() {
        let w = gaussian(512, 6);
        let good = PackedTernary::from_latent(&w, &[4, 128], GROUP_SIZE).unwrap();
        verify_packed_against_latent(&w, &good).unwrap();

        // max|W| scales instead of mean|W|.
        let mut max_scaled = good.clone();
        for (s, group) in max_scaled.scales.iter_mut().zip(w.chunks(GROUP_SIZE)) {
            *s = f16::from_f32(group.iter().fold(0.0f32, |m, x| m.max(x.abs())));
        }
        assert!(matches!(
            verify_packed_against_latent(&w, &max_scaled),
            Err(TernaryError::ScaleMismatch { .. })
        ));

        // Group size 256.
        let wide = PackedTernary::from_latent(&w, &[4, 128], 256).unwrap();
        let mut relabelled = wide.clone();
        relabelled.group_size = GROUP_SIZE;
        assert!(verify_packed_against_latent(&w, &relabelled).is_err());

        // A flipped code.
        let mut rng = StdRng::seed_from_u64(7);
        let mut flipped = good.clone();
        let byte = rng.random_range(0..flipped.codes.len());
        flipped.codes[byte] ^= 0b10;
        assert!(verify_packed_against_latent(&w, &flipped).is_err());
    }
}
