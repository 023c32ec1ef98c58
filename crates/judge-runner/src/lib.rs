//! judge-runner: runs untrusted submission code for the judge, and nothing else.
//!
//! - [`sandbox`]: every submission process runs in a [`Sandbox`] (own PID and network
//!   namespaces, own uid, Landlock, resource limits, capped output, scratch copy).
//! - [`PythonEnv`]: the interpreter submissions run under (`$JUDGE_PYTHON` or a managed
//!   virtual environment with a pinned numpy).
//! - [`Worker`]: the Python bridge, one worker process per graded submission, driven with
//!   JSON lines on private pipes; arrays travel as `.npy` files.
//! - [`run_script`]: a submission's own test or demo script, for the self-test criterion.
//!
//! The judge process never imports or runs submission code itself; comparisons and timing
//! decisions happen in Rust, on the data the worker hands back.

mod error;
mod limits;
mod output;
mod python_env;
pub mod sandbox;
mod script;
mod value;
mod worker;

pub use error::RunnerError;
pub use limits::Limits;
pub use output::CapturedOutput;
pub use python_env::{PINNED_NUMPY, PythonEnv};
pub use sandbox::{
    ProcessOutcome, Sandbox, SandboxCapabilities, SandboxCommand, SandboxedProcess, describe_exit,
    probe_sandbox,
};
pub use script::{ScriptOutcome, run_script};
pub use value::{NdArray, ObjHandle, Value, ValueError};
pub use worker::{CallError, CallOutcome, EntryInfo, Target, Worker, WorkerOptions};
