//! Inputs for tests, benchmarks and graders: random rows, and one row per trap of the prompt.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `rows × vocab` logits uniform in [−scale, scale), reproducible from `seed`.
pub fn random_logits(seed: u64, rows: usize, vocab: usize, scale: f32) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..rows * vocab)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect()
}

/// The rows that break careless implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// 95 % −inf: exp(−inf − (−inf)) = NaN unless −inf is skipped; fewer than k finite logits.
    SparseNegInf,
    /// Only −inf: 0/0, defined as uniform over columns 0..k.
    AllNegInf,
    /// One value everywhere: every column ties, the lower indices win.
    AllEqual,
    /// Uniform in ±1e4: exp overflows without the max subtracted, underflows to 0 for most.
    Magnitude1e4,
    /// 0, 1, 2, …: every logit is a new maximum (the rescale on every step) and a new best.
    Ascending,
    /// 0, −1, −2, …: the maximum comes first.
    Descending,
    /// +0.0 and −0.0 alternating: equal logits whose bits differ.
    SignedZeros,
}

impl Trap {
    /// Every trap, in declaration order.
    pub const ALL: [Trap; 7] = [
        Trap::SparseNegInf,
        Trap::AllNegInf,
        Trap::AllEqual,
        Trap::Magnitude1e4,
        Trap::Ascending,
        Trap::Descending,
        Trap::SignedZeros,
    ];

    /// One row of this trap.
    pub fn row(self, rng: &mut StdRng, vocab: usize) -> Vec<f32> {
        match self {
            Trap::SparseNegInf => (0..vocab)
                .map(|_| {
                    if rng.random::<f32>() < 0.95 {
                        f32::NEG_INFINITY
                    } else {
                        rng.random::<f32>() * 6.0 - 3.0
                    }
                })
                .collect(),
            Trap::AllNegInf => vec![f32::NEG_INFINITY; vocab],
            Trap::AllEqual => vec![2.5; vocab],
            Trap::Magnitude1e4 => (0..vocab)
                .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * 1e4)
                .collect(),
            Trap::Ascending => (0..vocab).map(|i| i as f32).collect(),
            Trap::Descending => (0..vocab).map(|i| -(i as f32)).collect(),
            Trap::SignedZeros => (0..vocab)
                .map(|i| if i % 2 == 0 { 0.0 } else { -0.0 })
                .collect(),
        }
    }
}

/// One row of every [`Trap`], in the order of [`Trap::ALL`]: `Trap::ALL.len() × vocab` logits.
pub fn trap_rows(seed: u64, vocab: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    Trap::ALL
        .iter()
        .flat_map(|trap| trap.row(&mut rng, vocab))
        .collect()
}
