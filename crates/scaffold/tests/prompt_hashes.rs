//! The prompts are the seed's heredocs byte for byte. These hashes were computed once from
//! ../shared/seed/000_0b24ec6f0d7764e2.txt; a change to any prompt byte fails here.

use judge_core::ChallengeId;
use judge_scaffold::prompts::seed_prompt;
use sha2::{Digest, Sha256};

const SEED_SHA256: &[(&str, &str)] = &[
    (
        "backwards",
        "10f01348a868504516e39d76136aeb13b1d4df60e4882367d549808ba7248926",
    ),
    (
        "fuse",
        "2d62e25534db18b112c3e7938336b624425735cf420a0b4f2092d7f85432de80",
    ),
    (
        "kv",
        "96ee823155b1ad8d82ba01637e22f7e7b2a537868441e83533cf2b8641926970",
    ),
    (
        "beam_search",
        "fb1224d0a117b4fe73ade862f6d594ce47caae8f0b884f8920368a7fcb7e11ad",
    ),
    (
        "flash_attention",
        "da892fe9387696296ce336da9d0c1340cb0949283680c3d3c841f91d476938d5",
    ),
    (
        "dflash_verify",
        "b81d0ea4344eec39923b891f9b31e8ecf5868fbf835d0c64fa389e7fa937d528",
    ),
    (
        "flash_attention_bwd",
        "b1b5cc097d86ac0a2485e3e87bb17e7d1b68af8a17c8268ce880ba759763a466",
    ),
    (
        "ternary_training",
        "e291e4e0396261656aef6cfa500126e470e18c7f0cde04c4bc2000c2a1a063ad",
    ),
];

#[test]
fn every_prompt_is_the_seed_text_byte_for_byte() {
    for &(name, expected) in SEED_SHA256 {
        let id: ChallengeId = name.parse().unwrap();
        let digest: String = Sha256::digest(seed_prompt(id).as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, expected, "prompts/{name}.md differs from the seed");
    }
}

#[test]
fn prompts_carry_their_challenge_deliverables() {
    // Guards against two prompts being swapped in the embedding table.
    let marker = [
        (ChallengeId::Backwards, "layer normalization"),
        (ChallengeId::Fuse, "softmax + top-k"),
        (ChallengeId::Kv, "KV-cache"),
        (ChallengeId::BeamSearch, "batched_beam_search"),
        (ChallengeId::FlashAttention, "flash_attention_fwd"),
        (ChallengeId::DflashVerify, "build_tree_mask"),
        (ChallengeId::FlashAttentionBwd, "flash_attention_bwd"),
        (ChallengeId::TernaryTraining, "Ternary Bonsai"),
    ];
    for (id, needle) in marker {
        assert!(seed_prompt(id).contains(needle), "{id} lacks {needle:?}");
    }
}
