//! Entry discovery: the module that defines the contract names, or why no auto criterion can run.

use judge_core::{CriterionKind, Graded, Scorecard, Verdict};
use judge_runner::{EntryInfo, Worker};

use crate::contract::PythonContract;
use crate::criteria::NO_FRAMEWORKS;
use crate::verdicts::call_error_verdict;

/// Entry discovery. Without the required names no auto criterion can run: they are ERROR
/// ("missing ..."), while the self-test still runs.
pub(crate) fn load(
    worker: &mut Worker,
    contract: &PythonContract,
    card: &mut Scorecard,
    graded: &mut Graded,
) -> Option<EntryInfo> {
    match worker.load_entry(&contract.names, contract.challenge.as_str()) {
        Ok(entry) => {
            graded.entry = Some(entry.file.display().to_string());
            if entry.candidates.len() > 1 {
                graded.notes.push(format!(
                    "several files define the contract; chose {} over {}",
                    entry.file.display(),
                    entry.candidates[1..]
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let missing: Vec<_> = contract
                .required
                .iter()
                .filter(|name| entry.missing.iter().any(|m| m == *name))
                .collect();
            if !missing.is_empty() {
                let evidence = format!(
                    "missing {} in {}",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    entry.file.display()
                );
                fail_auto(card, &Verdict::error(evidence));
                return None;
            }
            Some(entry)
        }
        Err(error) => {
            fail_auto(card, &call_error_verdict(&error));
            None
        }
    }
}

/// Every undecided auto criterion but the framework check (decided from the worker's whole
/// life) gets `verdict`: used when the submission cannot be run.
fn fail_auto(card: &mut Scorecard, verdict: &Verdict) {
    for id in card.undecided(CriterionKind::Auto) {
        if id != NO_FRAMEWORKS {
            card.record(&id, verdict.clone(), 0.0);
        }
    }
}
