//! What one training step computes, apart from the loop that runs it.
//!
//! A [`TrainStep`] turns its next batch into a loss on a fresh graph; the
//! [`Trainer`](super::Trainer) owns everything around it: epochs and steps,
//! zero-grad, the check for a non-finite loss, backward, clipping, optimizer
//! and schedule steps, progress, history, evaluation, early stopping and
//! checkpoints. This is the line Burn's learner draws between its
//! `TrainStep` and the loop.

use super::history::EpochRecord;
use crate::autograd::{Graph, Param, Var};
use crate::dist::Collective;
use crate::{Error, Result};
use std::rc::Rc;
use std::time::Duration;

/// What the trainer measured of one epoch's training steps, for
/// [`TrainStep::end_epoch`].
#[derive(Clone, Copy, Debug)]
pub struct EpochStats {
    /// Steps run in the epoch.
    pub steps: usize,
    /// Time spent in them (evaluation excluded).
    pub elapsed: Duration,
}

/// One optimizer step's computation: a batch in, a loss out.
///
/// A step may drive several optimizers (a GAN: the discriminator, then the
/// generator): it has one *phase* per optimizer, and the trainer asks for the
/// loss of each phase in turn on its own fresh graph. A step may also gather
/// its own data (random text windows, an agent's experience) instead of
/// walking a data set.
///
/// ```
/// use backprop::autograd::{Graph, Param, Var};
/// use backprop::optim::Sgd;
/// use backprop::train::{EpochRecord, EpochStats, TrainConfig, TrainStep, Trainer};
/// use backprop::{Result, Tensor};
///
/// /// Minimises (w - 3)^2: no data at all.
/// struct Parabola(Param);
/// impl TrainStep for Parabola {
///     fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
///         Ok((g.param(&self.0) - 3.0).square().sum())
///     }
///     fn end_epoch(&mut self, _record: &mut EpochRecord, _stats: &EpochStats) {}
/// }
///
/// let w = Param::new(Tensor::zeros(&[1]));
/// let opt = Sgd::new(vec![("w".into(), w.clone())], 0.1);
/// let config = TrainConfig { epochs: 5, steps_per_epoch: Some(20), ..Default::default() };
/// let history = Trainer::new(Box::new(opt), config).run(&mut Parabola(w.clone())).unwrap();
/// assert_eq!((history.len(), history[4].step), (5, Some(100)));
/// assert!((w.value().data()[0] - 3.0).abs() < 1e-4);
/// ```
pub trait TrainStep {
    /// Optimizers this step drives, one per phase (default 1).
    fn phases(&self) -> usize {
        1
    }

    /// The name of `phase` in messages and history (default `"loss"`; a GAN
    /// would say `"discriminator"` and `"generator"`). A step of several
    /// phases gets `<name>_loss` in its epoch record's metrics: the mean per
    /// step, over the phases that share the name.
    fn phase_name(&self, _phase: usize) -> &'static str {
        "loss"
    }

    /// Whether the phases of a step share one graph (default: no, a fresh
    /// graph per phase). When they do, the trainer records all of a step's
    /// phases on one graph and calls [`TrainStep::shared_loss`]; in phase `p`
    /// the parameters of earlier phases' optimizers are frozen and those of
    /// later phases are not, so a value recorded now can carry gradient to a
    /// later phase (the step detaches it, with [`Graph::constant`] of its
    /// value, where the current loss uses it). A GAN so records its
    /// generator's output once for both networks' steps, as PyTorch's DCGAN
    /// example does with `fake.detach()`.
    fn shares_graph(&self) -> bool {
        false
    }

    /// The loss of `phase` on the graph the step's phases share
    /// ([`TrainStep::shares_graph`]); `carried` holds what earlier phases of
    /// this step left for later ones. Default: [`TrainStep::loss`].
    fn shared_loss<'g>(&mut self, g: &'g Graph, phase: usize, carried: &mut Vec<Var<'g>>) -> Result<Var<'g>> {
        let _ = carried;
        self.loss(g, phase)
    }

    /// Called before each epoch (from 1). Returns the number of steps in it
    /// when the step walks a data set (the batches of a shuffled epoch), or
    /// `None` when the trainer's
    /// [`steps_per_epoch`](super::TrainConfig::steps_per_epoch) decides.
    fn start_epoch(&mut self, _epoch: usize) -> Result<Option<usize>> {
        Ok(None)
    }

    /// Takes the next batch and returns the scalar loss of `phase` recorded on
    /// `g` (a fresh recording graph). Metrics of the batch are gathered here too.
    fn loss<'g>(&mut self, g: &'g Graph, phase: usize) -> Result<Var<'g>>;

    /// After an epoch's steps: fill the record's training metrics and start
    /// the next epoch's from zero. The trainer has already set `train_loss` to
    /// the mean loss of phase 0 per step (averaged with the phases that share
    /// its name); a step may refine it (e.g. weighting by examples).
    fn end_epoch(&mut self, record: &mut EpochRecord, stats: &EpochStats);

    /// Whether [`TrainStep::evaluate`] measures a validation loss (early
    /// stopping needs one). Default: no.
    fn has_validation(&self) -> bool {
        false
    }

    /// Evaluates on held-out data after an epoch, filling the record's
    /// validation fields. Default: nothing.
    fn evaluate(&mut self, _record: &mut EpochRecord) -> Result<()> {
        Ok(())
    }

    /// Whether the run is over by the step's own measure, asked before every
    /// step (an agent's budget of environment steps is spent, or it reached
    /// its target return): the trainer then ends the epoch and the run.
    /// Default: never.
    fn finished(&self) -> bool {
        false
    }

    /// The model's non-trainable state (batch norm's running statistics):
    /// early stopping keeps it with the parameters, so the best epoch's
    /// weights come back with that epoch's statistics. Default: none.
    fn buffers(&self) -> Vec<(String, Param)> {
        Vec::new()
    }

    /// Makes the step one rank of data-parallel training over `comm` (see
    /// [`crate::dist`]), called once by the trainer before the first epoch:
    /// from then on each step takes this rank's [`Shard`](crate::dist::Shard)
    /// of the global batch (the batch all ranks draw alike from the same seed,
    /// `size` times the per-rank batch), returns a loss whose average over
    /// the ranks is the global batch's, and sums its training metrics and its
    /// validation over the ranks so that every rank's records are the same.
    ///
    /// # Errors
    /// By default: the step cannot be split across ranks.
    fn shard(&mut self, comm: Rc<dyn Collective>) -> Result<()> {
        let _ = comm;
        Err(Error::invalid("distributed", "this training step cannot be split across ranks"))
    }
}
