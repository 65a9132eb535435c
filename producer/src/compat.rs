//! The HTTP replies of the gateway ragwire replaces, for its clients.
//!
//! Always: every error body also carries that gateway's `detail` (the
//! message, or the structured details of a 422 such as a failed
//! extraction), next to ragwire's own `error`.
//!
//! With `RAGWIRE_HTTP_COMPAT=gateway`, success replies take that gateway's
//! shapes where ragwire's differ:
//! - `graph.extract`: node and edge `props` as lists of `{key, value}`;
//! - `retrieve`: vector hits only (no relations written out as hits);
//! - `graph.probe`: all seven keys, and `ok: false, mode: "json"` with the
//!   model's text in `raw` when strict JSON was asked for and not given;
//! - `chat`: `data` parsed as JSON whenever the answer is JSON.

use bytes::Bytes;
use ragwire_schemas::lax::props_as_pairs;
use ragwire_schemas::Subject;
use serde_json::{Map, Value};

/// Which reply shapes the producer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compat {
    /// ragwire's own.
    #[default]
    Ragwire,
    /// The FreeRoute gateway's, where they differ.
    Gateway,
}

/// `body`, an error reply, with `detail` added.
pub fn with_detail(body: &[u8]) -> Option<Bytes> {
    let mut reply: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let error = reply.get("error")?;
    let detail = match error.get("details") {
        Some(details) if error["code"] == 422 => details.clone(),
        _ => error.get("message")?.clone(),
    };
    reply.insert("detail".into(), detail);
    serde_json::to_vec(&reply).ok().map(Bytes::from)
}

/// A success reply of `subject` in the gateway's shape, when it differs.
/// `request` is the request's body, for what the reply depends on.
pub fn gateway_reply(subject: Subject, request: &[u8], body: &[u8]) -> Option<Bytes> {
    let mut reply: Map<String, Value> = serde_json::from_slice(body).ok()?;
    match subject {
        Subject::GraphExtract => {
            let data = reply.get_mut("data")?;
            for list in ["nodes", "edges"] {
                for item in data.get_mut(list)?.as_array_mut()? {
                    let props = item.get("props").and_then(Value::as_object).cloned();
                    item["props"] = props_as_pairs(&props.unwrap_or_default());
                }
            }
        }
        Subject::Retrieve => {
            let hits = reply.get_mut("hits")?.as_array_mut()?;
            hits.retain(|h| h["citations"][0]["source"] != "graph");
        }
        Subject::GraphProbe => probe(&mut reply, request),
        Subject::Chat => {
            let data = reply.get_mut("data")?;
            if let Some(parsed) = data
                .as_str()
                .and_then(|text| serde_json::from_str::<Value>(text.trim()).ok())
            {
                *data = parsed;
            }
        }
        _ => return None,
    }
    serde_json::to_vec(&reply).ok().map(Bytes::from)
}

/// The gateway's probe reply: every key present; strict JSON that did not
/// come is `ok: false` in mode `json`, with the text as `raw`.
fn probe(reply: &mut Map<String, Value>, request: &[u8]) {
    let strict = serde_json::from_slice::<Value>(request)
        .ok()
        .and_then(|r| r.get("strict_json").and_then(Value::as_bool))
        .unwrap_or(true);
    for key in ["provider", "data", "text", "error", "raw"] {
        reply.entry(key).or_insert(Value::Null);
    }
    if strict && reply["mode"] == "text" {
        reply.insert("ok".into(), Value::Bool(false));
        reply.insert("mode".into(), "json".into());
        let text = reply
            .insert("text".into(), Value::Null)
            .unwrap_or(Value::Null);
        reply.insert("raw".into(), text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn value(b: Bytes) -> Value {
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn errors_carry_a_detail() {
        let e =
            json!({"ok": false, "error": {"code": 400, "kind": "bad_request", "message": "bad"}});
        assert_eq!(value(with_detail(&bytes(e)).unwrap())["detail"], "bad");
        let e = json!({"ok": false, "error": {"code": 422, "kind": "unprocessable", "message": "m",
                       "details": {"error": "graph_extraction_failed"}}});
        assert_eq!(
            value(with_detail(&bytes(e)).unwrap())["detail"]["error"],
            "graph_extraction_failed"
        );
        assert!(with_detail(b"not json").is_none());
    }

    #[test]
    fn gateway_shapes() {
        let extract = json!({"ok": true, "data": {"nodes": [{"id": "a", "type": "P", "props": {"k": 1}}],
                              "edges": [{"src": "a", "dst": "a", "type": "R", "props": {}}]}});
        let out = value(gateway_reply(Subject::GraphExtract, b"{}", &bytes(extract)).unwrap());
        assert_eq!(
            out["data"]["nodes"][0]["props"],
            json!([{"key": "k", "value": 1}])
        );
        assert_eq!(out["data"]["edges"][0]["props"], json!([]));

        let retrieve = json!({"ok": true, "hits": [
            {"text": "t", "citations": [{"source": "vector"}]},
            {"text": "a R b", "citations": [{"source": "graph"}]}]});
        let out = value(gateway_reply(Subject::Retrieve, b"{}", &bytes(retrieve)).unwrap());
        assert_eq!(out["hits"].as_array().unwrap().len(), 1);

        let probe = json!({"ok": true, "mode": "text", "provider": "m", "text": "nope",
                           "error": "the reply is not a JSON object"});
        let out = value(
            gateway_reply(
                Subject::GraphProbe,
                b"{\"strict_json\": true}",
                &bytes(probe.clone()),
            )
            .unwrap(),
        );
        assert_eq!(
            (out["ok"].clone(), out["mode"].clone(), out["raw"].clone()),
            (json!(false), json!("json"), json!("nope"))
        );
        assert_eq!(out["text"], Value::Null);
        let out = value(
            gateway_reply(
                Subject::GraphProbe,
                b"{\"strict_json\": false}",
                &bytes(probe),
            )
            .unwrap(),
        );
        assert_eq!(
            (out["ok"].clone(), out["data"].clone()),
            (json!(true), Value::Null)
        );

        let chat = json!({"ok": true, "data": " {\"a\": 1} ", "meta": {}});
        let out = value(gateway_reply(Subject::Chat, b"{}", &bytes(chat)).unwrap());
        assert_eq!(out["data"], json!({"a": 1}));
        assert!(gateway_reply(Subject::Embed, b"{}", b"{}").is_none());
    }
}
