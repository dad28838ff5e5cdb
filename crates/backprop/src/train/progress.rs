//! How training reports itself: a progress bar on a terminal, one plain line
//! per epoch otherwise, or JSON lines for machines.

use super::history::EpochRecord;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Where and how per-epoch results are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    /// A progress bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// One plain line per epoch on stdout.
    Plain,
    /// One JSON object per epoch on stdout.
    Json,
    /// Nothing.
    Quiet,
}

pub(crate) struct Reporter {
    mode: OutputMode,
    bar: Option<ProgressBar>,
    epochs: usize,
}

impl Reporter {
    pub fn new(mode: OutputMode, epochs: usize) -> Reporter {
        let mode = match mode {
            OutputMode::Auto if std::io::stderr().is_terminal() => OutputMode::Auto,
            OutputMode::Auto => OutputMode::Plain,
            m => m,
        };
        Reporter { mode, bar: None, epochs }
    }

    pub fn start_epoch(&mut self, epoch: usize, batches: usize) {
        if self.mode == OutputMode::Auto {
            let bar = ProgressBar::new(batches as u64);
            let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .expect("the template is valid")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{epoch}/{}", self.epochs));
            self.bar = Some(bar);
        }
    }

    pub fn batch_done(&self, batch: usize, running_loss: f32) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64);
            if batch % 16 == 0 {
                bar.set_message(format!("loss {running_loss:.4}"));
            }
        }
    }

    pub fn end_epoch(&mut self, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        match self.mode {
            OutputMode::Quiet => {}
            OutputMode::Json => {
                println!("{}", serde_json::to_string(r).expect("an EpochRecord always serializes"));
            }
            OutputMode::Auto | OutputMode::Plain => println!("{}", plain_line(r, self.epochs)),
        }
    }
}

/// `epoch 3/10  train loss 0.2100 acc 93.81%  val loss 0.1900 acc 94.40%  lr 1.000e-3  0.90s`
pub(crate) fn plain_line(r: &EpochRecord, epochs: usize) -> String {
    let mut s = format!("epoch {:>w$}/{epochs}  train loss {:.4}", r.epoch, r.train_loss, w = epochs.to_string().len());
    let name = r.error_name.as_deref().unwrap_or("error");
    if let Some(a) = r.train_accuracy {
        s += &format!(" acc {:.2}%", 100.0 * a);
    }
    if let Some(e) = r.train_error {
        s += &format!(" {name} {e:.4}");
    }
    if let Some(l) = r.val_loss {
        s += &format!("  val loss {l:.4}");
    }
    if let Some(a) = r.val_accuracy {
        s += &format!(" acc {:.2}%", 100.0 * a);
    }
    if let Some(e) = r.val_error {
        s += &format!(" {name} {e:.4}");
    }
    s + &format!("  lr {:.3e}  {:.2}s", r.lr, r.seconds)
}
