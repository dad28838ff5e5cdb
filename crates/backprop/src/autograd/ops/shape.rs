//! Ops that move values without changing them: reshape, permute, narrow,
//! concat, index-select. Their backward moves the gradient back.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::Tensor;

struct ReshapeOp;
impl Backward for ReshapeOp {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(c.grad.reshape(c.inputs[0].shape()))]
    }
}

struct PermuteOp {
    dims: Vec<usize>,
}
impl Backward for PermuteOp {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let mut inverse = vec![0; self.dims.len()];
        for (i, &d) in self.dims.iter().enumerate() {
            inverse[d] = i;
        }
        vec![Some(c.grad.permute(&inverse))]
    }
}

struct NarrowOp {
    axis: usize,
    start: usize,
}
impl Backward for NarrowOp {
    fn name(&self) -> &'static str {
        "narrow"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let x = c.inputs[0];
        let len = c.grad.dim(self.axis);
        let total = x.dim(self.axis);
        let mut parts = Vec::new();
        let before = Tensor::zeros(&with_dim(x.shape(), self.axis, self.start));
        let after = Tensor::zeros(&with_dim(x.shape(), self.axis, total - self.start - len));
        if self.start > 0 {
            parts.push(&before);
        }
        parts.push(c.grad);
        if self.start + len < total {
            parts.push(&after);
        }
        vec![Some(Tensor::concat(&parts, self.axis))]
    }
}

fn with_dim(shape: &[usize], axis: usize, size: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s[axis] = size;
    s
}

struct ConcatOp {
    axis: usize,
}
impl Backward for ConcatOp {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let mut start = 0;
        c.inputs
            .iter()
            .zip(&c.needs)
            .map(|(x, &need)| {
                let len = x.dim(self.axis);
                let g = need.then(|| c.grad.narrow(self.axis, start, len));
                start += len;
                g
            })
            .collect()
    }
}

struct IndexSelectOp {
    ids: Vec<usize>,
}
impl Backward for IndexSelectOp {
    fn name(&self) -> &'static str {
        "index_select"
    }
    // Scatter-add: a row picked twice gets both gradients.
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(c.grad.index_add_rows(&self.ids, c.inputs[0].shape()))]
    }
}

impl<'g> Var<'g> {
    /// The same values under another shape (same element count).
    pub fn reshape(self, shape: &[usize]) -> Var<'g> {
        let v = self.value().reshape(shape);
        self.derive(v, &[], ReshapeOp)
    }
    /// `[N, ...] -> [N, product of the rest]` (PyTorch's `nn.Flatten`): a
    /// reshape, e.g. from convolution features to a linear layer's input.
    ///
    /// # Panics
    /// When the value has no dimensions.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// assert_eq!(g.constant(Tensor::zeros(&[2, 3, 4, 5])).flatten().shape(), vec![2, 60]);
    /// ```
    pub fn flatten(self) -> Var<'g> {
        let s = self.shape();
        assert!(!s.is_empty(), "flatten: needs at least one dimension (the batch), got a scalar");
        self.reshape(&[s[0], s[1..].iter().product()])
    }
    /// Reorders dimensions (output dim i is input dim `dims[i]`).
    pub fn permute(self, dims: &[usize]) -> Var<'g> {
        let v = self.value().permute(dims);
        self.derive(v, &[], PermuteOp { dims: dims.to_vec() })
    }
    /// Swaps two dimensions.
    pub fn transpose(self, d0: usize, d1: usize) -> Var<'g> {
        let mut dims: Vec<usize> = (0..self.shape().len()).collect();
        dims.swap(d0, d1);
        self.permute(&dims)
    }
    /// The slice `start..start + len` along `axis`.
    pub fn narrow(self, axis: usize, start: usize, len: usize) -> Var<'g> {
        let v = self.value().narrow(axis, start, len);
        self.derive(v, &[], NarrowOp { axis, start })
    }
    /// Joins values along `axis`.
    ///
    /// # Panics
    /// When `parts` is empty or shapes disagree outside `axis`.
    pub fn concat(parts: &[Var<'g>], axis: usize) -> Var<'g> {
        assert!(!parts.is_empty(), "concat: no values given");
        let values: Vec<Tensor> = parts.iter().map(|p| p.value()).collect();
        let refs: Vec<&Tensor> = values.iter().collect();
        let v = Tensor::concat(&refs, axis);
        parts[0].derive(v, &parts[1..], ConcatOp { axis })
    }
    /// Picks rows by index (embedding lookup); backward scatter-adds.
    pub fn index_select(self, ids: &[usize]) -> Var<'g> {
        let v = self.value().index_select(ids);
        self.derive(v, &[], IndexSelectOp { ids: ids.to_vec() })
    }
}
