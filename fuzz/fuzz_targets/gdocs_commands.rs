//! A `google_docs_save`'s `bundles`: parsed both ways, applied within limits.
#![no_main]

use classpulse_writing::reconstruct::fast_parse::save_commands;
use classpulse_writing::reconstruct::{Document, Edit, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let general = Edit::from_save(Some(&value));
    if let Some(fast) = save_commands(text) {
        assert_eq!(general.as_ref().expect("general accepts").commands(), &fast[..]);
    }
    if let Ok(edit) = general {
        let limits = Limits { max_chars: 10_000 };
        let mut doc = Document::new();
        doc.apply_edit(&edit, &limits);
        doc.apply_edit(&edit, &limits);
        assert!(doc.len_chars() <= limits.max_chars);
    }
});
