//! Convolution and transposed convolution. The kernels and formulas are in
//! `tensor::conv`; a transposed convolution's forward is the convolution's
//! input-gradient and its input-gradient the convolution, so each rule here
//! is three calls.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{
    conv2d, conv2d_input_grad, conv2d_weight_grad, conv_bias_grad, conv_transpose2d, conv_transpose2d_input_grad,
    conv_transpose2d_weight_grad, Conv2dOptions, ConvTranspose2dOptions,
};
use crate::Tensor;

/// y = conv2d(x, w) + b; inputs `[x, w]` or `[x, w, b]`.
struct Conv2dOp {
    opts: Conv2dOptions,
}

impl Backward for Conv2dOp {
    fn name(&self) -> &'static str {
        "conv2d"
    }
    // dx = col2im(W^T dy), dW = sum_n dy_n col_n^T, db = sum dy over N, H, W.
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (x, w, dy) = (c.inputs[0], c.inputs[1], c.grad);
        let mut grads = vec![
            c.needs[0].then(|| conv2d_input_grad(dy, w, x.shape(), self.opts)),
            c.needs[1].then(|| conv2d_weight_grad(x, dy, w.shape(), self.opts)),
        ];
        if c.inputs.len() == 3 {
            grads.push(c.needs[2].then(|| conv_bias_grad(dy)));
        }
        grads
    }
}

/// y = conv_transpose2d(x, w) + b; inputs `[x, w]` or `[x, w, b]`.
struct ConvTranspose2dOp {
    opts: ConvTranspose2dOptions,
}

impl Backward for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "conv_transpose2d"
    }
    // dx = conv2d(dy, W), dW = the convolution's weight-gradient with dy as
    // its input and x as its output gradient, db = sum dy over N, H, W.
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (x, w, dy) = (c.inputs[0], c.inputs[1], c.grad);
        let mut grads = vec![
            c.needs[0].then(|| conv_transpose2d_input_grad(dy, w, x.shape(), self.opts)),
            c.needs[1].then(|| conv_transpose2d_weight_grad(x, dy, w.shape(), self.opts)),
        ];
        if c.inputs.len() == 3 {
            grads.push(c.needs[2].then(|| conv_bias_grad(dy)));
        }
        grads
    }
}

impl<'g> Var<'g> {
    /// 2-d convolution (PyTorch's `conv2d`): `self` `[N, C, H, W]`, `weight`
    /// `[O, C / groups, kh, kw]`, optional `bias` `[O]`; the result is
    /// `[N, O, OH, OW]` with sizes from
    /// [`conv2d_out_size`](crate::tensor::conv2d_out_size).
    ///
    /// # Panics
    /// When the shapes do not fit; the message names the op and both shapes.
    ///
    /// ```
    /// use backprop::{tensor::Conv2dOptions, Graph, Tensor};
    /// let g = Graph::new();
    /// let x = g.leaf(Tensor::ones(&[2, 3, 8, 8]));
    /// let w = g.leaf(Tensor::ones(&[4, 3, 3, 3]));
    /// let opts = Conv2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
    /// let y = x.conv2d(w, None, opts);
    /// assert_eq!(y.shape(), vec![2, 4, 4, 4]);
    /// let grads = g.backward(y.sum());
    /// assert_eq!(grads.wrt(w).unwrap().shape(), &[4, 3, 3, 3]);
    /// ```
    pub fn conv2d(self, weight: Var<'g>, bias: Option<Var<'g>>, opts: Conv2dOptions) -> Var<'g> {
        let b = bias.map(|b| b.value());
        let y = conv2d(&self.value(), &weight.value(), b.as_ref(), opts);
        let others: Vec<Var<'g>> = std::iter::once(weight).chain(bias).collect();
        self.derive(y, &others, Conv2dOp { opts })
    }

    /// 2-d transposed convolution (PyTorch's `conv_transpose2d`): `self`
    /// `[N, C, H, W]`, `weight` `[C, O / groups, kh, kw]`, optional `bias`
    /// `[O]`; the result is `[N, O, OH, OW]` with sizes from
    /// [`conv_transpose2d_out_size`](crate::tensor::conv_transpose2d_out_size).
    ///
    /// # Panics
    /// When the shapes do not fit; the message names the op and both shapes.
    ///
    /// ```
    /// use backprop::{tensor::ConvTranspose2dOptions, Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::ones(&[1, 8, 7, 7]));
    /// let w = g.constant(Tensor::ones(&[8, 4, 4, 4]));
    /// let opts = ConvTranspose2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
    /// assert_eq!(x.conv_transpose2d(w, None, opts).shape(), vec![1, 4, 14, 14]);
    /// ```
    pub fn conv_transpose2d(self, weight: Var<'g>, bias: Option<Var<'g>>, opts: ConvTranspose2dOptions) -> Var<'g> {
        let b = bias.map(|b| b.value());
        let y = conv_transpose2d(&self.value(), &weight.value(), b.as_ref(), opts);
        let others: Vec<Var<'g>> = std::iter::once(weight).chain(bias).collect();
        self.derive(y, &others, ConvTranspose2dOp { opts })
    }
}
