//! A frame as a client sends it: decoded, taken as `lock_fields`, merged into an event.
#![no_main]

use classpulse_core::event::Fields;
use classpulse_core::ingest::frame;
use classpulse_core::ingest::lock_fields::LockFields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is a header, the rest an event (either may be anything).
    let (header, event) = text.split_once('\n').unwrap_or((text, "{}"));
    let mut lock = LockFields::default();
    if let Ok(fields) = frame::decode(header, 1 << 20, 64) {
        let _ = lock.update(&fields);
    }
    if let Ok(fields) = frame::decode(event, 1 << 20, 64) {
        let source = lock.canonical_source(&fields).into_owned();
        let (mut out, mut spans) = (Vec::new(), Vec::new());
        lock.write_merged(&fields, &source, &[], &mut out, &mut spans);
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_ok());
        let _ = Fields::parse(std::str::from_utf8(&out).unwrap());
    }
});
