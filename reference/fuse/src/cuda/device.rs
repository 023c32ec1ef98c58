//! Running the kernels on a GPU through cudarc: open the device, load the PTX, launch, copy back.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

use super::CudaError;
use super::compiler::{ComputeCapability, PtxCompiler, panic_text};
use super::source::{BLOCK_THREADS, KernelUnit, MAX_K};
use crate::error::check_shape;
use crate::output::TopK;

/// One GPU and the stream the work goes on.
pub struct GpuSession {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
}

impl GpuSession {
    /// Opens device `ordinal`. No driver library, no device, or a driver that refuses to start
    /// is [`CudaError::GpuUnavailable`] (a grader reports it as SKIPPED), never a panic.
    pub fn open(ordinal: usize) -> Result<GpuSession, CudaError> {
        // SAFETY: only tries to dlopen libcuda by its candidate names.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(CudaError::GpuUnavailable {
                reason: "libcuda.so is not installed (no NVIDIA driver)".into(),
            });
        }
        // cudarc panics when a driver symbol it needs is missing (a very old driver).
        let context = match catch_unwind(AssertUnwindSafe(|| CudaContext::new(ordinal))) {
            Ok(Ok(context)) => context,
            Ok(Err(error)) => {
                return Err(CudaError::GpuUnavailable {
                    reason: format!("the CUDA driver cannot open device {ordinal}: {error}"),
                });
            }
            Err(panic) => {
                return Err(CudaError::GpuUnavailable {
                    reason: format!("the CUDA driver failed to load: {}", panic_text(&panic)),
                });
            }
        };
        let stream = context.default_stream();
        Ok(GpuSession { context, stream })
    }

    /// The device's compute capability, the target its kernels are compiled for.
    pub fn compute_capability(&self) -> Result<ComputeCapability, CudaError> {
        let (major, minor) = self.context.compute_capability()?;
        let to_u32 = |v: i32| {
            u32::try_from(v).expect("the driver reports a non-negative compute capability")
        };
        Ok(ComputeCapability {
            major: to_u32(major),
            minor: to_u32(minor),
        })
    }

    /// Bytes the device's L2 cache holds: a timed run is preceded by writing more than this, so
    /// that no input is served from the cache.
    pub fn l2_cache_bytes(&self) -> Result<u64, CudaError> {
        let bytes = self.context.attribute(
            cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE,
        )?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Free device memory as the driver reports it (for every process on the device).
    pub fn free_memory(&self) -> Result<u64, CudaError> {
        Ok(self.context.mem_get_info()?.0 as u64)
    }

    /// Allocates device memory until at most `leave` bytes are free (to within one 2 MiB
    /// page per chunk), and holds it until the reservation is dropped: whatever runs on the
    /// device meanwhile, in any process, cannot allocate more than what is left.
    pub fn reserve_all_but(&self, leave: u64) -> Result<Reservation, CudaError> {
        const PAGE: u64 = 2 << 20;
        let mut reservation = Reservation {
            context: self.context.clone(),
            blocks: Vec::new(),
        };
        let mut chunk: u64 = 4 << 30;
        loop {
            let want = self.free_memory()?.saturating_sub(leave);
            if want < PAGE {
                return Ok(reservation);
            }
            chunk = chunk.min(want / PAGE * PAGE).max(PAGE);
            self.context.bind_to_thread()?;
            // SAFETY: plain device allocation in a bound context; freed by the reservation.
            match unsafe { cudarc::driver::result::malloc_sync(chunk as usize) } {
                Ok(block) => reservation.blocks.push(block),
                Err(_) if chunk > PAGE => chunk /= 2,
                Err(_) => return Ok(reservation),
            }
        }
    }

    /// The device name as the driver reports it.
    pub fn device_name(&self) -> Result<String, CudaError> {
        Ok(self.context.name()?)
    }

    /// The CUDA context of the device, for callers that allocate their own buffers.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.context
    }

    /// The stream all work of this session goes on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
}

/// Device memory held by [`GpuSession::reserve_all_but`], freed on drop.
pub struct Reservation {
    context: Arc<CudaContext>,
    blocks: Vec<cudarc::driver::sys::CUdeviceptr>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.context.bind_to_thread().is_ok() {
            for block in self.blocks.drain(..) {
                // SAFETY: each block came from malloc_sync in this context and is freed once.
                let _ = unsafe { cudarc::driver::result::free_sync(block) };
            }
        }
    }
}

/// The fused kernel and the naive pair, compiled for one device and loaded.
pub struct FuseKernels {
    fused: CudaFunction,
    naive_softmax: CudaFunction,
    naive_topk: CudaFunction,
    compiler: PtxCompiler,
}

impl FuseKernels {
    /// Compiles both kernel units with `compiler` for the session's GPU and loads them.
    pub fn load(session: &GpuSession, compiler: PtxCompiler) -> Result<FuseKernels, CudaError> {
        let target = session.compute_capability()?;
        let fused = session
            .context
            .load_module(compiler.compile(KernelUnit::Fused, target)?)?;
        let naive = session
            .context
            .load_module(compiler.compile(KernelUnit::Naive, target)?)?;
        Ok(FuseKernels {
            fused: fused.load_function("fused_softmax_topk_kernel")?,
            naive_softmax: naive.load_function("naive_softmax_kernel")?,
            naive_topk: naive.load_function("naive_topk_kernel")?,
            compiler,
        })
    }

    /// The compiler the PTX came from.
    pub fn compiler(&self) -> &PtxCompiler {
        &self.compiler
    }

    /// Enqueues the fused kernel on `stream`: `logits` [rows, vocab] → `top_idx`, `top_prob` [rows, k].
    pub fn launch_fused(
        &self,
        stream: &CudaStream,
        logits: &CudaSlice<f32>,
        shape: Shape,
        top_idx: &mut CudaSlice<i32>,
        top_prob: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let (vocab, k) = shape.check_device(logits, top_idx, top_prob)?;
        if shape.rows == 0 {
            return Ok(()); // an empty grid is a launch error, and there is nothing to do
        }
        let mut launch = stream.launch_builder(&self.fused);
        launch
            .arg(logits)
            .arg(&vocab)
            .arg(&k)
            .arg(top_idx)
            .arg(top_prob);
        // SAFETY: argument types and order match fused_softmax_topk_kernel; buffer lengths checked above.
        unsafe { launch.launch(shape.launch_config()) }?;
        Ok(())
    }

    /// Enqueues the naive baseline: softmax into `probs` [rows, vocab], then top-k from it.
    pub fn launch_naive(
        &self,
        stream: &CudaStream,
        logits: &CudaSlice<f32>,
        shape: Shape,
        probs: &mut CudaSlice<f32>,
        top_idx: &mut CudaSlice<i32>,
        top_prob: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let (vocab, k) = shape.check_device(logits, top_idx, top_prob)?;
        if shape.rows == 0 {
            return Ok(()); // an empty grid is a launch error, and there is nothing to do
        }
        if probs.len() != logits.len() {
            return Err(CudaError::BufferLength {
                buffer: "probs",
                len: probs.len(),
                expected: logits.len(),
            });
        }
        let mut softmax = stream.launch_builder(&self.naive_softmax);
        softmax.arg(logits).arg(&vocab).arg(&mut *probs);
        // SAFETY: argument types and order match naive_softmax_kernel; lengths checked above.
        unsafe { softmax.launch(shape.launch_config()) }?;
        let mut select = stream.launch_builder(&self.naive_topk);
        select
            .arg(&*probs)
            .arg(&vocab)
            .arg(&k)
            .arg(top_idx)
            .arg(top_prob);
        // SAFETY: argument types and order match naive_topk_kernel; lengths checked above.
        unsafe { select.launch(shape.launch_config()) }?;
        Ok(())
    }

    /// Uploads `logits`, runs the fused kernel, downloads the result.
    pub fn run_fused(
        &self,
        session: &GpuSession,
        logits: &[f32],
        rows: usize,
        vocab: usize,
        k: usize,
    ) -> Result<TopK, CudaError> {
        run_on_device(
            session,
            logits,
            rows,
            vocab,
            k,
            |stream, logits, shape, idx, prob| self.launch_fused(stream, logits, shape, idx, prob),
        )
    }

    /// Uploads `logits`, runs the naive baseline, downloads the result.
    pub fn run_naive(
        &self,
        session: &GpuSession,
        logits: &[f32],
        rows: usize,
        vocab: usize,
        k: usize,
    ) -> Result<TopK, CudaError> {
        run_on_device(
            session,
            logits,
            rows,
            vocab,
            k,
            |stream, logits, shape, idx, prob| {
                // The baseline's full softmax buffer: exactly what the fused kernel avoids.
                let mut probs = stream.alloc_zeros::<f32>(shape.rows * shape.vocab)?;
                self.launch_naive(stream, logits, shape, &mut probs, idx, prob)
            },
        )
    }
}

/// A validated problem shape: `[rows, vocab]` in, `[rows, k]` out, 1 ≤ k ≤ min(vocab, 256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows of logits.
    pub rows: usize,
    /// Columns of logits (vocabulary size).
    pub vocab: usize,
    /// Entries kept per row.
    pub k: usize,
}

impl Shape {
    /// Checks a host buffer against the shape and the kernel's limits.
    pub fn new(logits: &[f32], rows: usize, vocab: usize, k: usize) -> Result<Shape, CudaError> {
        check_shape(logits, rows, vocab, k)?;
        Shape::without_data(rows, vocab, k)
    }

    /// Checks the shape alone (for buffers that only live on the device).
    pub fn without_data(rows: usize, vocab: usize, k: usize) -> Result<Shape, CudaError> {
        if k == 0 || k > vocab {
            return Err(crate::FuseError::InvalidK { k, vocab }.into());
        }
        if k > MAX_K {
            return Err(CudaError::KTooLarge { k, max: MAX_K });
        }
        // One block per row (grid x), column indices and vocab as C int.
        if i32::try_from(rows).is_err() || i32::try_from(vocab).is_err() {
            return Err(CudaError::TooLarge { rows, vocab });
        }
        Ok(Shape { rows, vocab, k })
    }

    /// `(vocab, k)` as the kernels' `int` arguments, after checking the device buffer lengths.
    fn check_device(
        self,
        logits: &CudaSlice<f32>,
        top_idx: &CudaSlice<i32>,
        top_prob: &CudaSlice<f32>,
    ) -> Result<(i32, i32), CudaError> {
        let expect = |buffer: &'static str, len: usize, expected: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(CudaError::BufferLength {
                    buffer,
                    len,
                    expected,
                })
            }
        };
        expect("logits", logits.len(), self.rows * self.vocab)?;
        expect("top_idx", top_idx.len(), self.rows * self.k)?;
        expect("top_prob", top_prob.len(), self.rows * self.k)?;
        let as_int = |v: usize| {
            i32::try_from(v).expect("Shape::without_data bounds vocab and k by i32::MAX")
        };
        Ok((as_int(self.vocab), as_int(self.k)))
    }

    /// One block of [`BLOCK_THREADS`] per row, static shared memory only.
    pub fn launch_config(self) -> LaunchConfig {
        let rows = u32::try_from(self.rows).expect("Shape::without_data bounds rows by i32::MAX");
        LaunchConfig {
            grid_dim: (rows, 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// Copies `[rows, k]` results back (synchronising the stream).
/// Uploads `logits`, lets `launch` fill freshly allocated `[rows, k]` index and probability
/// buffers, and downloads them: the one host-side path of every kernel (ours, the baseline, a
/// submission's library). No rows means no launch.
pub fn run_on_device(
    session: &GpuSession,
    logits: &[f32],
    rows: usize,
    vocab: usize,
    k: usize,
    launch: impl FnOnce(
        &Arc<CudaStream>,
        &CudaSlice<f32>,
        Shape,
        &mut CudaSlice<i32>,
        &mut CudaSlice<f32>,
    ) -> Result<(), CudaError>,
) -> Result<TopK, CudaError> {
    let shape = Shape::new(logits, rows, vocab, k)?;
    if rows == 0 {
        return Ok(TopK {
            rows,
            k,
            indices: Vec::new(),
            probs: Vec::new(),
        });
    }
    let stream = session.stream();
    let device_logits = stream.clone_htod(logits)?;
    let mut top_idx = stream.alloc_zeros::<i32>(rows * k)?;
    let mut top_prob = stream.alloc_zeros::<f32>(rows * k)?;
    launch(stream, &device_logits, shape, &mut top_idx, &mut top_prob)?;
    download(stream, shape, &top_idx, &top_prob)
}

/// Copies `[rows, k]` results back to the host.
pub fn download(
    stream: &Arc<CudaStream>,
    shape: Shape,
    top_idx: &CudaSlice<i32>,
    top_prob: &CudaSlice<f32>,
) -> Result<TopK, CudaError> {
    Ok(TopK {
        rows: shape.rows,
        k: shape.k,
        indices: stream.clone_dtoh(top_idx)?,
        probs: stream.clone_dtoh(top_prob)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FuseError;

    #[test]
    fn shapes_outside_the_kernel_limits_are_refused_before_any_launch() {
        assert!(matches!(
            Shape::without_data(4, 1000, 257),
            Err(CudaError::KTooLarge { k: 257, max: 256 })
        ));
        assert!(matches!(
            Shape::without_data(4, 10, 11),
            Err(CudaError::Shape(FuseError::InvalidK { k: 11, vocab: 10 }))
        ));
        assert!(matches!(
            Shape::without_data(1 << 31, 10, 1),
            Err(CudaError::TooLarge { .. })
        ));
        assert!(matches!(
            Shape::new(&[0.0; 5], 2, 3, 1),
            Err(CudaError::Shape(FuseError::ShapeMismatch { .. }))
        ));
        let shape = Shape::without_data(4096, 151_936, 256).expect("within the limits");
        assert_eq!(shape.launch_config().grid_dim, (4096, 1, 1));
        assert_eq!(shape.launch_config().block_dim, (BLOCK_THREADS, 1, 1));
    }
}
