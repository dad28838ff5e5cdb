//! # backprop
//!
//! Tensors, reverse-mode autodiff, layers, optimizers and training, in Rust,
//! fast on a CPU.
//!
//! Data flows one way: data → [`Tensor`]s → graph (forward) → loss → graph
//! (backward) → optimizer → parameters.
//!
//! ```
//! use backprop::nn::{Activation, Mlp, MlpConfig, Module};
//! use backprop::optim::{Adam, Optimizer};
//! use backprop::{loss, tensor::Rng, Graph, Tensor};
//!
//! // Learn y = x0 AND x1 with a tiny MLP, by hand-written training steps.
//! let x = Tensor::from_vec(vec![0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2]);
//! let labels = [0, 0, 0, 1];
//! let model = Mlp::new(MlpConfig::classifier(2, &[8], 2, Activation::Tanh), &mut Rng::new(0));
//! let mut opt = Adam::new(model.parameters(), 0.05);
//! for _ in 0..200 {
//!     opt.zero_grad();
//!     let g = Graph::new();                                 // a fresh tape per step
//!     let logits = model.forward(&g, g.constant(x.clone())); // forward
//!     let loss = loss::cross_entropy(logits, &labels);
//!     g.backward(loss);                                     // backward: fills Param grads
//!     opt.step();                                           // update
//! }
//! let g = Graph::no_grad();
//! let out = model.forward(&g, g.constant(x)).value();
//! assert_eq!(out.argmax_axis(1), vec![0, 0, 0, 1]);
//! ```

#![warn(missing_docs)]

pub mod autograd;
pub mod checkpoint;
pub mod data;
pub mod dist;
pub mod error;
pub mod explain;
pub mod gan;
pub mod loss;
pub mod models;
pub mod nn;
pub mod ood;
pub mod optim;
pub mod pretrain;
pub mod rl;
pub mod tensor;
pub mod train;
pub mod viz;

pub use autograd::{Graph, Param, Var};
pub use error::{Error, Result};
pub use tensor::Tensor;

/// The code in README.md is compiled and run as doc tests, so it stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
