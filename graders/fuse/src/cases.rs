//! Hidden cases, drawn at grade time from the seed. Shapes are fixed per criterion (each aims at
//! a trap: vocabularies from 1000 to 151936, row counts that are no multiple of any block size,
//! k from 1 to 50); the values are random, so answers cannot be memorised. Expected outputs are
//! computed here by the CPU reference and never leave the judge process.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use fuse::cases::trap_rows;

/// One call of the entry point on logits the judge writes to a file.
#[derive(Debug, Clone)]
pub struct Case {
    /// File-name-safe, unique within a suite (`v50257_k8`).
    pub name: String,
    /// What the case is, for evidence (`rows=37 vocab=50257 k=8, uniform ±8`).
    pub description: String,
    /// Names the logits: cases that differ only in k share them (and their input file).
    pub logits_name: String,
    /// Rows of logits, each an independent softmax + top-k.
    pub rows: usize,
    /// V, the length of each row.
    pub vocab: usize,
    /// How many of the largest probabilities per row are asked for.
    pub k: usize,
    /// `[rows, vocab]`, row-major.
    pub logits: Vec<f32>,
}

impl Case {
    fn new(
        (name, logits_name): (String, String),
        what: &str,
        (rows, vocab, k): (usize, usize, usize),
        logits: Vec<f32>,
    ) -> Case {
        Case {
            description: format!("rows={rows} vocab={vocab} k={k}, {what}"),
            name,
            logits_name,
            rows,
            vocab,
            k,
            logits,
        }
    }
}

/// A shape run through the timing protocol (speed, memory). Every repetition gets fresh logits, generated
/// on the device from a seed the judge draws just before it ([`generated_row`]), so hundreds
/// of megabytes never travel through files and no answer can be known ahead.
#[derive(Debug, Clone)]
pub struct TimedCase {
    /// File-name-safe, unique (`timed_v50257_k8`).
    pub name: String,
    /// Rows of logits.
    pub rows: usize,
    /// V, the length of each row.
    pub vocab: usize,
    /// How many of the largest probabilities per row are asked for.
    pub k: usize,
    /// Logits are uniform in `[-scale, scale)`.
    pub scale: f32,
}

impl TimedCase {
    /// `rows=1024 vocab=50257 k=8`, for evidence.
    pub fn description(&self) -> String {
        format!("rows={} vocab={} k={}", self.rows, self.vocab, self.k)
    }
}

/// Every runtime criterion's cases.
#[derive(Debug, Clone)]
pub struct HiddenCases {
    /// Random rows: indices and probabilities against the CPU reference.
    pub correctness: Vec<Case>,
    /// −inf, all −inf, equal, ±1e4, monotone and ±0 rows.
    pub stability: Vec<Case>,
    /// One large shape whose device memory is held to 1/8 of its softmax (`memory`).
    pub memory: TimedCase,
    /// Shapes timed against the naive softmax-then-top-k.
    pub speed: Vec<TimedCase>,
}

/// k values every suite crosses with its shapes: the smallest, a typical one, a large one.
const KS: [usize; 3] = [1, 8, 50];

impl HiddenCases {
    /// The cases a GPU grading runs: the prompt's large vocabularies. Row counts are odd and
    /// prime-ish so that no block size divides them.
    pub fn for_gpu(seed: u64) -> HiddenCases {
        HiddenCases::with_shapes(
            seed,
            &[(301, 1000), (37, 50_257), (13, 151_936)],
            &[1000, 50_257],
            // A 5 GB softmax: far more than 1/8 of it plus the margin left free during the call.
            (8192, 151_936, 50),
            &[(1024, 50_257, 8), (512, 151_936, 50)],
        )
    }

    /// The same suites at sizes a CPU emulation of the kernels gets through in seconds (tests).
    pub fn small(seed: u64) -> HiddenCases {
        HiddenCases::with_shapes(
            seed,
            &[(3, 1000), (2, 2053)],
            &[1000],
            (5, 1000, 50),
            &[(3, 1000, 8)],
        )
    }

    fn with_shapes(
        seed: u64,
        random_shapes: &[(usize, usize)],
        trap_vocabs: &[usize],
        memory: (usize, usize, usize),
        timed: &[(usize, usize, usize)],
    ) -> HiddenCases {
        let mut rng = rng_for(seed, "cases");
        let correctness = random_shapes
            .iter()
            .flat_map(|&(rows, vocab)| {
                let logits = fuse::cases::random_logits(rng.random(), rows, vocab, 8.0);
                KS.map(|k| {
                    let names = (format!("random_v{vocab}_k{k}"), format!("random_v{vocab}"));
                    Case::new(names, "uniform ±8", (rows, vocab, k), logits.clone())
                })
            })
            .collect();
        let stability = trap_vocabs
            .iter()
            .flat_map(|&vocab| {
                let logits = trap_rows(rng.random(), vocab);
                let rows = logits.len() / vocab;
                KS.map(|k| {
                    let names = (format!("traps_v{vocab}_k{k}"), format!("traps_v{vocab}"));
                    let what = "one row each: 95% −inf, all −inf, all equal, ±1e4, ascending, descending, ±0";
                    Case::new(names, what, (rows, vocab, k), logits.clone())
                })
            })
            .collect();
        let generated = |(rows, vocab, k): (usize, usize, usize)| TimedCase {
            name: format!("timed_v{vocab}_k{k}"),
            rows,
            vocab,
            k,
            scale: 8.0,
        };
        let memory = generated(memory);
        let speed = timed.iter().copied().map(generated).collect();
        HiddenCases {
            correctness,
            stability,
            memory,
            speed,
        }
    }
}

/// A generator whose stream depends on the grading seed and on a label, so that suites do not
/// share draws.
pub fn rng_for(seed: u64, label: &str) -> StdRng {
    let salt = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    StdRng::seed_from_u64(seed ^ salt)
}

/// Row `row` of the `[rows, vocab]` logits the runner generates from `seed`: value i of the
/// buffer is SplitMix64's mix of `seed + (i + 1)·golden`, 24 random bits mapped to
/// `[-scale, scale)` — the same arithmetic as `generated_logit` in `fuse_runner.cpp`, so any row
/// can be recomputed here without the others.
pub fn generated_row(seed: u64, row: usize, vocab: usize, scale: f32) -> Vec<f32> {
    let first = (row * vocab) as u64;
    (first..first + vocab as u64)
        .map(|i| {
            let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let unit = (z >> 40) as f32 * (1.0 / 16_777_216.0);
            (2.0 * unit - 1.0) * scale
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_shapes_are_the_prompts_and_no_row_count_is_a_block_multiple() {
        let cases = HiddenCases::for_gpu(7);
        let vocabs: Vec<usize> = cases.correctness.iter().map(|c| c.vocab).collect();
        for vocab in [1000, 50_257, 151_936] {
            assert!(vocabs.contains(&vocab), "{vocab} missing");
        }
        for case in cases.correctness.iter().chain(&cases.stability) {
            assert!(case.rows % 32 != 0, "{}", case.description);
            assert_eq!(case.logits.len(), case.rows * case.vocab);
        }
        let ks: Vec<usize> = cases.correctness.iter().map(|c| c.k).collect();
        assert!(ks.contains(&1) && ks.contains(&8) && ks.contains(&50));
    }

    #[test]
    fn generated_rows_are_uniform_in_the_scale_and_depend_on_the_seed_and_row() {
        let row = generated_row(3, 0, 10_000, 8.0);
        assert!(row.iter().all(|v| (-8.0..8.0).contains(v)));
        let mean = row.iter().sum::<f32>() / row.len() as f32;
        assert!(mean.abs() < 0.2, "mean {mean}");
        assert_ne!(row[..10], generated_row(4, 0, 10, 8.0)[..]);
        // Counter-based: row 1 of vocab 5000 is the second half of row 0 of vocab 10000.
        assert_eq!(generated_row(3, 1, 5000, 8.0), row[5000..]);
    }
}
