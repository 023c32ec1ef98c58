//! pass@k over the samples of `judge run --samples K`.
//!
//! Sample 1 of model M sits in `M/<challenge>/`, sample k ≥ 2 in `M@k/<challenge>/`: each
//! sample is an ordinary model folder, so `judge grade`, `--shard` and the matrix need nothing
//! new, and a later run with more samples keeps the earlier ones. Here the columns `M`, `M@2`,
//! … of the matrix are grouped back into M. A sample passes when none of its auto criteria
//! failed or errored (the rule of exit code 0); pass@k is the unbiased estimator of the HumanEval
//! paper, 1 − C(n−c, k)/C(n, k), for n samples of which c passed. A sample whose report has a
//! harness fault (the endpoint gave no reply, the judge failed) says nothing about the model and
//! is left out of n, as is one the matrix does not count (not signed by this judge).

use std::collections::BTreeMap;

use judge_schema::ChallengeId;
use serde::{Deserialize, Serialize};

use crate::matrix::{Cell, Matrix, REFERENCE_COLUMN};

/// The k reported besides 1, when there are at least that many samples.
const REPORTED_K: &[u32] = &[2, 5, 10, 20, 50, 100];

/// The model and the sample number (1-based) a column name stands for: `m@3` is sample 3 of
/// `m`, and any other name is sample 1 of itself.
pub fn sample_of(column: &str) -> (&str, u32) {
    if let Some((model, number)) = column.rsplit_once('@')
        && !model.is_empty()
        && !number.starts_with('0')
        && let Ok(number) = number.parse::<u32>()
        && number >= 2
    {
        return (model, number);
    }
    (column, 1)
}

/// The folder name of sample `k` (1-based) of `model`.
pub fn sample_folder(model: &str, k: u32) -> String {
    if k <= 1 {
        model.to_string()
    } else {
        format!("{model}@{k}")
    }
}

/// The probability that at least one of k samples drawn without replacement from n, of which
/// c passed, passes: 1 − C(n−c, k)/C(n, k), as the product Π_{i=n−c+1}^{n} (1 − k/i) so that
/// no binomial coefficient is ever formed. `None` when k is 0 or more than n.
pub fn pass_at_k(n: u32, c: u32, k: u32) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let all_fail: f64 = (n - c + 1..=n)
        .map(|i| 1.0 - f64::from(k) / f64::from(i))
        .product();
    Some(1.0 - all_fail)
}

/// One model × challenge over its samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    /// The model, its sample columns `M@k` grouped back into `M`.
    pub model: String,
    /// The challenge.
    pub challenge: ChallengeId,
    /// Samples with a report.
    pub samples: u32,
    /// Samples that passed.
    pub passed: u32,
    /// Mean cell score over the samples.
    pub mean_score: f64,

    /// (k, pass@k) for k = 1 and every reported k up to `samples`.
    pub pass_at: Vec<(u32, f64)>,
}

/// The pass@k table of a matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassAtK {
    /// The k columns: 1, then the reported k up to the most samples of any row.
    pub ks: Vec<u32>,
    /// By model, then by the seed's challenge order.
    pub rows: Vec<SampleRow>,
}

/// Whether a sample counts as passed.
fn passed(cell: &Cell) -> bool {
    cell.fail == 0 && cell.error == 0
}

impl PassAtK {
    /// Groups the matrix's columns into models and their samples (the reference is left out).
    pub fn of(matrix: &Matrix) -> PassAtK {
        let mut groups: BTreeMap<(String, usize), (ChallengeId, Vec<&Cell>)> = BTreeMap::new();
        let samples = matrix
            .cells
            .iter()
            .filter(|c| c.counted && c.model != REFERENCE_COLUMN && !c.harness_fault);
        for cell in samples {
            let (model, _) = sample_of(&cell.model);
            groups
                .entry((model.to_string(), cell.challenge.seed_index()))
                .or_insert_with(|| (cell.challenge, Vec::new()))
                .1
                .push(cell);
        }
        let rows: Vec<SampleRow> = groups
            .into_iter()
            .map(|((model, _), (challenge, cells))| {
                let n = cells.len() as u32;
                let c = cells.iter().filter(|cell| passed(cell)).count() as u32;
                let ks = std::iter::once(1).chain(REPORTED_K.iter().copied());
                SampleRow {
                    model,
                    challenge,
                    samples: n,
                    passed: c,
                    mean_score: cells.iter().map(|cell| cell.score).sum::<f64>() / f64::from(n),
                    pass_at: ks
                        .filter_map(|k| pass_at_k(n, c, k).map(|p| (k, p)))
                        .collect(),
                }
            })
            .collect();
        let most = rows.iter().map(|r| r.samples).max().unwrap_or(0);
        let ks = std::iter::once(1)
            .chain(REPORTED_K.iter().copied())
            .filter(|&k| k <= most.max(1))
            .collect();
        PassAtK { ks, rows }
    }

    /// Whether any model has more than one sample of a challenge (else the table says nothing
    /// the matrix does not).
    pub fn has_samples(&self) -> bool {
        self.rows.iter().any(|r| r.samples > 1)
    }

    /// The table as a Markdown section.
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Samples: mean score and pass@k\n\n");
        out.push_str(
            "A sample passes when none of its auto criteria failed or errored; pass@k is \
             1 − C(n−c, k)/C(n, k) for n samples of which c passed (— when n < k). Samples \
             with a harness fault (ERR) are left out.\n\n",
        );
        out.push_str("| model | challenge | samples | passed | mean score |");
        for k in &self.ks {
            out.push_str(&format!(" pass@{k} |"));
        }
        out.push_str("\n|---|---|--:|--:|--:|");
        out.push_str(&"--:|".repeat(self.ks.len()));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.3} |",
                crate::markdown::md_text(&row.model),
                row.challenge,
                row.samples,
                row.passed,
                row.mean_score
            ));
            for k in &self.ks {
                match row.pass_at.iter().find(|(rk, _)| rk == k) {
                    Some((_, p)) => out.push_str(&format!(" {p:.3} |")),
                    None => out.push_str(" — |"),
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C(n, k) by exact integer arithmetic, to check the product form against.
    fn choose(n: u64, k: u64) -> u128 {
        if k > n {
            return 0;
        }
        (0..k).fold(1u128, |acc, i| acc * u128::from(n - i) / u128::from(i + 1))
    }

    #[test]
    fn the_product_form_is_the_binomial_formula() {
        for n in 1..=20u32 {
            for c in 0..=n {
                for k in 1..=n {
                    let exact = 1.0
                        - choose(u64::from(n - c), u64::from(k)) as f64
                            / choose(u64::from(n), u64::from(k)) as f64;
                    let got = pass_at_k(n, c, k).unwrap();
                    assert!(
                        (got - exact).abs() < 1e-12,
                        "n={n} c={c} k={k}: {got} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn known_values_and_edges() {
        assert_eq!(pass_at_k(4, 2, 1), Some(0.5));
        assert!((pass_at_k(4, 2, 2).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(pass_at_k(4, 0, 2), Some(0.0));
        assert_eq!(pass_at_k(4, 4, 1), Some(1.0));
        assert_eq!(pass_at_k(4, 2, 5), None);
        assert_eq!(pass_at_k(4, 2, 0), None);
        // Large n stays finite and in range (binomials would overflow).
        let p = pass_at_k(10_000, 3, 100).unwrap();
        assert!(p > 0.0 && p < 1.0, "{p}");
    }

    #[test]
    fn sample_folders_and_their_names_agree() {
        assert_eq!(sample_of("gpt@3"), ("gpt", 3));
        assert_eq!(sample_of("gpt"), ("gpt", 1));
        for odd in ["gpt@1", "gpt@0", "gpt@03", "gpt@x", "@2", "a@b@c"] {
            assert_eq!(sample_of(odd), (odd, 1), "{odd}");
        }
        assert_eq!(sample_of("a@b@2"), ("a@b", 2));
        for k in 1..5 {
            assert_eq!(sample_of(&sample_folder("m", k)), ("m", k));
        }
    }
}
