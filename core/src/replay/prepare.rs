//! Splitting log lines read back from disk on the reading thread, so the router does not parse
//! them: the same [`Prepared`] (field spans, identity, source) ingest hands the router live.
//!
//! The line's top level and its `client` object are split with the validating scanner
//! ([`crate::event::scan`]); the identity, node and source are interned, so a batch of lines
//! from the same students allocates only each line's span list. Anything unusual — a timer
//! event, an escaped key, a line the scanner refuses — is left to the router, which parses it
//! (and reports it when it does not parse): the result is the same event either way.

use crate::event::scan::scan_object_nested;
use crate::event::{Auth, Timestamp};
use crate::log::{CommittedLine, FieldSpan, Prepared};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Deepest nesting accepted (the most `ingest.max_json_depth` allows).
const MAX_DEPTH: usize = 1000;

/// Interned metadata for the lines of one replay.
#[derive(Default)]
pub struct Preparer {
    auths: HashMap<Box<str>, Arc<Auth<'static>>, foldhash::fast::RandomState>,
    strings: HashMap<Box<str>, Arc<str>, foldhash::fast::RandomState>,
}

impl Preparer {
    /// The line's time and what the router needs to build its event; `None` when the router
    /// should parse it itself.
    pub fn prepare(&mut self, line: &str) -> Option<(Timestamp, Prepared)> {
        let mut time = None;
        let mut node = None;
        let mut conn = None;
        let mut auth = None;
        let mut source = None;
        let mut client = None;
        let mut unusual = false;
        let base = line.as_ptr() as usize;
        let offset = |s: &str| (s.as_ptr() as usize - base) as u32;
        let mut fields = Vec::with_capacity(16);
        let mut escaped = false;
        // The envelope and its client event in one pass: the event's fields are its spans.
        scan_object_nested(
            line,
            MAX_DEPTH,
            "client",
            |key, value| match &*key {
                "time" => time = Some(value.get()),
                "node" => node = Some(value.get()),
                "conn" => conn = Some(value.get()),
                "auth" => auth = Some(value.get()),
                "source" => source = Some(value.get()),
                // A repeated `client` would have both events' fields split: the router decides.
                "client" => unusual |= client.replace(value.get()).is_some(),
                "seq" | "ip" | "agent" => {}
                _ => unusual = true,
            },
            |key, value| {
                let Cow::Borrowed(key) = key else {
                    escaped = true;
                    return;
                };
                let value = value.get();
                fields.push(FieldSpan {
                    key: (offset(key), offset(key) + key.len() as u32),
                    value: (offset(value), offset(value) + value.len() as u32),
                    key_escaped: false,
                });
            },
        )
        .ok()?;
        if unusual {
            return None;
        }
        let time: Timestamp = time?.parse().ok()?;
        let conn: u64 = conn.map_or(Some(0), |c| c.parse().ok())?;
        let node = self.plain_string(node?)?;
        let source = self.plain_string(source?)?;
        let auth = match self.auths.get(auth?) {
            Some(a) => a.clone(),
            None => {
                let raw = auth?;
                let parsed: Auth<'_> = serde_json::from_str(raw).ok()?;
                let parsed = Arc::new(parsed.into_owned());
                self.auths.insert(raw.into(), parsed.clone());
                parsed
            }
        };
        // Only an object was split; a client event of another type is left to the router.
        if escaped || !client?.starts_with('{') {
            return None;
        }
        Some((
            time,
            Prepared {
                node,
                auth,
                source,
                conn,
                fields,
            },
        ))
    }

    /// Splits `line` (a line of the batch buffer `buf`) unless it already is: sets its time,
    /// what the router needs, and where its body starts (the spans are relative to the line).
    /// A line that does not split is left for the router to parse.
    pub fn prepare_line(&mut self, buf: &[u8], line: &mut CommittedLine) {
        if line.prepared.is_some() {
            return;
        }
        if let Some((time, prepared)) = buf
            .get(line.range.0..line.range.1)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| self.prepare(text))
        {
            line.time = Some(time);
            line.prepared = Some(prepared);
            line.body_start = line.range.0;
        }
    }

    /// An interned JSON string without escapes (`"local"` → `local`).
    fn plain_string(&mut self, raw: &str) -> Option<Arc<str>> {
        let text = raw.strip_prefix('"')?.strip_suffix('"')?;
        if text.contains('\\') {
            return None;
        }
        if let Some(s) = self.strings.get(text) {
            return Some(s.clone());
        }
        let s: Arc<str> = Arc::from(text);
        self.strings.insert(text.into(), s.clone());
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    #[test]
    fn prepared_events_equal_parsed_lines() {
        let lines = [
            r#"{"seq":3,"time":1795504071.795146,"node":"local","conn":3,"ip":"127.0.0.1","agent":"a","auth":{"providence":"tc","safe_user_id":"tc-testcase-alice","sec":"unauthenticated","user_id":"testcase-alice"},"source":"org.mitros.writing_analytics","client":{"event":"google_docs_save","doc_id":"d1","bundles":[{"commands":[{"ty":"is","ibi":1,"s":"a\"b"}]}],"n":1.5e3}}"#,
            r#"{"seq":4,"time":1.000000,"node":"n","conn":0,"ip":"","agent":"","auth":{"providence":"system","safe_user_id":"system","sec":"authenticated","user_id":"system"},"source":"org.classpulse.roster","client":{}}"#,
        ];
        let mut preparer = Preparer::default();
        for line in lines {
            let parsed = Event::from_line(line).unwrap();
            let (time, prepared) = preparer.prepare(line).unwrap();
            let event = prepared.event(line, parsed.position.seq, time).unwrap();
            assert_eq!(event.time, parsed.time);
            assert_eq!(event.position, parsed.position);
            assert_eq!(event.auth, parsed.auth);
            assert_eq!(event.source, parsed.source);
            assert_eq!(event.conn, parsed.conn);
            assert_eq!(event.kind(), parsed.kind());
            let fields = |e: &Event<'_>| {
                e.fields
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(fields(&event), fields(&parsed));
        }
        // Left to the router: timer events, escaped keys, broken lines.
        let timer = lines[1].replace("\"client\"", "\"timer\":\"t1\",\"client\"");
        assert!(preparer.prepare(&timer).is_none());
        let escaped = lines[1].replace("\"client\":{}", "\"client\":{\"a\\n\":1}");
        assert!(preparer.prepare(&escaped).is_none());
        assert!(preparer.prepare(&lines[0][..100]).is_none());
        let twice = lines[1].replace("\"client\":{}", "\"client\":{\"a\":1},\"client\":{}");
        assert!(preparer.prepare(&twice).is_none());
        let not_an_object = lines[1].replace("\"client\":{}", "\"client\":[1]");
        assert!(preparer.prepare(&not_an_object).is_none());
    }
}
