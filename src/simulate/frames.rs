//! Frames in the writing extension's shape: `lock_fields`, `keystroke`, `google_docs_save`.

use serde_json::json;

/// The headers the extension sends first (source and version), plus an identity for the
/// `testcase` auth method and, when asked, `"ack": true`.
pub(crate) fn lock_fields(user_id: &str, ack: bool) -> String {
    let mut fields = json!({
        "source": "org.mitros.writing_analytics",
        "version": "1.0.0.2",
        "user_id": user_id,
    });
    if ack {
        fields["ack"] = json!(true);
    }
    json!({"event": "lock_fields", "fields": fields, "metadata": {"iso_ts": "2026-11-24T07:07:52.603Z"}})
        .to_string()
}

fn object(doc_id: &str) -> serde_json::Value {
    json!({
        "id": doc_id,
        "tab_id": "t.0",
        "title": "Essay on rivers #unit3",
        "type": "http://schema.learning-observer.org/writing-observer/",
        "url": format!("https://docs.google.com/document/d/{doc_id}/edit?tab=t.0"),
    })
}

/// A `keystroke` event for typing `ch` (about 700 bytes, like the extension's).
pub(crate) fn keystroke(doc_id: &str, ch: char, time_stamp_ms: f64) -> String {
    let key = ch.to_string();
    let code = if ch.is_ascii_alphabetic() {
        format!("Key{}", ch.to_ascii_uppercase())
    } else if ch == ' ' {
        "Space".to_owned()
    } else {
        "Period".to_owned()
    };
    let key_code = ch.to_ascii_uppercase() as u32;
    json!({
        "event": "keystroke",
        "event_type": "keystroke",
        "frameindex": "0",
        "keystroke": {
            "altKey": false, "buttons": null, "charCode": 0, "code": code, "ctrlKey": false,
            "isComposing": false, "isTrusted": true, "key": key, "keyCode": key_code,
            "location": 0, "metaKey": false, "repeat": false, "shiftKey": ch.is_uppercase(),
            "target.className": "docs-texteventtarget-iframe", "target.id": "",
            "target.localName": "iframe", "target.nodeType": 1,
            "timeStamp": time_stamp_ms, "type": "keydown", "which": key_code,
        },
        "metadata": {"iso_ts": "2026-11-24T07:07:52.574Z"},
        "object": object(doc_id),
        "readyState": "complete",
        "wa_source": "client_page",
    })
    .to_string()
}

/// A `google_docs_save` whose one `is` command inserts `text` at 1-based index `ibi`.
pub(crate) fn docs_save(doc_id: &str, ibi: usize, text: &str, rev: u64) -> String {
    json!({
        "event": "google_docs_save",
        "doc_id": doc_id,
        "tab_id": "t.0",
        "url": format!("https://docs.google.com/document/d/{doc_id}/save?id={doc_id}&rev={rev}"),
        "bundles": [{"commands": [{"ty": "is", "ibi": ibi, "s": text}], "sid": "5a1e1a5c0ffee", "reqId": rev}],
        "rev": rev,
        "timestamp": 1_795_504_071_000u64 + rev,
        "metadata": {"iso_ts": "2026-11-24T07:07:52.574Z"},
    })
    .to_string()
}

/// Every frame one student sends while typing `text` into `doc_id`: a keystroke per
/// character and a save every `save_every` characters (and at the end), in order.
pub(crate) fn typing(doc_id: &str, text: &str, save_every: usize, keystrokes: bool) -> Vec<String> {
    let mut frames = Vec::new();
    let mut pending = String::new();
    let mut written = 0usize;
    let mut rev = 0u64;
    for (i, ch) in text.chars().enumerate() {
        if keystrokes {
            frames.push(keystroke(doc_id, ch, 1000.0 + i as f64 * 120.0));
        }
        pending.push(ch);
        if pending.chars().count() >= save_every.max(1) {
            rev += 1;
            frames.push(docs_save(doc_id, written + 1, &pending, rev));
            written += pending.chars().count();
            pending.clear();
        }
    }
    if !pending.is_empty() {
        rev += 1;
        frames.push(docs_save(doc_id, written + 1, &pending, rev));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_rebuild_the_text() {
        let text = "Héllo wörld 🌍 again";
        let frames = typing("d1", text, 3, true);
        let mut doc: Vec<char> = Vec::new();
        for f in &frames {
            let v: serde_json::Value = serde_json::from_str(f).unwrap();
            if v["event"] == "google_docs_save" {
                let cmd = &v["bundles"][0]["commands"][0];
                let at = cmd["ibi"].as_u64().unwrap() as usize - 1;
                for (k, c) in cmd["s"].as_str().unwrap().chars().enumerate() {
                    doc.insert(at + k, c);
                }
            }
        }
        assert_eq!(doc.into_iter().collect::<String>(), text);
        let keystroke = &frames[0];
        assert!((600..900).contains(&keystroke.len()), "{}", keystroke.len());
    }
}
