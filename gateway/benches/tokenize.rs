//! Tokenize benchmark: a ~1 KB prompt through the gateway (`POST /v1/tokenize` over loopback
//! HTTP/1.1 keep-alive) versus `tokenizers` in-process on the same `tokenizer.json`.
//! Run with `cargo bench -p smg-gateway --bench tokenize`; prints the numbers.
//!
//! 1. Sequential p50 latency of each, and the difference: the gateway's per-request overhead
//!    (HTTP, JSON both ways, lookup), in µs.
//! 2. Throughput with 8 concurrent clients (8 tasks over keep-alive connections vs 8 threads
//!    encoding in-process), and the ratio gateway / in-process. The gateway, its clients and
//!    the in-process threads all share this machine's cores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smg_gateway::{Gateway, GatewayConfig};
use smg_sdk::{AddTokenizerRequest, TokenizeRequest};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

const SEQUENTIAL: usize = 3000;
const CLIENTS: usize = 8;
const WINDOW: Duration = Duration::from_secs(4);

const CORPUS: &[&str] = &[
    "The quick brown fox jumps over the lazy dog while the gateway counts every token.",
    "A control plane registers workers, tokenizers and modules, and keeps them durable.",
    "Operators register the tokenizer of each served model at runtime and check its status.",
    "Byte-level BPE merges frequent pairs of bytes into longer and longer pieces of text.",
    "Grüße aus München! Ça va très bien. 世界你好，分词器把文字变成数字。",
    "Latency is measured at the median; throughput is measured over a fixed window of time.",
];

/// A byte-level BPE with a few thousand merges, trained on a corpus built from [`CORPUS`].
fn train(dir: &Path) -> std::path::PathBuf {
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(2000)
        .min_frequency(1)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(vec![AddedToken::from("<|endoftext|>", true)])
        .build();
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(Some(ByteLevel::default().trim_offsets(false)))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .unwrap();
    // Vary the sentences so the trainer sees many distinct words.
    let lines: Vec<String> = (0..400)
        .map(|i| {
            let s = CORPUS[i % CORPUS.len()];
            let words: Vec<&str> = s.split(' ').collect();
            let k = i % words.len();
            format!("{} {} {i}", words[k..].join(" "), words[..k].join(" "))
        })
        .collect();
    tokenizer.train(&mut trainer, lines.iter()).unwrap();
    let path = dir.join("tokenizer.json");
    tokenizer.save(&path, false).unwrap();
    path
}

fn prompt() -> String {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 1024 {
        text.push_str(CORPUS[i % CORPUS.len()]);
        text.push(' ');
        i += 1;
    }
    while text.len() > 1024 {
        text.pop();
    }
    text
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Encode as the gateway does: no special tokens, ids copied out, characters counted.
fn direct(tokenizer: &Tokenizer, text: &str) -> (Vec<u32>, usize) {
    let encoding = tokenizer.encode_fast(text, false).unwrap();
    (encoding.get_ids().to_vec(), text.chars().count())
}

fn direct_throughput(tokenizer: &Arc<Tokenizer>, text: &Arc<String>) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (tokenizer, text, stop, done) =
                (tokenizer.clone(), text.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(direct(&tokenizer, &text));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(WINDOW);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64()
}

async fn gateway_throughput(url: &str, body: &bytes::Bytes) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            // One connection per client.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let (url, body, stop, done) =
                (url.to_string(), body.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let response = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success());
                    std::hint::black_box(response.bytes().await.unwrap());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(WINDOW).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64()
}

async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let path = train(dir.path());
    let tokenizer = Arc::new(Tokenizer::from_file(&path).unwrap());
    let text = Arc::new(prompt());
    let (ids, chars) = direct(&tokenizer, &text);

    let config = GatewayConfig {
        port: 0,
        prometheus_port: 0,
        store: dir.path().join("bench.db"),
        log_level: "warn".into(),
        ..GatewayConfig::default()
    };
    let gw = Gateway::start(config).await.unwrap();
    let client = smg_sdk::Client::new(format!("http://{}", gw.addr)).unwrap();
    client
        .tokenizers()
        .add_and_wait(
            &AddTokenizerRequest::new("bench", path.to_str().unwrap()),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let url = format!("http://{}/v1/tokenize", gw.addr);
    let body = bytes::Bytes::from(
        serde_json::to_vec(&TokenizeRequest::new("bench", text.as_str())).unwrap(),
    );
    let http = reqwest::Client::new();
    let call = || async {
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap()
    };
    // Same answer as in-process.
    let answer: serde_json::Value = serde_json::from_slice(&call().await).unwrap();
    assert_eq!(answer["tokens"], serde_json::json!(ids));
    assert_eq!(answer["char_count"], chars);

    // Sequential latency.
    for _ in 0..200 {
        std::hint::black_box(direct(&tokenizer, &text));
        call().await;
    }
    let mut t_direct = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        std::hint::black_box(direct(&tokenizer, &text));
        t_direct.push(started.elapsed());
    }
    let mut t_http = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        std::hint::black_box(call().await);
        t_http.push(started.elapsed());
    }
    let (p_direct, p_http) = (median(t_direct), median(t_http));

    // Throughput with 8 concurrent clients.
    let rps_gateway = gateway_throughput(&url, &body).await;
    let rps_direct = {
        let (tokenizer, text) = (tokenizer.clone(), text.clone());
        tokio::task::spawn_blocking(move || direct_throughput(&tokenizer, &text))
            .await
            .unwrap()
    };

    println!(
        "tokenize: prompt {} bytes, {} chars, {} tokens; byte-level BPE, vocab {}; {} cores",
        text.len(),
        chars,
        ids.len(),
        tokenizer.get_vocab_size(true),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "  p50 latency: in-process {:.1} µs, through the gateway {:.1} µs -> per-request overhead {:.1} µs",
        us(p_direct),
        us(p_http),
        us(p_http) - us(p_direct)
    );
    println!(
        "  throughput, {CLIENTS} concurrent clients: gateway {:.0} req/s, in-process {:.0} encodes/s -> ratio {:.3}",
        rps_gateway,
        rps_direct,
        rps_gateway / rps_direct
    );
    gw.shutdown().await.unwrap();
}

fn main() {
    // `cargo test --benches` runs this binary too; only measure when benchmarking.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}
