//! How ClassPulse names things in Redis.
//!
//! Every key starts with the configured prefix. A state and its subject's key index share a
//! Redis Cluster hash tag — the subject (`{student:alice}`) — so the compare-and-set script that
//! stores a state and indexes it touches one slot, and all of a student's states live on one
//! shard:
//!
//! ```text
//! <prefix>:{student:alice}:s:writing.reconstruct/student:alice|doc_id:d1   hash: rev ver app st by
//! <prefix>:{student:alice}:keys                                            set of "<reducer>/<scope>"
//! <prefix>:epoch  (or one <prefix>:epoch:{eN} per cluster primary)        the data's epoch
//! <prefix>:mark:<node>  (or <prefix>:mark:{eN}:<node>)                     a node's last stored seq
//! <prefix>:timers:lease                                                    who runs the timers
//! ```

use crate::kvs::StateKey;
use crate::reducer::ScopeKey;
use std::sync::Arc;

/// The key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    prefix: String,
}

impl KeySpace {
    /// Names under `prefix` (validated by the config: no braces).
    pub(crate) fn new(prefix: &str) -> Self {
        KeySpace {
            prefix: prefix.to_owned(),
        }
    }

    /// The hash holding one state.
    pub(crate) fn state(&self, key: &StateKey) -> String {
        let subject = key.scope.subject();
        let mut out = String::with_capacity(
            self.prefix.len() + subject.len() + key.reducer.len() + key.scope.as_str().len() + 8,
        );
        out.push_str(&self.prefix);
        out.push_str(":{");
        out.push_str(subject);
        out.push_str("}:s:");
        out.push_str(&key.reducer);
        out.push('/');
        out.push_str(key.scope.as_str());
        out
    }

    /// The set listing a subject's state keys (as [`KeySpace::member`]).
    pub(crate) fn index(&self, subject: &str) -> String {
        format!("{}:{{{subject}}}:keys", self.prefix)
    }

    /// A state key as stored in its subject's index.
    pub(crate) fn member(key: &StateKey) -> String {
        format!("{}/{}", key.reducer, key.scope)
    }

    /// Parses an index member back.
    pub(crate) fn parse_member(member: &str) -> Option<StateKey> {
        let (reducer, scope) = member.split_once('/')?;
        Some(StateKey {
            reducer: Arc::from(reducer),
            scope: ScopeKey::from_text(scope),
        })
    }

    /// The `SCAN` pattern matching every state hash.
    pub(crate) fn state_pattern(&self) -> String {
        format!("{}:{{*}}:s:*", self.prefix)
    }

    /// Parses a state hash's name back into its key.
    pub(crate) fn parse_state(&self, redis_key: &str) -> Option<StateKey> {
        let rest = redis_key.strip_prefix(&self.prefix)?.strip_prefix(":{")?;
        // The subject may itself contain "}:s:"; the right split is the one whose scope
        // starts with the subject.
        let mut from = 0;
        while let Some(at) = rest[from..].find("}:s:") {
            let split = from + at;
            let subject = &rest[..split];
            if let Some(key) = Self::parse_member(&rest[split + 4..])
                && key.scope.subject() == subject
            {
                return Some(key);
            }
            from = split + 1;
        }
        None
    }

    /// The epoch key with hash tag `tag` (`None`: the one key of a single server).
    pub(crate) fn epoch(&self, tag: Option<&str>) -> String {
        match tag {
            None => format!("{}:epoch", self.prefix),
            Some(tag) => format!("{}:epoch:{{{tag}}}", self.prefix),
        }
    }

    /// The mark of what node `node` stored, next to the epoch key with tag `tag`.
    pub(crate) fn mark(&self, tag: Option<&str>, node: &str) -> String {
        match tag {
            None => format!("{}:mark:{node}", self.prefix),
            Some(tag) => format!("{}:mark:{{{tag}}}:{node}", self.prefix),
        }
    }

    /// The timer lease.
    pub(crate) fn lease(&self) -> String {
        format!("{}:timers:lease", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_share_the_subject_tag() {
        let keys = KeySpace::new("cp");
        let key = StateKey {
            reducer: Arc::from("writing.reconstruct"),
            scope: ScopeKey::from_text("student:a}:s:b|doc_id:d/1"),
        };
        let name = keys.state(&key);
        assert_eq!(
            name,
            "cp:{student:a}:s:b}:s:writing.reconstruct/student:a}:s:b|doc_id:d/1"
        );
        assert_eq!(keys.parse_state(&name), Some(key.clone()));
        assert_eq!(
            KeySpace::parse_member(&KeySpace::member(&key)),
            Some(key.clone())
        );
        // Same hash slot for the state and its index: the tag is what lies between the first
        // `{` and the next `}`.
        let tag = |k: &str| {
            let open = k.find('{').unwrap();
            let close = open + k[open..].find('}').unwrap();
            k[open + 1..close].to_owned()
        };
        assert_eq!(tag(&name), tag(&keys.index(key.scope.subject())));
        assert_eq!(keys.parse_state("other:{x}:s:r/x"), None);
    }
}
