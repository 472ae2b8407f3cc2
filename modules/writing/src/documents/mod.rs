//! Which documents and tabs a student works in: document ids, titles, tags, tabs.
//!
//! * [`doc_id`]: Learning Observer's rule for an event's document id (and its adapter rule),
//! * [`document_list`]: every document a student touched, with title and last access,
//! * [`last_document`]: the latest document,
//! * [`tab_list`]: a document's tabs with titles and last access,
//! * [`document_tagging`]: `#hashtags` in document titles,
//! * [`access_timestamps`]: when the student switched documents.

pub mod access_timestamps;
pub mod doc_id;
pub mod document_list;
pub mod document_tagging;
pub mod last_document;
pub mod tab_list;
