//! The prompt's tests and traps, each against a hand-computed expectation or an independent
//! naive search.

use std::cell::Cell;

use beam_search::{
    BeamError, Hypothesis, ScriptedModel, batched_beam_search,
    cases::{self, ScriptedCase},
    length_penalized_score,
};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tiny_lm::{LanguageModel, ModelError, TinyLm, argmax, log_softmax};

const V: usize = 1000;
const EOS: u32 = 0;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

/// A model that counts batched next-token calls (one per search step).
struct CountingModel<'a> {
    inner: &'a dyn LanguageModel,
    batch_calls: Cell<usize>,
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
        self.inner.logits(tokens, mask)
    }
    fn next_token_logits_batch(&self, sequences: &[&[u32]]) -> Result<Array2<f64>, ModelError> {
        self.batch_calls.set(self.batch_calls.get() + 1);
        self.inner.next_token_logits_batch(sequences)
    }
}

/// Independent single-item beam search: every candidate carries an explicit sort key
/// (score, beam rank, token id), `per_beam` candidates per unfinished beam.
fn naive_beam_search(
    model: &dyn LanguageModel,
    prompt: &[u32],
    k: usize,
    per_beam: usize,
    max_new_tokens: usize,
    alpha: f64,
    eos: u32,
) -> Vec<(Vec<u32>, f64, bool)> {
    let mut beams: Vec<(Vec<u32>, f64, bool)> = vec![(vec![], 0.0, false)];
    for _ in 0..max_new_tokens {
        if beams.iter().all(|b| b.2) {
            break;
        }
        // (score, beam rank, token id + 1 or 0 for a retained finished beam, beam)
        let mut pool = Vec::new();
        for (rank, (tokens, log_prob, finished)) in beams.iter().enumerate() {
            if *finished {
                let score = log_prob / (tokens.len() as f64).powf(alpha);
                pool.push((score, rank, 0, (tokens.clone(), *log_prob, true)));
                continue;
            }
            let logits = model.next_token_logits(&[prompt, tokens].concat()).unwrap();
            let max = logits.fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            let log_z = max + logits.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
            let mut by_prob: Vec<usize> = (0..logits.len()).collect();
            by_prob.sort_by(|&a, &b| logits[b].partial_cmp(&logits[a]).unwrap().then(a.cmp(&b)));
            for &token in by_prob.iter().take(per_beam) {
                let new_tokens = [tokens.as_slice(), &[token as u32]].concat();
                let new_log_prob = log_prob + (logits[token] - log_z);
                let score = new_log_prob / (new_tokens.len() as f64).powf(alpha);
                let finished = token as u32 == eos;
                pool.push((score, rank, token + 1, (new_tokens, new_log_prob, finished)));
            }
        }
        pool.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap()
                .then(a.1.cmp(&b.1))
                .then(a.2.cmp(&b.2))
        });
        beams = pool.into_iter().take(k).map(|c| c.3).collect();
    }
    beams
}

fn assert_matches_naive(got: &[Hypothesis], naive: &[(Vec<u32>, f64, bool)], alpha: f64) {
    assert_eq!(got.len(), naive.len());
    for (h, (tokens, log_prob, finished)) in got.iter().zip(naive) {
        assert_eq!(&h.tokens, tokens);
        assert_eq!(h.finished, *finished);
        assert!(
            close(h.log_prob, *log_prob),
            "{} vs {}",
            h.log_prob,
            log_prob
        );
        assert!(close(
            h.score,
            length_penalized_score(*log_prob, tokens.len(), alpha)
        ));
    }
}

/// Every context `prompt + s` with `len(s) < depth` gets its own random logits.
fn random_scripted_model(
    rng: &mut StdRng,
    vocab: usize,
    prompt: &[u32],
    depth: usize,
) -> ScriptedModel {
    let random_logits =
        |rng: &mut StdRng| (0..vocab).map(|_| rng.random_range(-3.0..3.0)).collect();
    let mut model = ScriptedModel::new(random_logits(rng)).unwrap();
    let mut frontier = vec![prompt.to_vec()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for context in frontier {
            model = model
                .with_rule(context.clone(), random_logits(rng))
                .unwrap();
            next.extend((0..vocab as u32).map(|t| [context.as_slice(), &[t]].concat()));
        }
        frontier = next;
    }
    model
}

#[test]
fn width_one_without_penalty_is_greedy_decoding() {
    for seed in 0..5 {
        let model = TinyLm::random(seed);
        let prompt = vec![3 + seed as u32, 17, 400];
        // Make the greedy path hit EOS at its third token, so finishing is exercised too.
        let mut free_run = prompt.clone();
        for _ in 0..3 {
            let next = argmax(model.next_token_logits(&free_run).unwrap().view()).unwrap();
            free_run.push(next as u32);
        }
        let eos = free_run[prompt.len() + 2];

        let (mut greedy, mut log_prob, mut context) = (Vec::new(), 0.0, prompt.clone());
        while greedy.len() < 8 {
            let lp = log_softmax(model.next_token_logits(&context).unwrap().view());
            let token = argmax(lp.view()).unwrap() as u32;
            log_prob += lp[token as usize];
            greedy.push(token);
            context.push(token);
            if token == eos {
                break;
            }
        }
        let result = batched_beam_search(&model, &[prompt], 1, 8, 0.0, eos).unwrap();
        assert_eq!(result[0].len(), 1);
        let best = &result[0][0];
        assert_eq!(best.tokens, greedy);
        assert_eq!(best.finished, greedy.last() == Some(&eos));
        assert!(close(best.log_prob, log_prob) && close(best.score, log_prob));
    }
}

#[test]
fn batch_items_never_interact() {
    let model = TinyLm::random(21);
    let prompts = vec![vec![5, 80, 13], vec![700, 2, 2, 91, 44], vec![1]];
    let eos = 404;
    let batch = batched_beam_search(&model, &prompts, 3, 6, 0.6, eos).unwrap();
    assert_eq!(batch.len(), prompts.len());
    for (item, prompt) in prompts.iter().enumerate() {
        let alone =
            batched_beam_search(&model, std::slice::from_ref(prompt), 3, 6, 0.6, eos).unwrap();
        assert_eq!(batch[item], alone[0], "item {item} differs in the batch");
    }
    // And the same item twice in one batch gives two identical answers.
    let twice = batched_beam_search(
        &model,
        &[prompts[0].clone(), prompts[0].clone()],
        3,
        6,
        0.6,
        eos,
    )
    .unwrap();
    assert_eq!(twice[0], twice[1]);
}

#[test]
fn agrees_with_the_naive_search_on_random_models() {
    let mut rng = StdRng::seed_from_u64(5);
    for case in 0..12 {
        let (k, alpha) = (rng.random_range(1..4), [0.0, 0.6, 1.0][case % 3]);
        let prompt = vec![rng.random_range(1..5)];
        let model = random_scripted_model(&mut rng, 5, &prompt, 4);
        let got =
            batched_beam_search(&model, std::slice::from_ref(&prompt), k, 4, alpha, EOS).unwrap();
        assert_matches_naive(
            &got[0],
            &naive_beam_search(&model, &prompt, k, 2 * k, 4, alpha, EOS),
            alpha,
        );
    }
    // The random TinyLm, with EOS = the first greedy token so that finished beams compete.
    let model = TinyLm::random(8);
    let prompt = vec![8, 9, 10];
    let eos = argmax(model.next_token_logits(&prompt).unwrap().view()).unwrap() as u32;
    for (k, alpha) in [(3, 0.6), (4, 0.0)] {
        let got =
            batched_beam_search(&model, std::slice::from_ref(&prompt), k, 4, alpha, eos).unwrap();
        assert_matches_naive(
            &got[0],
            &naive_beam_search(&model, &prompt, k, 2 * k, 4, alpha, eos),
            alpha,
        );
        assert!(got[0].iter().any(|h| h.finished && h.tokens == [eos]));
    }
}

#[test]
fn top_k_per_beam_selects_the_same_beams_as_top_2k() {
    // Finished beams keep their slot in the pool, so the global top-K never takes more than K
    // candidates from one beam: no script can make top-K per beam lose the best sequence.
    let mut rng = StdRng::seed_from_u64(6);
    for _ in 0..20 {
        let k = rng.random_range(1..4);
        let prompt = vec![1];
        let model = random_scripted_model(&mut rng, 6, &prompt, 4);
        let top_k = naive_beam_search(&model, &prompt, k, k, 4, 0.6, EOS);
        let top_2k = naive_beam_search(&model, &prompt, k, 2 * k, 4, 0.6, EOS);
        assert_eq!(top_k, top_2k);
    }
}

fn run(case: &ScriptedCase) -> Vec<Hypothesis> {
    let mut result = batched_beam_search(
        &case.model,
        &case.prompts,
        case.beam_width,
        case.max_new_tokens,
        case.alpha,
        case.eos_token_id,
    )
    .unwrap();
    result.remove(0)
}

fn summary(hypotheses: &[Hypothesis]) -> Vec<(Vec<u32>, bool)> {
    hypotheses
        .iter()
        .map(|h| (h.tokens.clone(), h.finished))
        .collect()
}

#[test]
fn a_finished_beam_stays_in_the_pool_and_wins() {
    // Cut off at 3 tokens: the finished −3.0 beam beats the still-running −5.0 beam.
    let result = run(&cases::eos_retention(3, 0.0));
    assert_eq!(
        summary(&result),
        [(vec![1, EOS], true), (vec![2, 3, 4], false)]
    );
    assert!(close(result[0].log_prob, -3.0) && close(result[0].score, -3.0));
    assert!(close(result[1].log_prob, -5.0));

    // With room to finish, the long beam ends at −5.5 and still loses; alpha = 0.6 agrees.
    for alpha in [0.0, 0.6] {
        let result = run(&cases::eos_retention(10, alpha));
        assert_eq!(
            summary(&result),
            [(vec![1, EOS], true), (vec![2, 3, 4, EOS], true)]
        );
        assert!(close(result[0].score, -3.0 / 2f64.powf(alpha)));
        assert!(close(result[1].score, -5.5 / 4f64.powf(alpha)));
    }
}

#[test]
fn search_stops_once_every_item_has_k_finished_beams() {
    let case = cases::eos_retention(50, 0.0);
    let counting = CountingModel {
        inner: &case.model,
        batch_calls: Cell::new(0),
    };
    let result = batched_beam_search(&counting, &[vec![7], vec![7]], 2, 50, 0.0, EOS).unwrap();
    assert!(result.iter().flatten().all(|h| h.finished));
    // Steps 1–4 expand; after step 4 both items hold two finished beams.
    assert_eq!(counting.batch_calls.get(), 4);
}

#[test]
fn length_penalty_counts_generated_tokens_only() {
    let case = cases::prompt_not_in_length();
    assert_eq!(case.prompts[0].len(), 10);
    // Counting the prompt would flip the winner: A = [EOS] −2/11 against B −3/14.
    assert!(length_penalized_score(-2.0, 11, 1.0) > length_penalized_score(-3.0, 14, 1.0));
    let result = run(&case);
    assert_eq!(
        summary(&result),
        [(vec![1, 2, 3, EOS], true), (vec![EOS], true)]
    );
    assert!(close(result[0].log_prob, -3.0) && close(result[0].score, -0.75));
    assert!(close(result[1].score, -2.0));
}

#[test]
fn cut_off_returns_the_best_of_finished_and_unfinished() {
    let result = run(&cases::cut_off(0.0));
    assert_eq!(
        summary(&result),
        [(vec![EOS], true), (vec![1, 1, 1], false)]
    );
    assert!(close(result[0].score, -2.5) && close(result[1].score, -2.7));
    let result = run(&cases::cut_off(0.5));
    assert_eq!(
        summary(&result),
        [(vec![1, 1, 1], false), (vec![EOS], true)]
    );
    assert!(close(result[0].score, -2.7 / 3f64.sqrt()) && close(result[1].score, -2.5));
}

#[test]
fn log_probs_near_minus_1e4_keep_their_order() {
    for shift in [0.0, 1e4] {
        let result = run(&cases::log_space(shift));
        let tokens: Vec<&[u32]> = result.iter().map(|h| h.tokens.as_slice()).collect();
        assert_eq!(tokens, [&[1, 1][..], &[2, 1][..], &[1, 3][..]]);
        assert!(close(result[0].log_prob, 0.0));
        assert!(close(result[1].log_prob, -10000.25) && close(result[2].log_prob, -10000.5));
    }
}

#[test]
fn every_trap_case_agrees_with_the_naive_search() {
    for case in cases::trap_cases() {
        let (k, alpha) = (case.beam_width, case.alpha);
        let naive = naive_beam_search(
            &case.model,
            &case.prompts[0],
            k,
            2 * k,
            case.max_new_tokens,
            alpha,
            case.eos_token_id,
        );
        assert_matches_naive(&run(&case), &naive, alpha);
    }
}

#[test]
fn bad_arguments_are_errors() {
    let model = TinyLm::random(0);
    let prompts = vec![vec![1, 2]];
    assert_eq!(
        batched_beam_search(&model, &prompts, 0, 4, 0.6, 0),
        Err(BeamError::ZeroBeamWidth)
    );
    assert_eq!(
        batched_beam_search(&model, &prompts, 2, 0, 0.6, 0),
        Err(BeamError::ZeroMaxNewTokens)
    );
    assert_eq!(
        batched_beam_search(&model, &[vec![1], vec![]], 2, 4, 0.6, 0),
        Err(BeamError::EmptyPrompt { item: 1 })
    );
    assert_eq!(
        batched_beam_search(&model, &prompts, 2, 4, 0.6, 1000),
        Err(BeamError::EosOutOfVocabulary {
            eos: 1000,
            vocab_size: V
        })
    );
    assert!(matches!(
        batched_beam_search(&model, &[vec![1000]], 2, 4, 0.6, 0),
        Err(BeamError::Model(ModelError::TokenOutOfRange { .. }))
    ));
    assert_eq!(batched_beam_search(&model, &[], 2, 4, 0.6, 0), Ok(vec![]));
}
