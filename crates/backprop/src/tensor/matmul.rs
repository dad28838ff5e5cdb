//! Matrix products through the `gemm` crate.
//!
//! Transposed operands are passed to the kernel as strides, so `A^T B` or
//! `A B^T` (the shapes every backward pass needs) cost no copy.

use super::parallel::with_scratch;
use super::small_matmul;
use super::transpose::{transpose_into, Write};
use super::{output_buffer, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

/// Products with fewer multiply-adds than this run on the calling thread:
/// below it, handing work to other threads costs more than it saves.
const PARALLEL_MIN_FLOPS: usize = 96 * 96 * 96;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if threads > 1 && m * n * k >= PARALLEL_MIN_FLOPS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// One matrix operand: a row-major buffer read as `rows x cols`, possibly transposed.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    /// Stored rows and columns (before transposition).
    stored_cols: usize,
    transposed: bool,
}

impl Operand<'_> {
    /// (row stride, column stride) of the operand as used in the product.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.stored_cols as isize)
        } else {
            (self.stored_cols as isize, 1)
        }
    }
}

/// `dst (m x n) = a (m x k) * b (k x n)`, or `dst += ...` when `accumulate`.
///
/// `a` is stored row-major as `m x k`, or as `k x m` when `ta` (then read transposed);
/// likewise `b` as `k x n`, or `n x k` when `tb`. This is the crate's one entry to
/// the GEMM kernel.
///
/// ```
/// let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [1.0, 0.0, 0.0, 1.0];
/// let mut c = [0.0; 4];
/// backprop::tensor::matmul_into(&mut c, &a, false, &b, true, 2, 2, 2, false);
/// assert_eq!(c, [1.0, 2.0, 3.0, 4.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn matmul_into(
    dst: &mut [f32],
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    product_into(dst, a, ta, b, tb, m, k, n, Write::from(accumulate), parallelism(m, n, k));
}

/// [`matmul_into`] on the calling thread only, for kernels that already run
/// one product per task on every thread (a convolution over a batch).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_into_serial(
    dst: &mut [f32],
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    product_into(dst, a, ta, b, tb, m, k, n, Write::from(accumulate), Parallelism::None);
}

#[allow(clippy::too_many_arguments)]
fn product_into(
    dst: &mut [f32],
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    m: usize,
    k: usize,
    n: usize,
    how: Write<'_>,
    par: Parallelism,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && dst.len() >= m * n, "matmul_into: buffers too small");
    let a = Operand { data: a, stored_cols: if ta { m } else { k }, transposed: ta };
    let b = Operand { data: b, stored_cols: if tb { k } else { n }, transposed: tb };
    gemm_kernel(dst, a, b, m, k, n, how, par);
}

#[allow(clippy::too_many_arguments)]
fn gemm_kernel(
    dst: &mut [f32],
    a: Operand,
    b: Operand,
    m: usize,
    k: usize,
    n: usize,
    how: Write<'_>,
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    let bias_rows =
        |dst: &mut [f32], bias: &[f32]| dst[..m * n].chunks_exact_mut(n).for_each(|r| r.copy_from_slice(&bias[..n]));
    if k == 0 {
        match how {
            Write::Overwrite => dst[..m * n].fill(0.0),
            Write::Accumulate => {}
            Write::Bias(bias) => bias_rows(dst, bias),
        }
        return;
    }
    if !a.transposed && b.transposed && small_matmul::applies(m, k, n) {
        // A few rows through a layer's weight: dot products, nothing packed.
        small_matmul::product_nt(dst, a.data, b.data, m, k, n, how);
        return;
    }
    if column_major_is_cheaper(&a, &b, m, k, n) {
        // The product overwrites all of the scratch (no accumulation), so a
        // reused buffer needs no zeroing.
        with_scratch(m * n, |t| {
            gemm_strided(t, (1, m as isize), a, b, m, k, n, false, par);
            transpose_into(t, dst, m, n, how);
        });
        return;
    }
    let accumulate = match how {
        Write::Overwrite => false,
        Write::Accumulate => true,
        Write::Bias(bias) => {
            bias_rows(dst, bias);
            true
        }
    };
    gemm_strided(dst, (n as isize, 1), a, b, m, k, n, accumulate, par);
}

/// Whether `a b` is cheaper computed into a column-major scratch matrix and
/// transposed into the row-major destination. `gemm` turns a row-major
/// product around (`dst^T = b^T a^T`), making `b^T` the operand it packs
/// whole when `b` is transposed (a layer's `x W^T`): for a small `m` (a batch
/// of 64 against a 1024x784 weight) packing `b` costs as much as the product.
/// The column-major product packs only `a` (`m x k`); the transpose copies `m x n`:
/// cheaper when those two, `m (k + n)` values, are fewer than `b`'s `n k`. (W1's
/// 10x784 batch against its 30x784 weight: 9% faster per epoch than packing the
/// weight; W2 and W6 unchanged, all three losses the same to the digit.)
fn column_major_is_cheaper(a: &Operand, b: &Operand, m: usize, k: usize, n: usize) -> bool {
    !a.transposed && b.transposed && m * (n + k) <= n * k
}

/// `gemm` into `dst` with the given (row, column) strides.
#[allow(clippy::too_many_arguments)]
fn gemm_strided(
    dst: &mut [f32],
    (d_rs, d_cs): (isize, isize),
    a: Operand,
    b: Operand,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    par: Parallelism,
) {
    let (a_rs, a_cs) = a.strides();
    let (b_rs, b_cs) = b.strides();
    assert!(dst.len() >= m * n, "gemm_strided: destination too small");
    // SAFETY: the asserts in the callers guarantee that `a` holds m*k, `b` k*n and
    // `dst` m*n elements, and the strides above address exactly those row-major
    // (or transposed row-major) buffers, `dst` row-major (row stride n) or
    // column-major (column stride m); `dst` is exclusively borrowed so it does
    // not alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            d_cs,
            d_rs,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

impl Tensor {
    /// Matrix product. Shapes: `[m, k] x [k, n] -> [m, n]`; batched
    /// `[B, m, k] x [B, k, n] -> [B, m, n]`; and `[B, m, k] x [k, n]` (one right
    /// matrix shared by the batch).
    ///
    /// # Panics
    /// When inner dimensions or batch sizes differ; the message names both shapes.
    ///
    /// ```
    /// use backprop::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// let i = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]);
    /// assert_eq!(a.matmul(&i).data(), a.data());
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        self.matmul_t(false, other, false)
    }

    /// Matrix product with either operand transposed in its last two dims,
    /// without copying: `op(self) x op(other)` where `op` transposes when its flag is set.
    ///
    /// ```
    /// use backprop::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
    /// let w = Tensor::from_vec(vec![1.0, 1.0, 0.0, 1.0, 2.0, 0.0], &[3, 2]); // [out, in]
    /// assert_eq!(x.matmul_t(false, &w, true).data(), &[3.0, 2.0, 2.0]); // x W^T
    /// ```
    pub fn matmul_t(&self, ta: bool, other: &Tensor, tb: bool) -> Tensor {
        self.product(ta, other, tb, None)
    }

    /// `x W^T + b` (PyTorch's `F.linear`): `x` `[m, in]` or `[B, m, in]`,
    /// `weight` `[out, in]`, `bias` `[out]`; the result `[m, out]` or `[B, m, out]`.
    /// The bias is written first and the product added to it, so it costs no
    /// pass of its own.
    ///
    /// # Panics
    /// When the shapes do not fit; the message names them.
    ///
    /// ```
    /// use backprop::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
    /// let w = Tensor::from_vec(vec![1.0, 1.0, 0.0, 1.0, 2.0, 0.0], &[3, 2]); // [out, in]
    /// let b = Tensor::from_vec(vec![0.5, 0.0, -1.0], &[3]);
    /// assert_eq!(x.linear(&w, Some(&b)).data(), &[3.5, 2.0, 1.0]);
    /// ```
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        self.product(false, weight, true, bias)
    }

    /// `op(self) op(other)`, plus `bias` on every row when given.
    fn product(&self, ta: bool, other: &Tensor, tb: bool, bias: Option<&Tensor>) -> Tensor {
        let (batch, m, k, n) = matmul_dims(self.shape(), ta, other.shape(), tb);
        // SAFETY: every value is written before any is read. `gemm` told not
        // to read its destination never does (it zeroes it itself when
        // k = 0); the row-major path writes the bias rows before adding the
        // product to them; the column-major path copies into every element.
        let mut out = unsafe { output_buffer(batch * m * n) };
        let how = match bias {
            Some(b) => {
                assert!(
                    other.ndim() == 2 && b.shape() == [n],
                    "linear: weight {:?} and bias {:?} for {n} outputs; they must be [out, in] and [out]",
                    other.shape(),
                    b.shape()
                );
                Write::Bias(b.data())
            }
            None => Write::Overwrite,
        };
        batched_matmul(&mut out, self, ta, other, tb, batch, m, k, n, how);
        let mut shape = vec![m, n];
        if self.ndim() == 3 || other.ndim() == 3 {
            shape.insert(0, batch);
        }
        Tensor::from_vec(out, &shape)
    }
}

/// Checks operand shapes and returns (batch, m, k, n) of the product.
pub(crate) fn matmul_dims(a: &[usize], ta: bool, b: &[usize], tb: bool) -> (usize, usize, usize, usize) {
    let fail = |why: &str| -> ! {
        panic!(
            "matmul: {why}: left {a:?}{} x right {b:?}{}",
            if ta { " (transposed)" } else { "" },
            if tb { " (transposed)" } else { "" }
        )
    };
    if !(2..=3).contains(&a.len()) || !(2..=3).contains(&b.len()) {
        fail("operands must be 2-d or 3-d");
    }
    let last2 = |s: &[usize], t: bool| {
        let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
        if t {
            (c, r)
        } else {
            (r, c)
        }
    };
    let (m, k) = last2(a, ta);
    let (k2, n) = last2(b, tb);
    if k != k2 {
        fail(&format!("inner dimensions differ ({k} vs {k2})"));
    }
    let batch = match (a.len(), b.len()) {
        (3, 3) if a[0] != b[0] => fail(&format!("batch sizes differ ({} vs {})", a[0], b[0])),
        (3, _) => a[0],
        (_, 3) => b[0],
        _ => 1,
    };
    (batch, m, k, n)
}

/// Runs a (possibly batched, possibly broadcast-over-batch) product into
/// `out`, writing it as `how` says.
#[allow(clippy::too_many_arguments)]
pub(crate) fn batched_matmul(
    out: &mut [f32],
    a: &Tensor,
    ta: bool,
    b: &Tensor,
    tb: bool,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    how: Write<'_>,
) {
    let a_batched = a.ndim() == 3;
    let b_batched = b.ndim() == 3;
    if batch == 1 || (a_batched && !b_batched && !ta) {
        // One product; a batched left operand with a shared right matrix is
        // one tall [batch*m, k] matrix when not transposed.
        let rows = if a_batched { batch * m } else { m };
        product_into(out, a.data(), ta, b.data(), tb, rows, k, n, how, parallelism(rows, n, k));
        return;
    }
    let (sa, sb) = (if a_batched { m * k } else { 0 }, if b_batched { k * n } else { 0 });
    let per_product = m * n * k;
    let one = |(i, dst): (usize, &mut [f32])| {
        let a_op = Operand { data: &a.data()[i * sa..], stored_cols: if ta { m } else { k }, transposed: ta };
        let b_op = Operand { data: &b.data()[i * sb..], stored_cols: if tb { k } else { n }, transposed: tb };
        gemm_kernel(dst, a_op, b_op, m, k, n, how, Parallelism::None);
    };
    if per_product >= PARALLEL_MIN_FLOPS * 4 {
        // Big products: let the kernel use every thread, one product at a time.
        for i in 0..batch {
            let a_op = Operand { data: &a.data()[i * sa..], stored_cols: if ta { m } else { k }, transposed: ta };
            let b_op = Operand { data: &b.data()[i * sb..], stored_cols: if tb { k } else { n }, transposed: tb };
            let dst = &mut out[i * m * n..(i + 1) * m * n];
            gemm_kernel(dst, a_op, b_op, m, k, n, how, parallelism(m, n, k));
        }
    } else if batch * per_product >= PARALLEL_MIN_FLOPS {
        out.par_chunks_mut(m * n).enumerate().for_each(one);
    } else {
        out.chunks_mut(m * n).enumerate().for_each(one);
    }
}
