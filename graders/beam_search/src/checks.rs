//! The criteria, each a function of a candidate. Expected values come from the reference
//! search, or — where the criterion is a property rather than an answer — from the model itself
//! (greedy decoding, the log-probs of the returned tokens).

use beam_search::cases as traps;
use judge_core::seed::for_criterion;
use judge_core::{Scorecard, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tiny_lm::{LanguageModel, VOCAB_SIZE, argmax, log_softmax};

use crate::candidate::{BeamSearch, FixtureModel, Reference, Returned};
use crate::cases::{self, Case};
use crate::ids;

/// Scores must agree to 1e-9, relative to the score's magnitude where that exceeds 1 (the
/// log-space case has scores near −1e4).
const SCORE_TOLERANCE: f64 = 1e-9;

fn scores_agree(got: f64, expected: f64) -> bool {
    (got - expected).abs() <= SCORE_TOLERANCE * expected.abs().max(1.0)
}

/// Decides every auto criterion of the challenge except the shared ones.
pub fn decide_all(candidate: &mut dyn BeamSearch, seed: u64, card: &mut Scorecard) {
    card.check(ids::GREEDY, || equals_greedy(candidate, seed));
    card.check(ids::INDEPENDENCE, || batch_independence(candidate, seed));
    card.check(ids::EOS_RETENTION, || {
        let suite = [traps::eos_retention(10, 0.0), traps::eos_retention(10, 0.6)];
        winner_matches(candidate, &suite.map(cases::scripted))
    });
    card.check(ids::PROMPT_NOT_IN_LENGTH, || {
        winner_matches(candidate, &[cases::scripted(traps::prompt_not_in_length())])
    });
    card.check(ids::SORTED_SCORES, || {
        sorted_penalized_scores(candidate, seed)
    });
    card.check(ids::CUT_OFF, || {
        let suite = [traps::cut_off(0.0), traps::cut_off(0.5)];
        matches_reference(candidate, &suite.map(cases::scripted))
    });
    card.check(ids::LOG_SPACE, || {
        let suite = [traps::log_space(0.0), traps::log_space(1e4)];
        matches_reference(candidate, &suite.map(cases::scripted))
    });
    card.check(ids::MATCHES_REFERENCE, || {
        matches_reference(candidate, &reference_suite(seed))
    });
}

/// One call; a failed one is the verdict it earned, prefixed with the case.
fn run(candidate: &mut dyn BeamSearch, case: &Case) -> Result<Vec<Vec<Returned>>, Verdict> {
    candidate
        .search(&case.model, &case.search)
        .map_err(|verdict| verdict.in_context(case.describe()))
}

fn expected_output(case: &Case) -> Vec<Vec<Returned>> {
    Reference
        .search(&case.model, &case.search)
        .unwrap_or_else(|v| panic!("the reference refused a hidden case: {}", v.detail()))
}

/// `[1, 0] (−3.000000)`, tokens shortened past 12.
fn show(h: &Returned) -> String {
    let tokens = if h.tokens.len() > 12 {
        format!("{:?}…(+{})", &h.tokens[..12], h.tokens.len() - 12)
    } else {
        format!("{:?}", h.tokens)
    };
    format!("{tokens} ({:.6})", h.score)
}

/// The first difference between two ranked lists of one item, if any.
fn first_difference(got: &[Returned], expected: &[Returned]) -> Option<String> {
    for (rank, (g, e)) in got.iter().zip(expected).enumerate() {
        if g.tokens != e.tokens {
            return Some(format!("#{rank} is {}, expected {}", show(g), show(e)));
        }
        if !scores_agree(g.score, e.score) {
            return Some(format!(
                "#{rank} {:?} has score {:.9}, expected {:.9}",
                g.tokens, g.score, e.score
            ));
        }
    }
    (got.len() != expected.len())
        .then(|| format!("{} hypotheses, expected {}", got.len(), expected.len()))
}

/// Every case must return exactly the reference's hypotheses, in its order.
fn matches_reference(candidate: &mut dyn BeamSearch, suite: &[Case]) -> Verdict {
    for case in suite {
        let got = match run(candidate, case) {
            Ok(got) => got,
            Err(verdict) => return verdict,
        };
        let expected = expected_output(case);
        if got.len() != expected.len() {
            return Verdict::fail(format!(
                "{}: {} items for {} prompts",
                case.describe(),
                got.len(),
                expected.len()
            ));
        }
        for (item, (g, e)) in got.iter().zip(&expected).enumerate() {
            if let Some(difference) = first_difference(g, e) {
                return Verdict::fail(format!("{}: item {item} {difference}", case.describe()));
            }
        }
    }
    Verdict::pass(format!(
        "{} cases: tokens equal, scores within {SCORE_TOLERANCE:e}",
        suite.len()
    ))
}

/// Only the tokens of the best hypothesis of the (single) item are judged: the trap is which
/// one wins (the scores are judged by the score criteria).
fn winner_matches(candidate: &mut dyn BeamSearch, suite: &[Case]) -> Verdict {
    for case in suite {
        let got = match run(candidate, case) {
            Ok(got) => got,
            Err(verdict) => return verdict,
        };
        let expected = &expected_output(case)[0][0];
        let Some(winner) = got.first().and_then(|item| item.first()) else {
            return Verdict::fail(format!("{}: no hypothesis returned", case.describe()));
        };
        if winner.tokens == expected.tokens {
            continue;
        }
        let finished = expected.tokens.last() == Some(&case.search.eos_token_id);
        let dropped = finished && !got[0].iter().any(|h| h.tokens == expected.tokens);
        let hint = if dropped {
            " — the finished beam is missing: finished beams left the pool"
        } else {
            ""
        };
        return Verdict::fail(format!(
            "{}: winner {}, expected {}{hint}",
            case.describe(),
            show(winner),
            show(expected)
        ));
    }
    Verdict::pass(format!(
        "{} cases: the expected hypothesis wins",
        suite.len()
    ))
}

/// Greedy decoding from the model: argmax (lowest index on ties) until EOS or the limit.
/// Returns the tokens and their summed log-prob, the K = 1, alpha = 0 score.
fn greedy_decode(
    model: &dyn LanguageModel,
    prompt: &[u32],
    max_new_tokens: usize,
    eos: u32,
) -> (Vec<u32>, f64) {
    let mut context = prompt.to_vec();
    let mut log_prob = 0.0;
    for _ in 0..max_new_tokens {
        let logits = model
            .next_token_logits(&context)
            .expect("hidden prompts are valid for the model");
        let log_probs = log_softmax(logits.view());
        let token = argmax(log_probs.view()).expect("a vocabulary has tokens");
        log_prob += log_probs[token];
        context.push(token as u32);
        if token as u32 == eos {
            break;
        }
    }
    (context[prompt.len()..].to_vec(), log_prob)
}

/// K = 1, alpha = 0 on single prompts must be greedy decoding. One case's EOS is the greedy
/// third token, so the single beam must also stop when it finishes.
fn equals_greedy(candidate: &mut dyn BeamSearch, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::GREEDY));
    let model = cases::tiny_model(&mut rng);
    let lm = model.language_model();
    let max_new_tokens = 8;
    for index in 0..4 {
        let len = rng.random_range(1..=10);
        let mut case = cases::random_case(&mut rng, &model, &[len], 1, max_new_tokens, 0.0);
        let prompt = case.search.prompts[0].clone();
        case.search.eos_token_id = if index == 0 {
            greedy_decode(lm, &prompt, 3, u32::MAX).0[2]
        } else {
            rng.random_range(0..VOCAB_SIZE as u32)
        };
        let (tokens, log_prob) =
            greedy_decode(lm, &prompt, max_new_tokens, case.search.eos_token_id);
        let expected = Returned {
            tokens,
            score: log_prob,
        };
        let got = match run(candidate, &case) {
            Ok(got) => got,
            Err(verdict) => return verdict,
        };
        let Some(first) = got.first().and_then(|item| item.first()) else {
            return Verdict::fail(format!("{}: no hypothesis returned", case.describe()));
        };
        if first.tokens != expected.tokens || !scores_agree(first.score, expected.score) {
            return Verdict::fail(format!(
                "{}: returned {}, greedy decoding gives {}",
                case.describe(),
                show(first),
                show(&expected)
            ));
        }
    }
    Verdict::pass("4 prompts: the single beam is the greedy sequence with its log-prob")
}

/// What every output must look like whatever the reading: per item 1..=K hypotheses of 1..=
/// max_new_tokens generated tokens, EOS only as the last one, finite scores.
fn malformed(case: &Case, output: &[Vec<Returned>]) -> Option<String> {
    let search = &case.search;
    if output.len() != search.prompts.len() {
        return Some(format!(
            "{} items for {} prompts",
            output.len(),
            search.prompts.len()
        ));
    }
    for (item, hypotheses) in output.iter().enumerate() {
        if hypotheses.is_empty() || hypotheses.len() > search.beam_width {
            return Some(format!(
                "item {item}: {} hypotheses for K = {}",
                hypotheses.len(),
                search.beam_width
            ));
        }
        for (rank, h) in hypotheses.iter().enumerate() {
            let eos_inside =
                h.tokens[..h.tokens.len().saturating_sub(1)].contains(&search.eos_token_id);
            let problem = if h.tokens.is_empty() || h.tokens.len() > search.max_new_tokens {
                Some(format!("{} generated tokens", h.tokens.len()))
            } else if eos_inside {
                Some("continues after EOS".to_string())
            } else if !h.score.is_finite() {
                Some(format!("non-finite score {}", h.score))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Some(format!("item {item} #{rank} {}: {problem}", show(h)));
            }
        }
    }
    None
}

/// Each item's result inside a batch must equal its result alone (the Test 2 shape, prompt
/// lengths [3, 5], and a batch of three).
fn batch_independence(candidate: &mut dyn BeamSearch, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::INDEPENDENCE));
    let model = cases::tiny_model(&mut rng);
    let suite = [
        cases::random_case(&mut rng, &model, &[3, 5], 3, 6, 0.6),
        cases::random_case(&mut rng, &model, &[6, 1, 3], 2, 5, 1.0),
    ];
    for case in &suite {
        let batch = match run(candidate, case) {
            Ok(batch) => batch,
            Err(verdict) => return verdict,
        };
        if batch.len() != case.search.prompts.len() {
            return Verdict::fail(format!(
                "{}: {} items for {} prompts",
                case.describe(),
                batch.len(),
                case.search.prompts.len()
            ));
        }
        for (item, in_batch) in batch.iter().enumerate() {
            let alone_case = Case {
                model: case.model.clone(),
                search: case.search.alone(item),
            };
            let alone = match run(candidate, &alone_case) {
                Ok(alone) => alone,
                Err(verdict) => return verdict,
            };
            let Some(alone) = alone.first() else {
                return Verdict::fail(format!("{}: no items", alone_case.describe()));
            };
            if let Some(difference) = first_difference(in_batch, alone) {
                return Verdict::fail(format!(
                    "{}: item {item} in the batch differs from its result alone: {difference} \
                     (beams cross batch items)",
                    case.describe()
                ));
            }
        }
        if let Some(problem) = malformed(case, &batch) {
            return Verdict::fail(format!("{}: {problem}", case.describe()));
        }
    }
    Verdict::pass(format!(
        "{} batches: every item equals its result alone",
        suite.len()
    ))
}

/// Σ log p of `tokens` after `prompt`, one causal forward per token, from the model itself.
fn sequence_log_prob(model: &dyn LanguageModel, prompt: &[u32], tokens: &[u32]) -> f64 {
    let mut context = prompt.to_vec();
    let mut log_prob = 0.0;
    for &token in tokens {
        let logits = model
            .next_token_logits(&context)
            .expect("validated tokens lie in the vocabulary");
        log_prob += log_softmax(logits.view())[token as usize];
        context.push(token);
    }
    log_prob
}

/// Each returned score must be the model's Σ log p of its tokens over len(tokens)^alpha, and
/// the list must be best first. Read from the model, so it holds under either ranking reading.
fn sorted_penalized_scores(candidate: &mut dyn BeamSearch, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::SORTED_SCORES));
    let model = cases::tiny_model(&mut rng);
    let suite = sorted_suite(&mut rng, &model);
    let mut checked = 0;
    for case in &suite {
        let output = match run(candidate, case) {
            Ok(output) => output,
            Err(verdict) => return verdict,
        };
        if let Some(problem) = malformed(case, &output) {
            return Verdict::fail(format!("{}: {problem}", case.describe()));
        }
        for (item, hypotheses) in output.iter().enumerate() {
            let prompt = &case.search.prompts[item];
            for (rank, h) in hypotheses.iter().enumerate() {
                let log_prob = sequence_log_prob(case.model.language_model(), prompt, &h.tokens);
                let expected = log_prob / (h.tokens.len() as f64).powf(case.search.alpha);
                if !scores_agree(h.score, expected) {
                    return Verdict::fail(format!(
                        "{}: item {item} #{rank} {:?}: score {:.9}, but Σ log p / len^alpha = \
                         {log_prob:.9} / {}^{} = {expected:.9} (len = generated tokens only)",
                        case.describe(),
                        h.tokens,
                        h.score,
                        h.tokens.len(),
                        case.search.alpha
                    ));
                }
                checked += 1;
            }
            if let Some(rank) = hypotheses
                .windows(2)
                .position(|pair| pair[0].score < pair[1].score)
            {
                return Verdict::fail(format!(
                    "{}: item {item} is not best first: #{rank} {} < #{} {}",
                    case.describe(),
                    show(&hypotheses[rank]),
                    rank + 1,
                    show(&hypotheses[rank + 1])
                ));
            }
        }
    }
    Verdict::pass(format!(
        "{checked} hypotheses: scores equal Σ log p / len^alpha (≤ {SCORE_TOLERANCE:e}), best first"
    ))
}

/// Random cases for the formula at several alphas, and a scripted case whose best-first order
/// by score differs from the order by raw log-prob.
fn sorted_suite(rng: &mut StdRng, model: &FixtureModel) -> Vec<Case> {
    vec![
        cases::random_case(rng, model, &[4, 2], 3, 6, 0.6),
        cases::random_case(rng, model, &[7], 4, 5, 1.0),
        cases::random_case(rng, model, &[3, 3], 3, 6, 2.0),
        cases::length_trade_off(),
    ]
}

/// Exact agreement on random models at alpha = 0, where both readings of the pool ranking
/// coincide; EOS is a likely token, so finished beams compete in every case.
fn reference_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MATCHES_REFERENCE));
    let model: FixtureModel = cases::tiny_model(&mut rng);
    [
        (vec![5], 2, 6),
        (vec![3, 5], 3, 6),
        (vec![1, 4, 7], 4, 5),
        (vec![8, 2], 1, 8),
    ]
    .into_iter()
    .map(|(lengths, beam_width, max_new_tokens)| {
        cases::random_case(&mut rng, &model, &lengths, beam_width, max_new_tokens, 0.0)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use beam_search::batched_beam_search;

    #[test]
    fn the_length_trade_off_case_is_ordered_differently_by_raw_log_prob() {
        let case = cases::length_trade_off();
        let search = &case.search;
        let hypotheses = batched_beam_search(
            case.model.language_model(),
            &search.prompts,
            search.beam_width,
            search.max_new_tokens,
            search.alpha,
            search.eos_token_id,
        )
        .unwrap()
        .remove(0);
        let tokens: Vec<&[u32]> = hypotheses.iter().map(|h| h.tokens.as_slice()).collect();
        assert_eq!(tokens, [&[1, 2, 3, 0][..], &[1, 2, 0], &[1, 0]]);
        let log_probs: Vec<f64> = hypotheses.iter().map(|h| h.log_prob).collect();
        for (got, expected) in log_probs.iter().zip([-0.45, -3.3, -2.7]) {
            assert!((got - expected).abs() < 1e-12, "{log_probs:?}");
        }
        assert!(
            log_probs[1] < log_probs[2],
            "raw order differs from score order"
        );
    }
}
