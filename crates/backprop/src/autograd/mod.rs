//! Reverse-mode automatic differentiation on a define-by-run tape.
//!
//! Build a [`Graph`], turn tensors into [`Var`]s with [`Graph::constant`],
//! [`Graph::leaf`] or [`Graph::param`], compute with ordinary arithmetic and
//! the methods on `Var`, then call [`Graph::backward`] on a scalar loss.
//!
//! ```
//! use backprop::{autograd::{Graph, Param}, Tensor};
//! let w = Param::new(Tensor::from_vec(vec![0.5, -1.0], &[1, 2]));
//! let g = Graph::new();
//! let x = g.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
//! let y = x.matmul_t(false, g.param(&w), true).sigmoid(); // [2, 1]
//! let loss = y.mean();
//! g.backward(loss);
//! assert_eq!(w.grad().unwrap().shape(), &[1, 2]);
//! ```

mod gradcheck;
mod gradcheck_params;
mod gradients;
mod graph;
mod ops;
mod param;

pub use gradcheck::{gradcheck, GradcheckOptions, GradcheckReport};
pub use gradcheck_params::{gradcheck_params, gradcheck_params_with, ParamCheck, ParamCheckOptions};
pub use gradients::{Gradients, NonFiniteGrad};
pub use graph::{AsParam, Graph, NodeInfo, Var};
pub(crate) use graph::{Backward, BackwardCtx};
pub use param::{Param, ParamState};
