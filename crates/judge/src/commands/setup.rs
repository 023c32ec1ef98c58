//! `judge setup [--cuda]`: make the managed Python environment now instead of on first use,
//! and with `--cuda` put PyPI's CUDA compiler into it.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use judge_runner::PythonEnv;

use crate::cli::SetupArgs;

pub fn run(args: SetupArgs) -> anyhow::Result<i32> {
    let spinner = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress = |message: &str| {
        if spinner.is_hidden() {
            eprintln!("setup: {message}");
        } else {
            spinner.set_message(message.to_string());
        }
    };
    let result = PythonEnv::setup(&progress)
        .map_err(|e| e.to_string())
        .and_then(|env| {
            let nvcc = if args.cuda {
                let nvcc = grader_fuse::install_cuda_toolchain(&env.interpreter, &progress)
                    .map_err(|e| e.to_string())?;
                Some(nvcc)
            } else {
                None
            };
            Ok((env, nvcc))
        });
    spinner.finish_and_clear();
    match result {
        Ok((env, nvcc)) => {
            outln!(
                "Python {} with numpy {} at {}",
                env.python_version,
                env.numpy_version,
                env.interpreter.display()
            );
            if let Some(nvcc) = nvcc {
                outln!("nvcc at {}", nvcc.display());
            }
            Ok(judge_core::exit::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(judge_core::exit::USAGE_OR_ENVIRONMENT)
        }
    }
}
