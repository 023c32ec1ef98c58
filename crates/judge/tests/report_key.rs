//! The report key: where it lives, who can read it, and that a sandboxed process is not among
//! them. Uses keys in temporary folders laid out like the judge's cache folder, never the real
//! one.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use judge_core::signing::{KEY_FILE_NAME, ReportKey};
use judge_runner::{Limits, Sandbox};

/// Runs `cat PATH` in a sandbox that may additionally read `granted`; whether it printed
/// `expected`.
fn sandbox_reads(path: &Path, granted: &[&Path], expected: &str) -> bool {
    let sandbox = Sandbox::new(None).unwrap();
    let mut command = sandbox
        .command("/bin/cat")
        .arg(path)
        .limits(Limits::default());
    for dir in granted {
        command = command.read_path(dir);
    }
    let outcome = command.run().unwrap();
    outcome.success && outcome.stdout.tail.contains(expected)
}

#[test]
fn a_sandboxed_process_cannot_read_the_key_beside_the_python_it_runs() {
    // A stand-in for /var/cache/judge: world-traversable, holding a "venv" the sandbox may read
    // and the key.
    let cache = tempfile::tempdir().unwrap();
    fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let venv = cache.path().join("python-3.x-numpy");
    fs::create_dir(&venv).unwrap();
    fs::write(venv.join("marker.txt"), "venv file").unwrap();
    let key_path = cache.path().join(KEY_FILE_NAME);
    ReportKey::load_or_create(&key_path).unwrap();
    let key_text = fs::read_to_string(&key_path).unwrap();
    let key_text = key_text.trim();
    let mode = fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Control: the sandbox does read what it is granted, so a refusal below means something.
    assert!(sandbox_reads(
        &venv.join("marker.txt"),
        &[&venv],
        "venv file"
    ));
    // As the judge sets it up: the Python prefix is readable, the cache folder is not.
    assert!(!sandbox_reads(&key_path, &[&venv], key_text));
    // Even with the whole cache folder granted, the key's owner and mode keep a sandbox of
    // another uid out (the judge runs sandboxes under their own uid when it is root).
    let sandbox_has_own_uid = Sandbox::new(None).unwrap().sandbox_uid().is_some();
    if sandbox_has_own_uid {
        assert!(!sandbox_reads(&key_path, &[cache.path()], key_text));
    } else {
        eprintln!("SKIPPED uid check: not root, the sandbox runs under the judge's own uid");
    }
}

#[test]
fn the_binary_creates_the_key_it_is_told_to_use_and_only_that_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    let reports = dir.path().join("reports");
    support::put(
        &reports,
        "m/kv",
        &support::report("m", judge_core::ChallengeId::Kv, true),
    );
    // --key wins over JUDGE_KEY_FILE; a fresh key verifies none of the test key's reports.
    let out = support::judge_command()
        .args(["report", reports.to_str().unwrap(), "--format", "json"])
        .args(["--key", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out.stderr));
    let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let matrix: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(matrix["problems"][0]["kind"], "unverified", "{matrix}");

    // A key anyone can read is refused, with the fix in the message.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = support::judge_command()
        .args(["report", reports.to_str().unwrap()])
        .env("JUDGE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        support::text(&out.stderr).contains("chmod 600"),
        "{}",
        support::text(&out.stderr)
    );
}
