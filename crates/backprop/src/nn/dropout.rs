//! Dropout as a module with its own seeded random stream.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::tensor::Rng;
use std::sync::Mutex;

/// Inverted dropout (Srivastava et al. 2014): in training, each value is
/// zeroed with probability `p` and the rest scaled by `1 / (1 - p)`; the
/// identity when `p` is 0 or the graph is not training. The masks come from
/// the module's own random stream, seeded once, so runs are reproducible.
///
/// ```
/// use backprop::{nn::{Dropout, Module}, Graph, Tensor};
/// let drop = Dropout::new(0.5, 7);
/// let g = Graph::no_grad(); // not training: the identity
/// let x = g.constant(Tensor::ones(&[2, 3]));
/// assert_eq!(drop.forward(&g, x).value().data(), &[1.0; 6]);
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f32,
    rng: Mutex<Rng>,
}

impl Dropout {
    /// Dropout with probability `p`, its masks drawn from `Rng::new(seed)`.
    ///
    /// # Panics
    /// When `p` is not in [0, 1).
    pub fn new(p: f32, seed: u64) -> Dropout {
        assert!((0.0..1.0).contains(&p), "dropout: p must be in [0, 1), got {p}");
        Dropout { p, rng: Mutex::new(Rng::new(seed)) }
    }

    /// The drop probability.
    pub fn p(&self) -> f32 {
        self.p
    }
}

impl Module for Dropout {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        if self.p == 0.0 || !x.graph().is_training() {
            return x;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        x.dropout(self.p, &mut rng)
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}
