//! The contract of prompts/kv.interface.md — a cache built for (batch, heads, head_dim,
//! max_len), `append(seq_ids, k, v)` and `attend(seq_ids, q)` — and its two implementations:
//! our Rust reference and a Python submission.

use std::time::{Duration, Instant};

use judge_core::Verdict;
use judge_runner::{CallError, ObjHandle, Value};
use judge_submission::{Session, call_error_verdict};
use kv_cache::{CacheDims, KvCache, PagedKvCache};
use ndarray::{Array3, Array4, ArrayD, Axis};

use crate::{ENTRY, PROBE_MODULE};

/// The inputs of a whole decode of one fixed batch: row `t` of each is step `t`, `(T, n, H, d)`.
#[derive(Debug, Clone)]
pub struct StepInputs {
    /// The k appended for each sequence at each step.
    pub keys: Array4<f64>,
    /// The v appended with it.
    pub values: Array4<f64>,
    /// The q attended with after the step's append.
    pub queries: Array4<f64>,
}

impl StepInputs {
    /// T, the number of decode steps.
    pub fn steps(&self) -> usize {
        self.queries.len_of(Axis(0))
    }
}

/// What a decode run inside the candidate reports.
#[derive(Debug, Clone)]
pub struct DecodeRun {
    /// Steps done before the time limit stopped the run.
    pub completed: usize,
    /// Wall seconds of the decode as the candidate's side timed it (for Python, the probe in
    /// the worker).
    pub seconds: f64,
    /// Every step's attention output, `(T, n, H, d)`, when the run completed.
    pub outputs: Option<ArrayD<f64>>,
    /// Per step, when measured: bytes the cache holds after the step.
    pub held_bytes: Option<Vec<u64>>,
    /// Per step, when measured: bytes the step allocated above what was held before it (its
    /// peak).
    pub step_bytes: Option<Vec<u64>>,
    /// When measured: the most memory beyond the decode's inputs and outputs, by a measurement
    /// outside the candidate's code (for Python the worker's resident memory read by the judge
    /// from `/proc`; for the reference the judge's own accounting).
    pub outside_peak_bytes: Option<u64>,
    /// Wall seconds of the whole decode on the judge's clock (for Python, the call's round
    /// trip: an upper bound of `seconds` the submission cannot shrink).
    pub judge_seconds: f64,
}

/// The contract every criterion is checked against. A failed call is the verdict it earned
/// (ERROR for an exception or a timeout, FAIL for a malformed return).
pub trait KvCandidate {
    /// Starts a fresh, empty cache; the previous one is no longer used.
    fn create(&mut self, dims: CacheDims) -> Result<(), Verdict>;

    /// Appends one token per sequence of `seqs`: `keys`, `values` are `(len(seqs), H, d)`.
    fn append(
        &mut self,
        seqs: &[usize],
        keys: &Array3<f64>,
        values: &Array3<f64>,
    ) -> Result<(), Verdict>;

    /// Attention of `queries` `(len(seqs), H, d)`, each over its own sequence's cached tokens.
    fn attend(&mut self, seqs: &[usize], queries: &Array3<f64>) -> Result<ArrayD<f64>, Verdict>;

    /// A whole decode of `seqs` in a fresh cache of `dims`, one token per sequence per step,
    /// inside the candidate; stops early past `time_limit`. `measure` asks for the memory.
    fn decode(
        &mut self,
        dims: CacheDims,
        seqs: &[usize],
        steps: &StepInputs,
        measure: bool,
        time_limit: Duration,
    ) -> Result<DecodeRun, Verdict>;
}

/// Our Rust reference, run in this process: the paged layout, the one whose memory tracks the
/// tokens actually cached.
#[derive(Default)]
pub struct Reference {
    cache: Option<PagedKvCache>,
}

/// Tokens per block of the reference's paged cache.
const BLOCK_SIZE: usize = 16;

fn refused(error: kv_cache::KvCacheError) -> Verdict {
    Verdict::error(error.to_string())
}

impl Reference {
    fn cache(&mut self) -> Result<&mut PagedKvCache, Verdict> {
        self.cache
            .as_mut()
            .ok_or_else(|| Verdict::harness_error("no cache was created"))
    }
}

impl KvCandidate for Reference {
    fn create(&mut self, dims: CacheDims) -> Result<(), Verdict> {
        self.cache = Some(PagedKvCache::new(dims, BLOCK_SIZE).map_err(refused)?);
        Ok(())
    }

    fn append(
        &mut self,
        seqs: &[usize],
        keys: &Array3<f64>,
        values: &Array3<f64>,
    ) -> Result<(), Verdict> {
        self.cache()?
            .append(seqs, keys.view(), values.view())
            .map_err(refused)
    }

    fn attend(&mut self, seqs: &[usize], queries: &Array3<f64>) -> Result<ArrayD<f64>, Verdict> {
        Ok(self
            .cache()?
            .attend(seqs, queries.view())
            .map_err(refused)?
            .into_dyn())
    }

    fn decode(
        &mut self,
        dims: CacheDims,
        seqs: &[usize],
        steps: &StepInputs,
        measure: bool,
        time_limit: Duration,
    ) -> Result<DecodeRun, Verdict> {
        let mut cache = PagedKvCache::new(dims, BLOCK_SIZE).map_err(refused)?;
        let mut outputs = Array4::zeros(steps.queries.raw_dim());
        let (mut held, mut step_peaks) = (Vec::new(), Vec::new());
        let mut heap_measured = true;
        let started = Instant::now();
        for t in 0..steps.steps() {
            let (output, peak) = judge_heap::measure_peak(|| {
                cache.append(
                    seqs,
                    steps.keys.index_axis(Axis(0), t),
                    steps.values.index_axis(Axis(0), t),
                )?;
                cache.attend(seqs, steps.queries.index_axis(Axis(0), t))
            });
            outputs
                .index_axis_mut(Axis(0), t)
                .assign(&output.map_err(refused)?);
            held.push(cache.bytes_held() as u64);
            heap_measured &= peak.is_some();
            step_peaks.push(peak.unwrap_or(0));
            if started.elapsed() > time_limit {
                return Ok(DecodeRun {
                    completed: t + 1,
                    seconds: started.elapsed().as_secs_f64(),
                    outputs: None,
                    held_bytes: None,
                    step_bytes: None,
                    outside_peak_bytes: None,
                    judge_seconds: started.elapsed().as_secs_f64(),
                });
            }
        }
        if measure && !heap_measured {
            return Err(Verdict::skipped(
                "peak heap not measurable: the counting allocator is not installed",
            ));
        }
        Ok(DecodeRun {
            completed: steps.steps(),
            seconds: started.elapsed().as_secs_f64(),
            outputs: Some(outputs.into_dyn()),
            outside_peak_bytes: measure
                .then(|| held.iter().zip(&step_peaks).map(|(h, s)| h + s).max())
                .flatten(),
            held_bytes: measure.then_some(held),
            step_bytes: measure.then_some(step_peaks),
            judge_seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// A Python submission behind the sandboxed bridge.
pub struct Python<'s> {
    session: &'s mut Session,
    /// The submission's cache now in use.
    cache: Option<ObjHandle>,
    /// The grader's decode driver, made on first use.
    probe: Option<ObjHandle>,
}

impl<'s> Python<'s> {
    pub fn new(session: &'s mut Session) -> Self {
        Self {
            session,
            cache: None,
            probe: None,
        }
    }

    fn cache(&self) -> Result<ObjHandle, Verdict> {
        self.cache
            .ok_or_else(|| Verdict::harness_error("no cache was created"))
    }

    /// `KVCache(batch_size, num_heads, head_dim, max_len)`, by position as the interface
    /// orders them, kept in the worker.
    fn construct(&mut self, dims: CacheDims) -> Result<ObjHandle, Verdict> {
        let args = [dims.slots, dims.heads, dims.head_dim, dims.max_len]
            .map(|n| Value::Int(n as i64))
            .to_vec();
        let made = self.session.call(ENTRY, args, Vec::new()).map_err(error)?;
        match made.value {
            Value::Opaque { handle, .. } | Value::Obj(handle) => Ok(handle),
            other => Err(Verdict::contract_error(format!(
                "{ENTRY}(...) returned {}, expected a cache object",
                other.type_name()
            ))),
        }
    }
}

fn error(e: CallError) -> Verdict {
    call_error_verdict(&e)
}

fn seq_list(seqs: &[usize]) -> Value {
    Value::List(seqs.iter().map(|&s| Value::Int(s as i64)).collect())
}

/// A field of the probe's result dict, or a harness error: the probe is ours.
fn field<'v>(result: &'v Value, key: &str) -> Result<&'v Value, Verdict> {
    result
        .get(key)
        .ok_or_else(|| Verdict::harness_error(format!("the decode probe returned no {key}")))
}

fn byte_counts(result: &Value, key: &str) -> Result<Vec<u64>, Verdict> {
    let counts = field(result, key)?
        .to_i64_array()
        .map_err(|e| Verdict::harness_error(format!("probe {key}: {e}")))?;
    Ok(counts.iter().map(|&b| b.max(0) as u64).collect())
}

impl KvCandidate for Python<'_> {
    fn create(&mut self, dims: CacheDims) -> Result<(), Verdict> {
        self.cache = Some(self.construct(dims)?);
        Ok(())
    }

    fn append(
        &mut self,
        seqs: &[usize],
        keys: &Array3<f64>,
        values: &Array3<f64>,
    ) -> Result<(), Verdict> {
        let args = vec![seq_list(seqs), keys.clone().into(), values.clone().into()];
        self.session
            .call_method(self.cache()?, "append", args, Vec::new())
            .map_err(error)?;
        Ok(())
    }

    fn attend(&mut self, seqs: &[usize], queries: &Array3<f64>) -> Result<ArrayD<f64>, Verdict> {
        let args = vec![seq_list(seqs), queries.clone().into()];
        let outcome = self
            .session
            .call_method(self.cache()?, "attend", args, Vec::new())
            .map_err(error)?;
        outcome
            .value
            .to_f64_array()
            .map_err(|e| Verdict::contract_error(format!("attend returned {e}")))
    }

    fn decode(
        &mut self,
        dims: CacheDims,
        seqs: &[usize],
        steps: &StepInputs,
        measure: bool,
        time_limit: Duration,
    ) -> Result<DecodeRun, Verdict> {
        // An instance tells the probe the class; the probe builds its own under tracemalloc.
        let template = self.construct(dims)?;
        let probe = match self.probe {
            Some(probe) => probe,
            None => {
                let probe = self
                    .session
                    .worker
                    .new_fixture(PROBE_MODULE, "DecodeProbe", Vec::new(), Vec::new())
                    .map_err(|e| Verdict::harness_error(format!("decode probe: {e}")))?;
                *self.probe.insert(probe)
            }
        };
        let dims_value = Value::Tuple(
            [dims.slots, dims.heads, dims.head_dim, dims.max_len]
                .map(|n| Value::Int(n as i64))
                .to_vec(),
        );
        let args = vec![
            Value::Obj(template),
            dims_value,
            seq_list(seqs),
            steps.keys.clone().into(),
            steps.values.clone().into(),
            steps.queries.clone().into(),
            Value::Bool(measure),
            Value::Float(time_limit.as_secs_f64()),
        ];
        let outcome = self
            .session
            .call_method(probe, "decode", args, Vec::new())
            .map_err(error)?;
        let result = outcome.value;
        if let Some(message) = result.get("error") {
            return Err(Verdict::fail(
                message.as_str().unwrap_or("malformed output"),
            ));
        }
        let completed = field(&result, "completed")?
            .as_i64()
            .map_err(|e| Verdict::harness_error(format!("probe completed: {e}")))?;
        let seconds = field(&result, "seconds")?
            .as_f64()
            .map_err(|e| Verdict::harness_error(format!("probe seconds: {e}")))?;
        let outputs = match result.get("outputs") {
            Some(outputs) => Some(
                outputs
                    .to_f64_array()
                    .map_err(|e| Verdict::harness_error(format!("probe outputs: {e}")))?,
            ),
            None => None,
        };
        // No byte counts when tracing was stopped during the run: nothing to trust.
        let counts = |key| {
            result
                .get(key)
                .map(|_| byte_counts(&result, key))
                .transpose()
        };
        Ok(DecodeRun {
            completed: completed.max(0) as usize,
            seconds,
            outputs,
            held_bytes: counts("held")?,
            step_bytes: counts("step")?,
            outside_peak_bytes: outcome.resident_extra_bytes.filter(|_| measure),
            judge_seconds: outcome.round_trip_seconds,
        })
    }
}
