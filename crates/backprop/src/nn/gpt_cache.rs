//! Cached generation for a [`Gpt`]: each new token runs one position through
//! the same layers as the batched forward pass ([`Block::step`],
//! [`LayerNorm::forward_row`], ...), attending to the keys and values cached
//! for earlier positions.

use super::{sample_logits, Gpt, LayerCache};
use crate::autograd::Graph;
use crate::tensor::Rng;

#[cfg(doc)]
use super::{Block, LayerNorm};

/// Keys and values of every position seen so far, per layer, so generating
/// one more token costs one position's work instead of the whole context.
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
}

impl KvCache {
    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Gpt {
    /// An empty cache for [`Gpt::step`].
    pub fn new_cache(&self) -> KvCache {
        KvCache { layers: vec![LayerCache::new(); self.blocks.len()], len: 0 }
    }

    /// Feeds one token at the next position and returns the logits for the
    /// token after it (`[vocab]`), reusing the cached keys and values of
    /// earlier positions: the last row of [`Gpt::forward_tokens`] over every
    /// token fed so far.
    ///
    /// ```
    /// use backprop::nn::{Gpt, GptConfig};
    /// use backprop::tensor::Rng;
    /// let cfg = GptConfig { vocab_size: 5, block_size: 8, layers: 1, heads: 2, embd: 8, dropout: 0.0, bias: false, tied: true };
    /// let gpt = Gpt::new(cfg, &mut Rng::new(0)).unwrap();
    /// let mut cache = gpt.new_cache();
    /// gpt.step(&mut cache, 3);
    /// let logits = gpt.step(&mut cache, 1);
    /// let full = gpt.logits_last(&[3, 1]);
    /// assert!(logits.iter().zip(&full).all(|(a, b)| (a - b).abs() < 1e-5));
    /// ```
    ///
    /// # Panics
    /// When the cache already holds `block_size` positions or the token is out of range.
    pub fn step(&self, cache: &mut KvCache, token: usize) -> Vec<f32> {
        let cfg = &self.config;
        let pos = cache.len;
        assert!(pos < cfg.block_size, "gpt step: the cache is full ({} positions)", cfg.block_size);
        assert!(token < cfg.vocab_size, "gpt step: token {token} outside the vocabulary of {}", cfg.vocab_size);
        let mut x = self.wte.row(token);
        x.iter_mut().zip(self.wpe.row(pos)).for_each(|(x, p)| *x += p);
        for (block, layer) in self.blocks.iter().zip(&mut cache.layers) {
            block.step(&mut x, layer);
        }
        cache.len += 1;
        let x = self.ln_f.forward_row(&x);
        match &self.lm_head {
            Some(head) => head.forward_row(&x),
            None => self.wte.attend_row(&x),
        }
    }

    /// Samples `count` tokens after `prompt` with [`sample_logits`], calling
    /// `emit` with each as it is drawn. Logits are divided by `temperature`;
    /// with `top_k`, only the k most likely tokens can be drawn. When the
    /// context fills, the cache is rebuilt from the last half block (the last
    /// token alone for a block of 1), so every step stays cheap.
    /// `count = 0` returns the prompt.
    ///
    /// # Panics
    /// When `prompt` is empty or holds an out-of-vocabulary token.
    pub fn generate(
        &self,
        prompt: &[usize],
        count: usize,
        temperature: f32,
        top_k: Option<usize>,
        rng: &mut Rng,
        mut emit: impl FnMut(usize),
    ) -> Vec<usize> {
        assert!(!prompt.is_empty(), "generate: the prompt is empty");
        let block = self.config.block_size;
        let mut tokens = prompt.to_vec();
        let mut cache = self.new_cache();
        let start = tokens.len().saturating_sub(block);
        let mut logits = Vec::new();
        for &t in &tokens[start..] {
            logits = self.step(&mut cache, t);
        }
        for _ in 0..count {
            let next = sample_logits(&logits, temperature, top_k, rng);
            emit(next);
            tokens.push(next);
            if cache.len() == block {
                // Keep the last half block (at least the new token, for a
                // block of 1): all but `next` go in now, `next` just below.
                let keep = (block / 2).max(1);
                cache = self.new_cache();
                for &t in &tokens[tokens.len() - keep..tokens.len() - 1] {
                    self.step(&mut cache, t);
                }
            }
            logits = self.step(&mut cache, next);
        }
        tokens
    }

    /// Forward on plain tensors for every position at once, without a cache:
    /// the reference [`Gpt::step`] is checked against.
    pub fn logits_last(&self, tokens: &[usize]) -> Vec<f32> {
        let g = Graph::no_grad();
        let t = tokens.len();
        let out = self.forward_tokens(&g, tokens, 1, t).value();
        out.data()[(t - 1) * self.config.vocab_size..].to_vec()
    }
}
