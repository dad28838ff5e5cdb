//! The `backprop` command: one file per subcommand; this one parses and dispatches.

mod args;
mod attack;
mod calibrate;
mod doctor;
mod eval;
mod explain;
mod gan_images;
mod gan_score;
mod generate;
mod generate_gan;
mod gradcheck;
mod graph;
mod http;
mod info;
mod input_args;
mod network;
mod ood;
mod ood_ae;
mod ood_args;
mod play;
mod plot;
mod predict;
mod predict_csv;
mod predict_images;
mod pretrain;
mod pretrain_args;
mod progress;
mod reject;
mod report;
mod report_grads;
mod serve;
mod serve_model;
mod serve_steps;
mod train;
mod train_args;
mod train_autoencoder;
mod train_csv;
mod train_gan;
mod train_gpt;
mod train_images;
mod train_rl;

use backprop::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// backprop: train and inspect neural networks on the CPU.
#[derive(Parser, Debug)]
#[command(name = "backprop", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model.
    Train(train::TrainArgs),
    /// Self-supervised pre-training of an encoder on unlabelled images (rotation, contrastive, denoise).
    Pretrain(pretrain::PretrainArgs),
    /// Generate text with a trained GPT, or images with a trained GAN.
    Generate(generate::GenerateArgs),
    /// Score a GAN's samples with a trained classifier: Fréchet distance to real images, class coverage.
    GanScore(gan_score::GanScoreArgs),
    /// Evaluate a saved model on the test split of an IDX data folder.
    Eval(eval::EvalArgs),
    /// Classify images (PNG/JPEG) with a saved model.
    Predict(predict::PredictArgs),
    /// Print a checkpoint's architecture and parameter counts.
    Info(info::InfoArgs),
    /// Plot a run's history (loss and accuracy per epoch) as PNG and SVG; judge overfitting.
    Report(report::ReportArgs),
    /// Draw a computation graph (an expression, or one training step of a saved classifier) with values and gradients.
    Graph(graph::GraphArgs),
    /// Check a saved classifier's gradients against finite differences on test examples.
    Gradcheck(gradcheck::GradcheckArgs),
    /// Heat maps of the pixels that decide a saved classifier's prediction (saliency, integrated gradients, Grad-CAM).
    Explain(explain::ExplainArgs),
    /// Accuracy of a saved classifier under adversarial attack (FGSM or PGD) on a data folder's test split.
    Attack(attack::AttackArgs),
    /// Measure how well a score (max softmax probability, energy, ODIN, Mahalanobis, k-NN, an autoencoder) tells in- from out-of-distribution test images (AUROC, AUPR, FPR at 95% TPR).
    Ood(ood::OodArgs),
    /// Fit an out-of-distribution score (--method) and store it in the checkpoint with the threshold below which `predict` and `serve` say "unknown".
    Calibrate(calibrate::CalibrateArgs),
    /// Serve a digit playground in the browser (draw, predict, saliency, activations, CNN feature maps) and a JSON API,
    /// or (--expr, --steps) backpropagation step by step.
    Serve(serve::ServeArgs),
    /// Run a trained reinforcement-learning policy greedily: mean return, and an animated GIF.
    Play(play::PlayArgs),
    /// Why won't it train? Examine a run folder: training loss too high (and why), then overfitting.
    Doctor(doctor::DoctorArgs),
}

/// Runs the CLI with the process arguments; returns the exit code.
/// Errors are printed as one line on stderr: `error: ...`.
pub fn main() -> i32 {
    exit_quietly_on_closed_pipe();
    let command = args::negative_numbers_are_values(Cli::command());
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => return report_clap_error(e),
    };
    let command = cli.command;
    let result = match command.threads() {
        // `serve` answers each connection on its own thread (outside the pool) and
        // blocks in `accept`: it would only hold one of the pool's threads.
        Ok(_) if matches!(command, Command::Serve(_)) => dispatch(command),
        // Everything else runs on a thread of the pool (see `run_in_pool`).
        Ok(threads) => backprop::tensor::parallel::run_in_pool(threads, move || dispatch(command)).and_then(|r| r),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

impl Command {
    /// The `--threads` this command asks for (validated), if any.
    fn threads(&self) -> Result<Option<usize>> {
        match self {
            Command::Train(a) => a.run_args().threads(),
            Command::Pretrain(a) => a.run.threads(),
            Command::Generate(a) => a.threads.count(None),
            Command::GanScore(a) => a.threads.count(None),
            Command::Eval(a) => a.threads.count(None),
            Command::Gradcheck(a) => a.threads.count(None),
            Command::Attack(a) => a.threads.count(None),
            Command::Ood(a) => a.threads.count(None),
            Command::Calibrate(a) => a.threads.count(None),
            _ => Ok(None),
        }
    }
}

/// Runs one parsed command.
fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Train(a) => train::run(a),
        Command::Pretrain(a) => pretrain::run(a),
        Command::Generate(a) => generate::run(a),
        Command::GanScore(a) => gan_score::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Info(a) => info::run(a),
        Command::Report(a) => report::run(a),
        Command::Graph(a) => graph::run(a),
        Command::Gradcheck(a) => gradcheck::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Attack(a) => attack::run(a),
        Command::Ood(a) => ood::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Play(a) => play::run(a),
        Command::Doctor(a) => doctor::run(a),
    }
}

/// Prints help and version in full, and any parse error as its one first line.
fn report_clap_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        _ => {
            let text = e.render().to_string();
            let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
            let mut line = lines.next().unwrap_or("error: invalid arguments").trim_end().to_string();
            // "the following required arguments were not provided:" lists them on the
            // next (indented) lines: keep them on the one line.
            if line.ends_with(':') {
                let items: Vec<&str> =
                    lines.take_while(|l| l.starts_with(' ') && !l.trim().is_empty()).map(str::trim).collect();
                if !items.is_empty() {
                    line = format!("{line} {}", items.join(", "));
                }
            }
            // An enum flag's accepted values and a suggestion for a misspelt name
            // come on later lines: keep them.
            use clap::error::{ContextKind, ContextValue};
            if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
                if !valid.is_empty() {
                    line = format!("{line} (expected one of: {})", valid.join(", "));
                }
            }
            for kind in [ContextKind::SuggestedSubcommand, ContextKind::SuggestedArg] {
                match e.get(kind) {
                    Some(ContextValue::String(s)) => line = format!("{line} (did you mean '{s}'?)"),
                    Some(ContextValue::Strings(s)) if !s.is_empty() => {
                        line = format!("{line} (did you mean '{}'?)", s[0])
                    }
                    _ => {}
                }
            }
            // Rust's integer parser says "invalid digit found in string" of "-1" or "2.5".
            if let Some(start) = line.strip_suffix(": invalid digit found in string") {
                line = format!("{start}: expected a whole number >= 0");
            }
            eprintln!("{line}");
            2
        }
    }
}

/// `backprop info m.safetensors | head -1`: when the reader of stdout goes
/// away, stop quietly with the shell's SIGPIPE status (141) instead of a
/// panic message; every other panic is reported as usual.
fn exit_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
