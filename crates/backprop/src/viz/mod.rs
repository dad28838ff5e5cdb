//! Drawing computation graphs: scalar expressions such as `3*(a + b*c)` are
//! parsed ([`Expr`]), recorded on a [`Graph`](crate::Graph) and rendered with
//! their forward values and gradients as Mermaid or Graphviz DOT text.
//!
//! ```
//! use backprop::viz::{render, Expr, Format};
//! use backprop::Graph;
//!
//! let expr = Expr::parse("3*(a + b*c)")?;
//! let g = Graph::new();
//! let built = expr.build(&g, &[("a", 5.0), ("b", 3.0), ("c", 2.0)])?;
//! let grads = g.backward_keep_all(built.output);
//! let text = render(built.output, &grads, &built.labels, Format::Mermaid);
//! assert!(text.starts_with("flowchart LR"));
//! assert!(text.contains("J = 33") && text.contains("dJ/db = 6"));
//! # Ok::<(), backprop::Error>(())
//! ```

mod expr;
mod render;
mod steps;
mod unrolled;

pub use expr::{BinOp, BuiltExpr, Expr, Func};
pub use render::{format_number, render, Format};
pub use steps::{walkthrough, StepNode, StepRole, Walkthrough};
pub use unrolled::{check_unrollable, unroll_mlp, Unrolled, UnrolledTarget, MAX_UNROLLED_PARAMETERS};
