//! What a training run leaves behind (prompts/ternary_training.interface.md), read as data.
//!
//! | file | what the grader takes from it |
//! |---|---|
//! | `results.json` | `model` (sizes), `architecture` (mlp, norm, positional), `quantization.group_size`, `split`, `loss_log`, `validation.perplexity`, `samples` |
//! | `loss_log.jsonl` | the per-step losses, when `results.json` has no `loss_log` |
//! | `latent_weights.npz` | the latent weights of every linear map and the norm gains, by Hugging Face Qwen3 name |
//! | `ternary_packed.npz` | per linear map `NAME.codes` (packed `uint8` or one `int8` per weight), `NAME.scales`, optionally `NAME.shape`, `NAME.group_size` |
//!
//! This is exactly what `ternary::artifacts::save_artifacts` writes, so the reference's own run
//! is a valid submission. Every file is size-checked before it is read; a missing or malformed
//! file is kept as the reason it could not be read, and each criterion that needs it fails with
//! that reason.

use std::collections::BTreeMap;
use std::path::Path;

use judge_core::untrusted_fs;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::npz::{NpyArray, NpzLimits, read_npz};

pub use ternary::artifacts::{
    LATENT_WEIGHTS_FILE, LOSS_LOG_FILE, PACKED_WEIGHTS_FILE, RESULTS_FILE,
};

/// Largest `results.json` or `loss_log.jsonl` read.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Largest weight archive read (Qwen3-0.6B's latent weights in float32 are ~2.4 GB).
pub const WEIGHT_LIMITS: NpzLimits = NpzLimits {
    max_bytes: 4 << 30,
    max_entries: 100_000,
};

/// The files of one run, each parsed or the reason it could not be.
#[derive(Debug)]
pub struct ArtifactSet {
    /// `results.json`, parsed.
    pub results: Result<Json, String>,
    /// `loss_log.jsonl`, read only when `results.json` carries no `loss_log`.
    pub loss_log_file: Option<Result<String, String>>,
    /// `latent_weights.npz`, by array name.
    pub latent: Result<BTreeMap<String, NpyArray>, String>,
    /// `ternary_packed.npz`, by array name (`NAME.codes`, `NAME.scales`, …).
    pub ternary: Result<BTreeMap<String, NpyArray>, String>,
}

/// Reads a text file of the submission of at most [`MAX_TEXT_BYTES`], only if it is a regular
/// file reached without a symlink ([`untrusted_fs`]): a FIFO named `results.json` must not
/// block the judge, nor a link make it read `/etc/shadow`.
pub fn read_text(path: &Path) -> Result<String, String> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    untrusted_fs::read_capped_string(path, MAX_TEXT_BYTES).map_err(|e| match e {
        untrusted_fs::UntrustedFileError::Io { source, .. } => format!("{name}: {source}"),
        refused => refused.to_string(),
    })
}

impl ArtifactSet {
    /// Reads the files of the run in `dir`; a missing or malformed one is kept as its reason.
    pub fn load(dir: &Path) -> Self {
        let results = read_text(&dir.join(RESULTS_FILE)).and_then(|text| {
            serde_json::from_str::<Json>(&text).map_err(|e| format!("{RESULTS_FILE}: {e}"))
        });
        let has_inline_log = results.as_ref().is_ok_and(|r| r.get("loss_log").is_some());
        let loss_log_file = (!has_inline_log).then(|| read_text(&dir.join(LOSS_LOG_FILE)));
        let weights = |file: &str| {
            read_npz(&dir.join(file), WEIGHT_LIMITS).map_err(|e| format!("{file}: {e}"))
        };
        Self {
            results,
            loss_log_file,
            latent: weights(LATENT_WEIGHTS_FILE),
            ternary: weights(PACKED_WEIGHTS_FILE),
        }
    }

    /// `results.json`, or why it could not be read.
    pub fn results(&self) -> Result<&Json, String> {
        self.results.as_ref().map_err(Clone::clone)
    }

    /// The latent weights, or why they could not be read.
    pub fn latent(&self) -> Result<&BTreeMap<String, NpyArray>, String> {
        self.latent.as_ref().map_err(Clone::clone)
    }

    /// The declared model sizes.
    pub fn model(&self) -> Result<ModelFacts, String> {
        let model = self
            .results()?
            .get("model")
            .ok_or(format!("{RESULTS_FILE} has no \"model\""))?;
        serde_json::from_value(model.clone()).map_err(|e| format!("{RESULTS_FILE} \"model\": {e}"))
    }

    /// The ternary form of every layer in `ternary_packed.npz`, by layer name.
    pub fn ternary_forms(&self) -> Result<BTreeMap<String, TernaryForm<'_>>, String> {
        let arrays = self.ternary.as_ref().map_err(Clone::clone)?;
        let mut forms: BTreeMap<String, TernaryForm<'_>> = BTreeMap::new();
        for (key, array) in arrays {
            let Some((layer, field)) = key.rsplit_once('.') else {
                continue;
            };
            let form = forms.entry(layer.to_string()).or_default();
            match field {
                "codes" => form.codes = Some(array),
                "scales" => form.scales = Some(array),
                "shape" => form.shape = Some(array),
                "group_size" => form.group_size = Some(array),
                _ => {}
            }
        }
        forms.retain(|_, form| form.codes.is_some() || form.scales.is_some());
        Ok(forms)
    }

    /// The per-step training losses, in step order as saved.
    pub fn loss_curve(&self) -> Result<Vec<f64>, String> {
        if let Some(log) = self.results()?.get("loss_log") {
            let records = log
                .as_array()
                .ok_or(format!("{RESULTS_FILE} \"loss_log\" is not a list"))?;
            return records
                .iter()
                .enumerate()
                .map(|(i, r)| loss_of(r).ok_or(format!("loss_log[{i}] has no number \"loss\"")))
                .collect();
        }
        let text = match &self.loss_log_file {
            Some(Ok(text)) => text,
            Some(Err(reason)) => {
                return Err(format!("no \"loss_log\" in {RESULTS_FILE} and {reason}"));
            }
            None => return Err(format!("no \"loss_log\" in {RESULTS_FILE}")),
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str::<Json>(line)
                    .ok()
                    .as_ref()
                    .and_then(loss_of)
                    .ok_or(format!(
                        "{LOSS_LOG_FILE} line {}: no number \"loss\"",
                        i + 1
                    ))
            })
            .collect()
    }

    /// `validation.perplexity` (or a top-level `validation_perplexity`).
    pub fn reported_perplexity(&self) -> Result<f64, String> {
        let results = self.results()?;
        results
            .pointer("/validation/perplexity")
            .or_else(|| results.get("validation_perplexity"))
            .and_then(Json::as_f64)
            .ok_or(format!(
                "{RESULTS_FILE} has no number at \"validation\".\"perplexity\""
            ))
    }

    /// The declared validation part of the corpus: byte offsets `[start, end)`, end `None` for
    /// the end of the file.
    pub fn validation_range(&self) -> Result<(usize, Option<usize>), String> {
        let split = self
            .results()?
            .get("split")
            .ok_or(format!("{RESULTS_FILE} has no \"split\""))?;
        let offset = |key: &str| {
            split.get(key).map(|v| {
                v.as_u64()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or(format!("\"split\".\"{key}\" is not a byte offset"))
            })
        };
        let start = offset("validation_start")
            .ok_or("\"split\" has no \"validation_start\" (byte offset in train_data.txt)")??;
        let end = offset("validation_end").transpose()?;
        Ok((start, end))
    }

    /// The corpus size the run declares, if it does.
    pub fn declared_corpus_bytes(&self) -> Option<u64> {
        self.results()
            .ok()?
            .pointer("/split/corpus_bytes")
            .and_then(Json::as_u64)
    }

    /// The generated samples: (prompt, the text the model wrote after it).
    pub fn samples(&self) -> Result<Vec<(Option<String>, String)>, String> {
        let samples = self
            .results()?
            .get("samples")
            .and_then(Json::as_array)
            .ok_or(format!("{RESULTS_FILE} has no list \"samples\""))?;
        samples
            .iter()
            .enumerate()
            .map(|(i, sample)| {
                sample_text(sample).ok_or(format!(
                    "samples[{i}] is neither a string nor an object with \"completion\" or \"text\""
                ))
            })
            .collect()
    }

    /// A string fact of `results.json` `architecture`, under any of `keys`, lower-cased.
    pub fn architecture_fact(&self, keys: &[&str]) -> Option<String> {
        let architecture = self.results().ok()?.get("architecture")?;
        keys.iter()
            .find_map(|k| architecture.get(*k)?.as_str())
            .map(str::to_lowercase)
    }

    /// `quantization.group_size` as declared, if it is.
    pub fn declared_group_size(&self) -> Option<u64> {
        self.results()
            .ok()?
            .pointer("/quantization/group_size")
            .and_then(Json::as_u64)
    }

    /// Tensors the run itself lists as full precision (`architecture.full_precision_tensors`).
    pub fn declared_full_precision(&self) -> Vec<String> {
        self.results()
            .ok()
            .and_then(|r| {
                r.pointer("/architecture/full_precision_tensors")?
                    .as_array()
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }
}

fn loss_of(record: &Json) -> Option<f64> {
    record
        .as_f64()
        .or_else(|| record.get("loss").and_then(Json::as_f64))
}

fn sample_text(sample: &Json) -> Option<(Option<String>, String)> {
    if let Some(text) = sample.as_str() {
        return Some((None, text.to_string()));
    }
    let prompt = sample
        .get("prompt")
        .and_then(Json::as_str)
        .map(String::from);
    if let Some(completion) = sample.get("completion").and_then(Json::as_str) {
        return Some((prompt, completion.to_string()));
    }
    let text = sample.get("text").and_then(Json::as_str)?;
    // A full text repeats its prompt; only what the model wrote counts.
    let written = prompt
        .as_deref()
        .and_then(|p| text.strip_prefix(p))
        .unwrap_or(text);
    Some((prompt, written.to_string()))
}

/// The codes and scales of one ternary layer, as saved.
#[derive(Debug, Default)]
pub struct TernaryForm<'a> {
    /// `NAME.codes`: packed `uint8`, or one signed integer per weight.
    pub codes: Option<&'a NpyArray>,
    /// `NAME.scales`: one float per group of 128 weights.
    pub scales: Option<&'a NpyArray>,
    /// `NAME.shape`, optional: the matrix's shape, when the codes are flat.
    pub shape: Option<&'a NpyArray>,
    /// `NAME.group_size`, optional: one integer, which must be 128.
    pub group_size: Option<&'a NpyArray>,
}

/// The model sizes of `results.json` `model`, under the reference's names or Hugging Face's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelFacts {
    /// The vocabulary size (256 for a byte model).
    #[serde(alias = "vocab")]
    pub vocab_size: usize,
    /// The hidden size.
    #[serde(alias = "hidden_size")]
    pub d_model: usize,
    /// Transformer blocks.
    #[serde(alias = "num_hidden_layers")]
    pub n_layers: usize,
    /// Query heads.
    #[serde(alias = "num_attention_heads")]
    pub n_heads: usize,
    /// Key/value heads: half of `n_heads` for Qwen3's GQA 2:1.
    #[serde(alias = "num_key_value_heads")]
    pub n_kv_heads: usize,
    /// Defaults to `d_model / n_heads`, as in Hugging Face.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// The SwiGLU hidden size of the gate and up projections.
    #[serde(alias = "intermediate_size")]
    pub ffn_dim: usize,
    /// Qwen3-0.6B ties the LM head to the embedding; then `lm_head.weight` is not a separate layer.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// The quantization group size, if declared here too; anything but 128 fails the
    /// projection criterion.
    #[serde(default)]
    pub group_size: Option<usize>,
}

/// The name of the embedding, the LM head and the final norm (Hugging Face Qwen3).
pub const EMBED_TOKENS: &str = "model.embed_tokens.weight";
/// The LM head's name; absent when tied to the embedding.
pub const LM_HEAD: &str = "lm_head.weight";
/// The final RMSNorm gain's name.
pub const FINAL_NORM: &str = "model.norm.weight";

impl ModelFacts {
    /// The per-head dimension: as declared, else `d_model / n_heads`.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.d_model / self.n_heads.max(1))
    }

    /// Every linear map the configuration implies, with its `[out, in]` shape: the embedding
    /// (`[vocab, d_model]`), seven projections per block, and the LM head unless tied.
    pub fn linear_layers(&self) -> Vec<(String, [usize; 2])> {
        let (d, f, v) = (self.d_model, self.ffn_dim, self.vocab_size);
        let (q, kv) = (
            self.n_heads * self.head_dim(),
            self.n_kv_heads * self.head_dim(),
        );
        let mut layers = vec![(EMBED_TOKENS.to_string(), [v, d])];
        for i in 0..self.n_layers {
            let block = [
                ("self_attn.q_proj", [q, d]),
                ("self_attn.k_proj", [kv, d]),
                ("self_attn.v_proj", [kv, d]),
                ("self_attn.o_proj", [d, q]),
                ("mlp.gate_proj", [f, d]),
                ("mlp.up_proj", [f, d]),
                ("mlp.down_proj", [d, f]),
            ];
            layers.extend(
                block
                    .into_iter()
                    .map(|(name, shape)| (format!("model.layers.{i}.{name}.weight"), shape)),
            );
        }
        if !self.tie_word_embeddings {
            layers.push((LM_HEAD.to_string(), [v, d]));
        }
        layers
    }

    /// The RMSNorm gains every Qwen3 model has, with their lengths (the per-head q/k norms are
    /// Qwen3's too, but not among the prompt's required facts).
    pub fn norm_gains(&self) -> Vec<(String, usize)> {
        let mut norms: Vec<(String, usize)> = (0..self.n_layers)
            .flat_map(|i| {
                ["input_layernorm", "post_attention_layernorm"]
                    .map(|n| (format!("model.layers.{i}.{n}.weight"), self.d_model))
            })
            .collect();
        norms.push((FINAL_NORM.to_string(), self.d_model));
        norms
    }
}
