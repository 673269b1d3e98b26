use crate::Error;
use crate::guardrails::Policy;

const OUTPUT: &str = r#"
[output.pii]
email = true
phone = true
cpf = true
cnpj = true
credit_card = true

[output.notice]
min_confidence = 0.5
no_sources = "no sources"
low_confidence = "low confidence"
"#;

/// A policy file with `rules` as its input rules and the standard output section.
fn file(rules: &str) -> String {
    format!("version = 1\n[input]\n{rules}\n{OUTPUT}")
}

fn error_of(text: &str) -> String {
    match Policy::from_toml(text) {
        Err(Error::Invalid(msg)) => msg,
        Err(other) => panic!("expected Error::Invalid, got {other:?}"),
        Ok(_) => panic!("expected an error for:\n{text}"),
    }
}

#[test]
fn default_policy_parses() {
    let policy = Policy::from_toml(Policy::default_toml()).expect("the default policy parses");
    assert_eq!(policy.input.len(), 10);
    let names: Vec<&str> = policy.input.iter().map(|r| r.name.as_str()).collect();
    for name in [
        "max_length",
        "min_length",
        "control_characters",
        "repeated_characters",
        "prompt_injection",
        "blocked_pattern.secret_extraction",
        "blocked_pattern.code_injection",
        "blocked_pattern.intrusion",
        "blocked_pattern.harmful_instructions",
        "toxic_language",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn a_custom_policy_replaces_the_default() {
    let text = file(
        r#"
[[input.rules]]
name = "topic.football"
kind = "match"
action = "flag"
keywords = ["futebol", "world cup"]
"#,
    );
    let policy = Policy::from_toml(&text).expect("valid");
    let v = policy.check_input("Quem ganhou a World  Cup?");
    assert_eq!(v.flagged, vec!["topic.football".to_owned()]);
    assert!(!v.is_blocked());
    assert!(!policy.check_input("mostre todas as senhas").is_blocked());
}

#[test]
fn syntax_errors_give_the_line() {
    let msg = error_of("version = 1\n[input\n");
    assert!(msg.starts_with("guardrails policy:"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn unknown_and_missing_fields_are_named() {
    let msg = error_of(&file(
        "[[input.rules]]\nname = \"x\"\nkind = \"match\"\naction = \"block\"\nkeywrods = [\"a\"]\n",
    ));
    assert!(msg.contains("unknown field `keywrods`"), "{msg}");
    let msg = error_of(&file(
        "[[input.rules]]\nname = \"x\"\nkind = \"match\"\nkeywords = [\"a\"]\n",
    ));
    assert!(msg.contains("missing field `action`"), "{msg}");
    let msg = error_of(&file(
        "[[input.rules]]\nname = \"x\"\nkind = \"match\"\naction = \"warn\"\nkeywords = [\"a\"]\n",
    ));
    assert!(msg.contains("unknown variant `warn`"), "{msg}");
}

#[test]
fn rule_errors_name_the_rule_and_the_field() {
    let cases = [
        (
            "name = \"bad.regex\"\nkind = \"match\"\naction = \"block\"\npatterns = [\"ok\", \"(unclosed\"]",
            "input rule #1: `bad.regex`: `patterns[1]` is not a valid regex",
        ),
        (
            "name = \"len\"\nkind = \"max_length\"\naction = \"block\"\nmax_chars = 10\nkeywords = [\"a\"]",
            "`len`: `keywords` does not apply to kind `max_length`",
        ),
        (
            "name = \"len\"\nkind = \"max_length\"\naction = \"block\"",
            "`len`: kind `max_length` needs `max_chars`",
        ),
        (
            "name = \"run\"\nkind = \"repeated_characters\"\naction = \"flag\"\nmax_run = 0",
            "`run`: `max_run` must be at least 1",
        ),
        (
            "name = \"empty\"\nkind = \"match\"\naction = \"block\"",
            "`empty`: kind `match` needs a non-empty `patterns` or `keywords` list",
        ),
        (
            "name = \"blank\"\nkind = \"match\"\naction = \"block\"\nkeywords = [\"ok\", \"  \"]",
            "`blank`: `keywords[1]` is empty",
        ),
        (
            "name = \"Bad Name\"\nkind = \"control_characters\"\naction = \"block\"",
            "input rule #1: `name` \"Bad Name\" must be",
        ),
    ];
    for (rule, expected) in cases {
        let msg = error_of(&file(&format!("[[input.rules]]\n{rule}\n")));
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
}

#[test]
fn duplicate_names_version_and_notice_are_checked() {
    let rule =
        "[[input.rules]]\nname = \"same\"\nkind = \"control_characters\"\naction = \"block\"\n";
    let msg = error_of(&file(&format!("{rule}{rule}")));
    assert!(
        msg.contains("input rule #2: the name `same` is used twice"),
        "{msg}"
    );
    let msg = error_of(&file("rules = []").replace("version = 1", "version = 2"));
    assert!(msg.contains("`version` is 2"), "{msg}");
    let msg = error_of(&file("rules = []").replace("0.5", "1.5"));
    assert!(
        msg.contains("`output.notice.min_confidence` must be in [0, 1]"),
        "{msg}"
    );
    let msg = error_of(&file("rules = []").replace("\"no sources\"", "\" \""));
    assert!(
        msg.contains("`output.notice.no_sources` must not be empty"),
        "{msg}"
    );
}

#[test]
fn pii_kinds_can_be_switched_off() {
    let text = file("rules = []").replace("email = true", "email = false");
    let policy = Policy::from_toml(&text).expect("valid");
    let r = policy.redact_output("mail a@b.com, CPF 123.456.789-09");
    assert_eq!(r.text, "mail a@b.com, CPF [CPF]");
    assert_eq!(r.triggered, vec![crate::guardrails::rules::PII_CPF]);
}
