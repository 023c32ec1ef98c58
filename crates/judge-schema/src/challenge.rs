//! The challenges, in the seed script's order, with their difficulty labels: one table.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares the challenge table once: the `ChallengeId` enum and [`CHALLENGES`] both come from
/// this list, so adding a challenge is one row here (plus its prompt, reference and grader;
/// see ARCHITECTURE.md, "Adding a challenge").
macro_rules! challenge_table {
    ($(
        $variant:ident {
            id: $id:literal,
            difficulty: $difficulty:ident,
            summary: $summary:literal,
            guide_detail: $detail:expr,
            suggested_rank: $rank:literal,
            data_file: $data:expr,
            reference_crate: $reference:literal $(,)?
        }
    ),* $(,)?) => {
        /// A challenge id: the seed's folder name for it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ChallengeId {
            $(
                #[doc = $summary]
                $variant,
            )*
        }

        /// Every challenge, in the seed script's order: the one table the rest is derived from.
        pub const CHALLENGES: &[ChallengeInfo] = &[
            $(ChallengeInfo {
                id: ChallengeId::$variant,
                name: $id,
                difficulty: Difficulty::$difficulty,
                summary: $summary,
                guide_detail: $detail,
                suggested_rank: $rank,
                data_file: $data,
                reference_crate: $reference,
            },)*
        ];

        impl ChallengeId {
            /// How many challenges the table holds.
            pub const COUNT: usize = [$(ChallengeId::$variant),*].len();

            /// All challenges in the seed script's order (the order reports use).
            pub const ALL: [ChallengeId; ChallengeId::COUNT] = [$(ChallengeId::$variant),*];
        }
    };
}

challenge_table! {
    Backwards {
        id: "backwards",
        difficulty: Medium,
        summary: "Layer Norm backward pass (manual gradients)",
        guide_detail: None,
        suggested_rank: 0,
        data_file: None,
        reference_crate: "layernorm",
    },
    Fuse {
        id: "fuse",
        difficulty: Medium,
        summary: "Fused softmax + top-K GPU kernel (CUDA)",
        guide_detail: None,
        suggested_rank: 1,
        data_file: None,
        reference_crate: "fuse",
    },
    Kv {
        id: "kv",
        difficulty: Medium,
        summary: "KV-cache system design (variable-length batching)",
        guide_detail: None,
        suggested_rank: 2,
        data_file: None,
        reference_crate: "kv-cache",
    },
    BeamSearch {
        id: "beam_search",
        difficulty: Hard,
        summary: "Batched beam search with length penalty + EOS",
        guide_detail: None,
        suggested_rank: 4,
        data_file: None,
        reference_crate: "beam-search",
    },
    FlashAttention {
        id: "flash_attention",
        difficulty: Hard,
        summary: "Tiled Flash Attention forward pass (online softmax)",
        guide_detail: None,
        suggested_rank: 3,
        data_file: None,
        reference_crate: "flash-attention",
    },
    DflashVerify {
        id: "dflash_verify",
        difficulty: ExtraHard,
        summary: "DFlash tree attention verification (speculative decoding)",
        guide_detail: None,
        suggested_rank: 5,
        data_file: None,
        reference_crate: "dflash-verify",
    },
    FlashAttentionBwd {
        id: "flash_attention_bwd",
        difficulty: ExtraHard,
        summary: "Flash Attention backward pass (tiled, recompute, dsoftmax)",
        guide_detail: None,
        suggested_rank: 6,
        data_file: None,
        reference_crate: "flash-attention",
    },
    TernaryTraining {
        id: "ternary_training",
        difficulty: OpenEndedResearch,
        summary: "Native ternary-weight LLM training from scratch",
        guide_detail: Some("(BitNet b1.58 lineage, STE, group-wise quantization)"),
        suggested_rank: 7,
        data_file: Some("train_data.txt"),
        reference_crate: "ternary",
    },
}

/// The seed script's challenges, in its order: the table starts with them (tested), and tests
/// that pin the seed's text use this list, so adding a challenge changes none of them.
pub const SEED_CHALLENGES: [&str; 8] = [
    "backwards",
    "fuse",
    "kv",
    "beam_search",
    "flash_attention",
    "dflash_verify",
    "flash_attention_bwd",
    "ternary_training",
];

/// One row of the challenge table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeInfo {
    /// The id its reports and folders use.
    pub id: ChallengeId,
    /// The folder name, also the id on the command line and in reports.
    pub name: &'static str,
    /// The seed's label for it, shown beside every report.
    pub difficulty: Difficulty,
    /// One line, as the seed's difficulty guide words it.
    pub summary: &'static str,
    /// A second line the difficulty guide prints under the summary, if any.
    pub guide_detail: Option<&'static str>,
    /// Place in the guide's "suggested order (easiest first)", 0-based.
    pub suggested_rank: usize,
    /// A data file the scaffold puts beside the prompt (the training corpus), if any.
    pub data_file: Option<&'static str>,
    /// The folder below `reference/` that holds its Rust reference implementation.
    pub reference_crate: &'static str,
}

/// The seed's difficulty labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Difficulty {
    #[serde(rename = "MEDIUM")]
    /// The seed's MEDIUM.
    Medium,
    #[serde(rename = "HARD")]
    /// The seed's HARD.
    Hard,
    #[serde(rename = "EXTRA HARD")]
    /// The seed's EXTRA HARD.
    ExtraHard,
    #[serde(rename = "OPEN-ENDED RESEARCH")]
    /// The seed's OPEN-ENDED RESEARCH.
    OpenEndedResearch,
}

impl Difficulty {
    /// From easiest to hardest, the order of the seed's difficulty guide.
    pub const ALL: [Difficulty; 4] = [
        Difficulty::Medium,
        Difficulty::Hard,
        Difficulty::ExtraHard,
        Difficulty::OpenEndedResearch,
    ];

    /// The heading the difficulty guide gives this level.
    pub fn guide_heading(self) -> &'static str {
        match self {
            Difficulty::OpenEndedResearch => "OPEN-ENDED RESEARCH (SOTA-grade)",
            other => other.label(),
        }
    }

    /// The label as the seed prints it (`EXTRA HARD`).
    pub fn label(self) -> &'static str {
        match self {
            Difficulty::Medium => "MEDIUM",
            Difficulty::Hard => "HARD",
            Difficulty::ExtraHard => "EXTRA HARD",
            Difficulty::OpenEndedResearch => "OPEN-ENDED RESEARCH",
        }
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl ChallengeId {
    /// This challenge's row of the table.
    pub fn info(self) -> &'static ChallengeInfo {
        &CHALLENGES[self as usize]
    }

    /// The folder name, also the id on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// The difficulty its table row gives it.
    pub fn difficulty(self) -> Difficulty {
        self.info().difficulty
    }

    /// One-line summary, as the seed's difficulty guide words it.
    pub fn summary(self) -> &'static str {
        self.info().summary
    }

    /// Position in the seed's order, used to sort report rows.
    pub fn seed_index(self) -> usize {
        self as usize
    }

    /// The id a misspelt folder name most likely meant ("did you mean flash_attention?"):
    /// the closest by edit distance, if it is within a third of the name's length.
    pub fn nearest(name: &str) -> Option<ChallengeId> {
        let name = name.to_ascii_lowercase().replace('-', "_");
        CHALLENGES
            .iter()
            .map(|row| (edit_distance(&name, row.name), row.id))
            .min()
            .filter(|(distance, _)| *distance * 3 <= name.chars().count().max(3))
            .map(|(_, id)| id)
    }
}

/// Levenshtein distance over chars (one row of the dynamic programme at a time).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

impl fmt::Display for ChallengeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the challenge ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown challenge '{0}' (known: {known})", known = known_names())]
pub struct UnknownChallenge(pub String);

/// The ids as the unknown-challenge message lists them.
pub fn known_names() -> String {
    CHALLENGES
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for ChallengeId {
    type Err = UnknownChallenge;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChallengeId::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChallenge(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_folder_names() {
        for id in ChallengeId::ALL {
            assert_eq!(id.as_str().parse::<ChallengeId>(), Ok(id));
        }
        assert!("flash-attention".parse::<ChallengeId>().is_err());
    }

    #[test]
    fn every_row_sits_at_its_ids_index_and_names_are_unique() {
        for (index, row) in CHALLENGES.iter().enumerate() {
            assert_eq!(row.id as usize, index);
            assert_eq!(row.id.info(), row);
        }
        let mut names: Vec<_> = CHALLENGES.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ChallengeId::COUNT);
        let mut ranks: Vec<_> = CHALLENGES.iter().map(|c| c.suggested_rank).collect();
        ranks.sort();
        assert_eq!(ranks, (0..ChallengeId::COUNT).collect::<Vec<_>>());
    }

    #[test]
    fn the_unknown_challenge_message_lists_every_id_from_the_table() {
        let message = "flash_atention"
            .parse::<ChallengeId>()
            .unwrap_err()
            .to_string();
        let names: Vec<_> = CHALLENGES.iter().map(|c| c.name).collect();
        assert_eq!(
            message,
            format!(
                "unknown challenge 'flash_atention' (known: {})",
                names.join(", ")
            )
        );
        assert!(message.contains(
            "(known: backwards, fuse, kv, beam_search, flash_attention, dflash_verify, \
             flash_attention_bwd, ternary_training"
        ));
    }

    #[test]
    fn a_misspelt_folder_name_finds_the_id_it_meant_and_noise_finds_none() {
        assert_eq!(
            ChallengeId::nearest("flash_atention"),
            Some(ChallengeId::FlashAttention)
        );
        assert_eq!(
            ChallengeId::nearest("Beam-Search"),
            Some(ChallengeId::BeamSearch)
        );
        assert_eq!(
            ChallengeId::nearest("backward"),
            Some(ChallengeId::Backwards)
        );
        assert_eq!(ChallengeId::nearest("kvv"), Some(ChallengeId::Kv));
        assert_eq!(ChallengeId::nearest("notes"), None);
        assert_eq!(ChallengeId::nearest("grades"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn seed_order_and_difficulties_match_the_seed_script() {
        let labels: Vec<_> = ChallengeId::ALL
            .iter()
            .map(|c| format!("{}|{}", c, c.difficulty()))
            .collect();
        assert_eq!(
            labels[..SEED_CHALLENGES.len()],
            [
                "backwards|MEDIUM",
                "fuse|MEDIUM",
                "kv|MEDIUM",
                "beam_search|HARD",
                "flash_attention|HARD",
                "dflash_verify|EXTRA HARD",
                "flash_attention_bwd|EXTRA HARD",
                "ternary_training|OPEN-ENDED RESEARCH",
            ]
        );
        let names: Vec<_> = CHALLENGES.iter().map(|c| c.name).collect();
        assert_eq!(names[..SEED_CHALLENGES.len()], SEED_CHALLENGES);
    }
}
