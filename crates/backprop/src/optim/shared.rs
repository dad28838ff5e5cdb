//! One optimizer driven by several phases of a step.

use super::Optimizer;
use crate::autograd::Param;
use std::cell::RefCell;
use std::rc::Rc;

/// A handle on one optimizer that several phases of a
/// [`TrainStep`](crate::train::TrainStep) share: a GAN whose discriminator
/// takes k steps per generator step gives the trainer k handles on the same
/// Adam, so its moments and step count are those of one optimizer, as in
/// PyTorch's loop calling `opt_d.step()` k times.
///
/// ```
/// use backprop::optim::{Optimizer, Sgd, Shared};
/// use backprop::{Graph, Param, Tensor};
/// let w = Param::new(Tensor::scalar(1.0));
/// let a = Shared::new(Sgd::new(vec![("w".into(), w.clone())], 0.25));
/// let mut b = a.clone();
/// b.set_lr(0.5);
/// assert_eq!(a.lr(), 0.5); // one optimizer behind both handles
/// let g = Graph::new();
/// g.backward(g.param(&w).square()); // d/dw w^2 = 2
/// b.step();
/// assert_eq!(w.value().data()[0], 0.0);
/// ```
pub struct Shared<O> {
    inner: Rc<RefCell<O>>,
    params: Vec<(String, Param)>,
}

impl<O: Optimizer> Shared<O> {
    /// The first handle on `optimizer`; clone it for the others.
    pub fn new(optimizer: O) -> Shared<O> {
        let params = optimizer.params().to_vec();
        Shared { inner: Rc::new(RefCell::new(optimizer)), params }
    }
}

impl<O> Clone for Shared<O> {
    fn clone(&self) -> Self {
        Shared { inner: Rc::clone(&self.inner), params: self.params.clone() }
    }
}

impl<O: Optimizer> Optimizer for Shared<O> {
    fn step(&mut self) {
        self.inner.borrow_mut().step();
    }
    fn lr(&self) -> f32 {
        self.inner.borrow().lr()
    }
    fn set_lr(&mut self, lr: f32) {
        self.inner.borrow_mut().set_lr(lr);
    }
    fn params(&self) -> &[(String, Param)] {
        &self.params
    }
}
