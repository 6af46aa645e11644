//! Row-wise steps of an encoder layer on plain `f32` slices: bias + exact GELU, residual + bias + layer norm,
//! softmax. Each is one pass over the data, split over the thread pool by rows, in straight-line arithmetic the
//! compiler vectorises (the exponential is a polynomial here, not a call into libm, so that it can).
//!
//! Why: an encoder's matrix products run at the cores' speed in a BLAS-style kernel, but a tensor library
//! that runs each element-wise step as its own single-threaded pass over a freshly allocated tensor spends as
//! long again around them (BENCHMARKS.md, embeddings). Fused, they cost a few percent.

use rayon::prelude::*;

/// Rows handed to one task: enough work (tens of thousands of elements) to outweigh the hand-off.
fn rows_per_task(cols: usize) -> usize {
    (32_768 / cols.max(1)).max(1)
}

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split into a part with a short mantissa and the rest.
const LN_2_HI: f32 = f32::from_bits(0x3F31_8000); // 0.693359375
const LN_2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2²³: adding and subtracting it rounds an f32 of magnitude below 2²² to the nearest integer.
const ROUNDER: f32 = 12_582_912.0;

/// `eˣ`, relative error below 3·10⁻⁷ over the whole f32 range (inputs are clamped to [-87, 88], where the
/// result stays a normal number; below that it is about 1.6·10⁻³⁸ rather than 0).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // eˣ = 2ⁿ · e^g with n = round(x·log₂e) and |g| ≤ ln2/2.
    let n = (x * LOG2_E + ROUNDER) - ROUNDER;
    // g = x - n·ln2 in two steps (Cody and Waite): `LN_2_HI` has few enough bits that n·LN_2_HI is exact.
    let g = (x - n * LN_2_HI) - n * LN_2_LO;
    // Taylor series to degree 7 (the next term is below 1.1·10⁻⁸ for |g| ≤ 0.347), in Horner form.
    let p = 1.0
        + g * (1.0
            + g * (0.5
                + g * (1.0 / 6.0
                    + g * (1.0 / 24.0
                        + g * (1.0 / 120.0 + g * (1.0 / 720.0 + g * (1.0 / 5040.0)))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// The error function, absolute error below 2.5·10⁻⁷ (Abramowitz and Stegun's formula 7.1.26).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let far = 1.0 - poly * exp(-a * a);
    // Near 0 that formula subtracts two numbers close to 1; its Taylor series is exact to f32 there.
    let s = a * a;
    let near = std::f32::consts::FRAC_2_SQRT_PI
        * a
        * (1.0
            + s * (-1.0 / 3.0
                + s * (1.0 / 10.0 + s * (-1.0 / 42.0 + s * (1.0 / 216.0 + s * (-1.0 / 1320.0))))));
    let y = if a < 0.5 { near } else { far };
    y.copysign(x)
}

/// GELU in its exact form, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, as BERT models are trained with.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `x[r] = gelu(x[r] + bias)` for every row `r` of `x` (`bias.len()` columns).
pub fn bias_gelu(x: &mut [f32], bias: &[f32]) {
    let cols = bias.len();
    assert_eq!(x.len() % cols, 0, "rows of {cols}");
    x.par_chunks_mut(rows_per_task(cols) * cols)
        .for_each(|rows| {
            for row in rows.chunks_exact_mut(cols) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v = gelu(*v + b);
                }
            }
        });
}

/// Sum of a slice with eight running sums, so the loop vectorises (the order of additions is fixed, so the
/// result is the same on every run).
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// The parameters of a layer norm over rows of `gamma.len()` columns.
#[derive(Debug, Clone, Copy)]
pub struct Norm<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f32,
}

/// `x[r] = norm(x[r] + add[r] + bias)` for every row: a sublayer's output with its bias and the residual
/// (`add`) added, then normalised (mean 0, variance 1, then scaled by `gamma` and shifted by `beta`).
pub fn residual_norm(x: &mut [f32], add: &[f32], bias: &[f32], norm: Norm<'_>) {
    let cols = norm.gamma.len();
    assert_eq!(x.len(), add.len(), "residual shape");
    assert_eq!(bias.len(), cols, "bias length");
    assert_eq!(norm.beta.len(), cols, "beta length");
    let per_task = rows_per_task(cols) * cols;
    x.par_chunks_mut(per_task)
        .zip(add.par_chunks(per_task))
        .for_each(|(rows, adds)| {
            for (row, a) in rows.chunks_exact_mut(cols).zip(adds.chunks_exact(cols)) {
                for ((v, a), b) in row.iter_mut().zip(a).zip(bias) {
                    *v += a + b;
                }
                normalise(row, norm);
            }
        });
}

/// Layer norm of every row of `x` in place.
pub fn layer_norm(x: &mut [f32], norm: Norm<'_>) {
    let cols = norm.gamma.len();
    assert_eq!(x.len() % cols, 0, "rows of {cols}");
    x.par_chunks_mut(rows_per_task(cols) * cols)
        .for_each(|rows| rows.chunks_exact_mut(cols).for_each(|r| normalise(r, norm)));
}

#[inline(always)]
fn normalise(row: &mut [f32], norm: Norm<'_>) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    for v in row.iter_mut() {
        *v -= mean;
    }
    let mut sq = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|v| v * v).sum();
    for c in chunks {
        for (a, v) in sq.iter_mut().zip(c) {
            *a += v * v;
        }
    }
    let var = (sq.iter().sum::<f32>() + rest) / n;
    let inv = 1.0 / (var + norm.eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(norm.gamma).zip(norm.beta) {
        *v = *v * inv * g + b;
    }
}

/// Softmax of every row of `cols` columns in place.
pub fn softmax(x: &mut [f32], cols: usize) {
    assert_eq!(x.len() % cols.max(1), 0, "rows of {cols}");
    if cols == 0 {
        return;
    }
    x.par_chunks_mut(rows_per_task(cols) * cols)
        .for_each(|rows| {
            for row in rows.chunks_exact_mut(cols) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                for v in row.iter_mut() {
                    *v = exp(*v - max);
                }
                let inv = 1.0 / sum(row);
                for v in row.iter_mut() {
                    *v *= inv;
                }
            }
        });
}

/// Attention's inputs laid out per head, from one product's rows `[queries | keys | values]` (`n` rows of
/// `3·heads·d`) and its bias: queries `(heads, n, d)` multiplied by `scale`, keys transposed `(heads, d, n)`,
/// values `(heads, n, d)`, so that both of attention's products are plain `a · b`.
pub fn split_heads(
    qkv: &[f32],
    bias: &[f32],
    heads: usize,
    scale: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let h = bias.len() / 3;
    let d = h / heads.max(1);
    assert_eq!(heads * d * 3, bias.len(), "{heads} heads of {d}");
    assert_eq!(qkv.len() % bias.len(), 0, "rows of {}", bias.len());
    let n = qkv.len() / bias.len();
    let (mut q, mut kt, mut v) = (vec![0f32; n * h], vec![0f32; n * h], vec![0f32; n * h]);
    for (t, row) in qkv.chunks_exact(3 * h).enumerate() {
        for hd in 0..heads {
            let c = hd * d;
            let out = (hd * n + t) * d;
            for j in 0..d {
                q[out + j] = (row[c + j] + bias[c + j]) * scale;
                v[out + j] = row[2 * h + c + j] + bias[2 * h + c + j];
                kt[(c + j) * n + t] = row[h + c + j] + bias[h + c + j];
            }
        }
    }
    (q, kt, v)
}

/// Heads side by side again: `(heads, n, d)` → `(n, heads·d)`.
pub fn merge_heads(x: &[f32], heads: usize, n: usize) -> Vec<f32> {
    let d = x.len() / (heads * n).max(1);
    let h = heads * d;
    let mut out = vec![0f32; n * h];
    for hd in 0..heads {
        for t in 0..n {
            out[t * h + hd * d..t * h + (hd + 1) * d]
                .copy_from_slice(&x[(hd * n + t) * d..(hd * n + t + 1) * d]);
        }
    }
    out
}

/// The sum of the rows of `x` (rows of `cols`).
pub fn column_sums(x: &[f32], cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; cols];
    for row in x.chunks_exact(cols.max(1)) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_split_and_merge_back() {
        let (heads, d, n) = (3, 4, 5);
        let h = heads * d;
        let qkv: Vec<f32> = (0..n * 3 * h).map(|i| i as f32).collect();
        let bias: Vec<f32> = (0..3 * h).map(|i| i as f32 * 0.5).collect();
        let (q, kt, v) = split_heads(&qkv, &bias, heads, 2.0);
        for t in 0..n {
            for hd in 0..heads {
                for j in 0..d {
                    let c = hd * d + j;
                    let at = |part: usize| qkv[t * 3 * h + part * h + c] + bias[part * h + c];
                    assert_eq!(q[(hd * n + t) * d + j], at(0) * 2.0);
                    assert_eq!(kt[(hd * d + j) * n + t], at(1));
                    assert_eq!(v[(hd * n + t) * d + j], at(2));
                }
            }
        }
        // Merging the values gives back the value columns of each row, bias added.
        let merged = merge_heads(&v, heads, n);
        for t in 0..n {
            for c in 0..h {
                assert_eq!(
                    merged[t * h + c],
                    qkv[t * 3 * h + 2 * h + c] + bias[2 * h + c]
                );
            }
        }
        assert_eq!(
            column_sums(&merged, h)[1],
            (0..n).map(|t| merged[t * h + 1]).sum::<f32>()
        );
    }

    #[test]
    fn exp_matches_libm_across_the_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = exp(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn erf_and_gelu_match_their_definitions() {
        // erf against a series that converges well for |x| ≤ 3 (in f64), GELU's known values.
        let series = |x: f64| {
            let (mut term, mut total) = (x, x);
            for n in 1..200 {
                term *= -x * x / n as f64;
                total += term / (2 * n + 1) as f64;
            }
            total * 2.0 / std::f64::consts::PI.sqrt()
        };
        let mut worst = 0f64;
        let mut x = -3.0f32;
        while x <= 3.0 {
            let err = (erf(x) as f64 - series(x as f64)).abs();
            worst = worst.max(err);
            assert!(err < 2.5e-7, "erf({x}) off by {err}");
            x += 0.01;
        }
        eprintln!("erf: worst {worst:e}");
        assert!((erf(6.0) - 1.0).abs() < 1e-7 && (erf(-6.0) + 1.0).abs() < 1e-7);
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6, "{}", gelu(1.0));
        assert!((gelu(-1.0) + 0.158_655_25).abs() < 1e-6, "{}", gelu(-1.0));
        assert_eq!(gelu(0.0), 0.0);
    }

    #[test]
    fn residual_norm_normalises_each_row_on_its_own() {
        let cols = 48;
        let rows = 2000; // more than one task's worth, so the split is exercised
        let x0: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37) % 101) as f32 * 0.1)
            .collect();
        let add: Vec<f32> = (0..rows * cols).map(|i| ((i * 13) % 7) as f32).collect();
        let bias: Vec<f32> = (0..cols).map(|c| c as f32 * 0.01).collect();
        let gamma: Vec<f32> = (0..cols).map(|c| 1.0 + c as f32 * 0.1).collect();
        let beta: Vec<f32> = (0..cols).map(|c| -(c as f32)).collect();
        let norm = Norm {
            gamma: &gamma,
            beta: &beta,
            eps: 1e-12,
        };
        let mut x = x0.clone();
        residual_norm(&mut x, &add, &bias, norm);
        for r in [0, 1, rows / 2, rows - 1] {
            let v: Vec<f64> = (0..cols)
                .map(|c| (x0[r * cols + c] + add[r * cols + c] + bias[c]) as f64)
                .collect();
            let mean = v.iter().sum::<f64>() / cols as f64;
            let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / cols as f64;
            for c in 0..cols {
                let want = (v[c] - mean) / (var + 1e-12).sqrt() * gamma[c] as f64 + beta[c] as f64;
                let got = x[r * cols + c] as f64;
                assert!(
                    (got - want).abs() < 1e-4,
                    "row {r} col {c}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let cols = 130;
        let mut x: Vec<f32> = (0..cols * 300)
            .map(|i| ((i * 7919) % 613) as f32 * 0.05 - 12.0)
            .collect();
        let x0 = x.clone();
        softmax(&mut x, cols);
        for (row, row0) in x.chunks(cols).zip(x0.chunks(cols)) {
            let total: f32 = row.iter().sum();
            assert!((total - 1.0).abs() < 1e-5, "{total}");
            let max = row0.iter().copied().fold(f32::MIN, f32::max);
            let want: Vec<f64> = row0.iter().map(|v| ((v - max) as f64).exp()).collect();
            let z: f64 = want.iter().sum();
            for (g, w) in row.iter().zip(&want) {
                assert!((*g as f64 - w / z).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn bias_gelu_adds_the_bias_per_column() {
        let bias = [1.0f32, -2.0, 0.5];
        let mut x = vec![0.0f32; 3 * 5000];
        bias_gelu(&mut x, &bias);
        for row in x.chunks(3) {
            for (v, b) in row.iter().zip(&bias) {
                assert_eq!(*v, gelu(*b));
            }
        }
    }
}
