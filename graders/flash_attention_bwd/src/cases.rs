//! Hidden cases, drawn at grade time from the seed. Shapes are fixed per criterion (each one
//! aims at a trap); the values are random, so answers cannot be memorised. Everything is
//! float64: the gradient checks compare to 1e-4 and the prompt's Test 1 needs the precision.

use judge_core::seed::for_criterion;
use ndarray::Array4;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// One forward and backward call: inputs, upstream gradient, tile size and mask.
#[derive(Debug, Clone)]
pub struct Case {
    pub q: Array4<f64>,
    pub k: Array4<f64>,
    pub v: Array4<f64>,
    /// The upstream gradient ∂loss/∂O, shaped like O.
    pub d_o: Array4<f64>,
    pub tile: usize,
    pub causal: bool,
}

impl Case {
    /// Q, K, V and dO with standard-normal entries, of shape (B, H, N, D).
    pub fn random(rng: &mut StdRng, shape: [usize; 4], tile: usize, causal: bool) -> Case {
        let mut normal = || {
            Array4::from_shape_simple_fn((shape[0], shape[1], shape[2], shape[3]), || {
                rng.sample::<f64, _>(StandardNormal)
            })
        };
        Case {
            q: normal(),
            k: normal(),
            v: normal(),
            d_o: normal(),
            tile,
            causal,
        }
    }

    /// (B, H, N, D).
    pub fn shape(&self) -> [usize; 4] {
        let (b, h, n, d) = self.q.dim();
        [b, h, n, d]
    }

    /// Sequence length N.
    pub fn n(&self) -> usize {
        self.q.dim().2
    }

    /// `causal B=2 H=4 N=100 D=32 T=16`, for evidence.
    pub fn describe(&self) -> String {
        let [b, h, n, d] = self.shape();
        format!(
            "{} B={b} H={h} N={n} D={d} T={}",
            if self.causal { "causal" } else { "non-causal" },
            self.tile,
        )
    }
}

/// Random cases of the given (shape, tile) pairs, each with every mask in `masks`.
pub fn suite(
    seed: u64,
    criterion: &str,
    shapes: &[([usize; 4], usize)],
    masks: &[bool],
) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, criterion));
    shapes
        .iter()
        .flat_map(|&(shape, tile)| masks.iter().map(move |&causal| (shape, tile, causal)))
        .map(|(shape, tile, causal)| Case::random(&mut rng, shape, tile, causal))
        .collect()
}
