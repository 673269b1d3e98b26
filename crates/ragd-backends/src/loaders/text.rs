//! Plain text and Markdown: decoding with clear errors for binary data and non-UTF-8 text.

use ragd_core::types::{Extracted, TextFormat};

/// Decodes text: UTF-8 (BOM stripped) or UTF-16 with a BOM; refuses binary data and other
/// encodings with a reason the user can act on. The text never holds a NUL (found by the
/// `loaders` fuzz target: UTF-16 text, or a NUL past the first 8 KiB, used to pass one on).
pub(super) fn decode(bytes: &[u8]) -> Result<String, String> {
    let text = decode_any(bytes)?;
    if text.contains('\0') {
        return Err("looks like a binary file (contains NUL characters), not text".to_owned());
    }
    Ok(text)
}

fn decode_any(bytes: &[u8]) -> Result<String, String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return decode_utf8(rest);
    }
    let utf16 = |le: bool, rest: &[u8]| -> Result<String, String> {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|p| {
                if le {
                    u16::from_le_bytes([p[0], p[1]])
                } else {
                    u16::from_be_bytes([p[0], p[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| "invalid UTF-16 text".to_owned())
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(true, rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(false, rest);
    }
    decode_utf8(bytes)
}

fn decode_utf8(bytes: &[u8]) -> Result<String, String> {
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Err("looks like a binary file (contains NUL bytes), not text".to_owned());
    }
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        format!(
            "not valid UTF-8 text (invalid byte at offset {}); convert it to UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Plain UTF-8 text.
pub(super) fn plain(bytes: &[u8]) -> Result<Extracted, String> {
    let text = decode(bytes)?;
    Ok(Extracted {
        text,
        title: None,
        mime: "text/plain",
        format: TextFormat::Plain,
        page_starts: Vec::new(),
    })
}

/// Markdown: the first level-1 heading is the title.
pub(super) fn markdown(bytes: &[u8]) -> Result<Extracted, String> {
    let text = decode(bytes)?;
    let title = text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Ok(Extracted {
        text,
        title,
        mime: "text/markdown",
        format: TextFormat::Markdown,
        page_starts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_a_nul_anywhere_is_binary() {
        // Found by fuzzing: UTF-16 that decodes to NULs, and a NUL past the first 8 KiB.
        assert!(decode(b"\xFE\xFF\x00\x00\x00A").is_err());
        let mut late = vec![b'a'; 10_000];
        late.push(0);
        assert!(decode(&late).is_err());
    }

    #[test]
    fn decodes_bom_and_utf16() {
        assert_eq!(decode(b"\xEF\xBB\xBFol\xc3\xa1").as_deref(), Ok("olá"));
        assert_eq!(decode(b"\xFF\xFEh\x00i\x00").as_deref(), Ok("hi"));
    }

    #[test]
    fn markdown_title_is_first_h1() {
        let doc = markdown(b"intro\n# The Title\n## Sub\n").expect("markdown");
        assert_eq!(doc.title.as_deref(), Some("The Title"));
    }
}
