//! PII redaction of answers: e-mail addresses, CNPJs, CPFs, payment-card numbers and phone
//! numbers are replaced with placeholders.
//!
//! Numbers are only redacted when they are what they look like: CPFs and CNPJs must have valid
//! check digits, card numbers must pass the Luhn check and phone numbers must be written as
//! phone numbers (a `+` prefix, a parenthesized area code or a separator before the last four
//! digits). A candidate must stand alone: a digit right before or after it means it is part of a
//! longer number, which is left as is. Card numbers are looked for inside runs of digit groups,
//! bare or grouped as cards are printed (4-4-4-4, 4-6-5…), so an ISBN or an order number that is
//! not Luhn-valid stays. Detectors run from the most specific to the least (e-mail, CNPJ, CPF,
//! card, phone) and a later one only searches text no earlier one took, so a CPF is never also
//! counted as a phone.

use regex::Regex;

use crate::{Error, Result};

/// One kind of personal data the redactor recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PiiKind {
    Email,
    Cnpj,
    Cpf,
    CreditCard,
    Phone,
}

impl PiiKind {
    /// All kinds, in the order their detectors run.
    pub(crate) const ALL: [PiiKind; 5] = [
        PiiKind::Email,
        PiiKind::Cnpj,
        PiiKind::Cpf,
        PiiKind::CreditCard,
        PiiKind::Phone,
    ];

    /// The stable rule name reported in `guardrails_triggered`.
    pub(crate) fn rule_name(self) -> &'static str {
        match self {
            PiiKind::Email => super::rules::PII_EMAIL,
            PiiKind::Cnpj => super::rules::PII_CNPJ,
            PiiKind::Cpf => super::rules::PII_CPF,
            PiiKind::CreditCard => super::rules::PII_CREDIT_CARD,
            PiiKind::Phone => super::rules::PII_PHONE,
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Email => "[EMAIL]",
            PiiKind::Cnpj => "[CNPJ]",
            PiiKind::Cpf => "[CPF]",
            PiiKind::CreditCard => "[CARD]",
            PiiKind::Phone => "[PHONE]",
        }
    }

    fn pattern(self) -> &'static str {
        match self {
            PiiKind::Email => {
                r"(?i)[a-z0-9._%+-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}"
            }
            PiiKind::Cnpj => r"\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}",
            PiiKind::Cpf => r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}",
            PiiKind::CreditCard => r"\d+(?:[ -]\d+)*",
            PiiKind::Phone => concat!(
                // Brazil: +55 (11) 91234-5678, (11) 1234-5678, 11 91234-5678
                r"(?:\+55[ .-]?)?(?:\(\d{2}\)|\d{2})[ .-]?\d{4,5}[ .-]?\d{4}",
                // North America without country code: (415) 555-2671, 415-555-2671
                r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}",
                // anything else written E.164-style: +44 20 7946 0958
                r"|\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}",
            ),
        }
    }

    fn accepts(self, candidate: &str) -> bool {
        let digits: Vec<u8> = candidate
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        match self {
            PiiKind::Email => true,
            PiiKind::Cnpj => cnpj_is_valid(&digits),
            PiiKind::Cpf => cpf_is_valid(&digits),
            PiiKind::CreditCard => luhn_is_valid(&digits),
            PiiKind::Phone => phone_is_plausible(candidate, &digits),
        }
    }
}

/// The compiled detectors of the enabled PII kinds.
#[derive(Debug, Clone)]
pub(crate) struct PiiRedactor {
    detectors: Vec<(PiiKind, Regex)>,
}

impl PiiRedactor {
    /// Compiles the detectors of `enabled`, keeping the precedence order of [`PiiKind::ALL`].
    pub(crate) fn new(enabled: &[PiiKind]) -> Result<Self> {
        let detectors = PiiKind::ALL
            .into_iter()
            .filter(|kind| enabled.contains(kind))
            .map(|kind| Ok((kind, Regex::new(kind.pattern()).map_err(Error::internal)?)))
            .collect::<Result<_>>()?;
        Ok(Self { detectors })
    }

    /// Replaces every detected item with its placeholder; returns the kinds found, in detector
    /// order, each once.
    pub(crate) fn redact(&self, text: &str) -> (String, Vec<PiiKind>) {
        let taken = self.spans(text);
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for &(start, end, kind) in &taken {
            out.push_str(&text[last..start]);
            out.push_str(kind.placeholder());
            last = end;
        }
        out.push_str(&text[last..]);
        let kinds = PiiKind::ALL
            .into_iter()
            .filter(|k| taken.iter().any(|&(_, _, t)| t == *k))
            .collect();
        (out, kinds)
    }

    /// The detected items as sorted, disjoint `(start, end, kind)` byte spans.
    pub(crate) fn spans(&self, text: &str) -> Vec<(usize, usize, PiiKind)> {
        let mut taken: Vec<(usize, usize, PiiKind)> = Vec::new();
        for (kind, regex) in &self.detectors {
            // Search only the text no earlier detector took, so that a rejected candidate
            // overlapping a taken span cannot hide a real item next to it.
            let mut found = Vec::new();
            for (gap_start, gap_end) in gaps(&taken, text.len()) {
                for m in regex.find_iter(&text[gap_start..gap_end]) {
                    let (start, end) = (gap_start + m.start(), gap_start + m.end());
                    if *kind == PiiKind::CreditCard {
                        found.extend(card_spans(text, start, end));
                    } else if stands_alone(text, start, end) && kind.accepts(&text[start..end]) {
                        found.push((start, end));
                    }
                }
            }
            taken.extend(found.into_iter().map(|(s, e)| (s, e, *kind)));
            taken.sort_unstable_by_key(|&(start, _, _)| start);
        }
        taken
    }
}

/// The byte ranges of `0..len` not covered by the sorted, disjoint `taken` spans.
fn gaps(taken: &[(usize, usize, PiiKind)], len: usize) -> Vec<(usize, usize)> {
    let mut gaps = Vec::with_capacity(taken.len() + 1);
    let mut cursor = 0;
    for &(start, end, _) in taken {
        if start > cursor {
            gaps.push((cursor, start));
        }
        cursor = end;
    }
    if cursor < len {
        gaps.push((cursor, len));
    }
    gaps
}

/// A number must not continue into neighbouring digits: then it is part of a longer number.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let digit_before = text[..start]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_digit());
    let digit_after = text[end..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit());
    !(digit_before || digit_after)
}

/// Card numbers inside a run of digit groups (`start..end`, separated by single spaces or
/// dashes). A card is 13–19 digits, Luhn-valid, written bare or grouped as cards are printed
/// (4-4-4-4[-1..4], 4-6-5, 4-6-4); windows of the run are tried longest first, left to right,
/// so "order 12 4111 1111 1111 1111" still hides the card. A run right after `+` is a phone.
fn card_spans(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    if text[..start].ends_with('+') {
        return Vec::new();
    }
    let mut groups = Vec::new();
    let mut group_start = start;
    for (i, c) in text[start..end].char_indices() {
        if !c.is_ascii_digit() {
            groups.push((group_start, start + i));
            group_start = start + i + 1;
        }
    }
    groups.push((group_start, end));
    let mut spans = Vec::new();
    let mut i = 0;
    while i < groups.len() {
        let window = (i..groups.len()).rev().find(|&j| {
            let lens: Vec<usize> = groups[i..=j].iter().map(|(s, e)| e - s).collect();
            let digits: Vec<u8> = text[groups[i].0..groups[j].1]
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| b - b'0')
                .collect();
            card_layout(&lens) && luhn_is_valid(&digits)
        });
        match window {
            Some(j) => {
                spans.push((groups[i].0, groups[j].1));
                i = j + 1;
            }
            None => i += 1,
        }
    }
    spans
}

/// Whether group lengths look like a printed card number.
fn card_layout(lens: &[usize]) -> bool {
    match lens {
        [single] => (13..=19).contains(single),
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => {
            (3..=4).contains(&init.len())
                && init.iter().all(|&l| l == 4)
                && (1..=4).contains(last)
                && (13..=19).contains(&lens.iter().sum::<usize>())
        }
        [] => false,
    }
}

fn all_same(digits: &[u8]) -> bool {
    digits.windows(2).all(|w| w[0] == w[1])
}

/// CPF: 11 digits, the last two being mod-11 check digits over weights 10..2 and 11..2.
/// Numbers made of one repeated digit pass the arithmetic but are not issued, so they fail.
pub(crate) fn cpf_is_valid(digits: &[u8]) -> bool {
    fn check(digits: &[u8]) -> u8 {
        let top = digits.len() as u32 + 1;
        let sum: u32 = digits
            .iter()
            .zip((2..=top).rev())
            .map(|(&d, w)| u32::from(d) * w)
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r as u8 }
    }
    digits.len() == 11
        && !all_same(digits)
        && check(&digits[..9]) == digits[9]
        && check(&digits[..10]) == digits[10]
}

/// CNPJ: 14 digits, the last two being mod-11 check digits over the weights 5..2,9..2 and
/// 6..2,9..2. One repeated digit fails, as for CPFs.
pub(crate) fn cnpj_is_valid(digits: &[u8]) -> bool {
    const WEIGHTS: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    fn check(digits: &[u8]) -> u8 {
        let weights = &WEIGHTS[WEIGHTS.len() - digits.len()..];
        let sum: u32 = digits
            .iter()
            .zip(weights)
            .map(|(&d, &w)| u32::from(d) * w)
            .sum();
        let r = sum % 11;
        if r < 2 { 0 } else { (11 - r) as u8 }
    }
    digits.len() == 14
        && !all_same(digits)
        && check(&digits[..12]) == digits[12]
        && check(&digits[..13]) == digits[13]
}

/// Luhn (mod 10) over 13–19 digits, as used by payment cards.
pub(crate) fn luhn_is_valid(digits: &[u8]) -> bool {
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A phone candidate is kept when it is written like a phone number and its digits fit a
/// Brazilian number (area code 11–99 without zeros, then 8 digits not starting with 0 or 9
/// digits starting with 9; the landline/mobile prefixes are not checked further, since an
/// example like `(11) 1234-5678` is still worth hiding), a North-American one (10 digits, area
/// code not starting with 0 or 1) or E.164 (`+`, 8–15 digits).
fn phone_is_plausible(candidate: &str, digits: &[u8]) -> bool {
    let formatted = candidate.starts_with('+')
        || candidate.starts_with('(')
        || candidate
            .chars()
            .rev()
            .nth(4)
            .is_some_and(|c| matches!(c, ' ' | '-' | '.'));
    if !formatted {
        return false;
    }
    let national = match digits {
        [5, 5, rest @ ..] if candidate.starts_with('+') => rest,
        other => other,
    };
    let brazilian = match national {
        [a, b, rest @ ..] if *a != 0 && *b != 0 => match rest {
            [9, ..] => rest.len() == 8 || rest.len() == 9,
            [1..=8, ..] => rest.len() == 8,
            _ => false,
        },
        _ => false,
    };
    let north_american = !candidate.starts_with('+') && digits.len() == 10 && digits[0] >= 2;
    let e164 = candidate.starts_with('+') && (8..=15).contains(&digits.len());
    brazilian || north_american || e164
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    #[test]
    fn cpf_check_digits() {
        assert!(cpf_is_valid(&digits("123.456.789-09")));
        assert!(cpf_is_valid(&digits("52998224725")));
        assert!(!cpf_is_valid(&digits("123.456.789-00")));
        assert!(!cpf_is_valid(&digits("111.111.111-11")), "repeated digits");
        assert!(!cpf_is_valid(&digits("1234567890")), "too short");
    }

    #[test]
    fn cnpj_check_digits() {
        assert!(cnpj_is_valid(&digits("12.345.678/0001-95")));
        assert!(cnpj_is_valid(&digits("11222333000181")));
        assert!(!cnpj_is_valid(&digits("12.345.678/0001-96")));
        assert!(!cnpj_is_valid(&digits("00000000000000")), "repeated digits");
    }

    #[test]
    fn luhn_and_card_layouts() {
        assert!(luhn_is_valid(&digits("4111 1111 1111 1111")));
        assert!(!luhn_is_valid(&digits("4111 1111 1111 1112")));
        assert!(luhn_is_valid(&digits("3782 822463 10005")));
        assert!(!luhn_is_valid(&digits("0000 0000 0")), "too short");
        assert!(card_layout(&[4, 4, 4, 4]));
        assert!(card_layout(&[4, 6, 5]));
        assert!(card_layout(&[16]));
        assert!(card_layout(&[4, 4, 4, 4, 3]));
        assert!(!card_layout(&[3, 1, 2, 6, 1]), "ISBN groups");
        assert!(!card_layout(&[4, 4, 4, 4, 4]), "20 digits");
        assert!(!card_layout(&[5, 4, 4, 4]));
    }
}
