//! The differentiable ops, one file per family; each op's forward (a method
//! on [`Var`](super::Var)) sits next to its backward rule.

mod arith;
mod attention;
mod batch_norm;
mod conv;
mod dropout;
mod matmul;
mod norm;
mod pool;
mod reduce;
mod shape;
mod softmax;
mod unary;
