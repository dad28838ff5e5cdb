//! One GAN training step for the one trainer: discriminator phases, then the generator's.

use super::model::Gan;
use crate::autograd::{Graph, Param, Var};
use crate::data::{batch_indices, Dataset};
use crate::loss::bce_with_logits;
use crate::nn::has_batch_norm;
use crate::tensor::Rng;
use crate::train::{EpochRecord, EpochStats, TrainStep};
use crate::{Error, Result, Tensor};

/// How a GAN is trained, beside the trainer's own settings.
#[derive(Clone, Debug, PartialEq)]
pub struct GanTraining {
    /// Images per step (real, and as many generated).
    pub batch_size: usize,
    /// Discriminator steps per generator step (each on its own real batch).
    pub d_steps: usize,
    /// One-sided label smoothing (Salimans et al. 2016): the discriminator's
    /// target for real images is `1 - label_smoothing`.
    pub label_smoothing: f32,
    /// Seed of the batch order, the noise and the generated classes.
    pub seed: u64,
}

impl Default for GanTraining {
    fn default() -> Self {
        GanTraining { batch_size: 64, d_steps: 1, label_smoothing: 0.0, seed: 1 }
    }
}

/// The [`TrainStep`] of a GAN: `d_steps` discriminator phases, then one
/// generator phase; give the [`Trainer`](crate::train::Trainer) one optimizer
/// per phase (the discriminator's shared by its phases, see
/// [`Shared`](crate::optim::Shared)). The phases share one graph
/// ([`TrainStep::shares_graph`]): the last discriminator phase's generated
/// batch, recorded once, is what the generator's loss goes through (the
/// discriminator sees it detached). During the generator's phase the
/// discriminator's parameters are frozen: its gradients are never touched by
/// the generator's step.
///
/// - Discriminator: `BCE(D(x), 1 - smoothing) + BCE(D(G(z)), 0)` on a real
///   batch and a generated one (Goodfellow et al. 2014, eq. 1). A
///   discriminator without batch norm reads both in one pass of `2 x batch`
///   rows: the same loss, with one product per layer instead of two.
/// - Generator: the non-saturating loss `BCE(D(G(z)), 1)` = `-mean log
///   D(G(z))` (ibid., section 3) on the noise of the last discriminator phase.
///
/// Each epoch's record gets the phases' losses (`discriminator_loss`, the
/// mean over the `d_steps` phases and so the `train_loss` too;
/// `generator_loss`), the means of `D(x)` and `D(G(z))` (`d_x`, `d_g_z`,
/// probabilities, over the discriminator's phases) and `sample_diversity`
/// (see [`sample_diversity`](super::sample_diversity)). The data's inputs must
/// be what the generator should produce (images scaled to [-1, 1]).
///
/// An epoch is one pass over the full batches of the data (a last, smaller
/// batch is left out), `d_steps` of them per step.
pub struct GanStep<'a> {
    gan: &'a Gan,
    data: &'a Dataset,
    training: GanTraining,
    rng: Rng,
    batches: Vec<Vec<usize>>,
    next: usize,
    /// The noise and classes of the last discriminator phase, for the generator's.
    last: Option<(Tensor, Option<Vec<usize>>)>,
    sums: [f64; 2],
    counted: usize,
    /// Real inputs that [`sample_diversity`](super::sample_diversity) compares with.
    reference: Tensor,
    fixed_noise: Tensor,
    /// Whether the discriminator reads the real and the generated batch in
    /// one pass: when it has no batch norm (whose statistics would mix them).
    one_pass: bool,
}

impl<'a> GanStep<'a> {
    /// A step over `data` (inputs `[N, C*H*W]` as the generator should produce them).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the batch size or `d_steps` is 0,
    /// the smoothing is outside [0, 1), the data is not the generator's image
    /// size or its classes are not the GAN's, or it holds fewer images than
    /// `d_steps` batches (naming `d_steps` when one batch fits).
    pub fn new(gan: &'a Gan, data: &'a Dataset, training: GanTraining) -> Result<GanStep<'a>> {
        let c = gan.config();
        if training.batch_size == 0 {
            return Err(Error::invalid("batch_size", "the batch size must be at least 1"));
        }
        if training.d_steps == 0 {
            return Err(Error::invalid("d_steps", "the discriminator steps per generator step must be at least 1"));
        }
        if !(0.0..1.0).contains(&training.label_smoothing) {
            return Err(Error::invalid("label_smoothing", format!("{} is not in [0, 1)", training.label_smoothing)));
        }
        if data.input_dim() != c.outputs() {
            return Err(Error::invalid(
                "data",
                format!(
                    "has {} values per image but the generator makes {:?} = {}",
                    data.input_dim(),
                    c.image,
                    c.outputs()
                ),
            ));
        }
        if c.conditional && data.num_classes > c.classes {
            return Err(Error::invalid("data", format!("has {} classes, the GAN {}", data.num_classes, c.classes)));
        }
        if data.len() < training.batch_size.saturating_mul(training.d_steps) {
            // The batch alone fits: then the discriminator steps ask too many.
            let field = if training.batch_size <= data.len() { "d_steps" } else { "batch_size" };
            return Err(Error::invalid(
                field,
                format!(
                    "one step takes {} x {} images, more than the data's {}",
                    training.d_steps,
                    training.batch_size,
                    data.len()
                ),
            ));
        }
        if training.batch_size < 2 && has_batch_norm(&gan.buffers()) {
            let why = "the DCGAN's batch norm needs at least 2 images per batch to compute a variance";
            return Err(Error::invalid("batch_size", why));
        }
        let one_pass = !has_batch_norm(&gan.discriminator_state());
        let mut rng = Rng::new(training.seed);
        let reference = data.batch(&(0..data.len().min(DIVERSITY_SAMPLES)).collect::<Vec<_>>()).0;
        let fixed_noise =
            Tensor::randn(&[DIVERSITY_SAMPLES, c.latent], 0.0, 1.0, &mut Rng::new(training.seed ^ 0x5eed));
        let rng_seed = rng.next_u64();
        Ok(GanStep {
            gan,
            data,
            training,
            rng: Rng::new(rng_seed),
            batches: Vec::new(),
            next: 0,
            last: None,
            sums: [0.0; 2],
            counted: 0,
            reference,
            fixed_noise,
            one_pass,
        })
    }

    /// The discriminator's loss, and the generated batch (recorded with the
    /// generator's parameters where they are not frozen; the discriminator
    /// sees it detached).
    fn discriminator_loss<'g>(&mut self, g: &'g Graph) -> Result<(Var<'g>, Var<'g>)> {
        let (b, c) = (self.training.batch_size, self.gan.config());
        let ids = self.batches.get(self.next).cloned().ok_or_else(|| Error::invalid("epoch", "out of batches"))?;
        self.next += 1;
        let (x, y) = self.data.batch(&ids);
        let real_labels = c.conditional.then_some(y);
        let fake_labels: Option<Vec<usize>> =
            c.conditional.then(|| (0..b).map(|_| self.rng.below(c.classes)).collect());
        let z = Tensor::randn(&[b, c.latent], 0.0, 1.0, &mut self.rng);
        let fake = self.gan.generate(g, g.constant(z.clone()), fake_labels.as_deref())?;
        let (d_real, d_fake) = if self.one_pass {
            // Without batch norm the discriminator treats each image alone, so
            // both batches go through it as one of 2b rows: the same logits,
            // one product per layer and one weight gradient instead of two.
            let both = Tensor::concat(&[&x, &fake.value()], 0);
            let labels = real_labels.zip(fake_labels.as_ref()).map(|(real, fake)| [real, fake.clone()].concat());
            let logits = self.gan.discriminate(g, g.constant(both), labels.as_deref())?;
            (logits.narrow(0, 0, b), logits.narrow(0, b, b))
        } else {
            let d_real = self.gan.discriminate(g, g.constant(x), real_labels.as_deref())?;
            (d_real, self.gan.discriminate(g, g.constant(fake.value()), fake_labels.as_deref())?)
        };
        let target = |v: f32| g.constant(Tensor::full(&[b, 1], v));
        let loss =
            bce_with_logits(d_real, target(1.0 - self.training.label_smoothing)) + bce_with_logits(d_fake, target(0.0));
        self.sums[0] += mean_probability(&d_real.value());
        self.sums[1] += mean_probability(&d_fake.value());
        self.counted += 1;
        self.last = Some((z, fake_labels));
        Ok((loss, fake))
    }

    /// The generator's loss on `fake`, the last discriminator phase's batch
    /// (recorded on this graph), or generated again from its noise.
    fn generator_loss<'g>(&mut self, g: &'g Graph, fake: Option<Var<'g>>) -> Result<Var<'g>> {
        let (z, labels) =
            self.last.take().ok_or_else(|| Error::invalid("phase", "the generator's before any discriminator's"))?;
        let n = z.dim(0);
        let fake = match fake {
            Some(fake) => fake,
            None => self.gan.generate(g, g.constant(z), labels.as_deref())?,
        };
        let logits = self.gan.discriminate(g, fake, labels.as_deref())?;
        Ok(bce_with_logits(logits, g.constant(Tensor::full(&[n, 1], 1.0))))
    }
}

/// Samples [`sample_diversity`](super::sample_diversity) draws each epoch.
const DIVERSITY_SAMPLES: usize = 256;

/// Mean of sigmoid over `logits`.
fn mean_probability(logits: &Tensor) -> f64 {
    let d = logits.data();
    d.iter().map(|&v| 1.0 / (1.0 + (-f64::from(v)).exp())).sum::<f64>() / d.len().max(1) as f64
}

impl TrainStep for GanStep<'_> {
    fn phases(&self) -> usize {
        self.training.d_steps + 1
    }

    fn phase_name(&self, phase: usize) -> &'static str {
        if phase < self.training.d_steps {
            "discriminator"
        } else {
            "generator"
        }
    }

    fn start_epoch(&mut self, _epoch: usize) -> Result<Option<usize>> {
        let b = self.training.batch_size;
        self.batches = batch_indices(self.data.len(), b, Some(&mut self.rng));
        self.batches.retain(|ids| ids.len() == b);
        self.next = 0;
        Ok(Some(self.batches.len() / self.training.d_steps))
    }

    fn loss<'g>(&mut self, g: &'g Graph, phase: usize) -> Result<Var<'g>> {
        if phase < self.training.d_steps {
            Ok(self.discriminator_loss(g)?.0)
        } else {
            self.generator_loss(g, None)
        }
    }

    /// One graph for the step: the generator's forward pass runs once.
    fn shares_graph(&self) -> bool {
        true
    }

    fn shared_loss<'g>(&mut self, g: &'g Graph, phase: usize, carried: &mut Vec<Var<'g>>) -> Result<Var<'g>> {
        if phase < self.training.d_steps {
            let (loss, fake) = self.discriminator_loss(g)?;
            *carried = vec![fake];
            Ok(loss)
        } else {
            self.generator_loss(g, carried.pop())
        }
    }

    fn end_epoch(&mut self, record: &mut EpochRecord, _stats: &EpochStats) {
        let n = self.counted.max(1) as f64;
        record.metrics.insert("d_x".into(), (self.sums[0] / n) as f32);
        record.metrics.insert("d_g_z".into(), (self.sums[1] / n) as f32);
        let c = self.gan.config();
        let labels: Option<Vec<usize>> = c.conditional.then(|| (0..DIVERSITY_SAMPLES).map(|i| i % c.classes).collect());
        if let Ok(samples) = self.gan.sample(&self.fixed_noise, labels.as_deref()) {
            record.metrics.insert("sample_diversity".into(), super::sample_diversity(&samples, &self.reference));
        }
        self.sums = [0.0; 2];
        self.counted = 0;
    }

    fn buffers(&self) -> Vec<(String, Param)> {
        self.gan.buffers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gan::GanConfig;

    /// The discriminator's loss and gradients from one pass over the real and
    /// the generated batch together, against a pass over each.
    #[test]
    fn one_pass_over_both_batches_equals_two() {
        let mut rng = Rng::new(7);
        let labels: Vec<usize> = (0..48).map(|i| i % 3).collect();
        let data = Dataset::new(Tensor::randn(&[48, 6], 0.0, 0.5, &mut rng), labels, 3).unwrap();
        for conditional in [false, true] {
            let config = GanConfig {
                conditional,
                generator_hidden: vec![16],
                discriminator_hidden: vec![16, 8],
                ..GanConfig::mlp(4, [1, 2, 3], 3)
            };
            let gan = Gan::new(config, &mut Rng::new(8)).unwrap();
            let run = |one_pass: bool| {
                let mut step = GanStep::new(&gan, &data, GanTraining { batch_size: 16, ..Default::default() }).unwrap();
                assert!(step.one_pass, "an MLP discriminator has no batch norm");
                step.one_pass = one_pass;
                step.start_epoch(1).unwrap();
                gan.discriminator_parameters().iter().for_each(|(_, p)| p.lock().grad = None);
                let g = Graph::new();
                let loss = step.discriminator_loss(&g).unwrap().0;
                g.backward(loss);
                let grads: Vec<Tensor> =
                    gan.discriminator_parameters().iter().map(|(_, p)| p.grad().expect("a gradient")).collect();
                (loss.item(), grads)
            };
            let ((one, one_grads), (two, two_grads)) = (run(true), run(false));
            assert!((one - two).abs() < 1e-6, "conditional {conditional}: loss {one} in one pass, {two} in two");
            for (a, b) in one_grads.iter().zip(&two_grads) {
                let worst = a.data().iter().zip(b.data()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-6, "conditional {conditional}: gradients differ by {worst}");
            }
        }
    }
}
