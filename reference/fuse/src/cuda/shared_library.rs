//! Calling a compiled `fused_softmax_topk` shared library — the submission interface — on
//! buffers owned by cudarc. The library's CUDA runtime and cudarc share the device's primary
//! context, so device pointers and the stream pass straight through.
//!
//! Loading a library runs its initialisers in this process: do it for trusted code (the
//! reference, or inside the grader's sandboxed worker), never for a submission in the judge.

use std::ffi::c_int;
use std::path::{Path, PathBuf};

use cudarc::driver::sys::CUstream;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};

use super::CudaError;
use super::device::{GpuSession, Shape, run_on_device};
use crate::output::TopK;

/// `int fused_softmax_topk(const float* logits, int rows, int vocab, int k, int* top_idx,
/// float* top_prob, cudaStream_t stream)`; `cudaStream_t` and `CUstream` are the same handle.
pub type EntryPoint =
    unsafe extern "C" fn(*const f32, c_int, c_int, c_int, *mut c_int, *mut f32, CUstream) -> c_int;

/// A loaded shared library and its entry point.
pub struct SharedLibraryKernel {
    entry: EntryPoint,
    path: PathBuf,
    // Keeps the code behind `entry` mapped; declared last so it is dropped last.
    _library: libloading::Library,
}

impl SharedLibraryKernel {
    /// Loads `path` and looks up `symbol` (e.g. `fused_softmax_topk`).
    ///
    /// # Safety
    /// Runs the library's initialisers, and `symbol` must have the [`EntryPoint`] signature.
    pub unsafe fn load(path: &Path, symbol: &str) -> Result<SharedLibraryKernel, CudaError> {
        let failure = |reason: String| CudaError::SharedLibrary {
            path: path.to_path_buf(),
            reason,
        };
        // SAFETY: the caller vouches for the library (see the function's contract).
        let library =
            unsafe { libloading::Library::new(path) }.map_err(|e| failure(e.to_string()))?;
        // SAFETY: the caller vouches for the symbol's signature.
        let entry = unsafe { library.get::<EntryPoint>(symbol.as_bytes()) }
            .map(|symbol| *symbol)
            .map_err(|e| failure(e.to_string()))?;
        Ok(SharedLibraryKernel {
            entry,
            path: path.to_path_buf(),
            _library: library,
        })
    }

    /// The raw entry point, for callers that bring their own pointers (valid while `self` lives).
    /// Invalid arguments are the library's to refuse: the reference returns
    /// `cudaErrorInvalidValue` (1) for them without touching the GPU.
    pub fn entry_point(&self) -> EntryPoint {
        self.entry
    }

    /// Enqueues the library's kernel on `stream` over cudarc buffers.
    pub fn launch(
        &self,
        stream: &CudaStream,
        logits: &CudaSlice<f32>,
        shape: Shape,
        top_idx: &mut CudaSlice<i32>,
        top_prob: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        for (buffer, len, expected) in [
            ("logits", logits.len(), shape.rows * shape.vocab),
            ("top_idx", top_idx.len(), shape.rows * shape.k),
            ("top_prob", top_prob.len(), shape.rows * shape.k),
        ] {
            if len != expected {
                return Err(CudaError::BufferLength {
                    buffer,
                    len,
                    expected,
                });
            }
        }
        let as_int =
            |v: usize| c_int::try_from(v).expect("Shape bounds rows, vocab and k by i32::MAX");
        let (logits_ptr, _logits_read) = logits.device_ptr(stream);
        let (idx_ptr, _idx_write) = top_idx.device_ptr_mut(stream);
        let (prob_ptr, _prob_write) = top_prob.device_ptr_mut(stream);
        // SAFETY: the buffers are device allocations of the checked lengths, and the stream is live.
        let code = unsafe {
            (self.entry)(
                logits_ptr as *const f32,
                as_int(shape.rows),
                as_int(shape.vocab),
                as_int(shape.k),
                idx_ptr as *mut c_int,
                prob_ptr as *mut f32,
                stream.cu_stream(),
            )
        };
        if code == 0 {
            Ok(())
        } else {
            Err(CudaError::EntryPoint {
                path: self.path.clone(),
                code,
            })
        }
    }

    /// Uploads `logits`, calls the library, downloads the result.
    pub fn run(
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
            |stream, logits, shape, idx, prob| self.launch(stream, logits, shape, idx, prob),
        )
    }
}
