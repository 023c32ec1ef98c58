//! Output buffers that are reused across calls when they already have the right shape.
//!
//! A fresh multi-megabyte output is backed by fresh pages, and the kernel zeroing them on first
//! touch costs more than the LayerNorm arithmetic itself; a training loop reuses its buffers.

use ndarray::{Array, Array1, Dimension};

/// The contiguous data of `array`, first replaced by zeros of `shape` unless it already has
/// that shape in standard layout.
pub(crate) fn reshaped_buffer<D: Dimension>(array: &mut Array<f64, D>, shape: D) -> &mut [f64] {
    if array.raw_dim() != shape || !array.is_standard_layout() {
        *array = Array::zeros(shape);
    }
    array
        .as_slice_mut()
        .expect("standard layout was ensured just above")
}

/// The contiguous data of a vector this crate built itself.
pub(crate) fn as_slice(vector: &Array1<f64>) -> &[f64] {
    vector
        .as_slice()
        .expect("vectors built by this crate are contiguous")
}
