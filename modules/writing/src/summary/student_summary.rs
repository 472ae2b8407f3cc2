//! The per-student row of a teacher's writing dashboard.
//!
//! Built from the student's current document (the `reconstruct` state of their last
//! document) and its time on task, at a given "now" (the dashboard's clock; reducers never
//! read one). Counts are over the text teachers see (placeholders removed). Counting is
//! O(document), which is fine at dashboard rate; the reducers themselves stay O(edit).

use super::excerpt::excerpt;
use crate::activity::time_on_task::TimeOnTask;
use crate::pycompat::text::is_space;
use crate::reconstruct::{Document, PLACEHOLDER};
use serde::{Deserialize, Serialize};

/// Whether a student is writing right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// An event arrived within the activity threshold.
    Active,
    /// No event for longer than the activity threshold (or none at all).
    Inactive,
}

/// One student's writing at a glance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentSummary {
    /// The document shown (the student's last document).
    pub doc_id: Option<String>,
    /// Words (runs of non-space characters).
    pub word_count: usize,
    /// Characters (code points).
    pub character_count: usize,
    /// Seconds on task in this document.
    pub time_on_task_secs: f64,
    /// Server time (seconds) of the latest event in this document.
    pub last_activity_secs: Option<f64>,
    /// Active or inactive at `now`.
    pub status: Activity,
    /// ~103 characters around the cursor, `❙` at the cursor.
    pub excerpt: String,
}

/// What a summary is built from.
#[derive(Clone, Copy, Debug)]
pub struct SummaryInputs<'a> {
    /// The document shown.
    pub doc_id: Option<&'a str>,
    /// Its reconstruction.
    pub document: Option<&'a Document>,
    /// Its time on task.
    pub time_on_task: Option<&'a TimeOnTask>,
    /// The dashboard's current time (seconds since the epoch).
    pub now_secs: f64,
    /// How recent the latest event must be for "active" (Learning Observer: 60 s).
    pub activity_threshold_secs: f64,
}

/// `(words, characters)` of the text teachers see (the dashboard's counts; charts use them too).
pub fn counts(doc: &Document) -> (usize, usize) {
    let (mut words, mut chars, mut in_word) = (0, 0, false);
    for chunk in doc.text().chunks() {
        for c in chunk.chars() {
            if c == PLACEHOLDER {
                continue;
            }
            chars += 1;
            if is_space(c) {
                in_word = false;
            } else if !in_word {
                in_word = true;
                words += 1;
            }
        }
    }
    (words, chars)
}

impl StudentSummary {
    /// Builds the summary.
    pub fn build(inputs: SummaryInputs<'_>) -> StudentSummary {
        let (word_count, character_count) = inputs.document.map_or((0, 0), counts);
        let last_activity_secs = inputs.time_on_task.and_then(|t| t.saved_ts);
        let status = match last_activity_secs {
            Some(last) if inputs.now_secs - last < inputs.activity_threshold_secs => {
                Activity::Active
            }
            _ => Activity::Inactive,
        };
        StudentSummary {
            doc_id: inputs.doc_id.map(str::to_owned),
            word_count,
            character_count,
            time_on_task_secs: inputs.time_on_task.map_or(0.0, |t| t.total_time_on_task),
            last_activity_secs,
            status,
            excerpt: inputs
                .document
                .map_or_else(String::new, |d| excerpt(d, d.position())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconstruct::{Command, Limits};

    #[test]
    fn summarises_a_student() {
        let mut doc = Document::new();
        doc.apply(
            &Command::Insert {
                ibi: 3,
                s: "Two words".into(),
            },
            &Limits::default(),
        );
        let mut time = TimeOnTask::default();
        time.record(100.0, 60.0);
        time.record(130.0, 60.0);
        let inputs = SummaryInputs {
            doc_id: Some("d1"),
            document: Some(&doc),
            time_on_task: Some(&time),
            now_secs: 150.0,
            activity_threshold_secs: 60.0,
        };
        let s = StudentSummary::build(inputs);
        assert_eq!(s.word_count, 2);
        assert_eq!(s.character_count, 9);
        assert_eq!(s.time_on_task_secs, 30.0);
        assert_eq!(s.last_activity_secs, Some(130.0));
        assert_eq!(s.status, Activity::Active);
        assert_eq!(s.excerpt, "Two words❙");
        let later = StudentSummary::build(SummaryInputs {
            now_secs: 190.0,
            ..inputs
        });
        assert_eq!(later.status, Activity::Inactive);
        let json = serde_json::to_value(&later).unwrap();
        assert_eq!(json["status"], "inactive");
        let empty = StudentSummary::build(SummaryInputs {
            doc_id: None,
            document: None,
            time_on_task: None,
            ..inputs
        });
        assert_eq!((empty.word_count, empty.status), (0, Activity::Inactive));
    }
}
