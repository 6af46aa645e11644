//! Int8 matrix products for decoding: `y = x · Wᵀ` where `W` is stored as signed bytes with one scale per
//! block of [`BLOCK`] weights, and the few rows of `x` (one per answer being written) are quantized the same
//! way on the fly.
//!
//! Why: decoding multiplies a handful of rows by every weight of the model, so its speed is how fast the
//! weights stream from memory and how much work each weight byte feeds. candle's quantized kernels take the
//! rows one at a time and so read every weight once per row; here each weight block is read once and
//! multiplied by all the rows while it sits in the cache, so a step for eight answers costs little more than
//! a step for one. Every row is still computed on its own (its own activation scales, the same order of
//! sums), so a row's result does not depend on which other rows share its step.
//!
//! [`rows`] holds the row-wise steps of the embedding model's encoder (bias + GELU, softmax, residual + layer
//! norm), fused and multi-threaded.
//!
//! A crate of its own so it is compiled with optimisations even in test builds (see the workspace's
//! `[profile.dev.package]`). The inner loops are plain slices the compiler vectorizes, except on builds for
//! AVX2 CPUs (`just serve` builds for the CPU it runs on), which use AVX2's byte multiply-adds: 1.5-1.9x the
//! plain loop here (`cargo run --release -p smartcourse-kernels --example speed` with
//! `RUSTFLAGS="-C target-cpu=native"`). That path has the workspace's only `unsafe`: one call into a
//! `#[target_feature]` function, in a module compiled only when the build requires those features anyway.

use rayon::prelude::*;

pub mod rows;

/// Weights per block; each block has its own scale.
pub const BLOCK: usize = 32;

/// Weight rows computed by one task: a few tens of kilobytes of weights, which stay in the core's cache while
/// every input row meets them.
const ROWS_PER_TASK: usize = 32;

/// A matrix of `rows × cols` weights as int8 blocks (cols padded to a whole block with zeros).
#[derive(Debug, Clone)]
pub struct Int8Matrix {
    rows: usize,
    cols: usize,
    blocks: usize,
    q: Vec<i8>,
    scales: Vec<f32>,
}

/// Quantizes `x` (whole blocks; the tail of the last block is zero) into `q` and one scale per block.
fn quantize_into(x: &[f32], q: &mut [i8], scales: &mut [f32]) {
    for ((qb, s), b) in q.chunks_exact_mut(BLOCK).zip(scales.iter_mut()).zip(0..) {
        let from = b * BLOCK;
        let xb = &x[from.min(x.len())..(from + BLOCK).min(x.len())];
        let max = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = max / 127.0;
        *s = scale;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        for (i, out) in qb.iter_mut().enumerate() {
            *out = xb.get(i).map_or(0, |v| (v * inv).round() as i8);
        }
    }
}

/// Sum of the products of two blocks, exactly (in i32).
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
)))]
#[inline(always)]
fn dot_block(a: &[i8], b: &[i8]) -> i32 {
    let mut sum = 0i32;
    for (x, y) in a[..BLOCK].iter().zip(&b[..BLOCK]) {
        sum += i32::from(i16::from(*x) * i16::from(*y));
    }
    sum
}

/// Dot product of a weight row with an input row (each as blocks and their scales), in plain Rust.
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
)))]
#[inline(always)]
fn dot_row(wq: &[i8], ws: &[f32], aq: &[i8], as_: &[f32]) -> f32 {
    let mut acc = 0f32;
    for ((wb, ab), (sw, sa)) in wq
        .chunks_exact(BLOCK)
        .zip(aq.chunks_exact(BLOCK))
        .zip(ws.iter().zip(as_))
    {
        acc += dot_block(wb, ab) as f32 * (sw * sa);
    }
    acc
}

/// AVX2 (when the build enables it, as `just serve`'s `-C target-cpu=native` does on such a CPU): 32 byte
/// products per instruction. `maddubs` multiplies unsigned by signed bytes, so the weight's sign moves onto
/// the input (`sign`) and its absolute value is the unsigned side; pairs add into i16 without saturating
/// (quantized values stay within ±127), `madd` with ones widens them to eight i32 sums, and each block's sums
/// are scaled into eight float accumulators, added up once per row. bytemuck moves the bytes into vectors; the
/// one `unsafe` is calling the `#[target_feature]` function, sound because this module only exists when the
/// whole build targets CPUs with AVX2 and FMA.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod simd {
    use super::BLOCK;
    use std::arch::x86_64::{
        __m256, __m256i, _mm256_cvtepi32_ps, _mm256_fmadd_ps, _mm256_madd_epi16,
        _mm256_maddubs_epi16, _mm256_set1_epi16, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_sign_epi8,
    };

    #[inline(always)]
    fn load(bytes: &[i8]) -> __m256i {
        let block: [i8; BLOCK] = bytes[..BLOCK].try_into().expect("a whole block");
        bytemuck::cast(block)
    }

    #[inline(always)]
    fn sum(v: __m256) -> f32 {
        let lanes: [f32; 8] = bytemuck::cast(v);
        lanes.iter().sum()
    }

    /// Dot product of a weight row with an input row (each as blocks and their scales).
    #[inline(always)]
    pub(super) fn dot_row(wq: &[i8], ws: &[f32], aq: &[i8], as_: &[f32]) -> f32 {
        #[expect(
            unsafe_code,
            reason = "calling a #[target_feature] function; this module is compiled only when the build enables AVX2 and FMA for every function"
        )]
        // SAFETY: the cfg on this module: the binary already requires AVX2 and FMA of the CPU it runs on.
        unsafe {
            dot_row_avx2(wq, ws, aq, as_)
        }
    }

    /// [`dot_row`] for four input rows at once: each weight block is loaded and made unsigned once.
    #[inline(always)]
    pub(super) fn dot_rows4(wq: &[i8], ws: &[f32], aq: [&[i8]; 4], as_: [&[f32]; 4]) -> [f32; 4] {
        #[expect(
            unsafe_code,
            reason = "calling a #[target_feature] function; this module is compiled only when the build enables AVX2 and FMA for every function"
        )]
        // SAFETY: as in `dot_row`.
        unsafe {
            dot_rows4_avx2(wq, ws, aq, as_)
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn dot_rows4_avx2(wq: &[i8], ws: &[f32], aq: [&[i8]; 4], as_: [&[f32]; 4]) -> [f32; 4] {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); 4];
        for (j, (wb, sw)) in wq.chunks_exact(BLOCK).zip(ws).enumerate() {
            let w = load(wb);
            let unsigned = _mm256_sign_epi8(w, w);
            for r in 0..4 {
                let a = load(&aq[r][j * BLOCK..(j + 1) * BLOCK]);
                let products = _mm256_maddubs_epi16(unsigned, _mm256_sign_epi8(a, w));
                let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones));
                acc[r] = _mm256_fmadd_ps(sums, _mm256_set1_ps(sw * as_[r][j]), acc[r]);
            }
        }
        acc.map(sum)
    }

    #[target_feature(enable = "avx2,fma")]
    fn dot_row_avx2(wq: &[i8], ws: &[f32], aq: &[i8], as_: &[f32]) -> f32 {
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_ps();
        for ((wb, ab), (sw, sa)) in wq
            .chunks_exact(BLOCK)
            .zip(aq.chunks_exact(BLOCK))
            .zip(ws.iter().zip(as_))
        {
            let w = load(wb);
            let a = load(ab);
            let products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
            let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones));
            acc = _mm256_fmadd_ps(sums, _mm256_set1_ps(sw * sa), acc);
        }
        sum(acc)
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
use simd::{dot_row, dot_rows4};

/// [`dot_row`] for four input rows.
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
)))]
#[inline(always)]
fn dot_rows4(wq: &[i8], ws: &[f32], aq: [&[i8]; 4], as_: [&[f32]; 4]) -> [f32; 4] {
    [0, 1, 2, 3].map(|r| dot_row(wq, ws, aq[r], as_[r]))
}

/// Rows of inputs quantized for [`Int8Matrix::matmul`].
struct Quantized {
    q: Vec<i8>,
    scales: Vec<f32>,
}

impl Int8Matrix {
    /// Quantizes a row-major `rows × cols` matrix.
    pub fn quantize(weights: &[f32], rows: usize, cols: usize) -> Int8Matrix {
        assert_eq!(weights.len(), rows * cols, "a {rows} × {cols} matrix");
        let blocks = cols.div_ceil(BLOCK);
        let mut q = vec![0i8; rows * blocks * BLOCK];
        let mut scales = vec![0f32; rows * blocks];
        q.par_chunks_mut(blocks * BLOCK)
            .zip(scales.par_chunks_mut(blocks))
            .zip(weights.par_chunks(cols.max(1)))
            .for_each(|((q, s), w)| quantize_into(w, q, s));
        Int8Matrix {
            rows,
            cols,
            blocks,
            q,
            scales,
        }
    }

    /// One matrix of the rows of `parts`, in order (all of the same width): several products of the same
    /// input then take one pass and quantize the input once.
    pub fn stack(parts: &[&Int8Matrix]) -> Int8Matrix {
        let cols = parts.first().map_or(0, |p| p.cols);
        assert!(
            parts.iter().all(|p| p.cols == cols),
            "stacked matrices differ in width"
        );
        Int8Matrix {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            blocks: cols.div_ceil(BLOCK),
            q: parts.iter().flat_map(|p| p.q.iter().copied()).collect(),
            scales: parts
                .iter()
                .flat_map(|p| p.scales.iter().copied())
                .collect(),
        }
    }

    /// Output rows (the number of weight rows).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes it takes.
    pub fn bytes(&self) -> usize {
        self.q.len() + 4 * self.scales.len()
    }

    /// Weight row `r` back as floats.
    pub fn row(&self, r: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.cols];
        self.dequantize_row(r, &mut out);
        out
    }

    fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let q = &self.q[r * self.blocks * BLOCK..(r + 1) * self.blocks * BLOCK];
        let s = &self.scales[r * self.blocks..(r + 1) * self.blocks];
        for (i, o) in out.iter_mut().enumerate() {
            *o = f32::from(q[i]) * s[i / BLOCK];
        }
    }

    /// The whole matrix back as floats (row-major `rows × cols`), for multiplying long prompt chunks densely.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        out.par_chunks_mut(self.cols.max(1))
            .enumerate()
            .for_each(|(r, o)| self.dequantize_row(r, o));
        out
    }

    fn quantize_inputs(&self, x: &[f32], m: usize) -> Quantized {
        let mut q = vec![0i8; m * self.blocks * BLOCK];
        let mut scales = vec![0f32; m * self.blocks];
        for ((qr, sr), xr) in q
            .chunks_exact_mut(self.blocks * BLOCK)
            .zip(scales.chunks_exact_mut(self.blocks))
            .zip(x.chunks_exact(self.cols))
        {
            quantize_into(xr, qr, sr);
        }
        Quantized { q, scales }
    }

    /// `y = x · Wᵀ` for `m` input rows: `x` is `m × cols`, `y` is `m × rows` (both row-major).
    pub fn matmul(&self, x: &[f32], m: usize, y: &mut [f32]) {
        assert_eq!(x.len(), m * self.cols, "{m} rows of {}", self.cols);
        assert_eq!(y.len(), m * self.rows, "{m} rows of {}", self.rows);
        if m == 0 || self.rows == 0 {
            return;
        }
        let input = self.quantize_inputs(x, m);
        let row_bytes = self.blocks * BLOCK;
        // Computed transposed (weight row by weight row, each task a contiguous run), then laid out as `y`.
        let mut yt = vec![0f32; self.rows * m];
        yt.par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each(|(task, out)| {
                let first = task * ROWS_PER_TASK;
                for (i, out_row) in out.chunks_exact_mut(m).enumerate() {
                    let r = first + i;
                    let wq = &self.q[r * row_bytes..(r + 1) * row_bytes];
                    let ws = &self.scales[r * self.blocks..(r + 1) * self.blocks];
                    let input_row = |b: usize| {
                        (
                            &input.q[b * row_bytes..(b + 1) * row_bytes],
                            &input.scales[b * self.blocks..(b + 1) * self.blocks],
                        )
                    };
                    // Four rows at a time share each weight block's loads; a row's sums are the same either way.
                    let mut b = 0;
                    while b + 4 <= m {
                        let rows = [b, b + 1, b + 2, b + 3].map(input_row);
                        let got = dot_rows4(wq, ws, rows.map(|r| r.0), rows.map(|r| r.1));
                        out_row[b..b + 4].copy_from_slice(&got);
                        b += 4;
                    }
                    for (i, o) in out_row[b..].iter_mut().enumerate() {
                        let (aq, as_) = input_row(b + i);
                        *o = dot_row(wq, ws, aq, as_);
                    }
                }
            });
        for (r, col) in yt.chunks_exact(m).enumerate() {
            for (b, v) in col.iter().enumerate() {
                y[b * self.rows + r] = *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stacked_matrix_gives_each_part_its_own_columns() {
        let cols = 70; // not a whole number of blocks
        let weights = |rows: usize, seed: usize| -> Vec<f32> {
            (0..rows * cols)
                .map(|i| (((i + seed) * 7919) % 211) as f32 / 50.0 - 2.0)
                .collect()
        };
        let (a, b) = (weights(5, 1), weights(3, 2));
        let (ma, mb) = (
            Int8Matrix::quantize(&a, 5, cols),
            Int8Matrix::quantize(&b, 3, cols),
        );
        let both = Int8Matrix::stack(&[&ma, &mb]);
        assert_eq!((both.rows(), both.cols()), (8, cols));
        let x: Vec<f32> = (0..2 * cols).map(|i| (i % 13) as f32 / 6.0 - 1.0).collect();
        let (mut ya, mut yb, mut y) = (vec![0f32; 2 * 5], vec![0f32; 2 * 3], vec![0f32; 2 * 8]);
        ma.matmul(&x, 2, &mut ya);
        mb.matmul(&x, 2, &mut yb);
        both.matmul(&x, 2, &mut y);
        for r in 0..2 {
            assert_eq!(&y[r * 8..r * 8 + 5], &ya[r * 5..r * 5 + 5]);
            assert_eq!(&y[r * 8 + 5..r * 8 + 8], &yb[r * 3..r * 3 + 3]);
        }
    }

    fn reference(w: &[f32], x: &[f32], rows: usize, cols: usize, m: usize) -> Vec<f32> {
        let mut y = vec![0f32; m * rows];
        for b in 0..m {
            for r in 0..rows {
                y[b * rows + r] = (0..cols).map(|c| x[b * cols + c] * w[r * cols + c]).sum();
            }
        }
        y
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn the_product_matches_floats_within_int8_error() {
        // 70 columns: not a whole number of blocks; 75 rows: not a whole number of tasks.
        let (rows, cols, m) = (75, 70, 3);
        let w = pseudo(rows * cols, 1);
        let x = pseudo(m * cols, 2);
        let a = Int8Matrix::quantize(&w, rows, cols);
        let mut y = vec![0f32; m * rows];
        a.matmul(&x, m, &mut y);
        let want = reference(&w, &x, rows, cols, m);
        for (i, (g, r)) in y.iter().zip(&want).enumerate() {
            assert!((g - r).abs() < 0.02, "element {i}: {g} vs {r}");
        }
    }

    #[test]
    fn a_row_gets_the_same_result_alone_or_with_others() {
        let (rows, cols) = (40, 96);
        let a = Int8Matrix::quantize(&pseudo(rows * cols, 3), rows, cols);
        let x = pseudo(4 * cols, 4);
        let mut together = vec![0f32; 4 * rows];
        a.matmul(&x, 4, &mut together);
        for b in 0..4 {
            let mut alone = vec![0f32; rows];
            a.matmul(&x[b * cols..(b + 1) * cols], 1, &mut alone);
            assert_eq!(alone, together[b * rows..(b + 1) * rows], "row {b}");
        }
    }

    #[test]
    fn dequantized_weights_are_close_to_the_originals() {
        let (rows, cols) = (5, 40);
        let w = pseudo(rows * cols, 5);
        let a = Int8Matrix::quantize(&w, rows, cols);
        let back = a.dequantize();
        assert_eq!(back.len(), w.len());
        for (x, y) in w.iter().zip(&back) {
            assert!((x - y).abs() <= 0.5 / 127.0 * 0.5 + 1e-6, "{x} vs {y}");
        }
        assert_eq!(a.row(2), back[2 * cols..3 * cols]);
        // A zero block stays zero (no division by a zero scale).
        let z = Int8Matrix::quantize(&[0.0; 64], 1, 64);
        assert_eq!(z.dequantize(), vec![0.0; 64]);
    }
}
