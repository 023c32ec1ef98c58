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
