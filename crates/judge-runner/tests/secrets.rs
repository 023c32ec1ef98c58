//! The judge's secrets stay out of reach: its environment is not inherited, its
//! /proc/<pid>/environ and /proc/<pid>/mem cannot be opened, and it cannot be signalled.
//! (One test in its own binary: it sets an environment variable of the judge process.)

mod common;

use judge_runner::Value;

use common::{start, submission};

const SECRET_NAME: &str = "JUDGE_TEST_SECRET_TOKEN";
const SECRET_VALUE: &str = "hunter2-7c41d9";

#[test]
fn the_judges_environment_and_process_are_out_of_reach() {
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var(SECRET_NAME, SECRET_VALUE) };
    let source = r#"
import os, signal
def probe(judge_pid):
    found = {"environment": dict(os.environ)}
    for name in ["environ", "mem", "cmdline"]:
        try:
            with open("/proc/%d/%s" % (judge_pid, name), "rb") as f:
                data = f.read(1 << 20)
            found[name] = "read"
            found[name + "_leaks"] = b"hunter2" in data
        except OSError as e:
            found[name] = "refused"
    for sig in [0, signal.SIGTERM]:
        try:
            os.kill(judge_pid, sig)
            found["signal_%d" % sig] = "delivered"
        except OSError:
            found["signal_%d" % sig] = "refused"
    return found
"#;
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["probe"], "toy").expect("loads");
    let judge_pid = std::process::id();
    let found = worker
        .call_function("probe", vec![Value::Int(judge_pid.into())])
        .expect("probe returns")
        .value;

    let Some(Value::Dict(environment)) = found.get("environment") else {
        panic!("{found:?}")
    };
    let allowed = [
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "LC_CTYPE",
    ];
    for (name, value) in environment {
        assert!(
            allowed.contains(&name.as_str()),
            "unexpected variable {name}={value:?}"
        );
    }
    for name in ["environ", "mem"] {
        assert_eq!(
            found.get(name),
            Some(&Value::Str("refused".into())),
            "/proc/<judge>/{name}: {found:?}"
        );
    }
    assert_ne!(found.get("cmdline_leaks"), Some(&Value::Bool(true)));
    for signal in ["signal_0", "signal_15"] {
        assert_eq!(
            found.get(signal),
            Some(&Value::Str("refused".into())),
            "{signal}: {found:?}"
        );
    }
    // Still here: the judge was not signalled.
    assert_eq!(std::env::var(SECRET_NAME).as_deref(), Ok(SECRET_VALUE));
}
