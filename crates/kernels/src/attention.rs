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

/// `p[j] = q · key row j · scale` for the first `p.len()` rows of head `g`.
///
/// For heads of `D` floats (a multiple of 8) four key rows are taken at a time: four independent sums in
/// eight lanes each, the query's lanes loaded once for the four.
#[inline(always)]
fn scores<const D: usize>(q: &[f32], keys: &Cache<'_>, g: usize, scale: f32, p: &mut [f32]) {
    let len = p.len();
    let q: &[f32; D] = q[..D].try_into().expect("a head of D floats");
    let mut j = 0;
    while j + 4 <= len {
        let rows: [&[f32; D]; 4] = std::array::from_fn(|k| {
            keys.row(g, j + k, D)
                .try_into()
                .expect("a key row of D floats")
        });
        let mut acc = [[0f32; 8]; 4];
        for c in (0..D).step_by(8) {
            for (acc, row) in acc.iter_mut().zip(rows) {
                for i in 0..8 {
                    acc[i] = q[c + i].mul_add(row[c + i], acc[i]);
                }
            }
        }
        for (k, acc) in acc.iter().enumerate() {
            p[j + k] = acc.iter().sum::<f32>() * scale;
        }
        j += 4;
    }
    for (j, p) in p.iter_mut().enumerate().skip(j) {
        *p = dot(q, keys.row(g, j, D)) * scale;
    }
}

/// `p` becomes softmax(`p`), in eight lanes for the maximum and the sum (a single running sum would make
/// every addition wait for the one before).
#[inline(always)]
fn softmax(p: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = p.chunks_exact(8);
    let mut max = chunks
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        for i in 0..8 {
            lanes[i] = lanes[i].max(c[i]);
        }
    }
    max = lanes.iter().copied().fold(max, f32::max);
    for v in p.iter_mut() {
        *v = exp(*v - max);
    }
    let mut sums = [0f32; 8];
    let chunks = p.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            sums[i] += c[i];
        }
    }
    let inv = 1.0 / (sums.iter().sum::<f32>() + rest);
    for v in p.iter_mut() {
        *v *= inv;
    }
}

/// `o = Σ_j p[j] · value row j` of head `g`, the `D` sums held in registers over all the rows.
#[inline(always)]
fn weighted<const D: usize>(p: &[f32], values: &Cache<'_>, g: usize, o: &mut [f32]) {
    let mut acc = [0f32; D];
    for (j, pj) in p.iter().enumerate() {
        let row: &[f32; D] = values
            .row(g, j, D)
            .try_into()
            .expect("a value row of D floats");
        for i in 0..D {
            acc[i] = pj.mul_add(row[i], acc[i]);
        }
    }
    o.copy_from_slice(&acc);
}

/// One query head over its key/value head `g`, for any head width.
fn head_any(
    q: &[f32],
    keys: &Cache<'_>,
    values: &Cache<'_>,
    g: usize,
    scale: f32,
    p: &mut [f32],
    o: &mut [f32],
) {
    let d = o.len();
    for (j, p) in p.iter_mut().enumerate() {
        *p = dot(q, keys.row(g, j, d)) * scale;
    }
    softmax(p);
    o.fill(0.0);
    for (j, pj) in p.iter().enumerate() {
        for (o, v) in o.iter_mut().zip(values.row(g, j, d)) {
            *o = pj.mul_add(*v, *o);
        }
    }
}

/// One query head of `D` floats.
#[inline(always)]
fn head<const D: usize>(
    q: &[f32],
    keys: &Cache<'_>,
    values: &Cache<'_>,
    g: usize,
    scale: f32,
    p: &mut [f32],
    o: &mut [f32],
) {
    scores::<D>(q, keys, g, scale, p);
    softmax(p);
    weighted::<D>(p, values, g, o);
}

/// Rotary position embedding of one token's heads, in place: `x` holds heads of `d` floats, `cos` and `sin`
/// the token position's `d / 2` angles. `interleaved`: pairs are neighbours (Llama's GGUF layout), else the
/// two halves of a head (Qwen2). The same arithmetic as candle's `rope_i` / `rope`, so a token rotated here
/// or there gets the same bits.
pub fn rope(x: &mut [f32], d: usize, cos: &[f32], sin: &[f32], interleaved: bool) {
    let half = d / 2;
    assert!(
        d.is_multiple_of(2) && cos.len() >= half && sin.len() >= half,
        "angles for a head of {d}"
    );
    assert!(x.len().is_multiple_of(d), "whole heads of {d}");
    for head in x.chunks_exact_mut(d) {
        for i in 0..half {
            let (i1, i2) = if interleaved {
                (2 * i, 2 * i + 1)
            } else {
                (i, i + half)
            };
            let (a, b) = (head[i1], head[i2]);
            head[i1] = a * cos[i] - b * sin[i];
            head[i2] = a * sin[i] + b * cos[i];
        }
    }
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
    attend_many(
        &[Query {
            q,
            keys,
            values,
            len,
        }],
        shape,
        out,
    );
}

/// One decoding token of one sequence: its queries and its caches of `len` rows.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// `heads × d` floats.
    pub q: &'a [f32],
    pub keys: Cache<'a>,
    pub values: Cache<'a>,
    pub len: usize,
}

/// [`attend_one`] for several sequences in one hand-off to the thread pool (every head of every sequence a
/// task): `out` holds each sequence's `heads × d` results one after another.
pub fn attend_many(queries: &[Query<'_>], shape: Heads, out: &mut [f32]) {
    let Heads { heads, kv_heads, d } = shape;
    assert!(
        kv_heads > 0 && heads % kv_heads == 0,
        "{heads} heads over {kv_heads}"
    );
    assert_eq!(out.len(), queries.len() * heads * d, "output");
    for query in queries {
        assert_eq!(query.q.len(), heads * d, "queries");
    }
    let rep = heads / kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    out.par_chunks_mut(d).enumerate().for_each(|(task, o)| {
        let (query, h) = (&queries[task / heads], task % heads);
        if query.len == 0 {
            o.fill(0.0);
            return;
        }
        let g = h / rep;
        let qh = &query.q[h * d..(h + 1) * d];
        let mut p = vec![0f32; query.len];
        let (k, v) = (&query.keys, &query.values);
        match d {
            64 => head::<64>(qh, k, v, g, scale, &mut p, o),
            128 => head::<128>(qh, k, v, g, scale, &mut p, o),
            _ => head_any(qh, k, v, g, scale, &mut p, o),
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

    /// A cache of heads of `cap` rows of `d` floats each, one head after the other from `offset`.
    fn rows(data: &[f32], offset: usize, cap: usize, d: usize) -> Cache<'_> {
        Cache {
            data,
            offset,
            head_stride: cap * d,
            row_stride: d,
        }
    }

    #[test]
    fn one_token_attends_as_the_textbook_formula_says() {
        // 6 query heads over 2 key/value heads; a cache with room for 9 rows holding 7 (not a multiple of the
        // four rows taken at a time), its heads laid out one after the other as a growing cache keeps them.
        // Heads of 20 floats take the general path, of 64 and 128 the fixed-width ones.
        for d in [20, 64, 128] {
            let shape = Heads {
                heads: 6,
                kv_heads: 2,
                d,
            };
            let (cap, len) = (9, 7);
            let k = pseudo(2 * cap * d + 5, 1);
            let v = pseudo(2 * cap * d + 5, 2);
            let cache = |data| rows(data, 5, cap, d);
            let q: Vec<f32> = pseudo(6 * d, 3).iter().map(|x| x * 3.0).collect();
            let mut out = vec![f32::NAN; 6 * d];
            attend_one(&q, cache(&k), cache(&v), shape, len, &mut out);
            for h in 0..6 {
                let g = h / 3;
                let row = |m: &[f32], j: usize| m[5 + g * cap * d + j * d..][..d].to_vec();
                let scores: Vec<f64> = (0..len)
                    .map(|j| {
                        let kj = row(&k, j);
                        (0..d)
                            .map(|i| f64::from(q[h * d + i]) * f64::from(kj[i]))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = e.iter().sum();
                for i in 0..d {
                    let want: f64 = (0..len)
                        .map(|j| e[j] / total * f64::from(row(&v, j)[i]))
                        .sum();
                    let got = f64::from(out[h * d + i]);
                    assert!(
                        (got - want).abs() < 1e-5,
                        "d {d}, head {h}, {i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn rope_turns_each_pair_by_its_angle() {
        // Two heads of 4: pairs (0, 1) and (2, 3) interleaved, (0, 2) and (1, 3) in halves.
        let (cos, sin) = ([0.0f32, 0.6], [1.0f32, 0.8]);
        let mut x = [1.0f32, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, -2.0];
        rope(&mut x, 4, &cos, &sin, true);
        // Pair (a, b) at angle (cos, sin) becomes (a·cos − b·sin, a·sin + b·cos).
        assert_eq!(
            x,
            [
                -2.0,
                1.0,
                3.0 * 0.6 - 4.0 * 0.8,
                3.0 * 0.8 + 4.0 * 0.6,
                -0.5,
                -1.0,
                2.0 * 0.6 + 2.0 * 0.8,
                2.0 * 0.8 - 2.0 * 0.6
            ]
        );
        let mut y = [1.0f32, 2.0, 3.0, 4.0];
        rope(&mut y, 4, &cos, &sin, false);
        assert_eq!(y, [-3.0, 2.0 * 0.6 - 4.0 * 0.8, 1.0, 2.0 * 0.8 + 4.0 * 0.6]);
    }

    #[test]
    fn many_sequences_at_once_get_what_each_gets_alone() {
        // Heads of 64 and 128 (the four-rows-at-a-time path) over caches of 1, 6 and 13 rows (not multiples of
        // four), and a head width of 20 (the general path).
        for d in [64, 128, 20] {
            let shape = Heads {
                heads: 4,
                kv_heads: 2,
                d,
            };
            let lens = [1usize, 6, 13];
            let data: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = lens
                .iter()
                .enumerate()
                .map(|(i, len)| {
                    let i = i as u32;
                    (
                        pseudo(4 * d, 10 + i),
                        pseudo(2 * len * d, 20 + i),
                        pseudo(2 * len * d, 30 + i),
                    )
                })
                .collect();
            let queries: Vec<Query<'_>> = data
                .iter()
                .zip(lens)
                .map(|((q, k, v), len)| Query {
                    q,
                    keys: rows(k, 0, len, d),
                    values: rows(v, 0, len, d),
                    len,
                })
                .collect();
            let mut together = vec![f32::NAN; 3 * 4 * d];
            attend_many(&queries, shape, &mut together);
            for (i, query) in queries.iter().enumerate() {
                let mut alone = vec![f32::NAN; 4 * d];
                attend_one(
                    query.q,
                    query.keys,
                    query.values,
                    shape,
                    query.len,
                    &mut alone,
                );
                assert_eq!(
                    alone,
                    together[i * 4 * d..(i + 1) * 4 * d],
                    "sequence {i}, d {d}"
                );
            }
            // One row: the output is that row's values, whatever the scores.
            let (_, _, v) = &data[0];
            assert_eq!(&together[..d], &v[..d]);
        }
    }
}
