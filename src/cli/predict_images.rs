//! `backprop predict` for models of `train images`: colour images in, a class
//! name and its probability out (`cat 93.1%`).

use backprop::autograd::Graph;
use backprop::data::load_image_file;
use backprop::models::Classifier;
use backprop::{Result, Tensor};
use std::path::PathBuf;

/// Prints `IMAGE: CLASS P%` for every image.
pub(crate) fn run(model: &Classifier, images: &[PathBuf]) -> Result<()> {
    let model = model.require_outputs()?;
    let shape = model.image_shape()?;
    let (inputs, outputs) = (model.inputs, model.classes);
    let classes = model.class_names()?;
    let scale = model.pixel_scale()?;
    for path in images {
        let pixels: Vec<f32> = load_image_file(path, shape)?.iter().map(|v| (v - scale.mean) / scale.std).collect();
        let g = Graph::no_grad();
        let out = model.module.forward(&g, g.constant(Tensor::from_vec(pixels, &[1, inputs]))).value();
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
        if !p.is_finite() {
            let what = format!("{}: the probability is {p}", path.display());
            eprintln!("{}", super::eval::non_finite_warning(model.module, &what));
        }
        println!("{}: {} {:.1}%", path.display(), classes[class], 100.0 * p);
    }
    Ok(())
}
