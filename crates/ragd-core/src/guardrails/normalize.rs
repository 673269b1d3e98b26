//! The text form that input rules match against: lowercase, without diacritics, without
//! invisible characters and with whitespace runs collapsed to one space.
//!
//! Matching on this form lets one policy entry cover "Senha", "SENHA" and "sénha", and an
//! invisible zero-width space cannot split a phrase to slip past a rule. Only Latin letters used
//! by Portuguese, Spanish, French, German and English are folded (a small table, no Unicode
//! database): ragd's policies are written in those languages, and other scripts pass unchanged.

/// Returns the normalized form of `text` (see the module docs).
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if is_invisible(c) || is_combining_mark(c) {
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match fold(c) {
            Folded::One(f) => out.push(f),
            Folded::Two(a, b) => {
                out.push(a);
                out.push(b);
            }
        }
    }
    out
}

/// Removes the diacritics of a policy entry without changing its case, so that regex escapes
/// such as `\S` or `\W` keep their meaning; patterns are then compiled case-insensitively.
pub(crate) fn strip_diacritics(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars().filter(|&c| !is_combining_mark(c)) {
        let lower = c.to_lowercase().next().unwrap_or(c);
        match fold(lower) {
            Folded::One(f) if f == lower => out.push(c),
            Folded::One(f) => out.push(f),
            Folded::Two(a, b) => {
                out.push(a);
                out.push(b);
            }
        }
    }
    out
}

/// Zero-width and soft-hyphen characters: invisible, so they only ever hide words.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

enum Folded {
    One(char),
    Two(char, char),
}

/// Maps a lowercase letter to its unaccented form; typographic quotes become ASCII quotes.
fn fold(c: char) -> Folded {
    let base = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'ď' | 'đ' | 'ð' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ğ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
        'ł' | 'ľ' => 'l',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ř' => 'r',
        'ś' | 'š' | 'ş' => 's',
        'ť' | 'ţ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '´' => '\'',
        '\u{201C}' | '\u{201D}' => '"',
        'ß' => return Folded::Two('s', 's'),
        'æ' => return Folded::Two('a', 'e'),
        'œ' => return Folded::Two('o', 'e'),
        other => other,
    };
    Folded::One(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_strips_accents_and_collapses_whitespace() {
        assert_eq!(
            normalize("  Como FAÇO\tpara   redefinir a SÉNHA?  "),
            "como faco para redefinir a senha?"
        );
        assert_eq!(
            normalize("Violência, ÓDIO e discriminação"),
            "violencia, odio e discriminacao"
        );
    }

    #[test]
    fn removes_invisible_characters_and_decomposed_accents() {
        assert_eq!(
            normalize("ig\u{200B}nore prev\u{00AD}ious"),
            "ignore previous"
        );
        assert_eq!(normalize("sen\u{0303}ha"), "senha");
    }

    #[test]
    fn folds_typographic_apostrophes() {
        assert_eq!(
            normalize("What’s the admin password"),
            "what's the admin password"
        );
    }

    #[test]
    fn strip_diacritics_keeps_case_and_escapes() {
        assert_eq!(strip_diacritics(r"\bSÉNHA\S+código"), r"\bSeNHA\S+codigo");
    }
}
