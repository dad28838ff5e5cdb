//! A hand-built CNN whose evidence is known, shared by tests/cnn.rs and tests/cnn_cli.rs.

#![allow(dead_code)]

use backprop::nn::{Cnn, CnnConfig, Module};
use backprop::tensor::Rng;
use backprop::Tensor;

/// `c2k1-relu-gap-fc2` with hand-set weights: channel 0 is relu(x - 0.75) (bright
/// pixels), channel 1 relu(0.25 - x) (dark pixels), both 0 on grey; class 0
/// scores the mean of channel 0, class 1 the mean of channel 1.
pub fn light_and_dark_detector() -> Cnn {
    let cnn = Cnn::new(CnnConfig::classifier("c2k1-relu-gap-fc2", [1, 12, 12], 2).unwrap(), &mut Rng::new(0)).unwrap();
    let set = |name: &str, values: Vec<f32>| {
        let (_, p) = cnn.parameters().into_iter().find(|(n, _)| n == name).unwrap();
        p.set_value(Tensor::from_vec(values, &p.shape()));
    };
    set("layers.0.weight", vec![1.0, -1.0]);
    set("layers.0.bias", vec![-0.75, 0.25]);
    set("layers.3.weight", vec![1.0, 0.0, 0.0, 1.0]);
    set("layers.3.bias", vec![0.0, 0.0]);
    cnn
}

/// A grey 12x12 image with a white 4x4 square at the top left and a black one at the bottom right.
pub fn two_squares() -> Tensor {
    let pixels = (0..144)
        .map(|i| match (i / 12, i % 12) {
            (r, c) if r < 4 && c < 4 => 1.0,
            (r, c) if r >= 8 && c >= 8 => 0.0,
            _ => 0.5,
        })
        .collect();
    Tensor::from_vec(pixels, &[1, 144])
}
