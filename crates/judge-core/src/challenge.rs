//! The eight challenges, in the seed script's order, with their difficulty labels.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A challenge id: the seed's folder name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeId {
    Backwards,
    Fuse,
    Kv,
    BeamSearch,
    FlashAttention,
    DflashVerify,
    FlashAttentionBwd,
    TernaryTraining,
}

/// The seed's difficulty labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Difficulty {
    #[serde(rename = "MEDIUM")]
    Medium,
    #[serde(rename = "HARD")]
    Hard,
    #[serde(rename = "EXTRA HARD")]
    ExtraHard,
    #[serde(rename = "OPEN-ENDED RESEARCH")]
    OpenEndedResearch,
}

impl Difficulty {
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
    /// All challenges in the seed script's order (the order reports use).
    pub const ALL: [ChallengeId; 8] = [
        ChallengeId::Backwards,
        ChallengeId::Fuse,
        ChallengeId::Kv,
        ChallengeId::BeamSearch,
        ChallengeId::FlashAttention,
        ChallengeId::DflashVerify,
        ChallengeId::FlashAttentionBwd,
        ChallengeId::TernaryTraining,
    ];

    /// The folder name, also the id on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeId::Backwards => "backwards",
            ChallengeId::Fuse => "fuse",
            ChallengeId::Kv => "kv",
            ChallengeId::BeamSearch => "beam_search",
            ChallengeId::FlashAttention => "flash_attention",
            ChallengeId::DflashVerify => "dflash_verify",
            ChallengeId::FlashAttentionBwd => "flash_attention_bwd",
            ChallengeId::TernaryTraining => "ternary_training",
        }
    }

    pub fn difficulty(self) -> Difficulty {
        match self {
            ChallengeId::Backwards | ChallengeId::Fuse | ChallengeId::Kv => Difficulty::Medium,
            ChallengeId::BeamSearch | ChallengeId::FlashAttention => Difficulty::Hard,
            ChallengeId::DflashVerify | ChallengeId::FlashAttentionBwd => Difficulty::ExtraHard,
            ChallengeId::TernaryTraining => Difficulty::OpenEndedResearch,
        }
    }

    /// One-line summary, as the seed's difficulty guide words it.
    pub fn summary(self) -> &'static str {
        match self {
            ChallengeId::Backwards => "Layer Norm backward pass (manual gradients)",
            ChallengeId::Fuse => "Fused softmax + top-K GPU kernel (CUDA)",
            ChallengeId::Kv => "KV-cache system design (variable-length batching)",
            ChallengeId::BeamSearch => "Batched beam search with length penalty + EOS",
            ChallengeId::FlashAttention => "Tiled Flash Attention forward pass (online softmax)",
            ChallengeId::DflashVerify => {
                "DFlash tree attention verification (speculative decoding)"
            }
            ChallengeId::FlashAttentionBwd => {
                "Flash Attention backward pass (tiled, recompute, dsoftmax)"
            }
            ChallengeId::TernaryTraining => "Native ternary-weight LLM training from scratch",
        }
    }

    /// Position in the seed's order, used to sort report rows.
    pub fn seed_index(self) -> usize {
        ChallengeId::ALL
            .iter()
            .position(|c| *c == self)
            .expect("every id is in ALL")
    }
}

impl fmt::Display for ChallengeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the eight challenge ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown challenge '{0}' (known: backwards, fuse, kv, beam_search, flash_attention, dflash_verify, flash_attention_bwd, ternary_training)"
)]
pub struct UnknownChallenge(pub String);

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
    fn seed_order_and_difficulties_match_the_seed_script() {
        let labels: Vec<_> = ChallengeId::ALL
            .iter()
            .map(|c| format!("{}|{}", c, c.difficulty()))
            .collect();
        assert_eq!(
            labels,
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
    }
}
