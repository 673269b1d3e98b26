use proptest::prelude::*;

use super::policy;
use crate::guardrails::rules;

fn redact(text: &str) -> (String, Vec<&'static str>) {
    let r = policy().redact_output(text);
    (r.text, r.triggered)
}

#[test]
fn emails_are_redacted() {
    let (text, hits) = redact("Write to maria.silva+rag@empresa.com.br or JOHN@example.org.");
    assert_eq!(text, "Write to [EMAIL] or [EMAIL].");
    assert_eq!(hits, vec![rules::PII_EMAIL]);
    assert_eq!(redact("use the @decorator syntax").1, Vec::<&str>::new());
}

#[test]
fn cpf_and_cnpj_only_with_valid_check_digits() {
    let (text, hits) = redact("CPF 123.456.789-09, bare 52998224725, bad 123.456.789-00.");
    assert_eq!(text, "CPF [CPF], bare [CPF], bad 123.456.789-00.");
    assert_eq!(hits, vec![rules::PII_CPF]);
    let (text, hits) =
        redact("CNPJ 12.345.678/0001-95 e 11222333000181; errado 12.345.678/0001-96");
    assert_eq!(text, "CNPJ [CNPJ] e [CNPJ]; errado 12.345.678/0001-96");
    assert_eq!(hits, vec![rules::PII_CNPJ]);
}

#[test]
fn numbers_inside_longer_numbers_stay() {
    let text = "trace id 0012345678909 and 912345678000195";
    assert_eq!(redact(text), (text.to_owned(), vec![]));
}

#[test]
fn card_numbers_only_when_luhn_valid() {
    let (text, hits) =
        redact("Visa 4111 1111 1111 1111, Amex 3782-822463-10005, MC 5555555555554444.");
    assert_eq!(text, "Visa [CARD], Amex [CARD], MC [CARD].");
    assert_eq!(hits, vec![rules::PII_CREDIT_CARD]);
    let (text, hits) = redact("order 12 4111 1111 1111 1111 shipped");
    assert_eq!(text, "order 12 [CARD] shipped");
    assert_eq!(hits, vec![rules::PII_CREDIT_CARD]);
    for kept in [
        "card 4111 1111 1111 1112 is invalid",
        "ISBN 978-3-16-148410-0 and 9783161484100",
        "Pedido 1234 5678 9012 3456 enviado",
        "timestamp 1700000000000 ms",
    ] {
        assert_eq!(redact(kept), (kept.to_owned(), vec![]), "{kept}");
    }
}

#[test]
fn phones_are_redacted_when_written_as_phones() {
    let (text, hits) = redact(
        "Ligue +55 (11) 91234-5678, (11) 1234-5678, 21 98765-4321 ou +5511912345678; \
         US (415) 555-2671, UK +44 20 7946 0958.",
    );
    assert_eq!(
        text,
        "Ligue [PHONE], [PHONE], [PHONE] ou [PHONE]; US [PHONE], UK [PHONE]."
    );
    assert_eq!(hits, vec![rules::PII_PHONE]);
    for kept in [
        "version 2024-01-15 released",
        "build 1234567890 passed",
        "PostgreSQL 15.4 on port 5432",
    ] {
        assert_eq!(redact(kept), (kept.to_owned(), vec![]), "{kept}");
    }
}

#[test]
fn a_cpf_or_card_is_not_also_a_phone() {
    let (text, hits) = redact("CPF 52998224725, cartão 4111-1111-1111-1111, fone (11) 91234-5678");
    assert_eq!(text, "CPF [CPF], cartão [CARD], fone [PHONE]");
    assert_eq!(
        hits,
        vec![rules::PII_CPF, rules::PII_CREDIT_CARD, rules::PII_PHONE]
    );
}

#[test]
fn notices_for_missing_sources_and_low_confidence() {
    let p = policy();
    let none = p.low_confidence_notice(0.9, 0).expect("no sources");
    assert_eq!(none.rule, rules::NO_SOURCES);
    assert!(!none.text.is_empty());
    let low = p.low_confidence_notice(0.49, 2).expect("low confidence");
    assert_eq!(low.rule, rules::LOW_CONFIDENCE);
    assert_eq!(
        p.low_confidence_notice(f32::NAN, 1).map(|n| n.rule),
        Some(rules::LOW_CONFIDENCE)
    );
    assert_eq!(p.low_confidence_notice(0.5, 1), None);
}

/// A CPF with valid check digits, built from nine digits.
fn cpf_from(base: [u8; 9]) -> String {
    let mut d: Vec<u8> = base.to_vec();
    for len in [9usize, 10] {
        let sum: u32 = d
            .iter()
            .zip((2..=len as u32 + 1).rev())
            .map(|(&x, w)| u32::from(x) * w)
            .sum();
        let r = (sum * 10) % 11;
        d.push(if r == 10 { 0 } else { r as u8 });
    }
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    format!("{}.{}.{}-{}", &s[..3], &s[3..6], &s[6..9], &s[9..])
}

/// A Luhn-valid 16-digit card, printed in groups of four.
fn card_from(base: [u8; 15]) -> String {
    let sum: u32 = base
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i.is_multiple_of(2) {
                if x * 2 > 9 { x * 2 - 9 } else { x * 2 }
            } else {
                x
            }
        })
        .sum();
    let check = ((10 - sum % 10) % 10) as u8;
    let s: String = base
        .iter()
        .chain([check].iter())
        .map(|x| char::from(b'0' + x))
        .collect();
    format!("{} {} {} {}", &s[..4], &s[4..8], &s[8..12], &s[12..])
}

fn item() -> impl Strategy<Value = (String, bool)> {
    let digit = 0u8..10;
    prop_oneof![
        "[a-z]{1,10}".prop_map(|w| (w, false)),
        "[a-z]{1,8}@[a-z]{2,8}\\.(com|org|com\\.br)".prop_map(|e| (e, true)),
        prop::array::uniform9(digit.clone())
            .prop_filter("not one repeated digit", |d| d.iter().any(|&x| x != d[0]))
            .prop_map(|d| (cpf_from(d), true)),
        prop::array::uniform15(digit).prop_map(|d| (card_from(d), true)),
        ("[1-9][1-9]", "9[0-9]{4}", "[0-9]{4}")
            .prop_map(|(ddd, a, b)| (format!("({ddd}) {a}-{b}"), true)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every generated PII item disappears, every plain word stays, and redacting the result
    /// again finds nothing.
    #[test]
    fn generated_pii_is_always_redacted(items in prop::collection::vec(item(), 0..12)) {
        let text = items.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(" and ");
        let (redacted, _) = redact(&text);
        for (s, is_pii) in &items {
            if *is_pii {
                prop_assert!(!redacted.contains(s.as_str()), "{s:?} left in {redacted:?}");
            } else {
                prop_assert!(redacted.contains(s.as_str()), "{s:?} lost in {redacted:?}");
            }
        }
        let (again, hits) = redact(&redacted);
        prop_assert_eq!(&again, &redacted);
        prop_assert!(hits.is_empty());
    }

    /// The input rules never panic and a verdict never names a rule twice.
    #[test]
    fn check_input_is_total(query in "\\PC{0,300}") {
        let v = policy().check_input(&query);
        let mut all: Vec<&String> = v.blocked.iter().chain(&v.flagged).collect();
        let n = all.len();
        all.dedup();
        prop_assert_eq!(all.len(), n);
    }
}
