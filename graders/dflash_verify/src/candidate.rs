//! The prompt's contract, `build_tree_mask(prompt_len, tree_parents)` and
//! `verify_and_accept(prompt_tokens, tree_tokens, tree_parents, target_model, temperature)`, and
//! its two implementations: our Rust reference and a Python submission.

use std::cell::Cell;
use std::collections::HashMap;

use judge_core::Verdict;
use judge_runner::{NdArray, ObjHandle, RemoteObject, Value};
use judge_submission::{Session, call_error_verdict, return_contract_error};
use ndarray::{Array2, ArrayD, ArrayView2, Axis, Ix2};
use tiny_lm::{D_MODEL, HEAD_DIM, LanguageModel, ModelError, N_HEADS, TinyLm, VOCAB_SIZE};

/// The target model: `TinyLm::random(seed)`, position-free, so a tree node under a correct mask
/// gets exactly the autoregressive logits of its path. Python receives its NumPy twin.
#[derive(Debug, Clone)]
pub struct Target {
    /// The seed the weights come from, named in the evidence.
    pub seed: u64,
    /// The model itself: the reference's target and the source of the expected greedy tokens.
    pub model: Box<TinyLm>,
}

impl Target {
    /// The random-weight TinyLM of `seed`.
    pub fn new(seed: u64) -> Self {
        Target {
            seed,
            model: Box::new(TinyLm::random(seed)),
        }
    }
}

/// What one `verify_and_accept` call returned, and how many times it called the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// `accepted_tokens`: the draft tokens accepted, root first along one path.
    pub accepted: Vec<u32>,
    /// The target's greedy token after them: the replacement at a rejected node, or the bonus
    /// token after an accepted leaf.
    pub new_token: u32,
    /// Target forwards made during the call, counted by the judge, never reported by the
    /// submission.
    pub target_calls: u64,
}

/// The contract every criterion is checked against. A failed call is the verdict it earned
/// (ERROR for an exception or a timeout); an unreadable return value is a FAIL.
pub trait TreeVerifier {
    /// The `(P+N, P+N)` "may attend" mask.
    fn build_tree_mask(
        &mut self,
        prompt_len: usize,
        tree_parents: &[i64],
    ) -> Result<Array2<bool>, Verdict>;

    /// One verification step at temperature 0 on `target`.
    fn verify_and_accept(
        &mut self,
        target: &Target,
        prompt: &[u32],
        tree_tokens: &[u32],
        tree_parents: &[i64],
    ) -> Result<Verification, Verdict>;
}

/// Our Rust reference, run in this process.
pub struct Reference;

/// Counts the reference's forwards, as the judge counts a submission's calls on its remote target.
struct CountingModel<'m> {
    inner: &'m dyn LanguageModel,
    calls: Cell<u64>,
}

impl LanguageModel for CountingModel<'_> {
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    fn logits(
        &self,
        tokens: &[u32],
        mask: ArrayView2<'_, bool>,
    ) -> Result<Array2<f64>, ModelError> {
        self.calls.set(self.calls.get() + 1);
        self.inner.logits(tokens, mask)
    }
}

impl TreeVerifier for Reference {
    fn build_tree_mask(
        &mut self,
        prompt_len: usize,
        tree_parents: &[i64],
    ) -> Result<Array2<bool>, Verdict> {
        dflash_verify::build_tree_mask(prompt_len, tree_parents)
            .map_err(|e| Verdict::error(e.to_string()))
    }

    fn verify_and_accept(
        &mut self,
        target: &Target,
        prompt: &[u32],
        tree_tokens: &[u32],
        tree_parents: &[i64],
    ) -> Result<Verification, Verdict> {
        let counting = CountingModel {
            inner: target.model.as_ref(),
            calls: Cell::new(0),
        };
        let (accepted, new_token) =
            dflash_verify::verify_and_accept(prompt, tree_tokens, tree_parents, &counting)
                .map_err(|e| Verdict::error(e.to_string()))?;
        Ok(Verification {
            accepted,
            new_token,
            target_calls: counting.calls.get(),
        })
    }
}

/// The target as the submission sees it: a remote fixture. Its forwards run here, in the
/// judge, on the Rust model, and the judge counts them: the submission's process holds no
/// weights to run an uncounted forward with, and no counter to reset.
struct RemoteTarget {
    model: Box<TinyLm>,
}

impl RemoteObject for RemoteTarget {
    fn call(
        &mut self,
        method: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Value, String> {
        if method != "__call__" && method != "forward" {
            return Err(format!("the target model has no method {method}"));
        }
        let mut args = args.into_iter();
        let mut argument = |name: &str| {
            kwargs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .or_else(|| args.next())
                .ok_or_else(|| format!("{method}() missing argument {name}"))
        };
        let (token_ids, mask) = (argument("token_ids")?, argument("mask")?);
        let ids = token_ids
            .to_i64_array()
            .map_err(|e| format!("token_ids: {e}"))?;
        // A (1, len) batch gives (1, len, vocab), as the NumPy model does.
        let batched = ids.ndim() == 2 && ids.shape()[0] == 1;
        if ids.ndim() != 1 && !batched {
            return Err(format!(
                "token_ids of shape {:?}, expected 1-D",
                ids.shape()
            ));
        }
        let tokens = ids
            .iter()
            .map(|&t| vocabulary_token(t))
            .collect::<Result<Vec<u32>, String>>()?;
        let allowed =
            allowed_positions(&drop_leading_singletons(mask)).map_err(|e| format!("mask: {e}"))?;
        let logits = self
            .model
            .logits(&tokens, allowed.view())
            .map_err(|e| e.to_string())?;
        Ok(if batched {
            logits.insert_axis(Axis(0)).into()
        } else {
            logits.into()
        })
    }
}

/// A `(1, 1, len, len)` mask as `(len, len)`: leading batch and head axes of size 1 go.
fn drop_leading_singletons(mask: Value) -> Value {
    fn squeeze<T>(mut a: ArrayD<T>) -> ArrayD<T> {
        while a.ndim() > 2 && a.shape()[0] == 1 {
            a = a.index_axis_move(Axis(0), 0);
        }
        a
    }
    match mask {
        Value::Array(NdArray::Bool(a)) => Value::Array(NdArray::Bool(squeeze(a))),
        Value::Array(NdArray::I64(a)) => Value::Array(NdArray::I64(squeeze(a))),
        Value::Array(NdArray::F64(a)) => Value::Array(NdArray::F64(squeeze(a))),
        Value::Array(NdArray::F32(a)) => Value::Array(NdArray::F32(squeeze(a))),
        other => other,
    }
}

/// A Python submission behind the sandboxed bridge.
pub struct Python<'s> {
    session: &'s mut Session,
    /// Remote targets already served to the worker, by the seed of their `TinyLm::random`.
    targets: HashMap<u64, ObjHandle>,
}

impl<'s> Python<'s> {
    pub fn new(session: &'s mut Session) -> Self {
        Self {
            session,
            targets: HashMap::new(),
        }
    }

    fn remote_target(&mut self, target: &Target) -> Result<ObjHandle, Verdict> {
        if let Some(&handle) = self.targets.get(&target.seed) {
            return Ok(handle);
        }
        let attrs = [
            ("vocab_size", VOCAB_SIZE),
            ("d_model", D_MODEL),
            ("n_heads", N_HEADS),
            ("head_dim", HEAD_DIM),
        ]
        .map(|(name, n)| (name.to_string(), Value::Int(n as i64)))
        .to_vec();
        let remote = RemoteTarget {
            model: target.model.clone(),
        };
        let handle = self
            .session
            .worker
            .new_remote(Box::new(remote), attrs)
            .map_err(|e| call_error_verdict(&e).in_context("serving the target model"))?;
        self.targets.insert(target.seed, handle);
        Ok(handle)
    }
}

fn token_list(tokens: &[u32]) -> Value {
    Value::List(tokens.iter().map(|&t| Value::Int(i64::from(t))).collect())
}

fn parent_list(parents: &[i64]) -> Value {
    Value::List(parents.iter().map(|&p| Value::Int(p)).collect())
}

impl TreeVerifier for Python<'_> {
    fn build_tree_mask(
        &mut self,
        prompt_len: usize,
        tree_parents: &[i64],
    ) -> Result<Array2<bool>, Verdict> {
        let args = vec![Value::Int(prompt_len as i64), parent_list(tree_parents)];
        let outcome = self
            .session
            .call(super::MASK_ENTRY, args, Vec::new())
            .map_err(|e| call_error_verdict(&e))?;
        // Not a 2-D mask of any convention: the interface not followed.
        allowed_positions(&outcome.value)
            .map_err(|reason| return_contract_error(super::MASK_ENTRY, &outcome.value, &reason))
    }

    fn verify_and_accept(
        &mut self,
        target: &Target,
        prompt: &[u32],
        tree_tokens: &[u32],
        tree_parents: &[i64],
    ) -> Result<Verification, Verdict> {
        let handle = self.remote_target(target)?;
        // Positional, as the prompt declares them; temperature 0 (greedy).
        let args = vec![
            token_list(prompt),
            token_list(tree_tokens),
            parent_list(tree_parents),
            Value::Obj(handle),
            Value::Float(0.0),
        ];
        let outcome = self
            .session
            .call(super::VERIFY_ENTRY, args, Vec::new())
            .map_err(|e| call_error_verdict(&e))?;
        let (accepted, new_token) = parse_acceptance(&outcome.value)?;
        Ok(Verification {
            accepted,
            new_token,
            target_calls: outcome.remote_calls,
        })
    }
}

/// The "may attend" matrix from any common mask convention: bool (`True` = may attend),
/// integer (nonzero), float additive (`0` allowed, `-inf` or a large negative masked: any
/// negative entry, or all zeros) or float 0/1.
pub fn allowed_positions(value: &Value) -> Result<Array2<bool>, String> {
    let allowed = match value {
        Value::Array(NdArray::Bool(mask)) => mask.clone(),
        Value::Array(NdArray::I64(mask)) => mask.mapv(|x| x != 0),
        other => {
            let mask = other.to_f64_array().map_err(|e| e.to_string())?;
            let additive = mask.iter().any(|&x| x < 0.0) || mask.iter().all(|&x| x == 0.0);
            if additive {
                mask.mapv(|x| x > -1.0)
            } else {
                mask.mapv(|x| x != 0.0)
            }
        }
    };
    allowed
        .into_dimensionality::<Ix2>()
        .map_err(|_| "expected a 2-D mask".to_string())
}

/// `(accepted_tokens, new_token)`: a sequence of ints (list, tuple or 1-D array) and an int.
/// A value of another type or shape is a contract ERROR (the answer could not be read); a
/// token outside the vocabulary is a wrong answer (FAIL).
///
/// One flat list of ints (`accepted + [new_token]`) is not read as the pair: it cannot be told
/// from the accepted tokens alone with the new token forgotten, which would then be graded as
/// a verifier that accepts one token fewer and still decodes greedily. So it is a contract
/// ERROR that says so; an adapter (`judge_adapter.py`) that splits it grades the algorithm.
fn parse_acceptance(value: &Value) -> Result<(Vec<u32>, u32), Verdict> {
    let contract = |reason: String| return_contract_error(super::VERIFY_ENTRY, value, &reason);
    let fields = value
        .as_sequence()
        .map_err(|_| contract("expected (accepted_tokens, new_token)".to_string()))?;
    let flat = !fields.is_empty() && fields.iter().all(|f| matches!(f, Value::Int(_)));
    if flat {
        return Err(contract(format!(
            "one flat list of {} tokens, expected the pair (accepted_tokens, new_token); a \
             list accepted + [new_token] is not read as the pair, since it cannot be told from \
             accepted tokens without the new token (an adapter can split it)",
            fields.len()
        )));
    }
    let [accepted, new_token] = fields else {
        return Err(contract(format!(
            "{} fields, expected (accepted_tokens, new_token)",
            fields.len()
        )));
    };
    let accepted = accepted
        .to_i64_array()
        .map_err(|e| contract(format!("accepted_tokens: {e}")))?;
    if accepted.ndim() != 1 {
        return Err(contract(format!(
            "accepted_tokens of shape {:?}, expected 1-D",
            accepted.shape()
        )));
    }
    let new_token = new_token
        .as_i64()
        .map_err(|e| contract(format!("new_token: {e}")))?;
    let wrong =
        |reason: String| Verdict::fail(format!("{} returned {reason}", super::VERIFY_ENTRY));
    let accepted = accepted
        .iter()
        .map(|&t| vocabulary_token(t))
        .collect::<Result<Vec<u32>, String>>()
        .map_err(wrong)?;
    let new_token = vocabulary_token(new_token).map_err(wrong)?;
    Ok((accepted, new_token))
}

fn vocabulary_token(token: i64) -> Result<u32, String> {
    u32::try_from(token)
        .ok()
        .filter(|&t| (t as usize) < VOCAB_SIZE)
        .ok_or_else(|| format!("token {token} is outside the vocabulary [0, {VOCAB_SIZE})"))
}
