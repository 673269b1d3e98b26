//! The language of a question, told apart cheaply by its function words, so that the answer
//! (generated, or the fixed "not found" text) comes back in the language it was asked in.
//!
//! Only the languages ragd has texts for are named; anything else is [`Language::Other`] and
//! gets the model's own judgement ("answer in the question's language").

/// A language ragd has its own texts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English.
    English,
    /// Portuguese.
    Portuguese,
    /// Neither, or too short to tell.
    Other,
}

const ENGLISH: &[&str] = &[
    "the", "is", "are", "what", "how", "which", "who", "why", "when", "where", "does", "do", "can",
    "of", "to", "in", "and", "a", "an", "for", "with", "i", "my", "it", "on", "be",
];

const PORTUGUESE: &[&str] = &[
    "o", "a", "os", "as", "é", "são", "que", "qual", "quais", "como", "quem", "por", "porque",
    "quando", "onde", "de", "do", "da", "dos", "das", "em", "no", "na", "um", "uma", "para", "com",
    "não", "eu", "meu", "minha", "se", "ao", "mais", "posso", "faço", "está", "e", "ele", "ela",
    "eles", "elas", "quanto", "quantos", "quantas", "isso", "isto", "esse", "essa", "sobre",
    "também", "mas", "ou", "seu", "sua", "pelo", "pela", "tem", "há",
];

impl Language {
    /// Guesses the language of `text` from its function words and accented letters.
    pub fn detect(text: &str) -> Self {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let english = words.iter().filter(|w| ENGLISH.contains(w)).count();
        let mut portuguese = words.iter().filter(|w| PORTUGUESE.contains(w)).count();
        // "a" is a function word of both; ã, õ, ç and ê are Portuguese giveaways.
        portuguese += lower
            .chars()
            .filter(|c| matches!(c, 'ã' | 'õ' | 'ç' | 'ê' | 'â' | 'á' | 'é' | 'í' | 'ó' | 'ú'))
            .count()
            .min(3);
        match english.cmp(&portuguese) {
            std::cmp::Ordering::Greater => Language::English,
            std::cmp::Ordering::Less => Language::Portuguese,
            std::cmp::Ordering::Equal => Language::Other,
        }
    }

    /// The language's English name, for the instruction to the model.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Language::English => Some("English"),
            Language::Portuguese => Some("Portuguese"),
            Language::Other => None,
        }
    }

    /// The answer when no source passed the threshold (the model is not asked).
    pub fn no_answer(self) -> &'static str {
        match self {
            Language::Portuguese => {
                "Não foram encontradas informações relevantes nos documentos indexados para esta pergunta."
            }
            Language::English | Language::Other => crate::answer::NO_ANSWER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_english_from_portuguese() {
        for (text, expected) in [
            ("How do I create a virtual environment?", Language::English),
            ("What is the capital of France?", Language::English),
            (
                "Como faço para criar um ambiente virtual?",
                Language::Portuguese,
            ),
            ("Qual é a capital da França?", Language::Portuguese),
            ("Quantos ovos a rainha põe por dia?", Language::Portuguese),
            ("E quanto tempo ela leva?", Language::Portuguese),
            ("venv", Language::Other),
        ] {
            assert_eq!(Language::detect(text), expected, "{text}");
        }
    }
}
