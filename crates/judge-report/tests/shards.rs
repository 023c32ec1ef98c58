//! Scale-out: `judge grade ROOT --shard I/N --out OUT_I` on N machines, then `judge report` over
//! a folder holding every OUT_I gives the same matrix as one run over everything.

mod support;

use judge_core::ChallengeId;
use judge_core::discover::{Shard, SubmissionDir, discover};
use judge_report::{Format, Matrix};
use support::{matrix, put, report, tally};

const MODELS: [&str; 5] = ["m-alpha", "m-beta", "m-gamma", "m-delta", "m-epsilon"];
const SHARDS: usize = 3;

/// A distinct, deterministic score per (model, challenge); some cells left out.
fn graded_report(sub: &SubmissionDir) -> judge_core::Report {
    let model = sub
        .model
        .as_deref()
        .expect("submissions sit in model folders");
    let m = MODELS.iter().position(|x| *x == model).unwrap();
    let c = sub.challenge.seed_index();
    let passed = (m * 3 + c * 5) % 5;
    report(Some(model), sub.challenge, tally(passed, 4 - passed.min(4)))
}

/// Where below `--out` `judge grade` writes a submission's report: `<model>/<challenge>`.
fn out_dir(sub: &SubmissionDir) -> String {
    format!("{}/{}", sub.model.as_deref().unwrap(), sub.challenge)
}

#[test]
fn merged_shards_give_the_single_run_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let submissions = dir.path().join("submissions");
    for (m, model) in MODELS.iter().enumerate() {
        for id in ChallengeId::ALL {
            if (m + id.seed_index()) % 7 != 3 {
                std::fs::create_dir_all(submissions.join(model).join(id.as_str())).unwrap();
            }
        }
    }
    let all = discover(&submissions).unwrap().submissions;
    assert!(all.len() > 30);

    let single = dir.path().join("single");
    for sub in &all {
        put(&single, &out_dir(sub), &graded_report(sub));
    }

    let merged = dir.path().join("merged");
    let mut seen: Vec<String> = Vec::new();
    for index in 0..SHARDS {
        let shard = Shard {
            index,
            count: SHARDS,
        };
        let part = shard.select(all.clone());
        assert!(!part.is_empty());
        let out = merged.join(format!("shard-{index}"));
        for sub in &part {
            put(&out, &out_dir(sub), &graded_report(sub));
            seen.push(sub.label());
        }
    }
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "shards are disjoint");
    let mut everything: Vec<String> = all.iter().map(SubmissionDir::label).collect();
    everything.sort();
    assert_eq!(seen, everything, "shards cover everything");

    let one: Matrix = matrix(&single);
    let many = matrix(&merged);
    assert!(one.problems.is_empty(), "{:?}", one.problems);
    assert_eq!(one.cells.len(), all.len());
    assert_eq!(many, one);
    for format in [Format::Markdown, Format::Json, Format::Html] {
        assert_eq!(format.render(&many), format.render(&one), "{format}");
    }
}
