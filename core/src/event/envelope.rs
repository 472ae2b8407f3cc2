//! The log line: one accepted event in its server envelope, as one line of JSON.
//!
//! ```text
//! {"seq":17,"time":1795504071.795146,"node":"local","conn":3,"ip":"127.0.0.1","agent":"…",
//!  "auth":{"providence":"tc","safe_user_id":"tc-testcase-alice","sec":"unauthenticated","user_id":"testcase-alice"},
//!  "source":"org.mitros.writing_analytics","client":{…the client event, lock fields merged…}}
//! ```
//! (one line in the file). `seq` and `time` come first because the log writer assigns them
//! when it appends: ingest prepares the rest of the line ([`EnvelopeBody`]) and the writer
//! prefixes it, so a line is never re-encoded. Timer events carry `"timer":"<id>"`.
//! Unknown keys are ignored on read, so later versions may add metadata.

use super::{Auth, Event, Fields, LogPosition, Timestamp, write_json_string};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A log line that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Not JSON, or not the envelope's shape.
    #[error("not a log line: {0}")]
    Json(#[from] serde_json::Error),
    /// `time` is not decimal seconds.
    #[error(transparent)]
    Time(#[from] super::TimestampParseError),
    /// A live line whose body the writer kept apart, whose event could not be built from
    /// what ingest knew (the router builds such lines only that way).
    #[error("a log line in two pieces without a usable prepared event")]
    Split,
}

/// A log line, parsed without copying.
#[derive(Debug, Deserialize)]
pub struct LogLine<'a> {
    /// Sequence number in the node's log.
    pub seq: u64,
    /// Server time, decimal seconds.
    #[serde(borrow)]
    pub time: &'a RawValue,
    /// The node that accepted the event.
    #[serde(borrow)]
    pub node: Cow<'a, str>,
    /// Connection id on that node (0: not from a socket).
    #[serde(default)]
    pub conn: u64,
    /// Remote address.
    #[serde(borrow, default)]
    pub ip: Cow<'a, str>,
    /// The client's `User-Agent`.
    #[serde(borrow, default)]
    pub agent: Cow<'a, str>,
    /// The authenticated identity.
    #[serde(borrow)]
    pub auth: Auth<'a>,
    /// The canonical event source.
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// The client event.
    #[serde(borrow)]
    pub client: Fields<'a>,
    /// The timer id, for events emitted by the timer service.
    #[serde(borrow, default)]
    pub timer: Option<Cow<'a, str>>,
}

impl<'a> LogLine<'a> {
    /// Parses one line (without its trailing newline).
    ///
    /// # Errors
    /// [`LineError`] when the line is not an envelope.
    pub fn parse(line: &'a str) -> Result<Self, LineError> {
        Ok(serde_json::from_str(line)?)
    }

    /// The server time.
    ///
    /// # Errors
    /// When `time` is not a number of seconds.
    pub fn timestamp(&self) -> Result<Timestamp, LineError> {
        Ok(self.time.get().parse()?)
    }

    /// The event reducers see. The node id borrows from the line, so a line whose `node`
    /// needed unescaping is refused (node ids are plain by construction).
    ///
    /// # Errors
    /// [`LineError`] when `time` is malformed.
    pub fn into_event(self) -> Result<Event<'a>, LineError> {
        let time = self.timestamp()?;
        let node: &'a str = match self.node {
            Cow::Borrowed(s) => s,
            Cow::Owned(_) => {
                return Err(LineError::Json(serde::de::Error::custom(
                    "node id must not contain escapes",
                )));
            }
        };
        let event_type = Event::type_of(&self.client);
        Ok(Event {
            event_type,
            position: LogPosition {
                node,
                seq: self.seq,
            },
            time,
            auth: self.auth,
            source: self.source,
            fields: self.client,
            timer: self.timer,
            conn: self.conn,
            memo: Default::default(),
        })
    }
}

/// The part of a log line ingest prepares: everything after `seq` and `time`.
///
/// ```
/// use classpulse_core::event::{envelope::{EnvelopeBody, finish_line}, Auth, Event, Timestamp};
/// let mut body = String::new();
/// EnvelopeBody { node: "n1", conn: 7, ip: "127.0.0.1", agent: "test", auth: &Auth::system(),
///     source: "org.example", timer: None }
///     .write(&mut body, |out| out.push_str(r#"{"event":"ping"}"#));
/// let mut line = Vec::new();
/// finish_line(&mut line, 42, Timestamp::from_millis(1500), body.as_bytes());
/// let text = std::str::from_utf8(&line).unwrap().trim_end();
/// let event = Event::from_line(text).unwrap();
/// assert_eq!(event.position.seq, 42);
/// assert_eq!(event.kind(), "ping");
/// assert_eq!(event.time, Timestamp::from_millis(1500));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeBody<'a> {
    /// Node id.
    pub node: &'a str,
    /// Connection id.
    pub conn: u64,
    /// Remote address.
    pub ip: &'a str,
    /// User agent.
    pub agent: &'a str,
    /// Identity.
    pub auth: &'a Auth<'a>,
    /// Canonical source.
    pub source: &'a str,
    /// Timer id, for timer events.
    pub timer: Option<&'a str>,
}

impl EnvelopeBody<'_> {
    /// Writes the body; `client` writes the client event object.
    pub fn write(&self, out: &mut String, client: impl FnOnce(&mut String)) {
        self.write_prefix(out);
        client(out);
        out.push('}');
    }

    /// The whole log line (without its newline) of `client`, a JSON object's text, stamped
    /// `seq` and `time`: what the log writer writes, for tools and tests that make lines.
    pub fn line(&self, seq: u64, time: Timestamp, client: &str) -> String {
        let mut head = Vec::with_capacity(48);
        write_head(&mut head, seq, time);
        let mut line = String::from_utf8(head).expect("a line's head is ASCII");
        line.reserve(client.len() + 192);
        self.write(&mut line, |out| out.push_str(client));
        line
    }

    /// Writes the body up to and including `"client":` (a connection caches it: it is the
    /// same for all its events of one source); the caller appends the client object and `}`.
    pub fn write_prefix(&self, out: &mut String) {
        out.push_str("\"node\":");
        write_json_string(out, self.node);
        out.push_str(",\"conn\":");
        out.push_str(&self.conn.to_string());
        out.push_str(",\"ip\":");
        write_json_string(out, self.ip);
        out.push_str(",\"agent\":");
        write_json_string(out, self.agent);
        out.push_str(",\"auth\":{\"providence\":");
        write_json_string(out, &self.auth.providence);
        out.push_str(",\"safe_user_id\":");
        write_json_string(out, &self.auth.safe_user_id);
        out.push_str(",\"sec\":");
        out.push_str(match self.auth.sec {
            super::Security::Authenticated => "\"authenticated\"",
            super::Security::Unauthenticated => "\"unauthenticated\"",
            super::Security::None => "\"none\"",
        });
        out.push_str(",\"user_id\":");
        write_json_string(out, &self.auth.user_id);
        out.push_str("},\"source\":");
        write_json_string(out, self.source);
        if let Some(timer) = self.timer {
            out.push_str(",\"timer\":");
            write_json_string(out, timer);
        }
        out.push_str(",\"client\":");
    }
}

/// Writes a whole line: `{"seq":…,"time":…,` + body + newline. Returns where the body starts
/// in `out`.
pub fn finish_line(out: &mut Vec<u8>, seq: u64, time: Timestamp, body: &[u8]) -> usize {
    write_head(out, seq, time);
    let body_start = out.len();
    out.extend_from_slice(body);
    out.push(b'\n');
    body_start
}

/// Writes the start of a line, `{"seq":…,"time":…,`: what the log writer adds to an envelope
/// body.
pub fn write_head(out: &mut Vec<u8>, seq: u64, time: Timestamp) {
    out.extend_from_slice(b"{\"seq\":");
    write_u64(out, seq);
    out.extend_from_slice(b",\"time\":");
    let micros = time.as_micros();
    if micros < 0 {
        out.extend_from_slice(time.to_string().as_bytes());
    } else {
        let micros = micros as u64;
        write_u64(out, micros / 1_000_000);
        out.push(b'.');
        let frac = micros % 1_000_000;
        let mut digits = [b'0'; 6];
        let mut n = frac;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend_from_slice(&digits);
    }
    out.push(b',');
}

/// Writes a decimal integer without allocating.
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}
