//! What an embed reply costs to print: serde_json against ragwire's own
//! encoder (`EmbedReply::to_success_json`), and base64 each way, for one
//! vector dense (as real models produce) and sparse (as the fake's are).

use std::hint::black_box;
use std::time::Instant;

use ragwire_schemas::embed::{base64_to_f32s, f32s_to_base64, EmbedReply, Vectors};
use ragwire_schemas::Success;
use ragwire_tests::fake::fake_vector;

/// Median over `rounds` of the mean time of `f` in microseconds.
fn time(rounds: usize, iterations: usize, mut f: impl FnMut()) -> f64 {
    let mut means: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                f();
            }
            started.elapsed().as_secs_f64() * 1e6 / iterations as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means[rounds / 2]
}

pub fn run(dim: usize) {
    // A pseudo-random unit vector, and the fake's bag of words.
    let mut seed = 0x2545_f491_u32;
    let mut dense: Vec<f32> = (0..dim)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as f32 / u32::MAX as f32 - 0.5
        })
        .collect();
    let norm = dense.iter().map(|x| x * x).sum::<f32>().sqrt();
    dense.iter_mut().for_each(|x| *x /= norm);
    let sparse = fake_vector("the quick brown fox jumps over the lazy dog 42", dim);
    println!();
    println!("embed reply encoding, one {dim}-float vector, median of 5 rounds:");
    println!(
        "{:<8} {:>13} {:>13} {:>7} {:>13} {:>14}",
        "vector", "serde_json µs", "ragwire µs", "ratio", "to base64 µs", "from base64 µs"
    );
    for (name, vector) in [("dense", dense), ("sparse", sparse)] {
        let reply = EmbedReply {
            vectors: Vectors::Float(vec![vector.clone()]),
            dim,
            model: Some("fake-embed".into()),
        };
        let (rounds, n) = (5, 20_000);
        let serde = time(rounds, n, || {
            black_box(serde_json::to_vec(&Success::new(black_box(&reply))).expect("encodes"));
        });
        let own = time(rounds, n, || {
            black_box(black_box(&reply).to_success_json());
        });
        let text = f32s_to_base64(&vector);
        let to_b64 = time(rounds, n, || {
            black_box(f32s_to_base64(black_box(&vector)));
        });
        let from_b64 = time(rounds, n, || {
            black_box(base64_to_f32s(black_box(&text)).expect("decodes"));
        });
        println!(
            "{name:<8} {serde:>13.2} {own:>13.2} {:>6.1}x {to_b64:>13.2} {from_b64:>14.2}",
            serde / own
        );
    }
}
