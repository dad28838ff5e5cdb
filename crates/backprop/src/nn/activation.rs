//! Activation functions as modules, selectable by name.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use std::fmt;
use std::str::FromStr;

/// An elementwise (or, for softmax, row-wise) activation.
///
/// ```
/// use backprop::nn::Activation;
/// let a: Activation = "hard-sigmoid".parse().unwrap();
/// assert_eq!(a, Activation::HardSigmoid);
/// assert!("swish".parse::<Activation>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// clamp(x/6 + 1/2, 0, 1)
    HardSigmoid,
    /// max(x, 0)
    Relu,
    /// tanh x
    Tanh,
    /// GELU (tanh approximation)
    Gelu,
    /// softmax over the last axis
    Softmax,
    /// x (no activation)
    Identity,
}

impl Activation {
    /// Applies the activation.
    pub fn apply<'g>(self, x: Var<'g>) -> Var<'g> {
        match self {
            Activation::Sigmoid => x.sigmoid(),
            Activation::HardSigmoid => x.hard_sigmoid(),
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => x.gelu(),
            Activation::Softmax => x.softmax(),
            Activation::Identity => x,
        }
    }

    const NAMES: [(&'static str, Activation); 7] = [
        ("sigmoid", Activation::Sigmoid),
        ("hard-sigmoid", Activation::HardSigmoid),
        ("relu", Activation::Relu),
        ("tanh", Activation::Tanh),
        ("gelu", Activation::Gelu),
        ("softmax", Activation::Softmax),
        ("identity", Activation::Identity),
    ];
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let key = s.to_ascii_lowercase().replace('_', "-");
        Self::NAMES.iter().find(|(n, _)| *n == key).map(|(_, a)| *a).ok_or_else(|| {
            let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
            format!("unknown activation '{s}' (expected one of: {})", names.join(", "))
        })
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::NAMES.iter().find(|(_, a)| a == self).map(|(n, _)| *n).unwrap_or("?");
        f.write_str(name)
    }
}

impl Module for Activation {
    fn forward<'g>(&self, _g: &'g Graph, x: Var<'g>) -> Var<'g> {
        self.apply(x)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        Vec::new()
    }
}
