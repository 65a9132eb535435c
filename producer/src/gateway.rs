//! Routes of the gateway ragwire replaces that have no subject of their
//! own: `POST /delete/graph` and `POST /delete/vector`, in that gateway's
//! request and reply shapes, without its defects (an empty `doc_id` is
//! refused instead of deleting everything; a document's delete deletes what
//! the document contributed; `deleted` counts what was deleted).

use axum::body::to_bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ragwire_schemas::graph::DeleteRequest;
use ragwire_schemas::Subject;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::forward::{forward, json_content_type, Bridge};

/// The body of `POST /delete/graph`.
#[derive(Deserialize)]
struct DeleteGraph {
    #[serde(default)]
    doc_id: Option<String>,
}

/// `POST /delete/graph {doc_id?}`: a document's contribution to the graph
/// (`rag.graph.delete`), or with no `doc_id` (or `null`) the whole graph.
/// Replies `{ok, deleted (nodes), edges, detail: null, errors: null}`.
pub async fn delete_graph(
    State(bridge): State<Bridge>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(e) = json_content_type(&headers) {
        return e.into_response();
    }
    let request = match body.map_err(|e| ApiError::BadBody(e.body_text())) {
        Ok(body) => match serde_json::from_slice::<DeleteGraph>(&body) {
            Ok(DeleteGraph { doc_id: Some(doc) }) if doc.is_empty() => {
                return ApiError::BadBody(
                    "`doc_id` is empty: name a document, or leave `doc_id` out to delete the whole graph"
                        .into(),
                )
                .into_response()
            }
            Ok(DeleteGraph { doc_id }) => DeleteRequest {
                all: doc_id.is_none(),
                doc_id,
            },
            Err(e) => {
                return ApiError::BadBody(format!("expected `{{\"doc_id\": ...}}`: {e}"))
                    .into_response()
            }
        },
        Err(e) => return e.into_response(),
    };
    let body = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
    let reply = forward(&bridge, &caller, Subject::GraphDelete, &headers, Ok(body)).await;
    if reply.status() != StatusCode::OK {
        return reply;
    }
    let (parts, body) = reply.into_parts();
    let Ok(bytes) = to_bytes(body, bridge.max_body.max(1 << 16)).await else {
        return ApiError::BadBody("unreadable reply from the workers".into()).into_response();
    };
    let reply: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let shaped = json!({
        "ok": true,
        "deleted": reply["nodes"],
        "edges": reply["edges"],
        "detail": null,
        "errors": null,
    });
    (parts.status, parts.headers, axum::Json(shaped)).into_response()
}

/// `POST /delete/vector {collection, doc_id?}`: a document's chunks
/// (`rag.docs.delete`), or with no `doc_id` (or `null`) the whole collection
/// (`rag.collections.drop`). Replies `{ok, deleted (points), detail: null,
/// errors: null}`; errors are ragwire's (with `detail`), a collection that
/// does not exist a 404 as on every delete.
pub async fn delete_vector(
    State(bridge): State<Bridge>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(e) = json_content_type(&headers) {
        return e.into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(e) => return ApiError::BadBody(e.body_text()).into_response(),
    };
    let (subject, request) = match vector_request(&body) {
        Ok(r) => r,
        Err(message) => return ApiError::BadRequest(message).into_response(),
    };
    let reply = forward(&bridge, &caller, subject, &headers, Ok(request)).await;
    if reply.status() != StatusCode::OK {
        return reply;
    }
    let (parts, body) = reply.into_parts();
    let reply = to_bytes(body, bridge.max_body.max(1 << 16))
        .await
        .ok()
        .and_then(|b| deleted_reply(&b));
    match reply {
        Some(shaped) => (parts.status, parts.headers, shaped).into_response(),
        None => ApiError::BadBody("unreadable reply from the workers".into()).into_response(),
    }
}

/// The subject and request that `POST /delete/vector {collection, doc_id?}`
/// stands for: without `doc_id` (or with `null`), `collections.drop`; with
/// one, `docs.delete`. An empty `doc_id` is refused rather than taken for
/// "the whole collection", as the gateway did. Other checks are the
/// subjects' own.
fn vector_request(body: &[u8]) -> Result<(Subject, Bytes), String> {
    let request: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| format!("request body is not a JSON object: {e}"))?;
    let collection = match request.get("collection") {
        Some(Value::String(c)) => c.clone(),
        Some(_) => return Err("`collection` must be a string".into()),
        None => return Err("`collection` is required".into()),
    };
    let (subject, request) = match request.get("doc_id") {
        None | Some(Value::Null) => (
            Subject::CollectionsDrop,
            serde_json::json!({ "collection": collection }),
        ),
        Some(Value::String(d)) if d.is_empty() => {
            return Err(
                "`doc_id` is empty: name a document, or leave `doc_id` out (or \
                        null) to delete the whole collection"
                    .into(),
            )
        }
        Some(Value::String(d)) => (
            Subject::DocsDelete,
            // The gateway deletes a document's graph on its own route.
            serde_json::json!({ "collection": collection, "doc_id": d, "graph": false }),
        ),
        Some(_) => return Err("`doc_id` must be a string or null".into()),
    };
    Ok((subject, Bytes::from(request.to_string())))
}

/// A delete's success reply in the gateway's shape:
/// `{ok: true, deleted, detail: null, errors: null}`.
fn deleted_reply(body: &[u8]) -> Option<Bytes> {
    let reply: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let deleted = reply.get("deleted")?.as_u64()?;
    let gateway =
        serde_json::json!({"ok": true, "deleted": deleted, "detail": null, "errors": null});
    serde_json::to_vec(&gateway).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(b: Bytes) -> Value {
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn delete_vector_requests() {
        let (subject, body) = vector_request(br#"{"collection": "kb"}"#).unwrap();
        assert_eq!(subject, Subject::CollectionsDrop);
        assert_eq!(value(body), json!({"collection": "kb"}));
        let (subject, _) = vector_request(br#"{"collection": "kb", "doc_id": null}"#).unwrap();
        assert_eq!(subject, Subject::CollectionsDrop);
        let (subject, body) = vector_request(br#"{"collection": "kb", "doc_id": "d"}"#).unwrap();
        assert_eq!(subject, Subject::DocsDelete);
        assert_eq!(
            value(body),
            json!({"collection": "kb", "doc_id": "d", "graph": false})
        );
        for bad in [
            r#"{"collection": "kb", "doc_id": ""}"#,
            r#"{"doc_id": "d"}"#,
            r#"{"collection": 1}"#,
            r#"{"collection": "kb", "doc_id": 3}"#,
            "[]",
        ] {
            assert!(vector_request(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(vector_request(br#"{"collection": "kb", "doc_id": ""}"#)
            .unwrap_err()
            .contains("`doc_id`"));
        let reply = deleted_reply(br#"{"ok": true, "collection": "kb", "deleted": 3}"#).unwrap();
        assert_eq!(
            value(reply),
            json!({"ok": true, "deleted": 3, "detail": null, "errors": null})
        );
    }
}
