//! The prompt's contract, `flash_attention_fwd(Q, K, V, tile_size, causal)`, and its two
//! implementations: our Rust reference and a Python submission.

use flash_attention::FlashAttention;
use judge_core::Verdict;
use judge_runner::{CallError, Value};
use judge_submission::{Session, call_error_verdict, capped_call_error_verdict};
use ndarray::{Array4, ArrayD};

/// Q, K, V of shape (B, H, N, D), in the dtype the candidate receives.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// float64 inputs, the default of every criterion but one.
    F64 {
        /// Queries.
        q: Array4<f64>,
        /// Keys.
        k: Array4<f64>,
        /// Values.
        v: Array4<f64>,
    },
    /// float32 inputs, for the float32 criterion.
    F32 {
        /// Queries.
        q: Array4<f32>,
        /// Keys.
        k: Array4<f32>,
        /// Values.
        v: Array4<f32>,
    },
}

impl Inputs {
    /// The inputs as f64 — exactly the values the candidate saw — for computing expected values.
    pub fn as_f64(&self) -> (Array4<f64>, Array4<f64>, Array4<f64>) {
        match self {
            Inputs::F64 { q, k, v } => (q.clone(), k.clone(), v.clone()),
            Inputs::F32 { q, k, v } => (q.mapv(f64::from), k.mapv(f64::from), v.mapv(f64::from)),
        }
    }

    /// (B, H, N, D).
    pub fn shape(&self) -> [usize; 4] {
        let dim = match self {
            Inputs::F64 { q, .. } => q.dim(),
            Inputs::F32 { q, .. } => q.dim(),
        };
        [dim.0, dim.1, dim.2, dim.3]
    }

    /// Bytes per element, for sizing the N×N matrix the memory criteria measure against.
    pub fn itemsize(&self) -> u64 {
        match self {
            Inputs::F64 { .. } => 8,
            Inputs::F32 { .. } => 4,
        }
    }

    /// The NumPy dtype name, for evidence.
    pub fn dtype(&self) -> &'static str {
        match self {
            Inputs::F64 { .. } => "float64",
            Inputs::F32 { .. } => "float32",
        }
    }
}

/// What one forward call produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The attention output as f64, in whatever shape the candidate returned.
    pub output: ArrayD<f64>,
    /// Peak bytes allocated during the call (tracemalloc for Python, the counting allocator for
    /// the reference); `None` when it could not be measured or trusted.
    pub peak_bytes: Option<u64>,
    /// Why `peak_bytes` is missing, for the evidence.
    pub peak_note: Option<String>,
    /// Memory beyond the call's inputs and output, measured outside the candidate's code: for
    /// Python the worker's resident memory read by the judge from `/proc`
    /// ([`judge_runner::CallOutcome::resident_extra_bytes`]), for the reference the judge's
    /// counting allocator. `None` when it could not be measured.
    pub outside_extra_bytes: Option<u64>,
}

/// The contract every criterion is checked against. A failed call is the verdict it earned
/// (ERROR for an exception or a timeout).
pub trait Attention {
    /// One `flash_attention_fwd(Q, K, V, tile_size, causal)` call, with the memory it used.
    fn forward(&mut self, inputs: &Inputs, tile: usize, causal: bool) -> Result<Outcome, Verdict>;

    /// The same call in a process whose address space is capped at `cap_bytes`; running out of
    /// memory there is a FAIL (the criterion's point), not an ERROR.
    fn forward_capped(
        &mut self,
        inputs: &Inputs,
        tile: usize,
        causal: bool,
        cap_bytes: u64,
    ) -> Result<Outcome, Verdict>;
}

/// Our Rust reference, run in this process.
pub struct Reference;

impl Reference {
    fn run(inputs: &Inputs, tile: usize, causal: bool) -> Result<ArrayD<f64>, Verdict> {
        let attention = FlashAttention::new(tile, causal);
        let refused = |e: flash_attention::AttentionError| Verdict::error(e.to_string());
        Ok(match inputs {
            Inputs::F64 { q, k, v } => attention
                .forward(q.view(), k.view(), v.view())
                .map_err(refused)?
                .o
                .into_dyn(),
            Inputs::F32 { q, k, v } => attention
                .forward(q.view(), k.view(), v.view())
                .map_err(refused)?
                .o
                .mapv(f64::from)
                .into_dyn(),
        })
    }
}

impl Attention for Reference {
    fn forward(&mut self, inputs: &Inputs, tile: usize, causal: bool) -> Result<Outcome, Verdict> {
        let (output, peak) = judge_heap::measure_peak(|| Self::run(inputs, tile, causal));
        let output = output?;
        let output_bytes = output.len() as u64 * inputs.itemsize();
        Ok(Outcome {
            output,
            peak_bytes: peak,
            // The counting allocator is the judge's own: already an outside measurement.
            outside_extra_bytes: peak.map(|p| p.saturating_sub(output_bytes)),
            peak_note: peak
                .is_none()
                .then(|| "the counting allocator is not installed in this process".into()),
        })
    }

    fn forward_capped(
        &mut self,
        inputs: &Inputs,
        tile: usize,
        causal: bool,
        cap_bytes: u64,
    ) -> Result<Outcome, Verdict> {
        // The reference shares the judge's process, so the cap is checked on its measured peak
        // heap instead of by the kernel.
        let outcome = self.forward(inputs, tile, causal)?;
        match outcome.peak_bytes {
            Some(peak) if peak > cap_bytes => Err(Verdict::fail(format!(
                "peak heap {peak} B exceeds the cap of {cap_bytes} B"
            ))),
            Some(_) => Ok(outcome),
            None => Err(Verdict::skipped(
                "peak heap not measurable: the counting allocator is not installed",
            )),
        }
    }
}

/// A Python submission behind the sandboxed bridge.
pub struct Python<'s> {
    session: &'s mut Session,
}

impl<'s> Python<'s> {
    pub fn new(session: &'s mut Session) -> Self {
        Self { session }
    }
}

fn arguments(inputs: &Inputs, tile: usize, causal: bool) -> Vec<Value> {
    let (q, k, v) = match inputs {
        Inputs::F64 { q, k, v } => (q.clone().into(), k.clone().into(), v.clone().into()),
        Inputs::F32 { q, k, v } => (q.clone().into(), k.clone().into(), v.clone().into()),
    };
    // Positional, as the prompt declares them: robust to parameter renaming.
    vec![q, k, v, Value::Int(tile as i64), Value::Bool(causal)]
}

/// The output array of a call: the returned array, or the first element of a returned tuple
/// (some answers return `(O, L)` or `(O, cache)` even from the plain forward).
fn output_of(value: &Value) -> Result<ArrayD<f64>, Verdict> {
    let array = match value {
        Value::Tuple(items) | Value::List(items)
            if matches!(items.first(), Some(Value::Array(_))) =>
        {
            &items[0]
        }
        other => other,
    };
    array
        .to_f64_array()
        .map_err(|e| Verdict::fail(format!("returned {}: {e}", value.type_name())))
}

/// One call of the contract function, with `on_error` deciding what a failed call earns.
fn call(
    session: &mut Session,
    inputs: &Inputs,
    tile: usize,
    causal: bool,
    on_error: fn(&CallError) -> Verdict,
) -> Result<Outcome, Verdict> {
    let outcome = session
        .call(super::ENTRY, arguments(inputs, tile, causal), Vec::new())
        .map_err(|e| on_error(&e))?;
    let peak_note = outcome
        .peak_bytes
        .is_none()
        .then(|| "tracemalloc was stopped or tampered with during the call".to_string());
    Ok(Outcome {
        output: output_of(&outcome.value)?,
        peak_bytes: outcome.peak_bytes,
        peak_note,
        outside_extra_bytes: outcome.resident_extra_bytes,
    })
}

impl Attention for Python<'_> {
    fn forward(&mut self, inputs: &Inputs, tile: usize, causal: bool) -> Result<Outcome, Verdict> {
        call(self.session, inputs, tile, causal, call_error_verdict)
    }

    fn forward_capped(
        &mut self,
        inputs: &Inputs,
        tile: usize,
        causal: bool,
        cap_bytes: u64,
    ) -> Result<Outcome, Verdict> {
        let mut capped = self.session.spawn_with_memory_limit(cap_bytes)?;
        call(&mut capped, inputs, tile, causal, capped_call_error_verdict)
    }
}
