//! The grading machinery of judge: the challenges and their criteria (the types are
//! judge-schema's, re-exported), the scorecard, the grading session that turns a grader's checks
//! into a signed GRADE.json, discovery and sharding of submissions, fingerprints, seeds, report
//! signing and the judge's own access to files a submission planted. No grader logic and no
//! process handling lives here.

#![warn(missing_docs)]

pub mod discover;
pub mod fingerprint;
pub mod grading;
pub mod report;
pub mod scorecard;
pub mod seed;
pub mod session;
pub mod signing;
pub mod untrusted_fs;

pub use judge_schema::{challenge, criterion, exit, review};

pub use challenge::{ChallengeId, Difficulty, UnknownChallenge};
pub use criterion::{Criterion, CriterionKind, CriterionResult, Fault, Verdict};
pub use grading::{ADAPTER_FILE_NAME, Challenge, ExternalAdapter, GradeContext, Graded};
pub use report::{AdapterInfo, CandidateKind, Report, ReportError, ReportFile, SCHEMA_VERSION};
pub use scorecard::Scorecard;
