//! backprop: tensors, reverse-mode autodiff, layers, optimizers and training, in Rust.

pub mod autograd;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod error;
pub mod loss;
pub mod nn;
pub mod optim;
pub mod tensor;
pub mod train;

pub use autograd::{Graph, Param, Var};
pub use error::{Error, Result};
pub use tensor::Tensor;
