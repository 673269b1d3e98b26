//! PDF text, page by page (so chunks know their page), through `pdf-extract`. The parser can
//! panic on malformed files; that is caught and reported as a corrupt PDF.

use ragd_core::types::{Extracted, TextFormat};

fn tidy(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut blank = 0;
    for line in page.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line.trim_start());
    }
    out
}

/// Extracts a PDF.
pub(super) fn extract(bytes: &[u8]) -> Result<Extracted, String> {
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| "corrupt or unsupported PDF (the parser failed)".to_owned())?
        .map_err(|e| format!("cannot read PDF: {e}"))?;
    let mut text = String::new();
    let mut page_starts = Vec::with_capacity(pages.len());
    let mut chars = 0usize;
    for page in &pages {
        if !text.is_empty() {
            text.push_str("\n\n");
            chars += 2;
        }
        page_starts.push(chars);
        let page = tidy(page);
        chars += page.chars().count();
        text.push_str(&page);
    }
    let title = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .filter(|l| l.chars().count() <= 120)
        .map(str::to_owned);
    Ok(Extracted {
        text,
        title,
        mime: "application/pdf",
        format: TextFormat::Plain,
        page_starts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_pdf_is_an_error_not_a_panic() {
        assert!(extract(b"%PDF-1.4\n1 0 obj garbage").is_err());
        assert!(extract(b"").is_err());
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("  a\n\n\n b \nc"), "a\n\nb\nc");
    }
}
