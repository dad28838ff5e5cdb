//! The one training loop: steps counted in epochs or in steps, several
//! optimizers with the others' parameters frozen, the divergence message,
//! progress reported through the Progress trait.

use backprop::autograd::{Graph, Param, Var};
use backprop::optim::Sgd;
use backprop::train::{EpochRecord, EpochStats, Plan, Progress, TrainConfig, TrainStep, Trainer};
use backprop::{Error, Result, Tensor};
use std::cell::RefCell;
use std::rc::Rc;

/// Two phases, as a GAN: phase 0 moves `d` towards 1, phase 1 moves `g`
/// towards `d`; both losses read both parameters.
struct TwoPlayers {
    d: Param,
    g: Param,
    /// (phase, d frozen, g frozen) for each loss asked.
    seen: Vec<(usize, bool, bool)>,
}

impl TrainStep for TwoPlayers {
    fn phases(&self) -> usize {
        2
    }
    fn phase_name(&self, phase: usize) -> &'static str {
        ["discriminator", "generator"][phase]
    }
    fn loss<'g>(&mut self, g: &'g Graph, phase: usize) -> Result<Var<'g>> {
        self.seen.push((phase, g.is_frozen(&self.d), g.is_frozen(&self.g)));
        let (d, gen) = (g.param(&self.d), g.param(&self.g));
        Ok(match phase {
            0 => ((d - 1.0).square() + (d - gen).square() * 0.5).sum(),
            _ => (gen - d).square().sum(),
        })
    }
    fn end_epoch(&mut self, _record: &mut EpochRecord, _stats: &EpochStats) {}
}

fn param(v: f32) -> Param {
    Param::new(Tensor::from_vec(vec![v], &[1]))
}

#[test]
fn each_phase_has_its_optimizer_and_the_other_parameters_are_frozen() {
    let (d, g) = (param(0.0), param(5.0));
    let mut step = TwoPlayers { d: d.clone(), g: g.clone(), seen: Vec::new() };
    let config = TrainConfig { epochs: 4, steps_per_epoch: Some(25), ..Default::default() };
    let history = Trainer::new(Box::new(Sgd::new(vec![("d".into(), d.clone())], 0.1)), config)
        .and_optimizer(Box::new(Sgd::new(vec![("g".into(), g.clone())], 0.1)))
        .run(&mut step)
        .unwrap();
    assert_eq!(step.seen.len(), 4 * 25 * 2);
    assert!(step.seen.iter().all(|&(phase, d_frozen, g_frozen)| (d_frozen, g_frozen) == (phase == 1, phase == 0)));
    assert!((d.value().data()[0] - 1.0).abs() < 1e-3, "d = {:?}", d.value());
    assert!((g.value().data()[0] - 1.0).abs() < 1e-2, "g = {:?}", g.value());
    let last = history.last().unwrap();
    assert!(last.metrics.contains_key("discriminator_loss") && last.metrics.contains_key("generator_loss"));
}

#[test]
fn a_step_and_optimizer_count_mismatch_is_an_error() {
    let (d, g) = (param(0.0), param(5.0));
    let mut step = TwoPlayers { d: d.clone(), g, seen: Vec::new() };
    let e = Trainer::new(Box::new(Sgd::new(vec![("d".into(), d)], 0.1)), TrainConfig::default())
        .run(&mut step)
        .unwrap_err();
    assert!(e.to_string().contains("2 phases but the trainer 1 optimizers"), "{e}");
}

/// Minimises (w - 3)^2, or returns NaN from step `nan_at` on.
struct Parabola {
    w: Param,
    calls: usize,
    nan_at: usize,
}

impl TrainStep for Parabola {
    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        self.calls += 1;
        let loss = (g.param(&self.w) - 3.0).square().sum();
        Ok(if self.calls >= self.nan_at { loss * f32::NAN } else { loss })
    }
    fn end_epoch(&mut self, record: &mut EpochRecord, stats: &EpochStats) {
        record.metrics.insert("steps".into(), stats.steps as f32);
    }
}

#[derive(Default)]
struct Recorder(Rc<RefCell<Vec<String>>>);

impl Progress for Recorder {
    fn start(&mut self, plan: &Plan) {
        self.0.borrow_mut().push(format!("start {} {:?} {}", plan.epochs, plan.max_steps, plan.counted_in_steps));
    }
    fn epoch_started(&mut self, epoch: usize, steps: usize) {
        self.0.borrow_mut().push(format!("epoch {epoch} of {steps}"));
    }
    fn epoch_done(&mut self, record: &EpochRecord) {
        self.0.borrow_mut().push(format!("done {} at step {:?}", record.epoch, record.step));
    }
}

#[test]
fn runs_counted_in_steps_stop_at_max_steps_and_report_progress() {
    let w = param(0.0);
    let mut step = Parabola { w: w.clone(), calls: 0, nan_at: usize::MAX };
    let log = Rc::new(RefCell::new(Vec::new()));
    let config = TrainConfig { epochs: 10, steps_per_epoch: Some(3), max_steps: Some(7), ..Default::default() };
    let history = Trainer::new(Box::new(Sgd::new(vec![("w".into(), w)], 0.1)), config)
        .progress(Recorder(log.clone()))
        .run(&mut step)
        .unwrap();
    let steps: Vec<_> = history.iter().map(|r| (r.step, r.metrics["steps"])).collect();
    assert_eq!(steps, vec![(Some(3), 3.0), (Some(6), 3.0), (Some(7), 1.0)]);
    assert_eq!(step.calls, 7);
    assert_eq!(
        *log.borrow(),
        vec![
            "start 10 Some(7) true",
            "epoch 1 of 3",
            "done 1 at step Some(3)",
            "epoch 2 of 3",
            "done 2 at step Some(6)",
            "epoch 3 of 1",
            "done 3 at step Some(7)"
        ]
    );
}

#[test]
fn a_huge_epoch_count_ended_by_max_steps_runs_without_reserving_memory_for_it() {
    let w = param(0.0);
    let mut step = Parabola { w: w.clone(), calls: 0, nan_at: usize::MAX };
    let config = TrainConfig { epochs: usize::MAX, steps_per_epoch: Some(2), max_steps: Some(5), ..Default::default() };
    let history = Trainer::new(Box::new(Sgd::new(vec![("w".into(), w)], 0.1)), config).run(&mut step).unwrap();
    assert_eq!((history.len(), step.calls), (3, 5));
}

#[test]
fn a_non_finite_loss_stops_training_naming_the_step() {
    let w = param(0.0);
    let mut step = Parabola { w: w.clone(), calls: 0, nan_at: 5 };
    let config = TrainConfig { epochs: 3, steps_per_epoch: Some(4), ..Default::default() };
    let e = Trainer::new(Box::new(Sgd::new(vec![("w".into(), w)], 0.5)), config).run(&mut step).unwrap_err();
    assert!(matches!(e, Error::Diverged(_)));
    let text = e.to_string();
    // The step multiplied its loss by NaN: the op is named, and the learning rate is not blamed.
    assert!(text.contains("the loss became NaN at step 5: op 'mul_scalar'"), "{text}");
    assert!(text.contains("the op's scalar operand is NaN"), "{text}");
    assert!(!text.contains("learning rate"), "{text}");
}

#[test]
fn a_step_without_its_own_epochs_needs_steps_per_epoch() {
    let w = param(0.0);
    let mut step = Parabola { w: w.clone(), calls: 0, nan_at: usize::MAX };
    let e = Trainer::new(Box::new(Sgd::new(vec![("w".into(), w)], 0.1)), TrainConfig::default())
        .run(&mut step)
        .unwrap_err();
    assert!(e.to_string().contains("steps_per_epoch"), "{e}");
}

/// `TrainConfig::eval_mode` trains with the layers in evaluation behaviour
/// (a linear probe of a frozen encoder): batch norm normalises with its
/// running statistics and leaves them as they were, while the layer after
/// it learns. Without it the statistics follow the training batches. Either
/// way the parameters that no optimizer holds get no gradient.
#[test]
fn eval_mode_keeps_batch_norm_statistics() {
    use backprop::data::Dataset;
    use backprop::nn::{BatchNorm1d, Init, Linear, Module, Sequential};
    use backprop::tensor::Rng;
    let xs: Vec<f32> = (0..64).map(|i| (i % 8) as f32 * 3.0 + 5.0).collect();
    let labels: Vec<usize> = (0..32).map(|i| usize::from(xs[2 * i] > 15.0)).collect();
    let data = Dataset::new(Tensor::from_vec(xs, &[32, 2]), labels, 2).unwrap();
    let train = |eval_mode: bool| {
        let mut rng = Rng::new(0);
        let bn = BatchNorm1d::new(2);
        let (mean, var) = (bn.running_mean.clone(), bn.running_var.clone());
        mean.set_value(Tensor::from_vec(vec![15.0, 15.0], &[2]));
        var.set_value(Tensor::from_vec(vec![40.0, 40.0], &[2]));
        let net = Sequential::new().push(bn).push(Linear::new(2, 2, true, Init::PytorchDefault, &mut rng));
        let head: Vec<(String, Param)> =
            net.parameters().into_iter().filter(|(n, _)| n.starts_with("layers.1")).collect();
        let before = head[0].1.value();
        let config = TrainConfig { epochs: 20, batch_size: 8, eval_mode, ..Default::default() };
        Trainer::new(Box::new(Sgd::new(head.clone(), 0.1)), config).fit(&net, &data, None).unwrap();
        assert_ne!(head[0].1.value().data(), before.data(), "the output layer learns");
        let bn_weight = &net.parameters()[0];
        assert!(bn_weight.1.grad().is_none(), "{}, held by no optimizer, gets no gradient", bn_weight.0);
        (mean.value().data().to_vec(), var.value().data().to_vec())
    };
    assert_eq!(train(true), (vec![15.0, 15.0], vec![40.0, 40.0]), "eval_mode: running statistics as they were");
    // Training mode: the running means move to the data's, 14 and 17.
    let (mean, _) = train(false);
    assert!((mean[0] - 14.0).abs() < 1.0 && (mean[1] - 17.0).abs() < 1.0, "training mode: running means {mean:?}");
}
