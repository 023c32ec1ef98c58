//! Token embedding: row `id` of the (ternary) table `E` `[vocab, d_model]`. It is the linear map
//! of a one-hot vector, so its gradient is a scatter-add: `∂L/∂E[id] += ∂L/∂y[n]` for every
//! position `n` holding `id`.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

/// Callers guarantee `ids[n] < table.nrows()`.
pub(crate) fn forward(table: ArrayView2<f32>, ids: &[usize]) -> Array2<f32> {
    table.select(Axis(0), ids)
}

pub(crate) fn backward(ids: &[usize], dy: ArrayView2<f32>, d_table: &mut ArrayViewMut2<f32>) {
    for (&id, dy_row) in ids.iter().zip(dy.axis_iter(Axis(0))) {
        let mut row = d_table.row_mut(id);
        row += &dy_row;
    }
}
