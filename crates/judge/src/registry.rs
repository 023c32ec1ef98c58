//! Every grader the binary knows, keyed by challenge id. The only place graders are named.

use judge_core::{Challenge, ChallengeId};

/// All graders that exist so far, in the seed's order.
pub fn graders() -> Vec<Box<dyn Challenge>> {
    vec![
        Box::new(grader_backwards::BackwardsGrader),
        Box::new(grader_fuse::FuseGrader),
        Box::new(grader_kv::KvGrader),
        Box::new(grader_beam_search::BeamSearchGrader),
        Box::new(grader_flash_attention::FlashAttentionGrader),
        Box::new(grader_dflash_verify::DflashVerifyGrader),
        Box::new(grader_flash_attention_bwd::FlashAttentionBwdGrader),
        Box::new(grader_ternary_training::TernaryTrainingGrader),
    ]
}

/// The grader for `id`, if one has been written.
pub fn grader(id: ChallengeId) -> Option<Box<dyn Challenge>> {
    graders().into_iter().find(|g| g.id() == id)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use judge_core::challenge::CHALLENGES;

    /// Adding a row to the challenge table without its prompt, reference or grader fails here,
    /// naming what is missing (ARCHITECTURE.md, "Adding a challenge").
    #[test]
    fn every_challenge_in_the_table_has_a_prompt_a_reference_and_a_grader() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for row in CHALLENGES {
            assert!(
                judge_scaffold::prompts::has_prompt(row.id),
                "{}: no prompts/{}.md",
                row.name,
                row.name
            );
            let reference = repo.join("reference").join(row.reference_crate);
            assert!(
                reference.join("Cargo.toml").is_file(),
                "{}: no reference crate at {}",
                row.name,
                reference.display()
            );
            let grader_dir = repo.join("graders").join(row.name);
            assert!(
                grader_dir.join("Cargo.toml").is_file(),
                "{}: no grader crate at {}",
                row.name,
                grader_dir.display()
            );
            let grader = super::grader(row.id);
            assert!(grader.is_some(), "{}: no grader in the registry", row.name);
            assert_eq!(grader.unwrap().id(), row.id);
        }
        assert_eq!(
            super::graders().len(),
            CHALLENGES.len(),
            "a grader outside the table"
        );
    }
}
