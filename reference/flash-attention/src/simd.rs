//! Compiling a kernel for the widest vector unit the CPU has.
//!
//! The crate is built for the baseline x86-64 target (SSE2), where the element-wise loops over a
//! score tile would run two f64 lanes at a time. [`simd_kernel!`] instantiates a kernel three
//! times — for AVX-512, for AVX2 + FMA, and portable — and picks one at run time, once per tile.
//! The arithmetic is identical in every instantiation (the compiler never contracts a·b + c into
//! an FMA on its own, and an explicit `mul_add` is correctly rounded everywhere), so these
//! kernels give the same results on every CPU. (The matrix products, through `gemm`, pick their
//! own kernels and may differ in the last bits between CPUs.)

/// Defines a kernel from its portable body plus the run-time dispatch to vector instantiations.
macro_rules! simd_kernel {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident<F: Float>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$attr])*
        $vis fn $name<F: Float>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable<F: Float>($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512<F: Float>($($arg: $ty),*) $(-> $ret)? {
                    portable($($arg),*)
                }

                #[target_feature(enable = "avx2,fma")]
                fn avx2<F: Float>($($arg: $ty),*) $(-> $ret)? {
                    portable($($arg),*)
                }

                use std::arch::is_x86_feature_detected as has;
                if has!("avx512f") && has!("avx2") && has!("fma") {
                    // SAFETY: the CPU has the features `avx512` is compiled for (checked on the
                    // line above), the only requirement it adds to the safe function `portable`.
                    return unsafe { avx512($($arg),*) };
                }
                if has!("avx2") && has!("fma") {
                    // SAFETY: the CPU has the features `avx2` is compiled for (checked on the
                    // line above), the only requirement it adds to the safe function `portable`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

pub(crate) use simd_kernel;
