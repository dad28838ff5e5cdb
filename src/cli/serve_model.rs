//! The model behind `backprop serve`: a grayscale digit classifier of
//! `train mnist` (an MLP or a CNN), and what the playground shows of it for
//! one drawing: probabilities, saliency, the hidden layers' activations and,
//! for a CNN, every convolution block's feature maps.

use backprop::autograd::{Graph, Var};
use backprop::explain::{normalized_magnitude, saliency};
use backprop::models::{LoadedModel, Model};
use backprop::nn::{Cnn, FeatureShape, LayerSpec};
use backprop::{Result, Tensor};
use serde_json::{json, Value};

/// The most channels of one layer sent as feature maps.
const MAX_MAPS: usize = 32;

/// A loaded grayscale image classifier and its input size.
pub(super) struct ServedModel {
    loaded: LoadedModel,
    /// Input rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
}

/// What one forward pass shows.
pub(super) struct Shown {
    /// Class probabilities.
    pub probabilities: Tensor,
    /// Each hidden layer's activations (after its activation function).
    pub activations: Vec<Vec<f32>>,
    /// For a CNN, each convolution block's feature maps (JSON objects).
    pub feature_maps: Vec<Value>,
}

impl ServedModel {
    /// Keeps `loaded` if it is a grayscale image classifier (MLP or CNN) with outputs.
    pub fn new(loaded: LoadedModel) -> Result<ServedModel> {
        let need = "a grayscale digit classifier of `train mnist` (MLP or CNN)";
        let shape = {
            let classifier = loaded.classifier("serve").map_err(|_| loaded.mismatch("serve", need))?;
            if classifier.has_channels() {
                return Err(loaded.mismatch("serve", need));
            }
            classifier.require_outputs()?.image_shape()?
        };
        if shape.channels != 1 {
            return Err(loaded.mismatch("serve", need));
        }
        Ok(ServedModel { loaded, rows: shape.height, cols: shape.width })
    }

    /// The loaded checkpoint.
    pub fn loaded(&self) -> &LoadedModel {
        &self.loaded
    }

    /// The `/health` fields that describe the network: `hidden` sizes, `classes`,
    /// and `activation` (MLP) or `arch` and `feature_maps` shapes (CNN).
    pub fn describe(&self) -> Value {
        match &self.loaded.model {
            Model::Mlp(mlp) => {
                let c = mlp.config();
                json!({ "kind": "mlp", "hidden": c.hidden, "classes": c.outputs, "activation": c.activation })
            }
            Model::Cnn(cnn) => {
                let hidden: Vec<usize> = hidden_layers(cnn).iter().map(|&i| cnn.shapes()[i].numel()).collect();
                let maps: Vec<Value> = cnn.feature_layers().iter().map(|&i| map_info(cnn, i)).collect();
                json!({
                    "kind": "cnn", "arch": cnn.config().arch, "hidden": hidden, "classes": cnn.outputs(),
                    "feature_maps": maps,
                })
            }
            _ => json!({}),
        }
    }

    /// Runs the network on one image `[1, rows * cols]`.
    pub fn show(&self, x: &Tensor) -> Shown {
        let g = Graph::no_grad();
        let input = g.constant(x.clone());
        let (outputs, hidden, maps): (Vec<Var>, Vec<usize>, Vec<usize>) = match &self.loaded.model {
            // forward_all: the input, then each Linear and its activation: hidden activations at 2, 4, ...
            Model::Mlp(mlp) => {
                (mlp.forward_all(&g, input), (0..mlp.config().hidden.len()).map(|i| 1 + 2 * i).collect(), vec![])
            }
            // forward_all: the input, then layer i's output at i + 1.
            Model::Cnn(cnn) => (cnn.forward_all(&g, input), hidden_layers(cnn), cnn.feature_layers()),
            _ => (vec![self.loaded.model.module().forward(&g, input)], vec![], vec![]),
        };
        let value = |i: usize| outputs[i + 1].value();
        let feature_maps = match &self.loaded.model {
            Model::Cnn(cnn) => maps.iter().map(|&i| feature_maps(cnn, i, &value(i))).collect(),
            _ => Vec::new(),
        };
        Shown {
            probabilities: outputs.last().expect("at least one output").value().softmax(),
            activations: hidden.iter().map(|&i| value(i).data().to_vec()).collect(),
            feature_maps,
        }
    }

    /// The saliency map of `class` (as `explain`), in [0, 1], one value per pixel.
    pub fn saliency(&self, x: &Tensor, class: usize) -> Vec<f32> {
        match saliency(self.loaded.model.module(), x, class) {
            Ok(s) => normalized_magnitude(&s).data().to_vec(),
            Err(_) => vec![0.0; self.rows * self.cols],
        }
    }
}

/// A CNN's hidden vector layers: the activations that follow a fully
/// connected layer (and its batch norm), before the output layer.
fn hidden_layers(cnn: &Cnn) -> Vec<usize> {
    let specs: Vec<&LayerSpec> = cnn.arch().layers().collect();
    let last = specs.len().saturating_sub(1);
    (0..last)
        .filter(|&i| matches!(specs[i], LayerSpec::Activation(_) | LayerSpec::LeakyRelu(_)))
        .filter(|&i| matches!(cnn.shapes()[i], FeatureShape::Vector(_)))
        .collect()
}

/// `{"layer":2,"name":"c6k5p2-bn-relu","channels":6,"height":28,"width":28,"shown":6}`.
fn map_info(cnn: &Cnn, end: usize) -> Value {
    let FeatureShape::Map { channels, height, width } = cnn.shapes()[end] else {
        return json!(null);
    };
    // The block's text: from its convolution to `end`.
    let start = (0..=end)
        .rev()
        .find(|&i| matches!(cnn.arch().layers().nth(i), Some(LayerSpec::Conv { .. } | LayerSpec::ConvTranspose { .. })))
        .unwrap_or(end);
    let name: Vec<String> = cnn.arch().layers().skip(start).take(end + 1 - start).map(|l| l.to_string()).collect();
    json!({
        "layer": end, "name": name.join("-"), "channels": channels, "height": height, "width": width,
        "shown": channels.min(MAX_MAPS),
    })
}

/// Layer `end`'s feature maps for one image: the first [`MAX_MAPS`] channels,
/// each as magnitudes scaled to [0, 1] by its own largest, rounded to 3 decimals.
fn feature_maps(cnn: &Cnn, end: usize, value: &Tensor) -> Value {
    let mut info = map_info(cnn, end);
    let (Some(plane), Some(shown)) = (
        info["height"].as_u64().zip(info["width"].as_u64()).map(|(h, w)| (h * w) as usize),
        info["shown"].as_u64().map(|n| n as usize),
    ) else {
        return info;
    };
    let maps: Vec<Vec<f32>> = value
        .data()
        .chunks(plane)
        .take(shown)
        .map(|m| {
            let scaled = normalized_magnitude(&Tensor::from_vec(m.to_vec(), &[plane]));
            scaled.data().iter().map(|v| (v * 1000.0).round() / 1000.0).collect()
        })
        .collect();
    info["maps"] = json!(maps);
    info
}
