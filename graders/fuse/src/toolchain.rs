//! The CUDA compiler: finding `nvcc`, and installing one from PyPI where there is none.
//!
//! Machines without a CUDA toolkit get a real nvcc from NVIDIA's PyPI wheels (CUDA 13, about
//! 130 MB), installed into the judge's managed Python environment by `judge setup --cuda`
//! ([`install_cuda_toolchain`]); [`find_nvcc`] looks there after `$PATH` and `$CUDA_HOME`. The
//! wheels ship `libcudart.so.13` but no `libcudart.so` link, which `nvcc -cudart shared` needs at
//! link time: [`CudaToolkit::link_dir`] supplies one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wheels `judge setup --cuda` installs: nvcc (with cicc and ptxas), the runtime headers and
/// `libcudart.so.13`, CCCL (headers nvcc includes), NVRTC (the reference's run-time compiler).
pub const CUDA_WHEELS: [&str; 4] = [
    "nvidia-cuda-nvcc==13.5.37",
    "nvidia-cuda-runtime==13.5.37",
    "nvidia-cuda-cccl==13.3.5.0.6",
    "nvidia-cuda-nvrtc==13.5.37",
];

/// Where the wheels put the toolkit, relative to `site-packages`.
const WHEEL_TOOLKIT: &str = "nvidia/cu13";

/// Why the toolchain could not be installed or used.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    /// A trusted tool (pip or uv, the interpreter, `nvcc --version`) could not run or failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Why: the error, or its exit and output.
        detail: String,
    },
    /// The wheels installed, but nvcc is not where they put it.
    #[error("no nvcc at {path} after installing the CUDA wheels")]
    MissingAfterInstall {
        /// Where nvcc was expected.
        path: PathBuf,
    },
    /// The toolkit around an nvcc is not laid out as compiling and running need (no folder
    /// above `bin/`, no `libcudart.so.N`), or the `libcudart.so` link could not be made.
    #[error("{path}: {reason}")]
    Layout {
        /// The path that is missing or unusable.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Installs [`CUDA_WHEELS`] into the environment of `python` (the managed environment's
/// interpreter, `judge_runner::PythonEnv::interpreter`) and returns the nvcc they brought, after
/// checking that it runs. With `uv` on PATH (the managed environment is then a uv venv, which
/// has no pip) it is `uv pip install --python PYTHON`, else `PYTHON -m pip install`.
/// Idempotent: what is installed already is skipped.
pub fn install_cuda_toolchain(
    python: &Path,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, ToolchainError> {
    let uv = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("uv"))
            .find(|uv| uv.is_file())
    });
    progress(&format!(
        "installing {} into the environment of {} with {} (about 130 MB)",
        CUDA_WHEELS.join(" "),
        python.display(),
        if uv.is_some() { "uv" } else { "pip" }
    ));
    let mut install = match &uv {
        Some(uv) => {
            let mut command = Command::new(uv);
            command.args(["pip", "install", "--python"]).arg(python);
            command
        }
        None => {
            let mut command = Command::new(python);
            command.args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-q",
            ]);
            command
        }
    };
    run(install.args(CUDA_WHEELS))?;
    let site_packages = run(Command::new(python).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ]))?;
    let nvcc = PathBuf::from(site_packages.trim())
        .join(WHEEL_TOOLKIT)
        .join("bin/nvcc");
    if !nvcc.is_file() {
        return Err(ToolchainError::MissingAfterInstall { path: nvcc });
    }
    let version = run(Command::new(&nvcc).arg("--version"))?;
    progress(&format!(
        "nvcc ready at {}: {}",
        nvcc.display(),
        version.lines().last().unwrap_or("").trim()
    ));
    Ok(nvcc)
}

/// The first nvcc among: `nvcc` on `$PATH`, `$CUDA_HOME/bin/nvcc`, `$CUDA_PATH/bin/nvcc`,
/// `/usr/local/cuda/bin/nvcc`, and the CUDA wheels in the judge's managed Python environment.
pub fn find_nvcc() -> Option<PathBuf> {
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("nvcc"))
                .collect()
        })
        .unwrap_or_default();
    let from_env = ["CUDA_HOME", "CUDA_PATH"]
        .into_iter()
        .filter_map(|var| std::env::var_os(var).filter(|v| !v.is_empty()))
        .map(|root| PathBuf::from(root).join("bin/nvcc"));
    let managed = judge_runner::PythonEnv::managed_location()
        .map(|env| wheel_nvcc_candidates(&env))
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(from_env)
        .chain(std::iter::once(PathBuf::from("/usr/local/cuda/bin/nvcc")))
        .chain(managed)
        .find(|candidate| candidate.is_file())
}

/// `ENV/lib/python3.*/site-packages/nvidia/cu13/bin/nvcc` for every Python of a virtual
/// environment.
fn wheel_nvcc_candidates(env: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(env.join("lib")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|python| {
            python
                .path()
                .join("site-packages")
                .join(WHEEL_TOOLKIT)
                .join("bin/nvcc")
        })
        .collect()
}

/// An nvcc and the folders around it that compiling and running need.
#[derive(Debug, Clone)]
pub struct CudaToolkit {
    /// The nvcc executable.
    pub nvcc: PathBuf,
    /// `nvcc/../..`: headers, libraries, cicc, ptxas. A sandboxed nvcc must be able to read it.
    pub root: PathBuf,
    /// The folder holding `libcudart.so.N`, for the loader of programs built with
    /// `-cudart shared`.
    pub runtime_dir: PathBuf,
    /// `libcudart.so.N`, the soname those programs need.
    pub runtime_soname: String,
}

impl CudaToolkit {
    /// Reads the layout around `nvcc` (symlinks resolved).
    pub fn from_nvcc(nvcc: &Path) -> Result<CudaToolkit, ToolchainError> {
        let layout = |reason: &str| ToolchainError::Layout {
            path: nvcc.to_path_buf(),
            reason: reason.to_string(),
        };
        let nvcc = nvcc
            .canonicalize()
            .map_err(|e| layout(&format!("cannot resolve it: {e}")))?;
        let root = nvcc
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| layout("no toolkit folder above bin/"))?
            .to_path_buf();
        let search = [
            root.join("lib64"),
            root.join("lib"),
            root.join("targets/x86_64-linux/lib"),
            PathBuf::from("/usr/lib/x86_64-linux-gnu"),
        ];
        let (runtime_dir, runtime_soname) = search
            .iter()
            .find_map(|dir| runtime_soname_in(dir).map(|name| (dir.clone(), name)))
            .ok_or_else(|| layout("no libcudart.so.N beside the toolkit"))?;
        Ok(CudaToolkit {
            nvcc,
            root,
            runtime_dir,
            runtime_soname,
        })
    }

    /// A folder with a `libcudart.so` for `nvcc -cudart shared` to link against: the runtime
    /// folder when it has one, else `scratch` after linking it there (the PyPI wheels ship only
    /// `libcudart.so.13`).
    pub fn link_dir(&self, scratch: &Path) -> Result<PathBuf, ToolchainError> {
        if self.runtime_dir.join("libcudart.so").exists() {
            return Ok(self.runtime_dir.clone());
        }
        let link = scratch.join("libcudart.so");
        let io = |e: std::io::Error| ToolchainError::Layout {
            path: link.clone(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(scratch).map_err(io)?;
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(self.runtime_dir.join(&self.runtime_soname), &link)
                .map_err(io)?;
        }
        Ok(scratch.to_path_buf())
    }
}

/// `libcudart.so.N` (one number: the soname) in `dir`, if there is one.
fn runtime_soname_in(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.strip_prefix("libcudart.so.")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names.pop()
}

/// Runs a trusted tool (pip, the interpreter, nvcc --version); its stdout, or why it failed.
fn run(command: &mut Command) -> Result<String, ToolchainError> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| ToolchainError::Command {
        command: shown.clone(),
        detail: e.to_string(),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ToolchainError::Command {
            command: shown,
            detail: format!(
                "{}: {}",
                output.status,
                stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_soname_is_the_one_with_a_single_version_number() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "libcudart.so.13.5.37",
            "libcudart.so.13",
            "libcudart_static.a",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(
            runtime_soname_in(dir.path()).as_deref(),
            Some("libcudart.so.13")
        );
    }

    #[test]
    fn a_wheel_layout_gets_a_libcudart_link_in_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let toolkit = dir.path().join("site-packages/nvidia/cu13");
        std::fs::create_dir_all(toolkit.join("bin")).unwrap();
        std::fs::create_dir_all(toolkit.join("lib")).unwrap();
        std::fs::write(toolkit.join("bin/nvcc"), b"").unwrap();
        std::fs::write(toolkit.join("lib/libcudart.so.13"), b"elf").unwrap();
        let found = CudaToolkit::from_nvcc(&toolkit.join("bin/nvcc")).unwrap();
        assert_eq!(found.runtime_soname, "libcudart.so.13");
        let scratch = dir.path().join("links");
        let link_dir = found.link_dir(&scratch).unwrap();
        assert_eq!(
            std::fs::read(link_dir.join("libcudart.so")).unwrap(),
            b"elf"
        );
    }
}
