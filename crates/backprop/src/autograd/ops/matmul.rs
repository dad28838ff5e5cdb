//! Matrix products. For C = A B: dA = dC B^T and dB = A^T dC; the
//! transposes are passed to the GEMM kernel as strides, never copied.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::Tensor;

/// C = op(A) op(B), where op transposes the last two dims when its flag is set.
struct MatMulOp {
    ta: bool,
    tb: bool,
}

/// `x` (2-d or 3-d) with its last two dims transposed or not, as (tensor, flag).
type Operand<'a> = (&'a Tensor, bool);

/// op(x) op(y), summed over the batch when the wanted shape is 2-d but the
/// product is batched (the gradient of a matrix shared by a batch).
fn product_to_shape(x: Operand<'_>, y: Operand<'_>, shape: &[usize]) -> Tensor {
    let (xt, tx) = x;
    let (yt, ty) = y;
    if shape.len() == 2 && xt.ndim() == 3 && yt.ndim() == 3 && tx && !ty {
        // sum_b X_b^T Y_b = X_flat^T Y_flat: one tall product, no batch sum.
        let (b, r, cx) = (xt.dim(0), xt.dim(1), xt.dim(2));
        let cy = yt.dim(2);
        return xt.reshape(&[b * r, cx]).matmul_t(true, &yt.reshape(&[b * r, cy]), false);
    }
    let p = xt.matmul_t(tx, yt, ty);
    if p.ndim() == 3 && shape.len() == 2 {
        p.sum_axis(0, false)
    } else {
        p
    }
}

impl Backward for MatMulOp {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (a, b, g) = (c.inputs[0], c.inputs[1], c.grad);
        // With C = op(A) op(B) and G = dC:
        //   no transposes:  dA = G B^T,      dB = A^T G
        //   B transposed:   dA = G B,        dB = G^T A
        //   A transposed:   dA = B G^T,      dB = A G
        //   both:           dA = B^T G^T,    dB = G^T A^T
        let da = c.needs[0].then(|| match (self.ta, self.tb) {
            (false, false) => product_to_shape((g, false), (b, true), a.shape()),
            (false, true) => product_to_shape((g, false), (b, false), a.shape()),
            (true, false) => product_to_shape((b, false), (g, true), a.shape()),
            (true, true) => product_to_shape((b, true), (g, true), a.shape()),
        });
        let db = c.needs[1].then(|| match (self.ta, self.tb) {
            (false, false) => product_to_shape((a, true), (g, false), b.shape()),
            (false, true) => product_to_shape((g, true), (a, false), b.shape()),
            (true, false) => product_to_shape((a, false), (g, false), b.shape()),
            (true, true) => product_to_shape((g, true), (a, true), b.shape()),
        });
        vec![da, db]
    }
}

/// y = x W^T + b: the products' gradients are [`MatMulOp`]'s with W
/// transposed; the bias's is the sum of `dy` over every row.
struct LinearOp;

impl Backward for LinearOp {
    fn name(&self) -> &'static str {
        "linear"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let product = BackwardCtx { inputs: c.inputs[..2].to_vec(), needs: c.needs[..2].to_vec(), ..*c };
        let mut grads = MatMulOp { ta: false, tb: true }.backward(&product);
        if let (Some(b), Some(&needs)) = (c.inputs.get(2), c.needs.get(2)) {
            grads.push(needs.then(|| c.grad.sum_to_shape(b.shape())));
        }
        grads
    }
}

impl<'g> Var<'g> {
    /// `x W^T + b`, PyTorch's `F.linear` (the linear layer): `x` `[m, in]` or
    /// `[B, m, in]`, `weight` `[out, in]`, `bias` `[out]`. One node and one
    /// pass over the output, where `x.matmul_t(false, w, true) + b` takes two.
    /// Panics naming the shapes when they do not fit.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::new();
    /// let x = g.leaf(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
    /// let w = g.leaf(Tensor::from_vec(vec![1.0, 1.0, 0.0, 1.0, 2.0, 0.0], &[3, 2]));
    /// let b = g.leaf(Tensor::from_vec(vec![0.5, 0.0, -1.0], &[3]));
    /// assert_eq!(x.linear(w, Some(b)).value().data(), &[3.5, 2.0, 1.0]);
    /// ```
    pub fn linear(self, weight: Var<'g>, bias: Option<Var<'g>>) -> Var<'g> {
        let (w, b) = (weight.value(), bias.map(|b| b.value()));
        let v = self.value().linear(&w, b.as_ref());
        match bias {
            Some(bias) => self.derive(v, &[weight, bias], LinearOp),
            None => self.derive(v, &[weight], LinearOp),
        }
    }

    /// Matrix product: `[m, k] x [k, n]`, batched `[B, m, k] x [B, k, n]`, or
    /// `[B, m, k] x [k, n]`. Panics naming both shapes when they do not fit.
    pub fn matmul(self, other: Var<'g>) -> Var<'g> {
        self.matmul_t(false, other, false)
    }

    /// Matrix product with either operand transposed (no copy):
    /// `x.matmul_t(false, w, true)` is x W^T, the linear layer.
    pub fn matmul_t(self, ta: bool, other: Var<'g>, tb: bool) -> Var<'g> {
        let v = self.value().matmul_t(ta, &other.value(), tb);
        self.derive(v, &[other], MatMulOp { ta, tb })
    }
}
