//! The signatures a challenge's interface section declares (`prompts/<id>.interface.md`), so
//! that a call the submission's signature refuses can say what was expected beside what was
//! found.

use judge_core::ChallengeId;

/// (name, `name(params)`) for every list item of the interface section that opens with a
/// call in backticks (`` - `append(seq_ids, k, v)`: ... ``); the first declaration of a name
/// wins. A dotted name (`model.forward(...)`) is keyed by its last part.
pub fn declared_signatures(challenge: ChallengeId) -> Vec<(String, String)> {
    judge_scaffold::prompts::interface_section(challenge)
        .map(signatures_in)
        .unwrap_or_default()
}

fn signatures_in(section: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for line in section.lines() {
        let Some(rest) = line.trim_start().strip_prefix("- `") else {
            continue;
        };
        let Some((code, _)) = rest.split_once('`') else {
            continue;
        };
        let Some((callee, _)) = code.split_once('(') else {
            continue;
        };
        let is_name = !callee.is_empty()
            && callee
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !is_name || !code.ends_with(')') {
            continue;
        }
        let name = callee.rsplit('.').next().unwrap_or(callee).to_string();
        if !found.iter().any(|(known, _)| *known == name) {
            found.push((name, code.to_string()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_opening_with_a_call_are_signatures() {
        let section = "- Put your solution in `.py` files.\n\
                       - `KVCache(batch_size, num_heads, head_dim, max_len, dtype=np.float64)`: an empty cache\n\
                       - `append(seq_ids, k, v)`: one step\n  \
                         - `seq_ids`: a `list`\n  \
                         - `model.forward(token_ids, mask)`: logits\n\
                       - `append(other)`: a second mention\n";
        assert_eq!(
            signatures_in(section),
            [
                (
                    "KVCache".to_string(),
                    "KVCache(batch_size, num_heads, head_dim, max_len, dtype=np.float64)"
                        .to_string()
                ),
                ("append".to_string(), "append(seq_ids, k, v)".to_string()),
                (
                    "forward".to_string(),
                    "model.forward(token_ids, mask)".to_string()
                ),
            ]
        );
    }

    #[test]
    fn every_python_interface_declares_its_contract_names() {
        let beam = declared_signatures(ChallengeId::BeamSearch);
        assert!(
            beam.iter()
                .any(|(name, signature)| name == "batched_beam_search"
                    && signature.starts_with("batched_beam_search(prompts,")),
            "{beam:?}"
        );
        let backwards = declared_signatures(ChallengeId::Backwards);
        for name in ["layer_norm_forward", "layer_norm_backward"] {
            assert!(backwards.iter().any(|(n, _)| n == name), "{backwards:?}");
        }
    }
}
