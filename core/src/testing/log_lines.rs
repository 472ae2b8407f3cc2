//! Event-log lines for tests, written by the runtime's own envelope code, so that a test's
//! lines are exactly what the log writer writes.

use crate::event::envelope::EnvelopeBody;
use crate::event::{Auth, Security, Timestamp};
use crate::log::{CommittedLine, DurableBatch};
use std::borrow::Cow;

/// The log line (without its newline) of `client`, a JSON object, sent by testcase student
/// `student` (safe id `tc-<student>`) on connection 1 of `node` with source `source`, stamped
/// `seq` and `time`.
///
/// ```
/// use classpulse_core::event::{Event, Timestamp};
/// use classpulse_core::testing::log_line;
/// let line = log_line("n1", 7, Timestamp::from_millis(1_500), "alice", "org.test", r#"{"event":"e"}"#);
/// let event = Event::from_line(&line).unwrap();
/// assert_eq!((event.position.seq, &*event.auth.safe_user_id), (7, "tc-alice"));
/// ```
pub fn log_line(
    node: &str,
    seq: u64,
    time: Timestamp,
    student: &str,
    source: &str,
    client: &str,
) -> String {
    let auth = Auth {
        providence: Cow::Borrowed("tc"),
        safe_user_id: Cow::Owned(format!("tc-{student}")),
        sec: Security::Unauthenticated,
        user_id: Cow::Borrowed(student),
    };
    EnvelopeBody {
        node,
        conn: 1,
        ip: "",
        agent: "",
        auth: &auth,
        source,
        timer: None,
    }
    .line(seq, time, client)
}

/// The batch the log writer would hand the router for `lines` (`(seq, line)` pairs, lines
/// without their newline), with nothing prepared: the router parses each line, as when a log
/// is read back.
pub fn batch_of(lines: impl IntoIterator<Item = (u64, String)>) -> DurableBatch {
    let mut buf = Vec::new();
    let mut committed = Vec::new();
    for (seq, line) in lines {
        let start = buf.len();
        buf.extend_from_slice(line.as_bytes());
        committed.push(CommittedLine {
            seq,
            time: None,
            range: (start, buf.len()),
            body_start: start,
            prepared: None,
            body: None,
        });
        buf.push(b'\n');
    }
    DurableBatch {
        buf: buf.into(),
        lines: committed,
    }
}
