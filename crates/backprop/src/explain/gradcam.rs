//! Grad-CAM: where in the image a convolutional network found its evidence
//! for a class.

use super::attribution::{check_class, one_row};
use crate::autograd::Graph;
use crate::nn::Cnn;
use crate::{Error, Result, Tensor};

/// A Grad-CAM map and where it was read.
#[derive(Clone, Debug)]
pub struct GradCam {
    /// The layer whose feature maps were weighed: the end of the last
    /// convolution's block (the convolution and the batch norm and
    /// activations right after it), see [`Cnn::feature_layers`].
    pub layer: usize,
    /// `ReLU(sum_k alpha_k A^k)` at the layer's resolution, `[h, w]`, not normalised.
    pub coarse: Tensor,
    /// The coarse map resized to the input (bilinear) and divided by its
    /// maximum: `[H, W]` in [0, 1] (all zeros when no location counts for the class).
    pub heat: Tensor,
}

/// Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
/// Networks via Gradient-based Localization", ICCV 2017) of the score of
/// `class` for one input `[1, D]` (or `[D]`, the model's
/// [`CnnConfig::inputs`](crate::nn::CnnConfig::inputs) values): with `A^k`
/// the `k`-th feature map of the last convolution block and `y` the class
/// score (logit), `alpha_k = mean_ij dy/dA^k_ij` and the map is
/// `ReLU(sum_k alpha_k A^k)`, upsampled to the input size.
///
/// Runs in evaluation behaviour (batch norm with running statistics, no
/// dropout) on a graph that differentiates with respect to the feature maps
/// only: the model's parameters and their gradients are left untouched.
///
/// ```
/// use backprop::explain::grad_cam;
/// use backprop::nn::{Cnn, CnnConfig};
/// use backprop::{tensor::Rng, Tensor};
/// let cnn = Cnn::new(CnnConfig::classifier("c4k3p1-relu-mp2", [1, 8, 8], 3)?, &mut Rng::new(0))?;
/// let cam = grad_cam(&cnn, &Tensor::rand_uniform(&[1, 64], 0.0, 1.0, &mut Rng::new(1)), 2)?;
/// assert_eq!((cam.layer, cam.coarse.shape(), cam.heat.shape()), (1, &[8usize, 8][..], &[8usize, 8][..]));
/// assert!(cam.heat.data().iter().all(|v| (0.0..=1.0).contains(v)));
/// # Ok::<(), backprop::Error>(())
/// ```
///
/// # Errors
/// When the input is not one example of the model's size, `class` is not
/// below the number of outputs, or the network has no convolution.
pub fn grad_cam(model: &Cnn, input: &Tensor, class: usize) -> Result<GradCam> {
    let x = one_row(input)?;
    let inputs = model.config().inputs();
    if x.dim(1) != inputs {
        let message = format!("the model takes {inputs} values per image, got {}", x.dim(1));
        return Err(Error::Shape { op: "grad_cam".into(), message });
    }
    let Some(&layer) = model.feature_layers().last() else {
        return Err(Error::invalid("model", format!("{} has no convolution for Grad-CAM to read", model.describe())));
    };
    // The feature maps, then the rest of the network from them on a graph
    // that differentiates with respect to them alone.
    let g = Graph::no_grad();
    let maps = model.forward_all(&g, g.constant(x))[layer + 1].value();
    let g = Graph::inputs_only();
    let a = g.leaf(maps.clone());
    let out = model.forward_layers(&g, a, layer + 1..model.arch().len());
    check_class(&out.shape(), 1, class)?;
    let grads = g.backward(out.narrow(1, class, 1).sum());
    let da = grads.wrt(a).cloned().unwrap_or_else(|| maps.zeros_like());
    let [channels, h, w] = match maps.shape() {
        [1, c, h, w] => [*c, *h, *w],
        s => {
            let message = format!("layer {layer} gives {s:?}, not one feature map [1, C, H, W]");
            return Err(Error::Shape { op: "grad_cam".into(), message });
        }
    };
    let mut coarse = vec![0.0f32; h * w];
    for k in 0..channels {
        let (ak, gk) = (&maps.data()[k * h * w..(k + 1) * h * w], &da.data()[k * h * w..(k + 1) * h * w]);
        let alpha = gk.iter().sum::<f32>() / (h * w) as f32;
        coarse.iter_mut().zip(ak).for_each(|(c, a)| *c += alpha * a);
    }
    coarse.iter_mut().for_each(|c| *c = c.max(0.0));
    let [_, height, width] = model.config().input;
    let mut heat = resize_bilinear(&coarse, h, w, height, width);
    let max = heat.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 && max.is_finite() {
        heat.iter_mut().for_each(|v| *v /= max);
    } else {
        heat.iter_mut().for_each(|v| *v = 0.0);
    }
    Ok(GradCam { layer, coarse: Tensor::from_vec(coarse, &[h, w]), heat: Tensor::from_vec(heat, &[height, width]) })
}

/// Bilinear resize of an `h x w` map to `height x width`, sampling at pixel
/// centres (PyTorch's `interpolate(mode="bilinear", align_corners=False)`).
fn resize_bilinear(src: &[f32], h: usize, w: usize, height: usize, width: usize) -> Vec<f32> {
    // The source coordinate of output index `i` along an axis of `n` -> `m`, and its two neighbours.
    let taps = |i: usize, n: usize, m: usize| {
        let x = ((i as f32 + 0.5) * n as f32 / m as f32 - 0.5).max(0.0);
        let lo = (x.floor() as usize).min(n - 1);
        let hi = (lo + 1).min(n - 1);
        (lo, hi, x - lo as f32)
    };
    let mut out = Vec::with_capacity(height * width);
    for y in 0..height {
        let (y0, y1, fy) = taps(y, h, height);
        for x in 0..width {
            let (x0, x1, fx) = taps(x, w, width);
            let top = src[y0 * w + x0] * (1.0 - fx) + src[y0 * w + x1] * fx;
            let bottom = src[y1 * w + x0] * (1.0 - fx) + src[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::resize_bilinear;

    #[test]
    fn bilinear_resize_matches_pytorch_at_pixel_centres() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=4, mode="bilinear")
        let out = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 2, 2, 4, 4);
        let want = [0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0];
        assert!(out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{out:?}");
        assert_eq!(resize_bilinear(&[5.0], 1, 1, 3, 2), vec![5.0; 6]);
    }
}
