//! What a GRADE.json is, and nothing that produces one: the report and its parts, the criteria
//! and verdicts it records, the challenge ids it names, its schema version, and the exit codes
//! `judge` derives from reports. Serde only, so judge-report and outside tools can read
//! reports without the grading machinery (as nextest-metadata does for nextest).

#![warn(missing_docs)]

pub mod challenge;
pub mod criterion;
pub mod exit;
pub mod report;
pub mod review;
#[cfg(any(test, feature = "sample"))]
pub mod sample;

pub use challenge::{ChallengeId, Difficulty, UnknownChallenge};
pub use criterion::{Criterion, CriterionKind, CriterionResult, Fault, Verdict};
pub use report::{
    AdapterInfo, CandidateKind, FileHash, Fingerprint, ParseError, Report, ReportSource,
    SCHEMA_VERSION, SubmissionInfo, Tally, Totals, Unreadable, Unverified,
};
