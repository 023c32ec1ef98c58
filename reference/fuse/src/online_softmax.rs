//! The running normaliser of a softmax, computed in one pass (Milakov & Gimelshein, 2018).
//!
//! For a row x₁…x_n the softmax needs m = max xᵢ and l = Σ exp(xᵢ − m). Both can be carried
//! along while streaming: after seeing a prefix we hold (m, l) with l = Σ_{seen} exp(xᵢ − m).
//! When a new maximum m' > m arrives every term seen so far must be rescaled,
//!
//! ```text
//! l' = l · exp(m − m') + exp(x − m')        (note the sign: m − m' ≤ 0, the factor is ≤ 1)
//! ```
//!
//! and two partial states (of two threads, warps, chunks) combine the same way:
//!
//! ```text
//! m = max(m_a, m_b),   l = l_a · exp(m_a − m) + l_b · exp(m_b − m).
//! ```
//!
//! Trap: writing `exp(m' − m)` (the rescale in the wrong direction) overflows for large logits
//! and is wrong for all of them. Another: −inf entries make `exp(−inf − (−inf))` = NaN, so
//! entries equal to −inf are skipped and a state whose maximum is still −inf merges as empty.

/// Running maximum `max` and the sum `sum` = Σ exp(xᵢ − max) over the entries seen so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnlineSoftmax {
    /// Largest logit seen so far (−inf before any finite one).
    pub max: f32,
    /// Σ exp(xᵢ − max), accumulated in f64 so the reference is more accurate than any f32 kernel.
    pub sum: f64,
}

impl Default for OnlineSoftmax {
    fn default() -> Self {
        Self::new()
    }
}

impl OnlineSoftmax {
    /// The state of an empty prefix: no maximum yet, nothing summed.
    pub fn new() -> Self {
        Self {
            max: f32::NEG_INFINITY,
            sum: 0.0,
        }
    }

    /// Adds one logit: l ← l·exp(m − m') + exp(x − m') with m' = max(m, x).
    pub fn push(&mut self, x: f32) {
        if x == f32::NEG_INFINITY {
            return; // exp(−inf − m) = 0 contributes nothing
        }
        if x > self.max {
            self.sum = self.sum * rescale_factor(self.max, x) + 1.0;
            self.max = x;
        } else {
            self.sum += f64::from(x - self.max).exp();
        }
    }

    /// Combines two partial states as a warp shuffle or a block reduction does on the GPU.
    pub fn merge(self, other: Self) -> Self {
        let max = self.max.max(other.max);
        if max == f32::NEG_INFINITY {
            return Self::new();
        }
        let sum =
            self.sum * rescale_factor(self.max, max) + other.sum * rescale_factor(other.max, max);
        Self { max, sum }
    }

    /// The softmax probability of logit `x` under this normaliser: exp(x − m) / l.
    ///
    /// Defined only once a finite logit has been seen (`max > −inf`).
    pub fn probability(&self, x: f32) -> f32 {
        (f64::from(x - self.max).exp() / self.sum) as f32
    }

    /// True when every entry seen was −inf, so exp(x − m)/l is 0/0.
    pub fn is_all_neg_inf(&self) -> bool {
        self.max == f32::NEG_INFINITY
    }
}

/// exp(m_old − m_new): the factor that moves a sum taken relative to `m_old` to `m_new ≥ m_old`.
/// An empty state (m_old = −inf) has sum 0, and the factor is 0 rather than NaN.
fn rescale_factor(m_old: f32, m_new: f32) -> f64 {
    if m_old == f32::NEG_INFINITY {
        0.0
    } else {
        f64::from(m_old - m_new).exp()
    }
}
