//! The Adam/AdamW update of one parameter tensor, element by element. The
//! formula, its source and the bias corrections are in [`crate::optim::Adam`].

use super::parallel::{self, CHUNK};
use super::{output_buffer, Tensor};
use std::sync::Arc;

/// The constants of one parameter's Adam step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamStep {
    /// Decay of the gradient's running mean (beta1).
    pub b1: f32,
    /// Decay of the squared gradient's running mean (beta2).
    pub b2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// L2 weight decay added to the gradient (Adam), 0 for AdamW.
    pub l2: f32,
    /// Factor on the weight before the step: `1 - lr wd` for AdamW, else 1.
    pub shrink: f32,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f32,
    /// `1 / sqrt(1 - beta2^t)`.
    pub inv_sqrt_bc2: f32,
}

/// Updates the weights `w` and the moments `m` and `v` in place from the
/// gradient `g` (all the same length), in parallel chunks.
///
/// When another holder shares `w`'s buffer (the live graph of a step whose
/// later phase still reads these weights: a GAN's discriminator), the update
/// is written into a new buffer, read from the old one: copying the old one
/// first and updating the copy would cost one more pass over the weights.
pub(crate) fn adam_update(w: &mut Tensor, g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamStep) {
    if let Some(w) = Arc::get_mut(&mut w.data) {
        return parallel::for_each((w.as_mut_slice(), g, m, v), CHUNK, |_, (w, g, m, v)| update(w, None, g, m, v, k));
    }
    // SAFETY: `update` writes every value of `out` (one per element of `from`).
    let mut out = unsafe { output_buffer(w.numel()) };
    let from = w.data();
    parallel::for_each((out.as_mut_slice(), from, g, m, v), CHUNK, |_, (w, from, g, m, v)| {
        update(w, Some(from), g, m, v, k)
    });
    *w = Tensor::from_vec(out, w.shape());
}

/// One chunk; the weights are read from `from` when given, else from `w`. A
/// generic x86-64 build would run the square roots and divisions 4 lanes at a
/// time (SSE2); CPUs with AVX2 get a copy of the same loop compiled for it, 8
/// lanes. The same operations in the same order, so the results are the same
/// bits either way.
fn update(w: &mut [f32], from: Option<&[f32]>, g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamStep) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is
        // plain safe Rust compiled with that feature enabled.
        return unsafe { update_avx2(w, from, g, m, v, k) };
    }
    update_lanes(w, from, g, m, v, k)
}

/// [`update_lanes`] compiled for CPUs with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn update_avx2(w: &mut [f32], from: Option<&[f32]>, g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamStep) {
    update_lanes(w, from, g, m, v, k)
}

/// The loops of [`update`], inlined into each CPU-specific copy.
#[inline(always)]
fn update_lanes(w: &mut [f32], from: Option<&[f32]>, g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamStep) {
    let moments = g.iter().zip(m.iter_mut()).zip(v.iter_mut());
    match from {
        None => w.iter_mut().zip(moments).for_each(|(w, ((&g, m), v))| *w = step(*w, g, m, v, k)),
        Some(from) => {
            w.iter_mut().zip(from).zip(moments).for_each(|((w, &old), ((&g, m), v))| *w = step(old, g, m, v, k))
        }
    }
}

/// One weight's step: updates its moments and returns the new weight.
#[inline(always)]
fn step(w: f32, g: f32, m: &mut f32, v: &mut f32, k: AdamStep) -> f32 {
    let g = g + k.l2 * w;
    *m = k.b1 * *m + (1.0 - k.b1) * g;
    *v = k.b2 * *v + (1.0 - k.b2) * g * g;
    w * k.shrink - k.step_size * *m / (v.sqrt() * k.inv_sqrt_bc2 + k.eps)
}
