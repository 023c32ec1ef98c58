//! `judge scaffold` end to end: the real binary writing into a temporary folder.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use judge_core::ChallengeId;
use judge_scaffold::prompts::{prompt_markdown, seed_prompt};

fn judge(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("the judge binary runs")
}

fn corpus(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("train_data.txt");
    fs::write(&path, "the quick brown fox\njumps over the lazy dog\n").unwrap();
    path
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_every_prompt_and_the_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(dir.path());
    let out = judge(&["scaffold", "-n", "model-a"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let model = dir.path().join("model-a");
    for id in ChallengeId::ALL {
        let written = fs::read_to_string(model.join(id.as_str()).join("PROMPT.md")).unwrap();
        assert_eq!(written, prompt_markdown(id, false), "{id}");
        assert!(written.starts_with(seed_prompt(id)), "{id}");
    }
    assert_eq!(
        fs::read(model.join("ternary_training/train_data.txt")).unwrap(),
        fs::read(&data).unwrap()
    );

    let stdout = String::from_utf8(out.stdout).unwrap();
    let added: Vec<_> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[+] "))
        .collect();
    assert_eq!(
        added,
        ChallengeId::ALL.map(|c| c.as_str()).to_vec(),
        "seed order"
    );
    assert!(stdout.contains(&format!(
        "Scaffolded {} challenges into '{}/'",
        ChallengeId::COUNT,
        model.display()
    )));
    assert!(stdout.contains("DIFFICULTY GUIDE"));
    assert!(stdout.contains("backwards → fuse → kv → flash_attention → beam_search →"));
}

#[test]
fn original_writes_the_seed_text_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge(
        &[
            "scaffold",
            "-n",
            "m",
            "--original",
            "--only",
            "kv,backwards",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let model = dir.path().join("m");
    assert_eq!(entries(&model), ["backwards", "kv"]);
    for id in [ChallengeId::Backwards, ChallengeId::Kv] {
        let written = fs::read_to_string(model.join(id.as_str()).join("PROMPT.md")).unwrap();
        assert_eq!(written, seed_prompt(id));
    }
}

#[test]
fn root_and_train_data_options_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let data = corpus(elsewhere.path());
    let root = dir.path().join("runs/today");
    let out = judge(
        &[
            "scaffold",
            "-n",
            "m",
            "--root",
            root.to_str().unwrap(),
            "--train-data",
            data.to_str().unwrap(),
        ],
        elsewhere.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(root.join("m/ternary_training/train_data.txt").is_file());
}

#[test]
fn an_existing_model_folder_is_refused_with_exit_1_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    fs::create_dir(dir.path().join("taken")).unwrap();
    fs::write(dir.path().join("taken/keep.txt"), "mine").unwrap();
    let out = judge(&["scaffold", "-n", "taken"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("taken' already exists"), "{stderr}");
    assert!(
        stderr.contains("Remove it, pick a different name, or pass --add"),
        "{stderr}"
    );
    assert_eq!(entries(&dir.path().join("taken")), ["keep.txt"]);
}

#[test]
fn bad_model_names_are_usage_errors_that_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    for bad in ["", ".", "..", "a/b", "-x"] {
        let out = judge(&["scaffold", "-n", bad], dir.path());
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
        assert_eq!(entries(dir.path()), ["train_data.txt"], "{bad:?}");
    }
}

#[test]
fn a_missing_corpus_writes_every_prompt_and_says_once_how_to_supply_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge(&["scaffold", "-n", "m"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let model = dir.path().join("m");
    assert_eq!(entries(&model).len(), ChallengeId::COUNT);
    assert_eq!(entries(&model.join("ternary_training")), ["PROMPT.md"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.matches("was not written").count(), 1, "{stdout}");
    assert!(stdout.contains("ternary_training/train_data.txt was not written"));
    assert!(stdout.contains("--train-data FILE"), "{stdout}");

    // Leaving ternary_training out needs no corpus and says nothing about one.
    let out = judge(&["scaffold", "-n", "n", "--only", "fuse"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        !String::from_utf8(out.stdout)
            .unwrap()
            .contains("not written")
    );
}

#[test]
fn skip_leaves_challenges_out_and_add_fills_in_an_existing_model_untouched() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    let out = judge(
        &["scaffold", "-n", "m", "--skip", "fuse,ternary_training"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let model = dir.path().join("m");
    assert!(!model.join("fuse").exists());
    assert!(!model.join("ternary_training").exists());
    assert_eq!(entries(&model).len(), ChallengeId::COUNT - 2);

    // An answer already in kv/ and an edited prompt stay exactly as they are.
    fs::write(model.join("kv/kv.py"), "answer").unwrap();
    fs::write(model.join("kv/PROMPT.md"), "edited").unwrap();
    let out = judge(&["scaffold", "-n", "m", "--add"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("[=] kv (exists, left as it is)"),
        "{stdout}"
    );
    assert!(stdout.contains("Scaffolded 2 challenges"), "{stdout}");
    assert_eq!(
        fs::read_to_string(model.join("kv/kv.py")).unwrap(),
        "answer"
    );
    assert_eq!(
        fs::read_to_string(model.join("kv/PROMPT.md")).unwrap(),
        "edited"
    );
    assert!(model.join("fuse/PROMPT.md").is_file());
    assert!(model.join("ternary_training/train_data.txt").is_file());
    assert_eq!(entries(&model).len(), ChallengeId::COUNT);

    // --add needs an existing folder; an empty selection is a usage error.
    let out = judge(&["scaffold", "-n", "absent", "--add"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = judge(
        &["scaffold", "-n", "x", "--only", "kv", "--skip", "kv"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!dir.path().join("absent").exists() && !dir.path().join("x").exists());
}

#[test]
fn an_unknown_challenge_in_only_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge(&["scaffold", "-n", "m", "--only", "fusion"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("unknown challenge")
    );
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_failure_half_way_removes_what_the_run_created() {
    // /proc/self/mem passes the "corpus is a file" check but every read of it at offset 0
    // fails (EIO), so the run dies at the copy, after seven prompts were written.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("new/root");
    let out = judge(
        &[
            "scaffold",
            "-n",
            "m",
            "--root",
            root.to_str().unwrap(),
            "--train-data",
            "/proc/self/mem",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(
        stderr.contains("removed what this run had created"),
        "{stderr}"
    );
    assert!(
        entries(dir.path()).is_empty(),
        "rolled back to the first created folder"
    );
}
