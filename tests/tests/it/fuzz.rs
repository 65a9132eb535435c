//! Random bytes and random JSON, shaped like the requests (their field
//! names, values of any type), sent to every subject: each answer is a
//! well-formed reply (`ok: true`, or an error with a code and a short
//! message) within the size limits, never a crash, a hang or silence.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use ragwire_schemas::Subject;
use ragwire_tests::*;
use ragwire_worker::error::MAX_MESSAGE;
use serde_json::{Map, Value};
use std::time::Duration;

/// The field names of the requests, so random objects reach past "missing
/// field" into each field's own checks.
const FIELDS: &[&str] = &[
    "texts",
    "encoding_format",
    "query",
    "documents",
    "top_n",
    "messages",
    "role",
    "content",
    "model",
    "temperature",
    "json_mode",
    "max_tokens",
    "collection",
    "chunks",
    "doc_id",
    "chunk_id",
    "text",
    "metadata",
    "top_k",
    "filters",
    "include_subgraph",
    "max_hops",
    "context",
    "strict",
    "repair_if_invalid",
    "min_nodes",
    "min_edges",
    "allow_empty",
    "max_attempts",
    "provider_chain",
    "upsert",
    "data",
    "nodes",
    "edges",
    "id",
    "type",
    "src",
    "dst",
    "props",
    "params",
    "strict_json",
    "timeout",
    "job_id",
    "limit",
    "extract_graph",
    "chunking",
    "size",
    "overlap",
    "lang",
    "gte",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z ]{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// Objects of request fields (the common case), other JSON, or raw bytes.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec((prop::sample::select(FIELDS), json()), 0..8).prop_map(|kv| {
            let object: Map<String, Value> = kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            serde_json::to_vec(&object).unwrap()
        }),
        2 => json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (json(), "[ -~]{1,8}").prop_map(|(v, tail)| {
            let mut bytes = serde_json::to_vec(&v).unwrap();
            bytes.extend_from_slice(tail.as_bytes());
            bytes
        }),
    ]
}

/// `n` payloads, the same ones every run.
fn samples(n: usize) -> Vec<Vec<u8>> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = payload();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

macro_rules! decoders {
    ($( $(#[$doc:meta])* $variant:ident $name:ident $suffix:literal $path:literal
        $request:ty => $reply:ty; )*) => {
        /// Each subject's decoder on `payload`: the error reply of each
        /// refusal.
        fn decode_all(payload: &[u8]) -> Vec<(Subject, Option<ragwire_schemas::ErrorBody>)> {
            vec![$((
                Subject::$variant,
                ragwire_worker::testing::decode::<$request>(payload).err().map(|e| e.to_body()),
            ),)*]
        }
    };
}

ragwire_schemas::for_each_subject!(decoders);

proptest! {
    #![proptest_config(Config { cases: 2000, ..Config::default() })]

    /// The decoders alone, on many inputs: a refusal is a 400 (or a 413
    /// for too many items) with a short message.
    #[test]
    fn every_decoder_accepts_or_refuses_clearly(payload in payload()) {
        for (subject, error) in decode_all(&payload) {
            if let Some(e) = error {
                prop_assert!(matches!(e.code, 400 | 413), "{subject}: {e}");
                prop_assert!(e.message.chars().count() <= MAX_MESSAGE, "{subject}: {}", e.message.len());
            }
        }
    }
}

#[tokio::test]
async fn every_subject_answers_random_requests_with_a_well_formed_reply() {
    let mut t = Fixture::new().await;
    t.config.limits.request_timeout = Duration::from_millis(5_000);
    t.start().await;
    let max_payload = t.rag.nats().server_info().max_payload;
    let payloads = samples(40);
    for &subject in Subject::ALL {
        for payload in &payloads {
            let reply = t.request_raw(subject, payload.clone()).await;
            assert!(reply.payload.len() <= max_payload, "{subject}");
            let body: Value = serde_json::from_slice(&reply.payload)
                .unwrap_or_else(|e| panic!("{subject}: a reply that is not JSON: {e}"));
            match body["ok"].as_bool() {
                Some(true) => assert_eq!(error_code(&reply), None, "{subject}: {body}"),
                Some(false) => {
                    let code = body["error"]["code"].as_u64().expect("a code") as u16;
                    assert_eq!(error_code(&reply), Some(code), "{subject}: {body}");
                    assert!(
                        (400..600).contains(&code) && code != 500,
                        "{subject} answered {code} to {}: {body}",
                        String::from_utf8_lossy(payload)
                    );
                    let message = body["error"]["message"].as_str().expect("a message");
                    assert!(message.chars().count() <= MAX_MESSAGE, "{subject}");
                }
                // OpenAI's objects, as OpenAI prints them.
                None if subject.http_path().starts_with("/v1/") => {
                    assert_eq!(error_code(&reply), None, "{subject}: {body}");
                    assert!(body.is_object(), "{subject}: {body}");
                }
                None => panic!("{subject}: no `ok` in {body}"),
            }
        }
    }
}
