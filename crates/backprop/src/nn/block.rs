//! The transformer block of a GPT and its MLP, each usable on a batch (in a
//! graph) and on one position (cached generation).

use super::{checked_mul, prefixed, CausalSelfAttention, Dropout, Init, LayerCache, LayerNorm, Linear, Module};
use crate::autograd::{Graph, Param, Var};
use crate::tensor::{gelu_f32, Rng};
use crate::Result;

/// The position-wise MLP of a transformer block (nanoGPT's `MLP`):
/// `c_proj(gelu(c_fc(x)))`, widening C channels to 4C and back, with GELU's
/// tanh approximation (Hendrycks & Gimpel 2016) as in GPT-2.
///
/// ```
/// use backprop::{nn::{FeedForward, Module}, tensor::Rng, Graph, Tensor};
/// let mlp = FeedForward::new(8, true, 0.02, 0.02, &mut Rng::new(0));
/// let g = Graph::no_grad();
/// assert_eq!(mlp.forward(&g, g.constant(Tensor::ones(&[3, 8]))).shape(), vec![3, 8]);
/// assert_eq!(mlp.parameters()[0].0, "c_fc.weight");
/// ```
#[derive(Clone, Debug)]
pub struct FeedForward {
    /// `[4C, C]`: the widening projection.
    pub c_fc: Linear,
    /// `[C, 4C]`: the projection back to the residual stream.
    pub c_proj: Linear,
}

impl FeedForward {
    /// An MLP over `embd` channels with N(0, std^2) weights in `c_fc` and
    /// N(0, proj_std^2) in `c_proj`.
    pub fn new(embd: usize, bias: bool, std: f32, proj_std: f32, rng: &mut Rng) -> FeedForward {
        FeedForward {
            c_fc: Linear::new(embd, 4 * embd, bias, Init::Normal(std), rng),
            c_proj: Linear::new(4 * embd, embd, bias, Init::Normal(proj_std), rng),
        }
    }

    /// The names and shapes of the parameters over `embd` channels, without
    /// building them: `c_fc` `[4C, C]`, `c_proj` `[C, 4C]` (and `[4C]`, `[C]`
    /// biases). Fails when 4C overflows.
    pub fn shapes(embd: usize, bias: bool) -> Result<Vec<(String, Vec<usize>)>> {
        let hidden = checked_mul(4, embd, "embd")?;
        let mut s = prefixed("c_fc", Linear::shapes(embd, hidden, bias));
        s.extend(prefixed("c_proj", Linear::shapes(hidden, embd, bias)));
        Ok(s)
    }

    /// The MLP on one row `x` of C values, on plain slices (no graph).
    pub fn forward_row(&self, x: &[f32]) -> Vec<f32> {
        let mut h = self.c_fc.forward_row(x);
        h.iter_mut().for_each(|v| *v = gelu_f32(*v));
        self.c_proj.forward_row(&h)
    }
}

impl Module for FeedForward {
    /// `x` is `[rows, C]`; so is the result.
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        self.c_proj.forward(g, self.c_fc.forward(g, x).gelu())
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = prefixed("c_fc", self.c_fc.parameters());
        p.extend(prefixed("c_proj", self.c_proj.parameters()));
        p
    }
}

/// A pre-norm transformer block (GPT-2, nanoGPT's `Block`): causal
/// self-attention and an MLP, each reading a LayerNorm of the residual
/// stream and adding its output back to it:
///
/// ```text
/// x = x + attn(ln_1(x))
/// x = x + mlp(ln_2(x))
/// ```
///
/// Its parameters are named `ln_1.weight`, `attn.c_attn.weight`, ...,
/// `mlp.c_proj.weight`, as in nanoGPT.
///
/// ```
/// use backprop::nn::{Block, LayerCache};
/// use backprop::{tensor::Rng, Graph, Tensor};
/// let block = Block::new(8, 2, false, 0.02, 0.01, &mut Rng::new(0));
/// let g = Graph::no_grad();
/// let x = Tensor::randn(&[3, 8], 0.0, 1.0, &mut Rng::new(1)); // one sequence of 3
/// let full = block.forward_seq(&g, g.constant(x.clone()), 1, 3, None).value();
/// let mut cache = LayerCache::new();
/// for t in 0..3 {
///     let mut row = x.data()[t * 8..(t + 1) * 8].to_vec();
///     block.step(&mut row, &mut cache);
///     assert!(row.iter().zip(&full.data()[t * 8..(t + 1) * 8]).all(|(a, b)| (a - b).abs() < 1e-5));
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Block {
    /// The LayerNorm before attention.
    pub ln_1: LayerNorm,
    /// Causal self-attention.
    pub attn: CausalSelfAttention,
    /// The LayerNorm before the MLP.
    pub ln_2: LayerNorm,
    /// The MLP.
    pub mlp: FeedForward,
}

impl Block {
    /// A block over `embd` channels with `heads` heads; weights N(0, std^2),
    /// except the two projections into the residual stream, N(0, proj_std^2).
    ///
    /// # Panics
    /// When `heads` does not divide `embd`.
    pub fn new(embd: usize, heads: usize, bias: bool, std: f32, proj_std: f32, rng: &mut Rng) -> Block {
        Block {
            ln_1: LayerNorm::new(embd, bias),
            attn: CausalSelfAttention::new(embd, heads, bias, std, proj_std, rng),
            ln_2: LayerNorm::new(embd, bias),
            mlp: FeedForward::new(embd, bias, std, proj_std, rng),
        }
    }

    /// The names and shapes of a block's parameters over `embd` channels,
    /// without building it (see [`Block::parameters`](Module::parameters)).
    pub fn shapes(embd: usize, bias: bool) -> Result<Vec<(String, Vec<usize>)>> {
        Ok(Block::named(
            LayerNorm::shapes(embd, bias),
            CausalSelfAttention::shapes(embd, bias)?,
            LayerNorm::shapes(embd, bias),
            FeedForward::shapes(embd, bias)?,
        ))
    }

    /// The one place a block's parameter names are given, for parameters and shapes alike.
    fn named<T>(
        ln_1: Vec<(String, T)>,
        attn: Vec<(String, T)>,
        ln_2: Vec<(String, T)>,
        mlp: Vec<(String, T)>,
    ) -> Vec<(String, T)> {
        let mut p = prefixed("ln_1", ln_1);
        p.extend(prefixed("attn", attn));
        p.extend(prefixed("ln_2", ln_2));
        p.extend(prefixed("mlp", mlp));
        p
    }

    /// `x` is `[batch * time, C]`, `batch` sequences of `time` positions
    /// (rows in batch-major order); returns the same shape. With `dropout`,
    /// each branch's output is dropped out before it joins the residual stream.
    pub fn forward_seq<'g>(
        &self,
        g: &'g Graph,
        x: Var<'g>,
        batch: usize,
        time: usize,
        dropout: Option<&Dropout>,
    ) -> Var<'g> {
        let drop = |y: Var<'g>| dropout.map_or(y, |d| d.forward(g, y));
        let x = x + drop(self.attn.forward_seq(g, self.ln_1.forward(g, x), batch, time));
        x + drop(self.mlp.forward(g, self.ln_2.forward(g, x)))
    }

    /// The block on one new position `x` (`[C]`, updated in place), which
    /// attends to the positions in `cache` and joins them: the last row of
    /// [`Block::forward_seq`] over all of them.
    pub fn step(&self, x: &mut [f32], cache: &mut LayerCache) {
        let a = self.attn.step(&self.ln_1.forward_row(x), cache);
        x.iter_mut().zip(&a).for_each(|(x, a)| *x += a);
        let m = self.mlp.forward_row(&self.ln_2.forward_row(x));
        x.iter_mut().zip(&m).for_each(|(x, m)| *x += m);
    }
}

impl Module for Block {
    /// Treats `x` `[T, C]` as one sequence; see [`Block::forward_seq`].
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        let time = x.shape()[0];
        self.forward_seq(g, x, 1, time, None)
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        Block::named(self.ln_1.parameters(), self.attn.parameters(), self.ln_2.parameters(), self.mlp.parameters())
    }
}
