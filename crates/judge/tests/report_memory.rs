//! `judge report` stays small whatever a GRADE.json is: `/dev/zero` behind a link, a 4 GiB
//! sparse file, a FIFO. Before, such a tree took the process to 4.2 GB RSS or blocked it. The
//! binary runs here under a 512 MiB address-space limit (`ulimit -v`), so an unbounded read
//! ends it with an allocation failure instead of passing.

mod support;

use std::fs;
use std::os::unix::fs::symlink;

use judge_core::ChallengeId;
use judge_core::signing::KEY_ENV;
use support::{key_path, put, report, text};

#[test]
fn hostile_report_files_do_not_grow_the_report_process() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "honest/kv",
        &report("honest", ChallengeId::Kv, true),
    );
    for model in ["zero", "sparse", "fifo"] {
        fs::create_dir_all(dir.path().join(model).join("kv")).unwrap();
    }
    symlink("/dev/zero", dir.path().join("zero/kv/GRADE.json")).unwrap();
    fs::File::create(dir.path().join("sparse/kv/GRADE.json"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let fifo = dir.path().join("fifo/kv/GRADE.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 524288 && exec \"$0\" report \"$1\" --format json")
        .arg(env!("CARGO_BIN_EXE_judge"))
        .arg(dir.path())
        .env(KEY_ENV, key_path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let matrix: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(matrix["models"], serde_json::json!(["honest"]));
    assert_eq!(matrix["problems"].as_array().unwrap().len(), 3, "{matrix}");
}
