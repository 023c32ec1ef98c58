//! Compiling with nvcc: the submission (inside the sandbox — its preprocessor and host compiler
//! run untrusted code paths), and the judge's own programs (the runner and the naive baseline,
//! trusted, built per grading into the sandbox's judge-owned root, a few seconds of nvcc).
//!
//! Every library is built the same way:
//! `nvcc -shared -Xcompiler -fPIC -arch=sm_XY -cudart shared` plus `-Xlinker --wrap=F` for each
//! allocation function F of [`WRAPPED_ALLOCATORS`], so its allocations are counted by the runner.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use judge_core::untrusted_fs;
use judge_runner::{Limits, Sandbox};

use crate::runner::{RUNNER_SOURCE, RunnerBuild, WRAPPED_ALLOCATORS, nvidia_device_nodes};
use crate::toolchain::CudaToolkit;

/// The exported C symbol of the submission interface.
pub const ENTRY_SYMBOL: &str = "fused_softmax_topk";

/// The compile criterion's target: Hopper, what the prompt's H100-class GPUs run.
pub const COMPILE_CHECK_ARCH: &str = "sm_90";

/// Largest `.cu` file scanned for the entry point (the submission's own file: never through a
/// link, never a FIFO).
const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// Largest shared library read back from the sandbox.
const MAX_LIBRARY_BYTES: u64 = 256 << 20;

/// Name of the submission's library inside the sandbox's work folder.
const SUBMISSION_LIBRARY: &str = "libfuse_submission.so";

/// `.cu` files at the top of `dir` that define the entry point, best candidate first: a file
/// whose text names `fused_softmax_topk(` and, among several, the one named after it or the
/// challenge. None defining it: every `.cu` file, so the compile criterion still reports.
pub fn entry_candidates(dir: &Path) -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "cu"))
                .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_file()))
                .collect()
        })
        .unwrap_or_default();
    sources.sort();
    let defines_entry = |path: &PathBuf| {
        untrusted_fs::read_capped_string(path, MAX_SOURCE_BYTES)
            .is_ok_and(|text| text.contains("fused_softmax_topk("))
    };
    let preferred = |path: &PathBuf| {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        !matches!(stem.as_deref(), Some("fused_softmax_topk" | "fuse"))
    };
    sources.sort_by_key(|p| (!defines_entry(p), preferred(p)));
    sources
}

/// The nvcc arguments that build `source` into the shared library `output` for `arch`.
pub fn shared_library_args(
    arch: &str,
    link_dir: &Path,
    source: &Path,
    output: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-shared",
        "-Xcompiler",
        "-fPIC",
        &format!("-arch={arch}"),
        "-cudart",
        "shared",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(format!("-L{}", link_dir.display()).into());
    for function in WRAPPED_ALLOCATORS {
        args.push("-Xlinker".into());
        args.push(format!("--wrap={function}").into());
    }
    args.extend([
        "-o".into(),
        output.as_os_str().to_os_string(),
        source.as_os_str().to_os_string(),
    ]);
    args
}

/// A compiled submission library inside the sandbox.
#[derive(Debug, Clone)]
pub struct CompiledLibrary {
    /// The `.so` nvcc wrote, a path the sandboxed runner can load.
    pub library: PathBuf,
    /// The command line, for evidence.
    pub command: String,
}

/// Why a submission did not become a library.
#[derive(Debug, Clone)]
pub enum CompileFailure {
    /// nvcc ran and refused it (or the library lacks the entry point): the submission's fault.
    Rejected(String),
    /// nvcc could not be run at all: the harness's fault.
    Harness(String),
}

/// Compiles `source` (relative to the sandbox's work folder, where the copy of the submission
/// is) with nvcc inside `sandbox`, and checks the library exports the entry point.
pub fn compile_submission(
    toolkit: &CudaToolkit,
    link_dir: &Path,
    sandbox: &Sandbox,
    source: &Path,
    arch: &str,
) -> Result<CompiledLibrary, CompileFailure> {
    let library = sandbox.work_dir().join(SUBMISSION_LIBRARY);
    let args = shared_library_args(arch, link_dir, source, Path::new(SUBMISSION_LIBRARY));
    let shown = format!(
        "nvcc {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .filter(|a| !a.starts_with("--wrap") && a != "-Xlinker")
            .collect::<Vec<_>>()
            .join(" ")
    );
    let limits = Limits {
        memory_bytes: u64::MAX, // cicc reserves far more address space than it uses
        total_timeout: Duration::from_secs(180),
        call_timeout: Duration::from_secs(180),
        ..Limits::default()
    };
    let outcome = sandbox
        .command(&toolkit.nvcc)
        .args(&args)
        .read_path(&toolkit.root)
        .read_path(link_dir)
        .limits(limits)
        .run()
        .map_err(|e| CompileFailure::Harness(format!("{shown}: {e}")))?;
    if !outcome.success {
        let errors = compiler_errors(&outcome.stderr.tail, &outcome.stdout.tail);
        return Err(CompileFailure::Rejected(format!(
            "{shown}: {}: {errors}",
            outcome.status
        )));
    }
    let bytes = read_regular_file(&library).ok_or_else(|| {
        CompileFailure::Rejected(format!(
            "{shown} exited 0 but wrote no {SUBMISSION_LIBRARY}"
        ))
    })?;
    if !exports_c_symbol(&bytes, ENTRY_SYMBOL) {
        return Err(CompileFailure::Rejected(format!(
            "it compiles, but the library does not export `{ENTRY_SYMBOL}` with C linkage (declare it extern \"C\")"
        )));
    }
    Ok(CompiledLibrary {
        library,
        command: shown,
    })
}

/// The first lines of nvcc's output that say `error` (else its last lines), for evidence.
fn compiler_errors(stderr: &str, stdout: &str) -> String {
    let text = format!("{stderr}\n{stdout}");
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("error"))
        .take(3)
        .collect();
    let chosen = if errors.is_empty() {
        text.lines()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect::<Vec<_>>()
    } else {
        errors
    };
    chosen.join(" | ").chars().take(600).collect()
}

/// Whether the dynamic string table of an ELF library holds `symbol` as a whole name. C++
/// names are mangled (`_Z18fused_softmax_topk…`), so only an `extern "C"` definition matches.
fn exports_c_symbol(library: &[u8], symbol: &str) -> bool {
    let needle: Vec<u8> = [&[0u8][..], symbol.as_bytes(), &[0u8][..]].concat();
    library
        .windows(needle.len())
        .any(|w| w == needle.as_slice())
}

/// The library the sandbox built, if it is a regular file reached without a link and of a
/// size a compiled kernel can have.
fn read_regular_file(path: &Path) -> Option<Vec<u8>> {
    untrusted_fs::read_capped(path, MAX_LIBRARY_BYTES).ok()
}

/// Builds the runner, the naive baseline and the reference kernel for `arch` with the toolkit's
/// nvcc into `dir`, outside the sandbox: all three are the judge's own code. `dir` must be judge-owned and readable by
/// the sandbox (the sandbox's root is: the build lives and goes with it).
pub fn build_runner(toolkit: &CudaToolkit, arch: &str, dir: &Path) -> Result<RunnerBuild, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let link_dir = toolkit
        .link_dir(&dir.join("link"))
        .map_err(|e| e.to_string())?;

    let sources = dir.join("reference-sources");
    fuse::cuda::source::write_sources(&sources)
        .map_err(|e| format!("{}: {e}", sources.display()))?;
    let library = |entry: fuse::cuda::HostEntry, name: &str| -> Result<PathBuf, String> {
        let output = dir.join(name);
        let mut command = Command::new(&toolkit.nvcc);
        command.current_dir(&sources).args(shared_library_args(
            arch,
            &link_dir,
            Path::new(entry.file_name()),
            &output,
        ));
        run_trusted(&mut command)?;
        Ok(output)
    };
    let naive_library = library(fuse::cuda::HostEntry::Naive, "libnaive_softmax_topk.so")?;
    let reference_library = library(fuse::cuda::HostEntry::Fused, "libreference_softmax_topk.so")?;

    let runner_source = dir.join("fuse_runner.cpp");
    std::fs::write(&runner_source, RUNNER_SOURCE)
        .map_err(|e| format!("{}: {e}", runner_source.display()))?;
    let runner = dir.join("fuse-runner");
    let mut command = Command::new(&toolkit.nvcc);
    command
        // `-x cu`: the runner generates the timing inputs with a kernel of its own.
        .args(["-x", "cu"])
        .arg(format!("-arch={arch}"))
        .args(["-O2", "-std=c++17", "-cudart", "shared"])
        .arg(format!("-L{}", link_dir.display()))
        // The __wrap_ allocation counters must be visible to the libraries it loads.
        .args(["-Xlinker", "--export-dynamic", "-o"])
        .arg(&runner)
        .arg(&runner_source)
        .arg("-ldl");
    run_trusted(&mut command)?;

    let build = RunnerBuild {
        runner,
        naive_library,
        reference_library,
        library_path: vec![toolkit.runtime_dir.clone()],
        read_paths: vec![
            dir.to_path_buf(),
            toolkit.root.clone(),
            toolkit.runtime_dir.clone(),
        ],
        devices: nvidia_device_nodes(),
        limits: RunnerBuild::gpu_limits(),
    };
    Ok(build)
}

fn run_trusted(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| format!("{shown}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown}: {}: {}",
            output.status,
            compiler_errors(
                &String::from_utf8_lossy(&output.stderr),
                &String::from_utf8_lossy(&output.stdout)
            )
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_c_linkage_name_counts_as_exported() {
        let table = b"\0cudaMalloc\0_Z18fused_softmax_topkPKfiiiPiPfP11CUstream_st\0fused_softmax_topk_kernel\0";
        assert!(!exports_c_symbol(table, "fused_softmax_topk"));
        let with_entry = [&table[..], b"fused_softmax_topk\0"].concat();
        assert!(exports_c_symbol(&with_entry, "fused_softmax_topk"));
    }

    #[test]
    fn the_file_defining_the_entry_point_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a_helpers.cu"),
            "__device__ int f() { return 1; }",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("kernel.cu"),
            "extern \"C\" int fused_softmax_topk(const float*){}",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.md"), "fused_softmax_topk(").unwrap();
        let found = entry_candidates(dir.path());
        assert_eq!(found.len(), 2);
        assert!(found[0].ends_with("kernel.cu"));
    }

    #[test]
    fn every_library_is_linked_against_the_shared_runtime_with_counted_allocations() {
        let args: Vec<String> = shared_library_args(
            "sm_90",
            Path::new("/l"),
            Path::new("k.cu"),
            Path::new("k.so"),
        )
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
        let line = args.join(" ");
        assert!(line.starts_with("-shared -Xcompiler -fPIC -arch=sm_90 -cudart shared -L/l"));
        assert!(line.contains("-Xlinker --wrap=cudaMallocAsync"));
        assert!(line.ends_with("-o k.so k.cu"));
    }
}
