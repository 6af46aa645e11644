//! `cargo run --release -p smartcourse-kernels --example speed`: the int8 product on a 4864 × 896 matrix (one
//! of the tutor model's feed-forward weights) for 1, 2, 4 and 8 rows.
use smartcourse_kernels::Int8Matrix;
use std::time::Instant;

fn main() {
    let (rows, cols) = (4864, 896);
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let m8 = Int8Matrix::quantize(&w, rows, cols);
    for m in [1, 2, 4, 8] {
        let x: Vec<f32> = (0..m * cols)
            .map(|i| ((i * 104_729) % 997) as f32 / 997.0 - 0.5)
            .collect();
        let mut y = vec![0f32; m * rows];
        m8.matmul(&x, m, &mut y);
        let n = 200;
        let t = Instant::now();
        for _ in 0..n {
            m8.matmul(&x, m, &mut y);
        }
        let s = t.elapsed().as_secs_f64() / n as f64;
        println!(
            "m={m}: {:.3} ms per product, {:.1} G multiply-adds/s, {:.1} GB/s of weights",
            s * 1000.0,
            (m * rows * cols) as f64 / s / 1e9,
            m8.bytes() as f64 / s / 1e9
        );
    }
}
