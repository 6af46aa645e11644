//! `cargo run --release -p smartcourse-kernels --example speed`: the quantized product on a 4864 × 896 matrix
//! (one of the tutor model's feed-forward weights) for 1, 2, 4 and 8 rows, with int8 blocks and with GGUF's
//! Q5_0 blocks; then one decoding token's attention over a 1,000-token cache in the tutor model's shape.
use smartcourse_kernels::BlockMatrix;
use smartcourse_kernels::attention::{Cache, Heads, attend_one};
use std::time::Instant;

fn main() {
    // SPEED_ROWS=38912 makes a matrix far bigger than the caches (decoding streams the whole model).
    let rows = std::env::var("SPEED_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4864);
    let cols = 896;
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let int8 = BlockMatrix::quantize(&w, rows, cols);
    // Q5_0 blocks of arbitrary weights: an f16 scale of 2^-5, then 20 bytes of bits.
    let blocks = rows * cols / 32;
    let raw: Vec<u8> = (0..blocks)
        .flat_map(|b| {
            let mut block = vec![0x00, 0x28];
            block.extend((0..20).map(|i| ((b * 31 + i * 17) % 251) as u8));
            block
        })
        .collect();
    let five = BlockMatrix::from_q5_0(&raw, rows, cols).expect("whole blocks");
    for (name, matrix) in [("int8", &int8), ("Q5_0", &five)] {
        for m in [1, 2, 4, 8] {
            let x: Vec<f32> = (0..m * cols)
                .map(|i| ((i * 104_729) % 997) as f32 / 997.0 - 0.5)
                .collect();
            let mut y = vec![0f32; m * rows];
            matrix.matmul(&x, m, &mut y);
            let n = 200;
            let t = Instant::now();
            for _ in 0..n {
                matrix.matmul(&x, m, &mut y);
            }
            let s = t.elapsed().as_secs_f64() / n as f64;
            println!(
                "{name} m={m}: {:.3} ms per product, {:.1} G multiply-adds/s, {:.1} GB/s of weights",
                s * 1000.0,
                (m * rows * cols) as f64 / s / 1e9,
                matrix.bytes() as f64 / s / 1e9
            );
        }
    }
    // Qwen2.5-0.5B: 14 query heads over 2 key/value heads of 64; one layer's cache of 1,000 tokens.
    let shape = Heads {
        heads: 14,
        kv_heads: 2,
        d: 64,
    };
    let len = 1000;
    let cache: Vec<f32> = (0..2 * len * 64)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let rows = Cache {
        data: &cache,
        offset: 0,
        head_stride: len * 64,
        row_stride: 64,
    };
    let q: Vec<f32> = (0..14 * 64).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect();
    let mut out = vec![0f32; 14 * 64];
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        attend_one(&q, rows, rows, shape, len, &mut out);
    }
    let s = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "attention, one token over {len}: {:.1} µs per layer ({:.1} G multiply-adds/s; 24 layers: {:.2} ms per token)",
        s * 1e6,
        (2 * 14 * len * 64) as f64 / s / 1e9,
        s * 24.0 * 1000.0
    );
}
