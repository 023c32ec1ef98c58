//! The element types the kernels accept: `f32` and `f64`.
//!
//! Accumulation happens in the element type. That is enough here: every quantity the recurrence
//! accumulates is a sum of non-negative terms bounded by the row's largest term (l ≥ 1 after the
//! first visible key, O is a convex combination of rows of V), so no cancellation builds up.

use ndarray::NdFloat;

use crate::exp;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type of the attention kernels (implemented for `f32` and `f64`).
///
/// `NdFloat` brings arithmetic, `exp`/`ln`/`sqrt` (through `num_traits::Float`) and the
/// matrix-multiply path; this trait adds the two things the kernels need beyond it.
pub trait Float: NdFloat + sealed::Sealed {
    /// e^x through a branch-free polynomial that loops can vectorise (`src/exp.rs` explains it).
    fn exp_vectorizable(self) -> Self;

    /// Converts a constant computed in `f64` (e.g. the softmax scale 1/√D).
    fn from_f64(x: f64) -> Self;
}

impl Float for f64 {
    #[inline(always)]
    fn exp_vectorizable(self) -> Self {
        exp::exp_f64(self)
    }

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
}

impl Float for f32 {
    #[inline(always)]
    fn exp_vectorizable(self) -> Self {
        exp::exp_f32(self)
    }

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}
