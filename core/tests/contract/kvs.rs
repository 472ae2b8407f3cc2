//! What every [`Kvs`] must do.

use classpulse_core::event::{Event, LogPosition};
use classpulse_core::kvs::{Kvs, Slot, StateKey, UpdateBatch};
use classpulse_core::reducer::{DynReducer, Outcome, Reducer, Scope, ScopeKey, erase};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Counts the positions applied to it, remembering them in order.
pub struct Tally;

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TallyState {
    pub count: u64,
    pub seen: Vec<(String, u64)>,
}

impl Reducer for Tally {
    type State = TallyState;
    fn name(&self) -> &str {
        "contract.tally"
    }
    fn sources(&self) -> &[&str] {
        &[]
    }
    fn scope(&self) -> Scope {
        Scope::student()
    }
    fn reduce(&self, _state: &mut TallyState, _event: &Event<'_>) -> Outcome {
        Outcome::unchanged()
    }
}

pub fn reducer() -> Arc<dyn DynReducer> {
    erase(Tally)
}

pub fn key(student: &str) -> StateKey {
    StateKey {
        reducer: Arc::from("contract.tally"),
        scope: ScopeKey::student(student),
    }
}

/// A batch applying log positions to keys, as the router would (skipping covered ones).
pub struct Positions {
    pub keys: Vec<(StateKey, Arc<dyn DynReducer>)>,
    pub positions: Vec<Vec<(String, u64)>>,
    pub applied: Vec<u64>,
    pub calls: usize,
}

impl Positions {
    pub fn new(items: Vec<(StateKey, Vec<(&str, u64)>)>) -> Self {
        let reducer = reducer();
        let mut keys = Vec::new();
        let mut positions = Vec::new();
        for (key, pos) in items {
            keys.push((key, reducer.clone()));
            positions.push(pos.into_iter().map(|(n, s)| (n.to_owned(), s)).collect());
        }
        let applied = vec![0; keys.len()];
        Positions {
            keys,
            positions,
            applied,
            calls: 0,
        }
    }
}

impl UpdateBatch for Positions {
    fn keys(&self) -> &[(StateKey, Arc<dyn DynReducer>)] {
        &self.keys
    }
    fn apply(&mut self, index: usize, slot: &mut Slot) -> bool {
        self.calls += 1;
        self.applied[index] = 0;
        let state = slot
            .state
            .as_any_mut()
            .downcast_mut::<TallyState>()
            .expect("a tally state");
        let mut changed = false;
        for (node, seq) in &self.positions[index] {
            let pos = LogPosition { node, seq: *seq };
            if slot.applied.covers(pos) {
                continue;
            }
            state.count += 1;
            state.seen.push((node.clone(), *seq));
            slot.applied.advance(pos);
            self.applied[index] += 1;
            changed = true;
        }
        changed
    }
}

pub async fn read(kvs: &dyn Kvs, key: &StateKey) -> Option<(u64, TallyState, u64)> {
    let mut out = None;
    let r = reducer();
    kvs.read(key, &*r, &mut |slot: Option<&Slot>| {
        out = slot.map(|s| {
            let st = s
                .state
                .as_any()
                .downcast_ref::<TallyState>()
                .expect("typed");
            (
                s.revision,
                TallyState {
                    count: st.count,
                    seen: st.seen.clone(),
                },
                s.applied.of("a"),
            )
        });
    })
    .await
    .expect("read works");
    out
}

/// The suite. `kvs` and `other` are two handles on one store (two nodes; for memory the same
/// object); `students` are unique to this run.
pub async fn kvs_contract(kvs: Arc<dyn Kvs>, other: Arc<dyn Kvs>, run: &str) {
    let s1 = format!("{run}-s1");
    let s2 = format!("{run}-s2");
    assert!(kvs.healthy().await, "a reachable store is healthy");
    assert!(read(&*kvs, &key(&s1)).await.is_none(), "nothing stored yet");
    assert!(
        kvs.keys_of(key(&s1).scope.subject())
            .await
            .unwrap()
            .is_empty()
    );

    // A batch over two keys stores both, with their positions and a revision.
    let mut batch = Positions::new(vec![
        (key(&s1), vec![("a", 1), ("a", 2)]),
        (key(&s2), vec![("a", 3)]),
    ]);
    kvs.update(&mut batch).await.expect("update works");
    let (rev1, st1, applied1) = read(&*kvs, &key(&s1)).await.expect("stored");
    assert_eq!(st1.count, 2);
    assert_eq!(applied1, 2);
    assert!(rev1 >= 1);
    let (_, st2, _) = read(&*other, &key(&s2))
        .await
        .expect("visible to the other handle");
    assert_eq!(st2.count, 1);

    // Applying the same positions again changes nothing: exactly once.
    let mut again = Positions::new(vec![(key(&s1), vec![("a", 1), ("a", 2)])]);
    kvs.update(&mut again).await.unwrap();
    assert_eq!(again.applied, vec![0]);
    let (rev1b, st1b, _) = read(&*kvs, &key(&s1)).await.unwrap();
    assert_eq!(
        (rev1b, st1b.count),
        (rev1, 2),
        "an unchanged slot is not stored"
    );

    // Positions of another node are independent.
    let mut b = Positions::new(vec![(key(&s1), vec![("b", 1), ("a", 2)])]);
    other.update(&mut b).await.unwrap();
    let (rev1c, st1c, _) = read(&*kvs, &key(&s1)).await.unwrap();
    assert_eq!(st1c.count, 3);
    assert!(rev1c > rev1, "a store bumps the revision");

    // Each subject lists exactly its keys.
    assert_eq!(
        kvs.keys_of(key(&s1).scope.subject()).await.unwrap(),
        vec![key(&s1)]
    );
    assert_eq!(
        other.keys_of(key(&s2).scope.subject()).await.unwrap(),
        vec![key(&s2)]
    );

    // A scan visits every stored state (of this run).
    let mut visited = Vec::new();
    kvs.scan(&mut |k: &StateKey, slot: &Slot| {
        if k.scope.as_str().contains(run) {
            visited.push((k.clone(), slot.state.to_json_value()["count"].as_u64()));
        }
    })
    .await
    .unwrap();
    visited.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(visited, vec![(key(&s1), Some(3)), (key(&s2), Some(1))]);

    // Two nodes hammering one key concurrently lose no update.
    let hot = key(&format!("{run}-hot"));
    let per_node = 200u64;
    let mut tasks = Vec::new();
    for (node, store) in [("n1", kvs.clone()), ("n2", other.clone())] {
        let hot = hot.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 1..=per_node {
                let mut batch = Positions::new(vec![(hot.clone(), vec![(node, seq)])]);
                store.update(&mut batch).await.expect("update works");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (rev, st, _) = read(&*kvs, &hot).await.unwrap();
    assert_eq!(st.count, 2 * per_node, "no update lost under contention");
    assert_eq!(rev, 2 * per_node, "one revision per store");
    // Each node's positions arrive in its own order.
    for node in ["n1", "n2"] {
        let seqs: Vec<u64> = st
            .seen
            .iter()
            .filter(|(n, _)| n == node)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(seqs, (1..=per_node).collect::<Vec<_>>());
    }
}
