//! What a backward pass returns: the gradients, or where it met the first
//! non-finite one.

#[cfg(doc)]
use super::graph::Graph;
use super::graph::Var;
use super::Param;
use crate::Tensor;

/// Where [`Graph::try_backward`] met the first non-finite gradient: the op
/// whose backward rule made it, and the input it was for.
#[derive(Clone, Debug)]
pub struct NonFiniteGrad {
    /// The op's name (`"sqrt"`, `"matmul"`).
    pub op: &'static str,
    /// The op's node id (as numbered by [`Graph::visit_nodes`]).
    pub node: usize,
    /// Which of the op's inputs (0 = first) the gradient is for.
    pub input: usize,
    /// That input's node id.
    pub input_id: usize,
    /// The gradient the op received (dLoss/dOutput): finite.
    pub incoming: Tensor,
    /// The gradient for the input: holds a NaN or an infinity.
    pub grad: Tensor,
    /// Whether the op's own result was finite and it was the sum with the
    /// input's gradient from other ops that overflowed.
    pub summed: bool,
}

/// Gradients from one backward pass.
pub struct Gradients {
    pub(crate) grads: Vec<Option<Tensor>>,
    /// After [`Graph::backward_summing`]: each parameter that got a gradient,
    /// with its sum of squares where one node made it from none.
    pub(crate) param_sums: Vec<(Param, Option<f32>)>,
}

impl Gradients {
    /// dLoss/dv for a leaf (or any node after [`Graph::backward_keep_all`]);
    /// `None` where no gradient reached it.
    pub fn wrt(&self, v: Var<'_>) -> Option<&Tensor> {
        self.grads.get(v.id).and_then(|g| g.as_ref())
    }

    /// The gradient of node `id`, as numbered by [`Graph::visit_nodes`].
    pub fn by_id(&self, id: usize) -> Option<&Tensor> {
        self.grads.get(id).and_then(|g| g.as_ref())
    }

    /// The sum of the squares of `p`'s gradient as [`Graph::backward_summing`]
    /// left it, when that pass alone made it (else `None`: sum it yourself).
    pub(crate) fn param_sum_squares(&self, p: &Param) -> Option<f32> {
        self.param_sums.iter().find(|(q, _)| q.same_as(p)).and_then(|(_, sum)| *sum)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Graph, Param, Tensor};

    #[test]
    fn the_summing_pass_sums_a_gradient_one_node_made_from_none() {
        let (w, tied, used) = (
            Param::new(Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3])),
            Param::new(Tensor::from_vec(vec![0.5, 0.25, 2.0], &[3])),
            Param::new(Tensor::from_vec(vec![4.0, 1.0, -1.0], &[3])),
        );
        used.lock().grad = Some(Tensor::from_vec(vec![1.0, 1.0, 1.0], &[3]));
        let g = Graph::new();
        let x = g.constant(Tensor::from_vec(vec![2.0, 3.0, -1.0], &[3]));
        // `tied` is used twice (two nodes), `used` already had a gradient.
        let loss = (g.param(&w) * x).sum() + (g.param(&tied) * g.param(&tied)).sum() + (g.param(&used) * x).sum();
        let grads = g.backward_summing(loss);
        assert_eq!(w.grad().unwrap().data(), &[2.0, 3.0, -1.0]);
        assert_eq!(grads.param_sum_squares(&w), Some(14.0));
        assert_eq!(grads.param_sum_squares(&tied), None, "two nodes: the caller sums the total");
        assert_eq!(grads.param_sum_squares(&used), None, "added to an earlier gradient");
        w.lock().grad = None;
        let g = Graph::new();
        let plain = g.backward((g.param(&w) * g.param(&w)).sum());
        assert_eq!(plain.param_sum_squares(&w), None, "a plain backward sums nothing");
    }
}
