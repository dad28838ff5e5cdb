//! Pooling: max (the gradient goes to the arg-max), average (spread over the
//! window) and global average. Kernels and formulas in `tensor::pool`.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward};
use crate::Tensor;

/// A pooling window: kernel, stride, padding (`[height, width]` each).
type Window = [[usize; 2]; 3];

struct MaxPool2dOp {
    window: Window,
    /// For each output, the index within its input plane of the winner.
    argmax: Vec<u32>,
}

impl Backward for MaxPool2dOp {
    fn name(&self) -> &'static str {
        "max_pool2d"
    }
    // dx[argmax] += dy
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let [k, s, p] = self.window;
        vec![Some(max_pool2d_backward(c.grad, &self.argmax, c.inputs[0].shape(), k, s, p))]
    }
}

struct AvgPool2dOp {
    window: Window,
}

impl Backward for AvgPool2dOp {
    fn name(&self) -> &'static str {
        "avg_pool2d"
    }
    // dx[window] += dy / (kh kw)
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let [k, s, p] = self.window;
        vec![Some(avg_pool2d_backward(c.grad, c.inputs[0].shape(), k, s, p))]
    }
}

impl<'g> Var<'g> {
    /// 2-d max pooling of `[N, C, H, W]` (PyTorch's `max_pool2d`, floor mode):
    /// padding counts as -inf, the gradient goes to each window's arg-max
    /// (the first in row-major order on ties). Output sizes from
    /// [`pool2d_out_size`](crate::tensor::pool2d_out_size).
    ///
    /// # Panics
    /// When the input is not 4-d or the window does not fit; the message names the shapes.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::new();
    /// let x = g.leaf(Tensor::from_vec(vec![1.0, 4.0, 3.0, 2.0], &[1, 1, 2, 2]));
    /// let y = x.max_pool2d([2, 2], [2, 2], [0, 0]);
    /// assert_eq!(y.value().data(), &[4.0]);
    /// assert_eq!(g.backward(y.sum()).wrt(x).unwrap().data(), &[0.0, 1.0, 0.0, 0.0]);
    /// ```
    pub fn max_pool2d(self, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Var<'g> {
        let (y, argmax) = max_pool2d(&self.value(), kernel, stride, padding);
        self.derive(y, &[], MaxPool2dOp { window: [kernel, stride, padding], argmax })
    }

    /// 2-d average pooling of `[N, C, H, W]` (PyTorch's `avg_pool2d`, floor
    /// mode, `count_include_pad=True`: every window divides by `kh kw`).
    ///
    /// # Panics
    /// When the input is not 4-d or the window does not fit; the message names the shapes.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
    /// assert_eq!(x.avg_pool2d([2, 2], [1, 1], [0, 0]).value().data(), &[2.5]);
    /// ```
    pub fn avg_pool2d(self, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Var<'g> {
        let y = avg_pool2d(&self.value(), kernel, stride, padding);
        self.derive(y, &[], AvgPool2dOp { window: [kernel, stride, padding] })
    }

    /// Global average pooling: `[N, C, H, W] -> [N, C]`, the mean of each
    /// plane (PyTorch's `adaptive_avg_pool2d(x, 1)` flattened). A reshape and
    /// a mean, so its gradient is `dy / (H W)` on every position.
    ///
    /// # Panics
    /// When the input is not 4-d.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 2, 1, 2]));
    /// assert_eq!(x.global_avg_pool2d().value().data(), &[1.5, 3.5]);
    /// ```
    pub fn global_avg_pool2d(self) -> Var<'g> {
        let s = self.shape();
        assert!(s.len() == 4, "global_avg_pool2d: input must be [N, C, H, W], got {s:?}");
        self.reshape(&[s[0], s[1], s[2] * s[3]]).mean_axis(2, false)
    }
}
