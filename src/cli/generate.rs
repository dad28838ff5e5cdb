//! `backprop generate`: sample text from a trained GPT, streamed as it is drawn;
//! or, given a GAN, images (see generate_gan.rs).

use super::args::ModelArg;
use backprop::tensor::Rng;
use backprop::{Error, Result};
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    // A checkpoint written by `backprop train gpt`.
    #[command(flatten)]
    model: ModelArg,
    /// Text to continue (every character must be in the model's vocabulary).
    // Text may start with a hyphen, not only a negative number.
    #[arg(long, default_value = "\n", allow_hyphen_values = true)]
    prompt: String,
    /// Characters to generate.
    #[arg(long, default_value_t = 500)]
    tokens: usize,
    /// Sampling temperature (lower is more conservative).
    #[arg(long, default_value_t = 0.8, value_parser = super::args::positive_f32)]
    temperature: f32,
    /// Sample only among the k most likely characters (0: all).
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// GAN: images to draw, in a square grid.
    #[arg(long, default_value_t = 64, value_parser = super::args::positive_usize)]
    count: usize,
    /// GAN: the class to draw (a conditional GAN; default: the classes in turn).
    #[arg(long)]
    class: Option<usize>,
    /// GAN: draw a strip of this many images along the line between two noise vectors instead.
    #[arg(long, value_name = "STEPS", value_parser = super::args::positive_usize)]
    interpolate: Option<usize>,
    /// GAN: the PNG file to write.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
}

pub(crate) fn run(a: GenerateArgs) -> Result<()> {
    let loaded = a.model.load()?;
    if let backprop::models::Model::Gan(gan) = &loaded.model {
        let request = super::generate_gan::GanRequest {
            count: a.count,
            class: a.class,
            seed: a.seed,
            interpolate: a.interpolate,
            out: a.out.as_deref(),
        };
        return super::generate_gan::run(gan, loaded.path(), request);
    }
    for (given, flag) in
        [(a.class.is_some(), "--class"), (a.interpolate.is_some(), "--interpolate"), (a.out.is_some(), "--out")]
    {
        if given {
            return Err(Error::invalid(
                flag,
                format!("applies to a GAN; {} holds {}", loaded.path().display(), loaded.description()),
            ));
        }
    }
    let lm = loaded.language_model("generate")?;
    let (model, tokenizer) = (lm.model, lm.tokenizer);
    if a.prompt.is_empty() {
        return Err(Error::invalid("--prompt", "is empty"));
    }
    let prompt = tokenizer
        .encode(&a.prompt)
        .map_err(|e| Error::invalid("--prompt", e.to_string().replace("invalid value for text: ", "")))?;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", a.prompt);
    let top_k = (a.top_k > 0).then_some(a.top_k);
    model.generate(&prompt, a.tokens, a.temperature, top_k, &mut Rng::new(a.seed), |t| {
        let _ = write!(out, "{}", tokenizer.decode(&[t]));
        let _ = out.flush();
    });
    let _ = writeln!(out);
    Ok(())
}
