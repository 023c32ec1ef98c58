//! Hidden cases, drawn at grade time from the seed. Shapes and value ranges are fixed per
//! criterion (each aims at a trap); the values are random, so answers cannot be memorised.

use ndarray::{Array1, Array3, Axis};
use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::StandardNormal;

use crate::candidate::{Dtype, Inputs};

/// One forward-and-backward call, with what makes it special for the evidence.
#[derive(Debug, Clone)]
pub struct Case {
    pub inputs: Inputs,
    /// How x was drawn: `rows μ + σ·z, σ ∈ [5, 10]`.
    pub rows: String,
}

impl Case {
    /// `B=2 T=8 D=64 float64, rows μ + σ·z, σ ∈ [5, 10]`, for evidence.
    pub fn describe(&self) -> String {
        let (b, t, d) = self.inputs.x.dim();
        format!(
            "B={b} T={t} D={d} {}, {}",
            self.inputs.dtype.name(),
            self.rows
        )
    }
}

fn normal(rng: &mut StdRng) -> f64 {
    rng.sample(StandardNormal)
}

/// Rows `z` of mean exactly 0 and population standard deviation exactly 1 (D ≥ 2): scaled by a
/// chosen σ, a row's variance is then σ² itself, not a sample that may come out near zero.
fn standardized_rows(rng: &mut StdRng, shape: [usize; 3]) -> Array3<f64> {
    let [b, t, d] = shape;
    let mut z = Array3::from_shape_simple_fn((b, t, d), || normal(rng));
    for mut row in z.lanes_mut(Axis(2)) {
        let mean = row.mean().expect("D ≥ 1");
        row.mapv_inplace(|v| v - mean);
        let std = row.mapv(|v| v * v).mean().expect("D ≥ 1").sqrt();
        row.mapv_inplace(|v| v / std);
    }
    z
}

/// γ around 1, β around 0 and an upstream gradient, all random.
fn with_parameters(rng: &mut StdRng, x: Array3<f64>, dtype: Dtype) -> Inputs {
    let d = x.dim().2;
    let gamma = Array1::from_shape_simple_fn(d, || 1.0 + 0.5 * normal(rng));
    let beta = Array1::from_shape_simple_fn(d, || 0.5 * normal(rng));
    let dy = Array3::from_shape_simple_fn(x.raw_dim(), || normal(rng));
    let inputs = Inputs {
        x,
        gamma,
        beta,
        dy,
        dtype,
    };
    match dtype {
        Dtype::F64 => inputs,
        Dtype::F32 => {
            let exact_f32 = |v: f64| f64::from(v as f32);
            Inputs {
                x: inputs.x.mapv(exact_f32),
                gamma: inputs.gamma.mapv(exact_f32),
                beta: inputs.beta.mapv(exact_f32),
                dy: inputs.dy.mapv(exact_f32),
                dtype,
            }
        }
    }
}

/// Ordinary activations: row means N(0, 3²), row standard deviations σ ∈ [5, 10]. With
/// σ² ≥ 25 ≫ ε, leaving ε out moves the answer by ε/(2σ²) ≤ 2·10⁻⁷, under the 10⁻⁶ bound:
/// ε is judged on the constant rows, its own trap, not here.
pub fn ordinary(rng: &mut StdRng, shape: [usize; 3], dtype: Dtype) -> Case {
    let z = standardized_rows(rng, shape);
    let mut x = z;
    for mut row in x.lanes_mut(Axis(2)) {
        let (mean, std) = (3.0 * normal(rng), rng.random_range(5.0..10.0));
        row.mapv_inplace(|v| mean + std * v);
    }
    Case {
        inputs: with_parameters(rng, x, dtype),
        rows: "rows μ + σ·z, μ ~ N(0, 9), σ ∈ [5, 10]".into(),
    }
}

/// Rows around one large `offset`: means `offset·(1 ± 0.1)`, standard deviations σ ∈ [5, 10].
/// The one-pass E[x²] − E[x]² subtracts two numbers of size offset² to get σ², losing about
/// log10(offset²/σ²) of f64's 16 digits. (The means and σ are not round numbers on purpose: with
/// an exact offset and exact σ, Σx² is an integer that f64 holds exactly, and the one-pass
/// formula comes out right by luck.)
pub fn large_offset(rng: &mut StdRng, shape: [usize; 3], offset: f64) -> Case {
    let mut x = standardized_rows(rng, shape);
    for mut row in x.lanes_mut(Axis(2)) {
        let mean = offset * (1.0 + rng.random_range(-0.1..0.1));
        let std = rng.random_range(5.0..10.0);
        row.mapv_inplace(|v| mean + std * v);
    }
    Case {
        inputs: with_parameters(rng, x, Dtype::F64),
        rows: format!("rows μ + σ·z, μ = {offset:e}·(1 ± 0.1), σ ∈ [5, 10]"),
    }
}

/// Exactly constant rows, of multiples of 1/4 so that the row mean is computed exactly: the
/// variance is exactly 0, and only ε keeps 1/√(σ² + ε) finite.
pub fn constant(rng: &mut StdRng, shape: [usize; 3]) -> Case {
    let [b, t, d] = shape;
    let levels = Array3::from_shape_fn((b, t, 1), |_| {
        f64::from(rng.random_range(-40i32..=40)) / 4.0
    });
    let x = Array3::from_shape_fn((b, t, d), |(i, j, _)| levels[(i, j, 0)]);
    Case {
        inputs: with_parameters(rng, x, Dtype::F64),
        rows: if d == 1 {
            "D = 1: every row constant".into()
        } else {
            "constant rows".into()
        },
    }
}

/// Rows `c + 10⁻⁷·z`: σ² = 10⁻¹⁴ ≪ ε, so ε sets the scale, 1/√(σ² + ε) ≈ 316, where without it
/// 1/σ = 10⁷ blows x̂ up to O(1).
pub fn near_constant(rng: &mut StdRng, shape: [usize; 3]) -> Case {
    let z = standardized_rows(rng, shape);
    let mut x = z;
    for mut row in x.lanes_mut(Axis(2)) {
        let level = 4.0 * normal(rng);
        row.mapv_inplace(|v| level + 1e-7 * v);
    }
    Case {
        inputs: with_parameters(rng, x, Dtype::F64),
        rows: "rows c + 1e-7·z".into(),
    }
}
