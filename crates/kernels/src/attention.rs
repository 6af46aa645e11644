//! Attention of one new token over a sequence's key/value cache (decoding), on plain slices.
//!
//! Why: a tensor library runs this step as a dozen small operations per sequence and layer (reshape,
//! transpose, two small matrix products with packing, a softmax), each allocating; over a cache of a thousand
//! tokens that was a fifth of a decoding step for the tutor's model. Here each query head is one pass over
//! its key rows, one softmax and one pass over its value rows, heads split over the thread pool.

use rayon::prelude::*;

use crate::rows::exp;

/// A sequence's cache of keys or values for one layer: `kv_heads` heads of rows of `d` floats, row `j` of
/// head `g` starting at `offset + g·head_stride + j·row_stride`.
#[derive(Debug, Clone, Copy)]
pub struct Cache<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub head_stride: usize,
    pub row_stride: usize,
}

impl Cache<'_> {
    #[inline(always)]
    fn row(&self, head: usize, j: usize, d: usize) -> &[f32] {
        let at = self.offset + head * self.head_stride + j * self.row_stride;
        &self.data[at..at + d]
    }
}

/// The shape of a layer's attention.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (query head `h` reads key/value head `h / (heads / kv_heads)`).
    pub kv_heads: usize,
    /// Floats per head.
    pub d: usize,
}

/// Dot product in eight lanes (the compiler vectorises it).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `out` (heads × d) = softmax(q · Kᵀ / √d) · V for one token's queries `q` (heads × d) over the first
/// `len` rows of the cache. Each head is computed on its own, so a head's result does not depend on the
/// others or on the thread count.
pub fn attend_one(
    q: &[f32],
    keys: Cache<'_>,
    values: Cache<'_>,
    shape: Heads,
    len: usize,
    out: &mut [f32],
) {
    let Heads { heads, kv_heads, d } = shape;
    assert!(
        kv_heads > 0 && heads % kv_heads == 0,
        "{heads} heads over {kv_heads}"
    );
    assert_eq!(q.len(), heads * d, "queries");
    assert_eq!(out.len(), heads * d, "output");
    if len == 0 {
        out.fill(0.0);
        return;
    }
    let rep = heads / kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    out.par_chunks_mut(d).enumerate().for_each(|(h, o)| {
        let g = h / rep;
        let qh = &q[h * d..(h + 1) * d];
        let mut p: Vec<f32> = (0..len)
            .map(|j| dot(qh, keys.row(g, j, d)) * scale)
            .collect();
        let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0f32;
        for v in p.iter_mut() {
            *v = exp(*v - max);
            total += *v;
        }
        o.fill(0.0);
        for (j, pj) in p.iter().enumerate() {
            for (o, v) in o.iter_mut().zip(values.row(g, j, d)) {
                *o = pj.mul_add(*v, *o);
            }
        }
        let inv = 1.0 / total;
        for o in o.iter_mut() {
            *o *= inv;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn one_token_attends_as_the_textbook_formula_says() {
        // 6 query heads over 2 key/value heads of 20 floats; a cache with room for 9 rows holding 7, its heads
        // laid out one after the other as a growing cache keeps them.
        let shape = Heads {
            heads: 6,
            kv_heads: 2,
            d: 20,
        };
        let (cap, len) = (9, 7);
        let k = pseudo(2 * cap * 20 + 5, 1);
        let v = pseudo(2 * cap * 20 + 5, 2);
        let cache = |data| Cache {
            data,
            offset: 5,
            head_stride: cap * 20,
            row_stride: 20,
        };
        let q: Vec<f32> = pseudo(6 * 20, 3).iter().map(|x| x * 3.0).collect();
        let mut out = vec![f32::NAN; 6 * 20];
        attend_one(&q, cache(&k), cache(&v), shape, len, &mut out);
        for h in 0..6 {
            let g = h / 3;
            let row = |m: &[f32], j: usize| m[5 + g * cap * 20 + j * 20..][..20].to_vec();
            let scores: Vec<f64> = (0..len)
                .map(|j| {
                    let kj = row(&k, j);
                    (0..20)
                        .map(|i| f64::from(q[h * 20 + i]) * f64::from(kj[i]))
                        .sum::<f64>()
                        / 20f64.sqrt()
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = e.iter().sum();
            for i in 0..20 {
                let want: f64 = (0..len)
                    .map(|j| e[j] / total * f64::from(row(&v, j)[i]))
                    .sum();
                let got = f64::from(out[h * 20 + i]);
                assert!((got - want).abs() < 1e-5, "head {h}, {i}: {got} vs {want}");
            }
        }
    }
}
