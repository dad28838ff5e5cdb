//! The generator and the discriminator, and their checkpoint.

use super::config::{GanArch, GanConfig};
use crate::autograd::{Graph, Param, Var};
use crate::checkpoint::{Checkpoint, CONFIG_KEY, KIND_KEY};
use crate::nn::{
    prefixed, Activation, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, Init, LeakyRelu, Linear, Module,
    Sequential,
};
use crate::tensor::{one_hot, Conv2dOptions, ConvTranspose2dOptions, Rng};
use crate::{Error, Result, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// The checkpoint kind of a GAN (stored under [`KIND_KEY`]).
pub const GAN_KIND: &str = "gan";

/// `[N, C*H*W]` to `[N, C, H, W]` (PyTorch's `nn.Unflatten(1, (C, H, W))`).
struct Unflatten([usize; 3]);

impl Module for Unflatten {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        let [c, h, w] = self.0;
        x.reshape(&[x.shape()[0], c, h, w])
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}

/// A generative adversarial network (Goodfellow et al. 2014): a generator
/// from noise (and, conditional, a class) to images in [-1, 1], and a
/// discriminator from images to a logit of "real".
///
/// Parameters are named `generator.layers.{i}.{weight,bias}` and
/// `discriminator.layers.{i}...` (PyTorch's names for two `nn.Sequential`
/// fields), so a PyTorch generator of the same layers saves into the same
/// checkpoint.
///
/// ```
/// use backprop::gan::{Gan, GanConfig};
/// use backprop::{tensor::Rng, Graph};
/// let gan = Gan::new(GanConfig::mlp(8, [1, 4, 4], 10), &mut Rng::new(0)).unwrap();
/// let g = Graph::no_grad();
/// let z = gan.noise(&g, 3, &mut Rng::new(1));
/// let images = gan.generate(&g, z, None).unwrap();
/// assert_eq!(images.shape(), vec![3, 16]);
/// assert!(images.value().data().iter().all(|v| v.abs() <= 1.0));
/// assert_eq!(gan.discriminate(&g, images, None).unwrap().shape(), vec![3, 1]);
/// ```
pub struct Gan {
    config: GanConfig,
    generator: Sequential,
    discriminator: Sequential,
}

impl Gan {
    /// Builds both networks with fresh weights (PyTorch's default initialisation).
    ///
    /// # Errors
    /// As [`GanConfig::check`].
    pub fn new(config: GanConfig, rng: &mut Rng) -> Result<Gan> {
        config.check()?;
        let (generator, discriminator) = match config.arch {
            GanArch::Mlp => mlp_networks(&config, rng),
            GanArch::Dcgan => dcgan_networks(&config, rng),
        };
        Ok(Gan { config, generator, discriminator })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &GanConfig {
        &self.config
    }

    /// The generator's parameters (what its optimizer updates).
    pub fn generator_parameters(&self) -> Vec<(String, Param)> {
        prefixed("generator", self.generator.parameters())
    }

    /// The discriminator's parameters.
    pub fn discriminator_parameters(&self) -> Vec<(String, Param)> {
        prefixed("discriminator", self.discriminator.parameters())
    }

    /// The generator's parameters and buffers (batch norm's running statistics).
    pub fn generator_state(&self) -> Vec<(String, Param)> {
        prefixed("generator", self.generator.state_dict())
    }

    /// The discriminator's parameters and buffers.
    pub fn discriminator_state(&self) -> Vec<(String, Param)> {
        prefixed("discriminator", self.discriminator.state_dict())
    }

    /// Both networks' buffers (kept by the trainer with the weights).
    pub fn buffers(&self) -> Vec<(String, Param)> {
        let mut b = prefixed("generator", self.generator.buffers());
        b.extend(prefixed("discriminator", self.discriminator.buffers()));
        b
    }

    /// `n` noise vectors `[n, latent]` from N(0, 1), as a constant of `g`.
    pub fn noise<'g>(&self, g: &'g Graph, n: usize, rng: &mut Rng) -> Var<'g> {
        g.constant(Tensor::randn(&[n, self.config.latent], 0.0, 1.0, rng))
    }

    /// Images `[N, C*H*W]` in [-1, 1] from noise `z` (`[N, latent]`) and, for
    /// a conditional GAN, one class per row.
    ///
    /// # Errors
    /// [`Error::Shape`]/[`Error::InvalidArgument`] when `z` is not
    /// `[N, latent]`, or the labels are missing (conditional), not one per
    /// row or not below `classes`, or given to an unconditional GAN.
    pub fn generate<'g>(&self, g: &'g Graph, z: Var<'g>, labels: Option<&[usize]>) -> Result<Var<'g>> {
        let shape = z.shape();
        if shape.len() != 2 || shape[1] != self.config.latent {
            return Err(Error::invalid(
                "noise",
                format!("the generator takes [N, {}] noise, got {shape:?}", self.config.latent),
            ));
        }
        let input = self.with_labels(g, z, labels, false)?;
        Ok(self.generator.forward(g, input))
    }

    /// Images `[N, C*H*W]` in [-1, 1] from the noise rows of `z`, in
    /// evaluation mode (batch norm's running statistics), in batches of 500.
    ///
    /// # Errors
    /// As [`Gan::generate`].
    pub fn sample(&self, z: &Tensor, labels: Option<&[usize]>) -> Result<Tensor> {
        let n = z.dim(0);
        let latent = self.config.latent;
        let mut out = Vec::with_capacity(n * self.config.outputs());
        for start in (0..n).step_by(500) {
            let end = (start + 500).min(n);
            let g = Graph::no_grad();
            let chunk = Tensor::from_vec(z.data()[start * latent..end * latent].to_vec(), &[end - start, latent]);
            let x = self.generate(&g, g.constant(chunk), labels.map(|l| &l[start.min(l.len())..end.min(l.len())]))?;
            out.extend_from_slice(x.value().data());
        }
        Ok(Tensor::from_vec(out, &[n, self.config.outputs()]))
    }

    /// The discriminator's logits `[N, 1]` ("real" when positive) for images
    /// `[N, C*H*W]` (and, conditional, their classes).
    ///
    /// # Errors
    /// As [`Gan::generate`], for images that are not `[N, C*H*W]`.
    pub fn discriminate<'g>(&self, g: &'g Graph, x: Var<'g>, labels: Option<&[usize]>) -> Result<Var<'g>> {
        let shape = x.shape();
        if shape.len() != 2 || shape[1] != self.config.outputs() {
            return Err(Error::invalid(
                "images",
                format!("the discriminator takes [N, {}] images, got {shape:?}", self.config.outputs()),
            ));
        }
        let input = self.with_labels(g, x, labels, true)?;
        Ok(self.discriminator.forward(g, input))
    }

    /// `x` with the one-hot classes appended (as planes for the DCGAN's
    /// discriminator), after checking the labels.
    fn with_labels<'g>(&self, g: &'g Graph, x: Var<'g>, labels: Option<&[usize]>, planes: bool) -> Result<Var<'g>> {
        let c = &self.config;
        let n = x.shape()[0];
        let labels = match (c.conditional, labels) {
            (false, None) => return Ok(x),
            (false, Some(_)) => return Err(Error::invalid("class", "the GAN is not conditional: it takes no class")),
            (true, None) => return Err(Error::invalid("class", "the GAN is conditional: it needs a class per image")),
            (true, Some(l)) => l,
        };
        if labels.len() != n {
            return Err(Error::invalid("class", format!("{} classes for {n} images", labels.len())));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= c.classes) {
            return Err(Error::invalid("class", format!("{bad} is not below the {} classes", c.classes)));
        }
        let hot = one_hot(labels, c.classes);
        if planes && c.arch == GanArch::Dcgan {
            let [_, h, w] = c.image;
            let mut data = Vec::with_capacity(n * c.classes * h * w);
            for row in hot.data().chunks(c.classes) {
                data.extend(row.iter().flat_map(|&v| std::iter::repeat_n(v, h * w)));
            }
            let planes = g.constant(Tensor::from_vec(data, &[n, c.classes * h * w]));
            // Channels first: the image's planes, then the classes'.
            return Ok(Var::concat(&[x, planes], 1));
        }
        Ok(Var::concat(&[x, g.constant(hot)], 1))
    }

    /// Saves both networks (parameters and buffers) and the configuration;
    /// `extra` metadata is stored alongside.
    ///
    /// # Errors
    /// As [`checkpoint::save`](crate::checkpoint::save).
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let mut meta = extra.clone();
        meta.insert(KIND_KEY.into(), GAN_KIND.into());
        meta.insert(CONFIG_KEY.into(), serde_json::to_string(&self.config).expect("GanConfig always serializes"));
        let mut state = self.generator_state();
        state.extend(self.discriminator_state());
        crate::checkpoint::save(path, &state, &meta)
    }

    /// Rebuilds a GAN from a checkpoint written by [`Gan::save`], or one that
    /// holds only the generator (`generator.*` tensors, as exported from
    /// PyTorch): the discriminator then keeps fresh weights.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file: not a GAN, a bad configuration,
    /// a tensor missing, of the wrong shape or not the model's.
    pub fn from_checkpoint(ckpt: &Checkpoint) -> Result<Gan> {
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        ckpt.require_kind(GAN_KIND, "a GAN")?;
        let config: GanConfig =
            serde_json::from_str(ckpt.require(CONFIG_KEY)?).map_err(|e| fail(format!("bad GAN configuration: {e}")))?;
        config.check().map_err(|e| fail(format!("bad GAN configuration: {e}")))?;
        let gan = Gan::new(config, &mut Rng::new(0))?;
        let mut state = gan.generator_state();
        if ckpt.tensors.keys().any(|k| k.starts_with("discriminator.")) {
            state.extend(gan.discriminator_state());
        }
        ckpt.restore_into(&state)?;
        Ok(gan)
    }
}

/// The MLP generator and discriminator of `c`.
fn mlp_networks(c: &GanConfig, rng: &mut Rng) -> (Sequential, Sequential) {
    let stack = |sizes: Vec<usize>, out: Option<Activation>, rng: &mut Rng| {
        let mut net = Sequential::new();
        for (i, pair) in sizes.windows(2).enumerate() {
            net = net.push(Linear::new(pair[0], pair[1], true, Init::PytorchDefault, rng));
            if i + 2 < sizes.len() {
                net = net.push(LeakyRelu::new(c.negative_slope));
            }
        }
        match out {
            Some(a) => net.push(a),
            None => net,
        }
    };
    let mut g_sizes = vec![c.generator_inputs()];
    g_sizes.extend(&c.generator_hidden);
    g_sizes.push(c.outputs());
    let mut d_sizes = vec![c.discriminator_inputs()];
    d_sizes.extend(&c.discriminator_hidden);
    d_sizes.push(1);
    (stack(g_sizes, Some(Activation::Tanh), rng), stack(d_sizes, None, rng))
}

/// The DCGAN generator and discriminator of `c` (see [`GanArch::Dcgan`]).
fn dcgan_networks(c: &GanConfig, rng: &mut Rng) -> (Sequential, Sequential) {
    let [ch, h, w] = c.image;
    let (h4, w4) = (h / 4, w / 4);
    let up = ConvTranspose2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
    let down = Conv2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
    let generator = Sequential::new()
        .push(Linear::new(c.generator_inputs(), 128 * h4 * w4, false, Init::PytorchDefault, rng))
        .push(BatchNorm1d::new(128 * h4 * w4))
        .push(Activation::Relu)
        .push(Unflatten([128, h4, w4]))
        .push(ConvTranspose2d::new(128, 64, [4, 4], up, false, rng))
        .push(BatchNorm2d::new(64))
        .push(Activation::Relu)
        .push(ConvTranspose2d::new(64, ch, [4, 4], up, true, rng))
        .push(Activation::Tanh)
        .push(Flatten);
    let discriminator = Sequential::new()
        .push(Unflatten([c.discriminator_channels(), h, w]))
        .push(Conv2d::new(c.discriminator_channels(), 64, [4, 4], down, true, rng))
        .push(LeakyRelu::new(c.negative_slope))
        .push(Conv2d::new(64, 128, [4, 4], down, false, rng))
        .push(BatchNorm2d::new(128))
        .push(LeakyRelu::new(c.negative_slope))
        .push(Flatten)
        .push(Linear::new(128 * h4 * w4, 1, true, Init::PytorchDefault, rng));
    (generator, discriminator)
}

/// The GAN as a module: the generator's forward pass (`[N, latent]` noise,
/// with the one-hot class appended when conditional, to `[N, C*H*W]`
/// images), and both networks' parameters and buffers.
impl Module for Gan {
    fn forward<'g>(&self, g: &'g Graph, z: Var<'g>) -> Var<'g> {
        self.generator.forward(g, z)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = self.generator_parameters();
        p.extend(self.discriminator_parameters());
        p
    }
    fn buffers(&self) -> Vec<(String, Param)> {
        Gan::buffers(self)
    }
}
