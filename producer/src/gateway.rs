//! Routes of the gateway ragwire replaces that have no subject of their
//! own: `POST /delete/graph`, in that gateway's request and reply shapes,
//! without its defects (an empty `doc_id` is refused instead of deleting
//! everything; a document's delete deletes what the document contributed).

use axum::body::to_bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ragwire_schemas::graph::DeleteRequest;
use ragwire_schemas::Subject;
use serde::Deserialize;
use serde_json::{json, Value};

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
    let reply = forward(&bridge, Subject::GraphDelete, &headers, Ok(body)).await;
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
