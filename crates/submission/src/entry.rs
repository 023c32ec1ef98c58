//! Entry discovery: the module that defines the contract names (or the adapter that maps the
//! submission's own API onto them), or why no auto criterion can run.

use std::path::Path;

use judge_core::{
    ADAPTER_FILE_NAME, AdapterInfo, ChallengeId, CriterionKind, ExternalAdapter, GradeContext,
    Graded, Scorecard, Verdict,
};
use judge_runner::{
    CallError, EntryInfo, EntryRequest, PythonEnv, RunnerError, Worker, WorkerOptions,
};

use crate::contract::PythonContract;
use crate::criteria::NO_FRAMEWORKS;
use crate::interface;
use crate::verdicts::call_error_verdict;

/// How the entry is loaded: the file named (an adapter, `--entry`), the adapter's source when
/// it comes from outside the folder (placed into each worker's scratch copy), and the
/// signatures the interface declares (quoted when a call is refused).
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadPlan {
    entry: Option<String>,
    placed_adapter: Option<Vec<u8>>,
    pub(crate) adapter: Option<AdapterInfo>,
    signatures: Vec<(String, String)>,
}

impl LoadPlan {
    /// An adapter from `--adapter` wins over `judge_adapter.py` in the folder, which wins over
    /// `--entry`. An adapter in the folder that cannot be read (a link, too large) is the
    /// submission's contract ERROR.
    pub(crate) fn new(
        challenge: ChallengeId,
        dir: &Path,
        ctx: &GradeContext,
    ) -> Result<LoadPlan, Verdict> {
        let signatures = interface::declared_signatures(challenge);
        let adapter_entry = Some(ADAPTER_FILE_NAME.to_string());
        if let Some(external) = &ctx.adapter {
            return Ok(LoadPlan {
                entry: adapter_entry,
                placed_adapter: Some(external.source.clone()),
                adapter: Some(AdapterInfo {
                    path: external.path.clone(),
                    sha256: external.sha256(),
                }),
                signatures,
            });
        }
        let in_folder = dir.join(ADAPTER_FILE_NAME);
        if std::fs::symlink_metadata(&in_folder).is_ok() {
            let adapter = ExternalAdapter::read(&in_folder).map_err(|e| {
                Verdict::contract_error(format!("{ADAPTER_FILE_NAME} cannot be used: {e}"))
            })?;
            return Ok(LoadPlan {
                entry: adapter_entry,
                placed_adapter: None,
                adapter: Some(AdapterInfo {
                    path: ADAPTER_FILE_NAME.to_string(),
                    sha256: adapter.sha256(),
                }),
                signatures,
            });
        }
        Ok(LoadPlan {
            entry: ctx.entry.clone(),
            signatures,
            ..LoadPlan::default()
        })
    }

    /// A worker on a scratch copy of `dir`, with the outside adapter placed into the copy.
    pub(crate) fn start_worker(
        &self,
        env: &PythonEnv,
        dir: &Path,
        options: WorkerOptions,
    ) -> Result<Worker, RunnerError> {
        let mut worker = Worker::start(env, dir, options)?;
        if let Some(source) = &self.placed_adapter {
            worker.place_file(ADAPTER_FILE_NAME, source)?;
        }
        Ok(worker)
    }

    pub(crate) fn load_entry(
        &self,
        worker: &mut Worker,
        contract: &PythonContract,
    ) -> Result<EntryInfo, CallError> {
        worker.load_entry_from(&EntryRequest {
            names: &contract.names,
            prefer: contract.challenge.as_str(),
            entry: self.entry.as_deref(),
            signatures: &self.signatures,
        })
    }

    /// `name(params)` as the interface declares `name`.
    fn signature_of(&self, name: &str) -> Option<&str> {
        self.signatures
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, signature)| signature.as_str())
    }
}

/// Entry discovery. Without the required names no auto criterion can run: they are ERROR with
/// a contract fault ("missing ..."), as is an entry that cannot be imported; the self-test
/// still runs.
pub(crate) fn load(
    worker: &mut Worker,
    contract: &PythonContract,
    plan: &LoadPlan,
    card: &mut Scorecard,
    graded: &mut Graded,
) -> Option<EntryInfo> {
    match plan.load_entry(worker, contract) {
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
                let expected: Vec<&str> = missing
                    .iter()
                    .filter_map(|m| plan.signature_of(m))
                    .collect();
                let evidence = format!(
                    "missing {} in {}{}",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    entry.file.display(),
                    if expected.is_empty() {
                        String::new()
                    } else {
                        format!(" (expected {})", expected.join(", "))
                    }
                );
                fail_auto(card, &Verdict::contract_error(evidence));
                return None;
            }
            Some(entry)
        }
        Err(error @ CallError::Missing { .. }) => {
            let expected: Vec<&str> = contract
                .names
                .iter()
                .filter_map(|name| plan.signature_of(name))
                .collect();
            let evidence = if expected.is_empty() {
                error.to_string()
            } else {
                format!("{error} (expected {})", expected.join(", "))
            };
            fail_auto(card, &Verdict::contract_error(evidence));
            None
        }
        Err(error @ CallError::Exception { .. }) => {
            let entry = plan.entry.as_deref().unwrap_or("the entry module");
            let evidence = format!("importing {entry} failed: {error}");
            fail_auto(card, &Verdict::contract_error(evidence));
            None
        }
        Err(error) => {
            fail_auto(card, &call_error_verdict(&error));
            None
        }
    }
}

/// Every undecided auto criterion but the framework check (decided from the worker's whole
/// life) gets `verdict`: used when the submission cannot be run.
pub(crate) fn fail_auto(card: &mut Scorecard, verdict: &Verdict) {
    for id in card.undecided(CriterionKind::Auto) {
        if id != NO_FRAMEWORKS {
            card.record(&id, verdict.clone(), 0.0);
        }
    }
}
