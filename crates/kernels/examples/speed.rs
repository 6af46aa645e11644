//! `cargo run --release -p smartcourse-kernels --example speed`: the quantized product on a 4864 × 896 matrix
//! (one of the tutor model's feed-forward weights) for 1, 2, 4 and 8 rows, with int8 blocks and with GGUF's
//! Q5_0 blocks.
use smartcourse_kernels::BlockMatrix;
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
}
