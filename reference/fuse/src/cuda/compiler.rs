//! Turning the kernel sources into something a GPU runs: PTX through NVRTC (in process, when
//! libnvrtc can be loaded) or through `nvcc -ptx`, and shared libraries through `nvcc -shared`.
//! Neither needs a GPU, so the compile checks run on CPU-only machines.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;

use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use super::CudaError;
use super::source::{HostEntry, KernelUnit, write_sources};

/// A GPU generation, as (major, minor) compute capability. PTX for an older one is JIT-compiled
/// by the driver for newer GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputeCapability {
    /// Major version: 9 for Hopper, 8 for Ampere/Ada, ….
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl ComputeCapability {
    /// sm_75 (Turing): the oldest target CUDA 13 compilers accept, so PTX for it loads anywhere.
    pub const PORTABLE: ComputeCapability = ComputeCapability { major: 7, minor: 5 };

    /// `compute_XY`, the virtual architecture PTX is written for.
    pub fn virtual_arch(self) -> String {
        format!("compute_{}{}", self.major, self.minor)
    }

    /// `sm_XY`, the real architecture of a shared-library build.
    pub fn real_arch(self) -> String {
        format!("sm_{}{}", self.major, self.minor)
    }
}

/// Which compiler produces the PTX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PtxCompiler {
    /// NVRTC, loaded at run time by cudarc (`libnvrtc.so*` on the loader path).
    Nvrtc,
    /// An `nvcc` executable.
    Nvcc(PathBuf),
}

impl std::fmt::Display for PtxCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PtxCompiler::Nvrtc => write!(f, "NVRTC"),
            PtxCompiler::Nvcc(path) => write!(f, "nvcc ({})", path.display()),
        }
    }
}

impl PtxCompiler {
    /// NVRTC when its library loads, else `nvcc` (see [`find_nvcc`]); the error says why neither.
    pub fn detect(explicit_nvcc: Option<&Path>) -> Result<PtxCompiler, CudaError> {
        let nvrtc = match nvrtc_available() {
            Ok(()) => return Ok(PtxCompiler::Nvrtc),
            Err(reason) => reason,
        };
        match find_nvcc(explicit_nvcc) {
            Some(nvcc) => Ok(PtxCompiler::Nvcc(nvcc)),
            None => Err(CudaError::CompilerUnavailable {
                reason: format!(
                    "{nvrtc}; and no nvcc (looked at the given path, $CUDA_HOME, $CUDA_PATH, $PATH, /usr/local/cuda)"
                ),
            }),
        }
    }

    /// Compiles one kernel unit to PTX for `target`.
    pub fn compile(&self, unit: KernelUnit, target: ComputeCapability) -> Result<Ptx, CudaError> {
        match self {
            PtxCompiler::Nvrtc => compile_with_nvrtc(unit, target),
            PtxCompiler::Nvcc(nvcc) => compile_with_nvcc(nvcc, unit, target),
        }
    }
}

/// Whether cudarc can load libnvrtc. cudarc panics on first use when it cannot, so ask first.
/// It looks for `libnvrtc.so`, `libnvrtc.so.12`, `.11`, … — a CUDA 13 install that only has
/// `libnvrtc.so.13` needs a `libnvrtc.so` link on `LD_LIBRARY_PATH`.
pub fn nvrtc_available() -> Result<(), String> {
    // SAFETY: only tries to dlopen the library by its candidate names.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err("libnvrtc could not be loaded (none of libnvrtc.so, libnvrtc.so.12, … on the loader path)".into())
    }
}

/// The first nvcc among: `explicit`, `$CUDA_HOME/bin/nvcc`, `$CUDA_PATH/bin/nvcc`, `nvcc` on
/// `$PATH`, `/usr/local/cuda/bin/nvcc`.
pub fn find_nvcc(explicit: Option<&Path>) -> Option<PathBuf> {
    let from_env =
        |var: &str| std::env::var_os(var).map(|root| PathBuf::from(root).join("bin").join("nvcc"));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nvcc"));
    explicit
        .map(Path::to_path_buf)
        .into_iter()
        .chain(from_env("CUDA_HOME"))
        .chain(from_env("CUDA_PATH"))
        .chain(on_path)
        .chain(std::iter::once(PathBuf::from("/usr/local/cuda/bin/nvcc")))
        .find(|candidate| candidate.is_file())
}

fn compile_with_nvrtc(unit: KernelUnit, target: ComputeCapability) -> Result<Ptx, CudaError> {
    nvrtc_available().map_err(|reason| CudaError::CompilerUnavailable { reason })?;
    let options = CompileOptions {
        name: Some(unit.file_name().to_string()),
        options: vec![
            format!("--gpu-architecture={}", target.virtual_arch()),
            "--std=c++17".into(),
        ],
        ..Default::default()
    };
    let source = unit.self_contained_source();
    // cudarc unwraps some NVRTC results internally; a panic there is a broken NVRTC install.
    match catch_unwind(AssertUnwindSafe(|| compile_ptx_with_opts(&source, options))) {
        Ok(Ok(ptx)) => Ok(ptx),
        Ok(Err(error)) => Err(CudaError::Nvrtc {
            file: unit.file_name(),
            log: nvrtc_log(&error),
        }),
        Err(panic) => Err(CudaError::CompilerUnavailable {
            reason: format!("NVRTC panicked: {}", panic_text(&panic)),
        }),
    }
}

fn nvrtc_log(error: &cudarc::nvrtc::CompileError) -> String {
    match error {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
        other => format!("{other}"),
    }
}

fn compile_with_nvcc(
    nvcc: &Path,
    unit: KernelUnit,
    target: ComputeCapability,
) -> Result<Ptx, CudaError> {
    let workdir = tempfile::tempdir().map_err(|e| CudaError::Io {
        what: "a temporary directory".into(),
        message: e.to_string(),
    })?;
    write_sources(workdir.path()).map_err(|e| CudaError::Io {
        what: "the CUDA sources".into(),
        message: e.to_string(),
    })?;
    let ptx_path = workdir.path().join("kernel.ptx");
    let mut command = Command::new(nvcc);
    command
        .current_dir(workdir.path())
        .arg("--ptx")
        .arg(format!("--gpu-architecture={}", target.virtual_arch()))
        .args(["-Werror", "all-warnings", "-o"])
        .arg(&ptx_path)
        .arg(unit.file_name());
    run_nvcc(&mut command)?;
    let text = std::fs::read_to_string(&ptx_path).map_err(|e| CudaError::Io {
        what: ptx_path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(Ptx::from_src(text))
}

/// Builds `lib<symbol>.so` in `out_dir` from the entry point's host file (sources written to
/// `out_dir/src`) with [`compile_shared_library`].
pub fn build_shared_library(
    nvcc: &Path,
    entry: HostEntry,
    target: ComputeCapability,
    out_dir: &Path,
) -> Result<PathBuf, CudaError> {
    let sources = out_dir.join("src");
    write_sources(&sources).map_err(|e| CudaError::Io {
        what: sources.display().to_string(),
        message: e.to_string(),
    })?;
    let library = out_dir.join(format!("lib{}.so", entry.symbol()));
    compile_shared_library(nvcc, &sources.join(entry.file_name()), target, &library)?;
    Ok(library)
}

/// `nvcc -shared -Xcompiler -fPIC -arch=sm_XY -Werror all-warnings -o output source`, run in the
/// source's directory (so its relative `#include`s resolve): how a `.cu` exporting the C
/// interface — the reference's or a submission's — becomes a loadable library. Needs no GPU.
pub fn compile_shared_library(
    nvcc: &Path,
    source: &Path,
    target: ComputeCapability,
    output: &Path,
) -> Result<(), CudaError> {
    let mut command = Command::new(nvcc);
    if let Some(dir) = source.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        command.current_dir(dir);
    }
    command
        .args(["-shared", "-Xcompiler", "-fPIC"])
        .arg(format!("-arch={}", target.real_arch()))
        .args(["-Werror", "all-warnings", "-o"])
        .arg(std::path::absolute(output).map_err(|e| CudaError::Io {
            what: output.display().to_string(),
            message: e.to_string(),
        })?)
        .arg(std::path::absolute(source).map_err(|e| CudaError::Io {
            what: source.display().to_string(),
            message: e.to_string(),
        })?);
    run_nvcc(&mut command)
}

fn run_nvcc(command: &mut Command) -> Result<(), CudaError> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| CudaError::Nvcc {
        command: shown.clone(),
        stderr: e.to_string(),
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(CudaError::Nvcc {
            command: shown,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}
