//! Gradient descent on one parameter: J(w) = (w - 3)^2, minimised by the
//! update w := w - eta dJ/dw, with autodiff computing dJ/dw at each step.
//! The minimum is at w = 3; each step shrinks the distance to it by the
//! factor 1 - 2 eta.
//!
//! Run: `cargo run --example gradient_descent`

use backprop::{Graph, Tensor};

pub fn main() -> backprop::Result<()> {
    let eta = 0.1f32;
    let mut w = 0.0f32;
    println!("J(w) = (w - 3)^2, eta = {eta}, starting at w = {w}");
    println!("step         w       J(w)    dJ/dw");
    for step in 1..=30 {
        let g = Graph::new();
        let wv = g.leaf(Tensor::scalar(w));
        let j = (wv - 3.0).square();
        let grads = g.backward(j);
        let dj_dw = grads.wrt(wv).map(|t| t.item()).unwrap_or(f32::NAN);
        assert!((dj_dw - 2.0 * (w - 3.0)).abs() < 1e-5, "autodiff gives {dj_dw}, the derivative is 2(w - 3)");
        println!("{step:>4}  {w:>8.5}  {:>9.6}  {dj_dw:>7.4}", j.item());
        w -= eta * dj_dw; // the gradient-descent update
    }
    println!("after 30 steps w = {w:.5} (the minimum is at 3)");
    assert!((w - 3.0).abs() < 1e-2, "gradient descent did not converge: w = {w}");
    Ok(())
}
