//! A reader that goes away (`judge list | head -1`) ends the judge quietly with exit 0.

mod support;

use std::path::Path;

/// Runs the judge with a stdout whose reading end is already closed, so its first write
/// fails with EPIPE, deterministically.
fn with_closed_stdout(args: &[&str], cwd: &Path) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    support::judge_command()
        .args(args)
        .current_dir(cwd)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn list_and_report_exit_0_without_a_panic_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cell = dir.path().join("m/kv");
    std::fs::create_dir_all(&cell).unwrap();
    // Unusable, so the report is a matrix with one problem: still something to print.
    std::fs::write(cell.join("GRADE.json"), "{").unwrap();
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["report", "."],
        &["report", ".", "--format", "html"],
    ] {
        let out = with_closed_stdout(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}
