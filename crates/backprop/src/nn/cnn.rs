//! The convolutional network built from an architecture string ([`Arch`]):
//! a classifier of images whose layers are named as in PyTorch's
//! `nn.Sequential` (`layers.0.weight`, `layers.1.running_mean`).

use super::arch::{preset, Arch, FeatureShape, LayerSpec};
use super::{
    prefixed, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Flatten, GlobalAvgPool2d, Init,
    LeakyRelu, Linear, MaxPool2d, Module,
};
use crate::autograd::{Graph, Param, Var};
use crate::checkpoint::{Checkpoint, CONFIG_KEY, KIND_KEY};
use crate::tensor::{Conv2dOptions, ConvTranspose2dOptions, Rng};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// The largest side or channel count of a CNN's input.
const MAX_INPUT_SIDE: usize = 4096;

/// Everything needed to rebuild a [`Cnn`]; stored in checkpoints under
/// [`CONFIG_KEY`] as `{"arch":"c6k5p2-...-fc10","input":[1,28,28]}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CnnConfig {
    /// The canonical architecture string ([`Arch`]'s `Display`): every layer,
    /// the implicit `flatten` and the output layer written out.
    pub arch: String,
    /// The shape of one example: `[channels, height, width]`.
    pub input: [usize; 3],
    /// The preset the architecture came from, if any (for messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

impl CnnConfig {
    /// A classifier with `outputs` scores for `input`-shaped examples
    /// (`[channels, height, width]`): `arch` is an architecture string or a
    /// preset; unless it ends with `fc<n>`, the output layer `fc<outputs>` is
    /// appended; if it does end with `fc<n>`, `n` must be `outputs`.
    ///
    /// ```
    /// use backprop::nn::CnnConfig;
    /// let c = CnnConfig::classifier("c8k3-relu-mp2", [1, 28, 28], 10)?;
    /// assert_eq!(c.arch, "c8k3-relu-mp2-flatten-fc10");
    /// let e = CnnConfig::classifier("c8k3-fc12", [1, 28, 28], 10).unwrap_err().to_string();
    /// assert!(e.contains("layer 2 (fc12): the last layer has 12 outputs but the model needs 10"), "{e}");
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `arch` when it does not parse or its
    /// shapes do not fit the input (naming the layer and both shapes), and
    /// for `input` when a side is 0 or above 4096.
    pub fn classifier(arch: &str, input: [usize; 3], outputs: usize) -> Result<CnnConfig> {
        let mut parsed = Arch::parse(arch)?;
        let last = parsed.len() - 1;
        match parsed.layers().last() {
            Some(LayerSpec::Linear(n)) if *n != outputs => {
                let message = format!(
                    "the last layer has {n} outputs but the model needs {outputs}; end with fc{outputs}, \
                     or leave the output layer out and it is added"
                );
                return Err(Error::invalid("arch", format!("layer {last} ({}): {message}", parsed.text(last))));
            }
            Some(LayerSpec::Linear(_)) => {}
            _ => {
                // The classifier's output layer, after a flatten if the network still ends in feature maps.
                let ends_in_maps = check_input(input).and_then(|shape| parsed.shapes(shape))?.last().copied();
                if matches!(ends_in_maps, Some(FeatureShape::Map { .. })) {
                    parsed.push(LayerSpec::Flatten);
                }
                parsed.push(LayerSpec::Linear(outputs));
            }
        }
        let preset = preset(arch).map(|_| arch.trim().to_ascii_lowercase());
        let config = CnnConfig { arch: parsed.to_string(), input, preset };
        config.layers()?;
        Ok(config)
    }

    /// The parsed architecture and the output shape of each layer.
    ///
    /// # Errors
    /// As [`CnnConfig::classifier`]: a configuration read from a file is
    /// checked the same way before anything is built.
    pub fn layers(&self) -> Result<(Arch, Vec<FeatureShape>)> {
        let arch = Arch::parse(&self.arch)?;
        let shapes = arch.shapes(check_input(self.input)?)?;
        match shapes.last() {
            Some(FeatureShape::Vector(_)) => Ok((arch, shapes)),
            _ => Err(Error::invalid("arch", format!("{} ends in feature maps, not class scores", self.arch))),
        }
    }

    /// The input as a [`FeatureShape`].
    pub fn input_shape(&self) -> FeatureShape {
        let [channels, height, width] = self.input;
        FeatureShape::Map { channels, height, width }
    }

    /// Values per example: `channels * height * width`.
    pub fn inputs(&self) -> usize {
        self.input.iter().product()
    }

    /// Number of trainable scalars and of values in the layers' outputs per
    /// example, or an error naming the layer whose size overflows.
    ///
    /// ```
    /// use backprop::nn::CnnConfig;
    /// let c = CnnConfig::classifier("c6k5p2-relu-fc10", [1, 28, 28], 10)?;
    /// // conv 6*1*5*5 + 6, linear 4704*10 + 10; outputs 3 * 4704 + 10
    /// assert_eq!(c.sizes()?, (156 + 47050, 3 * 4704 + 10));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn sizes(&self) -> Result<(usize, usize)> {
        let (arch, shapes) = self.layers()?;
        let mut before = self.input_shape();
        let (mut params, mut values) = (0usize, 0usize);
        for (i, (spec, after)) in arch.layers().zip(&shapes).enumerate() {
            let c = before.channels();
            let p = match *spec {
                LayerSpec::Conv { out, kernel, groups, .. } | LayerSpec::ConvTranspose { out, kernel, groups, .. } => {
                    (c / groups).checked_mul(out).and_then(|n| n.checked_mul(kernel * kernel)).map(|n| n + out)
                }
                LayerSpec::BatchNorm => Some(2 * c),
                LayerSpec::Linear(n) => c.checked_mul(n).and_then(|w| w.checked_add(n)),
                _ => Some(0),
            };
            let overflow = || Error::invalid("arch", format!("layer {i} ({}): is too large to exist", arch.text(i)));
            params = p.and_then(|p| params.checked_add(p)).ok_or_else(overflow)?;
            values = values.checked_add(after.numel()).ok_or_else(overflow)?;
            before = *after;
        }
        Ok((params, values))
    }
}

/// Checks an input shape `[channels, height, width]`.
fn check_input(input: [usize; 3]) -> Result<FeatureShape> {
    if input.iter().any(|&s| s == 0 || s > MAX_INPUT_SIDE) {
        return Err(Error::invalid(
            "input",
            format!("{input:?} is not an image shape [channels, height, width] with sides from 1 to {MAX_INPUT_SIDE}"),
        ));
    }
    Ok(FeatureShape::Map { channels: input[0], height: input[1], width: input[2] })
}

/// A convolutional network built from a [`CnnConfig`]: the layers of its
/// architecture string in order, named `layers.<i>` as in PyTorch's
/// `nn.Sequential` (see [`Arch::pytorch`]), so its `state_dict` loads there.
///
/// The input is `[N, C*H*W]` rows of pixels with the channels interleaved
/// (`HWC`, the layout of [`crate::data`]'s images), turned into `[N, C, H, W]`
/// first (PyTorch: `x.reshape(N, H, W, C).permute(0, 3, 1, 2)`), or already
/// `[N, C, H, W]`. The output is `[N, classes]` logits.
///
/// ```
/// use backprop::nn::{Cnn, CnnConfig, Module};
/// use backprop::{tensor::Rng, Graph, Tensor};
/// let cnn = Cnn::new(CnnConfig::classifier("c4k3p1-bn-relu-mp2-fc8-relu", [1, 6, 6], 3)?, &mut Rng::new(0))?;
/// let g = Graph::no_grad();
/// assert_eq!(cnn.forward(&g, g.constant(Tensor::zeros(&[2, 36]))).shape(), vec![2, 3]);
/// let names: Vec<String> = cnn.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[..3], ["layers.0.weight", "layers.0.bias", "layers.1.weight"]);
/// assert!(names.contains(&"layers.1.running_mean".to_string()));
/// # Ok::<(), backprop::Error>(())
/// ```
pub struct Cnn {
    config: CnnConfig,
    arch: Arch,
    shapes: Vec<FeatureShape>,
    layers: Vec<Box<dyn Module + Send + Sync>>,
}

impl Cnn {
    /// Builds the network with fresh weights: convolutions as PyTorch
    /// initialises them, fully connected layers with PyTorch's default
    /// ([`Init::PytorchDefault`]), batch norm at weight 1, bias 0, running
    /// mean 0 and variance 1; dropout masks from seeds drawn from `rng`.
    ///
    /// # Errors
    /// When the configuration does not check ([`CnnConfig::layers`]).
    pub fn new(config: CnnConfig, rng: &mut Rng) -> Result<Cnn> {
        let (arch, shapes) = config.layers()?;
        let mut before = config.input_shape();
        let mut layers: Vec<Box<dyn Module + Send + Sync>> = Vec::with_capacity(arch.len());
        for (spec, after) in arch.layers().zip(&shapes) {
            layers.push(build_layer(spec, before, rng));
            before = *after;
        }
        Ok(Cnn { config, arch, shapes, layers })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &CnnConfig {
        &self.config
    }

    /// The parsed architecture.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// The output shape of each layer for one example.
    pub fn shapes(&self) -> &[FeatureShape] {
        &self.shapes
    }

    /// Number of scores per example.
    pub fn outputs(&self) -> usize {
        self.shapes.last().map_or(0, |s| s.numel())
    }

    /// `lenet5: c6k5p2-...-fc10`, or just the architecture.
    pub fn describe(&self) -> String {
        match &self.config.preset {
            Some(name) => format!("CNN {name} ({})", self.config.arch),
            None => format!("CNN {}", self.config.arch),
        }
    }

    /// The input as `[N, C, H, W]`: `[N, C*H*W]` HWC rows are reshaped and
    /// permuted; a 4-d input is taken as it is.
    ///
    /// # Panics
    /// When the input has another number of values per example.
    pub fn to_nchw<'g>(&self, x: Var<'g>) -> Var<'g> {
        let [c, h, w] = self.config.input;
        let shape = x.shape();
        match shape.as_slice() {
            [_, cc, hh, ww] if [*cc, *hh, *ww] == [c, h, w] => x,
            [n, d] if *d == c * h * w && c == 1 => x.reshape(&[*n, 1, h, w]),
            [n, d] if *d == c * h * w => x.reshape(&[*n, h, w, c]).permute(&[0, 3, 1, 2]),
            _ => panic!("Cnn: input of shape {shape:?} is neither [N, {}] nor [N, {c}, {h}, {w}]", c * h * w),
        }
    }

    /// Runs layers `range` on `x` (the input of the first of them, e.g. a
    /// feature map taken from [`Cnn::forward_all`]).
    pub fn forward_layers<'g>(&self, g: &'g Graph, x: Var<'g>, range: Range<usize>) -> Var<'g> {
        self.layers[range].iter().fold(x, |h, layer| layer.forward(g, h))
    }

    /// The input as `[N, C, H, W]`, then every layer's output in order:
    /// entry `i + 1` is the output of layer `i`.
    pub fn forward_all<'g>(&self, g: &'g Graph, x: Var<'g>) -> Vec<Var<'g>> {
        let mut outs = vec![self.to_nchw(x)];
        for layer in &self.layers {
            let next = layer.forward(g, *outs.last().expect("outs starts non-empty"));
            outs.push(next);
        }
        outs
    }

    /// For each convolution, the last layer of its block: the convolution
    /// and the batch norm and activations right after it (what a feature map
    /// display or Grad-CAM reads), in order.
    pub fn feature_layers(&self) -> Vec<usize> {
        let specs: Vec<&LayerSpec> = self.arch.layers().collect();
        let mut ends = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            if matches!(spec, LayerSpec::Conv { .. } | LayerSpec::ConvTranspose { .. }) {
                let follows = |s: &&&LayerSpec| {
                    matches!(s, LayerSpec::BatchNorm | LayerSpec::Activation(_) | LayerSpec::LeakyRelu(_))
                };
                ends.push(i + specs[i + 1..].iter().take_while(follows).count());
            }
        }
        ends
    }

    /// A copy of the network (parameter and buffer values copied, not
    /// shared) whose dropout layers drop nothing: its training-mode forward
    /// pass is a deterministic function of the parameters, which is what a
    /// gradient check by finite differences needs.
    pub fn without_dropout(&self) -> Cnn {
        let mut before = self.config.input_shape();
        let mut layers: Vec<Box<dyn Module + Send + Sync>> = Vec::with_capacity(self.layers.len());
        for (spec, after) in self.arch.layers().zip(&self.shapes) {
            layers.push(match spec {
                LayerSpec::Dropout(_) => Box::new(Dropout::new(0.0, 0)),
                _ => build_layer(spec, before, &mut Rng::new(0)),
            });
            before = *after;
        }
        let twin = Cnn { config: self.config.clone(), arch: self.arch.clone(), shapes: self.shapes.clone(), layers };
        for ((_, copy), (_, original)) in twin.state_dict().iter().zip(self.state_dict()) {
            copy.set_value(original.value());
        }
        twin
    }

    /// Saves parameters, buffers and configuration; `extra` metadata is stored alongside.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let mut meta = extra.clone();
        meta.insert(KIND_KEY.into(), "cnn".into());
        meta.insert(CONFIG_KEY.into(), serde_json::to_string(&self.config).expect("CnnConfig always serializes"));
        crate::checkpoint::save(path, &self.state_dict(), &meta)
    }

    /// Rebuilds a CNN from a checkpoint written by [`Cnn::save`] (or by
    /// PyTorch, with the same metadata): the configuration is checked and
    /// its size compared with the file's before anything is built.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file: another kind, a bad
    /// configuration, a tensor missing, extra or of another shape.
    pub fn from_checkpoint(ckpt: &Checkpoint) -> Result<Cnn> {
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        ckpt.require_kind("cnn", "a CNN")?;
        let config: CnnConfig =
            serde_json::from_str(ckpt.require(CONFIG_KEY)?).map_err(|e| fail(format!("bad CNN configuration: {e}")))?;
        let (params, _) = config.sizes().map_err(|e| fail(format!("bad CNN configuration: {e}")))?;
        let stored: usize = ckpt.tensors.values().map(|t| t.numel()).sum();
        if params > stored {
            let message = format!(
                "the architecture {} needs {params} parameters but the file holds {stored} values",
                config.arch
            );
            return Err(fail(message));
        }
        let cnn = Cnn::new(config, &mut Rng::new(0)).map_err(|e| fail(e.to_string()))?;
        ckpt.restore_into(&cnn.state_dict())?;
        Ok(cnn)
    }
}

/// The module of one layer whose input has shape `input`.
fn build_layer(spec: &LayerSpec, input: FeatureShape, rng: &mut Rng) -> Box<dyn Module + Send + Sync> {
    let c = input.channels();
    match *spec {
        LayerSpec::Conv { out, kernel, stride, padding, dilation, groups } => {
            let options = Conv2dOptions { stride: [stride; 2], padding: [padding; 2], dilation: [dilation; 2], groups };
            Box::new(Conv2d::new(c, out, [kernel; 2], options, true, rng))
        }
        LayerSpec::ConvTranspose { out, kernel, stride, padding, output_padding, dilation, groups } => {
            let options = ConvTranspose2dOptions {
                stride: [stride; 2],
                padding: [padding; 2],
                output_padding: [output_padding; 2],
                dilation: [dilation; 2],
                groups,
            };
            Box::new(ConvTranspose2d::new(c, out, [kernel; 2], options, true, rng))
        }
        LayerSpec::BatchNorm => match input {
            FeatureShape::Map { .. } => Box::new(BatchNorm2d::new(c)),
            FeatureShape::Vector(_) => Box::new(BatchNorm1d::new(c)),
        },
        LayerSpec::Activation(a) => Box::new(a),
        LayerSpec::LeakyRelu(slope) => Box::new(LeakyRelu::new(slope)),
        LayerSpec::MaxPool { kernel, stride, padding } => {
            Box::new(MaxPool2d::new([kernel; 2], [stride; 2], [padding; 2]))
        }
        LayerSpec::AvgPool { kernel, stride, padding } => {
            Box::new(AvgPool2d::new([kernel; 2], [stride; 2], [padding; 2]))
        }
        LayerSpec::GlobalAvgPool => Box::new(GlobalAvgPool2d),
        LayerSpec::Flatten => Box::new(Flatten),
        LayerSpec::Linear(n) => Box::new(Linear::new(c, n, true, Init::PytorchDefault, rng)),
        LayerSpec::Dropout(p) => Box::new(Dropout::new(p, rng.next_u64())),
    }
}

impl Module for Cnn {
    /// `[N, C*H*W]` (or `[N, C, H, W]`) in, `[N, classes]` logits out.
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        let x = self.to_nchw(x);
        self.forward_layers(g, x, 0..self.layers.len())
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        self.layers.iter().enumerate().flat_map(|(i, l)| prefixed(&format!("layers.{i}"), l.parameters())).collect()
    }

    fn buffers(&self) -> Vec<(String, Param)> {
        self.layers.iter().enumerate().flat_map(|(i, l)| prefixed(&format!("layers.{i}"), l.buffers())).collect()
    }
}
