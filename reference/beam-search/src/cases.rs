//! The prompt's traps as ready-made scripted cases, shared by the tests and the grader (which
//! sends `model.to_json()` to the Python `ScriptedLM` and computes the expected answer with
//! [`crate::batched_beam_search`]).
//!
//! All use a vocabulary of 1000 with EOS = 0 and [`next_token_distribution`], so the listed
//! log-probs are exact and every unlisted continuation is ≈ −7 or worse.

use crate::{ScriptedModel, next_token_distribution};

const VOCAB: usize = 1000;
const EOS: u32 = 0;

/// Everything one `batched_beam_search` call needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedCase {
    /// Short label for test and grader output.
    pub name: &'static str,
    /// The model whose rules set the trap.
    pub model: ScriptedModel,
    /// One prompt per batch item.
    pub prompts: Vec<Vec<u32>>,
    /// K, the beams kept per item.
    pub beam_width: usize,
    /// Steps at most.
    pub max_new_tokens: usize,
    /// Length-penalty exponent: `score = acc / generated_len^alpha`.
    pub alpha: f64,
    /// The token that finishes a beam.
    pub eos_token_id: u32,
}

/// After `context`, these tokens have exactly these log-probs.
type Rule<'a> = (Vec<u32>, &'a [(u32, f64)]);

/// A model answering `rules` and a thin default elsewhere.
fn scripted(rules: &[Rule<'_>]) -> ScriptedModel {
    let distribution = |listed: &[(u32, f64)]| {
        next_token_distribution(VOCAB, listed).expect("valid listed log-probs")
    };
    rules.iter().fold(
        ScriptedModel::new(distribution(&[])).expect("non-empty vocabulary"),
        |model, (context, listed)| {
            model
                .with_rule(context.clone(), distribution(listed))
                .expect("context tokens lie in the vocabulary")
        },
    )
}

/// The prompt's Test 3, made exact (prompt `[7]`, K = 2, alpha as given):
/// step 1: `[1]` −1.0, `[2]` −2.0; step 2: `[1, EOS]` −3.0 finished, `[2, 3]` −4.0;
/// step 3: `[2, 3, 4]` −5.0; step 4: `[2, 3, 4, EOS]` −5.5 finished — then both beams are finished.
/// Correct: `[1, EOS]` (−3.0) first. Dropping finished beams: `[2, 3, 4, EOS]` (−5.5) wins.
pub fn eos_retention(max_new_tokens: usize, alpha: f64) -> ScriptedCase {
    ScriptedCase {
        name: "eos_retention",
        model: scripted(&[
            (vec![7], &[(1, -1.0), (2, -2.0)]),
            (vec![7, 1], &[(EOS, -2.0)]),
            (vec![7, 2], &[(3, -2.0)]),
            (vec![7, 2, 3], &[(4, -1.0)]),
            (vec![7, 2, 3, 4], &[(EOS, -0.5)]),
        ]),
        prompts: vec![vec![7]],
        beam_width: 2,
        max_new_tokens,
        alpha,
        eos_token_id: EOS,
    }
}

/// Length = generated tokens only (alpha = 1, a prompt of ten 9s, K = 2):
/// A = `[EOS]` at −2.0, B = `[1, 2, 3, EOS]` at −0.5 × 3 − 1.5 = −3.0.
/// Correct: B (−3/4 = −0.75) beats A (−2/1). Counting the prompt flips it: A −2/11 ≈ −0.18 beats
/// B −3/14 ≈ −0.21.
pub fn prompt_not_in_length() -> ScriptedCase {
    let prompt = vec![9; 10];
    let context = |generated: &[u32]| [prompt.as_slice(), generated].concat();
    ScriptedCase {
        name: "prompt_not_in_length",
        model: scripted(&[
            (context(&[]), &[(1, -0.5), (EOS, -2.0)]),
            (context(&[1]), &[(2, -0.5)]),
            (context(&[1, 2]), &[(3, -0.5)]),
            (context(&[1, 2, 3]), &[(EOS, -1.5)]),
        ]),
        prompts: vec![prompt],
        beam_width: 2,
        max_new_tokens: 10,
        alpha: 1.0,
        eos_token_id: EOS,
    }
}

/// The `max_new_tokens` cut-off (prompt `[9]`, K = 2, 3 tokens): `[EOS]` at −2.5 finished,
/// `[1, 1, 1]` at −0.5 − 1.0 − 1.2 = −2.7 unfinished. alpha = 0: the finished one first;
/// alpha = 0.5: −2.7/√3 ≈ −1.56 beats −2.5, the unfinished one first.
pub fn cut_off(alpha: f64) -> ScriptedCase {
    ScriptedCase {
        name: "cut_off",
        model: scripted(&[
            (vec![9], &[(1, -0.5), (EOS, -2.5)]),
            (vec![9, 1], &[(1, -1.0)]),
            (vec![9, 1, 1], &[(1, -1.2)]),
        ]),
        prompts: vec![vec![9]],
        beam_width: 2,
        max_new_tokens: 3,
        alpha,
        eos_token_id: EOS,
    }
}

/// Log space (prompt `[5]`, K = 3, 2 tokens, alpha = 0, logits shifted by `shift`): raw logits
/// −3e4 except `[5]`: {1: 0, 2: −10000.25}, `[5, 1]`: {1: 0, 3: −10000.5}, elsewhere {1: 0}.
/// Expected `[1, 1]` 0, then `[2, 1]` −10000.25, then `[1, 3]` −10000.5. A search that multiplies
/// probabilities sees exp(−1e4) = 0 for both runners-up and keeps pool order (`[1, 3]` first);
/// a `shift` of 1e4 overflows a softmax that does not subtract the maximum.
pub fn log_space(shift: f64) -> ScriptedCase {
    let logits = |entries: &[(u32, f64)]| {
        let mut l = vec![-3e4 + shift; VOCAB];
        entries.iter().for_each(|&(t, x)| l[t as usize] = x + shift);
        l
    };
    let model = ScriptedModel::new(logits(&[(1, 0.0)]))
        .and_then(|m| m.with_rule(vec![5], logits(&[(1, 0.0), (2, -10000.25)])))
        .and_then(|m| m.with_rule(vec![5, 1], logits(&[(1, 0.0), (3, -10000.5)])))
        .expect("finite logits over the vocabulary");
    ScriptedCase {
        name: "log_space",
        model,
        prompts: vec![vec![5]],
        beam_width: 3,
        max_new_tokens: 2,
        alpha: 0.0,
        eos_token_id: VOCAB as u32 - 1,
    }
}

/// Every trap case once, in a fixed order.
pub fn trap_cases() -> Vec<ScriptedCase> {
    vec![
        eos_retention(10, 0.0),
        prompt_not_in_length(),
        cut_off(0.0),
        cut_off(0.5),
        log_space(0.0),
        log_space(1e4),
    ]
}
