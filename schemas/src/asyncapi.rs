//! The AsyncAPI 3.0 document of ragwire's NATS API (`docs/asyncapi.yaml`),
//! built from the subject table ([`for_each_subject!`](crate::for_each_subject))
//! and the JSON Schemas of the wire types, so that a new subject or field
//! appears in it by itself: each subject's request and reply, the error
//! reply and its headers, the streaming protocol of `v1.chat.completions`
//! and the ingest jobs' messages. `scripts/asyncapi` writes the file, and a
//! test fails when the checked-in one differs from what the code generates.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::headers::{
    DEADLINE, REQUEST_ID, RETRY_AFTER, SENT_AT, SERVICE_ERROR, SERVICE_ERROR_CODE,
};
use crate::openai::stream::{CONTROL, CREDIT, DEFAULT_WINDOW, MAX_WINDOW, STREAM, WINDOW};
use crate::{ErrorReply, Subject, Success};

/// The prefix the checked-in document is written for: the default of
/// `RAGWIRE_PREFIX`.
pub const DEFAULT_PREFIX: &str = "rag";

/// The queue group workers answer in by default (`RAGWIRE_QUEUE_GROUP`).
const QUEUE_GROUP: &str = "ragwire";

/// The version of the NATS bindings used.
const NATS_BINDING: &str = "0.1.0";

/// The checked-in document, `docs/asyncapi.yaml`: [`document`] for the
/// default prefix, as YAML.
pub fn yaml() -> String {
    let body = serde_norway::to_string(&document(DEFAULT_PREFIX))
        .expect("a JSON value always serializes as YAML");
    format!(
        "# The AsyncAPI document of ragwire's NATS API, generated from the ragwire-schemas\n\
         # crate: do not edit by hand, regenerate it with `scripts/asyncapi`.\n{body}"
    )
}

/// The AsyncAPI 3.0.0 document of the subjects under `prefix`.
pub fn document(prefix: &str) -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let endpoints = endpoints(&mut generator);
    let error_payload = generator.subschema_for::<ErrorReply>().to_value();
    let event_payload = generator
        .subschema_for::<crate::jobs::JobEvent>()
        .to_value();
    let work_payload = generator
        .subschema_for::<crate::jobs::WorkItem>()
        .to_value();
    let dead_payload = generator.subschema_for::<crate::jobs::DeadJob>().to_value();

    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    insert_new(
        &mut messages,
        "Error".into(),
        json!({
            "name": "Error",
            "title": "Error reply",
            "summary": "The one error shape every subject replies with.",
            "description": "`{\"ok\": false, \"error\": {\"code\", \"kind\", \"message\", \"details\"?}}`, \
                with the NATS micro-service error headers. `code` is HTTP-like (the producer \
                answers with it as the status) and `kind` its stable name.",
            "contentType": "application/json",
            "headers": reference("ErrorHeaders"),
            "payload": error_payload,
        }),
    );
    for endpoint in &endpoints {
        endpoint.add(prefix, &mut channels, &mut operations, &mut messages);
    }
    stream_protocol(&mut channels, &mut operations, &mut messages);
    jobs(
        prefix,
        [event_payload, work_payload, dead_payload],
        &mut channels,
        &mut operations,
        &mut messages,
    );

    let mut schemas = generator.take_definitions(true);
    schemas.values_mut().for_each(tidy_float_defaults);
    for (name, schema) in header_schemas() {
        schemas.insert(name.into(), schema);
    }
    schemas.insert(
        "ChatCompletionChunk".into(),
        json!({
            "type": "object",
            "description": "OpenAI's `chat.completion.chunk` object, as the model sent it.",
            "additionalProperties": true,
        }),
    );
    let schemas = sorted(schemas);
    let messages = sorted(messages);

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "ragwire",
            "version": env!("CARGO_PKG_VERSION"),
            "description": description(prefix),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "The NATS server workers and clients connect to \
                    (`NATS_URL`, default `nats://127.0.0.1:4222`).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
        },
    })
}

/// The document's introduction.
fn description(prefix: &str) -> String {
    format!(
        "ragwire runs RAG backend work (chat, embeddings, reranking, vector search, knowledge \
         graphs, ingest jobs) as NATS request/reply. Workers answer JSON requests on \
         `{prefix}.<subject>` in the queue group `{QUEUE_GROUP}` (`RAGWIRE_QUEUE_GROUP`), so any \
         NATS client can call them; the producer serves the same API over HTTP.\n\n\
         The prefix is configurable (`RAGWIRE_PREFIX`, default `rag`): this document is \
         written for `{prefix}`, and with another prefix every address starts with it \
         instead.\n\n\
         Tenants: every subject here is the `default` tenant's; tenant `acme01`'s \
         requests go to the same subject under `{prefix}.t.acme01` (`{prefix}.t.acme01.search`), \
         its job events to `{prefix}.t.acme01.jobs.events.<job_id>`, and are answered on \
         that tenant's data only. A NATS server can confine a user to one tenant's \
         subjects (docs/tenants.md).\n\n\
         Send a JSON request with a reply subject (a NATS client's `request`); the reply \
         comes there: `{{\"ok\": true, ...}}` with the subject's fields, or the error reply \
         `{{\"ok\": false, \"error\": {{\"code\", \"kind\", \"message\"}}}}` with the \
         `{SERVICE_ERROR}` and `{SERVICE_ERROR_CODE}` headers. The `v1.*` subjects take and \
         return OpenAI's own objects (no `ok`); `v1.chat.completions` with `stream: true` \
         replies with several messages (see its reply and control channels). An \
         `{REQUEST_ID}` header on a request comes back on its replies.\n\n\
         Requests take what the gateway ragwire replaces took: numbers and booleans as text, \
         graph properties as `{{key, value}}` pairs; unknown fields are ignored, a known field \
         of the wrong type is a 400. The schemas describe what ragwire reads, so a field with \
         a default may be absent from a reply too.\n\n\
         Ingest jobs run on JetStream: their work items, dead letters and progress events \
         are in the `job_events`, `job_queue` and `dead_letters` channels."
    )
}

/// One subject of the table, with the schemas of its request and reply.
struct Endpoint {
    subject: Subject,
    /// The subject's name in the table, e.g. `GraphExtract`.
    variant: &'static str,
    /// What the subject does, from the table.
    doc: String,
    request: Value,
    reply: Value,
}

/// Collects the table's subjects, with their types' schemas added to the
/// generator's definitions.
macro_rules! endpoints {
    ($( $(#[doc = $doc:literal])* $variant:ident $name:ident $suffix:literal $path:literal
        $request:ty => $reply:ty; )*) => {
        fn endpoints(generator: &mut SchemaGenerator) -> Vec<Endpoint> {
            vec![$(Endpoint {
                subject: Subject::$variant,
                variant: stringify!($variant),
                doc: [$($doc),*].map(str::trim).join(" "),
                request: generator.subschema_for::<$request>().to_value(),
                reply: reply_schema::<$reply>(Subject::$variant, generator),
            },)*]
        }
    };
}

crate::for_each_subject!(endpoints);

/// Whether `subject` replies with the `{ok: true}` envelope: all but the
/// OpenAI-compatible `v1.*` subjects, which reply with OpenAI's objects.
fn enveloped(subject: Subject) -> bool {
    !subject.suffix().starts_with("v1.")
}

/// The schema of a success reply carrying `T`.
fn reply_schema<T: JsonSchema>(subject: Subject, generator: &mut SchemaGenerator) -> Value {
    if enveloped(subject) {
        generator.subschema_for::<Success<T>>().to_value()
    } else {
        generator.subschema_for::<T>().to_value()
    }
}

impl Endpoint {
    /// Adds the subject's channels (the subject and its reply inbox), the
    /// workers' operation and its messages.
    fn add(
        &self,
        prefix: &str,
        channels: &mut Map<String, Value>,
        operations: &mut Map<String, Value>,
        messages: &mut Map<String, Value>,
    ) {
        let name = self.subject.endpoint_name();
        let address = self.subject.subject(prefix);
        let streams = self.subject == Subject::V1ChatCompletions;
        let (request, reply) = (
            format!("{}Request", self.variant),
            format!("{}Reply", self.variant),
        );
        insert_new(
            messages,
            request.clone(),
            json!({
                "name": request,
                "title": format!("{address} request"),
                "summary": self.doc,
                "contentType": "application/json",
                "headers": reference(if streams { "StreamRequestHeaders" } else { "RequestHeaders" }),
                "payload": self.request,
            }),
        );
        let reply_summary = if enveloped(self.subject) {
            "Success: `ok: true` next to the reply's fields."
        } else {
            "Success: OpenAI's object, without ragwire's `ok`."
        };
        insert_new(
            messages,
            reply.clone(),
            json!({
                "name": reply,
                "title": format!("{address} reply"),
                "summary": reply_summary,
                "contentType": "application/json",
                "headers": reference("ReplyHeaders"),
                "payload": self.reply,
            }),
        );

        let reply_channel = format!("{name}_reply");
        let mut reply_messages = vec![reply.as_str(), "Error"];
        if streams {
            reply_messages.extend(STREAM_MESSAGES.iter().map(|(message, ..)| *message));
        }
        insert_new(
            channels,
            name.into(),
            json!({
                "address": address,
                "title": address,
                "description": format!(
                    "{} Over HTTP: `POST {}` on the producer.",
                    self.doc,
                    self.subject.http_path()
                ),
                "messages": {request.as_str(): message_ref(&request)},
            }),
        );
        insert_new(
            channels,
            reply_channel.clone(),
            json!({
                "address": null,
                "title": format!("{address} reply"),
                "description": "The request's NATS reply subject (an inbox such as \
                    `_INBOX.<id>`, chosen by the requester): the reply, or the error reply, \
                    comes there.",
                "messages": reply_messages
                    .iter()
                    .map(|m| (m.to_string(), message_ref(m)))
                    .collect::<Map<_, _>>(),
            }),
        );
        let mut operation = json!({
            "action": "receive",
            "channel": channel_ref(name),
            "title": format!("Answer {address}"),
            "summary": self.doc,
        });
        if streams {
            operation["description"] = format!(
                "With `\"stream\": true` the reply is a stream of messages, each marked by the \
                 `{STREAM}` header: `start` at once (its `{CONTROL}` header names the control \
                 subject), a `chunk` per chunk of the model, `idle` after {heartbeat} s without \
                 a message, then `end`, or `error` (the error reply, ending the stream). A \
                 failure before any chunk comes as `error` after `start`. Without a reply \
                 subject a stream is not started.",
                heartbeat = crate::openai::stream::HEARTBEAT.as_secs(),
            )
            .into();
        }
        operation["messages"] = json!([channel_message_ref(name, &request)]);
        operation["reply"] = json!({
            "channel": channel_ref(&reply_channel),
            "messages": reply_messages
                .iter()
                .map(|m| channel_message_ref(&reply_channel, m))
                .collect::<Vec<_>>(),
        });
        operation["bindings"] =
            json!({"nats": {"queue": QUEUE_GROUP, "bindingVersion": NATS_BINDING}});
        insert_new(operations, name.into(), operation);
    }
}

/// The messages of a stream on the request's reply subject: the message
/// name, the `Ragwire-Stream` value, and what it is.
const STREAM_MESSAGES: &[(&str, &str, &str)] = &[
    (
        "StreamStart",
        "start",
        "Sent at once: the `Ragwire-Control` header names the stream's control subject. No body.",
    ),
    (
        "StreamChunk",
        "chunk",
        "One chunk of the model's answer, as soon as it comes.",
    ),
    (
        "StreamIdle",
        "idle",
        "A heartbeat after a while without a message (see the operation): the worker is alive, \
         the model slow. A client that hears nothing for three heartbeats can take the worker \
         as gone. No body.",
    ),
    (
        "StreamEnd",
        "end",
        "After the last chunk: the stream is over. No body.",
    ),
    (
        "StreamError",
        "error",
        "The stream failed (before or after its first chunk) and ends: the error reply, with \
         the error headers. A model silent for longer than the worker's LLM timeout ends the \
         stream with a 504.",
    ),
];

/// The streaming protocol of `v1.chat.completions`: the stream's messages
/// and its control channel.
fn stream_protocol(
    channels: &mut Map<String, Value>,
    operations: &mut Map<String, Value>,
    messages: &mut Map<String, Value>,
) {
    for (name, kind, what) in STREAM_MESSAGES {
        let mut headers = json!({
            "type": "object",
            "properties": {
                STREAM: {"const": kind, "description": "Marks a stream message."},
                REQUEST_ID: {"type": "string", "description": "The request's, when it sent one."},
            },
            "required": [STREAM],
        });
        let mut message = json!({
            "name": name,
            "title": format!("Stream {kind}"),
            "summary": what,
        });
        match *kind {
            "start" => {
                headers["properties"][CONTROL] = json!({
                    "type": "string",
                    "description": "The stream's control subject, where the client sends \
                        `cancel` and `credit`.",
                });
                headers["required"] = json!([STREAM, CONTROL]);
            }
            "chunk" => {
                message["contentType"] = "application/json".into();
                message["payload"] = reference("ChatCompletionChunk");
            }
            "error" => {
                headers = json!({
                    "allOf": [
                        reference("ErrorHeaders"),
                        {
                            "type": "object",
                            "properties": {STREAM: {"const": "error"}},
                            "required": [STREAM],
                        },
                    ]
                });
                message["contentType"] = "application/json".into();
                message["payload"] = reference("ErrorReply");
            }
            _ => {}
        }
        message["headers"] = headers;
        insert_new(messages, name.to_string(), message);
    }

    let controls = [
        (
            "StreamCancel",
            json!({
                "type": "object",
                "properties": {CONTROL: {"const": "cancel"}},
                "required": [CONTROL],
            }),
            "Stops the stream at once: the worker drops the model's call, so the model stops \
             generating. No body.",
        ),
        (
            "StreamCredit",
            json!({
                "type": "object",
                "properties": {
                    CONTROL: {"const": "credit"},
                    CREDIT: {
                        "type": "string",
                        "pattern": "^[0-9]+$",
                        "description": "The chunks the client has taken so far.",
                    },
                },
                "required": [CONTROL, CREDIT],
            }),
            "Credit: the worker keeps at most the window of chunks unacknowledged and stops \
             reading the model until credit comes. No body.",
        ),
    ];
    for (name, headers, what) in controls {
        insert_new(
            messages,
            name.into(),
            json!({
                "name": name,
                "title": words(name),
                "summary": what,
                "headers": headers,
            }),
        );
    }
    let channel = "v1_chat_completions_control";
    insert_new(
        channels,
        channel.into(),
        json!({
            "address": null,
            "title": "Stream control",
            "description": format!(
                "The subject the `start` message names in its `{CONTROL}` header (an inbox \
                 the worker subscribes to for the stream's life)."
            ),
            "messages": {
                "StreamCancel": message_ref("StreamCancel"),
                "StreamCredit": message_ref("StreamCredit"),
            },
        }),
    );
    insert_new(
        operations,
        channel.into(),
        json!({
            "action": "receive",
            "channel": channel_ref(channel),
            "title": "Steer a stream",
            "summary": "Cancel a stream, or give it credit.",
            "description": format!(
                "A client that sent `{WINDOW}: N` with its request sends `credit` from time to \
                 time; the worker keeps at most `N` chunks unacknowledged ({DEFAULT_WINDOW} when \
                 the request names none, at most {MAX_WINDOW}) and drops a stream that gets no \
                 credit for {wait} s.",
                wait = crate::openai::stream::CREDIT_WAIT.as_secs(),
            ),
            "messages": [
                channel_message_ref(channel, "StreamCancel"),
                channel_message_ref(channel, "StreamCredit"),
            ],
        }),
    );
}

/// The ingest jobs' channels: progress events, the work queue and the
/// dead letters.
fn jobs(
    prefix: &str,
    [event, work, dead]: [Value; 3],
    channels: &mut Map<String, Value>,
    operations: &mut Map<String, Value>,
    messages: &mut Map<String, Value>,
) {
    let job_id = json!({"job_id": {"description": "The job's id, as `jobs.submit` returned it."}});
    let entries = [
        (
            "job_events",
            format!("{prefix}.jobs.events.{{job_id}}"),
            "JobEvent",
            event,
            Value::Null,
            "Job progress",
            "A job's progress events, numbered in order within one delivery, published as \
             they happen: subscribe before submitting to follow a job.",
            vec![("publish_job_event", "send", "Publish a job's progress")],
        ),
        (
            "job_queue",
            format!("{prefix}.jobs.work"),
            "WorkItem",
            work,
            json!({
                "type": "object",
                "properties": {"Nats-Msg-Id": {
                    "type": "string",
                    "description": "The job's id: the server drops an identical resubmission."
                }},
                "required": ["Nats-Msg-Id"],
            }),
            "Job queue",
            "The work-queue stream (`RAGWIRE_JOBS_STREAM`, default `{PREFIX}_JOBS`): \
             `jobs.submit` publishes one item per document; workers pull them through one \
             durable consumer and acknowledge each after its writes.",
            vec![
                ("queue_job", "send", "Queue a job"),
                ("process_job", "receive", "Process a job"),
            ],
        ),
        (
            "dead_letters",
            format!("{prefix}.jobs.dead.{{job_id}}"),
            "DeadJob",
            dead,
            Value::Null,
            "Dead letters",
            "The dead-letter stream (`{PREFIX}_JOBS_DEAD`): a job that failed for good, with \
             its last error. `jobs.replay` queues it again and removes it from there.",
            vec![("dead_letter_job", "send", "Dead-letter a job")],
        ),
    ];
    for (channel, address, message, payload, headers, title, what, ops) in entries {
        let mut body = json!({
            "name": message,
            "title": words(message),
            "summary": what,
            "contentType": "application/json",
            "payload": payload,
        });
        if !headers.is_null() {
            body["headers"] = headers;
        }
        insert_new(messages, message.into(), body);
        let mut entry = json!({
            "address": address,
            "title": title,
            "description": what,
            "messages": {message: message_ref(message)},
        });
        if address.contains("{job_id}") {
            entry["parameters"] = job_id.clone();
        }
        insert_new(channels, channel.into(), entry);
        for (operation, action, title) in ops {
            insert_new(
                operations,
                operation.into(),
                json!({
                    "action": action,
                    "channel": channel_ref(channel),
                    "title": title,
                    "messages": [channel_message_ref(channel, message)],
                }),
            );
        }
    }
}

/// The header schemas: of requests, of replies, and of error replies.
fn header_schemas() -> [(&'static str, Value); 4] {
    let request_id = json!({
        "type": "string",
        "maxLength": 128,
        "description": "Correlates one request across HTTP, NATS and logs: up to 128 \
            characters; it appears in the worker's logs and comes back on every reply.",
    });
    let reply_id = json!({"type": "string", "description": "The request's, when it sent one."});
    let deadline = json!({
        "type": "string",
        "pattern": "^[0-9]+$",
        "description": "When the caller stops waiting, in milliseconds since the Unix epoch: \
            a worker does not start the request after it (504) and stops its backend calls \
            when it passes. The Rust client sends its timeout; without it the worker's own \
            limit applies.",
    });
    let sent_at = json!({
        "type": "string",
        "pattern": "^[0-9]+$",
        "description": "When the request was sent, in milliseconds since the Unix epoch: a \
            request that waited longer than the worker's bound is answered 503 with a retry \
            hint instead of late.",
    });
    [
        (
            "RequestHeaders",
            json!({"type": "object", "properties": {
                REQUEST_ID: request_id, DEADLINE: deadline, SENT_AT: sent_at,
            }}),
        ),
        (
            "StreamRequestHeaders",
            json!({
                "type": "object",
                "properties": {
                    REQUEST_ID: request_id,
                    SENT_AT: sent_at,
                    WINDOW: {
                        "type": "string",
                        "pattern": "^[0-9]+$",
                        "description": format!(
                            "With `stream: true`: at most this many chunks unacknowledged \
                             (default {DEFAULT_WINDOW}, at most {MAX_WINDOW})."
                        ),
                    },
                },
            }),
        ),
        (
            "ReplyHeaders",
            json!({"type": "object", "properties": {REQUEST_ID: reply_id}}),
        ),
        (
            "ErrorHeaders",
            json!({
                "type": "object",
                "properties": {
                    SERVICE_ERROR: {
                        "type": "string",
                        "description": "The error message (NATS micro-service convention).",
                    },
                    SERVICE_ERROR_CODE: {
                        "type": "string",
                        "pattern": "^[0-9]{3}$",
                        "description": "The HTTP-like error code (NATS micro-service convention).",
                    },
                    RETRY_AFTER: {
                        "type": "string",
                        "pattern": "^[0-9]+$",
                        "description": "On errors a client may retry (rate limited, backend \
                            unavailable): the seconds to wait.",
                    },
                    REQUEST_ID: reply_id,
                },
                "required": [SERVICE_ERROR, SERVICE_ERROR_CODE],
            }),
        ),
    ]
}

/// Writes the defaults of `f32` fields as their shortest decimals (`0.2`,
/// not `0.20000000298023224`): they reach the schema through `f64`.
fn tidy_float_defaults(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value
                    .as_f64()
                    .filter(|_| key == "default" && value.is_f64())
                {
                    Some(x) if f64::from(x as f32) == x => {
                        if let Ok(short) = (x as f32).to_string().parse::<f64>() {
                            *value = short.into();
                        }
                    }
                    _ => tidy_float_defaults(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_float_defaults),
        _ => {}
    }
}

/// A message name as words: `JobEvent` is `Job event`.
fn words(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Adds `key` to `map`, which must not hold it yet: two channels, operations
/// or messages of one name would silently be one.
fn insert_new(map: &mut Map<String, Value>, key: String, value: Value) {
    assert!(!map.contains_key(&key), "`{key}` is in the document twice");
    map.insert(key, value);
}

/// `{"$ref": "#/components/schemas/{name}"}`.
fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A reference to a message of the components.
fn message_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/messages/{name}")})
}

/// A reference to a channel.
fn channel_ref(channel: &str) -> Value {
    json!({"$ref": format!("#/channels/{channel}")})
}

/// A reference to a message of a channel, as an operation names it.
fn channel_message_ref(channel: &str, message: &str) -> Value {
    json!({"$ref": format!("#/channels/{channel}/messages/{message}")})
}

/// `map` with its keys in order, so the document does not depend on the
/// order the schemas were met in.
fn sorted(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::{EmbedReply, VectorEncoding, Vectors};
    use crate::jobs::{JobEvent, JobState, JobStatus, StatusReply};
    use crate::{ErrorBody, ErrorKind};

    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/asyncapi.yaml");
        let generated = yaml();
        if std::env::var_os("RAGWIRE_BLESS").is_some() {
            std::fs::write(path, &generated).expect("docs/asyncapi.yaml written");
        }
        let docs = std::fs::read_to_string(path).expect("docs/asyncapi.yaml");
        assert!(
            docs == generated,
            "docs/asyncapi.yaml is out of date: regenerate it with `scripts/asyncapi`"
        );
    }

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => out.push(target),
                        _ => refs(value, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_subject_is_a_channel_and_an_operation_and_every_reference_resolves() {
        let doc = document("apitest");
        for subject in Subject::ALL {
            let name = subject.endpoint_name();
            assert_eq!(doc["channels"][name]["address"], subject.subject("apitest"));
            let operation = &doc["operations"][name];
            assert_eq!(operation["action"], "receive", "{subject}");
            let replies = operation["reply"]["messages"].as_array().unwrap();
            assert!(replies.len() >= 2, "{subject}: a reply and the error reply");
        }
        let mut targets = Vec::new();
        refs(&doc, &mut targets);
        assert!(targets.len() > 100);
        for target in targets {
            let pointer = target.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
    }

    /// Whether `value` is valid against the payload of `message`.
    fn valid(doc: &Value, message: &str, value: &Value) -> bool {
        let payload = &doc["components"]["messages"][message]["payload"];
        assert!(payload.is_object(), "{message} has a payload");
        let root = json!({"allOf": [payload], "components": doc["components"]});
        jsonschema::draft7::new(&root)
            .expect("a valid JSON Schema")
            .is_valid(value)
    }

    fn to_value(value: impl serde::Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn replies_as_ragwire_writes_them_match_their_schemas() {
        let doc = document(DEFAULT_PREFIX);
        let embed = |encoding| EmbedReply {
            vectors: Vectors::encode(vec![vec![0.5, -1.0]], encoding),
            dim: 2,
            model: Some("all-MiniLM-L6-v2".into()),
        };
        let fast: Value =
            serde_json::from_slice(&embed(VectorEncoding::Float).to_success_json()).expect("JSON");
        let status = JobStatus {
            job_id: "j1".into(),
            doc_id: "d".into(),
            collection: "chunks".into(),
            state: JobState::Done,
            chunks_total: 3,
            chunks_done: 3,
            attempts: 1,
            last_error: None,
            graph: Some([2, 1]),
            replays: 0,
            generation: 1_767_225_600_000_000,
            superseded: false,
            tenant: Default::default(),
            created_at: "2025-01-01T00:00:00Z".into(),
            updated_at: "2025-01-01T00:00:01Z".into(),
        };
        let event = JobEvent {
            job_id: "j1".into(),
            seq: 1,
            state: JobState::Running,
            chunks_done: 1,
            chunks_total: 3,
            error: None,
        };
        let error = to_value(ErrorReply::from(ErrorBody::new(ErrorKind::Timeout, "slow")));
        for (message, value) in [
            ("EmbedReply", fast),
            (
                "EmbedReply",
                to_value(Success::new(embed(VectorEncoding::Base64))),
            ),
            (
                "JobsStatusReply",
                to_value(Success::new(StatusReply { status })),
            ),
            ("JobEvent", to_value(event)),
            (
                "V1EmbeddingsReply",
                to_value(crate::openai::EmbeddingsReply::new(
                    Vectors::Float(vec![vec![1.0]]),
                    "m".into(),
                    1,
                )),
            ),
            ("Error", error.clone()),
            ("StreamError", error.clone()),
        ] {
            assert!(valid(&doc, message, &value), "{message}: {value}");
        }
        let mut not_an_error = error;
        not_an_error["ok"] = true.into();
        assert!(!valid(&doc, "Error", &not_an_error));
        assert!(!valid(&doc, "EmbedReply", &json!({"ok": false, "dim": 2})));
    }

    /// Requests the schema and serde both take, or both refuse.
    #[test]
    fn the_schemas_take_the_requests_ragwire_takes() {
        let doc = document(DEFAULT_PREFIX);
        fn reads<T: serde::de::DeserializeOwned>(value: &Value) -> bool {
            serde_json::from_value::<T>(value.clone()).is_ok()
        }
        type Reads = fn(&Value) -> bool;
        let cases: &[(&str, Reads, Value, bool)] = &[
            (
                "SearchRequest",
                reads::<crate::search::SearchRequest>,
                json!({"query": "q", "top_k": "5", "rerank": "yes", "mode": "dense",
                       "weights": {"dense": "0.5"}, "rrf_k": 60.0, "unknown": 1}),
                true,
            ),
            (
                "SearchRequest",
                reads::<crate::search::SearchRequest>,
                json!({"query": "q", "top_k": [1]}),
                false,
            ),
            (
                "SearchRequest",
                reads::<crate::search::SearchRequest>,
                json!({"top_k": 5}),
                false,
            ),
            (
                "SearchRequest",
                reads::<crate::search::SearchRequest>,
                json!({"query": "q", "mode": "fuzzy"}),
                false,
            ),
            (
                "GraphUpsertRequest",
                reads::<crate::graph::UpsertRequest>,
                json!({"data": {"nodes": [{"id": "a", "type": "P", "props": [{"key": "k", "value": 1}]},
                                          {"id": "b", "type": "P", "props": null}],
                                "edges": [{"src": "a", "dst": "b", "type": "R", "props": {"w": 1}}]}}),
                true,
            ),
            (
                "GraphUpsertRequest",
                reads::<crate::graph::UpsertRequest>,
                json!({"data": {"nodes": [{"id": "a", "type": "P", "props": "x"}]}}),
                false,
            ),
            (
                "ChatRequest",
                reads::<crate::chat::ChatRequest>,
                json!({"messages": [{"role": "user", "content": "hi", "name": "ada"}],
                       "temperature": "0.5", "json_mode": 1, "max_tokens": null}),
                true,
            ),
            (
                "ChatRequest",
                reads::<crate::chat::ChatRequest>,
                json!({"messages": "hi"}),
                false,
            ),
            (
                "EmbedRequest",
                reads::<crate::embed::EmbedRequest>,
                json!({"texts": ["a"], "encoding_format": "base64"}),
                true,
            ),
            (
                "EmbedRequest",
                reads::<crate::embed::EmbedRequest>,
                json!({"texts": ["a"], "encoding_format": "int8"}),
                false,
            ),
            (
                "V1ChatCompletionsRequest",
                reads::<crate::openai::ChatCompletionRequest>,
                json!({"messages": [{"role": "user", "content": "hi"}], "stream": "true", "seed": 1}),
                true,
            ),
            (
                "V1EmbeddingsRequest",
                reads::<crate::openai::EmbeddingsRequest>,
                json!({"input": "one"}),
                true,
            ),
            (
                "V1EmbeddingsRequest",
                reads::<crate::openai::EmbeddingsRequest>,
                json!({"input": 1}),
                false,
            ),
            (
                "JobsSubmitRequest",
                reads::<crate::jobs::SubmitRequest>,
                json!({"documents": [{"doc_id": "d", "text": "t"}], "chunking": {"size": "500"}}),
                true,
            ),
            (
                "InfoRequest",
                reads::<crate::info::InfoRequest>,
                json!({}),
                true,
            ),
        ];
        for (message, reads, value, expected) in cases {
            assert_eq!(reads(value), *expected, "serde on {message}: {value}");
            assert_eq!(
                valid(&doc, message, value),
                *expected,
                "the schema of {message}: {value}"
            );
        }
    }
}
