//! One layer of an architecture string ([`Arch`](super::Arch)): its token
//! grammar, its canonical text, the shape it gives its input, and the PyTorch
//! module it stands for.

use super::arch::{preset_names, FeatureShape, MAX_NUMBER};
use super::Activation;
use crate::tensor::{conv2d_out_size, conv_transpose2d_out_size, pool2d_out_size};
use std::fmt;

/// One layer of an architecture string.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    /// `c<out>k<k>...`: a 2-d convolution with bias.
    Conv {
        /// Output channels.
        out: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride (both axes).
        stride: usize,
        /// Zero padding on each side.
        padding: usize,
        /// Dilation.
        dilation: usize,
        /// Groups: input and output channels are split into this many.
        groups: usize,
    },
    /// `ct<out>k<k>...`: a 2-d transposed convolution with bias.
    ConvTranspose {
        /// Output channels.
        out: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding removed from each side of the output.
        padding: usize,
        /// Extra rows and columns added on one side of the output.
        output_padding: usize,
        /// Dilation.
        dilation: usize,
        /// Groups.
        groups: usize,
    },
    /// `bn`: batch norm over channels (feature maps) or features (vectors).
    BatchNorm,
    /// `relu`, `sigmoid`, `tanh`, `gelu`.
    Activation(Activation),
    /// `lrelu<slope>`: leaky ReLU.
    LeakyRelu(f32),
    /// `mp<k>...`: max pooling.
    MaxPool {
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding (with -inf) on each side.
        padding: usize,
    },
    /// `ap<k>...`: average pooling.
    AvgPool {
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on each side (counted in the average, as PyTorch's default).
        padding: usize,
    },
    /// `gap`: global average pooling to one value per channel.
    GlobalAvgPool,
    /// `flatten`: a feature map to a vector.
    Flatten,
    /// `fc<n>`: a fully connected layer with bias.
    Linear(usize),
    /// `drop<p>`: dropout.
    Dropout(f32),
}

/// Reads `<number>(<letter><number>)*` after a layer's prefix: the leading
/// number and the options, each letter one of `allowed` and given at most once.
fn fields(
    rest: &str,
    what: &str,
    allowed: &[(char, &str)],
) -> std::result::Result<(usize, Vec<(char, usize)>), String> {
    let expected = || {
        let opts: Vec<String> = allowed.iter().map(|(c, name)| format!("{c}<{name}>")).collect();
        format!("expected {what} then any of {}", opts.join(", "))
    };
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let number = |s: &str, name: &str| -> std::result::Result<usize, String> {
        match s.parse::<usize>() {
            Ok(v) if v <= MAX_NUMBER => Ok(v),
            Ok(v) => Err(format!("{name} {v} is larger than {MAX_NUMBER}")),
            Err(_) if s.is_empty() => Err(format!("{name} is missing a number; {}", expected())),
            Err(_) => Err(format!("{name} '{s}' is too large")),
        }
    };
    let end = digits(rest);
    let lead = number(&rest[..end], what)?;
    let mut opts = Vec::new();
    let mut s = &rest[end..];
    while let Some(letter) = s.chars().next() {
        let Some((_, name)) = allowed.iter().find(|(c, _)| *c == letter) else {
            return Err(format!("'{s}' is not an option here; {}", expected()));
        };
        if opts.iter().any(|(c, _)| *c == letter) {
            return Err(format!("{name} ({letter}) is given twice"));
        }
        let rest = &s[letter.len_utf8()..];
        let end = digits(rest);
        opts.push((letter, number(&rest[..end], name)?));
        s = &rest[end..];
    }
    Ok((lead, opts))
}

/// The value of option `letter`, or `default`.
fn opt(opts: &[(char, usize)], letter: char, default: usize) -> usize {
    opts.iter().find(|(c, _)| *c == letter).map_or(default, |(_, v)| *v)
}

/// A probability or slope written after a prefix (`drop0.5`, `lrelu0.2`).
fn real(s: &str, what: &str) -> std::result::Result<f32, String> {
    s.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("'{s}' is not a {what}"))
}

/// Parses one token (case-insensitive) or says what is wrong with it.
pub(super) fn parse_layer(token: &str) -> std::result::Result<LayerSpec, String> {
    let t = token.to_ascii_lowercase();
    let positive = |v: usize, name: &str| if v == 0 { Err(format!("{name} must be at least 1, got 0")) } else { Ok(v) };
    let spec = match t.as_str() {
        "" => return Err("is empty (two '-' in a row, or one at an end?)".into()),
        "bn" => LayerSpec::BatchNorm,
        "relu" => LayerSpec::Activation(Activation::Relu),
        "sigmoid" => LayerSpec::Activation(Activation::Sigmoid),
        "tanh" => LayerSpec::Activation(Activation::Tanh),
        "gelu" => LayerSpec::Activation(Activation::Gelu),
        "gap" => LayerSpec::GlobalAvgPool,
        "flatten" => LayerSpec::Flatten,
        "lrelu" => LayerSpec::LeakyRelu(0.01),
        _ if t.starts_with("lrelu") => LayerSpec::LeakyRelu(real(&t[5..], "slope (as in lrelu0.2)")?),
        _ if t.starts_with("drop") => {
            let p = real(&t[4..], "probability (as in drop0.5)")?;
            if !(0.0..1.0).contains(&p) {
                return Err(format!("the dropout probability must be at least 0 and below 1, got {p}"));
            }
            LayerSpec::Dropout(p)
        }
        _ if t.starts_with("fc") => {
            let (n, _) = fields(&t[2..], "outputs", &[])?;
            LayerSpec::Linear(positive(n, "outputs")?)
        }
        _ if t.starts_with("mp") || t.starts_with("ap") => {
            let (kernel, o) = fields(&t[2..], "window size", &[('s', "stride"), ('p', "padding")])?;
            let kernel = positive(kernel, "the window size")?;
            let (stride, padding) = (positive(opt(&o, 's', kernel), "the stride")?, opt(&o, 'p', 0));
            if t.starts_with("mp") {
                LayerSpec::MaxPool { kernel, stride, padding }
            } else {
                LayerSpec::AvgPool { kernel, stride, padding }
            }
        }
        _ if t.starts_with("ct") => {
            let allowed = [
                ('k', "kernel"),
                ('s', "stride"),
                ('p', "padding"),
                ('o', "output padding"),
                ('d', "dilation"),
                ('g', "groups"),
            ];
            let (out, o) = fields(&t[2..], "output channels", &allowed)?;
            LayerSpec::ConvTranspose {
                out: positive(out, "output channels")?,
                kernel: positive(required(&o, 'k')?, "the kernel size")?,
                stride: positive(opt(&o, 's', 1), "the stride")?,
                padding: opt(&o, 'p', 0),
                output_padding: opt(&o, 'o', 0),
                dilation: positive(opt(&o, 'd', 1), "the dilation")?,
                groups: positive(opt(&o, 'g', 1), "groups")?,
            }
        }
        _ if t.starts_with('c') => {
            let allowed = [('k', "kernel"), ('s', "stride"), ('p', "padding"), ('d', "dilation"), ('g', "groups")];
            let (out, o) = fields(&t[1..], "output channels", &allowed)?;
            LayerSpec::Conv {
                out: positive(out, "output channels")?,
                kernel: positive(required(&o, 'k')?, "the kernel size")?,
                stride: positive(opt(&o, 's', 1), "the stride")?,
                padding: opt(&o, 'p', 0),
                dilation: positive(opt(&o, 'd', 1), "the dilation")?,
                groups: positive(opt(&o, 'g', 1), "groups")?,
            }
        }
        _ => {
            return Err(format!(
                "unknown layer; expected c<out>k<k>[s..][p..][d..][g..], ct<out>k<k>..., bn, relu, lrelu[<slope>], \
                 sigmoid, tanh, gelu, mp<k>[s..][p..], ap<k>[s..][p..], gap, flatten, fc<n>, drop<p>, \
                 or a preset as the whole string ({})",
                preset_names()
            ))
        }
    };
    Ok(spec)
}

/// The kernel size, which a convolution must give.
fn required(opts: &[(char, usize)], letter: char) -> std::result::Result<usize, String> {
    opts.iter()
        .find(|(c, _)| *c == letter)
        .map(|(_, v)| *v)
        .ok_or_else(|| "a convolution needs its kernel size, as in c32k5 (32 channels, 5x5 kernel)".to_string())
}

impl fmt::Display for LayerSpec {
    /// The shortest token for the layer: options at their default are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unless = |letter: char, value: usize, default: usize| {
            if value == default {
                String::new()
            } else {
                format!("{letter}{value}")
            }
        };
        match *self {
            LayerSpec::Conv { out, kernel, stride, padding, dilation, groups } => write!(
                f,
                "c{out}k{kernel}{}{}{}{}",
                unless('s', stride, 1),
                unless('p', padding, 0),
                unless('d', dilation, 1),
                unless('g', groups, 1)
            ),
            LayerSpec::ConvTranspose { out, kernel, stride, padding, output_padding, dilation, groups } => write!(
                f,
                "ct{out}k{kernel}{}{}{}{}{}",
                unless('s', stride, 1),
                unless('p', padding, 0),
                unless('o', output_padding, 0),
                unless('d', dilation, 1),
                unless('g', groups, 1)
            ),
            LayerSpec::BatchNorm => f.write_str("bn"),
            LayerSpec::Activation(a) => write!(f, "{a}"),
            LayerSpec::LeakyRelu(0.01) => f.write_str("lrelu"),
            LayerSpec::LeakyRelu(slope) => write!(f, "lrelu{slope}"),
            LayerSpec::MaxPool { kernel, stride, padding } => {
                write!(f, "mp{kernel}{}{}", unless('s', stride, kernel), unless('p', padding, 0))
            }
            LayerSpec::AvgPool { kernel, stride, padding } => {
                write!(f, "ap{kernel}{}{}", unless('s', stride, kernel), unless('p', padding, 0))
            }
            LayerSpec::GlobalAvgPool => f.write_str("gap"),
            LayerSpec::Flatten => f.write_str("flatten"),
            LayerSpec::Linear(n) => write!(f, "fc{n}"),
            LayerSpec::Dropout(p) => write!(f, "drop{p}"),
        }
    }
}

impl LayerSpec {
    /// The shape this layer gives an example of shape `input`, or why it cannot take it.
    pub fn output_shape(&self, input: FeatureShape) -> std::result::Result<FeatureShape, String> {
        use FeatureShape::{Map, Vector};
        let map = |what: &str| match input {
            Map { channels, height, width } => Ok((channels, height, width)),
            Vector(n) => Err(format!("{what} needs a feature map, but its input is a vector of {n} features")),
        };
        let too_large = || format!("the output of the {input} input is too large to exist");
        Ok(match *self {
            LayerSpec::Conv { out, kernel, stride, padding, dilation, groups } => {
                let (c, h, w) = map("a convolution")?;
                check_groups(groups, c, out)?;
                let fit = |side| conv2d_out_size(side, kernel, stride, padding, dilation);
                match (fit(h), fit(w)) {
                    (Some(height), Some(width)) => Map { channels: out, height, width },
                    _ => {
                        return Err(format!(
                            "a {kernel}x{kernel} kernel (dilation {dilation}) does not fit the {input} input (padding {padding})"
                        ))
                    }
                }
            }
            LayerSpec::ConvTranspose { out, kernel, stride, padding, output_padding, dilation, groups } => {
                let (c, h, w) = map("a transposed convolution")?;
                check_groups(groups, c, out)?;
                if output_padding >= stride.max(dilation) {
                    return Err(format!(
                        "output padding {output_padding} must be smaller than the stride ({stride}) or the dilation ({dilation})"
                    ));
                }
                let fit = |side| conv_transpose2d_out_size(side, kernel, stride, padding, output_padding, dilation);
                match (fit(h), fit(w)) {
                    (Some(height), Some(width)) => Map { channels: out, height, width },
                    _ => {
                        return Err(format!(
                            "padding {padding} leaves nothing of the output of a {kernel}x{kernel} kernel on the {input} input"
                        ))
                    }
                }
            }
            LayerSpec::MaxPool { kernel, stride, padding } | LayerSpec::AvgPool { kernel, stride, padding } => {
                let (c, h, w) = map("pooling")?;
                if 2 * padding > kernel {
                    return Err(format!("padding {padding} is more than half the {kernel}x{kernel} window"));
                }
                match (pool2d_out_size(h, kernel, stride, padding), pool2d_out_size(w, kernel, stride, padding)) {
                    (Some(height), Some(width)) => Map { channels: c, height, width },
                    _ => {
                        return Err(format!(
                            "a {kernel}x{kernel} window does not fit the {input} input (padding {padding})"
                        ))
                    }
                }
            }
            LayerSpec::GlobalAvgPool => Vector(map("global average pooling")?.0),
            LayerSpec::Flatten => match input {
                Map { channels, height, width } => {
                    Vector(channels.checked_mul(height).and_then(|n| n.checked_mul(width)).ok_or_else(too_large)?)
                }
                Vector(n) => Vector(n),
            },
            LayerSpec::Linear(n) => match input {
                Vector(_) => Vector(n),
                Map { .. } => return Err(format!("a fully connected layer needs a vector, got the {input} map")),
            },
            LayerSpec::BatchNorm | LayerSpec::Activation(_) | LayerSpec::LeakyRelu(_) | LayerSpec::Dropout(_) => input,
        })
    }

    /// The PyTorch module of this layer for an input of shape `input`
    /// (which [`LayerSpec::output_shape`] accepts).
    pub fn pytorch(&self, input: FeatureShape) -> String {
        let c = input.channels();
        let extra = |name: &str, value: usize, default: usize| {
            if value == default {
                String::new()
            } else {
                format!(", {name}={value}")
            }
        };
        match *self {
            LayerSpec::Conv { out, kernel, stride, padding, dilation, groups } => format!(
                "nn.Conv2d({c}, {out}, {kernel}{}{}{}{})",
                extra("stride", stride, 1),
                extra("padding", padding, 0),
                extra("dilation", dilation, 1),
                extra("groups", groups, 1)
            ),
            LayerSpec::ConvTranspose { out, kernel, stride, padding, output_padding, dilation, groups } => format!(
                "nn.ConvTranspose2d({c}, {out}, {kernel}{}{}{}{}{})",
                extra("stride", stride, 1),
                extra("padding", padding, 0),
                extra("output_padding", output_padding, 0),
                extra("groups", groups, 1),
                extra("dilation", dilation, 1)
            ),
            LayerSpec::BatchNorm => match input {
                FeatureShape::Map { .. } => format!("nn.BatchNorm2d({c})"),
                FeatureShape::Vector(_) => format!("nn.BatchNorm1d({c})"),
            },
            LayerSpec::Activation(Activation::Gelu) => "nn.GELU(approximate=\"tanh\")".into(),
            LayerSpec::Activation(Activation::Relu) => "nn.ReLU()".into(),
            LayerSpec::Activation(Activation::Sigmoid) => "nn.Sigmoid()".into(),
            LayerSpec::Activation(Activation::Tanh) => "nn.Tanh()".into(),
            LayerSpec::Activation(a) => format!("{a}"),
            LayerSpec::LeakyRelu(slope) => format!("nn.LeakyReLU({slope})"),
            LayerSpec::MaxPool { kernel, stride, padding } => {
                format!("nn.MaxPool2d({kernel}{}{})", extra("stride", stride, kernel), extra("padding", padding, 0))
            }
            LayerSpec::AvgPool { kernel, stride, padding } => {
                format!("nn.AvgPool2d({kernel}{}{})", extra("stride", stride, kernel), extra("padding", padding, 0))
            }
            LayerSpec::GlobalAvgPool => "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())".into(),
            LayerSpec::Flatten => "nn.Flatten()".into(),
            LayerSpec::Linear(n) => format!("nn.Linear({c}, {n})"),
            LayerSpec::Dropout(p) => format!("nn.Dropout({p})"),
        }
    }
}

/// Groups must divide both the input and the output channels.
fn check_groups(groups: usize, inputs: usize, outputs: usize) -> std::result::Result<(), String> {
    if !inputs.is_multiple_of(groups) || !outputs.is_multiple_of(groups) {
        return Err(format!("{groups} groups do not divide both {inputs} input and {outputs} output channels"));
    }
    Ok(())
}
