//! The prompt's contract, `batched_beam_search(prompts, beam_width, max_new_tokens, alpha,
//! eos_token_id)` plus a `model` parameter, and its two implementations: our Rust reference and
//! a Python submission.

use beam_search::{ScriptedModel, batched_beam_search};
use judge_core::Verdict;
use judge_runner::{ObjHandle, Value};
use judge_submission::tiny_lm_twin::{self, Twins};
use judge_submission::{Session, call_error_verdict, return_contract_error};
use tiny_lm::{LanguageModel, TinyLm};

/// The grader's Python fixture modules: the NumPy twins of the reference models, each tested
/// against its Rust original in the reference crates and end to end in tests/validation.rs.
pub fn python_fixtures() -> Vec<(String, String)> {
    vec![
        tiny_lm_twin::python_module(),
        (
            SCRIPTED_MODULE.to_string(),
            include_str!("../../../reference/beam-search/py/scripted_lm.py").to_string(),
        ),
    ]
}

const SCRIPTED_MODULE: &str = "scripted_lm";

/// The model a search runs on. The Python side receives its NumPy twin.
#[derive(Debug, Clone)]
pub enum FixtureModel {
    /// `TinyLm::random(seed)`, sent as its weights to `TinyLM` (reference/tiny-lm/py).
    Tiny {
        /// The seed the weights come from, named in the evidence.
        seed: u64,
        /// The model itself, for the reference and the expected values.
        model: Box<TinyLm>,
    },
    /// A script, sent as `ScriptedModel::to_json()` to `ScriptedLM` (reference/beam-search/py).
    Scripted(ScriptedModel),
}

impl FixtureModel {
    /// The random-weight TinyLM of `seed`.
    pub fn tiny(seed: u64) -> Self {
        FixtureModel::Tiny {
            seed,
            model: Box::new(TinyLm::random(seed)),
        }
    }

    /// The Rust model, on which the reference searches and the expected values are computed.
    pub fn language_model(&self) -> &dyn LanguageModel {
        match self {
            FixtureModel::Tiny { model, .. } => model.as_ref(),
            FixtureModel::Scripted(model) => model,
        }
    }
}

/// One call's arguments besides the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// One prompt of token ids per batch item.
    pub prompts: Vec<Vec<u32>>,
    /// K, the beams kept per batch item.
    pub beam_width: usize,
    /// The most tokens generated per hypothesis.
    pub max_new_tokens: usize,
    /// The length-penalty exponent: score = Σ log p / len(generated)^alpha.
    pub alpha: f64,
    /// The token that finishes a beam.
    pub eos_token_id: u32,
}

impl Search {
    /// `prompt lengths [3, 5] K=3 max_new_tokens=6 alpha=0.6 eos=17`, for evidence.
    pub fn describe(&self) -> String {
        let lengths: Vec<usize> = self.prompts.iter().map(Vec::len).collect();
        format!(
            "prompt lengths {lengths:?} K={} max_new_tokens={} alpha={} eos={}",
            self.beam_width, self.max_new_tokens, self.alpha, self.eos_token_id
        )
    }

    /// The same search on one prompt of the batch.
    pub fn alone(&self, item: usize) -> Search {
        Search {
            prompts: vec![self.prompts[item].clone()],
            ..self.clone()
        }
    }
}

/// One returned hypothesis: the generated tokens (no prompt) and the ranking score.
#[derive(Debug, Clone, PartialEq)]
pub struct Returned {
    /// The generated tokens, without the prompt, EOS included if it finished.
    pub tokens: Vec<u32>,
    /// The length-penalised score the candidate reported.
    pub score: f64,
}

/// The contract every criterion is checked against: per batch item, the returned hypotheses
/// in the candidate's order. A failed call is the verdict it earned (ERROR for an exception or
/// a timeout); an unreadable return value is a FAIL.
pub trait BeamSearch {
    /// Runs `batched_beam_search` with `search`'s arguments on `model` (the Python side gets
    /// its NumPy twin): per batch item, the hypotheses best first, as returned.
    fn search(
        &mut self,
        model: &FixtureModel,
        search: &Search,
    ) -> Result<Vec<Vec<Returned>>, Verdict>;
}

/// Our Rust reference, run in this process.
pub struct Reference;

impl BeamSearch for Reference {
    fn search(
        &mut self,
        model: &FixtureModel,
        search: &Search,
    ) -> Result<Vec<Vec<Returned>>, Verdict> {
        let items = batched_beam_search(
            model.language_model(),
            &search.prompts,
            search.beam_width,
            search.max_new_tokens,
            search.alpha,
            search.eos_token_id,
        )
        .map_err(|e| Verdict::error(e.to_string()))?;
        Ok(items
            .into_iter()
            .map(|hypotheses| {
                hypotheses
                    .into_iter()
                    .map(|h| Returned {
                        tokens: h.tokens,
                        score: h.score,
                    })
                    .collect()
            })
            .collect())
    }
}

/// A Python submission behind the sandboxed bridge.
pub struct Python<'s> {
    session: &'s mut Session,
    /// TinyLM twins already built in the worker.
    tiny: Twins,
}

impl<'s> Python<'s> {
    pub fn new(session: &'s mut Session) -> Self {
        Self {
            session,
            tiny: Twins::default(),
        }
    }

    /// The worker-side twin of `model`. Failing to build it, or a twin whose logits disagree
    /// with the Rust model's, is the harness's fault, never the submission's.
    fn fixture(&mut self, model: &FixtureModel) -> Result<ObjHandle, Verdict> {
        match model {
            FixtureModel::Tiny { seed, model } => {
                self.tiny.get_or_build(self.session, *seed, model)
            }
            FixtureModel::Scripted(script) => {
                let kwargs = script
                    .to_json()
                    .as_object()
                    .map(|entries| {
                        entries
                            .iter()
                            .map(|(key, value)| (key.clone(), json_to_value(value)))
                            .collect()
                    })
                    .ok_or_else(|| Verdict::harness_error("a script is not a JSON object"))?;
                self.session
                    .worker
                    .new_fixture(SCRIPTED_MODULE, "ScriptedLM", Vec::new(), kwargs)
                    .map_err(|e| Verdict::harness_error(format!("ScriptedLM fixture: {e}")))
            }
        }
    }

    /// The prompt's five arguments by position, and `model` bound by NAME: inserted where the
    /// submission's signature puts it, or passed as a keyword when it comes later (or the
    /// signature cannot say, e.g. `**kwargs`).
    fn arguments(&self, model: ObjHandle, search: &Search) -> (Vec<Value>, Vec<(String, Value)>) {
        let prompts = search
            .prompts
            .iter()
            .map(|p| Value::List(p.iter().map(|&t| Value::Int(i64::from(t))).collect()))
            .collect();
        let mut args = vec![
            Value::List(prompts),
            Value::Int(search.beam_width as i64),
            Value::Int(search.max_new_tokens as i64),
            Value::Float(search.alpha),
            Value::Int(i64::from(search.eos_token_id)),
        ];
        let model_at = self
            .session
            .entry
            .parameters_of(super::ENTRY)
            .and_then(|params| params.iter().position(|p| p == "model"));
        match model_at {
            Some(index) if index <= args.len() => {
                args.insert(index, Value::Obj(model));
                (args, Vec::new())
            }
            _ => (args, vec![("model".to_string(), Value::Obj(model))]),
        }
    }
}

impl BeamSearch for Python<'_> {
    fn search(
        &mut self,
        model: &FixtureModel,
        search: &Search,
    ) -> Result<Vec<Vec<Returned>>, Verdict> {
        let handle = self.fixture(model)?;
        let (args, kwargs) = self.arguments(handle, search);
        let outcome = self
            .session
            .call(super::ENTRY, args, kwargs)
            .map_err(|e| call_error_verdict(&e))?;
        // A value that cannot be read as hypotheses is the interface not followed.
        parse_output(&outcome.value, search.prompts.len())
            .map_err(|reason| return_contract_error(super::ENTRY, &outcome.value, &reason))
    }
}

/// JSON as a bridge value: the script travels as plain lists and numbers (`"-inf"` stays a
/// string, which `ScriptedLM` reads with `float`).
fn json_to_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::None,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(json_to_value).collect()),
        serde_json::Value::Object(entries) => Value::Dict(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        ),
    }
}

/// Keys a hypothesis dict may use for its tokens.
const TOKEN_KEYS: [&str; 4] = ["tokens", "sequence", "token_ids", "ids"];

/// The documented return format and its common variants: a list (one entry per prompt) of
/// lists of hypotheses, each a `(tokens, score)` pair (tuple or list; extra trailing fields are
/// ignored) or a dict with `tokens` (or `sequence`, `token_ids`, `ids`) and `score`.
pub fn parse_output(value: &Value, batch: usize) -> Result<Vec<Vec<Returned>>, String> {
    let items = value
        .as_sequence()
        .map_err(|e| format!("expected one list of hypotheses per prompt: {e}"))?;
    if items.len() != batch {
        return Err(format!("{} entries for {batch} prompts", items.len()));
    }
    items
        .iter()
        .enumerate()
        .map(|(item, hypotheses)| {
            hypotheses
                .as_sequence()
                .map_err(|e| format!("item {item}: {e}"))?
                .iter()
                .enumerate()
                .map(|(rank, h)| {
                    parse_hypothesis(h).map_err(|e| format!("item {item} #{rank}: {e}"))
                })
                .collect()
        })
        .collect()
}

fn parse_hypothesis(value: &Value) -> Result<Returned, String> {
    let (tokens, score) = match value {
        Value::Tuple(fields) | Value::List(fields) if fields.len() >= 2 => (&fields[0], &fields[1]),
        Value::Dict(_) => {
            let tokens = TOKEN_KEYS
                .iter()
                .find_map(|key| value.get(key))
                .ok_or("a dict without `tokens`")?;
            (tokens, value.get("score").ok_or("a dict without `score`")?)
        }
        other => {
            return Err(format!(
                "expected (tokens, score) or {{\"tokens\", \"score\"}}, got {}",
                other.type_name()
            ));
        }
    };
    let ids = tokens.to_i64_array().map_err(|e| format!("tokens: {e}"))?;
    if ids.ndim() != 1 {
        return Err(format!("tokens of shape {:?}, expected 1-D", ids.shape()));
    }
    let tokens = ids
        .iter()
        .map(|&t| u32::try_from(t).map_err(|_| format!("token id {t} is not a vocabulary index")))
        .collect::<Result<Vec<u32>, String>>()?;
    let score = score.as_f64().map_err(|e| format!("score: {e}"))?;
    Ok(Returned { tokens, score })
}
