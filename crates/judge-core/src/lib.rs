//! Core types of judge: the challenges, their criteria and verdicts, the GRADE.json report,
//! its renderings, and the exit-code policy. No grader logic and no process handling lives here.

pub mod challenge;
pub mod compare;
pub mod criterion;
pub mod discover;
pub mod exit;
pub mod fingerprint;
pub mod grading;
pub mod heap;
pub mod render;
pub mod report;
pub mod review;
pub mod seed;
pub mod session;
pub mod signing;
pub mod untrusted_fs;

pub use challenge::{ChallengeId, Difficulty, UnknownChallenge};
pub use criterion::{Criterion, CriterionKind, CriterionResult, Fault, Scorecard, Verdict};
pub use grading::{Challenge, GradeContext, Graded};
pub use report::{AdapterInfo, CandidateKind, Report, ReportError, SCHEMA_VERSION};
