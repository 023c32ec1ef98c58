//! Hidden cases, drawn at grade time from the seed. Random cases run on a random-weight TinyLM
//! whose seed, prompts and EOS token are drawn; the traps run on the reference crate's scripted
//! models, whose log-probs are fixed by design (the trap is the point, not the numbers).

use beam_search::cases::ScriptedCase;
use beam_search::{ScriptedModel, next_token_distribution};
use rand::Rng;
use rand::rngs::StdRng;
use tiny_lm::{LanguageModel, VOCAB_SIZE, log_softmax};

use crate::candidate::{FixtureModel, Search};

/// One call: a model and the search to run on it.
#[derive(Debug, Clone)]
pub struct Case {
    pub model: FixtureModel,
    pub search: Search,
}

impl Case {
    /// `TinyLM seed 42, prompt lengths [3, 5] K=3 ...` or `scripted eos_retention, ...`.
    pub fn describe(&self) -> String {
        match &self.model {
            FixtureModel::Tiny { seed, .. } => {
                format!("TinyLM seed {seed}, {}", self.search.describe())
            }
            FixtureModel::Scripted(_) => format!("scripted model, {}", self.search.describe()),
        }
    }
}

/// A TinyLM with weights from a drawn seed.
pub fn tiny_model(rng: &mut StdRng) -> FixtureModel {
    FixtureModel::tiny(rng.random())
}

pub fn random_prompt(rng: &mut StdRng, len: usize) -> Vec<u32> {
    (0..len)
        .map(|_| rng.random_range(0..VOCAB_SIZE as u32))
        .collect()
}

/// The `rank`-th most likely next token after `context` (0 = the greedy one). Used as EOS so
/// that finished beams enter the pool early and have to compete.
pub fn likely_token(model: &dyn LanguageModel, context: &[u32], rank: usize) -> u32 {
    let logits = model
        .next_token_logits(context)
        .expect("hidden prompts are valid for the model");
    let log_probs = log_softmax(logits.view());
    let mut order: Vec<usize> = (0..log_probs.len()).collect();
    order.sort_by(|&a, &b| log_probs[b].total_cmp(&log_probs[a]).then(a.cmp(&b)));
    order[rank.min(order.len() - 1)] as u32
}

/// A random-model case: prompts of the given lengths, EOS a likely continuation of the first
/// prompt (rank 1..=3), so finished beams occur and compete.
pub fn random_case(
    rng: &mut StdRng,
    model: &FixtureModel,
    prompt_lengths: &[usize],
    beam_width: usize,
    max_new_tokens: usize,
    alpha: f64,
) -> Case {
    let prompts: Vec<Vec<u32>> = prompt_lengths
        .iter()
        .map(|&len| random_prompt(rng, len))
        .collect();
    let eos_token_id = likely_token(model.language_model(), &prompts[0], rng.random_range(1..=3));
    Case {
        model: model.clone(),
        search: Search {
            prompts,
            beam_width,
            max_new_tokens,
            alpha,
            eos_token_id,
        },
    }
}

/// One of the reference crate's scripted trap cases.
pub fn scripted(case: ScriptedCase) -> Case {
    Case {
        model: FixtureModel::Scripted(case.model),
        search: Search {
            prompts: case.prompts,
            beam_width: case.beam_width,
            max_new_tokens: case.max_new_tokens,
            alpha: case.alpha,
            eos_token_id: case.eos_token_id,
        },
    }
}

/// After `context`, these tokens have exactly these log-probs.
type Rule<'a> = (&'a [u32], &'a [(u32, f64)]);

/// Finished beams of three lengths in the final K, where the best-first order by score (alpha
/// = 1) differs from the order by raw log-prob (prompt `[11]`, K = 3, EOS = 0):
/// `[1, 2, 3, EOS]` Σ −0.45 → −0.1125, `[1, 2, EOS]` Σ −3.3 → −1.1, `[1, EOS]` Σ −2.7 → −1.35.
/// By raw log-prob `[1, EOS]` would come second. Under either pool-ranking reading every
/// returned score is Σ log p / len and the list must be best first by it.
pub fn length_trade_off() -> Case {
    let rules: [Rule<'_>; 4] = [
        (&[11], &[(1, -0.2), (0, -2.0)]),
        (&[11, 1], &[(2, -0.1), (0, -2.5)]),
        (&[11, 1, 2], &[(3, -0.1), (0, -3.0)]),
        (&[11, 1, 2, 3], &[(0, -0.05)]),
    ];
    let distribution = |listed: &[(u32, f64)]| {
        next_token_distribution(VOCAB_SIZE, listed).expect("listed log-probs leave mass")
    };
    let model = rules.iter().fold(
        ScriptedModel::new(distribution(&[])).expect("a vocabulary"),
        |model, (context, listed)| {
            model
                .with_rule(context.to_vec(), distribution(listed))
                .expect("context tokens lie in the vocabulary")
        },
    );
    Case {
        model: FixtureModel::Scripted(model),
        search: Search {
            prompts: vec![vec![11]],
            beam_width: 3,
            max_new_tokens: 8,
            alpha: 1.0,
            eos_token_id: 0,
        },
    }
}
