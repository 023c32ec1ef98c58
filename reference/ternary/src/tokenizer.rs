//! Byte-level tokenizer: token id = byte value, 256 symbols.
//!
//! Why bytes and not a BPE: the corpus is a few hundred kilobytes, too little to train a useful
//! merge table, and a fixed byte vocabulary keeps the embedding and the LM head small (256 rows),
//! needs no extra dependency, never meets an unknown symbol, and makes the perplexity a per-byte
//! figure that any submission using bytes can be compared with (and the unigram baseline is the
//! byte-frequency model). The cost: sequences are ~4× longer than with a BPE, so a context of 64
//! tokens spans only about a dozen words.

/// Number of token ids.
pub const BYTE_VOCAB_SIZE: usize = 256;

/// Bytes of `text` as token ids.
pub fn encode(text: &str) -> Vec<usize> {
    text.bytes().map(usize::from).collect()
}

/// Text of byte tokens; invalid UTF-8 (a sample cut inside a character) becomes U+FFFD.
/// Callers guarantee every id is below 256.
pub fn decode(tokens: &[usize]) -> String {
    let bytes: Vec<u8> = tokens
        .iter()
        .map(|&t| u8::try_from(t).expect("byte tokens are below 256"))
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_including_multibyte_characters() {
        let text = "Ternary — {−1, 0, +1}";
        let tokens = encode(text);
        assert_eq!(tokens.len(), text.len());
        assert!(tokens.iter().all(|&t| t < BYTE_VOCAB_SIZE));
        assert_eq!(decode(&tokens), text);
    }
}
