//! Architecture strings: a convolutional network written as one short line
//! (`c32k5p2-bn-relu-mp2-fc10`); the grammar is documented on [`Arch`].

use super::layer_spec::parse_layer;
pub use super::layer_spec::LayerSpec;
use crate::{Error, Result};
use std::fmt;

/// The largest number any token may hold (channels, kernel, stride, ...).
pub const MAX_NUMBER: usize = 65_536;

/// Named architectures: `(name, layers, what it is)`. None ends with the
/// output layer: [`CnnConfig::classifier`](super::CnnConfig::classifier) appends `fc<classes>`.
pub const PRESETS: &[(&str, &str, &str)] = &[
    (
        "lenet5",
        "c6k5p2-bn-relu-mp2-c16k5-bn-relu-mp2-fc120-bn-relu-fc84-bn-relu",
        "LeNet-5 (LeCun et al. 1998) for 28x28 grey digits, modernised: ReLU instead of scaled tanh, \
         max instead of average pooling, batch norm after each layer but the last, padding 2 in place of \
         the original 32x32 input; 6 and 16 5x5 filters, then 120, 84 and the classes",
    ),
    (
        "vgg-small",
        "c16k3p1-bn-relu-c16k3p1-bn-relu-mp2-c32k3p1-bn-relu-c32k3p1-bn-relu-mp2-\
         c64k3p1-bn-relu-c64k3p1-bn-relu-mp2-c128k3p1-bn-relu-mp2-gap-drop0.3",
        "a small VGG-style network (Simonyan & Zisserman 2015) for 64x64 photos: 3x3 convolutions with \
         batch norm, channels doubling (16, 32, 64, 128) as 2x2 max pooling halves the map to 4x4, \
         global average pooling, dropout 0.3, then the classes",
    ),
];

/// The shape of one example between layers: a feature map or a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureShape {
    /// `[channels, height, width]`.
    Map {
        /// Channels.
        channels: usize,
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
    /// A vector of features.
    Vector(usize),
}

impl FeatureShape {
    /// Values per example.
    pub fn numel(self) -> usize {
        match self {
            FeatureShape::Map { channels, height, width } => channels * height * width,
            FeatureShape::Vector(n) => n,
        }
    }

    /// The shape of a batch of `n` examples: `[n, C, H, W]` or `[n, features]`.
    pub fn batch(self, n: usize) -> Vec<usize> {
        match self {
            FeatureShape::Map { channels, height, width } => vec![n, channels, height, width],
            FeatureShape::Vector(f) => vec![n, f],
        }
    }

    /// Channels of a map, features of a vector.
    pub fn channels(self) -> usize {
        match self {
            FeatureShape::Map { channels, .. } => channels,
            FeatureShape::Vector(n) => n,
        }
    }
}

impl fmt::Display for FeatureShape {
    /// `32x6x6` (channels x height x width) or `120` (features).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureShape::Map { channels, height, width } => write!(f, "{channels}x{height}x{width}"),
            FeatureShape::Vector(n) => write!(f, "{n}"),
        }
    }
}

/// A parsed architecture string: a convolutional network written as one short line,
/// `c32k5p2-bn-relu-mp2-c64k5p2-bn-relu-mp2-fc128-relu-fc10`, parsed into
/// [`LayerSpec`]s, checked against an input shape ([`Arch::shapes`]) and built
/// by [`Cnn`](super::Cnn). Each layer keeps the text it came from, for messages.
///
/// # Grammar
///
/// Layers are separated by `-`, read left to right (case does not matter):
///
/// | token | layer | PyTorch |
/// | --- | --- | --- |
/// | `c<out>k<k>[s<stride>][p<pad>][d<dilation>][g<groups>]` | 2-d convolution, `k x k` kernel, with bias | `nn.Conv2d(in, out, k, stride, pad, dilation, groups)` |
/// | `ct<out>k<k>[s<stride>][p<pad>][o<output_pad>][d<dilation>][g<groups>]` | transposed convolution, with bias | `nn.ConvTranspose2d(...)` |
/// | `bn` | batch norm: 2-d after a convolution or pooling, 1-d after `fc`/`gap`/`flatten` | `nn.BatchNorm2d(c)` / `nn.BatchNorm1d(n)` |
/// | `relu`, `sigmoid`, `tanh`, `gelu` | activation | `nn.ReLU()`, ... (`nn.GELU(approximate="tanh")`) |
/// | `lrelu[<slope>]` | leaky ReLU, slope 0.01 unless given (`lrelu0.2`) | `nn.LeakyReLU(slope)` |
/// | `mp<k>[s<stride>][p<pad>]` | max pooling, stride `k` unless given | `nn.MaxPool2d(k, stride, pad)` |
/// | `ap<k>[s<stride>][p<pad>]` | average pooling (padding counts as zeros) | `nn.AvgPool2d(k, stride, pad)` |
/// | `gap` | global average pooling: `[C, H, W]` to `C` features | `nn.AdaptiveAvgPool2d(1)` + `nn.Flatten()` as one module, e.g. `nn.Sequential(...)` |
/// | `flatten` | `[C, H, W]` to `C*H*W` features | `nn.Flatten()` |
/// | `fc<n>` | fully connected layer with `n` outputs | `nn.Linear(in, n)` |
/// | `drop<p>` | dropout with probability `p` in [0, 1) (`drop0.5`) | `nn.Dropout(p)` |
///
/// Options of a convolution or pooling may come in any order, each once;
/// unset ones take PyTorch's defaults (stride 1, padding 0, dilation 1,
/// groups 1; a pooling's stride is its kernel size). Every number is at most
/// [`MAX_NUMBER`].
///
/// A `flatten` is inserted before the first `fc` that follows a feature map
/// (so `c8k3-fc10` is `c8k3-flatten-fc10`); it takes a place in the layer
/// list, as `nn.Flatten()` does in PyTorch's `nn.Sequential`, so the layer
/// indices — and parameter names, `layers.<i>.weight` — are those of the same
/// `nn.Sequential` in PyTorch.
///
/// A whole string may instead name a preset ([`PRESETS`]): `lenet5` or
/// `vgg-small`. Presets, like any string that does not end with an `fc`,
/// get the classifier's output layer `fc<classes>` appended by
/// [`CnnConfig::classifier`](super::CnnConfig::classifier); a string that
/// ends with `fc<n>` must have `n` equal to the outputs the task needs.
///
/// ```
/// use backprop::nn::{Arch, FeatureShape};
/// let arch = Arch::parse("c6k5p2-relu-mp2-c16k5-relu-mp2-fc120-relu-fc10")?;
/// assert_eq!(arch.to_string(), "c6k5p2-relu-mp2-c16k5-relu-mp2-flatten-fc120-relu-fc10");
/// let shapes = arch.shapes(FeatureShape::Map { channels: 1, height: 28, width: 28 })?;
/// assert_eq!(shapes[3].to_string(), "16x10x10");
/// assert_eq!(shapes.last().unwrap().to_string(), "10");
/// // A kernel larger than the feature map: one line naming the layer and both shapes.
/// let e = Arch::parse("c8k5-mp2-mp2-c16k9")?.shapes(FeatureShape::Map { channels: 1, height: 28, width: 28 });
/// assert_eq!(
///     e.unwrap_err().to_string(),
///     "invalid value for arch: layer 3 (c16k9): a 9x9 kernel (dilation 1) does not fit the 8x6x6 input (padding 0)"
/// );
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    layers: Vec<(LayerSpec, String)>,
}

/// The error for layer `index` written as `text`.
fn layer_error(index: usize, text: &str, message: impl fmt::Display) -> Error {
    Error::invalid("arch", format!("layer {index} ({text}): {message}"))
}

impl Arch {
    /// Parses an architecture string or a preset name; inserts the implicit
    /// `flatten` before the first `fc` after a feature map.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `arch`, naming the layer (its index
    /// and text) and what is wrong with it.
    pub fn parse(text: &str) -> Result<Arch> {
        let text = text.trim();
        let body = preset(text).unwrap_or(text);
        if body.is_empty() {
            return Err(Error::invalid("arch", "is empty; give layers such as c32k5p2-relu-mp2-fc10, or a preset"));
        }
        let mut layers: Vec<(LayerSpec, String)> = Vec::new();
        let mut spatial = true;
        for token in body.split('-') {
            let token = token.trim();
            let spec = parse_layer(token).map_err(|m| layer_error(layers.len(), token, m))?;
            match spec {
                LayerSpec::Linear(_) if spatial => {
                    layers.push((LayerSpec::Flatten, "flatten (implicit)".into()));
                    spatial = false;
                }
                LayerSpec::GlobalAvgPool | LayerSpec::Flatten => spatial = false,
                _ => {}
            }
            layers.push((spec, token.to_string()));
        }
        Ok(Arch { layers })
    }

    /// The layers in order.
    pub fn layers(&self) -> impl Iterator<Item = &LayerSpec> {
        self.layers.iter().map(|(spec, _)| spec)
    }

    /// Number of layers (the implicit `flatten` included).
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there is no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layer `index` as it was written (`"flatten (implicit)"` for an inserted one).
    pub fn text(&self, index: usize) -> &str {
        &self.layers[index].1
    }

    /// Appends a layer (written as its canonical text).
    pub fn push(&mut self, spec: LayerSpec) {
        let text = spec.to_string();
        self.layers.push((spec, text));
    }

    /// The output shape of every layer for one example of shape `input`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `arch` naming the first layer that does
    /// not fit its input, with both shapes: a kernel or window larger than
    /// the (padded) feature map, groups that do not divide the channels, a
    /// convolution or pooling after the map was flattened, a size that
    /// overflows.
    pub fn shapes(&self, input: FeatureShape) -> Result<Vec<FeatureShape>> {
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut shape = input;
        for (index, (spec, text)) in self.layers.iter().enumerate() {
            shape = spec.output_shape(shape).map_err(|m| layer_error(index, text, m))?;
            shapes.push(shape);
        }
        Ok(shapes)
    }

    /// The equivalent PyTorch `nn.Sequential` for inputs of shape `input`,
    /// one module per line: held in a module's `layers` field (so its
    /// parameters are `layers.0.weight`, ...), it loads the `state_dict` a
    /// [`Cnn`](super::Cnn) saves.
    ///
    /// # Errors
    /// As [`Arch::shapes`].
    pub fn pytorch(&self, input: FeatureShape) -> Result<String> {
        let shapes = self.shapes(input)?;
        let mut lines = vec!["nn.Sequential(".to_string()];
        let mut before = input;
        for ((spec, _), after) in self.layers.iter().zip(shapes) {
            lines.push(format!("    {},", spec.pytorch(before)));
            before = after;
        }
        lines.push(")".into());
        Ok(lines.join("\n"))
    }
}

impl fmt::Display for Arch {
    /// The canonical string: every layer in its shortest form, joined by `-`,
    /// the implicit `flatten` written out. It parses back to the same layers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.layers().map(LayerSpec::to_string).collect();
        f.write_str(&texts.join("-"))
    }
}

/// The layers of a preset, if `name` is one.
pub fn preset(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    PRESETS.iter().find(|(n, _, _)| *n == name).map(|(_, layers, _)| *layers)
}

/// The names of the presets, for messages: `lenet5, vgg-small`.
pub(super) fn preset_names() -> String {
    PRESETS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: FeatureShape = FeatureShape::Map { channels: 1, height: 28, width: 28 };

    #[test]
    fn canonical_strings_parse_back_to_the_same_layers() {
        for text in [
            "c32k5p2-bn-relu-mp2-c64k5p2-bn-relu-mp2-fc128-relu-fc10",
            "c8k3s2p1d2g1-lrelu0.2-ap3s2p1-ct4k4s2p1o1-tanh-gap-bn-drop0.5-fc3-sigmoid",
            "lenet5",
            "VGG-small",
        ] {
            let arch = Arch::parse(text).unwrap();
            let again = Arch::parse(&arch.to_string()).unwrap();
            assert_eq!(arch.layers().collect::<Vec<_>>(), again.layers().collect::<Vec<_>>(), "{text}");
        }
        assert_eq!(Arch::parse("c8k3s1p0d1g1-mp2s2-lrelu0.01").unwrap().to_string(), "c8k3-mp2-lrelu");
    }

    #[test]
    fn bad_tokens_name_the_layer_and_the_problem() {
        let cases = [
            ("c32k5-foo", "layer 1 (foo): unknown layer"),
            ("c32-relu", "layer 0 (c32): a convolution needs its kernel size"),
            ("c32k5x2", "layer 0 (c32k5x2): 'x2' is not an option here"),
            ("c32k5k3", "kernel (k) is given twice"),
            ("c0k3", "output channels must be at least 1"),
            ("c8k3-drop1", "layer 1 (drop1): the dropout probability must be at least 0 and below 1"),
            ("c8k3--relu", "layer 1 (): is empty"),
            ("c8k99999999999999999999", "kernel '99999999999999999999' is too large"),
            ("c8k70000", "kernel 70000 is larger than 65536"),
            ("fc10-lreluX", "layer 2 (lreluX): 'x' is not a slope"),
            ("", "is empty"),
        ];
        for (text, want) in cases {
            let e = Arch::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn shapes_follow_the_layers_and_misfits_name_both_shapes() {
        let arch = Arch::parse("c32k5p2-bn-relu-mp2-c64k5p2-relu-mp2-fc128-relu-fc10").unwrap();
        let shapes = arch.shapes(MNIST).unwrap();
        let text: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            [
                "32x28x28", "32x28x28", "32x28x28", "32x14x14", "64x14x14", "64x14x14", "64x7x7", "3136", "128", "128",
                "10"
            ]
        );
        let misfits = [
            (
                "c8k5-mp2-mp2-mp2-c16k5",
                "layer 4 (c16k5): a 5x5 kernel (dilation 1) does not fit the 8x3x3 input (padding 0)",
            ),
            (
                "c8k3-gap-c4k1",
                "layer 2 (c4k1): a convolution needs a feature map, but its input is a vector of 8 features",
            ),
            ("c6k3g4", "layer 0 (c6k3g4): 4 groups do not divide both 1 input and 6 output channels"),
            ("mp29", "layer 0 (mp29): a 29x29 window does not fit the 1x28x28 input (padding 0)"),
            ("mp2p2", "layer 0 (mp2p2): padding 2 is more than half the 2x2 window"),
            (
                "ct4k3s2o2",
                "layer 0 (ct4k3s2o2): output padding 2 must be smaller than the stride (2) or the dilation (1)",
            ),
            ("fc10-mp2", "layer 2 (mp2): pooling needs a feature map, but its input is a vector of 10 features"),
        ];
        for (text, want) in misfits {
            let e = Arch::parse(text).unwrap().shapes(MNIST).unwrap_err().to_string();
            assert_eq!(e, format!("invalid value for arch: {want}"), "{text}");
        }
    }

    #[test]
    fn flatten_is_implicit_once_and_presets_fit_their_inputs() {
        let arch = Arch::parse("c4k3-fc10-relu-fc5").unwrap();
        assert_eq!(arch.to_string(), "c4k3-flatten-fc10-relu-fc5");
        assert_eq!(arch.text(1), "flatten (implicit)");
        assert_eq!(Arch::parse("c4k3-gap-fc10").unwrap().to_string(), "c4k3-gap-fc10");
        let lenet = Arch::parse("lenet5").unwrap().shapes(MNIST).unwrap();
        assert_eq!(lenet.last().unwrap().to_string(), "84");
        let photo = FeatureShape::Map { channels: 3, height: 64, width: 64 };
        let vgg = Arch::parse("vgg-small").unwrap().shapes(photo).unwrap();
        assert_eq!(vgg.last().unwrap().to_string(), "128");
    }

    #[test]
    fn the_pytorch_equivalent_names_each_module() {
        let arch = Arch::parse("c6k3p1-bn-relu-mp3s2p1-c8k3p2d2g2-lrelu0.1-ap2-fc16-bn-drop0.25-fc5").unwrap();
        let input = FeatureShape::Map { channels: 3, height: 12, width: 12 };
        let code = arch.pytorch(input).unwrap();
        for want in [
            "nn.Conv2d(3, 6, 3, padding=1)",
            "nn.BatchNorm2d(6)",
            "nn.MaxPool2d(3, stride=2, padding=1)",
            "nn.Conv2d(6, 8, 3, padding=2, dilation=2, groups=2)",
            "nn.LeakyReLU(0.1)",
            "nn.AvgPool2d(2)",
            "nn.Flatten()",
            "nn.Linear(72, 16)",
            "nn.BatchNorm1d(16)",
            "nn.Dropout(0.25)",
            "nn.Linear(16, 5)",
        ] {
            assert!(code.contains(want), "{want} missing from\n{code}");
        }
        assert_eq!(code.lines().count(), arch.len() + 2);
    }
}
