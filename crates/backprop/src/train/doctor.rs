//! Why won't it train? A run's history and gradient statistics, examined in
//! the order a deep-learning course teaches (Andrew Ng's "basic recipe for
//! machine learning"): first, is the training loss itself too high (a model
//! too small, or optimisation failing: the learning rate against the curve's
//! shape, vanishing or exploding gradients, dead or saturated units, a deeper
//! model doing worse on its training data than a shallower one)? Then, is
//! validation much worse than training (overfitting)? Each verdict cites the
//! figures it used and what to try.
//!
//! The thresholds are rules of thumb, named below (and
//! [`OVERFITTING_RISE`](super::OVERFITTING_RISE)): an update/weight ratio
//! near 1e-3 is healthy (Karpathy, "A Recipe for Training Neural Networks";
//! CS231n), a first layer whose gradient is 100 times smaller than the last
//! one's learns 100 times slower, and so on.

use super::grad_stats::GradStatsRecord;
use super::history::EpochRecord;
use crate::viz::format_number;
use std::fmt;

/// Training accuracy below this: the model does not fit its own training data.
const FIT_ACCURACY: f32 = 0.90;
/// A training loss that fell by less than this fraction over the run did not fall.
const BARELY_FELL: f32 = 0.10;
/// Update/weight ratios above this (in the first epoch) are too large.
const LARGE_UPDATES: f32 = 0.03;
/// Update/weight ratios all below this (in the first epoch) are too small.
const TINY_UPDATES: f32 = 1e-5;
/// First layer's gradient norm below this fraction of the last layer's: vanishing gradients.
const VANISHING: f32 = 0.01;
/// A gradient norm growing this many times over the run: exploding gradients.
const EXPLODING: f32 = 100.0;
/// More dead (or saturated) units than this share of a layer: mostly dead.
const MOSTLY: f32 = 0.5;
/// Validation accuracy this far below training accuracy: much worse.
const ACCURACY_GAP: f32 = 0.10;
/// A training loss that fell more than this fraction in the last epoch was still improving.
const STILL_FALLING: f32 = 0.02;

/// What the doctor knows of one run.
#[derive(Clone, Copy, Debug)]
pub struct RunFacts<'a> {
    /// Its history, one record per epoch.
    pub history: &'a [EpochRecord],
    /// Its gradient statistics (empty without `--grad-stats`).
    pub grad_stats: &'a [GradStatsRecord],
    /// Classes of a classifier, from its checkpoint.
    pub classes: Option<usize>,
    /// Layers with a weight matrix (or kernel), from its checkpoint.
    pub layers: Option<usize>,
    /// Trainable scalars, from its checkpoint.
    pub parameters: Option<usize>,
}

/// A problem the doctor can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Updates too large for the weights: the loss rose, jumped or started above chance.
    LearningRateTooHigh,
    /// Updates too small to move the weights.
    LearningRateTooLow,
    /// The first layers' gradients are orders of magnitude below the last layers'.
    VanishingGradients,
    /// Gradient norms grew by orders of magnitude.
    ExplodingGradients,
    /// Most ReLUs of a layer never fire.
    DeadUnits,
    /// Most sigmoid/tanh outputs of a layer sit in the flat tails.
    SaturatedUnits,
    /// A deeper model fits its training data worse than a shallower one.
    DeeperIsWorse,
    /// The training loss stayed where it started, with no cause measured.
    NotLearning,
    /// The training loss still fell at the end: more epochs would help.
    StillImproving,
    /// The training loss settled too high with optimisation looking sound: a model too small.
    ModelTooSmall,
    /// Validation much worse than training.
    Overfitting,
}

/// One finding: the problem, the figures that show it, and what to try.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// What is wrong.
    pub problem: Problem,
    /// The evidence, with figures.
    pub finding: String,
    /// What to try.
    pub advice: String,
}

/// The answer to one of the course's questions.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Answer {
    /// The question.
    pub question: &'static str,
    /// Yes (a problem) or no.
    pub problem: bool,
    /// The figures the answer rests on.
    pub figures: String,
    /// The verdicts under it.
    pub verdicts: Vec<Verdict>,
}

/// The doctor's examination: the two questions, in order. Its `Display` is the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Examination {
    /// Is the training loss itself too high?
    pub training: Answer,
    /// Is validation much worse than training?
    pub validation: Answer,
}

impl Examination {
    /// Every verdict, in the course's order.
    pub fn verdicts(&self) -> impl Iterator<Item = &Verdict> {
        self.training.verdicts.iter().chain(&self.validation.verdicts)
    }
}

impl fmt::Display for Examination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in [&self.training, &self.validation].into_iter().enumerate() {
            let yes = if a.problem { "yes" } else { "no" };
            writeln!(f, "{}. {} {yes}: {}", i + 1, a.question, a.figures)?;
            for v in &a.verdicts {
                writeln!(f, "   - {}: {}", name(v.problem), v.finding)?;
                writeln!(f, "     try: {}", v.advice)?;
            }
        }
        let names: Vec<&str> = self.verdicts().map(|v| name(v.problem)).collect();
        match names.is_empty() {
            true => write!(f, "no problem found"),
            false => write!(f, "verdict: {}", names.join("; ")),
        }
    }
}

impl fmt::Display for Problem {
    /// `learning rate too high`, `vanishing gradients`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(name(*self))
    }
}

/// A problem's name in the report.
fn name(p: Problem) -> &'static str {
    match p {
        Problem::LearningRateTooHigh => "learning rate too high",
        Problem::LearningRateTooLow => "learning rate too low",
        Problem::VanishingGradients => "vanishing gradients",
        Problem::ExplodingGradients => "exploding gradients",
        Problem::DeadUnits => "mostly dead units",
        Problem::SaturatedUnits => "mostly saturated units",
        Problem::DeeperIsWorse => "a deeper model does worse",
        Problem::NotLearning => "not learning",
        Problem::StillImproving => "still improving",
        Problem::ModelTooSmall => "model too small",
        Problem::Overfitting => "overfitting",
    }
}

/// A figure with 4 significant digits: `0.008123`, `4.817`, `1.91e-5`.
fn num(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        return format_number(v);
    }
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.3e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{exponent}", trim(mantissa.to_string()))
    }
}

fn pct(v: f32) -> String {
    format!("{:.2}%", 100.0 * v)
}

/// Examines `run`; `shallower` is an optional run of a model with fewer
/// layers on the same data, to compare training losses with.
///
/// ```
/// use backprop::train::{examine, EpochRecord, Problem, RunFacts};
/// let epoch = |epoch, train_loss, train_acc, val_loss, val_acc| EpochRecord {
///     epoch, train_loss, train_accuracy: Some(train_acc), val_loss: Some(val_loss),
///     val_accuracy: Some(val_acc), lr: 1e-3, ..Default::default()
/// };
/// let history = [epoch(1, 1.2, 0.7, 0.9, 0.75), epoch(2, 0.3, 0.95, 0.8, 0.8), epoch(3, 0.05, 1.0, 1.1, 0.8)];
/// let facts = RunFacts { history: &history, grad_stats: &[], classes: Some(10), layers: Some(3), parameters: None };
/// let exam = examine(&facts, None);
/// assert!(!exam.training.problem);
/// assert_eq!(exam.verdicts().map(|v| v.problem).collect::<Vec<_>>(), [Problem::Overfitting]);
/// assert!(exam.to_string().contains("validation accuracy 80.00% is 20.00 points below training (100.00%)"));
/// ```
pub fn examine(run: &RunFacts<'_>, shallower: Option<&RunFacts<'_>>) -> Examination {
    Examination { training: training_answer(run, shallower), validation: validation_answer(run) }
}

/// Question 1: is the training loss itself too high, and why?
fn training_answer(run: &RunFacts<'_>, shallower: Option<&RunFacts<'_>>) -> Answer {
    let question = "Is the training loss too high?";
    let h = run.history;
    let (Some(first), Some(last)) = (h.first(), h.last()) else {
        return Answer { question, problem: false, figures: "the history is empty".into(), verdicts: Vec::new() };
    };
    let fell = 1.0 - last.train_loss / first.train_loss;
    let loss_figures = format!(
        "training loss {} at epoch {} ({} at epoch {})",
        num(last.train_loss),
        last.epoch,
        num(first.train_loss),
        first.epoch
    );
    let (too_high, figures) = match last.train_accuracy {
        Some(acc) if acc < FIT_ACCURACY => (
            true,
            format!(
                "training accuracy {} at epoch {}, below {}; {loss_figures}",
                pct(acc),
                last.epoch,
                pct(FIT_ACCURACY)
            ),
        ),
        Some(acc) => (false, format!("training accuracy {}; {loss_figures}", pct(acc))),
        None if !last.train_loss.is_finite() || (h.len() > 1 && fell < BARELY_FELL) => {
            (true, format!("{loss_figures}: it fell by {} only", pct(fell.max(0.0))))
        }
        None => (false, format!("{loss_figures}: it fell by {}", pct(fell))),
    };
    let mut verdicts = Vec::new();
    if too_high {
        verdicts.extend(learning_rate_verdicts(run));
        verdicts.extend(gradient_findings(run.grad_stats));
        if let Some(v) = shallower.and_then(|s| deeper_is_worse(run, s)) {
            verdicts.push(v);
        }
        if verdicts.is_empty() {
            verdicts.push(settled_verdict(run, fell));
        }
    }
    Answer { question, problem: too_high, figures, verdicts }
}

/// The learning rate against the curve's shape and the update sizes.
fn learning_rate_verdicts(run: &RunFacts<'_>) -> Vec<Verdict> {
    let h = run.history;
    let lr = h.iter().map(|r| r.lr).fold(0.0f32, f32::max);
    let mut evidence = Vec::new();
    if let Some((layer, ratio)) = first_epoch_ratios(run.grad_stats).max_by(|a, b| a.1.total_cmp(&b.1))
        && ratio > LARGE_UPDATES
    {
        evidence.push(format!(
            "the updates of {layer} were {} times its weights' size in epoch 1 (about 0.001 is healthy)",
            num(ratio)
        ));
    }
    if let (Some(k), Some(first)) = (run.classes.filter(|&k| k > 1), h.first()) {
        let chance = (k as f32).ln();
        if first.train_accuracy.is_some() && first.train_loss > chance * 1.05 {
            evidence.push(format!(
                "the training loss of epoch 1 ({}) is above that of guessing among {k} classes (ln {k} = {})",
                num(first.train_loss),
                num(chance)
            ));
        }
    }
    for w in 1..h.len() {
        let best_before = h[..w].iter().map(|r| r.train_loss).fold(f32::INFINITY, f32::min);
        if h[w].train_loss > 1.1 * best_before || !h[w].train_loss.is_finite() {
            evidence.push(format!(
                "the training loss rose to {} at epoch {} after reaching {}",
                num(h[w].train_loss),
                h[w].epoch,
                num(best_before)
            ));
            break;
        }
    }
    let mut out = Vec::new();
    if !evidence.is_empty() {
        out.push(Verdict {
            problem: Problem::LearningRateTooHigh,
            finding: format!("{} (learning rate up to {} in the history)", evidence.join("; "), num(lr)),
            advice: format!("a learning rate 10 to 100 times lower (e.g. --lr {})", num(lr / 30.0)),
        });
    }
    let ratios: Vec<(String, f32)> = first_epoch_ratios(run.grad_stats).collect();
    if !ratios.is_empty() && ratios.iter().all(|(_, r)| *r < TINY_UPDATES) {
        let largest = ratios.iter().map(|(_, r)| *r).fold(0.0f32, f32::max);
        out.push(Verdict {
            problem: Problem::LearningRateTooLow,
            finding: format!(
                "the largest update/weight ratio in epoch 1 was {} (about 0.001 is healthy; learning rate up to {})",
                num(largest),
                num(lr)
            ),
            advice: format!("a learning rate 10 to 100 times higher (e.g. --lr {})", num(lr * 30.0)),
        });
    }
    out
}

/// Each layer's update/weight ratio in the first epoch of `stats`.
fn first_epoch_ratios(stats: &[GradStatsRecord]) -> impl Iterator<Item = (String, f32)> + '_ {
    stats.first().into_iter().flat_map(|r| r.layers.iter().filter_map(|l| Some((l.layer.clone(), l.update_ratio?))))
}

/// The problems gradient statistics show: vanishing or exploding gradients,
/// mostly dead or saturated units. What `report` names too.
///
/// ```
/// use backprop::train::{gradient_findings, GradStatsRecord, LayerStats, Problem};
/// let layer = |name: &str, grad_norm| LayerStats { layer: name.into(), grad_norm, ..Default::default() };
/// let epoch = GradStatsRecord { epoch: 1, step: None, layers: vec![layer("layers.0", 2e-6), layer("layers.2", 0.5)] };
/// let found = gradient_findings(&[epoch]);
/// assert_eq!(found[0].problem, Problem::VanishingGradients);
/// assert!(found[0].finding.contains("layers.0's gradient norm (2e-6) is 4e-6 times layers.2's (0.5)"), "{}", found[0].finding);
/// ```
pub fn gradient_findings(stats: &[GradStatsRecord]) -> Vec<Verdict> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (stats.first(), stats.last()) else { return out };
    if let (Some(a), Some(b)) = (last.layers.first(), last.layers.last()) {
        let ratio = a.grad_norm / b.grad_norm;
        if last.layers.len() > 1 && b.grad_norm > 0.0 && ratio < VANISHING {
            out.push(Verdict {
                problem: Problem::VanishingGradients,
                finding: format!(
                    "at epoch {}, {}'s gradient norm ({}) is {} times {}'s ({}): the first layers barely learn",
                    last.epoch,
                    a.layer,
                    num(a.grad_norm),
                    num(ratio),
                    b.layer,
                    num(b.grad_norm)
                ),
                advice: "ReLU instead of sigmoid or tanh, He (Kaiming) initialisation, batch normalisation, \
                         residual connections, or fewer layers"
                    .into(),
            });
        }
    }
    for (l0, l1) in first.layers.iter().zip(&last.layers) {
        let grew = l1.grad_norm / l0.grad_norm;
        if stats.len() > 1 && (grew > EXPLODING || !l1.grad_norm.is_finite()) {
            out.push(Verdict {
                problem: Problem::ExplodingGradients,
                finding: format!(
                    "{}'s gradient norm grew from {} at epoch {} to {} at epoch {}",
                    l1.layer,
                    num(l0.grad_norm),
                    first.epoch,
                    num(l1.grad_norm),
                    last.epoch
                ),
                advice: "gradient clipping (--clip 1), a lower learning rate, normalisation layers".into(),
            });
            break;
        }
    }
    let worst = |get: fn(&super::LayerStats) -> Option<f32>| {
        last.layers.iter().filter_map(|l| Some((l, get(l)?))).max_by(|a, b| a.1.total_cmp(&b.1))
    };
    if let Some((l, dead)) = worst(|l| l.dead).filter(|(_, d)| *d > MOSTLY) {
        out.push(Verdict {
            problem: Problem::DeadUnits,
            finding: format!(
                "{} of {}'s ReLUs gave 0 for every example of epoch {}: they no longer learn",
                pct(dead),
                l.layer,
                last.epoch
            ),
            advice: "a lower learning rate (large updates kill ReLUs), He initialisation, or leaky ReLU".into(),
        });
    }
    if let Some((l, sat)) = worst(|l| l.saturated).filter(|(_, s)| *s > MOSTLY) {
        let act = l.activation.as_deref().unwrap_or("sigmoid");
        out.push(Verdict {
            problem: Problem::SaturatedUnits,
            finding: format!(
                "{} of {}'s {act} outputs in epoch {} sit where its slope is under 1% of its largest",
                pct(sat),
                l.layer,
                last.epoch
            ),
            advice: "inputs scaled to about [-1, 1], Xavier initialisation, ReLU, or batch normalisation".into(),
        });
    }
    out
}

/// A shallower model reached a lower training loss than this deeper one.
fn deeper_is_worse(run: &RunFacts<'_>, other: &RunFacts<'_>) -> Option<Verdict> {
    let (deep, shallow) = (run.layers?, other.layers?);
    let (mine, theirs) = (run.history.last()?.train_loss, other.history.last()?.train_loss);
    (deep > shallow && theirs < mine).then(|| Verdict {
        problem: Problem::DeeperIsWorse,
        finding: format!(
            "this model of {deep} layers ends at training loss {}, the shallower one of {shallow} layers at {}: \
             more capacity fits worse, so optimisation fails, not capacity",
            num(mine),
            num(theirs)
        ),
        advice: "what helps deep networks train: ReLU, He initialisation, batch normalisation, residual \
                 connections (or use the shallower model)"
            .into(),
    })
}

/// Why the training loss is too high when optimisation shows no fault: still
/// falling (train longer), flat at its start (not learning), or settled (too small a model).
fn settled_verdict(run: &RunFacts<'_>, fell: f32) -> Verdict {
    let h = run.history;
    let n = h.len();
    let last_drop = if n > 1 { 1.0 - h[n - 1].train_loss / h[n - 2].train_loss } else { 1.0 };
    if fell < BARELY_FELL {
        let see = if run.grad_stats.is_empty() { "; run with --grad-stats to see each layer's gradients" } else { "" };
        return Verdict {
            problem: Problem::NotLearning,
            finding: format!(
                "the training loss fell by {} over {n} epochs (from {} to {})",
                pct(fell.max(0.0)),
                num(h[0].train_loss),
                num(h[n - 1].train_loss)
            ),
            advice: format!("check the learning rate (too low or too high), the initialisation and the data{see}"),
        };
    }
    if last_drop > STILL_FALLING {
        return Verdict {
            problem: Problem::StillImproving,
            finding: format!("the training loss still fell by {} in the last epoch", pct(last_drop)),
            advice: "more epochs, or a higher learning rate".into(),
        };
    }
    let size = run.parameters.map(|p| format!(" ({p} parameters)")).unwrap_or_default();
    Verdict {
        problem: Problem::ModelTooSmall,
        finding: format!(
            "the training loss settled at {} (it fell by {} in the last epoch) with no sign of failing optimisation{size}",
            num(h[n - 1].train_loss),
            pct(last_drop.max(0.0))
        ),
        advice: "a bigger model: more or wider layers".into(),
    }
}

/// Question 2: is validation much worse than training?
fn validation_answer(run: &RunFacts<'_>) -> Answer {
    let question = "Is validation much worse than training?";
    let h = run.history;
    let Some(last) = h.last() else {
        return Answer { question, problem: false, figures: "the history is empty".into(), verdicts: Vec::new() };
    };
    let d = super::diagnose(h);
    let Some((best_epoch, best)) = d.best else {
        let figures = "no validation loss in the history (train with a validation set)".to_string();
        return Answer { question, problem: false, figures, verdicts: Vec::new() };
    };
    let val = last.val_loss.unwrap_or(f32::NAN);
    let rise = d.val_rise;
    let mut figures = Vec::new();
    let mut evidence = Vec::new();
    if let (Some(t), Some(v)) = (last.train_accuracy, last.val_accuracy) {
        let gap = t - v;
        let side = if gap >= 0.0 { "below" } else { "above" };
        let text =
            format!("validation accuracy {} is {:.2} points {side} training ({})", pct(v), 100.0 * gap.abs(), pct(t));
        if gap >= ACCURACY_GAP {
            evidence.push(text.clone());
        }
        figures.push(text);
    }
    let rose = format!(
        "validation loss {} at epoch {}, {} above its lowest ({} at epoch {best_epoch}), training loss {}",
        num(val),
        last.epoch,
        pct(rise.max(0.0)),
        num(best),
        num(last.train_loss)
    );
    if d.overfitting() {
        evidence.push(rose.clone());
    }
    figures.push(rose);
    let mut verdicts = Vec::new();
    if !evidence.is_empty() {
        verdicts.push(Verdict {
            problem: Problem::Overfitting,
            finding: evidence.join("; "),
            advice: format!(
                "early stopping (--early-stopping 3 keeps the weights of the best epoch, here {best_epoch}), weight \
                 decay (--weight-decay), dropout, a smaller model, or more training data"
            ),
        });
    }
    Answer { question, problem: !verdicts.is_empty(), figures: figures.join("; "), verdicts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::LayerStats;

    fn loss_only(losses: &[f32]) -> Vec<EpochRecord> {
        let record =
            |(i, &l): (usize, &f32)| EpochRecord { epoch: i + 1, train_loss: l, lr: 0.01, ..Default::default() };
        losses.iter().enumerate().map(record).collect()
    }

    fn facts<'a>(history: &'a [EpochRecord], grad_stats: &'a [GradStatsRecord]) -> RunFacts<'a> {
        RunFacts { history, grad_stats, classes: None, layers: None, parameters: Some(1000) }
    }

    fn problems(e: &Examination) -> Vec<Problem> {
        e.verdicts().map(|v| v.problem).collect()
    }

    #[test]
    fn a_regression_loss_is_judged_by_how_far_it_fell() {
        let flat = loss_only(&[1.0, 0.98, 0.97, 0.95]);
        let e = examine(&facts(&flat, &[]), None);
        assert_eq!(problems(&e), [Problem::NotLearning]);
        assert!(e.to_string().contains("run with --grad-stats"), "{e}");
        let falling = loss_only(&[1.0, 0.5, 0.3, 0.2]);
        let e = examine(&facts(&falling, &[]), None);
        assert!(!e.training.problem, "{e}");
        assert_eq!(e.to_string().lines().last(), Some("no problem found"));
    }

    #[test]
    fn an_underfit_classifier_is_still_improving_or_too_small() {
        let with_acc = |losses: &[f32], acc: f32| -> Vec<EpochRecord> {
            loss_only(losses).into_iter().map(|r| EpochRecord { train_accuracy: Some(acc), ..r }).collect()
        };
        let improving = with_acc(&[2.0, 1.0, 0.8, 0.7], 0.8);
        assert_eq!(problems(&examine(&facts(&improving, &[]), None)), [Problem::StillImproving]);
        let settled = with_acc(&[2.0, 1.0, 0.8, 0.799], 0.8);
        let e = examine(&facts(&settled, &[]), None);
        assert_eq!(problems(&e), [Problem::ModelTooSmall]);
        assert!(e.to_string().contains("(1000 parameters)"), "{e}");
        let spiking = with_acc(&[2.0, 1.0, 1.5, 0.9], 0.8);
        let e = examine(&facts(&spiking, &[]), None);
        assert_eq!(problems(&e), [Problem::LearningRateTooHigh]);
        assert!(e.to_string().contains("the training loss rose to 1.5 at epoch 3 after reaching 1"), "{e}");
    }

    #[test]
    fn gradient_statistics_show_exploding_norms_and_tiny_updates() {
        let layer = |name: &str, grad_norm, update_ratio| LayerStats {
            layer: name.into(),
            grad_norm,
            update_ratio: Some(update_ratio),
            ..Default::default()
        };
        let epoch = |epoch, g0, g1, r| GradStatsRecord {
            epoch,
            step: None,
            layers: vec![layer("a", g0, r), layer("b", g1, r)],
        };
        let stats = [epoch(1, 0.1, 0.1, 1e-6), epoch(2, 1.0, 0.5, 1e-6), epoch(3, 50.0, 2.0, 1e-6)];
        let history = loss_only(&[1.0, 0.99, 0.98]);
        let e = examine(&facts(&history, &stats), None);
        assert_eq!(problems(&e), [Problem::LearningRateTooLow, Problem::ExplodingGradients]);
        assert!(e.to_string().contains("a's gradient norm grew from 0.1 at epoch 1 to 50 at epoch 3"), "{e}");
    }

    #[test]
    fn figures_have_four_significant_digits() {
        assert_eq!(num(0.008122581), "0.008123");
        assert_eq!(num(4.81716), "4.817");
        assert_eq!(num(1234.6), "1235");
        assert_eq!(num(1.90975e-5), "1.91e-5");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(0.0), "0");
    }
}
