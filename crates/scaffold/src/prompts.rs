//! The prompts, embedded at build time from the repository's prompts/ folder.

use judge_core::ChallengeId;

include!(concat!(env!("OUT_DIR"), "/prompts.rs"));

fn entry(id: ChallengeId) -> (&'static str, Option<&'static str>) {
    let (_, prompt, interface) =
        find(id).expect("every challenge of the table has prompts/<id>.md (tested)");
    (prompt, *interface)
}

fn find(id: ChallengeId) -> Option<&'static (&'static str, &'static str, Option<&'static str>)> {
    PROMPTS.iter().find(|(name, _, _)| *name == id.as_str())
}

/// Whether `prompts/<id>.md` was embedded (the table-completeness test asks).
pub fn has_prompt(id: ChallengeId) -> bool {
    find(id).is_some()
}

/// The seed's heredoc text for `id`, byte for byte.
pub fn seed_prompt(id: ChallengeId) -> &'static str {
    entry(id).0
}

/// The "Submission interface" section the grader defines for `id`, once it has one.
pub fn interface_section(id: ChallengeId) -> Option<&'static str> {
    entry(id).1
}

/// What PROMPT.md holds: the seed text, followed by the interface section unless `original`.
pub fn prompt_markdown(id: ChallengeId, original: bool) -> String {
    let mut text = seed_prompt(id).to_string();
    if let (false, Some(section)) = (original, interface_section(id)) {
        text.push('\n');
        text.push_str(section);
    }
    text
}
