//! Causal multi-head self-attention with one fused Q/K/V projection.

use super::{prefixed, Init, Linear, Module};
use crate::autograd::{Graph, Param, Var};
use crate::tensor::Rng;

/// Causal self-attention: queries, keys and values from one `[C, 3C]`
/// projection, split into `heads` heads of size C/heads; scaled dot products
/// q.k / sqrt(d), the future masked, softmax, a weighted sum of values, and an
/// output projection.
#[derive(Clone, Debug)]
pub struct CausalSelfAttention {
    /// `[3C, C]`: the fused Q, K, V projection.
    pub c_attn: Linear,
    /// `[C, C]`: the output projection.
    pub c_proj: Linear,
    /// Number of heads.
    pub heads: usize,
}

impl CausalSelfAttention {
    /// Attention over `embd` channels split into `heads` heads; `proj_std` is
    /// the init std of the output projection (GPT-2 scales it down by depth).
    ///
    /// # Panics
    /// When `heads` does not divide `embd`.
    pub fn new(embd: usize, heads: usize, bias: bool, std: f32, proj_std: f32, rng: &mut Rng) -> Self {
        assert!(heads > 0 && embd % heads == 0, "attention: {heads} heads do not divide {embd} channels");
        CausalSelfAttention {
            c_attn: Linear::new(embd, 3 * embd, bias, Init::Normal(std), rng),
            c_proj: Linear::new(embd, embd, bias, Init::Normal(proj_std), rng),
            heads,
        }
    }

    /// `x` is `[batch * time, C]` (rows in batch-major order); returns the same shape.
    pub fn forward_seq<'g>(&self, g: &'g Graph, x: Var<'g>, batch: usize, time: usize) -> Var<'g> {
        let qkv = self.c_attn.forward(g, x); // [B*T, 3C]
        let y = qkv.causal_attention(batch, time, self.heads); // [B*T, C]
        self.c_proj.forward(g, y)
    }

    /// Named parameters.
    pub fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = prefixed("c_attn", self.c_attn.parameters());
        p.extend(prefixed("c_proj", self.c_proj.parameters()));
        p
    }
}
