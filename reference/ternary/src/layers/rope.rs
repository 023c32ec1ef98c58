//! Rotary position embedding in the "rotate half" layout of Qwen3 / Hugging Face: inside each
//! head of width `h`, feature `i < h/2` is paired with feature `i + h/2` and the pair is rotated
//! by the angle `p · θ^(−2i/h)` at position `p`:
//!
//! ```text
//! a' = a·cos − b·sin,     b' = b·cos + a·sin
//! ```
//!
//! A rotation is orthogonal, so the backward pass is the rotation by the opposite angle.

use ndarray::{Array2, ArrayViewMut2, Axis};

/// `cos` and `sin` of every (position, frequency) pair.
#[derive(Debug, Clone)]
pub(crate) struct RopeTable {
    cos: Array2<f32>,
    sin: Array2<f32>,
    head_dim: usize,
}

/// Which way to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// The forward pass.
    Forward,
    /// The transpose (inverse) rotation: the backward pass.
    Inverse,
}

impl RopeTable {
    pub(crate) fn new(max_positions: usize, head_dim: usize, theta: f32) -> Self {
        let half = head_dim / 2;
        let mut cos = Array2::zeros((max_positions, half));
        let mut sin = Array2::zeros((max_positions, half));
        for p in 0..max_positions {
            for i in 0..half {
                let frequency = f64::from(theta).powf(-2.0 * i as f64 / head_dim as f64);
                let angle = p as f64 * frequency;
                cos[[p, i]] = angle.cos() as f32;
                sin[[p, i]] = angle.sin() as f32;
            }
        }
        Self { cos, sin, head_dim }
    }

    /// Rotates every head of `x` (`[batch·seq_len, n_heads·head_dim]`) in place; row `n` is at
    /// position `n mod seq_len`.
    pub(crate) fn rotate(&self, x: &mut ArrayViewMut2<f32>, seq_len: usize, rotation: Rotation) {
        let half = self.head_dim / 2;
        let sign = match rotation {
            Rotation::Forward => 1.0,
            Rotation::Inverse => -1.0,
        };
        for (n, mut row) in x.axis_iter_mut(Axis(0)).enumerate() {
            let position = n % seq_len;
            let cos = self.cos.row(position);
            let sin = self.sin.row(position);
            let row = row
                .as_slice_mut()
                .expect("activations are row-major contiguous");
            for head in row.chunks_mut(self.head_dim) {
                let (first, second) = head.split_at_mut(half);
                for i in 0..half {
                    let (a, b) = (first[i], second[i]);
                    let s = sign * sin[i];
                    first[i] = a * cos[i] - b * s;
                    second[i] = b * cos[i] + a * s;
                }
            }
        }
    }
}
