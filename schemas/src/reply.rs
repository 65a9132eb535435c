//! The success envelope `{"ok": true, ...fields}` and a decoder that tells a
//! success from an error reply.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorReply};

/// A successful reply: `ok: true` next to the reply's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "json-schema", schemars(rename = "{T}Success"))]
pub struct Success<T> {
    /// Always `true`.
    #[cfg_attr(feature = "json-schema", schemars(extend("const" = true)))]
    pub ok: bool,
    /// The subject's reply fields, flattened next to `ok`.
    #[serde(flatten)]
    pub body: T,
}

impl<T> Success<T> {
    /// Wraps a reply body.
    pub fn new(body: T) -> Self {
        Success { ok: true, body }
    }
}

/// Decodes a reply payload: `Ok(Ok(body))` for `ok: true`, `Ok(Err(error))`
/// for an error reply, `Err` when the payload is neither.
pub fn decode_reply<T: DeserializeOwned>(
    payload: &[u8],
) -> Result<Result<T, ErrorBody>, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(payload)?;
    if value.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
        Ok(Ok(serde_json::from_value(value)?))
    } else {
        let reply: ErrorReply = serde_json::from_value(value)?;
        Ok(Err(reply.error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::EmbedReply;
    use crate::error::ErrorKind;

    #[test]
    fn success_is_flat_and_decodes() {
        let reply = Success::new(EmbedReply {
            vectors: crate::embed::Vectors::Float(vec![vec![1.0, 0.0]]),
            dim: 2,
            model: None,
        });
        let text = serde_json::to_string(&reply).unwrap();
        assert!(text.starts_with(r#"{"ok":true,"vectors":"#), "{text}");
        let back: EmbedReply = decode_reply(text.as_bytes()).unwrap().unwrap();
        assert_eq!(back.dim, 2);
    }

    #[test]
    fn error_decodes() {
        let reply = ErrorReply::from(ErrorBody::new(ErrorKind::Timeout, "slow"));
        let text = serde_json::to_vec(&reply).unwrap();
        let err = decode_reply::<EmbedReply>(&text).unwrap().unwrap_err();
        assert_eq!((err.code, err.kind), (504, ErrorKind::Timeout));
    }
}
