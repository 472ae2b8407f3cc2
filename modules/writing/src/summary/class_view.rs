//! `writing.class`: the writing module's course view — one [`StudentSummary`] row per student
//! (their last document: words, characters, time on task, last activity, active or idle, an
//! excerpt around the cursor) and a class summary.
//!
//! A row reads three states of one student: `writing.last_document` (which document), then
//! that document's `writing.time_on_task` and `writing.reconstruct`. The text is read where
//! it is stored, not copied.

use super::student_summary::{StudentSummary, SummaryInputs as RowInputs};
use crate::activity::time_on_task::TimeOnTask;
use crate::documents::last_document::LastDocument;
use crate::reconstruct::Document;
use crate::reducers::{LastDocumentReducer, ReconstructReducer, TimeOnTaskReducer};
use async_trait::async_trait;
use classpulse_core::aggregator::{Aggregator, StateReader, StudentRef, SummaryInputs};
use classpulse_core::kvs::KvsError;
use classpulse_core::reducer::ScopeKey;
use serde_json::{Value, json};

/// How [`Activity::Active`](super::student_summary::Activity::Active) serializes.
const ACTIVE: &str = "active";

/// The view's name.
pub const CLASS_VIEW: &str = "writing.class";

/// The writing module's course view.
#[derive(Clone, Debug)]
pub struct ClassView {
    /// A student whose latest event is more recent than this is "active" (seconds).
    pub activity_threshold_secs: f64,
}

const INPUTS: &[&str] = &[
    LastDocumentReducer::NAME,
    ReconstructReducer::NAME,
    TimeOnTaskReducer::NAME,
];

#[async_trait]
impl Aggregator for ClassView {
    fn name(&self) -> &str {
        CLASS_VIEW
    }

    fn title(&self) -> &str {
        "Writing"
    }

    fn student_inputs(&self) -> &[&str] {
        INPUTS
    }

    async fn row(
        &self,
        student: StudentRef<'_>,
        states: &StateReader<'_>,
    ) -> Result<Value, KvsError> {
        let key = ScopeKey::student(student.id);
        let doc_id = states
            .with(
                LastDocumentReducer::NAME,
                &key,
                |last: Option<&LastDocument>| last.and_then(|l| l.document_id().map(str::to_owned)),
            )
            .await?;
        let now_secs = student.now.as_secs_f64();
        let summary = match &doc_id {
            None => StudentSummary::build(RowInputs {
                doc_id: None,
                document: None,
                time_on_task: None,
                now_secs,
                activity_threshold_secs: self.activity_threshold_secs,
            }),
            Some(doc) => {
                let doc_key = key.with_field("doc_id", doc);
                let time = states
                    .with(
                        TimeOnTaskReducer::NAME,
                        &doc_key,
                        |t: Option<&TimeOnTask>| t.cloned(),
                    )
                    .await?;
                let threshold = self.activity_threshold_secs;
                states
                    .with(
                        ReconstructReducer::NAME,
                        &doc_key,
                        |d: Option<&Document>| {
                            StudentSummary::build(RowInputs {
                                doc_id: Some(doc),
                                document: d,
                                time_on_task: time.as_ref(),
                                now_secs,
                                activity_threshold_secs: threshold,
                            })
                        },
                    )
                    .await?
            }
        };
        let mut row = serde_json::to_value(&summary).unwrap_or_else(|_| json!({}));
        if let Some(obj) = row.as_object_mut() {
            obj.insert("name".into(), Value::String(student.member.name.clone()));
        }
        Ok(row)
    }

    fn summary(&self, inputs: SummaryInputs<'_>) -> Value {
        let rows = inputs.rows.values();
        let (mut active, mut words, mut max_words, mut time, mut max_time) =
            (0, 0u64, 0u64, 0.0, 0.0f64);
        for row in rows {
            // Compared as text: building `json!(Activity::Active)` per row per summary cost
            // an allocation each.
            if row["status"] == ACTIVE {
                active += 1;
            }
            let w = row["word_count"].as_u64().unwrap_or(0);
            words += w;
            max_words = max_words.max(w);
            let t = row["time_on_task_secs"].as_f64().unwrap_or(0.0);
            time += t;
            max_time = max_time.max(t);
        }
        let students = inputs.rows.len();
        let mean = |total: f64| {
            if students == 0 {
                0.0
            } else {
                total / students as f64
            }
        };
        json!({
            "students": students,
            "active": active,
            "idle": students - active,
            "total_words": words,
            "mean_words": mean(words as f64),
            "max_words": max_words,
            "mean_time_on_task_secs": mean(time),
            "max_time_on_task_secs": max_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconstruct::{Command, Limits};
    use classpulse_core::event::Timestamp;
    use classpulse_core::kvs::{Applied, MemoryKvs, Slot, StateKey};
    use classpulse_core::reducer::{AnyState, DynReducer, Reducer, erase};
    use classpulse_core::roster::{CourseRoster, Member, Role};
    use classpulse_core::router::Registry;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn store<R: Reducer>(kvs: &MemoryKvs, reducer: R, key: ScopeKey, state: R::State) {
        let erased: Arc<dyn DynReducer> = erase(reducer);
        kvs.insert(
            StateKey {
                reducer: Arc::from(erased.name()),
                scope: key,
            },
            Slot {
                version: 1,
                applied: Applied::default(),
                revision: 1,
                state: Box::new(state) as Box<dyn AnyState>,
            },
        );
    }

    #[test]
    fn rows_and_summary_from_the_students_states() {
        let kvs = MemoryKvs::new();
        let registry = Registry::new(
            crate::WritingModule::default()
                .erased_reducers()
                .into_iter()
                .map(|r| ("writing".to_owned(), r)),
        )
        .unwrap();
        let ann = ScopeKey::student("s-ann");
        let mut last = LastDocument::default();
        last.record("d1");
        store(&kvs, LastDocumentReducer, ann.clone(), last);
        let mut doc = Document::new();
        doc.apply(
            &Command::Insert {
                ibi: 1,
                s: "Rivers carve valleys".into(),
            },
            &Limits::default(),
        );
        store(
            &kvs,
            ReconstructReducer::new(Limits::default()),
            ann.with_field("doc_id", "d1"),
            doc,
        );
        let mut time = TimeOnTask::default();
        time.record(1000.0, 60.0);
        time.record(1030.0, 60.0);
        store(
            &kvs,
            TimeOnTaskReducer {
                threshold_secs: 60.0,
            },
            ann.with_field("doc_id", "d1"),
            time,
        );

        let view = ClassView {
            activity_threshold_secs: 60.0,
        };
        let reader = StateReader::new(&kvs, &registry);
        let member = |name: &str| Member {
            role: Role::Student,
            name: name.into(),
            email: String::new(),
        };
        let (m_ann, m_bo) = (member("Ann"), member("Bo"));
        let now = Timestamp::from_millis(1_040_000);
        let rt = tokio_runtime();
        let row_ann = rt
            .block_on(view.row(
                StudentRef {
                    id: "s-ann",
                    member: &m_ann,
                    now,
                },
                &reader,
            ))
            .unwrap();
        assert_eq!(row_ann["name"], "Ann");
        assert_eq!(row_ann["word_count"], 3);
        assert_eq!(row_ann["time_on_task_secs"], 30.0);
        assert_eq!(row_ann["status"], "active");
        assert_eq!(row_ann["excerpt"], "Rivers carve valleys❙");
        let row_bo = rt
            .block_on(view.row(
                StudentRef {
                    id: "s-bo",
                    member: &m_bo,
                    now,
                },
                &reader,
            ))
            .unwrap();
        assert_eq!(
            (row_bo["word_count"].clone(), row_bo["status"].clone()),
            (json!(0), json!("inactive"))
        );

        let rows = BTreeMap::from([("s-ann".to_owned(), row_ann), ("s-bo".to_owned(), row_bo)]);
        let summary = view.summary(SummaryInputs {
            course: &CourseRoster::default(),
            rows: &rows,
            course_states: &BTreeMap::new(),
            now,
        });
        assert_eq!(summary["students"], 2);
        assert_eq!(summary["active"], 1);
        assert_eq!(summary["total_words"], 3);
        assert_eq!(summary["mean_words"], 1.5);
        assert_eq!(
            serde_json::to_value(super::super::student_summary::Activity::Active).unwrap(),
            ACTIVE
        );
    }

    fn tokio_runtime() -> SyncRuntime {
        SyncRuntime
    }

    /// Runs the reader's futures: the memory KVS never waits, so polling once completes them.
    struct SyncRuntime;

    impl SyncRuntime {
        fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut f = std::pin::pin!(f);
            match f.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(out) => out,
                std::task::Poll::Pending => panic!("the memory KVS does not wait"),
            }
        }
    }
}
