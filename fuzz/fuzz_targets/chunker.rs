//! The chunker on arbitrary text with the real MiniLM tokenizer: chunks stay within the token
//! budget, their character ranges are in bounds and in order, and their text is what the ranges
//! say. `RAGD_FUZZ_TOKENIZER` names the tokenizer (default: ../models/all-MiniLM-L6-v2).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use ragd_core::chunking::{Chunker, ChunkerConfig};
use ragd_core::ports::TokenCounter;
use ragd_core::types::{Extracted, TextFormat};

fn chunker() -> &'static (Chunker, Arc<dyn TokenCounter>) {
    static CHUNKER: OnceLock<(Chunker, Arc<dyn TokenCounter>)> = OnceLock::new();
    CHUNKER.get_or_init(|| {
        let path = std::env::var("RAGD_FUZZ_TOKENIZER")
            .unwrap_or_else(|_| "../models/all-MiniLM-L6-v2/tokenizer.json".into());
        let counter: Arc<dyn TokenCounter> = Arc::new(
            ragd_backends::embed::tokenizer::TokenCount::load(std::path::Path::new(&path))
                .expect("the tokenizer (run `make model`)"),
        );
        let config = ChunkerConfig::new(48, 8).expect("config");
        (Chunker::new(config, Arc::clone(&counter)), counter)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (chunker, counter) = chunker();
    let format = if pick % 2 == 0 { TextFormat::Plain } else { TextFormat::Markdown };
    let doc = Extracted {
        text: text.to_owned(),
        title: None,
        mime: "text/plain",
        format,
        page_starts: Vec::new(),
    };
    let chars: Vec<char> = text.chars().collect();
    let mut last_start = 0;
    for chunk in chunker.chunk(&doc) {
        assert!(chunk.char_start <= chunk.char_end && chunk.char_end <= chars.len());
        assert!(chunk.char_start >= last_start, "chunks out of order");
        last_start = chunk.char_start;
        let span: String = chars[chunk.char_start..chunk.char_end].iter().collect();
        assert_eq!(span, chunk.text, "the text is not its range");
        // A lone grapheme cluster can outgrow any budget; anything longer must fit.
        if chunk.text.chars().count() > 8 {
            assert!(counter.count_tokens(&chunk.text) <= 48, "over the token budget");
        }
    }
});
