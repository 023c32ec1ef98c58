//! How graders compare a candidate's numbers with the reference's, and say how far off they
//! are (in judge-submission because every grader that compares arrays already depends on it).

use ndarray::{ArrayViewD, Dimension, Zip};

/// How far `got` is from `expected`, or why they cannot be compared.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// The arrays have different shapes.
    Shape {
        /// The shape of `got`.
        got: Vec<usize>,
        /// The shape of `expected`.
        expected: Vec<usize>,
    },
    /// A NaN or infinity where the expected value is finite, at this index.
    NonFinite {
        /// Where, as a multi-dimensional index.
        index: Vec<usize>,
        /// The value of `got` there.
        value: f64,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Shape { got, expected } => {
                write!(f, "shape {got:?}, expected {expected:?}")
            }
            Mismatch::NonFinite { index, value } => {
                write!(f, "non-finite value {value} at {index:?}")
            }
        }
    }
}

/// max |got − expected| / max |expected|: the error relative to the scale of the answer, which
/// stays meaningful where individual expected entries are near zero.
pub fn max_relative_error(
    got: ArrayViewD<f64>,
    expected: ArrayViewD<f64>,
) -> Result<f64, Mismatch> {
    if got.shape() != expected.shape() {
        return Err(Mismatch::Shape {
            got: got.shape().to_vec(),
            expected: expected.shape().to_vec(),
        });
    }
    if let Some((index, value)) = first_non_finite(got.view(), expected.view()) {
        return Err(Mismatch::NonFinite { index, value });
    }
    let scale = expected.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut worst = 0.0f64;
    Zip::from(&got).and(&expected).for_each(|g, e| {
        worst = worst.max((g - e).abs());
    });
    Ok(if scale > 0.0 { worst / scale } else { worst })
}

/// The first index where `got` is NaN/±inf although `expected` is finite.
fn first_non_finite(got: ArrayViewD<f64>, expected: ArrayViewD<f64>) -> Option<(Vec<usize>, f64)> {
    got.indexed_iter()
        .zip(expected.iter())
        .find(|((_, g), e)| !g.is_finite() && e.is_finite())
        .map(|((index, g), _)| (index.slice().to_vec(), *g))
}

/// Evidence text for a relative-error check: `max rel err 3.2e-13 ≤ 1e-4`.
pub fn describe_error(error: f64, tolerance: f64) -> String {
    let relation = if error <= tolerance { "≤" } else { ">" };
    format!("max rel err {error:.1e} {relation} {tolerance:.0e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn array(values: &[f64]) -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(&[values.len()]), values.to_vec()).unwrap()
    }

    #[test]
    fn relative_error_is_scaled_by_the_largest_expected_entry() {
        let expected = array(&[10.0, 0.0, -5.0]);
        let got = array(&[10.0, 0.1, -5.0]);
        let error = max_relative_error(got.view(), expected.view()).unwrap();
        assert!((error - 0.01).abs() < 1e-15);
        assert_eq!(describe_error(error, 1e-4), "max rel err 1.0e-2 > 1e-4");
    }

    #[test]
    fn nan_and_shape_mismatches_are_reported_not_hidden() {
        let expected = array(&[1.0, 2.0]);
        let got = array(&[1.0, f64::NAN]);
        let mismatch = max_relative_error(got.view(), expected.view()).unwrap_err();
        assert!(matches!(&mismatch, Mismatch::NonFinite { index, .. } if index == &[1]));
        assert_eq!(mismatch.to_string(), "non-finite value NaN at [1]");
        let wrong = array(&[1.0, 2.0, 3.0]);
        assert!(matches!(
            max_relative_error(wrong.view(), expected.view()),
            Err(Mismatch::Shape { .. })
        ));
    }
}
