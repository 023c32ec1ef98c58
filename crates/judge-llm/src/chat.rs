//! The request and response bodies of `/v1/chat/completions`, as far as judge uses them.
//! Unknown response fields are ignored; missing optional ones default, so the many servers that
//! speak the protocol loosely (no `usage`, no `finish_reason`) are all understood.

use serde::{Deserialize, Serialize};

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the message.
    pub content: String,
}

impl Message {
    /// A `system` message: the instructions the model answers under.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: content.into(),
        }
    }

    /// A `user` message: the prompt.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model id the server knows (not necessarily the model folder's name).
    pub model: String,
    /// The conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// Sampling temperature; left out of the body when `None`, so the server's default holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Longest reply in tokens; left out of the body when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// Token counts, as the server reports them (zero when it reports none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the request's messages.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens of the reply.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Both, as the server sums them.
    #[serde(default)]
    pub total_tokens: u64,
}

impl Usage {
    /// Adds `other`'s counts to these, for the totals of a run or a review.
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// The message of a choice; `content` may be null (a refusal, a tool call).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ResponseMessage {
    /// The reply's text, when there is one.
    #[serde(default)]
    pub content: Option<String>,
}

/// One of the replies the server offers (judge reads the first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Choice {
    /// The reply.
    #[serde(default)]
    pub message: ResponseMessage,
    /// Why generation stopped (`stop`, `length`, …), when the server says.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ChatResponse {
    /// The model id the server says answered, when it says.
    #[serde(default)]
    pub model: Option<String>,
    /// The replies; judge reads the first.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token counts, when the server reports them.
    #[serde(default)]
    pub usage: Option<Usage>,
}

impl ChatResponse {
    /// The text of the first choice (empty when there is none).
    pub fn content(&self) -> &str {
        self.choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .unwrap_or("")
    }

    /// Why the first choice stopped, when the server says.
    pub fn finish_reason(&self) -> Option<&str> {
        self.choices.first()?.finish_reason.as_deref()
    }

    /// Whether the server stopped because the reply reached `max_tokens`.
    pub fn was_cut(&self) -> bool {
        self.finish_reason() == Some("length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_response_still_parses() {
        let response: ChatResponse =
            serde_json::from_str(r#"{"choices":[{"message":{"content":"hi"}}]}"#).unwrap();
        assert_eq!(response.content(), "hi");
        assert_eq!(response.finish_reason(), None);
        assert_eq!(response.usage, None);
        let cut: ChatResponse = serde_json::from_str(
            r#"{"choices":[{"message":{"content":null},"finish_reason":"length"}],"usage":{"prompt_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(cut.content(), "");
        assert!(cut.was_cut());
        assert_eq!(cut.usage.unwrap().prompt_tokens, 3);
    }

    #[test]
    fn unset_options_are_left_out_of_the_request() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![Message::user("q")],
            temperature: None,
            max_tokens: Some(10),
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            json,
            r#"{"model":"m","messages":[{"role":"user","content":"q"}],"max_tokens":10}"#
        );
    }
}
