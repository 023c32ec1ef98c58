//! The criteria. Every check starts from what the run saved and recomputes what it claims:
//! the projection from the latent weights, the layer set from the configuration, the loss trend
//! from the per-step losses, the perplexity through the scoring entry point. Nothing a
//! submission writes about itself (its own verification report, its `ternary_layers` list) is
//! trusted.

use judge_core::{Scorecard, Verdict};
use ternary::quant::{
    CODE_TOLERANCE, GROUP_SIZE, PackedTernary, TernaryProjection, TernaryReport,
    verify_packed_against_latent,
};

use crate::artifacts::{ArtifactSet, PACKED_WEIGHTS_FILE, RESULTS_FILE, TernaryForm};
use crate::bigram::BigramModel;
use crate::candidate::Scorer;
use crate::corpus::Corpus;
use crate::ids;
use crate::npz::{Elements, NpyArray};

/// The loss fell when the mean of the last 10% of the steps is at most this fraction of the
/// mean of the first 10%: a 10% drop. A byte model starts near ln 256 ≈ 5.5 nats; any working
/// run falls far more, a flat or rising one (wrong STE, wrong learning rate) does not.
pub const LOSS_RATIO_BOUND: f64 = 0.9;
/// Fewest logged steps for a loss trend.
pub const MIN_LOSS_STEPS: usize = 10;
/// The prompt's bound: "perplexity on a held-out set is not astronomical (< 100)". It is
/// per token of the submission's own tokenizer; the re-scoring criterion checks the figure.
pub const PERPLEXITY_BOUND: f64 = 100.0;
/// Largest relative gap between the reported and the re-scored validation perplexity.
pub const RESCORE_TOLERANCE: f64 = 0.05;
/// The prompt asks for 3–5 samples from different prompts.
pub const MIN_SAMPLES: usize = 3;
/// Fewest bigrams of generated text for the statistic to mean anything.
pub const MIN_SAMPLE_BIGRAMS: usize = 50;

/// A check that may stop early with its verdict.
type Checked = Result<Verdict, Verdict>;

fn settle(checked: Checked) -> Verdict {
    checked.unwrap_or_else(|verdict| verdict)
}

/// Decides every criterion that only reads the saved artifacts (and the corpus).
pub fn decide_artifacts(set: &ArtifactSet, corpus: &Corpus, card: &mut Scorecard) {
    card.check(ids::TERNARY_PROJECTION, || settle(ternary_projection(set)));
    card.check(ids::ALL_LAYERS_TERNARY, || settle(all_layers_ternary(set)));
    card.check(ids::ARCHITECTURE, || settle(architecture(set)));
    card.check(ids::LOSS_DECREASED, || settle(loss_decreased(set)));
    card.check(ids::REPORTED_PERPLEXITY, || {
        settle(reported_perplexity(set))
    });
    card.check(ids::SAMPLES_NOT_RANDOM, || {
        with_corpus(corpus, |bytes| settle(samples_not_random(set, bytes)))
    });
}

/// Re-scores the declared validation split through the candidate's entry point.
pub fn decide_rescoring(
    set: &ArtifactSet,
    corpus: &Corpus,
    scorer: &mut dyn Scorer,
    card: &mut Scorecard,
) {
    card.check(ids::RESCORED_PERPLEXITY, || {
        with_corpus(corpus, |bytes| {
            settle(rescored_perplexity(set, bytes, scorer))
        })
    });
}

fn with_corpus(corpus: &Corpus, check: impl FnOnce(&[u8]) -> Verdict) -> Verdict {
    match corpus {
        Corpus::Found { bytes, .. } => check(bytes),
        Corpus::Missing(reason) => Verdict::skipped(reason.clone()),
        Corpus::Unreadable(reason) => Verdict::harness_error(reason.clone()),
        Corpus::Refused(reason) => Verdict::error(reason.clone()),
    }
}

/// Builds the candidate's packed form of one layer from what it saved: packed `uint8` codes
/// (the reference's Q2_0 layout) or one signed integer code per weight, and float scales.
fn packed_form(form: &TernaryForm<'_>, shape: &[usize]) -> Result<PackedTernary, String> {
    let group_size = match form.group_size.map(single_int).transpose()? {
        Some(g) if g != GROUP_SIZE as i64 => {
            return Err(format!(
                "group size {g} ({PACKED_WEIGHTS_FILE}); the prompt's is {GROUP_SIZE}"
            ));
        }
        _ => GROUP_SIZE,
    };
    let scales = match form.scales.map(|s| &s.elements) {
        Some(Elements::Float(scales)) => scales.iter().copied().collect::<Vec<f32>>(),
        Some(Elements::Int(_)) => {
            return Err(format!(
                "scales are {}, not floats",
                form.scales.map_or(String::new(), NpyArray::dtype)
            ));
        }
        None => return Err("codes but no scales".into()),
    };
    let codes = form.codes.ok_or("scales but no codes")?;
    let n: usize = shape.iter().product();
    let Elements::Int(values) = &codes.elements else {
        return Err(format!(
            "codes are {}; expected packed uint8 or one int8 per weight",
            codes.dtype()
        ));
    };
    if codes.dtype() == "uint8" {
        if let Some(saved) = form.shape {
            let saved = int_values(saved)?;
            if saved.iter().product::<i64>() != n as i64 {
                return Err(format!(
                    "saved shape {saved:?} does not hold the {n} latent weights {shape:?}"
                ));
            }
        }
        return Ok(PackedTernary {
            shape: shape.to_vec(),
            group_size,
            codes: values.iter().map(|&b| b as u8).collect(),
            scales: scales.into_iter().map(half::f16::from_f32).collect(),
        });
    }
    if values.len() != n {
        return Err(format!(
            "{} codes for {n} latent weights {shape:?}",
            values.len()
        ));
    }
    if let Some((index, code)) = values
        .iter()
        .enumerate()
        .find(|(_, c)| !(-1..=1).contains(*c))
    {
        return Err(format!(
            "code {code} at weight {index} is outside {{−1, 0, +1}}"
        ));
    }
    let projection = TernaryProjection {
        codes: values.iter().map(|&c| c as i8).collect(),
        scales,
        group_size,
    };
    PackedTernary::pack(&projection, shape).map_err(|e| e.to_string())
}

fn int_values(array: &NpyArray) -> Result<Vec<i64>, String> {
    match &array.elements {
        Elements::Int(values) => Ok(values.iter().copied().collect()),
        Elements::Float(_) => Err(format!("{} where integers belong", array.dtype())),
    }
}

fn single_int(array: &NpyArray) -> Result<i64, String> {
    match int_values(array)?[..] {
        [value] => Ok(value),
        ref values => Err(format!("group_size holds {} values, not one", values.len())),
    }
}

/// The latent weights of `name` as a row-major f32 slice.
fn latent_values<'a>(array: &'a NpyArray, name: &str) -> Result<&'a [f32], String> {
    match &array.elements {
        Elements::Float(values) => values
            .as_slice()
            .ok_or_else(|| format!("{name}: latent weights not contiguous")),
        Elements::Int(_) => Err(format!(
            "{name}: latent weights are {}, not floats",
            array.dtype()
        )),
    }
}

/// Every saved ternary layer follows the prompt's rule, recomputed from its latent weights:
/// groups of 128 consecutive weights, `s = mean|W|`, codes `clamp(round(W/s), −1, 1)`.
fn ternary_projection(set: &ArtifactSet) -> Checked {
    let latent = set.latent().map_err(Verdict::fail)?;
    let forms = set.ternary_forms().map_err(Verdict::fail)?;
    if forms.is_empty() {
        return Err(Verdict::fail(format!(
            "{PACKED_WEIGHTS_FILE} holds no NAME.codes / NAME.scales: the quantization rule cannot be checked against the latent weights"
        )));
    }
    let model_group = set.model().ok().and_then(|m| m.group_size);
    for declared in [set.declared_group_size(), model_group.map(|g| g as u64)]
        .into_iter()
        .flatten()
    {
        if declared != GROUP_SIZE as u64 {
            return Err(Verdict::fail(format!(
                "{RESULTS_FILE} declares group size {declared}; the prompt's is {GROUP_SIZE}"
            )));
        }
    }
    let mut total = Tally::default();
    for (name, form) in &forms {
        let array = latent.get(name).ok_or_else(|| {
            Verdict::fail(format!(
                "{name}: codes and scales but no latent weights to check them against"
            ))
        })?;
        let values = latent_values(array, name).map_err(Verdict::fail)?;
        let packed = packed_form(form, array.shape())
            .map_err(|why| Verdict::fail(format!("{name}: {why}")))?;
        let report = verify_packed_against_latent(values, &packed)
            .map_err(|e| Verdict::fail(format!("{name}: {e}")))?;
        total.add(&report);
    }
    Ok(Verdict::pass(format!(
        "{} layers, {} weights, recomputed from the latent weights: group size {GROUP_SIZE}, s = mean|W| per group (within one f16 step), codes = clamp(round(W/s), −1, 1) ∈ {{−1, 0, +1}}; max |W_q/s − round(W_q/s)| = {:.1e} < {CODE_TOLERANCE:.0e}; codes −1/0/+1: {:.1}/{:.1}/{:.1}%",
        forms.len(),
        total.weights,
        total.max_deviation,
        total.percent(0),
        total.percent(1),
        total.percent(2)
    )))
}

/// Sums of [`TernaryReport`]s over layers.
#[derive(Debug, Default)]
struct Tally {
    weights: usize,
    /// Weighted counts of codes −1, 0, +1.
    codes: [f64; 3],
    max_deviation: f32,
}

impl Tally {
    fn add(&mut self, report: &TernaryReport) {
        let n = report.n_weights as f64;
        self.weights += report.n_weights;
        self.codes[0] += report.fraction_minus_one * n;
        self.codes[1] += report.fraction_zero * n;
        self.codes[2] += report.fraction_plus_one * n;
        self.max_deviation = self.max_deviation.max(report.max_code_deviation);
    }

    fn percent(&self, level: usize) -> f64 {
        100.0 * self.codes[level] / self.weights.max(1) as f64
    }
}

/// Lists the first few problems, with a count of the rest.
fn list_problems(problems: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = problems[..problems.len().min(SHOWN)].join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!(" (and {} more)", problems.len() - SHOWN));
    }
    text
}

/// Every linear map the configuration implies — embedding and LM head included — has latent
/// weights and a ternary form; no other matrix hides beside them.
fn all_layers_ternary(set: &ArtifactSet) -> Checked {
    let facts = set.model().map_err(Verdict::fail)?;
    let latent = set.latent().map_err(Verdict::fail)?;
    let forms = set
        .ternary_forms()
        .map_err(|why| Verdict::fail(format!("no linear layer has a ternary form: {why}")))?;
    let linear = facts.linear_layers();
    let mut problems = Vec::new();
    for (name, _) in &linear {
        let has_latent = latent.contains_key(name);
        let has_form = forms
            .get(name)
            .is_some_and(|f| f.codes.is_some() && f.scales.is_some());
        match (has_latent, has_form) {
            (true, true) => {}
            (true, false) => problems.push(format!(
                "{name} has no ternary codes and scales: left full precision"
            )),
            (false, true) => problems.push(format!("{name} has codes but no latent weights")),
            (false, false) => problems.push(format!(
                "the config implies {name}, the saved weights lack it"
            )),
        }
    }
    for name in set.declared_full_precision() {
        if linear.iter().any(|(l, _)| *l == name) {
            problems.push(format!("{RESULTS_FILE} lists {name} as full precision"));
        }
    }
    for (name, array) in latent {
        let is_linear = linear.iter().any(|(l, _)| l == name);
        if !is_linear && array.shape().len() >= 2 {
            problems.push(format!(
                "{name} {:?} is a matrix outside the ternary linear layers",
                array.shape()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Verdict::fail(list_problems(&problems)));
    }
    let head = if facts.tie_word_embeddings {
        "LM head tied to the embedding"
    } else {
        "LM head"
    };
    Ok(Verdict::pass(format!(
        "all {} linear maps have latent weights and ternary codes + scales: embedding, {}×7 block projections, {head}",
        linear.len(),
        facts.n_layers
    )))
}

/// GQA 2:1, SwiGLU, RMSNorm, RoPE and no biases, from the declared configuration and the
/// shapes of the saved weights.
fn architecture(set: &ArtifactSet) -> Checked {
    let facts = set.model().map_err(Verdict::fail)?;
    let latent = set.latent().map_err(Verdict::fail)?;
    let mut problems = Vec::new();
    if facts.n_kv_heads == 0 || facts.n_heads != 2 * facts.n_kv_heads {
        problems.push(format!(
            "{} query heads over {} KV heads: not GQA 2:1",
            facts.n_heads, facts.n_kv_heads
        ));
    }
    let declared = [
        (&["mlp", "activation"][..], &["swiglu"][..], "SwiGLU"),
        (
            &["norm"][..],
            &["rmsnorm", "rms_norm", "rms norm"][..],
            "RMSNorm",
        ),
        (
            &["positional", "positional_encoding"][..],
            &["rope", "rotary"][..],
            "RoPE",
        ),
    ];
    for (keys, accepted, fact) in declared {
        match set.architecture_fact(keys) {
            Some(value) if accepted.iter().any(|a| value.contains(a)) => {}
            Some(value) => {
                problems.push(format!("architecture.{} is {value:?}, not {fact}", keys[0]))
            }
            None => problems.push(format!(
                "{RESULTS_FILE} does not declare architecture.{} ({fact})",
                keys[0]
            )),
        }
    }
    let expected_shapes = facts
        .linear_layers()
        .into_iter()
        .map(|(name, shape)| (name, shape.to_vec()))
        .chain(facts.norm_gains().into_iter().map(|(n, d)| (n, vec![d])));
    for (name, expected) in expected_shapes {
        match latent.get(&name) {
            Some(array) if array.shape() == expected.as_slice() => {}
            Some(array) => problems.push(format!(
                "{name} is {:?}, the config implies {expected:?}",
                array.shape()
            )),
            None => problems.push(format!("{name} {expected:?} is missing")),
        }
    }
    if let Some(bias) = latent.keys().find(|n| n.ends_with(".bias")) {
        problems.push(format!("biases present ({bias})"));
    }
    if !problems.is_empty() {
        return Err(Verdict::fail(list_problems(&problems)));
    }
    let (hd, d, f) = (facts.head_dim(), facts.d_model, facts.ffn_dim);
    Ok(Verdict::pass(format!(
        "GQA 2:1: {} query heads over {} KV heads (k_proj {}×{d} = half the rows of q_proj {}×{d}), SwiGLU gate/up {f}×{d} and down {d}×{f}, RMSNorm gains [{d}] ×{}, RoPE declared, no biases; {} layers, d_model {d}, vocab {}",
        facts.n_heads,
        facts.n_kv_heads,
        facts.n_kv_heads * hd,
        facts.n_heads * hd,
        2 * facts.n_layers + 1,
        facts.n_layers,
        facts.vocab_size
    )))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Mean loss of the last 10% of the steps at most [`LOSS_RATIO_BOUND`] × that of the first 10%.
fn loss_decreased(set: &ArtifactSet) -> Checked {
    let losses = set.loss_curve().map_err(Verdict::fail)?;
    if losses.len() < MIN_LOSS_STEPS {
        return Err(Verdict::fail(format!(
            "{} logged steps; at least {MIN_LOSS_STEPS} are needed for a trend",
            losses.len()
        )));
    }
    if let Some(step) = losses.iter().position(|l| !l.is_finite()) {
        return Err(Verdict::fail(format!(
            "non-finite loss {} at step {step}",
            losses[step]
        )));
    }
    let tenth = losses.len() / 10;
    let first = mean(&losses[..tenth]);
    let last = mean(&losses[losses.len() - tenth..]);
    Ok(Verdict::check(
        last <= LOSS_RATIO_BOUND * first,
        format!(
            "mean loss of the first 10% ({tenth} steps) {first:.4}, of the last 10% {last:.4}: ratio {:.3} (bound ≤ {LOSS_RATIO_BOUND})",
            last / first
        ),
    ))
}

/// The reported validation perplexity is finite and under the prompt's bound.
fn reported_perplexity(set: &ArtifactSet) -> Checked {
    let ppl = set.reported_perplexity().map_err(Verdict::fail)?;
    if !ppl.is_finite() || ppl < 1.0 {
        return Err(Verdict::fail(format!(
            "reported validation perplexity {ppl} is not a perplexity (finite, ≥ 1)"
        )));
    }
    Ok(Verdict::check(
        ppl < PERPLEXITY_BOUND,
        format!("reported validation perplexity {ppl:.3} (bound < {PERPLEXITY_BOUND})"),
    ))
}

/// `bytes[start..end]` as text, the ends moved inward to character boundaries (a byte offset
/// may fall inside a UTF-8 character).
fn text_between(bytes: &[u8], start: usize, end: usize) -> String {
    let continuation = |b: &u8| b & 0xC0 == 0x80;
    let start = start
        + bytes[start..end]
            .iter()
            .take_while(|b| continuation(b))
            .count();
    let mut end = end;
    while end > start && end < bytes.len() && continuation(&bytes[end]) {
        end -= 1;
    }
    String::from_utf8_lossy(&bytes[start..end]).into_owned()
}

/// The candidate's `score_nll` on the declared validation split agrees with the reported
/// perplexity within [`RESCORE_TOLERANCE`].
fn rescored_perplexity(set: &ArtifactSet, corpus: &[u8], scorer: &mut dyn Scorer) -> Checked {
    let reported = set.reported_perplexity().map_err(Verdict::fail)?;
    let (start, end) = set.validation_range().map_err(Verdict::fail)?;
    if let Some(declared) = set.declared_corpus_bytes()
        && declared != corpus.len() as u64
    {
        return Err(Verdict::fail(format!(
            "{RESULTS_FILE} split a {declared}-byte corpus; the corpus here has {} bytes",
            corpus.len()
        )));
    }
    let end = end.unwrap_or(corpus.len());
    if start >= end || end > corpus.len() {
        return Err(Verdict::fail(format!(
            "validation bytes [{start}, {end}) do not lie inside the {}-byte corpus",
            corpus.len()
        )));
    }
    let text = text_between(corpus, start, end);
    let (total, n) = scorer.score_nll(&text)?;
    if !total.is_finite() || total < 0.0 {
        return Err(Verdict::fail(format!(
            "{} returned total NLL {total}: not a finite, non-negative number",
            crate::ENTRY
        )));
    }
    let ppl = (total / n as f64).exp();
    let gap = (ppl - reported).abs() / reported;
    Ok(Verdict::check(
        gap <= RESCORE_TOLERANCE,
        format!(
            "re-scored validation perplexity {ppl:.3} ({n} tokens, bytes [{start}, {end})) vs reported {reported:.3}: {:.2}% apart (bound {:.0}%)",
            100.0 * gap,
            100.0 * RESCORE_TOLERANCE
        ),
    ))
}

/// The samples' byte bigrams are closer to the corpus's than uniform text's (see
/// [`crate::bigram`]).
fn samples_not_random(set: &ArtifactSet, corpus: &[u8]) -> Checked {
    let samples = set.samples().map_err(Verdict::fail)?;
    if samples.len() < MIN_SAMPLES {
        return Err(Verdict::fail(format!(
            "{} samples; the prompt asks for 3–5",
            samples.len()
        )));
    }
    let mut prompts: Vec<&str> = samples.iter().filter_map(|(p, _)| p.as_deref()).collect();
    prompts.sort_unstable();
    prompts.dedup();
    if samples.iter().all(|(p, _)| p.is_some()) && prompts.len() < MIN_SAMPLES {
        return Err(Verdict::fail(format!(
            "{} distinct prompts; the prompt asks for samples from different prompts",
            prompts.len()
        )));
    }
    let model = BigramModel::fit(corpus);
    let (h_samples, n) = model
        .cross_entropy(samples.iter().map(|(_, t)| t.as_bytes()))
        .filter(|&(_, n)| n >= MIN_SAMPLE_BIGRAMS)
        .ok_or_else(|| {
            Verdict::fail(format!(
                "fewer than {MIN_SAMPLE_BIGRAMS} bigrams of generated text in the samples"
            ))
        })?;
    let (h_corpus, _) = model
        .cross_entropy([corpus])
        .ok_or_else(|| Verdict::harness_error("the corpus has fewer than two bytes"))?;
    let h_uniform = model.uniform_cross_entropy();
    let midpoint = (h_corpus + h_uniform) / 2.0;
    Ok(Verdict::check(
        h_samples < midpoint,
        format!(
            "samples {h_samples:.2} bits per byte bigram ({n} bigrams) under the corpus's bigram model; the corpus itself {h_corpus:.2}, uniform text over its {} symbols {h_uniform:.2}; bound: below the midpoint {midpoint:.2}",
            model.alphabet_len()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_between_keeps_whole_characters() {
        let bytes = "ab—cd".as_bytes(); // '—' is 3 bytes at 2..5
        assert_eq!(text_between(bytes, 3, bytes.len()), "cd");
        assert_eq!(text_between(bytes, 0, 3), "ab");
        assert_eq!(text_between(bytes, 0, bytes.len()), "ab—cd");
    }
}
