//! Turning attributions into pictures: normalisation and a heat colour map.

use crate::Tensor;

/// `|a| / max |a|`: attribution magnitudes scaled to [0, 1] (all zeros stay zeros).
///
/// ```
/// use backprop::{explain::normalized_magnitude, Tensor};
/// let m = normalized_magnitude(&Tensor::from_vec(vec![-2.0, 1.0, 0.0], &[3]));
/// assert_eq!(m.data(), &[1.0, 0.5, 0.0]);
/// ```
pub fn normalized_magnitude(attributions: &Tensor) -> Tensor {
    let max = attributions.data().iter().fold(0.0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    attributions.map(|v| if v.is_finite() { (v.abs() * scale).min(1.0) } else { 0.0 })
}

/// The "hot" colour map: 0 black, then red, yellow, and 1 white.
///
/// ```
/// use backprop::explain::heat_color;
/// assert_eq!(heat_color(0.0), [0, 0, 0]);
/// assert_eq!(heat_color(1.0), [255, 255, 255]);
/// assert_eq!(heat_color(1.0 / 3.0), [255, 0, 0]);
/// ```
pub fn heat_color(t: f32) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let channel = |offset: f32| ((3.0 * t - offset).clamp(0.0, 1.0) * 255.0).round() as u8;
    [channel(0.0), channel(1.0), channel(2.0)]
}
