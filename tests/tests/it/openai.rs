//! OpenAI's API through the producer (`/v1/chat/completions`, streamed or
//! not, `/v1/embeddings`, `/v1/models`), through OpenAI's Rust SDK and raw
//! HTTP, and the streaming protocol over NATS.

use std::time::{Duration, Instant};

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use async_openai::Client;
use futures::StreamExt;
use ragwire_client::stream::Streamed;
use ragwire_schemas::embed::VectorEncoding;
use ragwire_schemas::openai::{ChatCompletionRequest, EmbeddingInput, EmbeddingsRequest};
use ragwire_schemas::Subject;
use ragwire_tests::fake::StreamPlan;
use ragwire_tests::*;
use serde_json::{json, Value};

fn sdk(producer: &ProducerAt) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(producer.url("/v1"))
            .with_api_key("unused"),
    )
}

fn ask(text: &str, stream: bool) -> async_openai::types::chat::CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model("rag-answer")
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(text)
            .build()
            .unwrap()
            .into()])
        .stream(stream)
        .build()
        .unwrap()
}

/// `POST /v1/chat/completions` of one user message, "hi", streamed or not.
fn hi(stream: bool) -> ChatCompletionRequest {
    ChatCompletionRequest {
        stream,
        ..ChatCompletionRequest::user("hi")
    }
}

/// The events of an SSE body, `data:` lines only, in order.
async fn sse_events(response: reqwest::Response) -> Vec<String> {
    let body = response.text().await.unwrap();
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_sdk_gets_whole_and_streamed_answers_as_they_come() {
    let mut t = Fixture::started().await;
    let producer = t.producer().await;
    let client = sdk(&producer);

    let whole = client
        .chat()
        .create(ask("hello there", false))
        .await
        .unwrap();
    assert_eq!(
        whole.choices[0].message.content.as_deref(),
        Some("echo: hello there")
    );
    assert_eq!(whole.model, "fake-answer-model");

    // One chunk per word, 60 ms apart: the SDK sees them one by one.
    let gap = Duration::from_millis(60);
    t.fake.stream_plan(StreamPlan {
        gap,
        ..Default::default()
    });
    let text = "one two three four five six";
    let started = Instant::now();
    let mut stream = client.chat().create_stream(ask(text, true)).await.unwrap();
    let (mut content, mut arrivals) = (String::new(), Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        arrivals.push(started.elapsed());
        if let Some(piece) = chunk.choices.first().and_then(|c| c.delta.content.clone()) {
            content.push_str(&piece);
        }
    }
    assert_eq!(content, format!("echo: {text}"));
    // 7 content chunks and the finishing one, each after its gap.
    assert_eq!(arrivals.len(), 8, "{arrivals:?}");
    let spread = arrivals[7] - arrivals[0];
    assert!(
        spread >= gap * 5,
        "chunks came together, not as made: {arrivals:?}"
    );
    assert!(arrivals[0] < gap * 4, "first chunk late: {arrivals:?}");
    let (started, finished, dropped, _, _) = t.fake.streams();
    assert_eq!((started, finished, dropped), (1, 1, 0));

    // `stream_options.include_usage`: the last chunk carries the usage.
    let mut request = ask("count me", true);
    request.stream_options = Some(async_openai::types::chat::ChatCompletionStreamOptions {
        include_usage: Some(true),
        include_obfuscation: None,
    });
    let chunks: Vec<_> = client
        .chat()
        .create_stream(request)
        .await
        .unwrap()
        .collect()
        .await;
    let last = chunks.last().unwrap().as_ref().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage.as_ref().unwrap().completion_tokens, 3);
}

#[tokio::test]
async fn a_missing_key_is_a_401_the_sdk_understands() {
    let mut t = Fixture::new().await;
    t.http.api_keys = vec!["sk-right".into()];
    t.start().await;
    let producer = t.producer().await;
    let err = sdk(&producer)
        .chat()
        .create(ask("hi", false))
        .await
        .unwrap_err();
    match err {
        async_openai::error::OpenAIError::ApiError(e) => {
            assert_eq!(e.status_code, 401);
            assert_eq!(e.api_error.r#type.as_deref(), Some("authentication_error"));
            assert!(
                e.api_error.message.contains("API key"),
                "{}",
                e.api_error.message
            );
        }
        other => panic!("not an API error: {other}"),
    }
    let ok = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(producer.url("/v1"))
            .with_api_key("sk-right"),
    );
    ok.chat().create(ask("hi", false)).await.unwrap();
    // Unknown /v1 routes answer in OpenAI's shape too.
    let r = http_client()
        .get(producer.url("/v1/nothing"))
        .header("x-api-key", "sk-right")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "not_found_error"
    );
}

#[tokio::test]
async fn every_other_field_reaches_the_model_as_sent() {
    let mut t = Fixture::started().await;
    let producer = t.producer().await;
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
    let format = json!({"type": "json_schema", "json_schema": {"name": "x",
        "schema": {"type": "object"}}});
    // JSON: fields ragwire does not know, passed on as they came, are the point.
    let body = json!({
        "model": "rag-answer",
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "hi", "name": "ann"}],
        "tools": tools, "tool_choice": "auto", "response_format": format,
        "temperature": 0.3, "seed": 7, "x_vendor_field": {"keep": [1, 2]},
    });
    let r = http_client()
        .post(producer.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["object"], "chat.completion");
    assert!(reply.get("ok").is_none(), "OpenAI's object, as it came");
    let sent = t.fake.chats_for("fake-answer-model").pop().unwrap();
    for field in [
        "tools",
        "tool_choice",
        "response_format",
        "seed",
        "x_vendor_field",
    ] {
        assert_eq!(sent[field], body[field], "{field}");
    }
    assert_eq!(sent["messages"], body["messages"]);
    assert_eq!(sent["temperature"], 0.3);
    assert_eq!(sent["stream"], false);
}

#[tokio::test]
async fn errors_come_in_openais_shape_with_retry_after() {
    let mut t = Fixture::new().await;
    t.config.retry.max_retries = 0;
    t.start().await;
    let producer = t.producer().await;
    let url = producer.url("/v1/chat/completions");

    // Not JSON: 400, OpenAI's shape.
    let r = http_client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    assert_eq!(body["error"]["param"], Value::Null);
    // No messages.
    let r = http_client()
        .post(&url)
        .json(&json!({"model": "rag-answer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("messages"));

    // The model rate limits: 429 and its Retry-After, streamed or not.
    t.fake.script(
        "fake-answer-model",
        vec![fake::Scripted::fail(429).retry_after("7")],
    );
    for stream in [false, true] {
        let r = http_client()
            .post(&url)
            .json(&ChatCompletionRequest {
                model: Some("rag-answer".into()),
                ..hi(stream)
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "stream: {stream}");
        assert_eq!(r.headers()["retry-after"], "7");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    // The SDK reads it as an API error with the message.
    let err = sdk(&producer)
        .chat()
        .create(ask("hi", false))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rate limited"), "{err}");
}

#[tokio::test]
async fn a_model_that_is_down_is_a_502_or_503() {
    let mut t = Fixture::new().await;
    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    t.config.llm.base_url = format!("http://127.0.0.1:{port}/v1");
    t.config.retry.max_retries = 0;
    t.start().await;
    let producer = t.producer().await;
    for stream in [false, true] {
        let r = http_client()
            .post(producer.url("/v1/chat/completions"))
            .json(&hi(stream))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(status == 502 || status == 503, "{status}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "server_error");
    }
}

#[tokio::test]
async fn a_failure_mid_stream_is_a_last_error_event() {
    let mut t = Fixture::started().await;
    t.fake.stream_plan(StreamPlan {
        chunks: 10,
        gap: Duration::from_millis(20),
        break_after: Some(3),
    });
    let producer = t.producer().await;
    let r = http_client()
        .post(producer.url("/v1/chat/completions"))
        .json(&hi(true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = sse_events(r).await;
    assert_eq!(events.len(), 4, "{events:?}");
    for chunk in &events[..3] {
        let chunk: Value = serde_json::from_str(chunk).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
    }
    let last: Value = serde_json::from_str(&events[3]).unwrap();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(!events.contains(&"[DONE]".to_owned()));
}

#[tokio::test]
async fn the_next_provider_answers_when_the_first_fails_before_any_chunk() {
    let mut t = Fixture::new().await;
    let backup = fake::FakeOpenAi::start().await;
    t.config.llm.fallback_urls = vec![backup.base_url.clone()];
    t.config.llm.fallback_names = vec!["backup".into()];
    t.config.retry.max_retries = 0;
    t.fake
        .script("fake-answer-model", vec![fake::Scripted::fail(500)]);
    t.start().await;
    let producer = t.producer().await;
    let mut stream = sdk(&producer)
        .chat()
        .create_stream(ask("fall back", true))
        .await
        .unwrap();
    let mut content = String::new();
    while let Some(chunk) = stream.next().await {
        if let Some(piece) = chunk
            .unwrap()
            .choices
            .first()
            .and_then(|c| c.delta.content.clone())
        {
            content.push_str(&piece);
        }
    }
    assert_eq!(content, "echo: fall back");
    assert_eq!(backup.streams().1, 1, "the backup streamed it");
    assert_eq!(t.fake.streams().0, 0, "the first provider never streamed");
}

#[tokio::test]
async fn a_client_that_goes_away_stops_the_model_within_a_second() {
    let mut t = Fixture::started().await;
    t.fake.stream_plan(StreamPlan {
        chunks: 10_000,
        gap: Duration::from_millis(10),
        ..Default::default()
    });
    let producer = t.producer().await;
    let mut r = http_client()
        .post(producer.url("/v1/chat/completions"))
        .json(&hi(true))
        .send()
        .await
        .unwrap();
    let mut read = 0;
    while read < 3 {
        read += r.chunk().await.unwrap().unwrap().len().min(1);
    }
    let gone = Instant::now();
    drop(r);
    let dropped_at = wait_for_drop(&t.fake).await;
    let after = dropped_at.duration_since(gone);
    assert!(
        after < Duration::from_secs(1),
        "the model kept going {after:?}"
    );
    assert!(t.fake.streams().3 < 1000, "{:?}", t.fake.streams());
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn wait_for_drop(fake: &fake::FakeOpenAi) -> Instant {
    for _ in 0..100 {
        if let (_, _, 1, _, Some(at)) = fake.streams() {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the model's stream was not dropped: {:?}", fake.streams());
}

#[tokio::test]
async fn two_hundred_streams_of_a_hundred_chunks_all_arrive_whole() {
    let mut t = Fixture::started().await;
    t.fake.stream_plan(StreamPlan {
        chunks: 100,
        ..Default::default()
    });
    t.fake.stop_recording();
    let producer = t.producer().await;
    let http = http_client();
    let url = producer.url("/v1/chat/completions");
    let rss_before = rss_kib();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = tokio::spawn({
        let done = done.clone();
        async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        }
    });
    let streams = futures::future::join_all((0..200).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(url)
                .json(&ChatCompletionRequest {
                    stream: true,
                    ..ChatCompletionRequest::user(format!("s{i}"))
                })
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            sse_events(r).await
        }
    }))
    .await;
    for events in streams {
        // 100 chunks, the finishing chunk, [DONE].
        assert_eq!(events.len(), 102);
        assert_eq!(events.last().unwrap(), "[DONE]");
        let numbers: Vec<String> = events[..100]
            .iter()
            .map(|e| {
                serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let expected: Vec<String> = (0..100).map(|i| format!("{i} ")).collect();
        assert_eq!(numbers, expected, "in order, none lost");
    }
    let (started, finished, dropped, _, _) = t.fake.streams();
    assert_eq!((started, finished, dropped), (200, 200, 0));
    // The fake, the producer, the worker and 200 HTTP clients share this
    // process; the windows bound what the streams hold to a few MB.
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let grown = sampling.await.unwrap().saturating_sub(rss_before);
    assert!(grown < 200 * 1024, "memory grew by {grown} KiB at the peak");
    let metrics = http
        .get(producer.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let route = r#"{route="/v1/chat/completions"}"#;
    for line in [
        format!("ragwire_http_stream_first_chunk_seconds_count{route} 200"),
        format!("ragwire_http_stream_duration_seconds_count{route} 200"),
        format!("ragwire_http_streams_in_flight{route} 0"),
    ] {
        assert!(metrics.contains(&line), "{line} not in {metrics}");
    }
}

#[tokio::test]
async fn a_nats_client_streams_gives_credit_and_cancels() {
    let t = Fixture::started().await;
    t.fake.stream_plan(StreamPlan {
        chunks: 300,
        ..Default::default()
    });
    let payload = bytes::Bytes::from(serde_json::to_vec(&hi(true)).unwrap());
    // All 300 chunks: more than the window, so credit must flow.
    let Streamed::Chunks(chunks) = t
        .rag
        .stream(Subject::V1ChatCompletions, payload.clone(), None)
        .await
        .unwrap()
    else {
        panic!("not a stream")
    };
    let chunks: Vec<_> = chunks.collect().await;
    assert_eq!(chunks.len(), 301);
    assert!(chunks.iter().all(Result::is_ok));

    // Dropped after two chunks: the worker cancels the model's call.
    t.fake.stream_plan(StreamPlan {
        chunks: 10_000,
        gap: Duration::from_millis(10),
        ..Default::default()
    });
    let Streamed::Chunks(mut chunks) = t
        .rag
        .stream(Subject::V1ChatCompletions, payload, None)
        .await
        .unwrap()
    else {
        panic!("not a stream")
    };
    chunks.next().await.unwrap().unwrap();
    chunks.next().await.unwrap().unwrap();
    drop(chunks);
    wait_for_drop(&t.fake).await;
}

/// The `Ragwire-Stream` header of a stream message.
fn stream_kind(m: &async_nats::Message) -> Option<String> {
    m.headers
        .as_ref()
        .and_then(|h| h.get("Ragwire-Stream"))
        .map(|v| v.as_str().to_owned())
}

/// Asks for a streamed chat completion over raw NATS with a credit
/// window of `window` chunks: the reply subscription, after its `start`,
/// and the stream's control subject.
async fn open_raw_stream(
    rag: &ragwire_client::RagClient,
    window: u64,
) -> (async_nats::Subscriber, String) {
    let nats = rag.nats();
    let inbox = nats.new_inbox();
    let mut replies = nats.subscribe(inbox.clone()).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Ragwire-Stream-Window", window.to_string().as_str());
    nats.publish_with_reply_and_headers(
        rag.subject(Subject::V1ChatCompletions),
        inbox,
        headers,
        serde_json::to_vec(&hi(true)).unwrap().into(),
    )
    .await
    .unwrap();
    let start = replies.next().await.unwrap();
    assert_eq!(stream_kind(&start).as_deref(), Some("start"));
    let control = start
        .headers
        .as_ref()
        .and_then(|h| h.get("Ragwire-Control"))
        .expect("a stream starts with its control subject")
        .to_string();
    (replies, control)
}

#[tokio::test]
async fn a_reader_without_credit_gets_no_more_than_its_window() {
    let t = Fixture::started().await;
    t.fake.stream_plan(StreamPlan {
        chunks: 200,
        ..Default::default()
    });
    let nats = t.rag.nats().clone();
    let (mut replies, control) = open_raw_stream(&t.rag, 4).await;
    let mut chunks = 0;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(700), replies.next()).await {
        assert_eq!(stream_kind(&m).as_deref(), Some("chunk"));
        chunks += 1;
    }
    assert_eq!(chunks, 4, "the window holds the worker back");
    // Credit for all four: four more.
    let mut credit = async_nats::HeaderMap::new();
    credit.insert("Ragwire-Control", "credit");
    credit.insert("Ragwire-Credit", "4");
    nats.publish_with_headers(control.clone(), credit, "".into())
        .await
        .unwrap();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(700), replies.next()).await {
        assert_eq!(stream_kind(&m).as_deref(), Some("chunk"));
        chunks += 1;
    }
    assert_eq!(chunks, 8);
    let mut cancel = async_nats::HeaderMap::new();
    cancel.insert("Ragwire-Control", "cancel");
    nats.publish_with_headers(control, cancel, "".into())
        .await
        .unwrap();
}

/// A reader that gives no credit holds the model back too: the worker
/// reads the model's stream only as it sends chunks on, so a stalled
/// reader leaves the rest of the answer at the model (in its socket's
/// buffers at most), not in the worker's memory.
#[tokio::test]
async fn a_stalled_reader_holds_the_model_back() {
    let t = Fixture::started().await;
    // About 30 MB of chunks: more than the sockets between the model and
    // the worker can hold.
    const CHUNKS: usize = 200_000;
    t.fake.stream_plan(StreamPlan {
        chunks: CHUNKS,
        ..Default::default()
    });
    let nats = t.rag.nats().clone();
    let (_replies, control) = open_raw_stream(&t.rag, 4).await;
    // The model writes until the connection pushes back; wait until it
    // stops (or would have written everything).
    let sent = || t.fake.streams().3;
    let mut last = sent();
    let waited = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let now = sent();
        if (now == last && now > 0) || now >= CHUNKS || waited.elapsed() > Duration::from_secs(60) {
            last = now;
            break;
        }
        last = now;
    }
    assert!(
        last < CHUNKS / 2,
        "the model wrote {last} of {CHUNKS} chunks to a reader that took 4"
    );
    let mut cancel = async_nats::HeaderMap::new();
    cancel.insert("Ragwire-Control", "cancel");
    nats.publish_with_headers(control, cancel, "".into())
        .await
        .unwrap();
    let cancelled = std::time::Instant::now();
    while t.fake.streams().2 == 0 {
        assert!(
            cancelled.elapsed() < Duration::from_secs(5),
            "the model's stream was not dropped after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn embeddings_and_models_through_the_sdk() {
    let mut t = Fixture::started().await;
    let producer = t.producer().await;
    let client = sdk(&producer);
    let reply = client
        .embeddings()
        .create(
            CreateEmbeddingRequestArgs::default()
                .model("text-embedding-3-small")
                .input(vec!["first text", "second text"])
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(reply.data.len(), 2);
    assert_eq!(reply.data[1].index, 1);
    assert_eq!(reply.data[0].embedding, fake::fake_vector("first text", 8));
    assert_eq!(reply.model, "fake-embed");
    assert!(reply.usage.prompt_tokens > 0);

    // base64, as the Python SDK asks by default: little-endian f32s.
    let r: Value = http_client()
        .post(producer.url("/v1/embeddings"))
        .json(&EmbeddingsRequest {
            model: Some("m".into()),
            encoding_format: VectorEncoding::Base64,
            ..EmbeddingsRequest::new(EmbeddingInput::One("first text".into()))
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let decoded =
        ragwire_schemas::embed::base64_to_f32s(r["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
    assert_eq!(decoded, fake::fake_vector("first text", 8));
    // Bad input: OpenAI's shape.
    let r = http_client()
        .post(producer.url("/v1/embeddings"))
        .json(&EmbeddingsRequest::new(EmbeddingInput::Many(vec![])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );

    let models = client.models().list().await.unwrap();
    let ids: Vec<_> = models.data.iter().map(|m| m.id.as_str()).collect();
    for id in ["rag-answer", "fake-answer-model", "fake-embed"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
}

#[tokio::test]
async fn the_local_model_takes_only_its_own_dimension() {
    let mut t = Fixture::new().await;
    t.config.embed.base_url = None;
    t.config.embed.model_dir = Some(model_dir());
    t.start().await;
    let producer = t.producer().await;
    let embed = |dimensions: usize| {
        http_client()
            .post(producer.url("/v1/embeddings"))
            .json(&EmbeddingsRequest {
                dimensions: Some(dimensions),
                ..EmbeddingsRequest::new(EmbeddingInput::Many(vec!["a sentence".into()]))
            })
            .send()
    };
    let r = embed(384).await.unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["data"][0]["embedding"].as_array().unwrap().len(), 384);
    assert!(reply["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let r = embed(256).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("384"),
        "{body}"
    );
}
