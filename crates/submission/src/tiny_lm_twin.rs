//! The NumPy twin of the Rust TinyLM (`reference/tiny-lm/py/tiny_lm.py`): the model the
//! beam_search grader hands a submission (dflash_verify serves the Rust model itself, as a
//! remote fixture, so that its forwards are counted by the judge). It is built in the worker
//! from the Rust model's weights, so both sides compute the same logits, and probed before its
//! first use: a twin that disagrees is the harness's fault, never the submission's.

use std::collections::HashMap;

use judge_core::Verdict;
use judge_runner::{CallError, ObjHandle, Value, Worker};
use ndarray::Array1;
use tiny_lm::{LanguageModel, TinyLm, causal_mask};

use crate::Session;

/// The twin's module name in the worker.
pub const MODULE: &str = "tiny_lm";

/// How far the twin's logits may drift from the Rust model's before the grader refuses to trust
/// its own fixture (they agree to ~1e-13 in f64).
pub const TOLERANCE: f64 = 1e-9;

/// The twin's module as a [`crate::PythonContract`] fixture: (module name, source).
pub fn python_module() -> (String, String) {
    (
        MODULE.to_string(),
        include_str!("../../../reference/tiny-lm/py/tiny_lm.py").to_string(),
    )
}

/// Builds the twin of `model` in `worker`: `TinyLM(weights)`, the weights a dict of arrays.
pub fn new_twin(worker: &mut Worker, model: &TinyLm) -> Result<ObjHandle, CallError> {
    let weights = model
        .weights()
        .into_iter()
        .map(|(name, array)| (name.to_string(), Value::from(array)))
        .collect();
    worker.new_fixture(MODULE, "TinyLM", vec![Value::Dict(weights)], Vec::new())
}

/// The twins already built in one session's worker, by the seed of their `TinyLm::random`:
/// their weights travel once.
#[derive(Debug, Default)]
pub struct Twins {
    built: HashMap<u64, ObjHandle>,
}

impl Twins {
    /// The worker-side twin of `model` (= `TinyLm::random(seed)`), built and probed on first use.
    pub fn get_or_build(
        &mut self,
        session: &mut Session,
        seed: u64,
        model: &TinyLm,
    ) -> Result<ObjHandle, Verdict> {
        if let Some(&handle) = self.built.get(&seed) {
            return Ok(handle);
        }
        let handle = new_twin(&mut session.worker, model)
            .map_err(|e| Verdict::harness_error(format!("TinyLM fixture: {e}")))?;
        check_twin(session, handle, model)?;
        self.built.insert(seed, handle);
        Ok(handle)
    }
}

/// One forward of the twin on a probe sequence must equal the Rust logits. The mask is causal
/// with two edges dropped, so the probe covers both the causal and the tree-mask path (the
/// judge's own calls on a fixture are not counted as the submission's).
fn check_twin(session: &mut Session, handle: ObjHandle, model: &TinyLm) -> Result<(), Verdict> {
    let probe: Vec<u32> = vec![3, 141, 59, 26, 535, 897, 9];
    let mut mask = causal_mask(probe.len());
    mask[[5, 4]] = false;
    mask[[6, 5]] = false;
    let expected = model
        .logits(&probe, mask.view())
        .expect("the probe is a valid sequence")
        .into_dyn();
    let ids = Array1::from_iter(probe.iter().map(|&t| i64::from(t)));
    let probe_error =
        |e: &dyn std::fmt::Display| Verdict::harness_error(format!("TinyLM twin probe: {e}"));
    let outcome = session
        .call_method(handle, "forward", vec![ids.into(), mask.into()], Vec::new())
        .map_err(|e| probe_error(&e))?;
    let got = outcome.value.to_f64_array().map_err(|e| probe_error(&e))?;
    let worst = if got.shape() == expected.shape() {
        (&got - &expected).abs().fold(0.0f64, |m, &d| m.max(d))
    } else {
        f64::INFINITY
    };
    if worst <= TOLERANCE {
        Ok(())
    } else {
        Err(Verdict::harness_error(format!(
            "the NumPy TinyLM twin disagrees with the Rust model by {worst:e} (> {TOLERANCE:e})"
        )))
    }
}
