//! The exit-code policy shared by every subcommand.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every auto criterion passed (skipped ones allowed) |
//! | 1 | some auto criterion failed or errored because of the submission |
//! | 2 | usage or environment error, or a harness fault (our bug, missing Python...) |

use crate::report::Report;

/// Every auto criterion passed (skips allowed).
pub const SUCCESS: i32 = 0;
/// Some auto criterion failed or errored because of the submission.
pub const CRITERIA_FAILED: i32 = 1;
/// Bad usage, a broken environment, or a harness fault.
pub const USAGE_OR_ENVIRONMENT: i32 = 2;

/// The exit code for a set of reports: a harness fault outranks a failed criterion, because
/// then the failure may not be the submission's.
pub fn for_reports<'a>(reports: impl IntoIterator<Item = &'a Report>) -> i32 {
    let mut code = SUCCESS;
    for report in reports {
        if report.has_harness_fault() {
            return USAGE_OR_ENVIRONMENT;
        }
        if !report.all_auto_passed() {
            code = CRITERIA_FAILED;
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criterion::Verdict;
    use crate::report::Totals;
    use crate::sample::sample_report;

    #[test]
    fn exit_codes_follow_the_policy() {
        let failing = sample_report();
        assert_eq!(for_reports([&failing]), CRITERIA_FAILED);

        let mut passing = sample_report();
        passing.criteria[1].verdict = Verdict::pass("ok");
        passing.totals = Totals::of(&passing.criteria);
        assert_eq!(for_reports([&passing]), SUCCESS);
        assert_eq!(for_reports([&passing, &failing]), CRITERIA_FAILED);

        let mut broken = sample_report();
        broken.criteria[0].verdict = Verdict::harness_error("python missing");
        assert_eq!(for_reports([&failing, &broken]), USAGE_OR_ENVIRONMENT);
        assert_eq!(for_reports([]), SUCCESS);
    }
}
