//! backprop: tensors, reverse-mode autodiff, layers, optimizers and training, in Rust.

pub mod error;
pub mod tensor;

pub use error::{Error, Result};
pub use tensor::Tensor;
