//! Search filters from the request's `filters` object, in one form that both
//! vector stores translate.
//!
//! `{"field": value}` matches a value, `{"field": [v1, v2]}` any of them and
//! `{"field": {"gte": x, "lte": y}}` (also `gt`, `lt`) a numeric range.
//! `doc_id`, `chunk_id`, `hash` and `text` are the chunk's own fields; any
//! other name is a metadata field (`lang` means `metadata.lang`; writing
//! `metadata.lang` works too).

use ragwire_schemas::JsonMap;
use serde_json::Value;

use crate::error::Error;

/// A value to match exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

/// The values of an any-of condition: Qdrant matches lists of one type.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValues {
    /// Strings.
    Strs(Vec<String>),
    /// Integers.
    Ints(Vec<i64>),
}

/// One condition on a payload key; all conditions of a filter must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// The key equals the value.
    Eq {
        /// The payload key.
        key: String,
        /// The value it must have.
        value: Scalar,
    },
    /// The key equals one of the values (all strings or all integers).
    AnyOf {
        /// The payload key.
        key: String,
        /// The values it may have.
        values: AnyValues,
    },
    /// The key is a number within the bounds.
    Range {
        /// The payload key.
        key: String,
        /// Greater than.
        gt: Option<f64>,
        /// Greater than or equal.
        gte: Option<f64>,
        /// Less than.
        lt: Option<f64>,
        /// Less than or equal.
        lte: Option<f64>,
    },
    /// The key is missing (or null, or an empty list).
    Missing {
        /// The payload key.
        key: String,
    },
    /// The key is missing, or an integer below `value`: points written
    /// before an earlier generation (or before generations existed).
    Below {
        /// The payload key.
        key: String,
        /// The bound, excluded.
        value: u64,
    },
}

/// The payload key a filter field refers to.
pub fn payload_key(field: &str) -> String {
    if super::point::ChunkPayload::OWN_FIELDS.contains(&field) || field.starts_with("metadata.") {
        field.to_owned()
    } else {
        format!("metadata.{field}")
    }
}

/// Parses the request's `filters`; anything else than the forms above is a 400
/// naming the field.
pub fn parse(filters: Option<&JsonMap>) -> Result<Vec<Cond>, Error> {
    let Some(filters) = filters else {
        return Ok(Vec::new());
    };
    let mut conds = Vec::with_capacity(filters.len());
    for (field, value) in filters {
        let bad = |why: &str| Error::bad_request(format!("`filters.{field}`: {why}"));
        if field.is_empty()
            || field.len() > 128
            || field.contains(|c: char| c.is_control() || c == '[' || c == ']')
        {
            return Err(bad("not a usable field name"));
        }
        let key = payload_key(field);
        let cond = match value {
            Value::Array(items) => {
                if items.is_empty() || items.len() > 1024 {
                    return Err(bad("a list must have 1 to 1024 values"));
                }
                let strs: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let ints: Option<Vec<i64>> = items.iter().map(Value::as_i64).collect();
                let values = match (strs, ints) {
                    (Some(strs), _) => AnyValues::Strs(strs),
                    (_, Some(ints)) => AnyValues::Ints(ints),
                    _ => return Err(bad("list values must be all strings or all integers")),
                };
                Cond::AnyOf { key, values }
            }
            Value::Object(range) => {
                let mut bounds = [None; 4];
                for (op, bound) in range {
                    let slot = match op.as_str() {
                        "gt" => 0,
                        "gte" => 1,
                        "lt" => 2,
                        "lte" => 3,
                        other => {
                            return Err(bad(&format!(
                                "unknown range operator `{other}`; use gt, gte, lt, lte"
                            )))
                        }
                    };
                    bounds[slot] = Some(
                        bound
                            .as_f64()
                            .ok_or_else(|| bad("range bounds must be numbers"))?,
                    );
                }
                if bounds.iter().all(Option::is_none) {
                    return Err(bad("a range needs at least one of gt, gte, lt, lte"));
                }
                let [gt, gte, lt, lte] = bounds;
                Cond::Range {
                    key,
                    gt,
                    gte,
                    lt,
                    lte,
                }
            }
            // A float has no exact match in Qdrant: a one-point range.
            Value::Number(n) if n.as_i64().is_none() => {
                let x = n.as_f64().ok_or_else(|| bad("number out of range"))?;
                Cond::Range {
                    key,
                    gt: None,
                    gte: Some(x),
                    lt: None,
                    lte: Some(x),
                }
            }
            other => Cond::Eq {
                key,
                value: scalar(other)
                    .ok_or_else(|| bad("expected a string, integer, boolean, list or range"))?,
            },
        };
        conds.push(cond);
    }
    Ok(conds)
}

fn scalar(value: &Value) -> Option<Scalar> {
    match value {
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => n.as_i64().map(Scalar::Int),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: serde_json::Value) -> Result<Vec<Cond>, Error> {
        parse(Some(v.as_object().unwrap()))
    }

    #[test]
    fn forms() {
        let c = p(json!({"doc_id": "d1", "lang": ["en", "de"], "year": {"gte": 2020, "lte": 2024}, "score": 0.5, "draft": false})).unwrap();
        assert!(c.contains(&Cond::Eq {
            key: "doc_id".into(),
            value: Scalar::Str("d1".into())
        }));
        assert!(c.contains(&Cond::AnyOf {
            key: "metadata.lang".into(),
            values: AnyValues::Strs(vec!["en".into(), "de".into()])
        }));
        assert!(c.contains(&Cond::Range {
            key: "metadata.year".into(),
            gt: None,
            gte: Some(2020.0),
            lt: None,
            lte: Some(2024.0)
        }));
        assert!(c.contains(&Cond::Range {
            key: "metadata.score".into(),
            gt: None,
            gte: Some(0.5),
            lt: None,
            lte: Some(0.5)
        }));
        assert!(c.contains(&Cond::Eq {
            key: "metadata.draft".into(),
            value: Scalar::Bool(false)
        }));
        assert_eq!(payload_key("metadata.lang"), "metadata.lang");
    }

    #[test]
    fn bad_forms_name_the_field() {
        for bad in [
            json!({"lang": []}),
            json!({"lang": [1, "x"]}),
            json!({"lang": [{"a": 1}]}),
            json!({"year": {"near": 3}}),
            json!({"year": {"gte": "x"}}),
            json!({"year": {}}),
            json!({"lang": null}),
            json!({"": 1}),
        ] {
            let err = p(bad.clone()).unwrap_err().to_string();
            assert!(err.contains("filters."), "{bad}: {err}");
        }
    }
}
