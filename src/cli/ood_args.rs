//! The flags `ood` and `calibrate` share: which method, what it is fitted on
//! (the in-distribution folder's training split, its held-out validation
//! part, a subset of classes) and the methods' own parameters.

use backprop::data::{load_mnist_dir_optional_test, parse_classes, Dataset};
use backprop::ood::{Detector, FitOptions, Method};
use backprop::{Error, Result};
use clap::Args;
use std::path::Path;

/// How the in-distribution data are split and which classes the model knows.
#[derive(Args, Debug, Clone)]
pub(crate) struct FitArgs {
    /// Validation fraction used in training: that held-out part of the training split picks
    /// thresholds and ODIN's epsilon (0: the whole training split) [default: 0.1].
    #[arg(long, value_parser = super::args::fraction)]
    val_fraction: Option<f32>,
    /// Seed used in training (it chose the validation split; it also draws the k-NN bank) [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// The classes the model was trained on (as `train mnist --classes`), e.g. 0-4: the
    /// in-distribution images are those of these classes, relabelled from 0.
    #[arg(long, value_name = "LIST")]
    pub classes: Option<String>,
    /// k-NN: the score is the distance to the k-th nearest training feature (default 10).
    #[arg(long, value_parser = super::args::positive_usize)]
    pub k: Option<usize>,
    /// k-NN: at most this many training features (drawn with --seed) in the bank (default 10000).
    #[arg(long, value_parser = super::args::positive_usize)]
    pub bank_size: Option<usize>,
    /// ODIN: softmax temperature (default 1000).
    #[arg(long, value_parser = super::args::positive_f32)]
    pub temperature: Option<f32>,
    /// ODIN: input perturbation size (default: chosen on the in-distribution validation part).
    #[arg(long, value_parser = non_negative_f32)]
    pub epsilon: Option<f32>,
}

impl FitArgs {
    /// `--val-fraction`, 0.1 unless given.
    pub fn val_fraction(&self) -> f32 {
        self.val_fraction.unwrap_or(0.1)
    }

    /// `--seed`, 1 unless given.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(1)
    }

    /// Errors when `--val-fraction` or `--seed` is given but the run uses
    /// neither the split they choose (`val_fraction_used`) nor, for the
    /// seed, a k-NN bank it draws (`seed_used`): `idle` says why (`msp fits
    /// nothing`), as the flag would change nothing.
    pub fn check_split_used(&self, val_fraction_used: bool, seed_used: bool, idle: &str) -> Result<()> {
        let idle_flags = [
            (self.val_fraction.is_some() && !val_fraction_used, "--val-fraction"),
            (self.seed.is_some() && !seed_used, "--seed"),
        ];
        match idle_flags.iter().find(|(idle, _)| *idle) {
            Some((_, flag)) => Err(Error::invalid(
                *flag,
                format!("chooses the images a method is fitted or calibrated on, but here it chooses none: {idle}"),
            )),
            None => Ok(()),
        }
    }

    /// The library's options: the flags given, the defaults for the others.
    pub fn options(&self) -> FitOptions {
        let d = FitOptions::default();
        FitOptions {
            temperature: self.temperature.unwrap_or(d.temperature),
            epsilon: self.epsilon,
            k: self.k.unwrap_or(d.k),
            bank_size: self.bank_size.unwrap_or(d.bank_size),
            seed: self.seed(),
            ..d
        }
    }

    /// The options to fit a method again with when `calibrate` stored a
    /// detector of it (`stored`): the flags given, and for the others the
    /// stored settings (k-NN's k and bank size, ODIN's temperature and
    /// epsilon) rather than the defaults.
    pub fn options_over(&self, stored: &Detector) -> FitOptions {
        let mut options = self.options();
        match stored {
            Detector::Knn(knn) => {
                options.k = self.k.unwrap_or(knn.k);
                options.bank_size = self.bank_size.unwrap_or(knn.bank.dim(0));
            }
            Detector::Odin(odin) => {
                options.temperature = self.temperature.unwrap_or(odin.temperature);
                options.epsilon = Some(self.epsilon.unwrap_or(odin.epsilon));
            }
            _ => {}
        }
        options
    }

    /// The method-specific flags given (`--k`, `--bank-size`, `--temperature`,
    /// `--epsilon`) with the method each applies to.
    fn given(&self) -> Vec<(&'static str, Method)> {
        let flags = [
            (self.k.is_some(), "--k", Method::Knn),
            (self.bank_size.is_some(), "--bank-size", Method::Knn),
            (self.temperature.is_some(), "--temperature", Method::Odin),
            (self.epsilon.is_some(), "--epsilon", Method::Odin),
        ];
        flags.into_iter().filter(|(given, ..)| *given).map(|(_, flag, method)| (flag, method)).collect()
    }

    /// Errors when a method-specific flag is given but none of `methods` uses
    /// it (`--k` with `--method msp`): it would be ignored without a word.
    pub fn check_applies(&self, methods: &[Method]) -> Result<()> {
        match self.given().into_iter().find(|(_, m)| !methods.contains(m)) {
            Some((flag, method)) => {
                Err(Error::invalid(flag, format!("applies to --method {} only, which is not asked", method.name())))
            }
            None => Ok(()),
        }
    }

    /// Whether a flag sets a parameter of `method`: a detector that
    /// `calibrate` stored is then fitted again with it rather than used.
    pub fn sets_parameters_of(&self, method: Method) -> bool {
        self.given().iter().any(|(_, m)| *m == method)
    }

    /// Errors unless `--classes` names the classes `model` was trained on
    /// (stored by `train mnist --classes`), or is absent for a model that
    /// stored none: in-distribution images the model never learned would
    /// otherwise be scored as known. For a model that stored no class
    /// numbers, `--classes` must list as many classes as it has outputs.
    pub fn check_classes(&self, model: &backprop::models::Classifier) -> Result<()> {
        let Some(stored) = model.loaded().checkpoint.metadata.get(backprop::models::CLASSES_KEY) else {
            return self.check_class_count(model);
        };
        let trained: Vec<String> = serde_json::from_str(stored).unwrap_or_default();
        let numbers: Option<Vec<usize>> = trained.iter().map(|n| n.parse().ok()).collect();
        let Some(numbers) = numbers else { return self.check_class_count(model) };
        let listed = trained.join(",");
        match &self.classes {
            None => Err(Error::invalid(
                "--classes",
                format!("the model was trained on classes {listed} only: give --classes {listed}"),
            )),
            Some(list) => {
                let given = parse_classes(list, usize::MAX).map_err(super::args::as_flag("--classes"))?;
                if given != numbers {
                    return Err(Error::invalid(
                        "--classes",
                        format!("{list} are not the classes the model was trained on ({listed})"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Errors when `--classes` lists another number of classes than `model`
    /// has outputs: `--classes 0-4` for a model of 10 classes would score
    /// half of what it knows as unknown (and Mahalanobis finds no example of
    /// class 5 to take a mean of).
    fn check_class_count(&self, model: &backprop::models::Classifier) -> Result<()> {
        let Some(list) = &self.classes else { return Ok(()) };
        let given = parse_classes(list, usize::MAX).map_err(super::args::as_flag("--classes"))?;
        let names = model.class_names()?;
        if given.len() == names.len() {
            return Ok(());
        }
        Err(Error::invalid(
            "--classes",
            format!(
                "{list} lists {} classes but the model has {} ({}): give the classes it was trained on \
                 (train mnist --classes), or leave --classes out for a model of every class",
                given.len(),
                names.len(),
                names.join(",")
            ),
        ))
    }

    /// `data` restricted to `--classes` (relabelled from 0), or as it is.
    pub fn restrict(&self, data: Dataset) -> Result<Dataset> {
        restrict(data, self.classes.as_deref(), "--classes", false)
    }

    /// The training folder split as the model's training run split it:
    /// `(train, validation, test)`, restricted to `--classes`; the test
    /// split is `None` when the folder holds no `t10k-` files.
    pub fn load_split(&self, dir: &Path) -> Result<(Dataset, Dataset, Option<Dataset>)> {
        let (train, test) = load_mnist_dir_optional_test(dir)?;
        let train = self.restrict(train)?;
        let test = test.map(|t| self.restrict(t)).transpose()?;
        let (fit, validation) = if self.val_fraction() > 0.0 {
            train.split_validation(self.val_fraction(), self.seed())
        } else {
            (train.clone(), train)
        };
        Ok((fit, validation, test))
    }
}

/// `data` restricted to the classes `list` names (`flag` names the flag for errors).
pub(crate) fn restrict(data: Dataset, list: Option<&str>, flag: &str, keep_labels: bool) -> Result<Dataset> {
    let Some(list) = list else { return Ok(data) };
    let classes = parse_classes(list, data.num_classes).map_err(super::args::as_flag(flag))?;
    data.keep_classes(&classes, keep_labels).map_err(super::args::as_flag(flag))
}

/// The methods `--method` names: one, or every one for `all`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Methods(pub Vec<Method>);

/// `--method`: one method or `all`.
pub(crate) fn methods(s: &str) -> Result<Methods, String> {
    if s.trim() == "all" {
        let mut all = Method::CLASSIFIER.to_vec();
        all.push(Method::Ae);
        return Ok(Methods(all));
    }
    s.parse::<Method>().map(|m| Methods(vec![m])).map_err(|e| e.replace(')', ", all)"))
}

/// A finite number of at least 0.
fn non_negative_f32(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("must be a number of at least 0, got {s}")),
    }
}

/// A fitting error about `k`, `temperature` or `epsilon` as one about its flag.
pub(crate) fn fit_flags(e: Error) -> Error {
    super::args::name_flags(e, &["k", "temperature", "epsilon"])
}
