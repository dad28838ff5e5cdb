//! A GPT: token and position embeddings, pre-norm transformer blocks
//! (attention and a GELU MLP, each added back to a residual stream), a final
//! LayerNorm and a projection to next-token logits, optionally tied to the
//! token embedding. Parameter names follow nanoGPT (`transformer.h.0.attn.c_attn.weight`).

use super::{prefixed, CausalSelfAttention, Embedding, Init, LayerNorm, Linear, Module};
use crate::autograd::{layer_norm_rows, Graph, Param, Var};
use crate::tensor::{gelu_f32, matmul_into, Rng};
use crate::{Error, Result};
use std::sync::Mutex;

/// The shape of a GPT; stored in checkpoints.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GptConfig {
    /// Number of distinct tokens.
    pub vocab_size: usize,
    /// Longest context (positions).
    pub block_size: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// Channels of the residual stream.
    pub embd: usize,
    /// Dropout probability in training (0 disables it).
    pub dropout: f32,
    /// Whether Linear and LayerNorm layers have biases.
    pub bias: bool,
    /// Whether the output projection shares the token embedding matrix.
    pub tied: bool,
}

impl GptConfig {
    /// Checks the sizes, naming the offending setting.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("--vocab", self.vocab_size),
            ("--block-size", self.block_size),
            ("--layers", self.layers),
            ("--heads", self.heads),
            ("--embd", self.embd),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1, got 0"));
            }
        }
        if self.embd % self.heads != 0 {
            return Err(Error::invalid("--heads", format!("{} heads do not divide --embd {}", self.heads, self.embd)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid("--dropout", format!("must be in [0, 1), got {}", self.dropout)));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Block {
    ln_1: LayerNorm,
    attn: CausalSelfAttention,
    ln_2: LayerNorm,
    c_fc: Linear,
    c_proj: Linear,
}

/// A decoder-only transformer language model.
///
/// ```
/// use backprop::nn::{Gpt, GptConfig};
/// use backprop::{tensor::Rng, Graph};
/// let cfg = GptConfig { vocab_size: 5, block_size: 8, layers: 1, heads: 2, embd: 8, dropout: 0.0, bias: false, tied: true };
/// let gpt = Gpt::new(cfg, &mut Rng::new(0)).unwrap();
/// let g = Graph::no_grad();
/// let logits = gpt.forward_tokens(&g, &[1, 2, 3, 4, 0, 1], 2, 3); // 2 sequences of 3
/// assert_eq!(logits.shape(), vec![6, 5]);
/// ```
pub struct Gpt {
    config: GptConfig,
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Option<Linear>,
    dropout_rng: Mutex<Rng>,
}

impl Gpt {
    /// A GPT with GPT-2 initialisation: N(0, 0.02) weights, residual output
    /// projections N(0, 0.02 / sqrt(2 layers)), zero biases, unit LayerNorms.
    pub fn new(config: GptConfig, rng: &mut Rng) -> Result<Gpt> {
        config.validate()?;
        let (c, std) = (config.embd, 0.02);
        let proj_std = std / (2.0 * config.layers as f32).sqrt();
        let wte = Embedding::new(config.vocab_size, c, std, rng);
        let wpe = Embedding::new(config.block_size, c, std, rng);
        let blocks = (0..config.layers)
            .map(|_| Block {
                ln_1: LayerNorm::new(c, config.bias),
                attn: CausalSelfAttention::new(c, config.heads, config.bias, std, proj_std, rng),
                ln_2: LayerNorm::new(c, config.bias),
                c_fc: Linear::new(c, 4 * c, config.bias, Init::Normal(std), rng),
                c_proj: Linear::new(4 * c, c, config.bias, Init::Normal(proj_std), rng),
            })
            .collect();
        let lm_head = (!config.tied).then(|| Linear::new(c, config.vocab_size, false, Init::Normal(std), rng));
        let dropout_rng = Mutex::new(Rng::new(rng.next_u64()));
        let ln_f = LayerNorm::new(c, config.bias);
        Ok(Gpt { config, wte, wpe, blocks, ln_f, lm_head, dropout_rng })
    }

    /// The configuration.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    fn dropout<'g>(&self, x: Var<'g>) -> Var<'g> {
        let p = self.config.dropout;
        if p == 0.0 || !x.graph().is_training() {
            return x;
        }
        let mut rng = self.dropout_rng.lock().unwrap_or_else(|e| e.into_inner());
        x.dropout(p, &mut rng)
    }

    /// Next-token logits `[batch * time, vocab]` for `tokens` holding `batch`
    /// sequences of `time` tokens each (row-major).
    ///
    /// # Panics
    /// When `time` exceeds the block size, the token count is not
    /// `batch * time`, or a token is outside the vocabulary.
    pub fn forward_tokens<'g>(&self, g: &'g Graph, tokens: &[usize], batch: usize, time: usize) -> Var<'g> {
        assert!(
            time <= self.config.block_size,
            "gpt: sequence of {time} exceeds the block size {}",
            self.config.block_size
        );
        assert_eq!(tokens.len(), batch * time, "gpt: {} tokens for {batch} sequences of {time}", tokens.len());
        let c = self.config.embd;
        let positions: Vec<usize> = (0..time).collect();
        let tok = self.wte.lookup(g, tokens).reshape(&[batch, time, c]);
        let pos = self.wpe.lookup(g, &positions); // [T, C], broadcast over the batch
        let mut x = self.dropout((tok + pos).reshape(&[batch * time, c]));
        for b in &self.blocks {
            let a = b.attn.forward_seq(g, b.ln_1.forward(g, x), batch, time);
            x = x + self.dropout(a);
            let h = b.c_fc.forward(g, b.ln_2.forward(g, x)).gelu();
            x = x + self.dropout(b.c_proj.forward(g, h));
        }
        let x = self.ln_f.forward(g, x);
        match &self.lm_head {
            Some(head) => head.forward(g, x),
            None => x.matmul_t(false, g.param(&self.wte.weight), true),
        }
    }
}

impl Module for Gpt {
    /// Treats `x` as one sequence of token ids stored as floats `[T]`; prefer
    /// [`Gpt::forward_tokens`].
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        let ids: Vec<usize> = x.value().data().iter().map(|&v| v as usize).collect();
        let t = ids.len();
        self.forward_tokens(g, &ids, 1, t)
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = prefixed("transformer.wte", self.wte.parameters());
        p.extend(prefixed("transformer.wpe", self.wpe.parameters()));
        for (i, b) in self.blocks.iter().enumerate() {
            let pre = format!("transformer.h.{i}");
            p.extend(prefixed(&format!("{pre}.ln_1"), b.ln_1.parameters()));
            p.extend(prefixed(&format!("{pre}.attn"), b.attn.parameters()));
            p.extend(prefixed(&format!("{pre}.ln_2"), b.ln_2.parameters()));
            p.extend(prefixed(&format!("{pre}.mlp.c_fc"), b.c_fc.parameters()));
            p.extend(prefixed(&format!("{pre}.mlp.c_proj"), b.c_proj.parameters()));
        }
        p.extend(prefixed("transformer.ln_f", self.ln_f.parameters()));
        if let Some(head) = &self.lm_head {
            p.extend(prefixed("lm_head", head.parameters()));
        }
        p
    }
}

/// Keys and values of every position seen so far, per layer, so generating
/// one more token costs one position's work instead of the whole context.
pub struct KvCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
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

/// The weights of one layer read once for a generation step.
struct Weights {
    values: Vec<crate::Tensor>,
}

impl Weights {
    fn of(params: &[(String, Param)]) -> Weights {
        Weights { values: params.iter().map(|(_, p)| p.value()).collect() }
    }
}

fn linear_row(x: &[f32], layer: &Linear, w: &Weights, index: &mut usize) -> Vec<f32> {
    let weight = &w.values[*index];
    *index += 1;
    let (out, inp) = (weight.dim(0), weight.dim(1));
    let mut y = vec![0.0f32; out];
    matmul_into(&mut y, x, false, weight.data(), true, 1, inp, out, false);
    if layer.bias.is_some() {
        let b = &w.values[*index];
        *index += 1;
        y.iter_mut().zip(b.data()).for_each(|(y, b)| *y += b);
    }
    y
}

fn norm_row(x: &[f32], ln: &LayerNorm, w: &Weights, index: &mut usize) -> Vec<f32> {
    let gamma = w.values[*index].data();
    *index += 1;
    let beta = ln.bias.as_ref().map(|_| {
        *index += 1;
        w.values[*index - 1].data()
    });
    let mut out = vec![0.0f32; x.len()];
    layer_norm_rows(x, x.len(), Some(gamma), beta, ln.eps, &mut out);
    out
}

impl Gpt {
    /// An empty cache for [`Gpt::step`].
    pub fn new_cache(&self) -> KvCache {
        let n = self.config.layers;
        KvCache { keys: vec![Vec::new(); n], values: vec![Vec::new(); n], len: 0 }
    }

    /// Feeds one token at the next position and returns the logits for the
    /// token after it, reusing the cached keys and values of earlier positions.
    ///
    /// # Panics
    /// When the cache already holds `block_size` positions or the token is out of range.
    pub fn step(&self, cache: &mut KvCache, token: usize) -> Vec<f32> {
        let cfg = &self.config;
        let (c, h) = (cfg.embd, cfg.heads);
        let hd = c / h;
        let pos = cache.len;
        assert!(pos < cfg.block_size, "gpt step: the cache is full ({} positions)", cfg.block_size);
        assert!(token < cfg.vocab_size, "gpt step: token {token} outside the vocabulary of {}", cfg.vocab_size);
        let wte = self.wte.weight.value();
        let wpe = self.wpe.weight.value();
        let mut x: Vec<f32> = wte.data()[token * c..(token + 1) * c]
            .iter()
            .zip(&wpe.data()[pos * c..(pos + 1) * c])
            .map(|(a, b)| a + b)
            .collect();
        let scale = 1.0 / (hd as f32).sqrt();
        for (l, b) in self.blocks.iter().enumerate() {
            let mut params = b.ln_1.parameters();
            params.extend(b.attn.parameters());
            params.extend(b.ln_2.parameters());
            params.extend(b.c_fc.parameters());
            params.extend(b.c_proj.parameters());
            let w = Weights::of(&params);
            let mut i = 0;
            let hn = norm_row(&x, &b.ln_1, &w, &mut i);
            let qkv = linear_row(&hn, &b.attn.c_attn, &w, &mut i);
            cache.keys[l].extend_from_slice(&qkv[c..2 * c]);
            cache.values[l].extend_from_slice(&qkv[2 * c..]);
            let (keys, values) = (&cache.keys[l], &cache.values[l]);
            let mut y = vec![0.0f32; c];
            let mut scores = vec![0.0f32; pos + 1];
            for head in 0..h {
                let q = &qkv[head * hd..(head + 1) * hd];
                for (j, s) in scores.iter_mut().enumerate() {
                    let k = &keys[j * c + head * hd..j * c + (head + 1) * hd];
                    *s = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>();
                }
                // The last row of a causal softmax over pos+1 positions is a plain softmax.
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
            let a = linear_row(&y, &b.attn.c_proj, &w, &mut i);
            x.iter_mut().zip(&a).for_each(|(x, a)| *x += a);
            let hn = norm_row(&x, &b.ln_2, &w, &mut i);
            let f: Vec<f32> = linear_row(&hn, &b.c_fc, &w, &mut i).into_iter().map(gelu_f32).collect();
            let m = linear_row(&f, &b.c_proj, &w, &mut i);
            x.iter_mut().zip(&m).for_each(|(x, m)| *x += m);
        }
        cache.len += 1;
        let w = Weights::of(&self.ln_f.parameters());
        let xn = norm_row(&x, &self.ln_f, &w, &mut 0);
        let mut logits = vec![0.0f32; cfg.vocab_size];
        let head = self.lm_head.as_ref().map_or(wte, |h| h.weight.value());
        matmul_into(&mut logits, &xn, false, head.data(), true, 1, c, cfg.vocab_size, false);
        logits
    }

    /// Samples `count` tokens after `prompt`, calling `emit` with each as it
    /// is drawn. Logits are divided by `temperature`; with `top_k`, only the k
    /// most likely tokens can be drawn. When the context fills, the cache is
    /// rebuilt from the last half block, so every step stays cheap.
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
            let next = sample(&logits, temperature, top_k, rng);
            emit(next);
            tokens.push(next);
            if cache.len() == block {
                cache = self.new_cache();
                for &t in &tokens[tokens.len() - block / 2..tokens.len() - 1] {
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

/// Draws a token from `logits / temperature`, restricted to the `top_k` best.
pub fn sample(logits: &[f32], temperature: f32, top_k: Option<usize>, rng: &mut Rng) -> usize {
    let mut scaled: Vec<f32> = logits.iter().map(|l| l / temperature.max(1e-6)).collect();
    if let Some(k) = top_k.filter(|&k| k > 0 && k < scaled.len()) {
        let mut sorted = scaled.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let cutoff = sorted[k - 1];
        scaled.iter_mut().filter(|v| **v < cutoff).for_each(|v| *v = f32::NEG_INFINITY);
    }
    let max = scaled.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let probs: Vec<f32> = scaled.iter().map(|v| (v - max).exp()).collect();
    let total: f32 = probs.iter().sum();
    let mut r = rng.next_f32() * total;
    for (i, p) in probs.iter().enumerate() {
        if r < *p {
            return i;
        }
        r -= p;
    }
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

impl GptConfig {
    /// Total parameter count, or `None` if it overflows (a corrupt configuration).
    pub fn parameter_count(&self) -> Option<usize> {
        let c = self.embd;
        let b = usize::from(self.bias);
        let ln = c.checked_mul(1 + b)?;
        let per_block = ln
            .checked_mul(2)?
            .checked_add(c.checked_mul(3 * c)?.checked_add(3 * c * b)?)?
            .checked_add(c.checked_mul(c)?.checked_add(c * b)?)?
            .checked_add(c.checked_mul(4 * c)?.checked_add(4 * c * b)?)?
            .checked_add((4 * c).checked_mul(c)?.checked_add(c * b)?)?;
        let head = if self.tied { 0 } else { self.vocab_size.checked_mul(c)? };
        self.vocab_size
            .checked_add(self.block_size)?
            .checked_mul(c)?
            .checked_add(per_block.checked_mul(self.layers)?)?
            .checked_add(ln)?
            .checked_add(head)
    }
}

/// Metadata key holding a GPT's vocabulary (a JSON list of characters).
pub const VOCAB_KEY: &str = "backprop.vocab";

impl Gpt {
    /// Saves weights, configuration and the tokenizer's characters.
    pub fn save(&self, path: &std::path::Path, tokenizer: &crate::data::CharTokenizer) -> Result<()> {
        use crate::checkpoint::{CONFIG_KEY, KIND_KEY};
        let mut meta = std::collections::BTreeMap::new();
        meta.insert(KIND_KEY.to_string(), "gpt".to_string());
        meta.insert(CONFIG_KEY.to_string(), serde_json::to_string(&self.config).expect("GptConfig serializes"));
        meta.insert(VOCAB_KEY.to_string(), serde_json::to_string(tokenizer.chars()).expect("chars serialize"));
        crate::checkpoint::save(path, &self.parameters(), &meta)
    }

    /// Rebuilds a GPT and its tokenizer from a checkpoint written by [`Gpt::save`].
    pub fn from_checkpoint(ckpt: &crate::checkpoint::Checkpoint) -> Result<(Gpt, crate::data::CharTokenizer)> {
        use crate::checkpoint::{CONFIG_KEY, KIND_KEY};
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        let kind = ckpt.require(KIND_KEY)?;
        if kind != "gpt" {
            return Err(fail(format!("holds a '{kind}' model, not a GPT")));
        }
        let config: GptConfig =
            serde_json::from_str(ckpt.require(CONFIG_KEY)?).map_err(|e| fail(format!("bad GPT configuration: {e}")))?;
        config.validate().map_err(|e| fail(format!("bad GPT configuration: {e}")))?;
        let chars: Vec<char> =
            serde_json::from_str(ckpt.require(VOCAB_KEY)?).map_err(|e| fail(format!("bad vocabulary: {e}")))?;
        let tokenizer = crate::data::CharTokenizer::from_chars(chars);
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(fail(format!(
                "the vocabulary has {} characters but the model {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let held: usize = ckpt.tensors.values().map(crate::Tensor::numel).sum();
        if config.parameter_count() != Some(held) {
            return Err(fail(format!(
                "the configuration needs {:?} parameters but the file holds {held}",
                config.parameter_count()
            )));
        }
        let gpt = Gpt::new(config, &mut Rng::new(0))?;
        ckpt.restore_into(&gpt.parameters())?;
        Ok((gpt, tokenizer))
    }
}
