//! Every loader on arbitrary bytes: the first byte picks the file name (and so the parser), the
//! rest is the file. A loader may refuse a file; it must never panic, hang or blow the stack
//! (the server also parses in a sandboxed child, but a crash found here is a bug to fix or to
//! report upstream).
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = ["a.txt", "a.md", "a.html", "a.pdf", "a.docx", "unknown"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    if let Ok(extracted) = ragd_backends::loaders::FileExtractor::extract_now(name, bytes) {
        assert!(!extracted.text.contains('\0'), "{name}: NUL in the text");
        let chars = extracted.text.chars().count();
        assert!(
            extracted.page_starts.iter().all(|&p| p <= chars),
            "{name}: a page starts past the end"
        );
    }
});
