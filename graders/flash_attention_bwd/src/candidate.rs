//! The prompt's contract, a forward pass that returns `(O, cache)` and a backward pass that
//! takes that cache back, and its two implementations: our Rust reference and a Python
//! submission.

use flash_attention::{AttentionError, FlashAttention};
use judge_core::Verdict;
use judge_runner::{CallError, Value};
use judge_submission::{Session, call_error_verdict, capped_call_error_verdict};
use ndarray::{Array3, Array4, ArrayD};

use crate::cases::Case;

/// What one forward call produced.
#[derive(Debug, Clone)]
pub struct Forward<C> {
    /// O as f64, in whatever shape the candidate returned.
    pub output: ArrayD<f64>,
    /// The cache, exactly as it is to be handed back to the backward pass.
    pub cache: C,
    /// Peak bytes allocated during the call (tracemalloc for Python, the counting allocator for
    /// the reference); `None` when it could not be measured or trusted, `peak_note` says why.
    pub peak_bytes: Option<u64>,
    /// Why `peak_bytes` is missing, for the evidence.
    pub peak_note: Option<String>,
    /// Memory the call added beyond its input and output arrays, measured outside the
    /// candidate's code: the judge's counting allocator for the reference, the worker's
    /// resident memory read by the judge from `/proc` for Python.
    pub outside_extra_bytes: Option<u64>,
}

/// What one backward call produced.
#[derive(Debug, Clone)]
pub struct Backward {
    /// dQ, dK, dV as f64, in whatever shapes the candidate returned.
    pub gradients: [ArrayD<f64>; 3],
    /// Peak bytes allocated during the call, as for [`Forward::peak_bytes`].
    pub peak_bytes: Option<u64>,
    /// Why `peak_bytes` is missing, for the evidence.
    pub peak_note: Option<String>,
    /// Memory the call added beyond its input and output arrays, measured outside the
    /// candidate's code: the judge's counting allocator for the reference, the worker's
    /// resident memory read by the judge from `/proc` for Python.
    pub outside_extra_bytes: Option<u64>,
}

/// For the reference, the judge's counting allocator (its own process) minus the returned
/// arrays; for Python, the worker's resident memory read by the judge from `/proc`
/// ([`judge_runner::CallOutcome::resident_extra_bytes`]): figures the submission cannot touch.
fn outside_extra_bytes(peak: Option<u64>, returned_elements: usize) -> Option<u64> {
    peak.map(|p| p.saturating_sub(8 * returned_elements as u64))
}

/// The gradients in the order the backward pass returns them.
pub const GRADIENT_NAMES: [&str; 3] = ["dQ", "dK", "dV"];

/// One array found in a cache: where (`['L']`, `['tiles'][3]`) and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedArray {
    /// Where in the cache it lies, as an index path: `['L']`, `['tiles'][3]`.
    pub path: String,
    /// Its shape; two axes of length N make it an N×N array.
    pub shape: Vec<usize>,
}

/// The contract every criterion is checked against. A failed call is the verdict it earned
/// (ERROR for an exception or a timeout); a return of the wrong form is a FAIL.
pub trait ForwardBackward {
    /// What the forward pass hands to the backward pass.
    type Cache;

    /// `flash_attention_fwd(Q, K, V, tile_size, causal)` on `case`: O, and the cache as it is
    /// to be handed back, unchanged, to the backward pass.
    fn forward(&mut self, case: &Case) -> Result<Forward<Self::Cache>, Verdict>;

    /// The backward pass of `case` with its `d_o`, given the cache `forward` returned for it.
    fn backward(&mut self, case: &Case, cache: &Self::Cache) -> Result<Backward, Verdict>;

    /// `cache['L']` as f64; `Err` says why there is none.
    fn cached_lse(&self, cache: &Self::Cache) -> Result<ArrayD<f64>, String>;

    /// Every array the cache holds, at any depth; `Err` when the cache cannot be looked into.
    fn cached_arrays(&self, cache: &Self::Cache) -> Result<Vec<CachedArray>, String>;

    /// The forward pass and then, with its cache, the backward pass, in a process whose
    /// address space is capped at `cap_bytes`; running out of memory there is a FAIL (the
    /// criterion's point), not an ERROR.
    fn forward_backward_capped(
        &mut self,
        case: &Case,
        cap_bytes: u64,
    ) -> Result<(ArrayD<f64>, Backward), Verdict>;
}

/// Our Rust reference, run in this process.
pub struct Reference;

/// What the reference keeps between its passes: the prompt's cache, O, L, Q, K, V.
pub struct ReferenceCache {
    o: Array4<f64>,
    lse: Array3<f64>,
    q: Array4<f64>,
    k: Array4<f64>,
    v: Array4<f64>,
}

fn refused(error: AttentionError) -> Verdict {
    Verdict::error(error.to_string())
}

fn measured_note(peak: Option<u64>) -> Option<String> {
    peak.is_none()
        .then(|| "the counting allocator is not installed in this process".into())
}

impl ForwardBackward for Reference {
    type Cache = ReferenceCache;

    fn forward(&mut self, case: &Case) -> Result<Forward<ReferenceCache>, Verdict> {
        let attention = FlashAttention::new(case.tile, case.causal);
        let (result, peak) = judge_heap::measure_peak(|| {
            attention.forward(case.q.view(), case.k.view(), case.v.view())
        });
        let result = result.map_err(refused)?;
        let returned = result.o.len() + result.lse.len();
        Ok(Forward {
            outside_extra_bytes: outside_extra_bytes(peak, returned),
            output: result.o.clone().into_dyn(),
            cache: ReferenceCache {
                o: result.o,
                lse: result.lse,
                q: case.q.clone(),
                k: case.k.clone(),
                v: case.v.clone(),
            },
            peak_bytes: peak,
            peak_note: measured_note(peak),
        })
    }

    fn backward(&mut self, case: &Case, cache: &ReferenceCache) -> Result<Backward, Verdict> {
        let attention = FlashAttention::new(case.tile, case.causal);
        let (result, peak) = judge_heap::measure_peak(|| {
            attention.backward(
                case.d_o.view(),
                cache.q.view(),
                cache.k.view(),
                cache.v.view(),
                cache.o.view(),
                cache.lse.view(),
            )
        });
        let grads = result.map_err(refused)?;
        let returned = grads.dq.len() + grads.dk.len() + grads.dv.len();
        Ok(Backward {
            outside_extra_bytes: outside_extra_bytes(peak, returned),
            gradients: [
                grads.dq.into_dyn(),
                grads.dk.into_dyn(),
                grads.dv.into_dyn(),
            ],
            peak_bytes: peak,
            peak_note: measured_note(peak),
        })
    }

    fn cached_lse(&self, cache: &ReferenceCache) -> Result<ArrayD<f64>, String> {
        Ok(cache.lse.clone().into_dyn())
    }

    fn cached_arrays(&self, cache: &ReferenceCache) -> Result<Vec<CachedArray>, String> {
        let entry = |path: &str, shape: &[usize]| CachedArray {
            path: format!("['{path}']"),
            shape: shape.to_vec(),
        };
        Ok(vec![
            entry("O", cache.o.shape()),
            entry("L", cache.lse.shape()),
            entry("Q", cache.q.shape()),
            entry("K", cache.k.shape()),
            entry("V", cache.v.shape()),
        ])
    }

    fn forward_backward_capped(
        &mut self,
        case: &Case,
        cap_bytes: u64,
    ) -> Result<(ArrayD<f64>, Backward), Verdict> {
        // The reference shares the judge's process, so the cap is checked on its measured peak
        // heap instead of by the kernel.
        let within_cap = |pass: &str, peak: Option<u64>| match peak {
            Some(peak) if peak > cap_bytes => Err(Verdict::fail(format!(
                "{pass}: peak heap {peak} B exceeds the cap of {cap_bytes} B"
            ))),
            Some(_) => Ok(()),
            None => Err(Verdict::skipped(
                "peak heap not measurable: the counting allocator is not installed",
            )),
        };
        let forward = self.forward(case)?;
        within_cap("forward", forward.peak_bytes)?;
        let backward = self.backward(case, &forward.cache)?;
        within_cap("backward", backward.peak_bytes)?;
        Ok((forward.output, backward))
    }
}

/// A call's value and its memory figures.
struct Measured {
    value: Value,
    peak_bytes: Option<u64>,
    peak_note: Option<String>,
    outside_extra_bytes: Option<u64>,
}

/// A Python submission behind the sandboxed bridge.
pub struct Python<'s> {
    session: &'s mut Session,
    /// What a failed call earns: ERROR in the main session, FAIL for running out of memory in
    /// the capped one.
    on_error: fn(&CallError) -> Verdict,
}

impl<'s> Python<'s> {
    pub fn new(session: &'s mut Session) -> Self {
        Self {
            session,
            on_error: call_error_verdict,
        }
    }

    /// Calls `function` positionally (the prompt fixes the order: robust to renamed
    /// parameters) and returns its value with the traced peak and the judge's figure.
    fn call(&mut self, function: &str, args: Vec<Value>) -> Result<Measured, Verdict> {
        let outcome = self
            .session
            .call(function, args, Vec::new())
            .map_err(|e| (self.on_error)(&e).in_context(function))?;
        let note = outcome
            .peak_bytes
            .is_none()
            .then(|| "tracemalloc was stopped or tampered with during the call".to_string());
        Ok(Measured {
            value: outcome.value,
            peak_bytes: outcome.peak_bytes,
            peak_note: note,
            outside_extra_bytes: outcome.resident_extra_bytes,
        })
    }
}

/// The items of a returned tuple or list of exactly `count` items.
fn items_of<'v>(value: &'v Value, count: usize, what: &str) -> Result<&'v [Value], Verdict> {
    match value.as_sequence() {
        Ok(items) if items.len() == count => Ok(items),
        _ => Err(Verdict::fail(format!(
            "returned {}, expected {what}",
            value.type_name()
        ))),
    }
}

fn array_of(value: &Value, name: &str) -> Result<ArrayD<f64>, Verdict> {
    value
        .to_f64_array()
        .map_err(|e| Verdict::fail(format!("{name}: {e}")))
}

/// Every array in `value`, depth first, with the path that reaches it.
fn collect_arrays(value: &Value, path: String, found: &mut Vec<CachedArray>) {
    match value {
        Value::Array(array) => found.push(CachedArray {
            path,
            shape: array.shape().to_vec(),
        }),
        Value::Dict(items) => {
            for (key, item) in items {
                collect_arrays(item, format!("{path}['{key}']"), found);
            }
        }
        Value::List(items) | Value::Tuple(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_arrays(item, format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

impl ForwardBackward for Python<'_> {
    /// The cache as the bridge returned it: a dict of arrays comes back as [`Value::Dict`] and
    /// is sent back as the same dict; an object the bridge cannot copy stays in the worker and
    /// is passed back by its handle.
    type Cache = Value;

    fn forward(&mut self, case: &Case) -> Result<Forward<Value>, Verdict> {
        let args = vec![
            case.q.clone().into(),
            case.k.clone().into(),
            case.v.clone().into(),
            Value::Int(case.tile as i64),
            Value::Bool(case.causal),
        ];
        let Measured {
            value,
            peak_bytes,
            peak_note,
            outside_extra_bytes,
        } = self.call(crate::FORWARD, args)?;
        let wrong = |verdict: Verdict| verdict.in_context(crate::FORWARD);
        let items = items_of(&value, 2, "(O, cache)").map_err(wrong)?;
        Ok(Forward {
            output: array_of(&items[0], "O").map_err(wrong)?,
            cache: items[1].clone(),
            peak_bytes,
            peak_note,
            outside_extra_bytes,
        })
    }

    fn backward(&mut self, case: &Case, cache: &Value) -> Result<Backward, Verdict> {
        let args = vec![
            case.d_o.clone().into(),
            cache.clone(),
            Value::Int(case.tile as i64),
            Value::Bool(case.causal),
        ];
        let Measured {
            value,
            peak_bytes,
            peak_note,
            outside_extra_bytes,
        } = self.call(crate::BACKWARD, args)?;
        let wrong = |verdict: Verdict| verdict.in_context(crate::BACKWARD);
        let items = items_of(&value, 3, "(dQ, dK, dV)").map_err(wrong)?;
        let gradient = |index: usize| array_of(&items[index], GRADIENT_NAMES[index]).map_err(wrong);
        Ok(Backward {
            gradients: [gradient(0)?, gradient(1)?, gradient(2)?],
            peak_bytes,
            peak_note,
            outside_extra_bytes,
        })
    }

    fn cached_lse(&self, cache: &Value) -> Result<ArrayD<f64>, String> {
        if !matches!(cache, Value::Dict(_)) {
            return Err(format!("the cache is {}, not a dict", cache.type_name()));
        }
        let lse = cache
            .get("L")
            .ok_or_else(|| "the cache has no key 'L'".to_string())?;
        lse.to_f64_array().map_err(|e| format!("cache['L']: {e}"))
    }

    fn cached_arrays(&self, cache: &Value) -> Result<Vec<CachedArray>, String> {
        if let Value::Opaque { type_name, .. } = cache {
            return Err(format!(
                "the cache is a {type_name} object, not a dict: its arrays cannot be inspected"
            ));
        }
        let mut found = Vec::new();
        collect_arrays(cache, String::new(), &mut found);
        Ok(found)
    }

    fn forward_backward_capped(
        &mut self,
        case: &Case,
        cap_bytes: u64,
    ) -> Result<(ArrayD<f64>, Backward), Verdict> {
        // One capped worker for both passes: the cache may be an object that lives in it.
        let mut capped = self.session.spawn_with_memory_limit(cap_bytes)?;
        let mut python = Python {
            session: &mut capped,
            on_error: capped_call_error_verdict,
        };
        let forward = python.forward(case)?;
        let backward = python.backward(case, &forward.cache)?;
        Ok((forward.output, backward))
    }
}
