//! Quantized matrix products for decoding: `y = x · Wᵀ` where `W` is stored in blocks of [`BLOCK`] weights
//! with one scale each, and the few rows of `x` (one per answer being written) are quantized to signed bytes
//! per block on the fly ([`BlockMatrix`]). A block's weights are either signed bytes (GGUF's Q8_0 read as it
//! is, or any other weights quantized here) or GGUF's 5-bit Q5_0 blocks read as they are stored: a decoding
//! step's speed is the bytes of weights it streams, and Q5_0 is 0.75 bytes a weight here against 1.125 for
//! the int8 blocks.
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

pub mod attention;
pub mod rows;

/// Weights per block; each block has its own scale.
pub const BLOCK: usize = 32;

/// Weight rows computed by one task: a few tens of kilobytes of weights, which stay in the core's cache while
/// every input row meets them.
const ROWS_PER_TASK: usize = 32;

/// A matrix of `rows × cols` weights in blocks of [`BLOCK`] (cols padded to a whole block with zeros), each
/// with its own scale.
#[derive(Debug, Clone)]
pub struct BlockMatrix {
    rows: usize,
    cols: usize,
    blocks: usize,
    store: Store,
    scales: Vec<f32>,
}

/// How a matrix's blocks hold their weights.
#[derive(Debug, Clone)]
enum Store {
    /// Signed bytes, [`BLOCK`] per block.
    Int8(Vec<i8>),
    /// GGUF's Q5_0: per block, [`BLOCK`]/2 bytes of low four bits (byte `j` holds weight `j` in its low half
    /// and weight `j + 16` in its high half) and 32 fifth bits (bit `j` for weight `j`); a weight is that
    /// five-bit number minus 16.
    Five { low: Vec<u8>, high: Vec<u32> },
}

/// Q5_0 blocks' weights as signed bytes, block after block.
fn five_as_int8<'a>(low: &'a [u8], high: &'a [u32]) -> impl Iterator<Item = i8> + 'a {
    low.chunks_exact(BLOCK / 2)
        .zip(high)
        .flat_map(|(l, h)| unpack_five(l, *h))
}

/// Bytes of GGUF's Q8_0 and Q5_0 blocks (an f16 scale, then the weights).
const Q8_0_BYTES: usize = 2 + BLOCK;
const Q5_0_BYTES: usize = 2 + 4 + BLOCK / 2;

/// Raw GGUF blocks that do not make the matrix they are said to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(String);

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShapeError {}

/// The signed weights of one Q5_0 block.
#[inline(always)]
fn unpack_five(low: &[u8], high: u32) -> [i8; BLOCK] {
    let mut w = [0i8; BLOCK];
    for j in 0..BLOCK / 2 {
        let bit = |k: usize| (((high >> k) & 1) << 4) as u8;
        w[j] = ((low[j] & 0x0f) | bit(j)) as i8 - 16;
        w[j + BLOCK / 2] = ((low[j] >> 4) | bit(j + BLOCK / 2)) as i8 - 16;
    }
    w
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

/// What Q5_0's unsigned weights add on top of the signed ones for one input row: Σ over blocks of the
/// weight block's scale × the input block's `sums` entry, in eight lanes (one lane per block would make each
/// addition wait for the last, in the kernel's inner loop).
#[inline(always)]
fn five_offset(scales: &[f32], sums: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (cs, cu) = (scales.chunks_exact(8), sums.chunks_exact(8));
    let rest: f32 = cs
        .remainder()
        .iter()
        .zip(cu.remainder())
        .map(|(s, u)| s * u)
        .sum();
    for (s, u) in cs.zip(cu) {
        for i in 0..8 {
            lanes[i] = s[i].mul_add(u[i], lanes[i]);
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// One input row, quantized: signed bytes per block, the block's scale, and (for Q5_0 weights, whose bytes
/// are multiplied unsigned) 16 × the block's sum × its scale.
#[derive(Clone, Copy)]
struct InputRow<'a> {
    q: &'a [i8],
    scales: &'a [f32],
    sums: &'a [f32],
}

/// One weight row's blocks, multiplied by up to eight input rows at once: each weight block is loaded (and
/// unpacked) once for all of them. Every input row has its own accumulators, so its result does not depend
/// on how many rows share the call.
trait WeightRow: Sync {
    fn dot<const N: usize>(&self, inputs: [InputRow<'_>; N]) -> [f32; N];
}

/// Int8 blocks.
struct Int8Row<'a> {
    q: &'a [i8],
    scales: &'a [f32],
}

/// Q5_0 blocks.
struct FiveRow<'a> {
    low: &'a [u8],
    high: &'a [u32],
    scales: &'a [f32],
}

/// Plain Rust (builds without AVX2): a block's products are summed exactly in i32.
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
)))]
mod plain {
    use super::{BLOCK, FiveRow, InputRow, Int8Row, WeightRow, five_offset, unpack_five};

    #[inline(always)]
    fn dot_block(a: &[i8], b: &[i8]) -> i32 {
        let mut sum = 0i32;
        for (x, y) in a[..BLOCK].iter().zip(&b[..BLOCK]) {
            sum += i32::from(i16::from(*x) * i16::from(*y));
        }
        sum
    }

    impl WeightRow for Int8Row<'_> {
        #[inline(always)]
        fn dot<const N: usize>(&self, inputs: [InputRow<'_>; N]) -> [f32; N] {
            inputs.map(|a| {
                let mut acc = 0f32;
                for (j, (wb, sw)) in self.q.chunks_exact(BLOCK).zip(self.scales).enumerate() {
                    let ab = &a.q[j * BLOCK..(j + 1) * BLOCK];
                    acc += dot_block(wb, ab) as f32 * (sw * a.scales[j]);
                }
                acc
            })
        }
    }

    /// As the AVX2 kernel does: the weights unsigned (0..=31), then 16 × the input block's sum taken off.
    impl WeightRow for FiveRow<'_> {
        #[inline(always)]
        fn dot<const N: usize>(&self, inputs: [InputRow<'_>; N]) -> [f32; N] {
            let mut acc = [0f32; N];
            for (j, (h, sw)) in self.high.iter().zip(self.scales).enumerate() {
                let w = unpack_five(&self.low[j * BLOCK / 2..], *h).map(|v| v + 16);
                for (acc, a) in acc.iter_mut().zip(&inputs) {
                    let ab = &a.q[j * BLOCK..(j + 1) * BLOCK];
                    *acc += dot_block(&w, ab) as f32 * (sw * a.scales[j]);
                }
            }
            let mut out = [0f32; N];
            for ((o, acc), a) in out.iter_mut().zip(acc).zip(&inputs) {
                *o = acc - five_offset(self.scales, a.sums);
            }
            out
        }
    }
}

/// AVX2 (when the build enables it, as `just serve`'s `-C target-cpu=native` does on such a CPU): 32 byte
/// products per instruction. `maddubs` multiplies unsigned by signed bytes; pairs add into i16 without
/// saturating, `madd` with ones widens them to eight i32 sums, and each block's sums are scaled into eight
/// float accumulators per input row, added up once per row.
///
/// - Int8 weights: the weight's sign moves onto the input (`sign`) and its absolute value is the unsigned
///   side (quantized values stay within ±127).
/// - Q5_0 weights are multiplied as the unsigned five-bit numbers they are stored as (0..=31), and 16 × the
///   input block's sum (kept with the quantized input) times the weight block's scale is taken off, summed
///   over the row's blocks once after the loop ([`five_offset`]). Unpacking a block: the
///   low halves spread over the two 128-bit lanes; each byte takes its fifth bit's byte of the word with a
///   shuffle and tests its bit.
///
/// bytemuck moves the bytes into vectors; the `unsafe` blocks only call the `#[target_feature]` functions,
/// sound because this module only exists when the whole build targets CPUs with AVX2 and FMA.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod simd {
    use super::{BLOCK, FiveRow, InputRow, Int8Row, WeightRow, five_offset};
    use std::arch::x86_64::{
        __m128i, __m256, __m256i, _mm_and_si128, _mm_set1_epi8, _mm_srli_epi16, _mm256_and_si256,
        _mm256_cmpeq_epi8, _mm256_cvtepi32_ps, _mm256_fmadd_ps, _mm256_madd_epi16,
        _mm256_maddubs_epi16, _mm256_or_si256, _mm256_set_epi64x, _mm256_set_m128i,
        _mm256_set1_epi8, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_shuffle_epi8, _mm256_sign_epi8,
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

    impl WeightRow for Int8Row<'_> {
        #[inline(always)]
        fn dot<const N: usize>(&self, inputs: [InputRow<'_>; N]) -> [f32; N] {
            #[expect(
                unsafe_code,
                reason = "calling a #[target_feature] function; this module is compiled only when the build enables AVX2 and FMA for every function"
            )]
            // SAFETY: the cfg on this module: the binary already requires AVX2 and FMA of the CPU it runs on.
            unsafe {
                int8_avx2(self, inputs)
            }
        }
    }

    impl WeightRow for FiveRow<'_> {
        #[inline(always)]
        fn dot<const N: usize>(&self, inputs: [InputRow<'_>; N]) -> [f32; N] {
            #[expect(
                unsafe_code,
                reason = "calling a #[target_feature] function; this module is compiled only when the build enables AVX2 and FMA for every function"
            )]
            // SAFETY: as for int8 rows.
            unsafe {
                five_avx2(self, inputs)
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn int8_avx2<const N: usize>(w: &Int8Row<'_>, inputs: [InputRow<'_>; N]) -> [f32; N] {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); N];
        for (j, (wb, sw)) in w.q.chunks_exact(BLOCK).zip(w.scales).enumerate() {
            let wv = load(wb);
            let unsigned = _mm256_sign_epi8(wv, wv);
            for (acc, a) in acc.iter_mut().zip(&inputs) {
                let av = load(&a.q[j * BLOCK..(j + 1) * BLOCK]);
                let products = _mm256_maddubs_epi16(unsigned, _mm256_sign_epi8(av, wv));
                let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones));
                *acc = _mm256_fmadd_ps(sums, _mm256_set1_ps(sw * a.scales[j]), *acc);
            }
        }
        acc.map(sum)
    }

    /// The 32 unsigned five-bit numbers of a Q5_0 block.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn unpack_five(low: &[u8], high: u32) -> __m256i {
        let halves: [u8; BLOCK / 2] = low[..BLOCK / 2].try_into().expect("a whole block");
        let halves: __m128i = bytemuck::cast(halves);
        let nibble = _mm_set1_epi8(0x0f);
        let four = _mm256_set_m128i(
            _mm_and_si128(_mm_srli_epi16(halves, 4), nibble),
            _mm_and_si128(halves, nibble),
        );
        // Byte i takes byte i / 8 of the word (the shuffle works within each 128-bit lane, and the word is in
        // both), then keeps whether its bit i % 8 is set.
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(high as i32),
            _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            ),
        );
        let bits = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits);
        _mm256_or_si256(four, _mm256_and_si256(set, _mm256_set1_epi8(0x10)))
    }

    #[target_feature(enable = "avx2,fma")]
    fn five_avx2<const N: usize>(w: &FiveRow<'_>, inputs: [InputRow<'_>; N]) -> [f32; N] {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); N];
        for (j, (h, sw)) in w.high.iter().zip(w.scales).enumerate() {
            let wv = unpack_five(&w.low[j * BLOCK / 2..], *h);
            for (acc, a) in acc.iter_mut().zip(&inputs) {
                let av = load(&a.q[j * BLOCK..(j + 1) * BLOCK]);
                let products = _mm256_maddubs_epi16(wv, av);
                let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones));
                *acc = _mm256_fmadd_ps(sums, _mm256_set1_ps(sw * a.scales[j]), *acc);
            }
        }
        let mut out = [0f32; N];
        for ((o, acc), a) in out.iter_mut().zip(acc).zip(&inputs) {
            *o = sum(acc) - five_offset(w.scales, a.sums);
        }
        out
    }
}

/// Rows of inputs quantized for [`BlockMatrix::matmul`].
struct Quantized {
    q: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<f32>,
}

/// One weight row times every input row, eight input rows per call (then four, then the rest).
#[inline(always)]
fn each_input<'a, W: WeightRow>(w: &W, out_row: &mut [f32], input: &dyn Fn(usize) -> InputRow<'a>) {
    let m = out_row.len();
    let mut b = 0;
    while b + 8 <= m {
        let got = w.dot(std::array::from_fn::<_, 8, _>(|i| input(b + i)));
        out_row[b..b + 8].copy_from_slice(&got);
        b += 8;
    }
    if b + 4 <= m {
        let got = w.dot([b, b + 1, b + 2, b + 3].map(input));
        out_row[b..b + 4].copy_from_slice(&got);
        b += 4;
    }
    match m - b {
        3 => out_row[b..].copy_from_slice(&w.dot([b, b + 1, b + 2].map(input))),
        2 => out_row[b..].copy_from_slice(&w.dot([b, b + 1].map(input))),
        1 => out_row[b..].copy_from_slice(&w.dot([input(b)])),
        _ => {}
    }
}

/// An f16's bits as an f32 (GGUF's block scales; every f16 is exactly an f32).
fn f16_to_f32(bits: u16) -> f32 {
    let negative = bits >> 15 == 1;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match exponent {
        // Zero and subnormals: mantissa · 2^-24.
        0 => mantissa as f32 * (-24f32).exp2(),
        // Infinities and NaNs.
        0x1f => f32::from_bits(0x7f80_0000 | (mantissa << 13)),
        e => f32::from_bits(((e + 127 - 15) << 23) | (mantissa << 13)),
    };
    if negative { -magnitude } else { magnitude }
}

impl BlockMatrix {
    /// Quantizes a row-major `rows × cols` matrix into int8 blocks.
    pub fn quantize(weights: &[f32], rows: usize, cols: usize) -> BlockMatrix {
        assert_eq!(weights.len(), rows * cols, "a {rows} × {cols} matrix");
        let blocks = cols.div_ceil(BLOCK);
        let mut q = vec![0i8; rows * blocks * BLOCK];
        let mut scales = vec![0f32; rows * blocks];
        q.par_chunks_mut(blocks * BLOCK)
            .zip(scales.par_chunks_mut(blocks))
            .zip(weights.par_chunks(cols.max(1)))
            .for_each(|((q, s), w)| quantize_into(w, q, s));
        BlockMatrix {
            rows,
            cols,
            blocks,
            store: Store::Int8(q),
            scales,
        }
    }

    /// Checks that `bytes` are `rows × cols` weights in blocks of `block_bytes` each.
    fn raw_blocks(
        bytes: &[u8],
        rows: usize,
        cols: usize,
        block_bytes: usize,
        format: &str,
    ) -> Result<usize, ShapeError> {
        if !cols.is_multiple_of(BLOCK) {
            return Err(ShapeError(format!(
                "{format} rows of {cols} weights are not whole blocks of {BLOCK}"
            )));
        }
        let blocks = rows * (cols / BLOCK);
        if bytes.len() != blocks * block_bytes {
            return Err(ShapeError(format!(
                "{} bytes are not {rows} × {cols} weights in {format} blocks ({} bytes)",
                bytes.len(),
                blocks * block_bytes
            )));
        }
        Ok(cols / BLOCK)
    }

    /// GGUF's Q8_0 blocks (an f16 scale and 32 signed bytes each), kept exactly as they are.
    pub fn from_q8_0(bytes: &[u8], rows: usize, cols: usize) -> Result<BlockMatrix, ShapeError> {
        let blocks = Self::raw_blocks(bytes, rows, cols, Q8_0_BYTES, "Q8_0")?;
        let mut q = Vec::with_capacity(rows * cols);
        let mut scales = Vec::with_capacity(rows * blocks);
        for block in bytes.chunks_exact(Q8_0_BYTES) {
            scales.push(f16_to_f32(u16::from_le_bytes([block[0], block[1]])));
            q.extend(block[2..].iter().map(|b| *b as i8));
        }
        Ok(BlockMatrix {
            rows,
            cols,
            blocks,
            store: Store::Int8(q),
            scales,
        })
    }

    /// GGUF's Q5_0 blocks (an f16 scale, 32 fifth bits, 16 bytes of low four bits each), kept exactly as
    /// they are and multiplied in that form.
    pub fn from_q5_0(bytes: &[u8], rows: usize, cols: usize) -> Result<BlockMatrix, ShapeError> {
        let blocks = Self::raw_blocks(bytes, rows, cols, Q5_0_BYTES, "Q5_0")?;
        let mut low = Vec::with_capacity(rows * cols / 2);
        let mut high = Vec::with_capacity(rows * blocks);
        let mut scales = Vec::with_capacity(rows * blocks);
        for block in bytes.chunks_exact(Q5_0_BYTES) {
            scales.push(f16_to_f32(u16::from_le_bytes([block[0], block[1]])));
            high.push(u32::from_le_bytes([block[2], block[3], block[4], block[5]]));
            low.extend_from_slice(&block[6..]);
        }
        Ok(BlockMatrix {
            rows,
            cols,
            blocks,
            store: Store::Five { low, high },
            scales,
        })
    }

    /// The same weights as int8 blocks (exact: a Q5_0 weight is an integer within ±16).
    #[cfg(test)]
    fn to_int8(&self) -> BlockMatrix {
        let q = match &self.store {
            Store::Int8(q) => q.clone(),
            Store::Five { low, high } => five_as_int8(low, high).collect(),
        };
        BlockMatrix {
            rows: self.rows,
            cols: self.cols,
            blocks: self.blocks,
            store: Store::Int8(q),
            scales: self.scales.clone(),
        }
    }

    /// One matrix of the rows of `parts`, in order (all of the same width): several products of the same
    /// input then take one pass and quantize the input once. Parts stored in different forms are stacked as
    /// int8 blocks (exactly the same weights).
    pub fn stack(parts: &[&BlockMatrix]) -> BlockMatrix {
        let cols = parts.first().map_or(0, |p| p.cols);
        assert!(
            parts.iter().all(|p| p.cols == cols),
            "stacked matrices differ in width"
        );
        let scales = parts
            .iter()
            .flat_map(|p| p.scales.iter().copied())
            .collect();
        let all_five =
            !parts.is_empty() && parts.iter().all(|p| matches!(p.store, Store::Five { .. }));
        let store = if all_five {
            let (mut low, mut high) = (Vec::new(), Vec::new());
            for p in parts {
                if let Store::Five { low: l, high: h } = &p.store {
                    low.extend_from_slice(l);
                    high.extend_from_slice(h);
                }
            }
            Store::Five { low, high }
        } else {
            let mut q = Vec::new();
            for p in parts {
                match &p.store {
                    Store::Int8(part) => q.extend_from_slice(part),
                    Store::Five { low, high } => q.extend(five_as_int8(low, high)),
                }
            }
            Store::Int8(q)
        };
        BlockMatrix {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            blocks: cols.div_ceil(BLOCK),
            store,
            scales,
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

    /// Whether the weights are held as Q5_0 blocks.
    pub fn is_five_bit(&self) -> bool {
        matches!(self.store, Store::Five { .. })
    }

    /// Bytes it takes.
    pub fn bytes(&self) -> usize {
        let weights = match &self.store {
            Store::Int8(q) => q.len(),
            Store::Five { low, high } => low.len() + 4 * high.len(),
        };
        weights + 4 * self.scales.len()
    }

    /// Weight row `r` back as floats.
    pub fn row(&self, r: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.cols];
        self.dequantize_row(r, &mut out);
        out
    }

    fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let s = &self.scales[r * self.blocks..(r + 1) * self.blocks];
        match &self.store {
            Store::Int8(q) => {
                let q = &q[r * self.blocks * BLOCK..(r + 1) * self.blocks * BLOCK];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = f32::from(q[i]) * s[i / BLOCK];
                }
            }
            Store::Five { low, high } => {
                for (j, o) in out.chunks_mut(BLOCK).enumerate() {
                    let b = r * self.blocks + j;
                    let w = unpack_five(&low[b * BLOCK / 2..(b + 1) * BLOCK / 2], high[b]);
                    for (o, w) in o.iter_mut().zip(w) {
                        *o = f32::from(w) * s[j];
                    }
                }
            }
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
        let sums = q
            .chunks_exact(BLOCK)
            .zip(&scales)
            .map(|(b, s)| (16 * b.iter().map(|v| i32::from(*v)).sum::<i32>()) as f32 * s)
            .collect();
        Quantized { q, scales, sums }
    }

    /// `y = x · Wᵀ` for `m` input rows: `x` is `m × cols`, `y` is `m × rows` (both row-major).
    pub fn matmul(&self, x: &[f32], m: usize, y: &mut [f32]) {
        assert_eq!(x.len(), m * self.cols, "{m} rows of {}", self.cols);
        assert_eq!(y.len(), m * self.rows, "{m} rows of {}", self.rows);
        if m == 0 || self.rows == 0 {
            return;
        }
        let input = self.quantize_inputs(x, m);
        let (blocks, row_bytes) = (self.blocks, self.blocks * BLOCK);
        let input_row = |b: usize| InputRow {
            q: &input.q[b * row_bytes..(b + 1) * row_bytes],
            scales: &input.scales[b * blocks..(b + 1) * blocks],
            sums: &input.sums[b * blocks..(b + 1) * blocks],
        };
        // Computed transposed (weight row by weight row, each task a contiguous run), then laid out as `y`.
        let mut yt = vec![0f32; self.rows * m];
        yt.par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each(|(task, out)| {
                let first = task * ROWS_PER_TASK;
                for (i, out_row) in out.chunks_exact_mut(m).enumerate() {
                    let r = first + i;
                    let scales = &self.scales[r * blocks..(r + 1) * blocks];
                    match &self.store {
                        Store::Int8(q) => {
                            let q = &q[r * row_bytes..(r + 1) * row_bytes];
                            each_input(&Int8Row { q, scales }, out_row, &input_row);
                        }
                        Store::Five { low, high } => {
                            let row = FiveRow {
                                low: &low[r * row_bytes / 2..(r + 1) * row_bytes / 2],
                                high: &high[r * blocks..(r + 1) * blocks],
                                scales,
                            };
                            each_input(&row, out_row, &input_row);
                        }
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
            BlockMatrix::quantize(&a, 5, cols),
            BlockMatrix::quantize(&b, 3, cols),
        );
        let both = BlockMatrix::stack(&[&ma, &mb]);
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
        let a = BlockMatrix::quantize(&w, rows, cols);
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
        let int8 = BlockMatrix::quantize(&pseudo(rows * cols, 3), rows, cols);
        let w: Vec<i8> = (0..rows * cols)
            .map(|i| ((i * 37) % 32) as i8 - 16)
            .collect();
        let five = BlockMatrix::from_q5_0(
            &q5_0_bytes(&w, &vec![0x3400; rows * cols / BLOCK]),
            rows,
            cols,
        )
        .expect("whole blocks");
        // Fifteen rows: a call of eight, one of four, then one of three.
        let m = 15;
        let x = pseudo(m * cols, 4);
        for a in [&int8, &five] {
            let mut together = vec![0f32; m * rows];
            a.matmul(&x, m, &mut together);
            for b in 0..m {
                let mut alone = vec![0f32; rows];
                a.matmul(&x[b * cols..(b + 1) * cols], 1, &mut alone);
                assert_eq!(alone, together[b * rows..(b + 1) * rows], "row {b}");
            }
        }
    }

    /// GGUF Q5_0 bytes for integer weights within -16..=15, scale `d` per block (an exact f16).
    fn q5_0_bytes(w: &[i8], d: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for (block, d) in w.chunks_exact(BLOCK).zip(d) {
            out.extend(d.to_le_bytes());
            let five: Vec<u8> = block.iter().map(|v| (v + 16) as u8).collect();
            let high = five
                .iter()
                .enumerate()
                .fold(0u32, |h, (j, v)| h | (u32::from(v >> 4) << j));
            out.extend(high.to_le_bytes());
            out.extend(
                (0..BLOCK / 2).map(|j| (five[j] & 0x0f) | ((five[j + BLOCK / 2] & 0x0f) << 4)),
            );
        }
        out
    }

    #[test]
    fn f16_scales_become_the_same_f32() {
        for (bits, want) in [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3800, 0.5),
            (0x7bff, 65504.0),
            (0x0001, 5.960_464_5e-8),
            (0x8000, -0.0),
            (0x3555, 0.333_251_95),
        ] {
            assert_eq!(f16_to_f32(bits), want, "{bits:#06x}");
        }
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn q5_0_blocks_hold_their_exact_weights_and_multiply_like_int8() {
        let (rows, cols) = (37, 96);
        let mut s = 7u32;
        let w: Vec<i8> = (0..rows * cols)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 16) % 32) as i8 - 16
            })
            .collect();
        // Scales 0.5, 1, 2 and 0.25 in turn.
        let d: Vec<u16> = (0..rows * cols / BLOCK)
            .map(|i| [0x3800, 0x3c00, 0x4000, 0x3400][i % 4])
            .collect();
        let five = BlockMatrix::from_q5_0(&q5_0_bytes(&w, &d), rows, cols).expect("whole blocks");
        assert!(five.is_five_bit());
        let want: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(i, v)| f32::from(*v) * f16_to_f32(d[i / BLOCK]))
            .collect();
        assert_eq!(five.dequantize(), want);
        assert_eq!(five.row(3), want[3 * cols..4 * cols]);
        // The same weights as int8 blocks give the very same sums, for one input row and for several.
        let int8 = five.to_int8();
        assert!(!int8.is_five_bit());
        assert_eq!(int8.dequantize(), want);
        for m in [1, 3, 4, 6, 8, 9] {
            let x = pseudo(m * cols, 9 + m as u32);
            let (mut a, mut b) = (vec![0f32; m * rows], vec![0f32; m * rows]);
            five.matmul(&x, m, &mut a);
            int8.matmul(&x, m, &mut b);
            // Q5_0 blocks are summed unsigned, then the offset taken off: the same up to float rounding.
            for (g, r) in a.iter().zip(&b) {
                assert!(
                    (g - r).abs() <= 1e-5 * (1.0 + r.abs()),
                    "{m} rows: {g} vs {r}"
                );
            }
            // Against floats: only the inputs are rounded, each by at most half a step (max |x| / 254).
            let exact = reference(&want, &x, rows, cols, m);
            for (i, (g, r)) in a.iter().zip(&exact).enumerate() {
                let w_row = &want[(i % rows) * cols..(i % rows + 1) * cols];
                let bound = w_row.iter().map(|v| v.abs()).sum::<f32>() * 0.5 / 254.0 + 1e-4;
                assert!((g - r).abs() <= bound, "{g} vs {r} (bound {bound})");
            }
        }
        // Stacked with int8 weights, a Q5_0 part keeps its exact weights; stacked with its own kind it stays five-bit.
        let mixed = BlockMatrix::stack(&[&five, &int8]);
        assert!(!mixed.is_five_bit());
        assert_eq!(mixed.dequantize(), [want.clone(), want.clone()].concat());
        let both = BlockMatrix::stack(&[&five, &five]);
        assert!(both.is_five_bit());
        assert_eq!(both.row(rows + 3), want[3 * cols..4 * cols]);
        assert!(both.bytes() < mixed.bytes() * 3 / 4);
    }

    #[test]
    fn q8_0_blocks_are_kept_exactly_and_bad_sizes_are_refused() {
        let (rows, cols) = (2, 64);
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for b in 0..rows * cols / BLOCK {
            let d = [0x3800u16, 0xbc00][b % 2];
            bytes.extend(d.to_le_bytes());
            for i in 0..BLOCK {
                let v = (i as i32 * 8 - 127 + b as i32) as i8;
                bytes.push(v as u8);
                want.push(f32::from(v) * f16_to_f32(d));
            }
        }
        let m = BlockMatrix::from_q8_0(&bytes, rows, cols).expect("whole blocks");
        assert_eq!(m.dequantize(), want);
        assert!(BlockMatrix::from_q8_0(&bytes[1..], rows, cols).is_err());
        assert!(BlockMatrix::from_q8_0(&bytes, rows, 60).is_err());
        assert!(BlockMatrix::from_q5_0(&bytes, rows, cols).is_err());
    }

    #[test]
    fn dequantized_weights_are_close_to_the_originals() {
        let (rows, cols) = (5, 40);
        let w = pseudo(rows * cols, 5);
        let a = BlockMatrix::quantize(&w, rows, cols);
        let back = a.dequantize();
        assert_eq!(back.len(), w.len());
        for (x, y) in w.iter().zip(&back) {
            assert!((x - y).abs() <= 0.5 / 127.0 * 0.5 + 1e-6, "{x} vs {y}");
        }
        assert_eq!(a.row(2), back[2 * cols..3 * cols]);
        // A zero block stays zero (no division by a zero scale).
        let z = BlockMatrix::quantize(&[0.0; 64], 1, 64);
        assert_eq!(z.dequantize(), vec![0.0; 64]);
    }
}
