//! `judge setup`: make the managed Python environment now instead of on first use.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use judge_runner::PythonEnv;

pub fn run() -> anyhow::Result<i32> {
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
    let result = PythonEnv::setup(&progress);
    spinner.finish_and_clear();
    match result {
        Ok(env) => {
            println!(
                "Python {} with numpy {} at {}",
                env.python_version,
                env.numpy_version,
                env.interpreter.display()
            );
            Ok(judge_core::exit::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(judge_core::exit::USAGE_OR_ENVIRONMENT)
        }
    }
}
