//! C ← β·C + α·A B on ndarray views, through the `gemm` crate.
//!
//! Why `gemm` and not ndarray's `dot` (matrixmultiply): the products here are tile-sized
//! (128 × 64 · 64 × 128 and 128 × 128 · 128 × 64), where matrixmultiply spends a large share of
//! its time packing both operands of every product into freshly allocated buffers; `gemm` packs
//! only what its heuristics call for, into a per-thread buffer (about the size of the L2 cache,
//! allocated once per thread). On the development machine (AVX-512) it ran the tile products
//! 1.2–2× faster and whole passes 13–27% faster. `benches/flash.rs`
//! measures both. Public so that the benchmark can measure the machine's rate through exactly
//! this path.

use ndarray::ArrayRef2;

use crate::Float;

/// C ← β·C + α·A B (C is overwritten, not read, when β = 0).
///
/// Panics if the shapes do not agree, as ndarray's `general_mat_mul` does (the kernels slice A,
/// B and C from the same tiles, so a mismatch there is a bug, not bad input).
pub fn matmul<F: Float>(
    alpha: F,
    a: &ArrayRef2<F>,
    b: &ArrayRef2<F>,
    beta: F,
    c: &mut ArrayRef2<F>,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul shapes {:?} · {:?} → {:?}",
        a.dim(),
        b.dim(),
        c.dim()
    );
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the pointers and strides describe the three views exactly, and the shapes were
    // checked above, so gemm reads and writes only elements of those views. C is a unique
    // borrow, so it overlaps neither A nor B. `F` is f32 or f64 (the trait is sealed), both of
    // which gemm supports.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            beta != F::zero(),
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, s};

    use super::*;

    #[test]
    fn matches_ndarray_dot_for_every_layout_and_beta() {
        let a = Array2::from_shape_fn((7, 5), |(i, j)| (i * 5 + j) as f64 * 0.25 - 3.0);
        let b = Array2::from_shape_fn((5, 9), |(i, j)| (i as f64 - j as f64) * 0.5);
        let c0 = Array2::from_shape_fn((7, 9), |(i, j)| (i + 2 * j) as f64);
        let a_t = a.t().to_owned();
        let b_t = b.t().to_owned();
        for (a, b) in [
            (a.view(), b.view()),
            (a_t.t(), b_t.t()),
            (a.view(), b_t.t()),
        ] {
            for beta in [0.0, 1.0] {
                let mut c = c0.clone();
                matmul(2.0, &a, &b, beta, &mut c);
                let expected = &c0 * beta + &(a.dot(&b) * 2.0);
                assert_eq!(c, expected);
            }
        }
        // Writing into a sub-block of a larger buffer, as the kernels do.
        let mut big = Array2::<f64>::from_elem((10, 12), f64::NAN);
        matmul(1.0, &a, &b, 0.0, &mut big.slice_mut(s![..7, ..9]));
        assert_eq!(big.slice(s![..7, ..9]), a.dot(&b));
        assert!(big.slice(s![7.., ..]).iter().all(|x| x.is_nan()));
    }
}
