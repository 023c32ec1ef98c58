//! A model's opinion on a manual criterion (`judge review`), kept beside the verdicts and apart
//! from them: a review never changes a criterion's verdict, the totals or the score.

use serde::{Deserialize, Serialize};

/// What the reviewer concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// The reviewer found the requirement met.
    Pass,
    /// The reviewer found it not met.
    Fail,
    /// The reviewer gave no usable verdict (no valid JSON, twice); `reasons` says what it said.
    Unreviewed,
}

impl ReviewVerdict {
    /// The label tables print: `PASS`, `FAIL`, `UNREVIEWED`.
    pub fn label(self) -> &'static str {
        match self {
            ReviewVerdict::Pass => "PASS",
            ReviewVerdict::Fail => "FAIL",
            ReviewVerdict::Unreviewed => "UNREVIEWED",
        }
    }
}

/// The review block of one manual criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The id of the manual criterion reviewed.
    pub criterion: String,
    /// The model id that reviewed it.
    pub reviewer: String,
    /// What the reviewer concluded.
    pub verdict: ReviewVerdict,
    /// One paragraph from the reviewer (or why there is no verdict). Untrusted text.
    pub reasons: String,
    /// Tokens the review prompt cost, for the bill.
    pub prompt_tokens: u64,
    /// Tokens the reviewer answered with.
    pub completion_tokens: u64,
    /// Seconds since the Unix epoch when the review was asked for.
    pub reviewed_unix: u64,
}
