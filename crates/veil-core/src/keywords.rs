//! Keyword filters: does a post's text mention what the user avoids, and which filter packs do
//! the user's keywords turn on? Matching is on whole words and ignores case and accents, so
//! "Jon Snow" finds "JON SNOW's fate" and "Daenerys" finds "DAENERYS", while "got" does not
//! find "gotten".

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A list of keywords, each kept as typed and as its sequence of normalised words.
#[derive(Debug, Clone, Default)]
pub struct KeywordSet {
    keywords: Vec<(String, Vec<String>)>,
}

impl KeywordSet {
    /// Keywords with no letters or digits (empty, punctuation only) are ignored: they would
    /// match everything or nothing.
    pub fn new<S: AsRef<str>>(keywords: impl IntoIterator<Item = S>) -> Self {
        let keywords = keywords
            .into_iter()
            .map(|keyword| (keyword.as_ref().trim().to_string(), words(keyword.as_ref())))
            .filter(|(_, words)| !words.is_empty())
            .collect();
        Self { keywords }
    }

    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty()
    }

    /// The first keyword (as typed) that `text` contains as whole words.
    pub fn find(&self, text: &str) -> Option<&str> {
        let text = words(text);
        self.keywords
            .iter()
            .find(|(_, keyword)| text.windows(keyword.len()).any(|window| window == keyword))
            .map(|(typed, _)| typed.as_str())
    }

    /// Whether any keyword of `other` is, once normalised, one of these: how a keyword the user
    /// types turns on the filter packs that list it.
    pub fn shares_keyword_with(&self, other: &KeywordSet) -> bool {
        self.keywords
            .iter()
            .any(|(_, mine)| other.keywords.iter().any(|(_, theirs)| mine == theirs))
    }
}

/// Lower-cased words without accents: compatibility decomposition (so "ﬁ" is "fi" and "é" is
/// "e" plus a combining accent), combining marks dropped, split on anything not a letter or digit.
fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keywords: &[&str]) -> KeywordSet {
        KeywordSet::new(keywords.iter().copied())
    }

    #[test]
    fn finds_whole_words_ignoring_case_accents_and_punctuation() {
        let keywords = set(&["Jon Snow", "Daenerys", "got"]);
        assert_eq!(keywords.find("Who saw JON SNOW's fate?!"), Some("Jon Snow"));
        assert_eq!(keywords.find("Is it DAËNERYS?"), Some("Daenerys"));
        assert_eq!(keywords.find("jon\n\tsnow"), Some("Jon Snow"));
        assert_eq!(keywords.find("#GoT finale tonight"), Some("got"));
    }

    #[test]
    fn does_not_match_inside_words_or_across_gaps() {
        let keywords = set(&["Jon Snow", "got"]);
        assert_eq!(keywords.find("I have gotten a snowjon"), None);
        assert_eq!(keywords.find("Jon and Snow"), None);
        assert_eq!(keywords.find("forgot"), None);
        assert_eq!(keywords.find(""), None);
    }

    #[test]
    fn reports_the_first_listed_keyword_found() {
        let keywords = set(&["Arya", "Stark"]);
        assert_eq!(keywords.find("Stark sisters: Sansa and Arya"), Some("Arya"));
    }

    #[test]
    fn ignores_keywords_without_letters() {
        let keywords = set(&["", "  ", "!!!", "Winterfell"]);
        assert!(!keywords.is_empty());
        assert_eq!(keywords.find("!!! nothing here !!!"), None);
        assert_eq!(keywords.find("Back to WINTERFELL"), Some("Winterfell"));
        assert!(set(&["", "?"]).is_empty());
    }

    #[test]
    fn folds_compatibility_characters_and_non_latin_scripts() {
        assert_eq!(set(&["fire"]).find("ﬁre and blood"), Some("fire"));
        assert_eq!(
            set(&["Игра престолов"]).find("смотрим ИГРА ПРЕСТОЛОВ"),
            Some("Игра престолов")
        );
    }

    #[test]
    fn turns_on_packs_that_list_a_typed_keyword() {
        let pack = set(&["game of thrones", "house of the dragon", "asoiaf"]);
        assert!(set(&["Game of  Thrones"]).shares_keyword_with(&pack));
        assert!(set(&["cooking", "ASOIAF"]).shares_keyword_with(&pack));
        assert!(!set(&["thrones"]).shares_keyword_with(&pack));
        assert!(!set(&[]).shares_keyword_with(&pack));
    }
}
