//! Models in the loop: a blocking client for OpenAI-compatible `/v1/chat/completions`
//! endpoints (vLLM, llama.cpp server, Ollama, hosted APIs), the parsing of a reply into the
//! files of a submission, the transcript kept beside every answer, and the rubric prompt and
//! verdict of `judge review`.
//!
//! The API key lives only in [`client::Client`] (read from an environment variable by the
//! caller); nothing in this crate serialises, logs or formats it.

#![warn(missing_docs)]

pub mod chat;
pub mod client;
#[cfg(feature = "mock")]
pub mod mock;
pub mod reply;
pub mod review;
pub mod transcript;

pub use chat::{ChatRequest, ChatResponse, Message, Usage};
pub use client::{Client, ClientError, Exchange, RetryPolicy};
pub use reply::{Extracted, ReplyFile, extract_files};
pub use transcript::{TRANSCRIPT_FILE_NAME, Transcript};
