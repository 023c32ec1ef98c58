//! Hidden cases, drawn at grade time from the seed. Shapes are fixed per criterion (each one
//! aims at a trap); the values are random, so answers cannot be memorised.

use ndarray::Array4;
use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::StandardNormal;

use crate::candidate::Inputs;

/// One call: inputs, tile size and mask.
#[derive(Debug, Clone)]
pub struct Case {
    pub inputs: Inputs,
    pub tile: usize,
    pub causal: bool,
}

impl Case {
    /// `causal B=2 H=3 N=128 D=32 T=16 float64`, for evidence.
    pub fn describe(&self) -> String {
        let [b, h, n, d] = self.inputs.shape();
        format!(
            "{} B={b} H={h} N={n} D={d} T={} {}",
            if self.causal { "causal" } else { "non-causal" },
            self.tile,
            self.inputs.dtype()
        )
    }
}

/// Standard-normal entries times `scale`.
pub fn normal(rng: &mut StdRng, shape: [usize; 4], scale: f64) -> Array4<f64> {
    Array4::from_shape_simple_fn((shape[0], shape[1], shape[2], shape[3]), || {
        scale * rng.sample::<f64, _>(StandardNormal)
    })
}

/// Random f64 Q, K, V with entries N(0, scale²).
pub fn random_f64(rng: &mut StdRng, shape: [usize; 4], scale: f64) -> Inputs {
    Inputs::F64 {
        q: normal(rng, shape, scale),
        k: normal(rng, shape, scale),
        v: normal(rng, shape, 1.0),
    }
}

/// Random f32 Q, K, V.
pub fn random_f32(rng: &mut StdRng, shape: [usize; 4]) -> Inputs {
    Inputs::F32 {
        q: normal(rng, shape, 1.0).mapv(|x| x as f32),
        k: normal(rng, shape, 1.0).mapv(|x| x as f32),
        v: normal(rng, shape, 1.0).mapv(|x| x as f32),
    }
}

/// Keys whose scores grow along the sequence: every key tile raises each row's running max,
/// so every tile exercises the rescale exp(m_old − m_new) — and a wrong factor shows.
pub fn growing_scores(rng: &mut StdRng, shape: [usize; 4]) -> Inputs {
    let [b, h, n, d] = shape;
    let q = normal(rng, shape, 0.3).mapv(|x| x + 1.0);
    let noise = normal(rng, shape, 0.3);
    let ramp = 6.0 * (d as f64).sqrt() / d as f64;
    let k = Array4::from_shape_fn((b, h, n, d), |(bi, hi, j, di)| {
        noise[(bi, hi, j, di)] + ramp * (j as f64 / n as f64) * 4.0
    });
    let v = normal(rng, shape, 1.0);
    Inputs::F64 { q, k, v }
}

/// Scores of magnitude up to about 1e3: entries N(0, 300) give score std ≈ 300.
pub fn large_scores(rng: &mut StdRng, shape: [usize; 4]) -> Inputs {
    random_f64(rng, shape, 300f64.sqrt())
}
