//! `transcript.json`: one exchange with a model, kept beside the answer it produced.
//!
//! It holds what was asked, what came back byte for byte, and what it cost — never the key,
//! which is a request header and not part of [`ChatRequest`]. Its presence marks a sample as
//! answered, so an interrupted run resumes without asking again. It is written last and
//! atomically, after the reply's files, so a run killed half way leaves no transcript for an
//! answer that was not completely written.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chat::{ChatRequest, Usage};
use crate::reply::Rejected;

/// The transcript's file name in a challenge folder.
pub const TRANSCRIPT_FILE_NAME: &str = "transcript.json";

/// Bumped when a field changes meaning or disappears.
pub const TRANSCRIPT_SCHEMA: u32 = 1;

/// A transcript is never larger than a reply can be, with room for the request.
const TRANSCRIPT_LIMIT: u64 = 64 << 20;

/// One request and its reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// [`TRANSCRIPT_SCHEMA`] of the judge that wrote it.
    pub schema: u32,
    /// The chat-completions URL asked.
    pub endpoint: String,
    /// The request as sent (the key is a header, never part of it).
    pub request: ChatRequest,
    /// The response body exactly as the server sent it.
    pub raw_reply: String,
    /// Why the server stopped, as it said in the first choice.
    pub finish_reason: Option<String>,
    /// The server stopped at `max_tokens`: the answer was graded as it was cut.
    pub cut_by_max_tokens: bool,
    /// Token counts, zero where the server reported none.
    pub usage: Usage,
    /// Seconds of the successful try.
    pub latency_seconds: f64,
    /// Tries it took, the successful one included.
    pub attempts: u32,
    /// Seconds since the Unix epoch when the request was first sent.
    pub started_unix: u64,
    /// The files written from the reply, in reply order.
    pub files: Vec<String>,
    /// Named blocks that were not written, and why.
    pub rejected: Vec<Rejected>,
    /// Fenced blocks that named no file (ignored).
    pub unnamed_blocks: usize,
}

/// Why a transcript could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// Missing, unreadable, a link, not a regular file, or over the size cap.
    #[error(transparent)]
    Read(#[from] judge_core::untrusted_fs::UntrustedFileError),
    /// The file and why its JSON is not a transcript.
    #[error("{} is not a transcript: {}", .0.display(), .1)]
    Malformed(std::path::PathBuf, #[source] serde_json::Error),
    /// Writing it atomically failed.
    #[error(transparent)]
    Write(#[from] judge_core::ReportError),
}

impl Transcript {
    /// Reads a transcript the way every file of a submission folder is read (no link, capped).
    pub fn read(path: &Path) -> Result<Transcript, TranscriptError> {
        let text = judge_core::untrusted_fs::read_capped_string(path, TRANSCRIPT_LIMIT)?;
        serde_json::from_str(&text).map_err(|e| TranscriptError::Malformed(path.to_path_buf(), e))
    }

    /// Writes it as pretty JSON, the way GRADE.json is written (temporary file, then rename).
    pub fn write_atomic(&self, path: &Path) -> Result<(), TranscriptError> {
        let json = serde_json::to_string_pretty(self).expect("a Transcript always serialises");
        judge_core::report::write_atomic(path, json.as_bytes())?;
        Ok(())
    }

    /// The reply's text (the first choice's content), parsed again from the raw body.
    pub fn content(&self) -> String {
        serde_json::from_str::<crate::chat::ChatResponse>(&self.raw_reply)
            .map(|r| r.content().to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;

    #[test]
    fn a_transcript_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TRANSCRIPT_FILE_NAME);
        let transcript = Transcript {
            schema: TRANSCRIPT_SCHEMA,
            endpoint: "http://127.0.0.1:1/v1/chat/completions".into(),
            request: ChatRequest {
                model: "m".into(),
                messages: vec![Message::user("q")],
                temperature: Some(0.2),
                max_tokens: None,
            },
            raw_reply: r#"{"choices":[{"message":{"content":"a"}}]}"#.into(),
            finish_reason: Some("stop".into()),
            cut_by_max_tokens: false,
            usage: Usage {
                prompt_tokens: 1,
                completion_tokens: 2,
                total_tokens: 3,
            },
            latency_seconds: 0.25,
            attempts: 1,
            started_unix: 0,
            files: vec!["kv.py".into()],
            rejected: vec![],
            unnamed_blocks: 0,
        };
        transcript.write_atomic(&path).unwrap();
        let back = Transcript::read(&path).unwrap();
        assert_eq!(back, transcript);
        assert_eq!(back.content(), "a");
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            Transcript::read(&path),
            Err(TranscriptError::Malformed(..))
        ));
    }
}
