//! Lenient readers for request fields, so that what the gateway ragwire
//! replaces accepted is accepted here too:
//!
//! - numbers: a JSON number, or a string holding one (`"5"`, `" 0.5 "`); an
//!   integer field also takes a float with no fraction (`5.0`);
//! - booleans: `true`/`false`, `0`/`1`, or the words `true`, `false`, `yes`,
//!   `no`, `on`, `off`, `y`, `n`, `t`, `f`, `1`, `0` in any case;
//! - property maps: an object, a list of `{key, value}` pairs, or `null`.
//!
//! Anything else is refused with a message naming what was expected.

use serde::de::{self, Deserializer, Unexpected};
use serde::Deserialize;
use serde_json::Value;

use crate::JsonMap;

fn number<'de, D: Deserializer<'de>>(de: D) -> Result<f64, D::Error> {
    match Value::deserialize(de)? {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| de::Error::custom("a number out of range")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&s), &"a number")),
        Value::Bool(b) => Ok(if b { 1.0 } else { 0.0 }),
        other => Err(de::Error::invalid_type(unexpected(&other), &"a number")),
    }
}

fn whole<'de, D: Deserializer<'de>>(de: D, max: f64) -> Result<u64, D::Error> {
    let x = number(de)?;
    if x.fract() != 0.0 || x < 0.0 || x > max {
        return Err(de::Error::invalid_value(
            Unexpected::Float(x),
            &"a whole number, 0 or more, in range",
        ));
    }
    Ok(x as u64)
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// A `usize`.
pub fn usize<'de, D: Deserializer<'de>>(de: D) -> Result<usize, D::Error> {
    whole(de, usize::MAX as f64).map(|x| x as usize)
}

/// A `u8`.
pub fn u8<'de, D: Deserializer<'de>>(de: D) -> Result<u8, D::Error> {
    whole(de, u8::MAX as f64).map(|x| x as u8)
}

/// An `f32`.
pub fn f32<'de, D: Deserializer<'de>>(de: D) -> Result<f32, D::Error> {
    number(de).map(|x| x as f32)
}

/// A `bool`.
pub fn bool<'de, D: Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    match Value::deserialize(de)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" | "t" | "1" => Ok(true),
            "false" | "no" | "off" | "n" | "f" | "0" => Ok(false),
            _ => Err(de::Error::invalid_value(
                Unexpected::Str(&s),
                &"a boolean (true or false)",
            )),
        },
        other => Err(de::Error::invalid_type(
            unexpected(&other),
            &"a boolean (true or false)",
        )),
    }
}

/// Wraps a lenient reader for an `Option` field (`null` is `None`).
macro_rules! optional {
    ($($name:ident => $inner:ident: $ty:ty),* $(,)?) => {$(
        /// An optional value; `null` is none.
        pub fn $name<'de, D: Deserializer<'de>>(de: D) -> Result<Option<$ty>, D::Error> {
            match Value::deserialize(de)? {
                Value::Null => Ok(None),
                value => $inner(value).map(Some).map_err(de::Error::custom),
            }
        }
    )*};
}

optional! {
    opt_usize => usize: usize,
    opt_u32 => u32_of: u32,
    opt_f32 => f32: f32,
    opt_f64 => f64_of: f64,
    opt_bool => bool: bool,
}

fn u32_of<'de, D: Deserializer<'de>>(de: D) -> Result<u32, D::Error> {
    whole(de, u32::MAX as f64).map(|x| x as u32)
}

fn f64_of<'de, D: Deserializer<'de>>(de: D) -> Result<f64, D::Error> {
    number(de)
}

/// Properties given as an object, as a list of `{key, value}` pairs (the
/// gateway's form; a list or object value becomes its JSON text there, as
/// that gateway stored them as text), or `null` (none). With a repeated key
/// the last value wins.
pub fn props<'de, D: Deserializer<'de>>(de: D) -> Result<JsonMap, D::Error> {
    match Value::deserialize(de)? {
        Value::Null => Ok(JsonMap::new()),
        Value::Object(map) => Ok(map),
        Value::Array(items) => {
            let mut map = JsonMap::new();
            for (i, item) in items.into_iter().enumerate() {
                let Value::Object(mut pair) = item else {
                    return Err(de::Error::custom(format!(
                        "[{i}] is not a {{key, value}} pair"
                    )));
                };
                let key = match pair.remove("key") {
                    Some(Value::String(k)) if !k.is_empty() => k,
                    _ => {
                        return Err(de::Error::custom(format!(
                            "[{i}].key must be a non-empty string"
                        )))
                    }
                };
                let value = match pair.remove("value") {
                    Some(v @ (Value::Array(_) | Value::Object(_))) => Value::String(v.to_string()),
                    Some(v) => v,
                    None => {
                        return Err(de::Error::custom(format!("[{i}] has no `value`")));
                    }
                };
                map.insert(key, value);
            }
            Ok(map)
        }
        other => Err(de::Error::invalid_type(
            unexpected(&other),
            &"an object or a list of {key, value} pairs",
        )),
    }
}

/// Properties as a list of `{key, value}` pairs: the gateway's reply form.
pub fn props_as_pairs(props: &JsonMap) -> Value {
    Value::Array(
        props
            .iter()
            .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
            .collect(),
    )
}

/// JSON Schemas of what the readers above accept, for the fields read with
/// them (a derived schema would describe only the field's Rust type): each
/// form is a named schema (`LenientInteger`, `LenientNumber`,
/// `LenientBoolean`, `Properties`) that the fields refer to.
#[cfg(feature = "json-schema")]
pub mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    /// Declares a named schema.
    macro_rules! named {
        ($($type:ident: $schema:tt;)*) => {$(
            struct $type;

            impl JsonSchema for $type {
                fn schema_name() -> Cow<'static, str> {
                    stringify!($type).into()
                }

                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!($schema)
                }
            }
        )*};
    }

    named! {
        LenientInteger: {
            "description": "A whole number, 0 or more: a number with no fraction (`5` or `5.0`), the number as text (`\"5\"`), or a boolean (1 or 0).",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string"},
                {"type": "boolean"}
            ]
        };
        LenientNumber: {
            "description": "A number: a number, the number as text (`\" 0.5 \"`), or a boolean (1 or 0).",
            "anyOf": [
                {"type": "number"},
                {"type": "string"},
                {"type": "boolean"}
            ]
        };
        LenientBoolean: {
            "description": "A boolean: `true` or `false`, 1 or 0, or as text `true`, `yes`, `on`, `y`, `t`, `1` or `false`, `no`, `off`, `n`, `f`, `0` in any case.",
            "anyOf": [
                {"type": "boolean"},
                {"enum": [0, 1]},
                {"type": "string"}
            ]
        };
        Properties: {
            "description": "Properties: an object, a list of `{key, value}` pairs (a list or object value becomes its JSON text; with a repeated key the last value wins), or null (none). Replies always carry an object.",
            "anyOf": [
                {"type": "object", "additionalProperties": true},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"key": {"type": "string", "minLength": 1}, "value": true},
                        "required": ["key", "value"]
                    }
                },
                {"type": "null"}
            ]
        };
    }

    fn nullable(schema: Schema) -> Schema {
        json_schema!({"anyOf": [schema, {"type": "null"}]})
    }

    fn at_most(schema: Schema, maximum: u64) -> Schema {
        json_schema!({"allOf": [schema, {"maximum": maximum}]})
    }

    /// What [`usize`](super::usize) reads.
    pub fn usize(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<LenientInteger>()
    }

    /// What [`opt_usize`](super::opt_usize) reads.
    pub fn opt_usize(generator: &mut SchemaGenerator) -> Schema {
        nullable(generator.subschema_for::<LenientInteger>())
    }

    /// What [`u8`](super::u8) reads.
    pub fn u8(generator: &mut SchemaGenerator) -> Schema {
        at_most(generator.subschema_for::<LenientInteger>(), u8::MAX.into())
    }

    /// What [`opt_u32`](super::opt_u32) reads.
    pub fn opt_u32(generator: &mut SchemaGenerator) -> Schema {
        nullable(at_most(
            generator.subschema_for::<LenientInteger>(),
            u32::MAX.into(),
        ))
    }

    /// What [`f32`](super::f32) reads.
    pub fn f32(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<LenientNumber>()
    }

    /// What [`opt_f32`](super::opt_f32) and [`opt_f64`](super::opt_f64) read.
    pub fn opt_number(generator: &mut SchemaGenerator) -> Schema {
        nullable(generator.subschema_for::<LenientNumber>())
    }

    /// What [`bool`](super::bool) reads.
    pub fn bool(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<LenientBoolean>()
    }

    /// What [`opt_bool`](super::opt_bool) reads.
    pub fn opt_bool(generator: &mut SchemaGenerator) -> Schema {
        nullable(generator.subschema_for::<LenientBoolean>())
    }

    /// What [`props`](super::props) reads.
    pub fn props(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<Properties>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Fields {
        #[serde(default, deserialize_with = "usize")]
        n: usize,
        #[serde(default, deserialize_with = "f32")]
        x: f32,
        #[serde(default, deserialize_with = "bool")]
        b: bool,
        #[serde(default, deserialize_with = "opt_u32")]
        o: Option<u32>,
        #[serde(default, deserialize_with = "props")]
        p: JsonMap,
    }

    fn read(v: Value) -> Result<Fields, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn numbers_and_booleans_as_the_gateway_read_them() {
        let f = read(json!({"n": "5", "x": " 0.5 ", "b": "yes", "o": 3.0})).unwrap();
        assert_eq!((f.n, f.x, f.b, f.o), (5, 0.5, true, Some(3)));
        let f = read(json!({"n": 5.0, "b": 0, "o": null})).unwrap();
        assert_eq!((f.n, f.b, f.o), (5, false, None));
        for bad in [
            json!({"n": 5.5}),
            json!({"n": -1}),
            json!({"n": "lots"}),
            json!({"x": "hot"}),
            json!({"b": "maybe"}),
            json!({"b": 2}),
            json!({"n": [1]}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn props_as_a_map_or_as_pairs() {
        let f = read(json!({"p": [{"key": "name", "value": "Ada"}, {"key": "born", "value": 1815},
                                  {"key": "tags", "value": ["a", "b"]}, {"key": "name", "value": "A."}]}))
        .unwrap();
        assert_eq!(f.p["name"], "A.");
        assert_eq!(f.p["born"], 1815);
        assert_eq!(f.p["tags"], "[\"a\",\"b\"]");
        assert!(read(json!({"p": null})).unwrap().p.is_empty());
        assert_eq!(read(json!({"p": {"k": 1}})).unwrap().p["k"], 1);
        for bad in [
            json!({"p": [1]}),
            json!({"p": [{"value": 1}]}),
            json!({"p": [{"key": "k"}]}),
            json!({"p": "x"}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
        let pairs = props_as_pairs(&f.p);
        assert!(
            pairs
                .as_array()
                .unwrap()
                .contains(&json!({"key": "born", "value": 1815})),
            "{pairs}"
        );
    }
}
