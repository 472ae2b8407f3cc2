//! `GET /api/state/{safe_user_id}`: every state of one student, by reducer and scope key.
//!
//! Readable by the student themselves, by staff of a course the student is enrolled in, by
//! administrators, and with the node's admin key (command-line tools): 401 when not signed
//! in, 403 otherwise.

use crate::kvs::Slot;
use crate::reducer::ScopeKey;
use crate::runtime::Runtime;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use std::sync::Arc;

/// `{"<reducer>": {"<scope key>": state, …}, …}`; 404 when the student has no state.
pub(super) async fn student_state(
    State(rt): State<Arc<Runtime>>,
    Path(safe_user_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, (StatusCode, String)> {
    if !rt.has_admin_key(&headers) {
        let Some(principal) = rt.principal(&headers) else {
            return Err((StatusCode::UNAUTHORIZED, "sign in first\n".into()));
        };
        if !crate::auth::access::can_read_student(&principal, &safe_user_id, &rt.roster) {
            return Err((
                StatusCode::FORBIDDEN,
                "only the student, their course's staff and administrators may read this\n".into(),
            ));
        }
    }
    let subject = ScopeKey::student(&safe_user_id);
    let keys = rt
        .kvs
        .keys_of(subject.subject())
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    if keys.is_empty() {
        return Err((
            StatusCode::NOT_FOUND,
            format!("no state for student {safe_user_id:?}"),
        ));
    }
    let mut out = Map::new();
    for key in keys {
        let Some(reducer) = rt.registry.get(&key.reducer) else {
            continue;
        };
        let mut value = Value::Null;
        rt.kvs
            .read(&key, &*reducer.reducer, &mut |slot: Option<&Slot>| {
                if let Some(slot) = slot {
                    value = slot.state.to_json_value();
                }
            })
            .await
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        out.entry(key.reducer.to_string())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("inserted as an object")
            .insert(key.scope.to_string(), value);
    }
    Ok(Json(Value::Object(out)))
}
