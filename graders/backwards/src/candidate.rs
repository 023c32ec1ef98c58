//! The prompt's contract, `layer_norm_forward(x, gamma, beta, eps) -> (y, cache)` and
//! `layer_norm_backward(dy, cache) -> (dx, dgamma, dbeta)`, and its two implementations: our
//! Rust reference and a Python submission.

use judge_core::Verdict;
use judge_runner::Value;
use judge_submission::{Session, call_error_verdict};
use layernorm::{LayerNormError, layer_norm_backward, layer_norm_forward};
use ndarray::{Array1, Array3, ArrayD, ArrayView1, ArrayView3};

use crate::ENTRY_PAIRS;

/// The ε every hidden case uses: the contract's default.
pub const EPS: f64 = 1e-5;

/// The element type the candidate receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "float64",
            Dtype::F32 => "float32",
        }
    }
}

/// One forward-and-backward problem. The values are held as f64; for [`Dtype::F32`] every one
/// is exactly representable in f32, so the expected values are computed from exactly the
/// numbers the candidate saw.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// (B, T, D)
    pub x: Array3<f64>,
    /// (D,)
    pub gamma: Array1<f64>,
    /// (D,)
    pub beta: Array1<f64>,
    /// The upstream gradient ∂L/∂y, (B, T, D).
    pub dy: Array3<f64>,
    pub dtype: Dtype,
}

/// The three gradients, in whatever shapes the candidate returned.
#[derive(Debug, Clone)]
pub struct Grads {
    /// ∂L/∂x, expected of x's shape (B, T, D).
    pub dx: ArrayD<f64>,
    /// ∂L/∂γ, expected (D,): summed over B and T.
    pub dgamma: ArrayD<f64>,
    /// ∂L/∂β, expected (D,): summed over B and T.
    pub dbeta: ArrayD<f64>,
}

/// What one forward-then-backward run produced. The backward can fail on its own (a missing
/// cache, an exception), which must not hide a correct forward.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The forward's y, in the shape returned.
    pub y: ArrayD<f64>,
    /// The backward's gradients, or the verdict its failure earned (no cache returned, an
    /// exception, a malformed return).
    pub grads: Result<Grads, Verdict>,
}

/// The contract every criterion is checked against: the forward on `inputs`, then the backward
/// of `inputs.dy` through the cache the forward returned. A failed forward is the verdict it
/// earned (ERROR for an exception or a timeout, FAIL for a malformed return).
pub trait LayerNorm {
    /// Runs the forward on `inputs` (ε = `EPS`, 1e-5), then the backward of `inputs.dy` through
    /// the cache that forward returned, unchanged.
    fn run(&mut self, inputs: &Inputs) -> Result<Outputs, Verdict>;
}

/// Our Rust reference, run in this process.
pub struct Reference;

fn run_reference<A: Copy + Into<f64>>(
    x: ArrayView3<'_, A>,
    gamma: ArrayView1<'_, A>,
    beta: ArrayView1<'_, A>,
    dy: ArrayView3<'_, A>,
) -> Result<Outputs, Verdict> {
    let refused = |e: LayerNormError| Verdict::error(e.to_string());
    let (y, cache) = layer_norm_forward(x, gamma, beta, EPS).map_err(refused)?;
    let grads = layer_norm_backward(dy, &cache)
        .map(|g| Grads {
            dx: g.dx.into_dyn(),
            dgamma: g.dgamma.into_dyn(),
            dbeta: g.dbeta.into_dyn(),
        })
        .map_err(refused);
    Ok(Outputs {
        y: y.into_dyn(),
        grads,
    })
}

impl LayerNorm for Reference {
    fn run(&mut self, inputs: &Inputs) -> Result<Outputs, Verdict> {
        let Inputs {
            x,
            gamma,
            beta,
            dy,
            dtype,
        } = inputs;
        match dtype {
            Dtype::F64 => run_reference(x.view(), gamma.view(), beta.view(), dy.view()),
            Dtype::F32 => {
                let narrow = |v: &f64| *v as f32;
                run_reference(
                    x.map(narrow).view(),
                    gamma.map(narrow).view(),
                    beta.map(narrow).view(),
                    dy.map(narrow).view(),
                )
            }
        }
    }
}

/// How ε reaches the submission's forward.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EpsArgument {
    /// By the parameter's own name (`eps`, `epsilon`).
    Keyword(String),
    /// As the fourth positional argument (a parameter there with another name).
    Positional,
    /// Not at all: the function has no fourth parameter and fixes ε itself.
    Omitted,
}

/// A Python submission behind the sandboxed bridge.
pub struct Python<'s> {
    session: &'s mut Session,
    forward: &'static str,
    backward: &'static str,
    eps: EpsArgument,
}

impl<'s> Python<'s> {
    /// Binds the first naming of [`ENTRY_PAIRS`] the loaded module defines in full; without
    /// one, the ERROR every criterion gets, naming what is missing.
    pub fn bind(session: &'s mut Session) -> Result<Self, Verdict> {
        let defined = |name: &str| session.entry.defined.iter().any(|d| d == name);
        let Some(&(forward, backward)) = ENTRY_PAIRS.iter().find(|(f, b)| defined(f) && defined(b))
        else {
            // Name the missing half of a pair begun, else the contract's own names.
            let (forward, backward) = ENTRY_PAIRS
                .iter()
                .find(|(f, b)| defined(f) || defined(b))
                .unwrap_or(&ENTRY_PAIRS[0]);
            let missing: Vec<String> = [forward, backward]
                .into_iter()
                .filter(|name| !defined(name))
                .map(|name| format!("`{name}`"))
                .collect();
            return Err(Verdict::error(format!(
                "missing {} in {}",
                missing.join(", "),
                session.entry.file.display()
            )));
        };
        let parameters = session.entry.parameters_of(forward).unwrap_or_default();
        let eps = match parameters
            .iter()
            .find(|p| matches!(p.as_str(), "eps" | "epsilon"))
        {
            Some(name) => EpsArgument::Keyword(name.clone()),
            None if parameters.len() >= 4 => EpsArgument::Positional,
            None => EpsArgument::Omitted,
        };
        Ok(Self {
            session,
            forward,
            backward,
            eps,
        })
    }

    /// The calls made, for the report's notes: `layer_norm_forward(x, gamma, beta, eps=1e-05)`.
    pub fn describe_binding(&self) -> String {
        let eps = match &self.eps {
            EpsArgument::Keyword(name) => format!(", {name}={EPS:e}"),
            EpsArgument::Positional => format!(", {EPS:e}"),
            EpsArgument::Omitted => " (no ε parameter: its own ε is used)".to_string(),
        };
        format!(
            "{}(x, gamma, beta{eps}) and {}(dy, cache)",
            self.forward, self.backward
        )
    }
}

fn array_value(values: ArrayD<f64>, dtype: Dtype) -> Value {
    match dtype {
        Dtype::F64 => values.into(),
        Dtype::F32 => values.mapv(|v| v as f32).into(),
    }
}

/// An output array, or a contract ERROR naming which output was not one (an answer of the
/// wrong type cannot be checked; it is not a wrong answer).
fn output_array(name: &str, value: &Value) -> Result<ArrayD<f64>, Verdict> {
    value
        .to_f64_array()
        .map_err(|e| Verdict::contract_error(format!("{name}: {e}")))
}

/// `(y, cache)` from the forward's return value. A bare array is `y` with no cache: the forward
/// can still be judged, the backward cannot run.
fn split_forward(value: Value) -> Result<(ArrayD<f64>, Result<Value, Verdict>), Verdict> {
    match value {
        Value::Tuple(mut items) | Value::List(mut items) if items.len() == 2 => {
            let cache = items.pop().expect("two items");
            Ok((output_array("y", &items[0])?, Ok(cache)))
        }
        Value::Tuple(items) | Value::List(items) => Err(Verdict::contract_error(format!(
            "the forward returned {} values; the contract is (y, cache)",
            items.len()
        ))),
        array @ Value::Array(_) => Ok((
            output_array("y", &array)?,
            Err(Verdict::contract_error(
                "the forward returned y alone: no cache to run the backward with",
            )),
        )),
        other => Err(Verdict::contract_error(format!(
            "the forward returned {}, expected (y, cache)",
            other.type_name()
        ))),
    }
}

/// `(dx, dgamma, dbeta)` from the backward's return value: a 3-tuple in that order, or a dict
/// with exactly those keys.
fn gradients(value: &Value) -> Result<Grads, Verdict> {
    let by_key = |key: &str| value.get(key);
    let [dx, dgamma, dbeta] = match value {
        Value::Tuple(items) | Value::List(items) if items.len() == 3 => {
            [&items[0], &items[1], &items[2]]
        }
        Value::Dict(_) => match (by_key("dx"), by_key("dgamma"), by_key("dbeta")) {
            (Some(dx), Some(dgamma), Some(dbeta)) => [dx, dgamma, dbeta],
            _ => {
                return Err(Verdict::contract_error(
                    "the backward returned a dict without the keys dx, dgamma, dbeta",
                ));
            }
        },
        other => {
            return Err(Verdict::contract_error(format!(
                "the backward returned {}, expected (dx, dgamma, dbeta)",
                other.type_name()
            )));
        }
    };
    Ok(Grads {
        dx: output_array("dx", dx)?,
        dgamma: output_array("dgamma", dgamma)?,
        dbeta: output_array("dbeta", dbeta)?,
    })
}

impl LayerNorm for Python<'_> {
    fn run(&mut self, inputs: &Inputs) -> Result<Outputs, Verdict> {
        let dtype = inputs.dtype;
        // x, gamma, beta by position, as the prompt orders them.
        let mut args = vec![
            array_value(inputs.x.clone().into_dyn(), dtype),
            array_value(inputs.gamma.clone().into_dyn(), dtype),
            array_value(inputs.beta.clone().into_dyn(), dtype),
        ];
        let mut kwargs = Vec::new();
        match &self.eps {
            EpsArgument::Keyword(name) => kwargs.push((name.clone(), Value::Float(EPS))),
            EpsArgument::Positional => args.push(Value::Float(EPS)),
            EpsArgument::Omitted => {}
        }
        let forward = self
            .session
            .call(self.forward, args, kwargs)
            .map_err(|e| call_error_verdict(&e))?;
        let (y, cache) = split_forward(forward.value)?;
        let grads = cache.and_then(|cache| {
            // The cache goes back exactly as it came: data by value, anything else by handle.
            let dy = array_value(inputs.dy.clone().into_dyn(), dtype);
            let backward = self
                .session
                .call(self.backward, vec![dy, cache], Vec::new())
                .map_err(|e| call_error_verdict(&e))?;
            gradients(&backward.value)
        });
        Ok(Outputs { y, grads })
    }
}
