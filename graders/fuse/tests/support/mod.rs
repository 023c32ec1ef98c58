//! Running fuse submissions without a GPU: the same `fuse-runner` source built with g++ against
//! a host-memory stand-in of the CUDA runtime (`tests/emulation/`), and submissions' `.cu` files
//! turned into host C++ whose kernels run on CPU threads through the reference's emulator
//! (`reference/fuse/cuda/emulation/cuda_on_cpu.h`). Everything between the judge and the
//! submission — the job files, the sandbox, the allocation counting, the result parsing, the
//! checks — is the code a GPU grading runs.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fuse::timing::StoppingRule;
use grader_fuse::runner::WRAPPED_ALLOCATORS;
use grader_fuse::{RunnerBuild, TimingSetup};
use judge_runner::Limits;
use tempfile::TempDir;

/// Block size the emulated kernels are built with: 64 OS threads per block keeps the suite fast.
pub const EMULATED_BLOCK_THREADS: u32 = 64;

/// The crate's folder: the working directory, where cargo runs tests (and where
/// scripts/gpu-check.sh runs the carried test binaries), so no build-machine path is baked in.
fn crate_dir() -> PathBuf {
    std::path::absolute(".").expect("the working directory exists")
}

fn emulation_dir() -> PathBuf {
    crate_dir().join("tests/emulation")
}

fn reference_emulation_dir() -> PathBuf {
    crate_dir().join("../../reference/fuse/cuda/emulation")
}

fn reference_cuda_dir() -> PathBuf {
    crate_dir().join("../../reference/fuse/cuda")
}

/// The runner and the naive baseline built for the CPU, and the folder they live in.
pub struct CpuRunner {
    pub dir: TempDir,
    pub build: RunnerBuild,
}

/// Whether g++ with C++20 (`<barrier>`) is here; the reason when not.
pub fn cpp20_compiler() -> Result<(), String> {
    let probe = tempfile::tempdir().map_err(|e| e.to_string())?;
    let source = probe.path().join("probe.cpp");
    std::fs::write(
        &source,
        "#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n",
    )
    .map_err(|e| e.to_string())?;
    let status = Command::new("g++")
        .args(["-std=c++20", "-pthread", "-o"])
        .arg(probe.path().join("probe"))
        .arg(&source)
        .output()
        .map_err(|e| format!("no g++: {e}"))?;
    if status.status.success() {
        Ok(())
    } else {
        Err("g++ has no C++20 <barrier>".into())
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| format!("{shown}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Builds `libcudart_on_cpu.so`, the runner (`-DFUSE_RUNNER_ON_CPU`), the emulated naive
/// baseline and the emulated reference kernel into a fresh folder the sandbox can read.
pub fn cpu_runner() -> Result<CpuRunner, String> {
    cpp20_compiler()?;
    let dir = tempfile::Builder::new()
        .prefix("fuse-cpu-runner-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .map_err(|e| e.to_string())?;
    run(Command::new("g++")
        .args(["-std=c++17", "-O1", "-shared", "-fPIC", "-o"])
        .arg(dir.path().join("libcudart_on_cpu.so"))
        .arg(emulation_dir().join("cudart_on_cpu.cpp")))?;
    let runner = dir.path().join("fuse-runner");
    run(Command::new("g++")
        .args(["-std=c++17", "-O1", "-DFUSE_RUNNER_ON_CPU"])
        .arg(format!("-I{}", emulation_dir().display()))
        .arg(crate_dir().join("src/runner/fuse_runner.cpp"))
        .arg(format!("-L{}", dir.path().display()))
        .args(["-lcudart_on_cpu", "-Wl,--export-dynamic", "-ldl", "-o"])
        .arg(&runner))?;
    let naive_library = dir.path().join("libnaive_softmax_topk.so");
    emulated_library_at(
        &reference_cuda_dir().join("naive_softmax_topk_host.cu"),
        dir.path(),
        &naive_library,
    )?;
    let reference_library = dir.path().join("libreference_softmax_topk.so");
    emulated_library_at(
        &reference_cuda_dir().join("fused_softmax_topk_host.cu"),
        dir.path(),
        &reference_library,
    )?;
    let build = RunnerBuild {
        runner,
        naive_library,
        reference_library,
        library_path: vec![dir.path().to_path_buf()],
        read_paths: vec![dir.path().to_path_buf()],
        devices: Vec::new(),
        limits: Limits {
            memory_bytes: u64::MAX,
            // One OS thread per emulated CUDA thread.
            max_processes: 1024,
            call_timeout: Duration::from_secs(120),
            total_timeout: Duration::from_secs(120),
            ..Limits::default()
        },
    };
    Ok(CpuRunner { dir, build })
}

/// Timing on the emulator: a small flush and short series (CPU threads say nothing about a GPU's
/// speed; what is tested is the protocol).
pub const CPU_TIMING: TimingSetup = TimingSetup {
    flush_bytes: 1 << 20,
    rule: StoppingRule {
        warmup: 1,
        min_samples: 3,
        target_relative_error: 0.01,
        max_samples: 6,
        time_cap: Duration::from_secs(3),
    },
};

impl CpuRunner {
    /// Builds a submission's `.cu` as an emulated host library in this runner's folder.
    pub fn emulated_library(&self, cu: &Path, name: &str) -> Result<PathBuf, String> {
        let library = self.dir.path().join(format!("lib{name}.so"));
        emulated_library_at(cu, self.dir.path(), &library)?;
        Ok(library)
    }
}

fn emulated_library_at(cu: &Path, scratch: &Path, library: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(cu).map_err(|e| format!("{}: {e}", cu.display()))?;
    let host_cpp = library.with_extension("cpp");
    std::fs::write(&host_cpp, emulate_source(&text)?).map_err(|e| e.to_string())?;
    let mut command = Command::new("g++");
    command
        .args([
            "-std=c++20",
            "-O1",
            "-shared",
            "-fPIC",
            "-pthread",
            "-Wno-unknown-pragmas",
        ])
        .arg(format!("-DFUSE_BLOCK_THREADS={EMULATED_BLOCK_THREADS}"))
        .arg(format!("-I{}", emulation_dir().display()))
        .arg(format!("-I{}", reference_emulation_dir().display()))
        .arg(format!(
            "-I{}",
            cu.parent().unwrap_or(Path::new(".")).display()
        ))
        .arg(&host_cpp)
        .arg(format!("-L{}", scratch.display()))
        .arg("-lcudart_on_cpu");
    for function in WRAPPED_ALLOCATORS {
        command.arg(format!("-Wl,--wrap={function}"));
    }
    command.arg("-o").arg(library);
    run(&mut command)
}

/// A `.cu` file as host C++: `#include <cuda_runtime.h>` becomes the emulation header and every
/// launch `kernel<<<grid, block[, smem[, stream]]>>>(args);` becomes
/// `launch_on_cpu([&] { kernel(args); }, grid, block[, smem[, stream]]);`.
pub fn emulate_source(source: &str) -> Result<String, String> {
    let source = source.replace("#include <cuda_runtime.h>", "#include \"kernels_on_cpu.h\"");
    let mut out = String::new();
    let mut rest = source.as_str();
    while let Some(open) = rest.find("<<<") {
        let before = &rest[..open];
        let name_start = before
            .trim_end()
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let kernel = before.trim_end()[name_start..].to_string();
        let close = rest[open..].find(">>>").ok_or("a launch without >>>")? + open;
        let config = rest[open + 3..close].trim().to_string();
        let after = &rest[close + 3..];
        let paren = after.find('(').ok_or("a launch without arguments")?;
        let mut depth = 0;
        let mut end = None;
        for (i, c) in after[paren..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(paren + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.ok_or("unbalanced launch arguments")?;
        let args = &after[paren + 1..end];
        out.push_str(&before[..name_start]);
        out.push_str(&format!(
            "launch_on_cpu([&] {{ {kernel}({args}); }}, {config})"
        ));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
