//! DOCX (Office Open XML): paragraphs of `word/document.xml`, with `Heading N`/`Title` styles
//! turned into Markdown headings; the title comes from `docProps/core.xml`. Decompressed parts are
//! size-limited, so a zip bomb fails cleanly.

use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::Event;
use ragd_core::types::{Extracted, TextFormat};

/// Largest decompressed XML part read from a DOCX.
const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;

fn read_part(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> Result<Option<String>, String> {
    let file = match archive.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("cannot read {name} in the DOCX: {e}")),
    };
    let mut text = String::new();
    let read = file
        .take(MAX_PART_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {name} in the DOCX: {e}"))?;
    if read as u64 > MAX_PART_BYTES {
        return Err(format!(
            "{name} in the DOCX is over {MAX_PART_BYTES} bytes uncompressed"
        ));
    }
    Ok(Some(text))
}

fn heading_level(style: &str) -> Option<usize> {
    let lower = style.to_ascii_lowercase();
    if lower == "title" {
        return Some(1);
    }
    lower
        .strip_prefix("heading")
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map(|n| n.clamp(1, 6))
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Paragraphs of `word/document.xml` as Markdown-like text.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "XML events other than these carry no text"
)]
fn body_text(xml: &str) -> Result<(String, Option<String>), String> {
    let mut reader = Reader::from_str(xml);
    let (mut out, mut para, mut first_heading) = (String::new(), String::new(), None);
    let (mut level, mut in_text) = (None::<usize>, false);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed word/document.xml: {e}"))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => match e.local_name().as_ref() {
                "p" => {
                    para.clear();
                    level = None;
                }
                "pStyle" => {
                    if let Ok(Some(val)) = e.try_get_attribute("w:val") {
                        let style = val
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|e| e.to_string())?;
                        level = heading_level(&style);
                    }
                }
                // `<w:t/>` (an empty element) carries no text; only a start tag opens a run.
                "t" => in_text = matches!(event, Event::Start(_)),
                "tab" => para.push('\t'),
                "br" | "cr" => para.push('\n'),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => {
                    let text = para.trim();
                    if !text.is_empty() {
                        if let Some(n) = level {
                            if first_heading.is_none() {
                                first_heading = Some(text.to_owned());
                            }
                            out.push_str(&"#".repeat(n));
                            out.push(' ');
                        }
                        out.push_str(text);
                        out.push_str("\n\n");
                    }
                    para.clear();
                }
                _ => {}
            },
            Event::Text(t) if in_text => para.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => {
                if let Some(c) = r.resolve_char_ref().ok().flatten().or_else(|| entity(&r)) {
                    para.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((out.trim_end().to_owned(), first_heading))
}

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "XML events other than these carry no title"
)]
fn core_title(xml: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "title" => in_title = true,
            Event::End(e) if e.local_name().as_ref() == "title" => break,
            Event::Text(t) if in_title => title.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_title => title.extend(entity(&r)),
            Event::Eof => break,
            _ => {}
        }
    }
    Some(title.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Extracts a DOCX file.
pub(super) fn extract(bytes: &[u8]) -> Result<Extracted, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a valid DOCX (zip) file: {e}"))?;
    let document = read_part(&mut archive, "word/document.xml")?
        .ok_or_else(|| "not a valid DOCX file: word/document.xml is missing".to_owned())?;
    let (text, first_heading) = body_text(&document)?;
    let title = read_part(&mut archive, "docProps/core.xml")?
        .as_deref()
        .and_then(core_title)
        .or(first_heading);
    Ok(Extracted {
        text,
        title,
        mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        format: TextFormat::Markdown,
        page_starts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_headings_and_entities() {
        let xml = r#"<w:document xmlns:w="x"><w:body>
            <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Feijoada</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">Feij&#227;o preto </w:t></w:r><w:r><w:t>&amp; carne.</w:t></w:r></w:p>
            </w:body></w:document>"#;
        let (text, heading) = body_text(xml).expect("parse");
        assert_eq!(text, "# Feijoada\n\nFeijão preto & carne.");
        assert_eq!(heading.as_deref(), Some("Feijoada"));
    }

    #[test]
    fn garbage_is_a_clean_error() {
        assert!(extract(b"PK\x03\x04garbage").is_err());
        assert!(extract(b"not a zip").is_err());
    }
}
