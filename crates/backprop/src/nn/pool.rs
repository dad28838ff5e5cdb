//! Pooling and reshaping layers without parameters: [`MaxPool2d`],
//! [`AvgPool2d`], [`GlobalAvgPool2d`], [`Flatten`]; and [`LeakyRelu`].

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::tensor::pool2d_out_size;

/// The output plane of a pooling window over `input_hw`, or `None` when it does not fit.
fn pooled_hw(input_hw: [usize; 2], kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Option<[usize; 2]> {
    let out = |a: usize| pool2d_out_size(input_hw[a], kernel[a], stride[a], padding[a]);
    Some([out(0)?, out(1)?])
}

/// 2-d max pooling (PyTorch's `nn.MaxPool2d`, floor mode): `[N, C, H, W]` to
/// `[N, C, OH, OW]`, `y = max over the window`, padding counted as -inf,
/// `OH = floor((H + 2 ph - kh) / sh) + 1`; the gradient goes to each window's
/// arg-max.
///
/// ```
/// use backprop::{nn::{MaxPool2d, Module}, Graph, Tensor};
/// let pool = MaxPool2d::new([2, 2], [2, 2], [0, 0]);
/// let g = Graph::no_grad();
/// assert_eq!(pool.forward(&g, g.constant(Tensor::zeros(&[1, 3, 28, 28]))).shape(), vec![1, 3, 14, 14]);
/// assert_eq!(pool.output_hw([7, 7]), Some([3, 3]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxPool2d {
    /// Window `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit -inf on each side (at most half the kernel).
    pub padding: [usize; 2],
}

impl MaxPool2d {
    /// A max-pooling layer.
    pub fn new(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> MaxPool2d {
        MaxPool2d { kernel, stride, padding }
    }

    /// The output plane for an input plane, or `None` when the window does not fit.
    pub fn output_hw(&self, input_hw: [usize; 2]) -> Option<[usize; 2]> {
        pooled_hw(input_hw, self.kernel, self.stride, self.padding)
    }
}

impl Module for MaxPool2d {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.max_pool2d(self.kernel, self.stride, self.padding)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}

/// 2-d average pooling (PyTorch's `nn.AvgPool2d`, floor mode,
/// `count_include_pad=True`): `[N, C, H, W]` to `[N, C, OH, OW]`,
/// `y = (sum over the window) / (kh kw)`, padding counted as zeros.
///
/// ```
/// use backprop::{nn::{AvgPool2d, Module}, Graph, Tensor};
/// let pool = AvgPool2d::new([2, 2], [2, 2], [0, 0]);
/// let g = Graph::no_grad();
/// let y = pool.forward(&g, g.constant(Tensor::ones(&[1, 1, 4, 4])));
/// assert_eq!(y.value().data(), &[1.0; 4]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AvgPool2d {
    /// Window `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit zeros on each side (at most half the kernel).
    pub padding: [usize; 2],
}

impl AvgPool2d {
    /// An average-pooling layer.
    pub fn new(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> AvgPool2d {
        AvgPool2d { kernel, stride, padding }
    }

    /// The output plane for an input plane, or `None` when the window does not fit.
    pub fn output_hw(&self, input_hw: [usize; 2]) -> Option<[usize; 2]> {
        pooled_hw(input_hw, self.kernel, self.stride, self.padding)
    }
}

impl Module for AvgPool2d {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.avg_pool2d(self.kernel, self.stride, self.padding)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}

/// Global average pooling: `[N, C, H, W]` to `[N, C]`, each plane's mean
/// (PyTorch's `nn.AdaptiveAvgPool2d(1)` followed by `nn.Flatten()`).
///
/// ```
/// use backprop::{nn::{GlobalAvgPool2d, Module}, Graph, Tensor};
/// let g = Graph::no_grad();
/// let y = GlobalAvgPool2d.forward(&g, g.constant(Tensor::ones(&[2, 5, 3, 3])));
/// assert_eq!(y.shape(), vec![2, 5]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GlobalAvgPool2d;

impl Module for GlobalAvgPool2d {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.global_avg_pool2d()
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}

/// `[N, ...]` to `[N, product of the rest]` (PyTorch's `nn.Flatten`): between
/// convolutions and a linear layer.
///
/// ```
/// use backprop::{nn::{Flatten, Module}, Graph, Tensor};
/// let g = Graph::no_grad();
/// assert_eq!(Flatten.forward(&g, g.constant(Tensor::zeros(&[4, 64, 7, 7]))).shape(), vec![4, 3136]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flatten;

impl Module for Flatten {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.flatten()
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}

/// Leaky ReLU (PyTorch's `nn.LeakyReLU`, Maas et al. 2013):
/// `y = x` for `x > 0`, else `negative_slope * x`; any shape.
///
/// ```
/// use backprop::{nn::{LeakyRelu, Module}, Graph, Tensor};
/// let g = Graph::no_grad();
/// let y = LeakyRelu::new(0.2).forward(&g, g.constant(Tensor::from_vec(vec![-1.0, 2.0], &[1, 2])));
/// assert_eq!(y.value().data(), &[-0.2, 2.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    /// The slope for negative inputs (PyTorch's default is 0.01).
    pub negative_slope: f32,
}

impl LeakyRelu {
    /// A leaky ReLU with the given slope for negative inputs.
    pub fn new(negative_slope: f32) -> LeakyRelu {
        LeakyRelu { negative_slope }
    }
}

impl Module for LeakyRelu {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.leaky_relu(self.negative_slope)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}
