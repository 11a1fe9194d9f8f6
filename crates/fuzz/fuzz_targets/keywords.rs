//! The keyword matcher: the popup's keywords (one a line) before the first NUL, a post's text
//! after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_core::KeywordSet;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (keywords, post) = text.split_once('\0').unwrap_or((&text, ""));
    let set = KeywordSet::new(keywords.lines());
    if let Some(found) = set.find(post) {
        assert!(!found.is_empty(), "an empty keyword matched {post:?}");
    }
    assert!(set.is_empty() || set.shares_keyword_with(&set));
});
