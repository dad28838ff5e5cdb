//! Causal multi-head self-attention with one fused Q/K/V projection.

use super::{checked_mul, prefixed, Init, Linear, Module};
use crate::autograd::{Graph, Param, Var};
use crate::tensor::Rng;
use crate::Result;

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
        assert!(heads > 0 && embd.is_multiple_of(heads), "attention: {heads} heads do not divide {embd} channels");
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

    /// One new position `x` (`[C]`) attending to itself and every position
    /// in `cache`, which it joins: the last row of [`forward_seq`] over all of
    /// them, at the cost of one position (`[C]` out).
    ///
    /// The last row of a causal softmax is a plain softmax, so for each head
    /// `y = sum_j softmax_j(q.k_j / sqrt(d)) v_j` over the cached keys `k_j`
    /// and values `v_j` (Vaswani et al. 2017, eq. 1).
    ///
    /// [`forward_seq`]: CausalSelfAttention::forward_seq
    ///
    /// # Panics
    /// When `x` does not hold C values.
    pub fn step(&self, x: &[f32], cache: &mut LayerCache) -> Vec<f32> {
        let c = x.len();
        let hd = c / self.heads;
        let qkv = self.c_attn.forward_row(x);
        assert_eq!(qkv.len(), 3 * c, "attention step: {c} values for a layer of {} channels", qkv.len() / 3);
        cache.keys.extend_from_slice(&qkv[c..2 * c]);
        cache.values.extend_from_slice(&qkv[2 * c..]);
        let (keys, values) = (&cache.keys, &cache.values);
        let scale = 1.0 / (hd as f32).sqrt();
        let mut y = vec![0.0f32; c];
        let scores = &mut cache.scores;
        scores.resize(keys.len() / c, 0.0);
        for head in 0..self.heads {
            let q = &qkv[head * hd..(head + 1) * hd];
            for (j, s) in scores.iter_mut().enumerate() {
                let k = &keys[j * c + head * hd..j * c + (head + 1) * hd];
                *s = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>();
            }
            let max = scores.iter().fold(f32::NEG_INFINITY, |a, &s| a.max(s * scale));
            let mut sum = 0.0;
            scores.iter_mut().for_each(|s| {
                *s = (*s * scale - max).exp();
                sum += *s;
            });
            let out = &mut y[head * hd..(head + 1) * hd];
            for (j, &p) in scores.iter().enumerate() {
                let v = &values[j * c + head * hd..j * c + (head + 1) * hd];
                out.iter_mut().zip(v).for_each(|(o, v)| *o += p / sum * v);
            }
        }
        self.c_proj.forward_row(&y)
    }

    /// The names and shapes of the parameters of attention over `embd`
    /// channels, without building it: `c_attn` `[3C, C]` and `c_proj` `[C, C]`
    /// (with `[3C]`, `[C]` biases when `bias`). Fails when 3C overflows.
    pub fn shapes(embd: usize, bias: bool) -> Result<Vec<(String, Vec<usize>)>> {
        let mut s = prefixed("c_attn", Linear::shapes(embd, checked_mul(3, embd, "embd")?, bias));
        s.extend(prefixed("c_proj", Linear::shapes(embd, embd, bias)));
        Ok(s)
    }

    /// Named parameters.
    pub fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = prefixed("c_attn", self.c_attn.parameters());
        p.extend(prefixed("c_proj", self.c_proj.parameters()));
        p
    }
}

/// The keys and values one attention layer has seen, position after
/// position (`[positions, C]` each, row-major), for [`CausalSelfAttention::step`].
#[derive(Clone, Debug, Default)]
pub struct LayerCache {
    keys: Vec<f32>,
    values: Vec<f32>,
    /// Scratch for one head's attention scores, kept to avoid an allocation per step.
    scores: Vec<f32>,
}

impl LayerCache {
    /// An empty cache.
    pub fn new() -> LayerCache {
        LayerCache::default()
    }

    /// Positions cached, for a layer of `embd` channels.
    pub fn positions(&self, embd: usize) -> usize {
        self.keys.len() / embd.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    #[test]
    fn step_equals_the_last_row_of_the_sequence_forward() {
        let (c, t) = (8, 5);
        let attn = CausalSelfAttention::new(c, 2, true, 0.3, 0.3, &mut Rng::new(4));
        let x = Tensor::randn(&[t, c], 0.0, 1.0, &mut Rng::new(5));
        let g = Graph::no_grad();
        let full = attn.forward_seq(&g, g.constant(x.clone()), 1, t).value();
        let mut cache = LayerCache::new();
        for p in 0..t {
            let y = attn.step(&x.data()[p * c..(p + 1) * c], &mut cache);
            let want = &full.data()[p * c..(p + 1) * c];
            assert!(y.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "position {p}: {y:?} vs {want:?}");
        }
        assert_eq!(cache.positions(c), t);
        let real: Vec<(String, Vec<usize>)> = attn.parameters().into_iter().map(|(n, p)| (n, p.shape())).collect();
        assert_eq!(CausalSelfAttention::shapes(c, true).unwrap(), real);
        assert!(CausalSelfAttention::shapes(usize::MAX / 2, false).is_err());
    }
}
