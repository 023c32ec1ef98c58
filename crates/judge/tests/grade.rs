//! `judge grade` end to end on bundled flash_attention fixtures: discovery, exit codes,
//! GRADE.json files, JSON output, re-use of up-to-date grades, shards, bad paths.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::{judge_command, text};

fn judge(args: &[&str]) -> Output {
    judge_command()
        .args(args)
        .output()
        .expect("the judge binary runs")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders/flash_attention/tests/fixtures")
        .join(name)
}

/// root/<model>/flash_attention/ holding a copy of each named fixture.
fn models(root: &Path, fixtures: &[(&str, &str)]) {
    for (model, name) in fixtures {
        let dir = root.join(model).join("flash_attention");
        fs::create_dir_all(&dir).unwrap();
        for entry in fs::read_dir(fixture(name)).unwrap() {
            let path = entry.unwrap().path();
            fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn bad_paths_are_usage_errors_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge(&["grade", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"), "{out:?}");

    fs::create_dir_all(dir.path().join("notes/drafts")).unwrap();
    let out = judge(&["grade", dir.path().join("notes").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not a challenge folder"),
        "{out:?}"
    );

    let out = judge(&["grade", dir.path().to_str().unwrap(), "--shard", "2/2"]);
    assert_eq!(out.status.code(), Some(2), "invalid shard: {out:?}");
}

#[test]
fn grading_a_root_writes_reports_and_exits_1_when_a_model_fails() {
    let root = tempfile::tempdir().unwrap();
    models(
        root.path(),
        &[("good", "correct"), ("bad", "no_partial_mask")],
    );
    let original = fs::read(root.path().join("good/flash_attention/flash_attention.py")).unwrap();

    let out = judge(&[
        "grade",
        root.path().to_str().unwrap(),
        "--seed",
        "5",
        "--jobs",
        "2",
        "--json",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let models: Vec<_> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap().to_string(),
                r["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(models[0].0, "bad", "sorted by model");
    assert!(models[0].1 < 1.0);
    assert_eq!(models[1], ("good".to_string(), 1.0));

    for model in ["good", "bad"] {
        let written = root.path().join(model).join("flash_attention/GRADE.json");
        let report: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(written).unwrap()).unwrap();
        assert_eq!(report["schema"], 1);
        assert_eq!(report["fingerprint"]["seed"], 5);
    }
    assert_eq!(
        fs::read(root.path().join("good/flash_attention/flash_attention.py")).unwrap(),
        original,
        "the submission itself is never modified"
    );

    // Unchanged submissions are not graded again: the report (and its start time) is reused.
    let first = fs::read_to_string(root.path().join("good/flash_attention/GRADE.json")).unwrap();
    let out = judge(&[
        "grade",
        root.path().join("good").to_str().unwrap(),
        "--seed",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("auto 10/10 passed"),
        "{}",
        text(&out.stdout)
    );
    let second = fs::read_to_string(root.path().join("good/flash_attention/GRADE.json")).unwrap();
    assert_eq!(first, second);
}

#[test]
fn shards_split_the_work_and_out_keeps_submissions_clean() {
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    // Two models whose submission has no contract function: grading is quick and fails.
    for model in ["a", "b"] {
        let dir = root.path().join(model).join("flash_attention");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("attn.py"), "def attention(q):\n    return q\n").unwrap();
    }
    let mut graded = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = judge(&[
            "grade",
            root.path().to_str().unwrap(),
            "--shard",
            shard,
            "--out",
            out_dir.path().to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(reports.as_array().unwrap().len(), 1, "shard {shard}");
        graded.push(reports[0]["model"].as_str().unwrap().to_string());
        // No submission code ran, so "imports no framework" is no achievement.
        let frameworks = reports[0]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "no_frameworks")
            .unwrap();
        assert_eq!(frameworks["verdict"]["status"], "error", "{frameworks}");
        assert!(
            reports[0]["criteria"][0]["verdict"]["evidence"]
                .as_str()
                .unwrap()
                .contains("flash_attention_fwd")
        );
    }
    graded.sort();
    assert_eq!(graded, ["a", "b"]);
    for model in ["a", "b"] {
        assert!(
            out_dir
                .path()
                .join(model)
                .join("flash_attention/GRADE.json")
                .is_file()
        );
        assert!(
            !root
                .path()
                .join(model)
                .join("flash_attention/GRADE.json")
                .exists()
        );
    }
}

/// The command lines of the live processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|raw| text(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(needle))
        .collect()
}

/// The parent pid of each live process.
fn parents() -> Vec<(u32, u32)> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // Fields after the parenthesised command: state, then the parent pid.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// The worker script path of the sandbox a process started (through the grade-cell child
/// it runs each submission in), found among its grandchildren.
fn worker_script_of(judge: u32) -> Option<String> {
    let parents = parents();
    let cells: Vec<u32> = parents
        .iter()
        .filter(|(_, ppid)| *ppid == judge)
        .map(|(pid, _)| *pid)
        .collect();
    parents.iter().find_map(|(pid, ppid)| {
        if !cells.contains(ppid) {
            return None;
        }
        let cmdline = text(&fs::read(format!("/proc/{pid}/cmdline")).ok()?).replace('\0', " ");
        cmdline
            .split_whitespace()
            .find(|w| w.ends_with("worker.py"))
            .map(str::to_string)
    })
}

#[test]
fn killing_the_judge_kills_the_submission_it_was_running() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("hangs/flash_attention");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("flash_attention.py"),
        "import time\n\ndef flash_attention_fwd(Q, K, V, tile_size, causal=True):\n    while True:\n        time.sleep(0.1)\n",
    )
    .unwrap();
    let mut judge = judge_command()
        .args(["grade", root.path().to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let worker = loop {
        if let Some(script) = worker_script_of(judge.id()) {
            break script;
        }
        assert!(started.elapsed().as_secs() < 60, "the worker never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // Let the submission reach its endless call.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(!processes_mentioning(&worker).is_empty());
    let cells: Vec<u32> = parents()
        .into_iter()
        .filter(|(_, ppid)| *ppid == judge.id())
        .map(|(pid, _)| pid)
        .collect();
    judge.kill().unwrap();
    judge.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_mentioning(&worker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sandbox outlived its judge: {:?}",
            processes_mentioning(&worker)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A killed judge cleans up nothing; what its cell left (scratch mounts) goes now rather
    // than at the next judge's sweep.
    for cell in cells {
        judge_runner::remove_leftovers_of(cell);
    }
}

#[test]
fn timeout_bounds_the_whole_grading_including_every_self_test() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m/flash_attention");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("flash_attention.py"),
        "import time\n\ndef flash_attention_fwd(Q, K, V, tile_size, causal=True):\n    time.sleep(60)\n",
    )
    .unwrap();
    for name in ["test_a.py", "test_b.py", "test_c.py"] {
        fs::write(dir.join(name), "while True:\n    pass\n").unwrap();
    }
    let started = std::time::Instant::now();
    let out = judge(&["grade", dir.to_str().unwrap(), "--timeout", "4", "--json"]);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // The hanging call uses up the budget; nothing after it may start a clock of its own.
    assert!(
        seconds < 8.0,
        "grading took {seconds:.1} s under --timeout 4"
    );
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let self_test = reports[0]["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "self_test")
        .unwrap();
    let verdict = &self_test["verdict"];
    assert_ne!(verdict["status"], "pass", "{verdict}");
    assert!(verdict.to_string().contains("ran out"), "{verdict}");
}

#[test]
fn an_oversized_submission_folder_is_refused_as_the_submissions_fault() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m/flash_attention");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("flash_attention.py"),
        "def flash_attention_fwd(Q, K, V, tile_size, causal=True):\n    return Q\n",
    )
    .unwrap();
    // Sparse: 3 GiB of length, no disk blocks. It costs its allocated size to copy, so the
    // submission is graded (and fails: it returns Q).
    let checkpoint = fs::File::create(dir.join("checkpoint.bin")).unwrap();
    checkpoint.set_len(3 << 30).unwrap();
    let out = judge(&["grade", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &reports[0]["criteria"][0]["verdict"];
    assert_eq!(first["status"], "fail", "{first}");

    // 5 GiB of length is more than any reader of the folder may read: refused, unread.
    checkpoint.set_len(5 << 30).unwrap();
    let out = judge(&["grade", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &reports[0]["criteria"][0]["verdict"];
    assert_eq!(first["status"], "error", "{first}");
    assert_eq!(first["fault"], "submission", "{first}");
    assert!(
        first["evidence"]
            .as_str()
            .unwrap()
            .contains("holds files of more than 4294967296 bytes"),
        "{first}"
    );
}
