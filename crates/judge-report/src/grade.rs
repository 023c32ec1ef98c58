//! Letter grades: the auto-criteria score mapped onto A–F.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A cell's or a model's grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// A score of at least 0.90.
    A,
    /// At least 0.75.
    B,
    /// At least 0.60.
    C,
    /// At least 0.40.
    D,
    /// Below 0.40.
    F,
    /// Not graded: the report holds a harness fault (a bug of the judge or a broken
    /// environment), so its score says nothing about the model. Never produced by
    /// [`letter_grade`]; re-grade the cell.
    #[serde(rename = "ERR")]
    Err,
}

impl Grade {
    /// The letter as shown, `ERR` for [`Grade::Err`].
    pub fn label(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::F => "F",
            Grade::Err => "ERR",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The letter-grade scale. A score is the weighted fraction of a report's **auto** criteria that
/// passed (skipped auto criteria count as not passed; self-test and manual criteria never count);
/// it earns the first grade whose minimum it reaches:
///
/// | grade | score      |
/// |-------|------------|
/// | A     | ≥ 0.90     |
/// | B     | ≥ 0.75     |
/// | C     | ≥ 0.60     |
/// | D     | ≥ 0.40     |
/// | F     | below 0.40 |
///
/// A model's total (the mean over all eight challenges, a missing one counting 0) is graded on
/// the same scale. Manual criteria are listed as "needs review" and never counted as passed.
pub const GRADE_SCALE: [(Grade, f64); 5] = [
    (Grade::A, 0.90),
    (Grade::B, 0.75),
    (Grade::C, 0.60),
    (Grade::D, 0.40),
    (Grade::F, 0.0),
];

/// Slack for rounding in means of fractions: 27/30 and the literal 0.9 must both be an A.
const SCORE_TOLERANCE: f64 = 1e-9;

/// The letter for a score in [0, 1] per [`GRADE_SCALE`]; anything that is not a number is F.
pub fn letter_grade(score: f64) -> Grade {
    GRADE_SCALE
        .iter()
        .find(|(_, minimum)| score + SCORE_TOLERANCE >= *minimum)
        .map_or(Grade::F, |(grade, _)| *grade)
}

/// A score as a whole percentage, rounded down so the number never shows a higher grade than
/// the letter beside it (0.8999 is "89%" and a B, not "90%" and a B).
pub fn percent(score: f64) -> u32 {
    if score.is_finite() {
        ((score.clamp(0.0, 1.0) + SCORE_TOLERANCE) * 100.0).floor() as u32
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_belong_to_the_higher_grade() {
        let cases = [
            (1.0, Grade::A),
            (0.9, Grade::A),
            (27.0 / 30.0, Grade::A),
            (0.8999, Grade::B),
            (0.75, Grade::B),
            (3.0 / 4.0, Grade::B),
            (0.7499, Grade::C),
            (0.6, Grade::C),
            (0.5999, Grade::D),
            (0.4, Grade::D),
            (2.0 / 5.0, Grade::D),
            (0.3999, Grade::F),
            (0.0, Grade::F),
            (f64::NAN, Grade::F),
        ];
        for (score, grade) in cases {
            assert_eq!(letter_grade(score), grade, "score {score}");
        }
    }

    #[test]
    fn a_sum_of_eighths_that_should_be_exactly_a_boundary_is_not_pushed_below_it() {
        // 0.1 + 0.2 style rounding: seven cells of 0.9 and one of 0.9 summed then divided.
        let mean = [0.9; 8].iter().sum::<f64>() / 8.0;
        assert_eq!(letter_grade(mean), Grade::A);
    }

    #[test]
    fn percentages_round_down_and_agree_with_the_letter() {
        assert_eq!(percent(0.8999), 89);
        assert_eq!(percent(0.9), 90);
        assert_eq!(percent(2.0 / 3.0), 66);
        assert_eq!(percent(1.0), 100);
        assert_eq!(percent(0.0), 0);
        assert_eq!(percent(f64::NAN), 0);
        for (grade, minimum) in GRADE_SCALE {
            assert_eq!(letter_grade(f64::from(percent(minimum)) / 100.0), grade);
        }
    }

    #[test]
    fn grades_serialise_as_their_labels() {
        assert_eq!(serde_json::to_string(&Grade::B).unwrap(), r#""B""#);
        assert_eq!(serde_json::to_string(&Grade::Err).unwrap(), r#""ERR""#);
        let back: Grade = serde_json::from_str(r#""ERR""#).unwrap();
        assert_eq!(back, Grade::Err);
    }
}
