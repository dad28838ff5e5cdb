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
    /// GPT: text to continue (every character must be in the model's vocabulary) [default: a newline].
    // Text may start with a hyphen, not only a negative number.
    #[arg(long, allow_hyphen_values = true)]
    prompt: Option<String>,
    /// GPT: characters to generate [default: 500].
    #[arg(long)]
    tokens: Option<usize>,
    /// GPT: sampling temperature (lower is more conservative) [default: 0.8].
    #[arg(long, value_parser = super::args::positive_f32)]
    temperature: Option<f32>,
    /// GPT: sample only among the k most likely characters (0: all) [default: 40].
    #[arg(long)]
    top_k: Option<usize>,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// GAN: images to draw, in a square grid (at most 10000) [default: 64].
    #[arg(long, value_parser = super::args::positive_usize)]
    count: Option<usize>,
    /// GAN: the class to draw (a conditional GAN; default: the classes in turn).
    #[arg(long)]
    class: Option<usize>,
    /// GAN: draw a strip of this many images (2 to 1000) along the line between two noise vectors instead.
    #[arg(long, value_name = "STEPS", value_parser = super::args::positive_usize)]
    interpolate: Option<usize>,
    /// GAN: the PNG file to write.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) threads: super::args::ThreadsArg,
}

pub(crate) fn run(a: GenerateArgs) -> Result<()> {
    let loaded = a.model.load()?;
    if let backprop::models::Model::Gan(gan) = &loaded.model {
        let gpt_flags = [
            (a.prompt.is_some(), "--prompt"),
            (a.tokens.is_some(), "--tokens"),
            (a.temperature.is_some(), "--temperature"),
            (a.top_k.is_some(), "--top-k"),
        ];
        refuse_given(
            &gpt_flags,
            &format!("applies to a GPT; {} holds {}", loaded.path().display(), loaded.description()),
        )?;
        let request = super::generate_gan::GanRequest {
            count: a.count,
            class: a.class,
            seed: a.seed,
            interpolate: a.interpolate,
            out: a.out.as_deref(),
        };
        return super::generate_gan::run(gan, loaded.path(), request);
    }
    let gan_flags = [
        (a.count.is_some(), "--count"),
        (a.class.is_some(), "--class"),
        (a.interpolate.is_some(), "--interpolate"),
        (a.out.is_some(), "--out"),
    ];
    refuse_given(&gan_flags, &format!("applies to a GAN; {} holds {}", loaded.path().display(), loaded.description()))?;
    let lm = loaded.language_model("generate")?;
    let (model, tokenizer) = (lm.model, lm.tokenizer);
    let prompt_text = a.prompt.unwrap_or_else(|| "\n".into());
    if prompt_text.is_empty() {
        return Err(Error::invalid("--prompt", "is empty"));
    }
    let prompt = tokenizer
        .encode(&prompt_text)
        .map_err(|e| Error::invalid("--prompt", e.to_string().replace("invalid value for text: ", "")))?;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{prompt_text}");
    let top_k = Some(a.top_k.unwrap_or(40)).filter(|&k| k > 0);
    let (tokens, temperature) = (a.tokens.unwrap_or(500), a.temperature.unwrap_or(0.8));
    model.generate(&prompt, tokens, temperature, top_k, &mut Rng::new(a.seed), |t| {
        let _ = write!(out, "{}", tokenizer.decode(&[t]));
        let _ = out.flush();
    });
    let _ = writeln!(out);
    Ok(())
}

/// Refuses the first flag given of `flags` (`(given, flag)`) with `why`:
/// flags for the other kind of model would be ignored.
fn refuse_given(flags: &[(bool, &str)], why: &str) -> Result<()> {
    match flags.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(Error::invalid(*flag, why)),
        None => Ok(()),
    }
}
