//! Token and position embeddings: a table of vectors looked up by id.

use crate::autograd::{Graph, Param, Var};
use crate::tensor::Rng;
use crate::Tensor;

/// A lookup table `[num, dim]`: row `i` is the vector of id `i`. The forward
/// pass gathers rows; backward scatter-adds into them (an id used twice gets
/// both gradients).
///
/// ```
/// use backprop::{nn::Embedding, tensor::Rng, Graph};
/// let emb = Embedding::new(10, 4, 0.02, &mut Rng::new(0));
/// let g = Graph::no_grad();
/// assert_eq!(emb.lookup(&g, &[3, 3, 7]).shape(), vec![3, 4]);
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    /// `[num, dim]`
    pub weight: Param,
}

impl Embedding {
    /// `num` vectors of size `dim`, initialised from N(0, std^2).
    pub fn new(num: usize, dim: usize, std: f32, rng: &mut Rng) -> Embedding {
        Embedding { weight: Param::new(Tensor::randn(&[num, dim], 0.0, std, rng)) }
    }

    /// The vectors of `ids`, `[ids.len(), dim]`.
    ///
    /// # Panics
    /// When an id is out of range (the message names it).
    pub fn lookup<'g>(&self, g: &'g Graph, ids: &[usize]) -> Var<'g> {
        g.param(&self.weight).index_select(ids)
    }

    /// Named parameters.
    pub fn parameters(&self) -> Vec<(String, Param)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
