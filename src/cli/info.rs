//! `backprop info`: what a checkpoint holds.

use backprop::checkpoint::{Checkpoint, CONFIG_KEY, KIND_KEY};
use backprop::models::{LoadedModel, Model, KINDS};
use backprop::nn::Cnn;
use backprop::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct InfoArgs {
    /// A safetensors checkpoint.
    #[arg(value_name = "FILE")]
    model: PathBuf,
}

pub(crate) fn run(a: InfoArgs) -> Result<()> {
    let ckpt = Checkpoint::load(&a.model)?;
    // A file of a kind this version reads goes through the model loader (so a
    // broken one is reported); any other safetensors file is listed as it is.
    let known = ckpt.metadata.get(KIND_KEY).is_some_and(|k| KINDS.contains(&k.as_str()));
    let (ckpt, model) = if known {
        let LoadedModel { model, checkpoint } = LoadedModel::from_checkpoint(ckpt)?;
        (checkpoint, Some(model))
    } else {
        (ckpt, None)
    };
    println!("{}", a.model.display());
    if let Some(kind) = ckpt.metadata.get(KIND_KEY) {
        println!("kind: {kind}");
    }
    if let Some(Model::Mlp(model)) = &model {
        let c = model.config();
        println!("architecture: {}", super::train::describe(model));
        println!("output activation: {}, init: {:?}", c.output_activation, c.init);
    } else if let Some(Model::Cnn(cnn)) = &model {
        print_cnn(cnn)?;
    } else if let Some(cfg) = ckpt.metadata.get(CONFIG_KEY) {
        println!("config: {cfg}");
    }
    for (k, v) in &ckpt.metadata {
        if k != KIND_KEY && k != CONFIG_KEY {
            println!("{k}: {v}");
        }
    }
    if let Some(stored) = backprop::ood::StoredDetector::load(&ckpt)? {
        let m = stored.detector.method();
        println!(
            "unknown below: {m} score {} ({}; keeps {:.1}% of the in-distribution validation images)",
            stored.threshold,
            m.describe(),
            100.0 * stored.tpr
        );
    }
    // Buffers (batch norm's running statistics) are stored like parameters but not trained.
    let buffers: Vec<String> =
        model.as_ref().map_or_else(Vec::new, |m| m.module().buffers().into_iter().map(|(n, _)| n).collect());
    println!("parameters:");
    let width = ckpt.tensors.keys().map(String::len).max().unwrap_or(0);
    let (mut total, mut buffered) = (0, 0);
    for (name, t) in &ckpt.tensors {
        let note = if buffers.contains(name) {
            "  (buffer)"
        } else if name.starts_with(backprop::ood::OOD_TENSOR_PREFIX) {
            "  (out-of-distribution detector)"
        } else {
            ""
        };
        println!("  {name:<width$}  {:<12}  {:>10}{note}", format!("{:?}", t.shape()), t.numel());
        if note.is_empty() {
            total += t.numel();
        } else if note == "  (buffer)" {
            buffered += t.numel();
        }
    }
    let tensors = ckpt.tensors.len();
    if buffers.is_empty() {
        println!("total: {total} parameters ({tensors} tensors)");
    } else {
        println!("total: {total} parameters and {buffered} buffer values ({tensors} tensors)");
    }
    Ok(())
}

/// A CNN's architecture, its layers with their output shapes, and the
/// equivalent PyTorch modules (whose `state_dict` the file loads into).
fn print_cnn(cnn: &Cnn) -> Result<()> {
    let [c, h, w] = cnn.config().input;
    println!("architecture: {}", cnn.describe());
    println!("input: {c}x{h}x{w} (channels x height x width)");
    let input = cnn.config().input_shape();
    let pytorch = cnn.arch().pytorch(input)?;
    let modules: Vec<&str> = pytorch.lines().skip(1).map(|l| l.trim().trim_end_matches(',')).collect();
    let texts: Vec<String> = cnn.arch().layers().map(|l| l.to_string()).collect();
    let width = texts.iter().map(String::len).max().unwrap_or(0);
    println!("layers (output shape per example; PyTorch module under a `layers` nn.Sequential):");
    for (i, (text, shape)) in texts.iter().zip(cnn.shapes()).enumerate() {
        println!("  {i:>3}  {text:<width$}  {:<10}  {}", shape.to_string(), modules.get(i).unwrap_or(&""));
    }
    Ok(())
}
