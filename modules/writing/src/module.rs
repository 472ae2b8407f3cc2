//! [`WritingModule`]: what the writing module hands the runtime — its event adapter (the
//! `doc_id` rule) and its reducers, configured from `[modules.writing]`.

use crate::client::{ClientFields, ObjectMembers, raw_member};
use crate::config::WritingConfig;
use crate::documents::doc_id::adapted_doc_id;
use crate::reconstruct::Limits;
use crate::reducers::{
    BinnedTimeOnTaskReducer, DocumentAccessTimestampsReducer, DocumentListReducer,
    DocumentTaggingReducer, EventCountReducer, LastDocumentReducer, ReconstructReducer,
    StudentProfileReducer, TabListReducer, TabTimeOnTaskReducer, TimeOnTaskReducer,
};
use classpulse_core::event::Lookup;
use classpulse_core::module::{EventAdapter, Module, ModuleBuilder};
use classpulse_core::reducer::{DynReducer, Reducer, erase};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// Learning Observer's writing analytics (`writing_observer`).
///
/// Build it from its configuration with [`WritingConfig::build`], or take the defaults with
/// [`WritingModule::default`].
#[derive(Clone, Debug, Default)]
pub struct WritingModule {
    config: WritingConfig,
}

impl WritingModule {
    /// The module's name, and its section in `config.toml` (`[modules.writing]`).
    pub const NAME: &'static str = "writing";

    /// A module with the given (already validated) configuration.
    pub fn new(config: WritingConfig) -> Self {
        WritingModule { config }
    }

    /// The configuration.
    pub fn config(&self) -> &WritingConfig {
        &self.config
    }
}

/// Where [`WritingModule::each_reducer`] puts the reducers.
trait ReducerSink {
    fn add<R: Reducer>(&mut self, reducer: R);
}

impl ReducerSink for ModuleBuilder {
    fn add<R: Reducer>(&mut self, reducer: R) {
        self.reducer(reducer);
    }
}

impl ReducerSink for Vec<Arc<dyn DynReducer>> {
    fn add<R: Reducer>(&mut self, reducer: R) {
        self.push(erase(reducer));
    }
}

impl WritingModule {
    fn each_reducer(&self, sink: &mut impl ReducerSink) {
        let c = &self.config;
        sink.add(ReconstructReducer::new(Limits {
            max_chars: c.max_document_chars,
        }));
        sink.add(TimeOnTaskReducer {
            threshold_secs: c.time_on_task_threshold_secs,
        });
        sink.add(TabTimeOnTaskReducer {
            threshold_secs: c.time_on_task_threshold_secs,
        });
        sink.add(BinnedTimeOnTaskReducer {
            threshold_secs: c.time_on_task_threshold_secs,
            bin_secs: c.binned_time_on_task_bin_secs,
        });
        sink.add(EventCountReducer);
        sink.add(DocumentListReducer);
        sink.add(TabListReducer);
        sink.add(LastDocumentReducer);
        sink.add(DocumentTaggingReducer);
        sink.add(DocumentAccessTimestampsReducer);
        sink.add(StudentProfileReducer);
    }

    /// The module's reducers, type-erased, in registration order (what [`Module::register`]
    /// registers; for offline tools and tests).
    pub fn erased_reducers(&self) -> Vec<Arc<dyn DynReducer>> {
        let mut reducers = Vec::new();
        self.each_reducer(&mut reducers);
        reducers
    }
}

impl Module for WritingModule {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn register(&self, m: &mut ModuleBuilder) {
        m.adapter(DocIdAdapter);
        self.each_reducer(m);
        m.aggregator(crate::summary::ClassView {
            activity_threshold_secs: self.config.activity_threshold_secs,
        });
    }
}

/// Learning Observer's `document_link_to_doc_id` adapter: an event without a (truthy)
/// `doc_id` whose `object.url` is a Google Docs document gets `doc_id = object.id`, so the
/// per-document reducers see it. Applies to every source, as in Learning Observer.
#[derive(Clone, Copy, Debug, Default)]
pub struct DocIdAdapter;

/// An ingest-time event seen through [`ClientFields`]; `object` is parsed at most once.
struct LookupFields<'a>(&'a dyn Lookup, std::cell::OnceCell<Option<ObjectMembers>>);

impl ClientFields for LookupFields<'_> {
    fn kind(&self) -> Cow<'_, str> {
        match self.value("event") {
            Some(Value::String(kind)) => Cow::Owned(kind),
            _ => Cow::Borrowed(""),
        }
    }

    fn value(&self, name: &str) -> Option<Value> {
        serde_json::from_str(self.0.raw_field(name)?.get()).ok()
    }

    fn string(&self, name: &str) -> Option<Cow<'_, str>> {
        let raw = self.0.raw_field(name)?.get();
        if !raw.starts_with('"') {
            return None;
        }
        serde_json::from_str::<Cow<'_, str>>(raw).ok()
    }

    fn member(&self, name: &str, key: &str) -> Option<Value> {
        if name == "object" {
            let raw = self.0.raw_field("object")?.get();
            let members = self.1.get_or_init(|| ObjectMembers::parse(raw));
            match members.as_ref().map(|m| m.get(raw, key)) {
                Some(Some(found)) => return found,
                None => return None,
                Some(None) => {}
            }
        }
        raw_member(self.0.raw_field(name)?.get(), key)
    }
}

impl DocIdAdapter {
    /// The common cases without allocating: a truthy string `doc_id` (nothing to do), or a
    /// string `object.url` and `object.id`. `None` means "take the general path".
    fn fast(event: &dyn Lookup) -> Option<Vec<(&'static str, String)>> {
        if let Some(raw) = event.raw_field("doc_id") {
            let text = raw.get();
            if text.len() > 2 && text.starts_with('"') {
                return Some(Vec::new());
            }
            return None;
        }
        let Some(object) = event.raw_field("object") else {
            return Some(Vec::new());
        };
        let (mut url, mut id) = (None, None);
        classpulse_core::event::scan::scan_object_with(object.get(), 1000, |key, value| match key
            .as_ref()
        {
            "url" => url = Some(value.get()),
            "id" => id = Some(value.get()),
            _ => {}
        })
        .ok()?;
        // Strings without escapes are read in place; anything else takes the general path.
        let plain = |raw: &str| {
            (raw.len() >= 2 && raw.starts_with('"') && !raw.contains('\\'))
                .then(|| raw[1..raw.len() - 1].to_owned())
        };
        let url = plain(url?)?;
        if !crate::documents::doc_id::is_document_url(&url) {
            return Some(Vec::new());
        }
        match id {
            Some(id) if id.len() > 2 && plain(id).is_some() => {
                Some(vec![("doc_id", id.to_owned())])
            }
            _ => None,
        }
    }
}

impl EventAdapter for DocIdAdapter {
    fn inputs(&self) -> &[&str] {
        &["doc_id", "object"]
    }

    fn derive(&self, event: &dyn Lookup) -> Vec<(&'static str, String)> {
        if let Some(fast) = Self::fast(event) {
            return fast;
        }
        adapted_doc_id(&LookupFields(event, std::cell::OnceCell::new()))
            .map(|id| vec![("doc_id", id.to_string())])
            .unwrap_or_default()
    }
}
