//! A GPT: token and position embeddings, pre-norm transformer [`Block`]s
//! (attention and a GELU MLP, each added back to a residual stream), a final
//! LayerNorm and a projection to next-token logits, optionally tied to the
//! token embedding. Parameter names follow nanoGPT (`transformer.h.0.attn.c_attn.weight`).
//!
//! Cached generation ([`Gpt::step`], [`Gpt::generate`]) lives in `gpt_cache.rs`
//! and runs through the same layers, one position at a time.

use super::{checked_mul, prefixed, total_numel, Block, Dropout, Embedding, Init, LayerNorm, Linear, Module};
use crate::autograd::{Graph, Param, Var};
use crate::tensor::Rng;
use crate::{Error, Result};

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
    /// Checks the sizes; an error names the offending field (`heads`, `embd`, ...):
    ///
    /// ```
    /// use backprop::nn::GptConfig;
    /// let cfg = GptConfig { vocab_size: 5, block_size: 8, layers: 1, heads: 3, embd: 128, dropout: 0.0, bias: false, tied: true };
    /// assert_eq!(cfg.validate().unwrap_err().to_string(), "invalid value for heads: 3 heads do not divide embd 128");
    /// ```
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("block_size", self.block_size),
            ("layers", self.layers),
            ("heads", self.heads),
            ("embd", self.embd),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1, got 0"));
            }
        }
        if !self.embd.is_multiple_of(self.heads) {
            return Err(Error::invalid("heads", format!("{} heads do not divide embd {}", self.heads, self.embd)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid("dropout", format!("must be in [0, 1), got {}", self.dropout)));
        }
        Ok(())
    }

    /// The name and shape of every parameter of the GPT this configuration
    /// describes, in [`Gpt::parameters`](Module::parameters)' order, computed
    /// from the layers' own shape functions without building anything, so a
    /// checkpoint can be checked before any allocation. Fails when the
    /// configuration is invalid or its sizes overflow (the total in bytes
    /// must fit an allocation, `isize::MAX`).
    ///
    /// ```
    /// use backprop::nn::GptConfig;
    /// let cfg = GptConfig { vocab_size: 5, block_size: 8, layers: 1, heads: 2, embd: 8, dropout: 0.0, bias: false, tied: true };
    /// let shapes = cfg.parameter_shapes().unwrap();
    /// assert_eq!(shapes[0], ("transformer.wte.weight".to_string(), vec![5, 8]));
    /// assert!(shapes.contains(&("transformer.h.0.mlp.c_fc.weight".to_string(), vec![32, 8])));
    /// let huge = GptConfig { embd: 1 << 40, heads: 1, ..cfg };
    /// assert!(huge.parameter_shapes().is_err());
    /// ```
    pub fn parameter_shapes(&self) -> Result<Vec<(String, Vec<usize>)>> {
        self.validate()?;
        let (c, bias) = (self.embd, self.bias);
        let block = Block::shapes(c, bias)?;
        let wte = Embedding::shapes(self.vocab_size, c);
        let wpe = Embedding::shapes(self.block_size, c);
        let ln_f = LayerNorm::shapes(c, bias);
        let lm_head = (!self.tied).then(|| Linear::shapes(c, self.vocab_size, false));
        // The total first, before the per-layer list is made.
        let too_big = || {
            Error::invalid("embd", format!("a GPT of {} layers of {c} channels would not fit in memory", self.layers))
        };
        let mut total = checked_mul(total_numel(&block, "embd")?, self.layers, "layers")?;
        let head = lm_head.clone().unwrap_or_default();
        for (field, s) in [("vocab_size", &wte), ("block_size", &wpe), ("embd", &ln_f), ("vocab_size", &head)] {
            total = total.checked_add(total_numel(s, field)?).ok_or_else(too_big)?;
        }
        if total.checked_mul(std::mem::size_of::<f32>()).filter(|&bytes| bytes <= isize::MAX as usize).is_none() {
            return Err(too_big());
        }
        Ok(Gpt::named(wte, wpe, (0..self.layers).map(|_| block.clone()), ln_f, lm_head))
    }
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
    pub(super) config: GptConfig,
    pub(super) wte: Embedding,
    pub(super) wpe: Embedding,
    pub(super) blocks: Vec<Block>,
    pub(super) ln_f: LayerNorm,
    pub(super) lm_head: Option<Linear>,
    dropout: Dropout,
}

impl Gpt {
    /// A GPT with GPT-2 initialisation: N(0, 0.02) weights, residual output
    /// projections N(0, 0.02 / sqrt(2 layers)), zero biases, unit LayerNorms.
    /// Fails when the configuration is invalid or too large to exist (see
    /// [`GptConfig::parameter_shapes`]).
    pub fn new(config: GptConfig, rng: &mut Rng) -> Result<Gpt> {
        config.parameter_shapes()?;
        let (c, std) = (config.embd, 0.02);
        let proj_std = std / (2.0 * config.layers as f32).sqrt();
        let wte = Embedding::new(config.vocab_size, c, std, rng);
        let wpe = Embedding::new(config.block_size, c, std, rng);
        let blocks = (0..config.layers).map(|_| Block::new(c, config.heads, config.bias, std, proj_std, rng)).collect();
        let lm_head = (!config.tied).then(|| Linear::new(c, config.vocab_size, false, Init::Normal(std), rng));
        let dropout = Dropout::new(config.dropout, rng.next_u64());
        let ln_f = LayerNorm::new(c, config.bias);
        Ok(Gpt { config, wte, wpe, blocks, ln_f, lm_head, dropout })
    }

    /// The configuration.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// Sets the dropout probability of training-mode forwards (fine-tuning a
    /// saved model with another dropout than it was trained with); its masks
    /// are drawn from `seed`. Dropout has no parameters: the weights are kept.
    ///
    /// ```
    /// use backprop::nn::{Gpt, GptConfig};
    /// use backprop::tensor::Rng;
    /// let cfg = GptConfig { vocab_size: 5, block_size: 8, layers: 1, heads: 2, embd: 8, dropout: 0.0, bias: false, tied: true };
    /// let mut gpt = Gpt::new(cfg, &mut Rng::new(0)).unwrap();
    /// gpt.set_dropout(0.1, 7).unwrap();
    /// assert_eq!(gpt.config().dropout, 0.1);
    /// assert!(gpt.set_dropout(1.0, 7).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `dropout` when `p` is not in [0, 1).
    pub fn set_dropout(&mut self, p: f32, seed: u64) -> Result<()> {
        GptConfig { dropout: p, ..self.config.clone() }.validate()?;
        self.config.dropout = p;
        self.dropout = Dropout::new(p, seed);
        Ok(())
    }

    /// The one place the model's parameter names are given, for parameters and shapes alike.
    fn named<T>(
        wte: Vec<(String, T)>,
        wpe: Vec<(String, T)>,
        blocks: impl Iterator<Item = Vec<(String, T)>>,
        ln_f: Vec<(String, T)>,
        lm_head: Option<Vec<(String, T)>>,
    ) -> Vec<(String, T)> {
        let mut p = prefixed("transformer.wte", wte);
        p.extend(prefixed("transformer.wpe", wpe));
        for (i, b) in blocks.enumerate() {
            p.extend(prefixed(&format!("transformer.h.{i}"), b));
        }
        p.extend(prefixed("transformer.ln_f", ln_f));
        p.extend(lm_head.map(|h| prefixed("lm_head", h)).unwrap_or_default());
        p
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
        let mut x = self.dropout.forward(g, (tok + pos).reshape(&[batch * time, c]));
        for block in &self.blocks {
            x = block.forward_seq(g, x, batch, time, Some(&self.dropout));
        }
        let x = self.ln_f.forward(g, x);
        match &self.lm_head {
            Some(head) => head.forward(g, x),
            None => self.wte.attend(g, x),
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
        Gpt::named(
            self.wte.parameters(),
            self.wpe.parameters(),
            self.blocks.iter().map(Module::parameters),
            self.ln_f.parameters(),
            self.lm_head.as_ref().map(Module::parameters),
        )
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
        use crate::checkpoint::CONFIG_KEY;
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        ckpt.require_kind("gpt", "a GPT")?;
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
        // Check the tensors against the configuration before building anything: a
        // corrupt or hostile configuration must not make us allocate a huge model.
        // Every block holds tensors, so more layers than tensors cannot fit (and
        // would make a long list of expected names).
        if config.layers > ckpt.tensors.len() {
            return Err(fail(format!(
                "the configuration claims {} layers but the file holds {} tensors",
                config.layers,
                ckpt.tensors.len()
            )));
        }
        let shapes = config.parameter_shapes().map_err(|e| fail(format!("bad GPT configuration: {e}")))?;
        ckpt.check_shapes(&shapes)?;
        let gpt = Gpt::new(config, &mut Rng::new(0))?;
        ckpt.restore_into(&gpt.parameters())?;
        Ok((gpt, tokenizer))
    }
}
