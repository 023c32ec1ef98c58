//! `judge list`: the challenges and, for those with a grader, their criteria by kind.

use judge_core::{ChallengeId, CriterionKind};
use serde::Serialize;

use crate::cli::ListArgs;
use crate::registry;

#[derive(Serialize)]
struct Row {
    id: ChallengeId,
    difficulty: judge_core::Difficulty,
    summary: &'static str,
    /// Criteria counts per kind; absent while the challenge has no grader.
    criteria: Option<Counts>,
}

#[derive(Serialize)]
struct Counts {
    auto: usize,
    self_test: usize,
    manual: usize,
}

pub fn run(args: ListArgs) -> anyhow::Result<i32> {
    let rows: Vec<Row> = ChallengeId::ALL
        .into_iter()
        .map(|id| Row {
            id,
            difficulty: id.difficulty(),
            summary: id.summary(),
            criteria: registry::grader(id).map(|g| {
                let criteria = g.criteria();
                let count = |kind| criteria.iter().filter(|c| c.kind == kind).count();
                Counts {
                    auto: count(CriterionKind::Auto),
                    self_test: count(CriterionKind::SelfTest),
                    manual: count(CriterionKind::Manual),
                }
            }),
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(judge_core::exit::SUCCESS);
    }
    outln!(
        "{:<20} {:<20} {:>4} {:>9} {:>6}  summary",
        "challenge",
        "difficulty",
        "auto",
        "self_test",
        "manual"
    );
    for row in rows {
        let counts = row
            .criteria
            .map_or(["-".to_string(), "-".into(), "-".into()], |c| {
                [
                    c.auto.to_string(),
                    c.self_test.to_string(),
                    c.manual.to_string(),
                ]
            });
        outln!(
            "{:<20} {:<20} {:>4} {:>9} {:>6}  {}",
            row.id.as_str(),
            row.difficulty.label(),
            counts[0],
            counts[1],
            counts[2],
            row.summary
        );
    }
    Ok(judge_core::exit::SUCCESS)
}
