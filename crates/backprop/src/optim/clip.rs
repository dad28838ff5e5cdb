//! Gradient clipping by global norm.

use crate::autograd::Param;

/// Scales all gradients so their joint L2 norm is at most `max_norm`;
/// returns the norm before clipping.
///
/// ```
/// use backprop::{optim::clip_grad_norm, Graph, Param, Tensor};
/// let w = Param::new(Tensor::from_vec(vec![3.0, 4.0], &[2]));
/// let g = Graph::new();
/// let loss = (g.param(&w) * g.constant(Tensor::from_vec(vec![3.0, 4.0], &[2]))).sum();
/// g.backward(loss); // gradient (3, 4), norm 5
/// let norm = clip_grad_norm(&[("w".into(), w.clone())], 1.0);
/// assert_eq!(norm, 5.0);
/// assert!((w.grad().unwrap().data()[0] - 0.6).abs() < 1e-6);
/// ```
pub fn clip_grad_norm(params: &[(String, Param)], max_norm: f32) -> f32 {
    let total: f64 = params
        .iter()
        .filter_map(|(_, p)| p.grad())
        .map(|g| g.data().iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>())
        .sum();
    let norm = total.sqrt() as f32;
    if norm > max_norm && norm.is_finite() {
        let scale = max_norm / (norm + 1e-6);
        for (_, p) in params {
            if let Some(g) = &mut p.lock().grad {
                g.map_inplace(|x| x * scale);
            }
        }
    }
    norm
}
