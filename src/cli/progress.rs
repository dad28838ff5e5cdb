//! How a training run reports itself on the command line: a progress bar on a
//! terminal, one plain line per epoch otherwise, or JSON lines for machines.
//! The library calls these through `backprop::train::Progress`.

use backprop::train::{EpochRecord, Plan, Progress};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A [`Progress`] that prints: a bar per epoch on a terminal, then the epoch's line.
pub(crate) struct Terminal {
    json: bool,
    bar_wanted: bool,
    bar: Option<ProgressBar>,
    plan: Plan,
}

impl Terminal {
    /// JSON lines when `json`, else a bar per epoch on a terminal and a plain line per epoch.
    pub fn new(json: bool) -> Terminal {
        let bar_wanted = !json && std::io::stderr().is_terminal();
        let plan = Plan { epochs: 0, max_steps: None, counted_in_steps: false };
        Terminal { json, bar_wanted, bar: None, plan }
    }
}

impl Progress for Terminal {
    fn start(&mut self, plan: &Plan) {
        self.plan = *plan;
    }

    fn epoch_started(&mut self, epoch: usize, steps: usize) {
        if self.bar_wanted {
            let bar = ProgressBar::new(steps as u64);
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .expect("the template is valid")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(if self.plan.counted_in_steps {
                format!("round {epoch}/{}", self.plan.epochs)
            } else {
                format!("epoch {epoch}/{}", self.plan.epochs)
            });
            self.bar = Some(bar);
        }
    }

    fn step_done(&mut self, step: usize, running_loss: f32) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            if step.is_multiple_of(16) {
                bar.set_message(format!("loss {running_loss:.4}"));
            }
        }
    }

    fn epoch_done(&mut self, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.json {
            println!("{}", serde_json::to_string(r).expect("an EpochRecord always serializes"));
        } else {
            println!("{}", plain_line(r, &self.plan));
        }
    }
}

/// `epoch 3/10  train loss 0.2100 acc 93.81%  val loss 0.1900 acc 94.40%  lr 1.000e-3  0.90s`, or
/// `step  250/2000  train loss 2.0312  val loss 2.0901  lr 9.9e-4  12051 tok/s  63.7 ms/step`.
pub(crate) fn plain_line(r: &EpochRecord, plan: &Plan) -> String {
    let mut s = match (r.step, plan.max_steps) {
        (Some(step), Some(total)) => format!("step {step:>w$}/{total}", w = total.to_string().len()),
        (Some(step), None) => format!("step {step}"),
        _ => format!("epoch {:>w$}/{}", r.epoch, plan.epochs, w = plan.epochs.to_string().len()),
    };
    s += &format!("  train loss {:.4}", r.train_loss);
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
    s += &format!("  lr {:.3e}", r.lr);
    for (key, value) in &r.metrics {
        s += &match key.as_str() {
            "tokens_per_sec" => format!("  {value:.0} tok/s"),
            "ms_per_step" => format!("  {value:.1} ms/step"),
            "env_steps" => format!("  {value:.0} env steps"),
            "episodes" => format!("  {value:.0} episodes"),
            "return" => format!("  return {value:.1}"),
            "mean_return" => format!("  mean return {value:.1} (last 100)"),
            "eval_return" => format!("  eval {value:.1}"),
            "eval_std" => format!(" ± {value:.1}"),
            "steps_per_sec" => format!("  {value:.0} steps/s"),
            _ => format!("  {key} {value:.4}"),
        };
    }
    s + &format!("  {:.2}s", r.seconds)
}
