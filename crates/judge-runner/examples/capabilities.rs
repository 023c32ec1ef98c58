//! Prints what the sandbox can do on this machine and which Python it would use, the way
//! `judge doctor` reports them. `cargo run -p judge-runner --example capabilities`
//! (`-- --setup` creates the managed environment if it is missing).

use judge_runner::{PythonEnv, probe_sandbox};

fn main() {
    let capabilities = probe_sandbox();
    println!("network isolated : {}", capabilities.network_isolated);
    println!("pid namespace    : {}", capabilities.pid_namespace);
    println!("own unprivileged uid: {}", capabilities.drops_privileges);
    println!("process limit    : {}", capabilities.process_limit);
    println!("landlock ABI     : {:?}", capabilities.landlock_abi);
    println!("own root         : {}", capabilities.own_root);
    println!("cgroup budgets   : {}", capabilities.cgroup_budgets);
    for note in &capabilities.notes {
        println!("note: {note}");
    }
    let python = if std::env::args().any(|a| a == "--setup") {
        PythonEnv::setup(&|message| println!("setup: {message}"))
    } else {
        PythonEnv::existing()
    };
    match python {
        Ok(env) => println!(
            "python           : {} (Python {}, numpy {}, {})",
            env.interpreter.display(),
            env.python_version,
            env.numpy_version,
            if env.managed {
                "managed"
            } else {
                "JUDGE_PYTHON"
            }
        ),
        Err(error) => println!("python           : {error}"),
    }
}
