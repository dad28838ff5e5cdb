//! `backprop gan-score`: a GAN's sample quality by a trained classifier.

use super::args::{positive_usize, DataArg, JsonArg, ModelArg, ThreadsArg};
use backprop::data::load_mnist_test;
use backprop::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct GanScoreArgs {
    // A checkpoint written by `backprop train gan`.
    #[command(flatten)]
    model: ModelArg,
    /// A classifier of the same images (`backprop train mnist`, MLP or CNN): its penultimate layer gives the
    /// features, its predictions the class coverage.
    #[arg(long, value_name = "FILE")]
    classifier: PathBuf,
    #[command(flatten)]
    data: DataArg,
    /// Images generated (at most 100000), compared with as many real test images (or all there are).
    #[arg(long, default_value_t = 10_000, value_parser = at_most_100k)]
    count: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    pub(crate) threads: ThreadsArg,
    #[command(flatten)]
    output: JsonArg,
}

pub(crate) fn run(a: GanScoreArgs) -> Result<()> {
    let loaded = a.model.load()?;
    let gan = loaded.gan("gan-score")?;
    let classifier_file = backprop::models::load(&a.classifier)?;
    let classifier = classifier_file.classifier("gan-score")?;
    let fail = |message: String| Error::invalid("--classifier", format!("{}: {message}", a.classifier.display()));
    let c = gan.config();
    if classifier.inputs != c.outputs() {
        let [ch, h, w] = c.image;
        return Err(fail(format!(
            "takes {} inputs but the generator {} makes {ch}x{h}x{w} = {} values per image",
            classifier.inputs,
            a.model.model.display(),
            c.outputs()
        )));
    }
    let dir = a.data.dir();
    let real = load_mnist_test(&dir)?;
    let score = backprop::gan::score(gan, &classifier, &real, a.count, a.seed).map_err(|e| match e {
        Error::InvalidArgument { name, message } if name == "classifier" => fail(message),
        Error::InvalidArgument { name, message } if name == "data" => {
            Error::invalid("--data", format!("{}: {message}", dir.display()))
        }
        Error::InvalidArgument { name, message } if name == "count" => Error::invalid("--count", message),
        other => other,
    })?;
    if a.output.json {
        println!("{}", serde_json::to_string(&score).expect("a score serializes"));
        return Ok(());
    }
    println!(
        "Fréchet distance {:.3} ({} generated vs {} real test images of {}, features of {})",
        score.frechet_distance,
        score.count,
        score.real_count,
        dir.display(),
        a.classifier.display()
    );
    let shares: Vec<String> = score
        .class_shares
        .iter()
        .zip(&score.class_names)
        .map(|(s, name)| format!("{name}:{:.1}%", 100.0 * s))
        .collect();
    println!("class shares {}", shares.join(" "));
    println!(
        "min class share {:.2}%, class entropy {:.3} bits (uniform: {:.3})",
        100.0 * score.min_class_share,
        score.class_entropy_bits,
        (score.class_shares.len() as f64).log2()
    );
    if let Some(acc) = score.conditional_accuracy {
        println!("conditional accuracy {:.2}% (samples classified as the class asked for)", 100.0 * acc);
    }
    Ok(())
}

/// A whole number from 1 to 100,000 (images to generate and score).
fn at_most_100k(s: &str) -> std::result::Result<usize, String> {
    let too_many = || format!("{} images is more than gan-score takes (at most 100000)", s.trim());
    // A number too large for the machine's integers is too many images too.
    if let Err(e) = s.trim().parse::<usize>() {
        if *e.kind() == std::num::IntErrorKind::PosOverflow {
            return Err(too_many());
        }
    }
    let n = positive_usize(s)?;
    if n > 100_000 {
        return Err(too_many());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::at_most_100k;

    /// `--count`: 1 to 100000; a number past the machine's integers reads as
    /// too many images, not as the integer type's limit.
    #[test]
    fn count_is_checked_against_what_gan_score_takes() {
        assert_eq!(at_most_100k("100000"), Ok(100_000));
        for (text, says) in [
            ("200000", "200000 images is more than gan-score takes (at most 100000)"),
            ("99999999999999999999999", "99999999999999999999999 images is more than gan-score takes (at most 100000)"),
            ("0", "must be at least 1, got 0"),
            ("ten", "'ten' is not a positive whole number"),
        ] {
            assert_eq!(at_most_100k(text), Err(says.to_string()), "--count {text}");
        }
    }
}
