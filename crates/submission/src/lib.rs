//! The parts of grading a Python submission that are the same for every challenge.
//!
//! A grader supplies its criteria and a closure that decides its own auto criteria against a
//! started [`Session`]; [`grade_python`] does everything around it: finds the interpreter,
//! starts the sandboxed worker, loads the entry module, decides the shared criteria
//! (`no_frameworks`, `self_test`, the manual items), records the environment, and fails closed
//! when anything dies half way.
//!
//! Most graders need no more than that: they implement [`PythonGrader`] (own criteria,
//! contract, the two decisions) and [`python_challenge!`] turns it into a `Challenge`.

#![warn(missing_docs)]

pub mod compare;
mod contract;
mod criteria;
mod entry;
mod grade;
mod interface;
mod machine_load;
pub mod memory;
pub mod python_grader;
mod reference;
mod self_test;
mod session;
#[cfg(feature = "tiny-lm")]
pub mod tiny_lm_twin;
mod verdicts;

pub use contract::{PythonContract, SelfTestRule};
pub use criteria::{NO_FRAMEWORKS, SELF_TEST, no_frameworks_criterion, self_test_criterion};
pub use grade::{grade_python, grade_python_with};
pub use machine_load::machine_slowdown;
pub use python_grader::PythonGrader;
pub use reference::{decide_reference_shared, grade_reference};
pub use self_test::self_test_scripts;
pub use session::Session;
pub use verdicts::{call_error_verdict, capped_call_error_verdict, return_contract_error};
