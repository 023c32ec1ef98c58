//! The Python interpreter submissions run under.
//!
//! `$JUDGE_PYTHON` when set (it must import numpy), else a managed virtual environment with a
//! pinned numpy, created on first use. Its location follows one rule: **the sandbox's own uid
//! must be able to read and execute it.**
//! - As root, it lives in `/var/cache/judge/` (root's home is mode 0700 and the sandbox uid
//!   could not enter it), and it is based on a system interpreter outside any home folder
//!   (`/usr/bin/python3.N` or `/usr/local/bin/python3.N`; a pyenv interpreter under `/root`
//!   would be unreachable).
//! - Otherwise it lives in the user cache folder: `$XDG_CACHE_HOME/judge/` or
//!   `~/.cache/judge/` (the sandbox runs under the judge's own uid then).
//!
//! The folder is named `python-<major.minor>-numpy-<version>`, built in a temporary folder
//! beside it and renamed into place, under a lock file so two judges never race.

use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;

use crate::error::RunnerError;
use crate::sandbox::{Sandbox, SandboxCommand};

/// The numpy version the managed environment pins (what PyPI serves).
pub const PINNED_NUMPY: &str = "2.4.6";

/// Oldest Python minor version numpy 2.4 supports (3.11).
const MIN_PYTHON_MINOR: u32 = 11;

/// Prints versions and prefixes as one JSON line; used to inspect an interpreter.
const INSPECT_SCRIPT: &str = "import json, sys, numpy\n\
print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'numpy': numpy.__version__, \
'prefixes': sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})}))";

/// The Python interpreter the submissions run under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    /// The `python` executable, as given or inside the managed environment.
    pub interpreter: PathBuf,
    /// `major.minor.micro`, as the interpreter reports it.
    pub python_version: String,
    /// `numpy.__version__` under that interpreter.
    pub numpy_version: String,

    /// True for the judge's managed environment, false for `$JUDGE_PYTHON`.
    pub managed: bool,
    /// The interpreter's installation folders (`sys.prefix`, `sys.base_prefix`, …), which the
    /// sandbox must be allowed to read.
    pub prefixes: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct Inspection {
    python: String,
    numpy: String,
    prefixes: Vec<PathBuf>,
}

impl PythonEnv {
    /// `$JUDGE_PYTHON` if set, else the managed environment (created on first use, which
    /// takes a few seconds once). Resolved once per judge process.
    pub fn resolve(progress: &dyn Fn(&str)) -> Result<PythonEnv, RunnerError> {
        static RESOLVED: Mutex<Option<(Option<OsString>, PythonEnv)>> = Mutex::new(None);
        let mut resolved = RESOLVED.lock().unwrap_or_else(PoisonError::into_inner);
        let requested = env::var_os("JUDGE_PYTHON");
        if let Some((key, env)) = resolved.as_ref()
            && *key == requested
        {
            return Ok(env.clone());
        }
        let env = Self::setup(progress)?;
        *resolved = Some((requested, env.clone()));
        Ok(env)
    }

    /// Checks `$JUDGE_PYTHON`, or creates (or repairs) the managed environment; either way
    /// verifies that the sandbox can run it with numpy.
    pub fn setup(progress: &dyn Fn(&str)) -> Result<PythonEnv, RunnerError> {
        if let Some(path) = env::var_os("JUDGE_PYTHON") {
            let path = PathBuf::from(path);
            progress(&format!("checking JUDGE_PYTHON={}", path.display()));
            return inspect(&path, false)
                .map_err(|reason| RunnerError::JudgePython { path, reason });
        }
        let (base, target) = managed_target()?;
        let interpreter = target.join("bin").join("python");
        if interpreter.exists() {
            match inspect(&interpreter, true) {
                Ok(env) => return Ok(env),
                Err(reason) => progress(&format!(
                    "the managed environment is broken ({reason}); rebuilding"
                )),
            }
        }
        create_managed(&base, &target, progress)?;
        let env = inspect(&interpreter, true).map_err(|reason| RunnerError::EnvSetup {
            path: target.clone(),
            reason,
        })?;
        progress(&format!(
            "ready: Python {} with numpy {} at {}",
            env.python_version,
            env.numpy_version,
            target.display()
        ));
        Ok(env)
    }

    /// What [`PythonEnv::resolve`] would use, without creating anything (for `judge doctor`):
    /// `$JUDGE_PYTHON`, or the managed environment once it has been set up.
    pub fn existing() -> Result<PythonEnv, RunnerError> {
        if let Some(path) = env::var_os("JUDGE_PYTHON") {
            let path = PathBuf::from(path);
            return inspect(&path, false)
                .map_err(|reason| RunnerError::JudgePython { path, reason });
        }
        let (_, target) = managed_target()?;
        let interpreter = target.join("bin").join("python");
        if !interpreter.exists() {
            return Err(RunnerError::Python(format!(
                "the managed environment {} is not set up yet (`judge setup` creates it)",
                target.display()
            )));
        }
        inspect(&interpreter, true).map_err(|reason| RunnerError::EnvSetup {
            path: target,
            reason,
        })
    }

    /// Where the managed environment lives, or will.
    pub fn managed_location() -> Result<PathBuf, RunnerError> {
        managed_target().map(|(_, target)| target)
    }

    /// This interpreter as a command in `sandbox`: no user site-packages, no bytecode files,
    /// its own bin folder first on PATH (scripts that run `python` get this one), and its
    /// installation folders readable.
    pub(crate) fn sandboxed<'s>(&self, sandbox: &'s Sandbox) -> SandboxCommand<'s> {
        let bin_dir = self
            .interpreter
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let mut command = sandbox
            .command(&self.interpreter)
            .arg("-s")
            .arg("-B")
            .env("PATH", format!("{bin_dir}:/usr/local/bin:/usr/bin:/bin"));
        for prefix in &self.prefixes {
            command = command.read_path(prefix);
        }
        command
    }
}

/// The system interpreter the managed environment is based on, and the environment's folder.
fn managed_target() -> Result<(PathBuf, PathBuf), RunnerError> {
    let (base, minor) = find_base_interpreter()?;
    let target = managed_root()?.join(format!("python-3.{minor}-numpy-{PINNED_NUMPY}"));
    Ok((base, target))
}

/// The judge's own cache folder, where managed environments live (see the module
/// documentation for why) and the report key is kept.
pub fn managed_root() -> Result<PathBuf, RunnerError> {
    if rustix::process::geteuid().is_root() {
        return Ok(PathBuf::from("/var/cache/judge"));
    }
    let cache = env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| RunnerError::Python("neither XDG_CACHE_HOME nor HOME is set".into()))?;
    Ok(cache.join("judge"))
}

/// Runs the interpreter once plainly (to tell "no numpy" apart) and once inside a sandbox (to
/// prove the sandbox's uid can run it).
fn inspect(interpreter: &Path, managed: bool) -> Result<PythonEnv, String> {
    let plain = Command::new(interpreter)
        .args(["-s", "-c", INSPECT_SCRIPT])
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if !plain.status.success() {
        let stderr = String::from_utf8_lossy(&plain.stderr);
        let last = stderr.lines().last().unwrap_or("no error output");
        return Err(if stderr.contains("No module named 'numpy'") {
            "it does not import numpy (install numpy into it, or unset JUDGE_PYTHON to use the managed environment)".into()
        } else {
            format!("it failed: {last}")
        });
    }
    let found: Inspection = serde_json::from_slice(&plain.stdout)
        .map_err(|e| format!("unexpected output of the inspection script: {e}"))?;

    let sandbox = Sandbox::new(None).map_err(|e| e.to_string())?;
    let mut command = sandbox
        .command(interpreter)
        .args(["-s", "-c", INSPECT_SCRIPT]);
    for prefix in &found.prefixes {
        command = command.read_path(prefix);
    }
    let confined = command.run().map_err(|e| e.to_string())?;
    if !confined.success {
        let uid = sandbox.sandbox_uid().map_or_else(
            || "the sandbox".to_string(),
            |uid| format!("the sandbox's uid {uid}"),
        );
        return Err(format!(
            "{uid} cannot run it ({}): {}; use an interpreter outside any home folder",
            confined.status,
            confined.stderr.last_lines(1)
        ));
    }
    Ok(PythonEnv {
        interpreter: interpreter.to_path_buf(),
        python_version: found.python,
        numpy_version: found.numpy,
        managed,
        prefixes: found.prefixes,
    })
}

/// Finds the newest system Python ≥ 3.11 that everyone may execute, returning it and its
/// minor version.
fn find_base_interpreter() -> Result<(PathBuf, u32), RunnerError> {
    let mut candidates: Vec<(u32, PathBuf)> = Vec::new();
    for dir in ["/usr/local/bin", "/usr/bin"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let minor = name
                .to_str()
                .and_then(|n| n.strip_prefix("python3."))
                .and_then(|m| m.parse::<u32>().ok());
            if let Some(minor) = minor.filter(|&m| m >= MIN_PYTHON_MINOR) {
                candidates.push((minor, entry.path()));
            }
        }
    }
    candidates.sort_by_key(|(minor, _)| std::cmp::Reverse(*minor));
    let needs_world_access = rustix::process::geteuid().is_root();
    candidates
        .into_iter()
        .find(|(_, path)| {
            (!needs_world_access || world_executable(path))
                && Command::new(path)
                    .args(["-c", "import venv, ensurepip"])
                    .output()
                    .is_ok_and(|out| out.status.success())
        })
        .map(|(minor, path)| (path, minor))
        .ok_or_else(|| {
            RunnerError::Python(format!(
                "no system Python 3.{MIN_PYTHON_MINOR}+ with venv in /usr/bin or /usr/local/bin \
                 (install python3 and python3-venv, or set JUDGE_PYTHON)"
            ))
        })
}

/// True when every folder on the way to the (resolved) file may be entered by anyone and the
/// file may be executed by anyone.
fn world_executable(path: &Path) -> bool {
    let Ok(real) = fs::canonicalize(path) else {
        return false;
    };
    real.ancestors()
        .all(|p| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn create_managed(base: &Path, target: &Path, progress: &dyn Fn(&str)) -> Result<(), RunnerError> {
    let root = target
        .parent()
        .expect("the target has the cache root as parent");
    let setup_error = |reason: String| RunnerError::EnvSetup {
        path: target.to_path_buf(),
        reason,
    };
    fs::create_dir_all(root).map_err(RunnerError::io(format!("creating {}", root.display())))?;
    if rustix::process::geteuid().is_root() {
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).map_err(RunnerError::io(
            format!("opening {} to the sandbox", root.display()),
        ))?;
    }
    let lock_path = root.join(".lock");
    let lock = File::create(&lock_path)
        .map_err(RunnerError::io(format!("creating {}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        progress("another judge is building the environment; waiting for it");
        lock.lock()
            .map_err(RunnerError::io(format!("locking {}", lock_path.display())))?;
    }
    // Another judge may have built it while this one waited for the lock.
    if inspect(&target.join("bin").join("python"), true).is_ok() {
        return Ok(());
    }

    let name = target
        .file_name()
        .expect("the target has a name")
        .to_string_lossy();
    let build = root.join(format!(".build-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&build);
    let build_python = build.join("bin").join("python");
    let requirement = format!("numpy=={PINNED_NUMPY}");
    progress(&format!(
        "creating the Python environment {} (based on {})",
        target.display(),
        base.display()
    ));
    if let Some(uv) = find_on_path("uv") {
        progress(&format!("installing {requirement} with uv"));
        run_setup_step(
            Command::new(&uv)
                .env("UV_PYTHON_DOWNLOADS", "never")
                .arg("venv")
                .arg("--python")
                .arg(base)
                .arg(&build),
        )
        .map_err(setup_error)?;
        run_setup_step(
            Command::new(&uv)
                .env("UV_PYTHON_DOWNLOADS", "never")
                .args(["pip", "install", "--python"])
                .arg(&build_python)
                .arg(&requirement),
        )
        .map_err(setup_error)?;
    } else {
        run_setup_step(Command::new(base).args(["-m", "venv"]).arg(&build)).map_err(setup_error)?;
        progress(&format!("installing {requirement} with pip"));
        run_setup_step(
            Command::new(&build_python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-q",
                ])
                .arg(&requirement),
        )
        .map_err(setup_error)?;
    }
    if rustix::process::geteuid().is_root() {
        open_to_everyone(&build).map_err(RunnerError::io(format!(
            "opening {} to the sandbox",
            build.display()
        )))?;
    }
    if target.exists() {
        let stale = root.join(format!(".stale-{name}-{}", std::process::id()));
        fs::rename(target, &stale).map_err(RunnerError::io(format!(
            "moving the broken {} aside",
            target.display()
        )))?;
        let _ = fs::remove_dir_all(&stale);
    }
    // The venv holds no absolute path to itself that Python uses (pyvenv.cfg names the base
    // interpreter's folder), so it works after the rename.
    fs::rename(&build, target).map_err(RunnerError::io(format!(
        "moving the new environment to {}",
        target.display()
    )))?;
    Ok(())
}

/// Runs one setup command, returning its last error lines on failure.
fn run_setup_step(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{shown} failed ({}): {}",
        out.status,
        tail.join(" | ")
    ))
}

/// Makes every file readable and every folder (and executable) enterable by anyone.
fn open_to_everyone(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            continue;
        }
        let mode = entry.metadata()?.permissions().mode();
        let open = if kind.is_dir() || mode & 0o100 != 0 {
            0o555
        } else {
            0o444
        };
        fs::set_permissions(entry.path(), fs::Permissions::from_mode(mode | open))?;
        if kind.is_dir() {
            open_to_everyone(&entry.path())?;
        }
    }
    let mode = fs::metadata(dir)?.permissions().mode();
    fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o555))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
