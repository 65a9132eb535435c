//! The admin API, with the old gateway's routes, bodies, replies and
//! status codes:
//!
//! | route | success |
//! |---|---|
//! | `POST /admin/tenants {name, description?}` | 201, the tenant and its first key |
//! | `GET /admin/tenants?limit=&offset=` | 200 `{tenants, total}`, newest first |
//! | `GET /admin/tenants/{id}` | 200, the tenant, `stats: null`, `api_keys` |
//! | `PUT /admin/tenants/{id}/status {status}` | 200 `{tenant_id, status}` |
//! | `DELETE /admin/tenants/{id}` | 200 `{status, tenant_id, message, job_id}`: its data deleted by a durable job |
//! | `GET /admin/tenants/{id}/deletion` | 200, the status of that job |
//! | `POST /admin/tenants/{id}/api-keys {name?, expires_at?}` | 201, the key |
//! | `DELETE /admin/tenants/{id}/api-keys/{key_id}` | 204 |
//! | `GET /admin/audit?tenant_id=&limit=` | 200 `{entries}`, newest first |
//!
//! and ragwire's own, for quotas and usage ([`super::quota`]):
//!
//! | route | success |
//! |---|---|
//! | `GET /admin/tenants/{id}/quotas` | 200 `{tenant_id, requests_per_minute, tokens_per_day, concurrent_requests}` |
//! | `PUT /admin/tenants/{id}/quotas {…}` | 200, the same; a quota absent or `null` is no limit |
//! | `GET /admin/tenants/{id}/usage?day=` | 200 `{tenant_id, day, requests, tokens, embedded_texts, llm_requests, stored_points, quotas}` |
//!
//! Its defects are not kept: a status other than the three is a 400 (not a
//! plain 500), an unknown tenant at key creation a 404, a time without a
//! zone a 422 (not a 500), an expiry in the past a 400 (not a key valid for
//! a day), expiries are kept to the microsecond; a deleted tenant stays
//! deleted (409 on any other status) and gets no new keys; changes of
//! status are audited, with real key ids, and nothing that did not happen.
//!
//! Auth: `Authorization: Bearer <RAGWIRE_ADMIN_KEY>`, compared in constant
//! time; failures are 403s with the old gateway's messages. Without an
//! admin key the routes do not exist (404).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use ragwire_client::RagClient;
use ragwire_common::usage::{self, Counter};
use ragwire_schemas::collections::ListRequest;
use ragwire_schemas::endpoint::{CollectionsList, JobsStatus, TenantsPurge};
use ragwire_schemas::jobs::{JobRef, PurgeRequest};
use ragwire_schemas::TenantId;
use serde_json::{json, Map, Value};

use super::keys;
use super::records::{self, KeyRecord, Limits, TenantRecord, TenantStatus};
use super::registry::Registry;
use crate::error::ApiError;

/// Who every admin action is recorded as.
const ACTOR: &str = "admin";

/// Longest tenant or key name, in characters.
const MAX_NAME: usize = 255;

/// Longest tenant description, in characters.
const MAX_DESCRIPTION: usize = 1000;

/// What the admin routes need: the registry and the admin key. Cheap to
/// clone.
#[derive(Clone)]
pub struct Admin {
    registry: Registry,
    key: Arc<str>,
    /// The workers, as the `default` tenant: a deleted tenant's purge.
    rag: RagClient,
}

impl Admin {
    /// The admin API over `registry`, for holders of `key`.
    pub fn new(registry: Registry, key: &str, rag: RagClient) -> Admin {
        Admin {
            registry,
            key: key.into(),
            rag,
        }
    }

    /// Whether `headers` carry the admin key, or the 403 that says why not.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        check(headers, &self.key)
    }
}

/// Whether `headers` carry `Authorization: Bearer {key}`, or the 403 that
/// says why not, in the old gateway's words.
fn check(headers: &HeaderMap, key: &str) -> Result<(), ApiError> {
    let forbidden = |m: &str| Err(ApiError::Forbidden(m.into()));
    let value = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    // As the old gateway read it: the scheme up to the first space, the
    // credential after it, untrimmed.
    let (scheme, credential) = value.split_once(' ').unwrap_or((&value, ""));
    if scheme.is_empty() || credential.is_empty() {
        return forbidden("Not authenticated");
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return forbidden("Invalid authentication credentials");
    }
    if !keys::secrets_equal(credential, key) {
        return forbidden("Admin access required");
    }
    Ok(())
}

/// The admin routes, for a router of any state.
pub fn routes<S>(admin: Admin) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/admin/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/admin/tenants/{tenant_id}",
            get(show_tenant).delete(delete_tenant),
        )
        .route("/admin/tenants/{tenant_id}/status", put(set_status))
        .route("/admin/tenants/{tenant_id}/deletion", get(deletion))
        .route(
            "/admin/tenants/{tenant_id}/quotas",
            get(show_quotas).put(set_quotas),
        )
        .route("/admin/tenants/{tenant_id}/usage", get(usage))
        .route("/admin/tenants/{tenant_id}/api-keys", post(create_key))
        .route(
            "/admin/tenants/{tenant_id}/api-keys/{key_id}",
            delete(revoke_key),
        )
        .route("/admin/audit", get(audit))
        .route_layer(middleware::from_fn_with_state(admin.clone(), require_admin))
        .with_state(admin)
}

/// Middleware of the admin routes: the admin key or a 403.
async fn require_admin(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    match admin.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// The body as a JSON object, or the 422 that says what is wrong.
fn object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    let body = body.map_err(|e| ApiError::BadBody(e.body_text()))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Unprocessable(
            "a JSON object is required as the body (`{}` is enough)".into(),
        ));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::Unprocessable(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::Unprocessable(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// An optional string field of at most `max` characters.
fn text(body: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ApiError::Unprocessable(format!(
            "`{field}` is longer than {max} characters"
        ))),
        Some(_) => Err(ApiError::Unprocessable(format!(
            "`{field}` must be a string"
        ))),
    }
}

/// The tenant of a path, or the 404 of an unknown one (`default` has no
/// record, as in the old gateway).
fn tenant_in_path(id: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(id)
        .ok()
        .filter(|t| !t.is_default())
        .ok_or_else(|| not_found(id))
}

/// The tenant of a path, its record and its keys, or the 404 of an unknown
/// one.
fn known_tenant(
    admin: &Admin,
    id: &str,
) -> Result<(TenantId, TenantRecord, Vec<KeyRecord>), ApiError> {
    let tenant = tenant_in_path(id)?;
    let (record, keys) = admin
        .registry
        .tenant(&tenant)
        .ok_or_else(|| not_found(id))?;
    Ok((tenant, record, keys))
}

fn not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Tenant {id} not found"))
}

fn tenant_json(t: &TenantRecord) -> Value {
    json!({
        "tenant_id": t.tenant_id,
        "name": t.name,
        "description": t.description,
        "status": t.status,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

/// A key as the admin API shows it: everything but its hash.
fn key_json(k: &KeyRecord) -> Value {
    json!({
        "key_id": k.key_id,
        "tenant_id": k.tenant_id,
        "key_prefix": k.key_prefix,
        "name": k.name,
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "last_used_at": k.last_used_at,
        "status": k.status,
    })
}

/// A whole number from the query, within `min..=max`, `default` when
/// absent.
fn query_number(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    (min, max): (usize, usize),
) -> Result<usize, ApiError> {
    let Some(value) = query.get(name) else {
        return Ok(default);
    };
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "`{name}` must be a whole number from {min} to {max}"
            ))
        })
}

/// `POST /admin/tenants {name, description?}`.
async fn create_tenant(
    State(admin): State<Admin>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = object(body)?;
    let name = match text(&body, "name", MAX_NAME)? {
        Some(name) if !name.is_empty() => name,
        Some(_) => return Err(ApiError::Unprocessable("`name` is empty".into())),
        None => return Err(ApiError::Unprocessable("`name` is required".into())),
    };
    let description = text(&body, "description", MAX_DESCRIPTION)?;
    let (tenant, key, plaintext) = admin.registry.create_tenant(name, description).await?;
    admin
        .registry
        .audit()
        .record(
            ACTOR,
            "create_tenant",
            Some(&tenant.tenant_id),
            json!({"name": tenant.name, "key_id": key.key_id}),
        )
        .await;
    let reply = json!({
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "description": tenant.description,
        "api_key": plaintext,
        "created_at": tenant.created_at,
    });
    Ok((StatusCode::CREATED, Json(reply)).into_response())
}

/// `GET /admin/tenants?limit=&offset=`: every tenant, deleted ones too,
/// newest first.
async fn list_tenants(
    State(admin): State<Admin>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = query_number(&query, "limit", 100, (1, 1000))?;
    let offset = query_number(&query, "offset", 0, (0, usize::MAX))?;
    let tenants = admin.registry.tenants();
    let total = tenants.len();
    let page: Vec<Value> = tenants
        .iter()
        .skip(offset)
        .take(limit)
        .map(tenant_json)
        .collect();
    Ok(Json(json!({"tenants": page, "total": total})))
}

/// `GET /admin/tenants/{tenant_id}`: the tenant and its keys, in every
/// status.
async fn show_tenant(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, record, keys) = known_tenant(&admin, &id)?;
    let mut reply = tenant_json(&record);
    reply["stats"] = Value::Null;
    reply["api_keys"] = keys.iter().map(key_json).collect();
    Ok(Json(reply))
}

/// `PUT /admin/tenants/{tenant_id}/status {status}`.
async fn set_status(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let status = match body.get("status") {
        Some(Value::String(s)) => TenantStatus::parse(s).map_err(ApiError::BadRequest)?,
        Some(_) => return Err(ApiError::Unprocessable("`status` must be a string".into())),
        None => return Err(ApiError::Unprocessable("`status` is required".into())),
    };
    let tenant = tenant_in_path(&id)?;
    let (before, record) = admin
        .registry
        .set_status(&tenant, status)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if before != status {
        let action = if status == TenantStatus::Deleted {
            "delete_tenant"
        } else {
            "update_tenant_status"
        };
        admin
            .registry
            .audit()
            .record(
                ACTOR,
                action,
                Some(&tenant),
                json!({"from": before, "to": status}),
            )
            .await;
    }
    Ok(Json(
        json!({"tenant_id": record.tenant_id, "status": record.status}),
    ))
}

/// `DELETE /admin/tenants/{tenant_id}`: the tenant's status becomes
/// `deleted`, which refuses its keys on every producer at once. Its data is
/// not deleted yet: `job_id` is `null` until a job does that.
async fn delete_tenant(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant_in_path(&id)?;
    let (before, _) = admin
        .registry
        .set_status(&tenant, TenantStatus::Deleted)
        .await?
        .ok_or_else(|| not_found(&id))?;
    // The data goes by a durable job; asking again (a repeated DELETE)
    // reports the same job, or queues it again if it failed.
    let purge = admin
        .rag
        .call::<TenantsPurge>(&PurgeRequest {
            tenant: tenant.clone(),
        })
        .await;
    let (job_id, message) = match &purge {
        Ok(reply) => (
            json!(reply.status.job_id),
            format!(
                "Tenant {tenant} marked as deleted. Its data is being deleted by job {} \
                 (GET /admin/tenants/{tenant}/deletion).",
                reply.status.job_id
            ),
        ),
        Err(e) => (
            Value::Null,
            format!(
                "Tenant {tenant} marked as deleted; its keys no longer work. Its data could \
                 not be queued for deletion ({e}): DELETE it again to retry."
            ),
        ),
    };
    if before != TenantStatus::Deleted {
        admin
            .registry
            .audit()
            .record(
                ACTOR,
                "delete_tenant",
                Some(&tenant),
                json!({"from": before, "job_id": job_id}),
            )
            .await;
    }
    Ok(Json(json!({
        "status": "deleted",
        "tenant_id": tenant,
        "message": message,
        "job_id": job_id,
    })))
}

/// `GET /admin/tenants/{tenant_id}/deletion`: the status of the job that
/// deletes a deleted tenant's data (`jobs.status` of its purge job).
async fn deletion(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant_in_path(&id)?;
    let job = JobRef {
        job_id: PurgeRequest { tenant }.job_id(),
    };
    let reply = admin
        .rag
        .call::<JobsStatus>(&job)
        .await
        .map_err(ApiError::Call)?;
    Ok(Json(reply).into_response())
}

fn quotas_json(tenant: &TenantId, limits: &Limits) -> Value {
    json!({
        "tenant_id": tenant,
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_day": limits.tokens_per_day,
        "concurrent_requests": limits.concurrent_requests,
    })
}

/// `GET /admin/tenants/{tenant_id}/quotas`: its quotas, `null` for none.
async fn show_quotas(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (tenant, record, _) = known_tenant(&admin, &id)?;
    Ok(Json(quotas_json(&tenant, &record.quotas)))
}

/// `PUT /admin/tenants/{tenant_id}/quotas {requests_per_minute?,
/// tokens_per_day?, concurrent_requests?}`: the quotas, all at once; a
/// quota absent or `null` is no limit.
async fn set_quotas(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    const FIELDS: [&str; 3] = [
        "requests_per_minute",
        "tokens_per_day",
        "concurrent_requests",
    ];
    let body = object(body)?;
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "`{}` is not a quota: send `requests_per_minute`, `tokens_per_day` and \
             `concurrent_requests` (a whole number from 1, or null for no limit)",
            unknown.escape_debug()
        )));
    }
    let limit = |field: &str| -> Result<Option<u64>, ApiError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().filter(|n| *n >= 1).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "`{field}` must be a whole number from 1, or null for no limit (a \
                     tenant that must not make requests is suspended instead)"
                ))
            }),
        }
    };
    let limits = Limits {
        requests_per_minute: limit("requests_per_minute")?,
        tokens_per_day: limit("tokens_per_day")?,
        concurrent_requests: limit("concurrent_requests")?,
    };
    let tenant = tenant_in_path(&id)?;
    let before = admin
        .registry
        .tenant(&tenant)
        .map(|(r, _)| r.quotas)
        .unwrap_or_default();
    let record = admin
        .registry
        .set_quotas(&tenant, limits)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if before != limits {
        admin
            .registry
            .audit()
            .record(
                ACTOR,
                "set_quotas",
                Some(&tenant),
                json!({"from": quotas_json(&tenant, &before), "to": quotas_json(&tenant, &limits)}),
            )
            .await;
    }
    Ok(Json(quotas_json(&tenant, &record.quotas)))
}

/// `GET /admin/tenants/{tenant_id}/usage?day=YYYY-MM-DD`: the tenant's
/// requests, LLM tokens and embedded texts of a UTC day (today by default;
/// the bucket keeps two days), every producer and worker together, its
/// stored points now, and its quotas.
async fn usage(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (tenant, record, _) = known_tenant(&admin, &id)?;
    let today = usage::day(std::time::SystemTime::now());
    let day = match query.get("day") {
        None => today,
        Some(day) if chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok() => day.clone(),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "`day` must be a date, `YYYY-MM-DD` (UTC)".into(),
            ))
        }
    };
    let quotas = admin.registry.quotas();
    let mut reply = json!({"tenant_id": tenant, "day": day});
    for counter in Counter::ALL {
        reply[counter.name()] = json!(quotas.read(counter, &tenant, &day).await?);
    }
    // Points are counted where they are: by the workers, as the tenant.
    let points = match record.status {
        TenantStatus::Deleted => None,
        _ => admin
            .rag
            .for_tenant(&tenant)
            .call::<CollectionsList>(&ListRequest::default())
            .await
            .ok()
            .map(|list| list.collections.iter().map(|c| c.points).sum::<usize>()),
    };
    reply["stored_points"] = json!(points);
    reply["quotas"] = quotas_json(&tenant, &record.quotas);
    Ok(Json(reply))
}

/// `POST /admin/tenants/{tenant_id}/api-keys {name?, expires_at?}`.
async fn create_key(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = object(body)?;
    let name = text(&body, "name", MAX_NAME)?
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "api-key".into());
    let expires_at = match body.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let at = records::client_time(s)
                .map_err(|e| ApiError::Unprocessable(format!("`expires_at`: {e}")))?;
            if at <= records::now_micros() {
                return Err(ApiError::BadRequest(format!(
                    "`expires_at` ({s}) is in the past: a key must expire later than now"
                )));
            }
            Some(records::format_micros(at))
        }
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "`expires_at` must be a date and time such as `2030-01-01T00:00:00Z`, or null"
                    .into(),
            ))
        }
    };
    let tenant = tenant_in_path(&id)?;
    let (key, plaintext) = admin
        .registry
        .create_key(&tenant, name, expires_at)
        .await?
        .ok_or_else(|| not_found(&id))?;
    admin
        .registry
        .audit()
        .record(
            ACTOR,
            "create_api_key",
            Some(&tenant),
            json!({"key_id": key.key_id, "name": key.name, "expires_at": key.expires_at}),
        )
        .await;
    let reply = json!({
        "key_id": key.key_id,
        "tenant_id": key.tenant_id,
        "api_key": plaintext,
        "name": key.name,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
    });
    Ok((StatusCode::CREATED, Json(reply)).into_response())
}

/// `DELETE /admin/tenants/{tenant_id}/api-keys/{key_id}`: the key is
/// revoked (for good) on every producer at once.
async fn revoke_key(
    State(admin): State<Admin>,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let key_id = uuid::Uuid::parse_str(&key_id)
        .map_err(|_| ApiError::Unprocessable(format!("`{key_id}` is not a UUID")))?
        .to_string();
    let missing = || ApiError::Missing(format!("API key {key_id} not found for tenant {id}"));
    let tenant = TenantId::parse(&id).map_err(|_| missing())?;
    let revoked = admin
        .registry
        .revoke_key(&tenant, &key_id)
        .await?
        .ok_or_else(missing)?;
    if revoked {
        admin
            .registry
            .audit()
            .record(
                ACTOR,
                "revoke_api_key",
                Some(&tenant),
                json!({"key_id": key_id}),
            )
            .await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/audit?tenant_id=&limit=`: admin actions, newest first.
async fn audit(
    State(admin): State<Admin>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = query_number(&query, "limit", 100, (1, 1000))?;
    let tenant = match query.get("tenant_id").filter(|t| !t.is_empty()) {
        Some(t) => Some(TenantId::parse(t).map_err(ApiError::Unprocessable)?),
        None => None,
    };
    let entries = admin.registry.audit().read(tenant.as_ref(), limit).await?;
    Ok(Json(json!({"entries": entries})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_queries() {
        let ok = |b: &str| object(Ok(Bytes::from(b.to_owned())));
        assert!(ok("{}").unwrap().is_empty());
        for bad in ["", "  ", "[]", "\"x\"", "{"] {
            assert!(
                matches!(ok(bad), Err(ApiError::Unprocessable(_))),
                "{bad:?}"
            );
        }
        let body = ok(r#"{"name": "n", "d": 3}"#).unwrap();
        assert_eq!(text(&body, "name", 5).unwrap().as_deref(), Some("n"));
        assert!(text(&body, "d", 5).is_err());
        assert!(text(&body, "name", 0).is_err());
        let query: HashMap<String, String> = [("limit".to_owned(), "0".to_owned())].into();
        assert!(query_number(&query, "limit", 100, (1, 1000)).is_err());
        assert_eq!(query_number(&query, "offset", 0, (0, 9)).unwrap(), 0);
        assert!(tenant_in_path("default").is_err());
    }

    #[test]
    fn admin_auth_answers_as_the_old_gateway() {
        let with = |value: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = value {
                h.insert(header::AUTHORIZATION, v.parse().unwrap());
            }
            match check(&h, "adm1n") {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.to_string(),
            }
        };
        assert_eq!(with(Some("Bearer adm1n")), "ok");
        assert_eq!(with(Some("bearer adm1n")), "ok");
        assert_eq!(with(None), "Not authenticated");
        assert_eq!(with(Some("Bearer ")), "Not authenticated");
        assert_eq!(
            with(Some("Basic adm1n")),
            "Invalid authentication credentials"
        );
        assert_eq!(with(Some("Bearer wrong")), "Admin access required");
        assert_eq!(with(Some("Bearer adm1n ")), "Admin access required");
        assert_eq!(with(Some("Bearer sk-abc-def")), "Admin access required");
        assert!(tenant_in_path("a.b").is_err());
    }
}
