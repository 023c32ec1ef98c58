//! The files of a reply: fenced code blocks that name their file.
//!
//! The prompts ask for each file as a fenced block whose opening line names it
//! (```` ```python file=flash_attention.py ````). Models often use a heading instead, so a block
//! right after a line that is only a file name (`**kv.py**`, `# file: kv.py`, `### kv.py`,
//! `` `kv.py` ``) is taken too. A block with no name is ignored: guessing would put prose
//! examples into the submission.
//!
//! Names come from an untrusted model, so only a plain file name is written: no folder, no `..`,
//! not hidden, printable ASCII from a small set, not one of the harness's own files, and the
//! contents are capped per file and in all.

use serde::{Deserialize, Serialize};

/// Longest file name accepted.
pub const NAME_LIMIT: usize = 100;
/// Largest single file accepted, in bytes.
pub const FILE_LIMIT: usize = 1 << 20;
/// Most files one reply may write.
pub const FILES_LIMIT: usize = 32;
/// Largest total of the files of one reply, in bytes.
pub const TOTAL_LIMIT: usize = 4 << 20;

/// Names the harness itself writes in a challenge folder; a reply never replaces them.
pub const RESERVED_NAMES: &[&str] = &["PROMPT.md", "GRADE.json", "transcript.json"];

/// One file of the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyFile {
    /// A plain file name, checked as the module doc says.
    pub name: String,
    /// The block's text, within [`FILE_LIMIT`].
    pub content: String,
}

/// A named block that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The name the block gave, as the model wrote it.
    pub name: String,
    /// Why it was not written (a folder in the name, over a limit, a reserved name).
    pub reason: String,
}

/// What a reply holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// In reply order; a name given twice keeps its last block.
    pub files: Vec<ReplyFile>,
    /// Named blocks that were refused, in reply order.
    pub rejected: Vec<Rejected>,

    /// Fenced blocks that named no file.
    pub unnamed_blocks: usize,
    /// A block still open when the reply ended (typically cut by `max_tokens`); it is kept.
    pub unterminated: bool,
}

/// Splits a reply into its files.
pub fn extract_files(reply: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut total = 0usize;
    let mut previous: Option<&str> = None;
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        let Some(fence) = Fence::open(line) else {
            if !line.trim().is_empty() {
                previous = Some(line);
            }
            continue;
        };
        let mut body = Vec::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            if fence.closes(inner) {
                closed = true;
                break;
            }
            body.push(inner);
        }
        out.unterminated |= !closed;
        let name = name_in_info(fence.info).or_else(|| previous.and_then(name_in_heading));
        previous = None;
        let Some(name) = name else {
            out.unnamed_blocks += 1;
            continue;
        };
        let mut content = body.join("\n");
        content.push('\n');
        match check(&name, &content, total, &out.files) {
            Err(reason) => out.rejected.push(Rejected { name, reason }),
            Ok(()) => {
                if let Some(old) = out.files.iter().position(|f| f.name == name) {
                    total -= out.files.remove(old).content.len();
                }
                total += content.len();
                out.files.push(ReplyFile { name, content });
            }
        }
    }
    out
}

/// An opening code fence: three or more backticks or tildes, at most three spaces in.
struct Fence<'a> {
    marker: char,
    length: usize,
    info: &'a str,
}

impl<'a> Fence<'a> {
    fn open(line: &'a str) -> Option<Self> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            return None;
        }
        let rest = &line[indent..];
        let marker = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let length = rest.len() - rest.trim_start_matches(marker).len();
        if length < 3 {
            return None;
        }
        let info = rest[length..].trim();
        // A backtick fence's info string has no backtick (CommonMark).
        if marker == '`' && info.contains('`') {
            return None;
        }
        Some(Fence {
            marker,
            length,
            info,
        })
    }

    fn closes(&self, line: &str) -> bool {
        let trimmed = line.trim();
        let run = trimmed.len() - trimmed.trim_start_matches(self.marker).len();
        run >= self.length && trimmed[run..].is_empty()
    }
}

/// `file=NAME` (or `filename=`, `name=`, `path=`, quoted or not) in a fence's info string, or a
/// bare word that looks like a file name (```` ```python kv.py ````).
fn name_in_info(info: &str) -> Option<String> {
    let words: Vec<&str> = info.split_whitespace().collect();
    for word in &words {
        if let Some((key, value)) = word.split_once(['=', ':']) {
            let key = key.to_ascii_lowercase();
            if matches!(
                key.as_str(),
                "file" | "filename" | "name" | "path" | "title"
            ) {
                let value = value.trim_matches(['"', '\'']);
                if !value.is_empty() {
                    return Some(value.to_string());
                }
            }
        }
    }
    words
        .iter()
        .skip(1)
        .chain(words.first().filter(|w| w.contains('.')))
        .find(|w| looks_like_file_name(w))
        .map(|w| w.to_string())
}

/// The file name a heading line stands for: the line with its decoration (`#`, `*`, `_`,
/// backticks, a `file:` label, a trailing colon) removed must be a single file-like word.
fn name_in_heading(line: &str) -> Option<String> {
    let mut text = line.trim().trim_start_matches('#').trim();
    text = text.trim_matches(['*', '_', '`', ' ']);
    for label in ["file:", "filename:", "file", "filename"] {
        if text.len() > label.len() && text[..label.len()].eq_ignore_ascii_case(label) {
            text = &text[label.len()..];
            break;
        }
    }
    let text = text
        .trim()
        .trim_end_matches(':')
        .trim_matches(['*', '_', '`', ' ', ':']);
    (!text.contains(char::is_whitespace) && looks_like_file_name(text)).then(|| text.to_string())
}

/// A word with a short alphanumeric extension (`kv.py`, `kernel.cu`, `a/b.py`): the test for
/// names that were not given with `file=`. Whether it is acceptable is [`check`]'s business.
fn looks_like_file_name(word: &str) -> bool {
    match word.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
                && ext.chars().any(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// Why a file of the reply is not written, if it is not.
fn check(name: &str, content: &str, total: usize, kept: &[ReplyFile]) -> Result<(), String> {
    sanitise_name(name)?;
    if content.len() > FILE_LIMIT {
        return Err(format!(
            "{} bytes, over the limit of {FILE_LIMIT}",
            content.len()
        ));
    }
    let replaced = kept
        .iter()
        .find(|f| f.name == name)
        .map_or(0, |f| f.content.len());
    if total - replaced + content.len() > TOTAL_LIMIT {
        return Err(format!(
            "the reply's files would exceed {TOTAL_LIMIT} bytes in all"
        ));
    }
    if replaced == 0 && kept.len() >= FILES_LIMIT {
        return Err(format!("more than {FILES_LIMIT} files in one reply"));
    }
    Ok(())
}

/// A name is written only when it is one plain, visible file name of safe characters.
pub fn sanitise_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.contains(['/', '\\']) {
        return Err("names a path, not a file in the challenge folder".into());
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err("contains '..'".into());
    }
    if name.starts_with('.') {
        return Err("a hidden file".into());
    }
    if name.starts_with('-') {
        return Err("starts with '-'".into());
    }
    if name.len() > NAME_LIMIT {
        return Err(format!("longer than {NAME_LIMIT} characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!("contains {bad:?}"));
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err("a file the harness writes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(extracted: &Extracted) -> Vec<&str> {
        extracted.files.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn blocks_named_on_the_fence_line_are_files() {
        let reply = "Here it is.\n\n```python file=flash_attention.py\nimport numpy as np\n\ndef f():\n    return 1\n```\n\n~~~ file=\"notes.md\"\n# Notes\n~~~\n";
        let got = extract_files(reply);
        assert_eq!(names(&got), ["flash_attention.py", "notes.md"]);
        assert_eq!(
            got.files[0].content,
            "import numpy as np\n\ndef f():\n    return 1\n"
        );
        assert_eq!(got.files[1].content, "# Notes\n");
        assert!(!got.unterminated);
    }

    #[test]
    fn headings_name_the_block_that_follows() {
        let reply = "**kv.py**\n```python\nA = 1\n```\n# file: test_kv.py\n\n```python\nB = 2\n```\n### `helpers.py`:\n```\nC = 3\n```\nSome prose.\n```python\nnot_a_file = True\n```\n";
        let got = extract_files(reply);
        assert_eq!(names(&got), ["kv.py", "test_kv.py", "helpers.py"]);
        assert_eq!(got.unnamed_blocks, 1);
    }

    #[test]
    fn a_longer_fence_holds_a_shorter_one() {
        let reply = "````markdown file=README.md\n```python\nx = 1\n```\n````\n";
        let got = extract_files(reply);
        assert_eq!(got.files[0].content, "```python\nx = 1\n```\n");
    }

    #[test]
    fn a_reply_cut_mid_block_keeps_what_it_has() {
        let got = extract_files("```python file=kv.py\ndef f():\n    ret");
        assert_eq!(names(&got), ["kv.py"]);
        assert!(got.unterminated);
        assert_eq!(got.files[0].content, "def f():\n    ret\n");
    }

    #[test]
    fn prose_and_unnamed_code_are_no_files() {
        let got = extract_files("I cannot do that.\n```\nprint(1)\n```\n");
        assert!(got.files.is_empty());
        assert_eq!(got.unnamed_blocks, 1);
    }

    #[test]
    fn unsafe_names_are_rejected_with_a_reason() {
        let reply = [
            "../evil.py",
            "/etc/passwd.txt",
            "a/b.py",
            ".bashrc",
            "GRADE.json",
            "transcript.json",
            "sp$ace.py",
            "x\u{202e}yp.py",
        ]
        .iter()
        .map(|n| format!("```python file={n}\nx\n```\n"))
        .collect::<String>();
        let got = extract_files(&reply);
        assert!(got.files.is_empty(), "{:?}", names(&got));
        assert_eq!(got.rejected.len(), 8, "{:?}", got.rejected);
        assert!(got.rejected.iter().all(|r| !r.reason.is_empty()));
        assert!(sanitise_name("flash_attention.py").is_ok());
        assert!(sanitise_name(&"a".repeat(NAME_LIMIT + 1)).is_err());
    }

    #[test]
    fn sizes_and_counts_are_capped() {
        let big = "x".repeat(FILE_LIMIT + 1);
        let got = extract_files(&format!("```python file=big.py\n{big}\n```\n"));
        assert!(got.files.is_empty());
        assert!(got.rejected[0].reason.contains("over the limit"));

        let many: String = (0..FILES_LIMIT + 3)
            .map(|i| format!("```python file=f{i}.py\nx\n```\n"))
            .collect();
        let got = extract_files(&many);
        assert_eq!(got.files.len(), FILES_LIMIT);
        assert_eq!(got.rejected.len(), 3);
    }

    #[test]
    fn a_name_given_twice_keeps_the_last_block() {
        let got = extract_files("```python file=kv.py\nold\n```\n```python file=kv.py\nnew\n```\n");
        assert_eq!(names(&got), ["kv.py"]);
        assert_eq!(got.files[0].content, "new\n");
    }
}
