//! Document loaders: raw bytes of a file or upload → [`Extracted`] text and metadata.
//!
//! Supported: plain text (`.txt` and other UTF-8 text), Markdown, HTML, PDF and DOCX. The type is
//! taken from the file extension and, when that is unknown, from the content. A file that cannot
//! be read — corrupt PDF, binary data, text that is not UTF-8 — yields [`Error::Invalid`] naming
//! the file and the reason.
//!
//! [`FileExtractor`] parses in the calling process; the server and the CLI use
//! [`SandboxedExtractor`], which runs the same parsers in a child process under memory, CPU and
//! time limits, so a document that crashes a parser (a stack overflow aborts the whole process,
//! whatever `catch_unwind` does) costs one file, not the server.

mod docx;
mod html;
mod pdf;
mod sandbox;
mod text;
mod walk;

pub use sandbox::{
    PARSER_WORKER_ARG, ParserIsolation, ParserLimits, SandboxedExtractor, parser_worker_main,
};
pub use walk::{FileEntry, WalkOptions, collect_files};

use ragd_core::ports::Extractor;
use ragd_core::types::Extracted;
use ragd_core::{Error, Result};

/// The formats ragd reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 text.
    Text,
    /// Markdown.
    Markdown,
    /// HTML.
    Html,
    /// PDF.
    Pdf,
    /// Word (OOXML).
    Docx,
}

impl Format {
    /// The format implied by a file name's extension, if ragd knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" | "log" | "csv" | "tsv" | "rst" | "adoc" | "json" | "yaml" | "yml"
            | "toml" => Self::Text,
            "md" | "markdown" | "mdx" => Self::Markdown,
            "html" | "htm" | "xhtml" => Self::Html,
            "pdf" => Self::Pdf,
            "docx" => Self::Docx,
            _ => return None,
        })
    }

    /// The format implied by the first bytes.
    fn sniff(bytes: &[u8]) -> Self {
        let head = &bytes[..bytes.len().min(512)];
        let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
        if head.starts_with(b"%PDF-") {
            Self::Pdf
        } else if head.starts_with(b"PK\x03\x04") {
            Self::Docx
        } else if lower.trim_start().starts_with("<!doctype html") || lower.contains("<html") {
            Self::Html
        } else {
            Self::Text
        }
    }
}

/// Extracts text from every supported format, in this process (on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct FileExtractor;

impl FileExtractor {
    /// Parses `bytes` on the calling thread; `name` gives the type and the error messages.
    pub fn extract_now(name: &str, bytes: &[u8]) -> Result<Extracted> {
        let format = Format::from_name(name).unwrap_or_else(|| Format::sniff(bytes));
        let result = match format {
            Format::Text => text::plain(bytes),
            Format::Markdown => text::markdown(bytes),
            Format::Html => html::extract(bytes),
            Format::Pdf => pdf::extract(bytes),
            Format::Docx => docx::extract(bytes),
        };
        let mut extracted = result.map_err(|reason| Error::invalid(format!("{name}: {reason}")))?;
        // The text is NUL-free whatever a parser passed on (a NUL becomes a space, so character
        // offsets such as page starts stay right); plain text with a NUL is refused as binary.
        if extracted.text.contains('\0') {
            extracted.text = extracted.text.replace('\0', " ");
        }
        Ok(extracted)
    }
}

#[async_trait::async_trait]
impl Extractor for FileExtractor {
    async fn extract(&self, name: &str, bytes: Vec<u8>) -> Result<Extracted> {
        let name = name.to_owned();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            Self::extract_now(&name, &bytes)
        })
        .await
        .map_err(Error::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names_and_content() {
        assert_eq!(Format::from_name("a/B.MD"), Some(Format::Markdown));
        assert_eq!(Format::from_name("x.tar.gz"), None);
        assert_eq!(Format::sniff(b"%PDF-1.4 ..."), Format::Pdf);
        assert_eq!(Format::sniff(b"<!DOCTYPE html><html>"), Format::Html);
    }

    #[test]
    fn errors_name_the_file_and_reason() {
        let err = FileExtractor::extract_now("bad.txt", b"a\xe7\xe3o")
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().starts_with("bad.txt: "), "{err}");
        assert!(err.to_string().contains("UTF-8"), "{err}");
        let err = FileExtractor::extract_now("bin.dat", b"\x00\x01\x02\x00\xff")
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("binary"), "{err}");
    }
}
