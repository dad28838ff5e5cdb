//! Token and position embeddings: a table of vectors looked up by id.

use crate::autograd::{Graph, Param, Var};
use crate::tensor::{matmul_into, Rng};
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

    /// The vector of one id, `[dim]`, on plain slices (no graph): row `id`
    /// of [`Embedding::lookup`], for cached generation.
    ///
    /// # Panics
    /// When `id` is out of range.
    pub fn row(&self, id: usize) -> Vec<f32> {
        let w = self.weight.value();
        let (num, dim) = (w.dim(0), w.dim(1));
        assert!(id < num, "embedding: id {id} outside the table of {num}");
        w.data()[id * dim..(id + 1) * dim].to_vec()
    }

    /// Scores of `x` `[rows, dim]` against every vector, `x E^T` `[rows, num]`:
    /// the output projection of a language model whose head is tied to its
    /// token embedding (Press & Wolf 2017, "Using the Output Embedding to
    /// Improve Language Models"; GPT-2 does this).
    pub fn attend<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.matmul_t(false, g.param(&self.weight), true)
    }

    /// [`Embedding::attend`] for one row `x` of `dim` values, on plain slices: `[num]` scores.
    ///
    /// # Panics
    /// When `x` does not hold `dim` values.
    pub fn attend_row(&self, x: &[f32]) -> Vec<f32> {
        let w = self.weight.value();
        let (num, dim) = (w.dim(0), w.dim(1));
        assert_eq!(x.len(), dim, "embedding: {} values for vectors of {dim}", x.len());
        let mut y = vec![0.0f32; num];
        matmul_into(&mut y, x, false, w.data(), true, 1, dim, num, false);
        y
    }

    /// The names and shapes of the parameters of a table of `num` vectors of
    /// `dim`, without building it: `weight` `[num, dim]`.
    pub fn shapes(num: usize, dim: usize) -> Vec<(String, Vec<usize>)> {
        vec![("weight".to_string(), vec![num, dim])]
    }

    /// Named parameters.
    pub fn parameters(&self) -> Vec<(String, Param)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
