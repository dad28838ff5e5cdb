//! Trainable parameters: a value and its accumulated gradient, shared by handle.

use crate::Tensor;
use std::sync::{Arc, Mutex, MutexGuard};

/// A trainable tensor. Cloning the handle shares the parameter, so a module,
/// a graph and an optimizer all see the same value and gradient.
///
/// Gradients accumulate (as in PyTorch) until [`Param::zero_grad`].
///
/// ```
/// use backprop::{autograd::{Graph, Param}, Tensor};
/// let w = Param::new(Tensor::from_vec(vec![2.0], &[1]));
/// let g = Graph::new();
/// let x = g.param(&w);
/// let loss = (x * x).sum(); // d(w^2)/dw = 2w = 4
/// g.backward(loss);
/// assert_eq!(w.grad().unwrap().data(), &[4.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Param {
    state: Arc<Mutex<ParamState>>,
}

/// What a [`Param`] holds.
#[derive(Debug)]
pub struct ParamState {
    /// The current value.
    pub value: Tensor,
    /// The gradient accumulated since the last `zero_grad`, if any.
    pub grad: Option<Tensor>,
}

impl Param {
    /// A new parameter with the given initial value.
    pub fn new(value: Tensor) -> Param {
        Param { state: Arc::new(Mutex::new(ParamState { value, grad: None })) }
    }

    /// Locks the parameter for reading or updating value and gradient together
    /// (what an optimizer step does).
    pub fn lock(&self) -> MutexGuard<'_, ParamState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current value (shares the buffer; no copy).
    pub fn value(&self) -> Tensor {
        self.lock().value.clone()
    }

    /// Replaces the value.
    ///
    /// # Panics
    /// When the new value's shape differs from the old one.
    pub fn set_value(&self, value: Tensor) {
        let mut s = self.lock();
        assert_eq!(
            s.value.shape(),
            value.shape(),
            "Param::set_value: shape {:?} does not match {:?}",
            value.shape(),
            s.value.shape()
        );
        s.value = value;
    }

    /// The accumulated gradient, if backward has reached this parameter.
    pub fn grad(&self) -> Option<Tensor> {
        self.lock().grad.clone()
    }

    /// Forgets the accumulated gradient.
    pub fn zero_grad(&self) {
        self.lock().grad = None;
    }

    /// The parameter's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.lock().value.shape().to_vec()
    }

    /// Number of scalar values.
    pub fn numel(&self) -> usize {
        self.lock().value.numel()
    }

    /// Whether two handles refer to the same parameter.
    pub fn same_as(&self, other: &Param) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }

    /// Adds `grad` to the gradient; true when there was none before.
    pub(crate) fn accumulate_grad(&self, grad: &Tensor) -> bool {
        let mut s = self.lock();
        match &mut s.grad {
            Some(existing) => {
                existing.add_scaled_inplace(grad, 1.0);
                false
            }
            None => {
                s.grad = Some(grad.clone());
                true
            }
        }
    }
}
