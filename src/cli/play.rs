//! `backprop play`: a trained policy plays greedily; the mean and spread of
//! its returns, and optionally an animated GIF of one episode.

use super::args::{positive_usize, JsonArg, ModelArg};
use backprop::rl::{evaluate, mean_std, record_episode, Canvas, EnvName};
use backprop::{Error, Result};
use clap::Args;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};
use std::path::{Path, PathBuf};

/// The most episodes one command plays (each up to 500 steps).
const MAX_EPISODES: usize = 1_000_000;

#[derive(Args, Debug)]
pub(crate) struct PlayArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Episodes to play; episode i starts from seed S + i.
    #[arg(long, default_value_t = 100, value_parser = positive_usize)]
    episodes: usize,
    /// Seed of the first episode.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write an animated GIF of the first episode to this file.
    #[arg(long, value_name = "FILE.gif")]
    render: Option<PathBuf>,
    #[command(flatten)]
    output: JsonArg,
}

pub(crate) fn run(a: PlayArgs) -> Result<()> {
    if a.episodes > MAX_EPISODES {
        return Err(Error::invalid("--episodes", format!("{} is more than the limit of {MAX_EPISODES}", a.episodes)));
    }
    if let Some(path) = &a.render {
        check_gif_path(path)?;
    }
    let loaded = a.model.load()?;
    let policy = loaded.policy("play")?;
    let returns = evaluate(policy, a.episodes, a.seed)?;
    let (mean, std) = mean_std(&returns);
    let (min, max) = returns.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let gif = match &a.render {
        Some(path) => {
            let (width, height) = frame_size(policy.env());
            let (total, frames) = record_episode(policy, a.seed, width, height)?;
            write_gif(path, &frames, policy.env().render_fps())?;
            Some((path, frames.len(), total))
        }
        None => None,
    };
    if a.output.json {
        let summary = serde_json::json!({
            "model": a.model.model, "env": policy.env().id(), "algo": policy.algo().name(),
            "episodes": a.episodes, "seed": a.seed, "mean_return": mean, "std_return": std,
            "min_return": min, "max_return": max, "gif": gif.map(|(p, _, _)| p),
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "{}: mean return {mean:.2} ± {std:.2} over {} greedy episodes (seeds {}..{}), min {min}, max {max} ({} policy by {})",
        a.model.model.display(),
        a.episodes,
        a.seed,
        a.seed.saturating_add(a.episodes as u64 - 1),
        policy.env(),
        policy.algo()
    );
    if let Some((path, frames, total)) = gif {
        println!("wrote {} ({frames} frames, an episode of return {total})", path.display());
    }
    Ok(())
}

/// Frame size of the GIF: half of Gymnasium's screen (600x400, 500x500).
fn frame_size(env: EnvName) -> (usize, usize) {
    match env {
        EnvName::CartPole => (300, 200),
        EnvName::Acrobot => (250, 250),
    }
}

/// Refuses, before playing, a `--render` path that cannot become a GIF file.
fn check_gif_path(path: &Path) -> Result<()> {
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gif")) {
        return Err(Error::invalid("--render", format!("{} does not end in .gif", path.display())));
    }
    if path.is_dir() {
        return Err(Error::invalid("--render", format!("{} is a folder, not a file", path.display())));
    }
    Ok(())
}

/// Writes `frames` as a looping animated GIF at `fps` frames per second
/// (GIF delays are in hundredths of a second, so 50 fps plays as 2/100 s).
fn write_gif(path: &Path, frames: &[Canvas], fps: u32) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut encoder = GifEncoder::new_with_speed(std::io::BufWriter::new(file), 30);
    let fail = |e: image::ImageError| match e {
        image::ImageError::IoError(io) => Error::io(path, io),
        other => Error::format(path, format!("could not encode the GIF: {other}")),
    };
    encoder.set_repeat(Repeat::Infinite).map_err(fail)?;
    let delay = Delay::from_numer_denom_ms(1000, fps);
    for canvas in frames {
        let rgba: Vec<u8> = canvas.pixels().chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let image = RgbaImage::from_raw(canvas.width() as u32, canvas.height() as u32, rgba)
            .expect("a canvas holds width x height pixels");
        encoder.encode_frame(Frame::from_parts(image, 0, 0, delay)).map_err(fail)?;
    }
    Ok(())
}
