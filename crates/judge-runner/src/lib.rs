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
//!
//! A grader drives a submission like this:
//!
//! ```no_run
//! use judge_runner::{CallError, PythonEnv, Value, Worker, WorkerOptions};
//! use ndarray::Array2;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let env = PythonEnv::resolve(&|message| eprintln!("{message}"))?;
//! let mut worker = Worker::start(&env, "model-x/toy".as_ref(), WorkerOptions::default())?;
//! let entry = worker.load_entry(&["add"], "toy")?; // name entry.file in the report
//! let a = Array2::<f64>::ones((4, 8));
//! match worker.call_function("add", vec![a.clone().into(), a.into()]) {
//!     Ok(outcome) => {
//!         let sum = outcome.value.to_f64_array()?; // compare against the reference here
//!         println!("{:?} in {:.3} s, peak {:?} bytes", sum.shape(), outcome.seconds, outcome.peak_bytes);
//!     }
//!     Err(error @ CallError::Stopped { .. }) => println!("ERROR: {error}"),
//!     Err(error) => println!("ERROR: {error}"), // one line of evidence
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

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
pub use python_env::{PINNED_NUMPY, PythonEnv, managed_root};
pub use sandbox::{
    ProcessOutcome, Sandbox, SandboxCapabilities, SandboxCommand, SandboxedProcess, describe_exit,
    probe_sandbox, remove_leftovers_of,
};
pub use script::{ScriptOutcome, run_script};
pub use value::{NdArray, ObjHandle, Value, ValueError};
pub use worker::{
    CallError, CallOutcome, CallTally, EntryInfo, EntryRequest, RemoteObject, Target, Worker,
    WorkerOptions,
};
