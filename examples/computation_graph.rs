//! The computation graph of J = 3(a + bc) at a = 5, b = 3, c = 2: forward and
//! backward by hand, step by step with the chain rule, then by autodiff, and
//! the two must agree. Finally the graph itself, as Mermaid text.
//!
//! Run: `cargo run --example computation_graph`

use backprop::viz::{render, Expr, Format};
use backprop::{Graph, Tensor};

pub fn main() -> backprop::Result<()> {
    let (a, b, c) = (5.0f32, 3.0f32, 2.0f32);

    println!("Forward, by hand:");
    let u = b * c;
    let v = a + u;
    let j = 3.0 * v;
    println!("  u = b c     = {b} * {c} = {u}");
    println!("  v = a + u   = {a} + {u} = {v}");
    println!("  J = 3 v     = 3 * {v} = {j}");

    println!("Backward, by hand (chain rule, from J back to the inputs):");
    let dj_dv = 3.0;
    println!("  dJ/dv = 3");
    let dj_du = dj_dv * 1.0;
    println!("  dJ/du = dJ/dv * dv/du = {dj_dv} * 1 = {dj_du}");
    let dj_da = dj_dv * 1.0;
    println!("  dJ/da = dJ/dv * dv/da = {dj_dv} * 1 = {dj_da}");
    let dj_db = dj_du * c;
    println!("  dJ/db = dJ/du * du/db = {dj_du} * c = {dj_db}");
    let dj_dc = dj_du * b;
    println!("  dJ/dc = dJ/du * du/dc = {dj_du} * b = {dj_dc}");

    println!("Autodiff:");
    let g = Graph::new();
    let (va, vb, vc) = (g.leaf(Tensor::scalar(a)), g.leaf(Tensor::scalar(b)), g.leaf(Tensor::scalar(c)));
    let vj = (va + vb * vc) * 3.0;
    let grads = g.backward(vj);
    let grad = |x| grads.wrt(x).map(|t| t.item()).unwrap_or(f32::NAN);
    println!("  J = {}, dJ/da = {}, dJ/db = {}, dJ/dc = {}", vj.item(), grad(va), grad(vb), grad(vc));
    assert_eq!(vj.item(), j);
    assert_eq!([grad(va), grad(vb), grad(vc)], [dj_da, dj_db, dj_dc], "autodiff disagrees with the chain rule");
    println!("  autodiff agrees with the hand computation");

    println!("The graph (Mermaid; `backprop graph --expr ... --format dot` gives Graphviz):");
    let g = Graph::new();
    let built = Expr::parse("3*(a + b*c)")?.build(&g, &[("a", a), ("b", b), ("c", c)])?;
    let grads = g.backward_keep_all(built.output);
    print!("{}", render(built.output, &grads, &built.labels, Format::Mermaid));
    Ok(())
}
