//! Learning Observer's study logs, read as ClassPulse log lines.
//!
//! Learning Observer writes one line per event: its server envelope as JSON
//! (`{"client": {…, "auth": {…}}, "metadata": {…}, "server": {"time": 1795504071.79, "ip", "agent", …}}`),
//! a tab, and a timestamp. The client object already has the lock fields merged and adapters'
//! fields (`doc_id`) derived, so it is what ClassPulse's ingest would have logged. Each line
//! becomes a ClassPulse log line: sequence number = line number, node = `lo-<file name>`
//! (so replaying a file again is recognised by the states' log positions and changes
//! nothing), the identity from `client.auth` (else `metadata.auth`), the server time, the
//! source made canonical as ingest makes it, and the client object without its `auth`.

use crate::event::envelope::{EnvelopeBody, finish_line};
use crate::event::{Auth, Fields, GENERIC_SOURCE, Timestamp, write_json_string};
use serde::Deserialize;
use std::borrow::Cow;

/// The node id standing for one Learning Observer log file: `lo-` and the file's name without
/// `.study.log[.gz]`, reduced to letters, digits, `-`, `_` and `.`.
pub fn node_for(file_name: &str) -> String {
    let stem = file_name
        .trim_end_matches(".gz")
        .trim_end_matches(".log")
        .trim_end_matches(".jsonl")
        .trim_end_matches(".study");
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    format!("lo-{clean}")
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    client: Fields<'a>,
    #[serde(borrow, default)]
    metadata: Option<Fields<'a>>,
    #[serde(borrow, default)]
    server: Option<Server<'a>>,
}

#[derive(Deserialize)]
struct Server<'a> {
    #[serde(default)]
    time: Option<f64>,
    #[serde(borrow, default)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    agent: Option<Cow<'a, str>>,
}

/// Converts one study-log line (without its newline) into a ClassPulse log line appended to
/// `out` (with its newline).
///
/// # Errors
/// A description of what is wrong with the line (truncated JSON, no identity, no time).
pub fn convert(line: &[u8], seq: u64, node: &str, out: &mut Vec<u8>) -> Result<(), String> {
    // The JSON is everything before the last tab (the timestamp Learning Observer appends).
    let json = match memchr::memrchr(b'\t', line) {
        Some(tab) => &line[..tab],
        None => line,
    };
    let json = std::str::from_utf8(json).map_err(|_| "not UTF-8".to_owned())?;
    let envelope: Envelope<'_> =
        serde_json::from_str(json).map_err(|e| format!("not a Learning Observer envelope: {e}"))?;
    let auth: Auth<'_> = envelope
        .client
        .get("auth")
        .or_else(|| envelope.metadata.as_ref().and_then(|m| m.get("auth")))
        .ok_or_else(|| "no auth object (client.auth or metadata.auth)".to_owned())?;
    let server = envelope
        .server
        .ok_or_else(|| "no server envelope".to_owned())?;
    let time = server
        .time
        .filter(|t| t.is_finite())
        .map(Timestamp::from_secs_f64)
        .ok_or_else(|| "no server.time".to_owned())?;
    let source: Cow<'_, str> = match envelope.client.str("source") {
        Some(s) if s.contains('-') => Cow::Owned(s.replace('-', "_")),
        Some(s) => s,
        None => Cow::Borrowed(GENERIC_SOURCE),
    };
    let mut body = String::with_capacity(json.len());
    EnvelopeBody {
        node,
        conn: 1,
        ip: server.ip.as_deref().unwrap_or(""),
        agent: server.agent.as_deref().unwrap_or(""),
        auth: &auth,
        source: &source,
        timer: None,
    }
    .write(&mut body, |out| {
        out.push('{');
        let mut first = true;
        for (key, value) in envelope.client.iter() {
            if key == "auth" {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            write_json_string(out, key);
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
    });
    finish_line(out, seq, time, body.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    #[test]
    fn a_study_line_becomes_a_log_line() {
        let line = br#"{"client": {"auth": {"providence": "tc", "safe_user_id": "tc-testcase-alice", "sec": "unauthenticated", "user_id": "testcase-alice"}, "event": "keystroke", "source": "org.mitros.writing-analytics", "doc_id": "d1"}, "metadata": {}, "server": {"agent": "A", "ip": "", "time": 1795504071.7951465}}	2026-11-24T07:07:51.795239"#;
        let mut out = Vec::new();
        convert(line, 7, "lo-alice", &mut out).unwrap();
        let text = std::str::from_utf8(&out).unwrap().trim_end();
        let event = Event::from_line(text).unwrap();
        assert_eq!(event.position.seq, 7);
        assert_eq!(event.position.node, "lo-alice");
        assert_eq!(event.safe_user_id(), "tc-testcase-alice");
        assert_eq!(event.source(), "org.mitros.writing_analytics");
        assert_eq!(event.kind(), "keystroke");
        assert_eq!(event.str_field("doc_id").as_deref(), Some("d1"));
        assert!(!event.fields.contains("auth"));
        assert!((event.time.as_micros() - 1_795_504_071_795_146).abs() <= 1);
        let torn = &line[..line.len() / 2];
        assert!(convert(torn, 8, "lo-alice", &mut Vec::new()).is_err());
        assert_eq!(node_for("alice.study.log.gz"), "lo-alice");
        assert_eq!(node_for("a b.study.log"), "lo-a_b");
    }
}
