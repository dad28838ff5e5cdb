//! Convolution layers: [`Conv2d`] and [`ConvTranspose2d`], PyTorch's layouts
//! and default initialisation.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::tensor::{conv2d_out_size, conv_transpose2d_out_size, Conv2dOptions, ConvTranspose2dOptions, Rng};
use crate::Tensor;

/// PyTorch's default initialisation of a convolution (`kaiming_uniform_` with
/// `a = sqrt(5)`, then the bias rule of `_ConvNd.reset_parameters`): weight and
/// bias uniform in `±1 / sqrt(fan_in)`, where `fan_in` is `weight.shape[1] * kh * kw`.
fn init(shape: [usize; 4], bias: Option<usize>, rng: &mut Rng) -> (Param, Option<Param>) {
    let fan_in = (shape[1] * shape[2] * shape[3]).max(1);
    let bound = 1.0 / (fan_in as f32).sqrt();
    let weight = Param::new(Tensor::rand_uniform(&shape, -bound, bound, rng));
    let bias = bias.map(|n| Param::new(Tensor::rand_uniform(&[n], -bound, bound, rng)));
    (weight, bias)
}

/// Panics unless `groups` divides both channel counts (`layer` names the layer).
fn check_groups(layer: &str, in_channels: usize, out_channels: usize, groups: usize) {
    assert!(
        groups > 0 && in_channels.is_multiple_of(groups) && out_channels.is_multiple_of(groups),
        "{layer}: {groups} groups must divide both {in_channels} input and {out_channels} output channels"
    );
}

/// `weight` with `weight_shape` and, with `bias`, `bias` `[bias_len]`.
fn shapes(weight_shape: [usize; 4], bias_len: Option<usize>) -> Vec<(String, Vec<usize>)> {
    let mut s = vec![("weight".to_string(), weight_shape.to_vec())];
    s.extend(bias_len.map(|n| ("bias".to_string(), vec![n])));
    s
}

/// A 2-d convolution layer (PyTorch's `nn.Conv2d`): input `[N, C, H, W]`,
/// output `[N, O, OH, OW]`,
/// `y[n, o] = b[o] + sum_{c in group(o)} w[o, c] ⋆ x[n, c]` (cross-correlation
/// with the options' stride, padding and dilation), with
/// `OH = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1`.
/// Parameters `weight` `[O, C / groups, kh, kw]` and `bias` `[O]`.
///
/// ```
/// use backprop::{nn::{Conv2d, Module}, tensor::{Conv2dOptions, Rng}, Graph, Tensor};
/// let same = Conv2dOptions { padding: [2, 2], ..Default::default() };
/// let conv = Conv2d::new(1, 32, [5, 5], same, true, &mut Rng::new(0));
/// let g = Graph::no_grad();
/// let y = conv.forward(&g, g.constant(Tensor::zeros(&[8, 1, 28, 28])));
/// assert_eq!(y.shape(), vec![8, 32, 28, 28]);
/// assert_eq!(conv.output_hw([28, 28]), Some([28, 28]));
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// `[O, C / groups, kh, kw]`
    pub weight: Param,
    /// `[O]`, if the layer has a bias.
    pub bias: Option<Param>,
    /// Stride, padding, dilation, groups.
    pub opts: Conv2dOptions,
}

impl Conv2d {
    /// A layer from `in_channels` to `out_channels` with a `kernel`
    /// (`[kh, kw]`) and PyTorch's default initialisation.
    ///
    /// # Panics
    /// When `opts.groups` does not divide both channel counts.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        opts: Conv2dOptions,
        bias: bool,
        rng: &mut Rng,
    ) -> Conv2d {
        check_groups("Conv2d", in_channels, out_channels, opts.groups);
        let shape = [out_channels, in_channels / opts.groups, kernel[0], kernel[1]];
        let (weight, bias) = init(shape, bias.then_some(out_channels), rng);
        Conv2d { weight, bias, opts }
    }

    /// The names and shapes of the parameters of such a layer, without building it.
    ///
    /// ```
    /// use backprop::nn::Conv2d;
    /// let s = Conv2d::shapes(4, 6, [3, 3], 2, true);
    /// assert_eq!(s, vec![("weight".into(), vec![6, 2, 3, 3]), ("bias".into(), vec![6])]);
    /// ```
    pub fn shapes(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        groups: usize,
        bias: bool,
    ) -> Vec<(String, Vec<usize>)> {
        check_groups("Conv2d", in_channels, out_channels, groups);
        shapes([out_channels, in_channels / groups, kernel[0], kernel[1]], bias.then_some(out_channels))
    }

    /// The output plane `[OH, OW]` for an input plane `[H, W]`, or `None`
    /// when the kernel does not fit.
    pub fn output_hw(&self, input_hw: [usize; 2]) -> Option<[usize; 2]> {
        let w = self.weight.shape();
        let o = &self.opts;
        let out = |a: usize| conv2d_out_size(input_hw[a], w[2 + a], o.stride[a], o.padding[a], o.dilation[a]);
        Some([out(0)?, out(1)?])
    }
}

impl Module for Conv2d {
    /// `x` `[N, C, H, W]` to `[N, O, OH, OW]`.
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.conv2d(g.param(&self.weight), self.bias.as_ref().map(|b| g.param(b)), self.opts)
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}

/// A 2-d transposed convolution layer (PyTorch's `nn.ConvTranspose2d`; the
/// adjoint of [`Conv2d`], e.g. a decoder's upsampling): input
/// `[N, C, H, W]`, output `[N, O, OH, OW]` with
/// `OH = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding + 1`; each input
/// value adds a scaled copy of its kernel to the output. Parameters `weight`
/// `[C, O / groups, kh, kw]` (PyTorch's layout) and `bias` `[O]`.
///
/// ```
/// use backprop::{nn::{ConvTranspose2d, Module}, tensor::{ConvTranspose2dOptions, Rng}, Graph, Tensor};
/// let up = ConvTranspose2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
/// let layer = ConvTranspose2d::new(16, 8, [4, 4], up, true, &mut Rng::new(0));
/// let g = Graph::no_grad();
/// let y = layer.forward(&g, g.constant(Tensor::zeros(&[2, 16, 7, 7])));
/// assert_eq!(y.shape(), vec![2, 8, 14, 14]);
/// ```
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    /// `[C, O / groups, kh, kw]`
    pub weight: Param,
    /// `[O]`, if the layer has a bias.
    pub bias: Option<Param>,
    /// Stride, padding, output padding, dilation, groups.
    pub opts: ConvTranspose2dOptions,
}

impl ConvTranspose2d {
    /// A layer from `in_channels` to `out_channels` with a `kernel`
    /// (`[kh, kw]`) and PyTorch's default initialisation (whose `fan_in` is,
    /// as in PyTorch, `O / groups * kh * kw`).
    ///
    /// # Panics
    /// When `opts.groups` does not divide both channel counts.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        opts: ConvTranspose2dOptions,
        bias: bool,
        rng: &mut Rng,
    ) -> ConvTranspose2d {
        check_groups("ConvTranspose2d", in_channels, out_channels, opts.groups);
        let shape = [in_channels, out_channels / opts.groups, kernel[0], kernel[1]];
        let (weight, bias) = init(shape, bias.then_some(out_channels), rng);
        ConvTranspose2d { weight, bias, opts }
    }

    /// The names and shapes of the parameters of such a layer, without building it.
    pub fn shapes(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        groups: usize,
        bias: bool,
    ) -> Vec<(String, Vec<usize>)> {
        check_groups("ConvTranspose2d", in_channels, out_channels, groups);
        shapes([in_channels, out_channels / groups, kernel[0], kernel[1]], bias.then_some(out_channels))
    }

    /// The output plane `[OH, OW]` for an input plane `[H, W]`, or `None`
    /// when there is no valid output size.
    pub fn output_hw(&self, input_hw: [usize; 2]) -> Option<[usize; 2]> {
        let w = self.weight.shape();
        let o = &self.opts;
        let out = |a: usize| {
            conv_transpose2d_out_size(
                input_hw[a],
                w[2 + a],
                o.stride[a],
                o.padding[a],
                o.output_padding[a],
                o.dilation[a],
            )
        };
        Some([out(0)?, out(1)?])
    }
}

impl Module for ConvTranspose2d {
    /// `x` `[N, C, H, W]` to `[N, O, OH, OW]`.
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.conv_transpose2d(g.param(&self.weight), self.bias.as_ref().map(|b| g.param(b)), self.opts)
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialisation_is_pytorchs_bound_and_shapes_match() {
        let opts = Conv2dOptions { groups: 2, ..Default::default() };
        let conv = Conv2d::new(4, 6, [3, 2], opts, true, &mut Rng::new(1));
        let bound = 1.0 / ((2 * 3 * 2) as f32).sqrt();
        for (_, p) in conv.parameters() {
            let v = p.value();
            assert!(v.data().iter().all(|x| x.abs() <= bound), "outside ±{bound}");
            assert!(v.data().iter().any(|x| x.abs() > bound / 2.0), "init far below ±{bound}");
        }
        let real: Vec<(String, Vec<usize>)> = conv.parameters().into_iter().map(|(n, p)| (n, p.shape())).collect();
        assert_eq!(Conv2d::shapes(4, 6, [3, 2], 2, true), real);
        let opts = ConvTranspose2dOptions { groups: 2, ..Default::default() };
        let up = ConvTranspose2d::new(4, 6, [3, 2], opts, false, &mut Rng::new(1));
        let real: Vec<(String, Vec<usize>)> = up.parameters().into_iter().map(|(n, p)| (n, p.shape())).collect();
        assert_eq!(ConvTranspose2d::shapes(4, 6, [3, 2], 2, false), real);
        assert_eq!(real, vec![("weight".to_string(), vec![4, 3, 3, 2])]);
        let bound = 1.0 / ((3 * 3 * 2) as f32).sqrt();
        assert!(up.weight.value().data().iter().all(|x| x.abs() <= bound));
    }

    #[test]
    #[should_panic(expected = "Conv2d: 3 groups must divide both 4 input and 6 output channels")]
    fn groups_that_do_not_divide_are_refused() {
        Conv2d::new(4, 6, [3, 3], Conv2dOptions { groups: 3, ..Default::default() }, true, &mut Rng::new(0));
    }
}
