//! HTML → Markdown-like text: headings become `#` lines (so the chunker splits on them), block
//! elements become paragraphs, list items `- ` lines; scripts, styles and other non-content is
//! dropped. The walk is iterative, so deeply nested pages cannot overflow the stack.

use ego_tree::iter::Edge;
use ragd_core::types::{Extracted, TextFormat};
use scraper::{Html, Node};

use super::text::decode;

const SKIPPED: &[&str] = &[
    "head", "script", "style", "noscript", "template", "svg", "iframe", "object", "canvas",
];
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "nav",
    "aside",
    "blockquote",
    "pre",
    "table",
    "tr",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "form",
    "hr",
    "address",
    "details",
    "summary",
];

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn block(&mut self) {
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
        if self.out.is_empty() {
            return;
        }
        while !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// A word boundary: a space unless the line is empty or already ends in one.
    fn space(&mut self) {
        if !(self.out.is_empty() || self.out.ends_with(['\n', ' '])) {
            self.out.push(' ');
        }
    }

    fn inline(&mut self, text: &str) {
        if text.trim().is_empty() {
            // Whitespace alone between two inline elements still separates their words.
            if !text.is_empty() {
                self.space();
            }
            return;
        }
        let at_line_start = self.out.is_empty() || self.out.ends_with('\n');
        let mut pending_space =
            !at_line_start && !self.out.ends_with(' ') && text.starts_with(char::is_whitespace);
        for word in text.split_whitespace() {
            if pending_space {
                self.out.push(' ');
            }
            self.out.push_str(word);
            pending_space = true;
        }
        if text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
            self.out.push(' ');
        }
    }
}

/// Extracts an HTML page.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "comments, doctypes and the like carry no content"
)]
pub(super) fn extract(bytes: &[u8]) -> Result<Extracted, String> {
    let source = decode(bytes)?;
    let page = Html::parse_document(&source);
    let mut w = Writer::default();
    let (mut skip, mut in_title, mut in_h1) = (0usize, false, false);
    let (mut title, mut first_h1) = (String::new(), String::new());
    for edge in page.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if name == "title" {
                        in_title = true;
                    }
                    if SKIPPED.contains(&name) {
                        skip += 1;
                    } else if skip > 0 {
                    } else if let Some(level) = heading_level(name) {
                        w.block();
                        w.out.push_str(&"#".repeat(level));
                        w.out.push(' ');
                        in_h1 = level == 1 && first_h1.is_empty();
                    } else if BLOCKS.contains(&name) {
                        w.block();
                    } else if name == "li" {
                        w.line();
                        w.out.push_str("- ");
                    } else if name == "br" {
                        w.line();
                    } else if name == "td" || name == "th" {
                        // Cells of a row are separate words, never glued together.
                        w.space();
                    }
                }
                Node::Text(t) => {
                    if in_title {
                        title.push_str(t);
                    } else if skip == 0 {
                        w.inline(t);
                        if in_h1 {
                            first_h1.push_str(t);
                        }
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if name == "title" {
                        in_title = false;
                    }
                    if SKIPPED.contains(&name) {
                        skip = skip.saturating_sub(1);
                    } else if skip == 0 && (heading_level(name).is_some() || BLOCKS.contains(&name))
                    {
                        in_h1 = false;
                        w.block();
                    }
                }
            }
        }
    }
    let clean = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = Some(clean(&title))
        .filter(|t| !t.is_empty())
        .or_else(|| Some(clean(&first_h1)).filter(|t| !t.is_empty()));
    Ok(Extracted {
        text: w.out.trim_end().to_owned(),
        title,
        mime: "text/html",
        format: TextFormat::Markdown,
        page_starts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_content_drops_scripts_and_marks_headings() {
        let html = br#"<!doctype html><html><head><title> Bees &amp; Hives </title>
            <style>body{color:red}</style></head><body><h1>Honey bees</h1>
            <script>var secret = 1;</script><p>A colony has <b>one</b> queen.</p>
            <h2>Workers</h2><ul><li>forage</li><li>build comb</li></ul></body></html>"#;
        let doc = extract(html).expect("html");
        assert_eq!(doc.title.as_deref(), Some("Bees & Hives"));
        assert!(
            doc.text.contains("# Honey bees\n\nA colony has one queen."),
            "{}",
            doc.text
        );
        assert!(doc.text.contains("## Workers"), "{}", doc.text);
        assert!(doc.text.contains("- forage\n- build comb"), "{}", doc.text);
        assert!(
            !doc.text.contains("secret") && !doc.text.contains("color"),
            "{}",
            doc.text
        );
    }

    #[test]
    fn words_of_adjacent_elements_and_table_cells_stay_apart() {
        let html = br#"<p><code>setuid</code> <code>setgid</code></p>
            <table><tr><td>Prev</td><td>Up</td><th>Next</th></tr>
            <tr><td><code>abs</code>(<i>x</i>)</td><td>absolute value</td></tr></table>"#;
        let doc = extract(html).expect("html");
        assert!(doc.text.contains("setuid setgid"), "{}", doc.text);
        assert!(doc.text.contains("Prev Up Next"), "{}", doc.text);
        assert!(doc.text.contains("abs(x) absolute value"), "{}", doc.text);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = format!("{}deep{}", "<div>".repeat(20_000), "</div>".repeat(20_000));
        let doc = extract(html.as_bytes()).expect("html");
        assert_eq!(doc.text, "deep");
    }
}
