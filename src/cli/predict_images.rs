//! `backprop predict` for models of `train images`: colour images in, a class
//! name and its probability out (`cat 93.1%`).

use super::train_images::{PixelScale, CLASSES_KEY, NORMALIZE_KEY};
use backprop::autograd::Graph;
use backprop::checkpoint::Checkpoint;
use backprop::data::{load_image_file, ImageShape};
use backprop::nn::{Mlp, Module};
use backprop::{Error, Result, Tensor};
use std::path::PathBuf;

/// Whether the checkpoint was written by `train images` (its input names channels).
pub(crate) fn is_image_classifier(ckpt: &Checkpoint) -> bool {
    ckpt.metadata
        .get("backprop.input")
        .is_some_and(|s| serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| v.get("channels").is_some()))
}

/// Prints `IMAGE: CLASS P%` for every image.
pub(crate) fn run(ckpt: &Checkpoint, images: &[PathBuf]) -> Result<()> {
    let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
    let model = Mlp::from_checkpoint(ckpt)?;
    let shape = input_shape(ckpt).map_err(fail)?;
    let inputs = model.config().inputs;
    if shape.len() != inputs {
        return Err(fail(format!("backprop.input says {shape} images but the model takes {inputs} inputs")));
    }
    let outputs = model.config().outputs;
    let classes = class_names(ckpt, outputs).map_err(fail)?;
    let scale = pixel_scale(ckpt).map_err(fail)?;
    for path in images {
        let pixels: Vec<f32> = load_image_file(path, shape)?.iter().map(|v| (v - scale.mean) / scale.std).collect();
        let g = Graph::no_grad();
        let out = model.forward(&g, g.constant(Tensor::from_vec(pixels, &[1, inputs]))).value();
        let (class, p) = if outputs == 1 {
            let p = 1.0 / (1.0 + (-out.data()[0]).exp());
            if p >= 0.5 {
                (1, p)
            } else {
                (0, 1.0 - p)
            }
        } else {
            let probs = out.softmax();
            let best = probs.argmax_axis(1)[0];
            (best, probs.data()[best])
        };
        println!("{}: {} {:.1}%", path.display(), classes[class], 100.0 * p);
    }
    Ok(())
}

/// The image size and channels stored in `backprop.input`.
fn input_shape(ckpt: &Checkpoint) -> Result<ImageShape, String> {
    let text = ckpt.metadata.get("backprop.input").map_or("", String::as_str);
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("bad backprop.input: {e}"))?;
    let side = |i: usize| v["image"].get(i).and_then(serde_json::Value::as_u64).map(|n| n as usize);
    let channels = v["channels"].as_u64().map(|n| n as usize);
    match (side(0), side(1), channels) {
        (Some(height @ 1..=4096), Some(width @ 1..=4096), Some(channels @ (1 | 3))) => {
            Ok(ImageShape { height, width, channels })
        }
        _ => Err(format!("backprop.input {text} is not {{\"image\":[rows,cols],\"channels\":1|3}}")),
    }
}

/// The input normalisation stored at training time (none for older checkpoints).
fn pixel_scale(ckpt: &Checkpoint) -> Result<PixelScale, String> {
    let Some(text) = ckpt.metadata.get(NORMALIZE_KEY) else {
        return Ok(PixelScale { mean: 0.0, std: 1.0 });
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("bad {NORMALIZE_KEY}: {e}"))?;
    match (v["mean"].as_f64(), v["std"].as_f64()) {
        (Some(mean), Some(std)) if mean.is_finite() && std.is_finite() && std > 0.0 => {
            Ok(PixelScale { mean: mean as f32, std: std as f32 })
        }
        _ => Err(format!("{NORMALIZE_KEY} {text} is not {{\"mean\":M,\"std\":S}} with S > 0")),
    }
}

/// The class names (one per output; two for a single logit), or numbers when none are stored.
fn class_names(ckpt: &Checkpoint, outputs: usize) -> Result<Vec<String>, String> {
    let expected = if outputs == 1 { 2 } else { outputs };
    let Some(text) = ckpt.metadata.get(CLASSES_KEY) else {
        return Ok((0..expected).map(|c| c.to_string()).collect());
    };
    let names: Vec<String> = serde_json::from_str(text).map_err(|e| format!("bad {CLASSES_KEY}: {e}"))?;
    if names.len() != expected {
        return Err(format!("{CLASSES_KEY} names {} classes but the model has {outputs} outputs", names.len()));
    }
    Ok(names)
}
