//! The result every implementation returns: k indices and k probabilities per row, best first.

/// Row-major `[rows, k]` indices (i32, as the C interface's `int* top_idx`) and probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    /// Rows of the result.
    pub rows: usize,
    /// Entries per row.
    pub k: usize,
    /// Column of each entry, `[rows, k]` row-major, best first.
    pub indices: Vec<i32>,
    /// Softmax probability of each entry, `[rows, k]` row-major.
    pub probs: Vec<f32>,
}

/// The first place where two results disagree beyond the tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Row of the disagreement.
    pub row: usize,
    /// Position within the row's top-k (0 = best).
    pub rank: usize,
    /// Index in the expected result.
    pub expected_index: i32,
    /// Index in the actual result (−1 when it has no entry there).
    pub actual_index: i32,
    /// Probability in the expected result.
    pub expected_prob: f32,
    /// Probability in the actual result (NaN when it has no entry there).
    pub actual_prob: f32,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {} rank {}: expected index {} (p = {:e}), got index {} (p = {:e})",
            self.row,
            self.rank,
            self.expected_index,
            self.expected_prob,
            self.actual_index,
            self.actual_prob
        )
    }
}

impl TopK {
    /// The indices and probabilities of one row.
    pub fn row(&self, row: usize) -> (&[i32], &[f32]) {
        let span = row * self.k..(row + 1) * self.k;
        (&self.indices[span.clone()], &self.probs[span])
    }

    /// Compares with `actual`: indices must be equal (the order is defined exactly, ties by lower
    /// index) and each probability within `abs_tol + rel_tol · |expected|`.
    ///
    /// Returns the first mismatch, or `None` when they agree. Shapes must match; a result with a
    /// different shape reports its first row as the mismatch.
    pub fn first_mismatch(&self, actual: &TopK, abs_tol: f32, rel_tol: f32) -> Option<Mismatch> {
        let mismatch_at = |row: usize, rank: usize| {
            let at = row * self.k + rank;
            Mismatch {
                row,
                rank,
                expected_index: self.indices[at],
                actual_index: actual.indices.get(at).copied().unwrap_or(-1),
                expected_prob: self.probs[at],
                actual_prob: actual.probs.get(at).copied().unwrap_or(f32::NAN),
            }
        };
        if (self.rows, self.k) != (actual.rows, actual.k)
            || actual.indices.len() != self.indices.len()
            || actual.probs.len() != self.probs.len()
        {
            return (self.rows > 0).then(|| mismatch_at(0, 0));
        }
        (0..self.rows * self.k).find_map(|at| {
            let (expected_p, actual_p) = (self.probs[at], actual.probs[at]);
            let prob_ok = (expected_p - actual_p).abs() <= abs_tol + rel_tol * expected_p.abs();
            (self.indices[at] != actual.indices[at] || !prob_ok)
                .then(|| mismatch_at(at / self.k, at % self.k))
        })
    }
}
