//! Moving values around: transpose/permute, narrow, concat, index-select, gather.

use super::shape::{numel, split_at_axis, strides};
use super::Tensor;

impl Tensor {
    /// Reorders dimensions: output dim `i` is input dim `dims[i]` (a copy).
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// let p = t.permute(&[1, 0]);
    /// assert_eq!(p.shape(), &[3, 2]);
    /// assert_eq!(p.data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// ```
    pub fn permute(&self, dims: &[usize]) -> Tensor {
        let nd = self.ndim();
        let mut seen = vec![false; nd];
        assert!(
            dims.len() == nd && dims.iter().all(|&d| d < nd && !std::mem::replace(&mut seen[d], true)),
            "permute: {dims:?} is not a permutation of the {nd} dims of shape {:?}",
            self.shape
        );
        let out_shape: Vec<usize> = dims.iter().map(|&d| self.shape[d]).collect();
        let src_strides = strides(&self.shape);
        let perm_strides: Vec<usize> = dims.iter().map(|&d| src_strides[d]).collect();
        // Trailing dims that stay in place are copied as contiguous blocks.
        let kept = (0..nd).rev().take_while(|&i| dims[i] == i).count();
        let outer = nd - kept;
        let block = numel(&self.shape[outer..]);
        let src = self.data();
        let mut out = Vec::with_capacity(self.numel());
        let mut idx = vec![0usize; outer];
        let mut off = 0usize;
        for _ in 0..self.numel() / block.max(1) {
            out.extend_from_slice(&src[off..off + block]);
            for d in (0..outer).rev() {
                idx[d] += 1;
                off += perm_strides[d];
                if idx[d] < out_shape[d] {
                    break;
                }
                off -= perm_strides[d] * out_shape[d];
                idx[d] = 0;
            }
        }
        Tensor::from_vec(out, &out_shape)
    }

    /// Swaps two dimensions (a copy).
    pub fn transpose(&self, d0: usize, d1: usize) -> Tensor {
        let mut dims: Vec<usize> = (0..self.ndim()).collect();
        assert!(
            d0 < self.ndim() && d1 < self.ndim(),
            "transpose: dims {d0}, {d1} out of range for shape {:?}",
            self.shape
        );
        dims.swap(d0, d1);
        self.permute(&dims)
    }

    /// The slice `start..start + len` along `axis`.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// assert_eq!(t.narrow(1, 1, 2).data(), &[2.0, 3.0, 5.0, 6.0]);
    /// ```
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Tensor {
        assert!(axis < self.ndim(), "narrow: axis {axis} out of range for shape {:?}", self.shape);
        assert!(
            start + len <= self.shape[axis],
            "narrow: range {start}..{} exceeds size {} of axis {axis} in shape {:?}",
            start + len,
            self.shape[axis],
            self.shape
        );
        let (outer, size, inner) = split_at_axis(&self.shape, axis);
        let src = self.data();
        let mut out = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            let base = (o * size + start) * inner;
            out.extend_from_slice(&src[base..base + len * inner]);
        }
        let mut shape = self.shape.clone();
        shape[axis] = len;
        Tensor::from_vec(out, &shape)
    }

    /// Joins tensors along `axis`; all other dims must agree.
    ///
    /// ```
    /// use backprop::Tensor;
    /// let a = Tensor::ones(&[2, 1]);
    /// let b = Tensor::zeros(&[2, 2]);
    /// assert_eq!(Tensor::concat(&[&a, &b], 1).data(), &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    /// ```
    pub fn concat(parts: &[&Tensor], axis: usize) -> Tensor {
        assert!(!parts.is_empty(), "concat: no tensors given");
        let first = parts[0].shape();
        assert!(axis < first.len(), "concat: axis {axis} out of range for shape {first:?}");
        for p in parts {
            let ok = p.ndim() == first.len() && (0..first.len()).all(|d| d == axis || p.shape[d] == first[d]);
            assert!(ok, "concat: shape {:?} does not match {first:?} outside axis {axis}", p.shape);
        }
        let (outer, _, inner) = split_at_axis(first, axis);
        let total: usize = parts.iter().map(|p| p.shape[axis]).sum();
        let mut out = Vec::with_capacity(outer * total * inner);
        for o in 0..outer {
            for p in parts {
                let block = p.shape[axis] * inner;
                out.extend_from_slice(&p.data()[o * block..(o + 1) * block]);
            }
        }
        let mut shape = first.to_vec();
        shape[axis] = total;
        Tensor::from_vec(out, &shape)
    }

    /// Picks rows (entries along axis 0) by index: `[N, ...] -> [ids.len(), ...]`.
    /// The embedding lookup and the mini-batch gather.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    /// assert_eq!(t.index_select(&[2, 0, 2]).data(), &[5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    /// ```
    pub fn index_select(&self, ids: &[usize]) -> Tensor {
        assert!(self.ndim() >= 1, "index_select: needs at least one dimension");
        let rows = self.shape[0];
        let row = numel(&self.shape[1..]);
        let src = self.data();
        let mut out = Vec::with_capacity(ids.len() * row);
        for &i in ids {
            assert!(i < rows, "index_select: index {i} out of range for {rows} rows (shape {:?})", self.shape);
            out.extend_from_slice(&src[i * row..(i + 1) * row]);
        }
        let mut shape = self.shape.clone();
        shape[0] = ids.len();
        Tensor::from_vec(out, &shape)
    }

    /// The adjoint of [`Tensor::index_select`] (the embedding gradient):
    /// a tensor of `shape` (rows along dim 0) with row `r` of `self` added
    /// into row `ids[r]`, so a row picked twice gets both contributions.
    ///
    /// ```
    /// let g = backprop::Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3, 1]);
    /// assert_eq!(g.index_add_rows(&[1, 0, 1], &[2, 1]).data(), &[2.0, 4.0]);
    /// ```
    pub fn index_add_rows(&self, ids: &[usize], shape: &[usize]) -> Tensor {
        let n = numel(shape);
        let row = n / shape.first().copied().unwrap_or(1).max(1);
        let mut out = vec![0.0f32; n];
        for (r, &i) in ids.iter().enumerate() {
            let src = &self.data()[r * row..(r + 1) * row];
            for (o, &g) in out[i * row..(i + 1) * row].iter_mut().zip(src) {
                *o += g;
            }
        }
        Tensor::from_vec(out, shape)
    }

    /// Picks one entry of the last axis per row: `[..., C]` with one id per row gives `[...]`.
    /// The log-probability of each label in cross-entropy.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![0.1, 0.9, 0.7, 0.3], &[2, 2]);
    /// assert_eq!(t.gather_last(&[1, 0]).data(), &[0.9, 0.7]);
    /// ```
    pub fn gather_last(&self, ids: &[usize]) -> Tensor {
        let c = *self.shape.last().expect("gather_last: needs at least one dimension");
        let rows = self.numel() / c.max(1);
        assert_eq!(ids.len(), rows, "gather_last: {} ids for {rows} rows of shape {:?}", ids.len(), self.shape);
        let src = self.data();
        let out = ids
            .iter()
            .enumerate()
            .map(|(r, &i)| {
                assert!(i < c, "gather_last: index {i} out of range for {c} classes");
                src[r * c + i]
            })
            .collect();
        Tensor::from_vec(out, &self.shape[..self.ndim() - 1])
    }
}
