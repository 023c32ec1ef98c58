//! Cutting (B, H, N, D) arrays into heads and heads into row tiles, and the causal structure of a
//! (query tile, key tile) block.

use ndarray::{
    ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3,
    ArrayViewMut4,
};

/// The half-open row range `start..end` of one tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub start: usize,
    pub end: usize,
}

impl Tile {
    pub fn len(self) -> usize {
        self.end - self.start
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// The tiles of a length-`n` axis: `size` rows each, the last one shorter when `size` does not
/// divide `n` (and the only one, shorter than `size`, when n < size).
pub fn tiles(n: usize, size: usize) -> impl Iterator<Item = Tile> + Clone {
    (0..n).step_by(size).map(move |start| Tile {
        start,
        end: (start + size).min(n),
    })
}

/// How much of a (query tile, key tile) block of scores a query may attend to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every key of the block is visible to every query.
    Full,
    /// The block straddles the diagonal: key j is visible to query i only when j ≤ i.
    Partial,
    /// Wholly above the diagonal (every key comes after every query): skipped, it contributes
    /// nothing to O, L or any gradient.
    Hidden,
}

/// The visibility of the block `queries × keys`; without causal masking every block is `Full`.
pub fn block_visibility(queries: Tile, keys: Tile, causal: bool) -> Visibility {
    let last_query = queries.end - 1;
    if !causal || keys.end - 1 <= queries.start {
        Visibility::Full
    } else if keys.start > last_query {
        Visibility::Hidden
    } else {
        Visibility::Partial
    }
}

/// Sets to −∞ the scores of a `Partial` block whose key comes after its query
/// (key index j > query index i), so that their probability exp(S − m) is exactly 0.
pub fn mask_future_keys<F: crate::Float>(scores: &mut ArrayViewMut2<F>, queries: Tile, keys: Tile) {
    for (query, mut row) in queries.range().zip(scores.rows_mut()) {
        let first_future_key = (query + 1).saturating_sub(keys.start).min(row.len());
        row.slice_mut(ndarray::s![first_future_key..])
            .fill(F::neg_infinity());
    }
}

/// The (N, D) matrices of a (B, H, N, D) array, batch-major.
pub fn heads<F>(x: ArrayView4<'_, F>) -> impl Iterator<Item = ArrayView2<'_, F>> {
    x.into_outer_iter()
        .flat_map(|batch| batch.into_outer_iter())
}

/// The (N, D) matrices of a (B, H, N, D) array, batch-major, for writing.
pub fn heads_mut<F>(x: ArrayViewMut4<'_, F>) -> impl Iterator<Item = ArrayViewMut2<'_, F>> {
    x.into_outer_iter_mut()
        .flat_map(|batch| batch.into_outer_iter_mut())
}

/// The (N,) vectors of a (B, H, N) array, batch-major.
pub fn head_rows<F>(x: ArrayView3<'_, F>) -> impl Iterator<Item = ArrayView1<'_, F>> {
    x.into_outer_iter()
        .flat_map(|batch| batch.into_outer_iter())
}

/// The (N,) vectors of a (B, H, N) array, batch-major, for writing.
pub fn head_rows_mut<F>(x: ArrayViewMut3<'_, F>) -> impl Iterator<Item = ArrayViewMut1<'_, F>> {
    x.into_outer_iter_mut()
        .flat_map(|batch| batch.into_outer_iter_mut())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_once_with_a_short_last_tile() {
        let got: Vec<_> = tiles(10, 4).map(Tile::range).collect();
        assert_eq!(got, vec![0..4, 4..8, 8..10]);
        assert_eq!(tiles(3, 8).map(Tile::range).collect::<Vec<_>>(), vec![0..3]);
        assert_eq!(tiles(0, 8).count(), 0);
    }

    #[test]
    fn causal_blocks_are_classified_against_the_diagonal() {
        let t = |start, end| Tile { start, end };
        assert_eq!(block_visibility(t(4, 8), t(0, 4), true), Visibility::Full);
        assert_eq!(
            block_visibility(t(4, 8), t(4, 8), true),
            Visibility::Partial
        );
        assert_eq!(
            block_visibility(t(4, 8), t(8, 12), true),
            Visibility::Hidden
        );
        // Unequal tiles: key 7 is visible to query 7 only.
        assert_eq!(
            block_visibility(t(4, 8), t(7, 12), true),
            Visibility::Partial
        );
        assert_eq!(block_visibility(t(4, 8), t(8, 12), false), Visibility::Full);
    }

    #[test]
    fn mask_hides_exactly_the_future_keys() {
        let mut scores = ndarray::Array2::<f64>::zeros((3, 4));
        mask_future_keys(
            &mut scores.view_mut(),
            Tile { start: 5, end: 8 },
            Tile { start: 4, end: 8 },
        );
        let visible = scores.mapv(|s| s.is_finite());
        for (r, row) in visible.rows().into_iter().enumerate() {
            for (c, &is_visible) in row.iter().enumerate() {
                assert_eq!(is_visible, 4 + c <= 5 + r, "query {} key {}", 5 + r, 4 + c);
            }
        }
    }
}
