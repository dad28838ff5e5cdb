//! Autoencoders for anomaly detection: an encoder squeezes an image into a
//! small code (the bottleneck), a decoder rebuilds the image from it. Trained
//! on normal images only, they rebuild those well and others badly, so the
//! reconstruction error is an anomaly score.
//!
//! Two shapes ([`AeArch`]): an MLP (`784-256-64-code`, mirrored) and a
//! convolutional one (two stride-2 3x3 convolutions down, two stride-2 4x4
//! transposed convolutions up). With `variational`, the encoder gives the
//! mean and log-variance of a Gaussian code, sampled with the
//! reparameterisation trick `z = mu + exp(logvar / 2) * eps`, and the loss is
//! the negative ELBO: reconstruction plus `KL(q(z|x) || N(0, I))` (Kingma &
//! Welling, "Auto-encoding variational Bayes", ICLR 2014).
//!
//! Pixels are in [0, 1]; the decoder outputs logits and the reconstruction
//! term is the binary cross-entropy summed over pixels (the Bernoulli
//! negative log-likelihood), averaged over the batch.
//!
//! ```
//! use backprop::nn::{AeArch, Autoencoder, AutoencoderConfig};
//! use backprop::{autograd::Graph, tensor::Rng, Tensor};
//! let config = AutoencoderConfig { arch: AeArch::Conv, input: [1, 8, 8], bottleneck: 4, variational: true };
//! let ae = Autoencoder::new(config, &mut Rng::new(0))?;
//! let x = Tensor::full(&[2, 64], 0.5);
//! let g = Graph::new();
//! let loss = ae.loss(&g, g.constant(x.clone()), &mut Rng::new(1));
//! assert!(loss.value().item() > 0.0);
//! assert_eq!(ae.reconstruct(&x).shape(), &[2, 64]);
//! assert_eq!(ae.anomaly_scores(&x, 10).len(), 2);
//! # Ok::<(), backprop::Error>(())
//! ```

use super::{Activation, Conv2d, ConvTranspose2d, Init, Linear, Module, Sequential};
use crate::autograd::{Graph, Param, Var};
use crate::checkpoint::{Checkpoint, CONFIG_KEY, KIND_KEY};
use crate::loss::bce_with_logits;
use crate::tensor::{Conv2dOptions, ConvTranspose2dOptions, Rng};
use crate::{Error, Result, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The checkpoint kind of an autoencoder.
pub const AUTOENCODER_KIND: &str = "autoencoder";

/// The encoder and decoder's layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AeArch {
    /// Fully connected: inputs-256-64-code and back, ReLU between.
    Mlp,
    /// Convolutional: 16 and 32 channels of 3x3 stride-2 convolutions (the
    /// image shrinks 4x per side), a linear code, and transposed 4x4 stride-2
    /// convolutions back. Sides must be multiples of 4.
    Conv,
}

/// What [`Autoencoder::new`] builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderConfig {
    /// MLP or convolutional.
    pub arch: AeArch,
    /// `[channels, height, width]` of an input image.
    pub input: [usize; 3],
    /// Size of the code.
    pub bottleneck: usize,
    /// A variational autoencoder (Gaussian code, negative-ELBO loss).
    pub variational: bool,
}

/// An (optionally variational) autoencoder: `[N, C*H*W]` in, reconstruction logits out.
pub struct Autoencoder {
    config: AutoencoderConfig,
    encoder: Sequential,
    decoder: Sequential,
}

const MLP_HIDDEN: [usize; 2] = [256, 64];
const CONV_CHANNELS: [usize; 2] = [16, 32];

impl Autoencoder {
    /// Builds the network with fresh weights.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the bottleneck is 0 or, for `Conv`,
    /// a side is not a multiple of 4.
    pub fn new(config: AutoencoderConfig, rng: &mut Rng) -> Result<Autoencoder> {
        Autoencoder::build(config, Activation::Relu, rng)
    }

    /// [`Autoencoder::new`] with another activation between the layers (a smooth one lets the
    /// gradient check avoid ReLU's kink).
    fn build(config: AutoencoderConfig, act: Activation, rng: &mut Rng) -> Result<Autoencoder> {
        let [c, h, w] = config.input;
        let inputs = c * h * w;
        if config.bottleneck == 0 || inputs == 0 {
            return Err(Error::invalid("bottleneck", "the code and the input need at least 1 value"));
        }
        let code_out = config.bottleneck * if config.variational { 2 } else { 1 };
        let (encoder, decoder) = match config.arch {
            AeArch::Mlp => {
                let [a, b] = MLP_HIDDEN;
                let enc = Sequential::new()
                    .push(Linear::new(inputs, a, true, Init::He, rng))
                    .push(act)
                    .push(Linear::new(a, b, true, Init::He, rng))
                    .push(act)
                    .push(Linear::new(b, code_out, true, Init::Xavier, rng));
                let dec = Sequential::new()
                    .push(Linear::new(config.bottleneck, b, true, Init::He, rng))
                    .push(act)
                    .push(Linear::new(b, a, true, Init::He, rng))
                    .push(act)
                    .push(Linear::new(a, inputs, true, Init::Xavier, rng));
                (enc, dec)
            }
            AeArch::Conv => {
                if h % 4 != 0 || w % 4 != 0 {
                    let message =
                        format!("a convolutional autoencoder needs sides that are multiples of 4, got {h}x{w}");
                    return Err(Error::invalid("input", message));
                }
                let [c1, c2] = CONV_CHANNELS;
                let down = Conv2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
                let up = ConvTranspose2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
                let flat = c2 * (h / 4) * (w / 4);
                let enc = Sequential::new()
                    .push(Conv2d::new(c, c1, [3, 3], down, true, rng))
                    .push(act)
                    .push(Conv2d::new(c1, c2, [3, 3], down, true, rng))
                    .push(act)
                    .push(Linear::new(flat, code_out, true, Init::Xavier, rng));
                let dec = Sequential::new()
                    .push(Linear::new(config.bottleneck, flat, true, Init::He, rng))
                    .push(act)
                    .push(ConvTranspose2d::new(c2, c1, [4, 4], up, true, rng))
                    .push(act)
                    .push(ConvTranspose2d::new(c1, c, [4, 4], up, true, rng));
                (enc, dec)
            }
        };
        Ok(Autoencoder { config, encoder, decoder })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &AutoencoderConfig {
        &self.config
    }

    /// Values per input example.
    pub fn inputs(&self) -> usize {
        self.config.input.iter().product()
    }

    /// The code's mean (`[N, bottleneck]`) and, for a VAE, its log-variance.
    pub fn encode<'g>(&self, g: &'g Graph, x: Var<'g>) -> (Var<'g>, Option<Var<'g>>) {
        let n = x.shape()[0];
        let [c, h, w] = self.config.input;
        let out = match self.config.arch {
            AeArch::Mlp => self.encoder.forward(g, x),
            AeArch::Conv => {
                let last = self.encoder.len() - 1;
                let maps = (0..last).fold(x.reshape(&[n, c, h, w]), |v, i| self.encoder.layer(i).forward(g, v));
                // The last Linear reads the flattened feature map.
                let flat = maps.shape()[1..].iter().product();
                self.encoder.layer(last).forward(g, maps.reshape(&[n, flat]))
            }
        };
        let b = self.config.bottleneck;
        if self.config.variational {
            (out.narrow(1, 0, b), Some(out.narrow(1, b, b)))
        } else {
            (out, None)
        }
    }

    /// Reconstruction logits `[N, C*H*W]` of codes `z` (`[N, bottleneck]`).
    pub fn decode<'g>(&self, g: &'g Graph, z: Var<'g>) -> Var<'g> {
        let n = z.shape()[0];
        let [c, h, w] = self.config.input;
        match self.config.arch {
            AeArch::Mlp => self.decoder.forward(g, z),
            AeArch::Conv => {
                let [_, c2] = CONV_CHANNELS;
                let first = self.decoder.layer(0).forward(g, z);
                let first = self.decoder.layer(1).forward(g, first).reshape(&[n, c2, h / 4, w / 4]);
                let out = (2..self.decoder.len()).fold(first, |v, i| self.decoder.layer(i).forward(g, v));
                out.reshape(&[n, c * h * w])
            }
        }
    }

    /// The training loss of a batch `x` (`[N, C*H*W]`, values in [0, 1]):
    /// binary cross-entropy summed over pixels, plus for a VAE the KL term
    /// `-1/2 sum(1 + logvar - mu^2 - exp(logvar))` with the code sampled as
    /// `mu + exp(logvar / 2) * eps`, `eps ~ N(0, I)` from `rng`; averaged over the batch.
    pub fn loss<'g>(&self, g: &'g Graph, x: Var<'g>, rng: &mut Rng) -> Var<'g> {
        let shape = x.shape();
        let (n, d) = (shape[0], shape[1]);
        let (mu, logvar) = self.encode(g, x);
        let z = match logvar {
            Some(lv) => {
                let eps =
                    Tensor::from_vec((0..n * self.config.bottleneck).map(|_| rng.normal()).collect(), &mu.shape());
                mu + (lv * 0.5).exp() * g.constant(eps)
            }
            None => mu,
        };
        let recon = bce_with_logits(self.decode(g, z), x) * d as f32;
        match logvar {
            Some(lv) => recon + kl_divergence(mu, lv) * (1.0 / n as f32),
            None => recon,
        }
    }

    /// Reconstructions in [0, 1] of `x` (`[N, C*H*W]`), decoding the code's mean.
    pub fn reconstruct(&self, x: &Tensor) -> Tensor {
        let g = Graph::no_grad();
        let (mu, _) = self.encode(&g, g.constant(x.clone()));
        self.decode(&g, mu).value().sigmoid()
    }

    /// Anomaly scores of each row of `inputs`, higher for inputs more like
    /// the training data: minus the reconstruction error (binary
    /// cross-entropy summed over pixels, decoding the code's mean), and for
    /// a VAE minus that plus the KL term (the negative ELBO at the mean code).
    pub fn anomaly_scores(&self, inputs: &Tensor, batch_size: usize) -> Vec<f32> {
        let d = self.inputs();
        let mut scores = Vec::with_capacity(inputs.dim(0));
        for ids in crate::data::batch_indices(inputs.dim(0), batch_size.max(1), None) {
            let x = inputs.index_select(&ids);
            let g = Graph::no_grad();
            let (mu, logvar) = self.encode(&g, g.constant(x.clone()));
            let logits = self.decode(&g, mu).value();
            let kl: Vec<f32> = match logvar {
                Some(lv) => per_row_kl(&mu.value(), &lv.value()),
                None => vec![0.0; ids.len()],
            };
            for ((l, t), k) in logits.data().chunks(d).zip(x.data().chunks(d)).zip(kl) {
                let bce: f64 = l.iter().zip(t).map(|(&l, &t)| f64::from(bce_term(l, t))).sum();
                scores.push(-(bce as f32 + k));
            }
        }
        scores
    }

    /// Saves weights and configuration; `extra` metadata is stored alongside.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let mut meta = extra.clone();
        meta.insert(KIND_KEY.into(), AUTOENCODER_KIND.into());
        meta.insert(CONFIG_KEY.into(), serde_json::to_string(&self.config).expect("the config serializes"));
        crate::checkpoint::save(path, &self.parameters(), &meta)
    }

    /// Rebuilds an autoencoder saved by [`Autoencoder::save`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file when the configuration does not
    /// parse or the tensors do not match it.
    pub fn from_checkpoint(ckpt: &Checkpoint) -> Result<Autoencoder> {
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        let config: AutoencoderConfig = serde_json::from_str(ckpt.require(CONFIG_KEY)?)
            .map_err(|e| fail(format!("bad autoencoder configuration: {e}")))?;
        let [c, h, w] = config.input;
        let size = c.checked_mul(h).and_then(|v| v.checked_mul(w));
        if !matches!(size, Some(1..=16_777_216)) || config.bottleneck > 65_536 {
            return Err(fail(format!("autoencoder configuration {:?} is out of range", config.input)));
        }
        let ae = Autoencoder::new(config, &mut Rng::new(0)).map_err(|e| fail(e.to_string()))?;
        ckpt.restore_into(&ae.parameters())?;
        Ok(ae)
    }
}

/// `-1/2 sum(1 + logvar - mu^2 - exp(logvar))` over the whole batch (divide by N for the mean).
fn kl_divergence<'g>(mu: Var<'g>, logvar: Var<'g>) -> Var<'g> {
    ((mu.square() + logvar.exp() - logvar - 1.0) * 0.5).sum()
}

fn per_row_kl(mu: &Tensor, logvar: &Tensor) -> Vec<f32> {
    let b = mu.dim(1).max(1);
    mu.data()
        .chunks(b)
        .zip(logvar.data().chunks(b))
        .map(|(m, l)| m.iter().zip(l).map(|(&m, &l)| 0.5 * (m * m + l.exp() - l - 1.0)).sum())
        .collect()
}

/// Binary cross-entropy of one logit `l` against a target `t` in [0, 1], stably.
fn bce_term(l: f32, t: f32) -> f32 {
    l.max(0.0) - l * t + (-l.abs()).exp().ln_1p()
}

impl Module for Autoencoder {
    /// Reconstruction logits, decoding the code's mean.
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        let (mu, _) = self.encode(g, x);
        self.decode(g, mu)
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        let mut all: Vec<(String, Param)> =
            self.encoder.parameters().into_iter().map(|(n, p)| (format!("encoder.{n}"), p)).collect();
        all.extend(self.decoder.parameters().into_iter().map(|(n, p)| (format!("decoder.{n}"), p)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::{gradcheck_params_with, ParamCheckOptions};

    #[test]
    fn shapes_names_and_the_kl_term() {
        let config = AutoencoderConfig { arch: AeArch::Mlp, input: [1, 4, 4], bottleneck: 3, variational: true };
        let ae = Autoencoder::new(config, &mut Rng::new(0)).unwrap();
        let names: Vec<String> = ae.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "encoder.layers.0.weight");
        assert!(names.iter().any(|n| n == "decoder.layers.4.bias"));
        // KL of N(0, 1) against N(0, 1) is 0; of N(1, 1) it is 1/2 per dimension.
        assert_eq!(per_row_kl(&Tensor::zeros(&[1, 3]), &Tensor::zeros(&[1, 3])), vec![0.0]);
        assert_eq!(per_row_kl(&Tensor::full(&[1, 2], 1.0), &Tensor::zeros(&[1, 2])), vec![1.0]);
        // The anomaly score is minus the summed cross-entropy plus KL, per example.
        let x = Tensor::from_vec((0..32).map(|i| (i % 5) as f32 / 4.0).collect(), &[2, 16]);
        let s = ae.anomaly_scores(&x, 1);
        assert!(s.iter().all(|v| *v < 0.0 && v.is_finite()), "{s:?}");
        assert!((bce_term(0.0, 1.0) - 2f32.ln()).abs() < 1e-6);
        assert!(Autoencoder::new(
            AutoencoderConfig { arch: AeArch::Conv, input: [1, 6, 6], bottleneck: 2, variational: false },
            &mut Rng::new(0)
        )
        .is_err());
    }

    #[test]
    fn the_loss_has_the_gradients_finite_differences_give() {
        for arch in [AeArch::Mlp, AeArch::Conv] {
            let config = AutoencoderConfig { arch, input: [1, 4, 4], bottleneck: 2, variational: true };
            // tanh: finite differences across ReLU's kink would not compare (ReLU's own rule is checked elsewhere).
            let ae = Autoencoder::build(config, Activation::Tanh, &mut Rng::new(3)).unwrap();
            let x = Tensor::from_vec((0..32).map(|i| ((i * 7) % 9) as f32 / 8.0).collect(), &[2, 16]);
            // The same loss with the f32 network outputs summed in f64, so that the finite
            // differences are not lost in the rounding of a loss of ~20 (the docs of
            // gradcheck_params_with); a fixed eps (same seed each call) makes it deterministic.
            let eval = || {
                let g = Graph::no_grad();
                let (mu, lv) = ae.encode(&g, g.constant(x.clone()));
                let mut rng = Rng::new(9);
                let eps = Tensor::from_vec((0..4).map(|_| rng.normal()).collect(), &[2, 2]);
                let z = match lv {
                    Some(lv) => mu + (lv * 0.5).exp() * g.constant(eps),
                    None => mu,
                };
                let logits = ae.decode(&g, z).value();
                let recon: f64 = logits.data().iter().zip(x.data()).map(|(&l, &t)| f64::from(bce_term(l, t))).sum();
                let kl: f64 = match lv {
                    Some(lv) => per_row_kl(&mu.value(), &lv.value()).iter().map(|&k| f64::from(k)).sum(),
                    None => 0.0,
                };
                (recon + kl) / 2.0
            };
            let checks = gradcheck_params_with(
                &ae.parameters(),
                |g| ae.loss(g, g.constant(x.clone()), &mut Rng::new(9)),
                eval,
                // f32 forward passes: a wider step and an absolute floor of 1e-3 (gradients are O(1)).
                &ParamCheckOptions { eps: 1e-2, atol: 1e-3, rtol: 1e-2, ..Default::default() },
            )
            .unwrap();
            assert!(checks.iter().all(|c| c.passed), "{arch:?}: {checks:?}");
        }
    }
}
