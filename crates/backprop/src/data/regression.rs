//! Regression data: real-valued inputs and targets, and the per-column
//! standardisation fitted on the training split.

use super::{Supervised, Targets};
use crate::{Error, Result, Tensor};

/// Per-column standardisation `z = (x - mean) / std`, fitted on training data
/// only and stored in checkpoints so predictions use the same numbers.
///
/// A column with zero spread gets `std = 1`, so it maps to 0 instead of NaN.
///
/// ```
/// use backprop::{data::Standardizer, Tensor};
/// let x = Tensor::from_vec(vec![1.0, 5.0, 3.0, 5.0], &[2, 2]);
/// let s = Standardizer::fit(&x);
/// assert_eq!((s.mean.clone(), s.std.clone()), (vec![2.0, 5.0], vec![1.0, 1.0]));
/// let z = s.apply(&x);
/// assert_eq!(z.data(), &[-1.0, 0.0, 1.0, 0.0]);
/// assert_eq!(s.invert(&z).data(), x.data());
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardizer {
    /// Mean of each column.
    pub mean: Vec<f32>,
    /// Standard deviation of each column (population form; 1 where it is 0).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// The identity transform for `columns` columns (mean 0, std 1).
    pub fn identity(columns: usize) -> Standardizer {
        Standardizer { mean: vec![0.0; columns], std: vec![1.0; columns] }
    }

    /// Column means and standard deviations of `x` `[N, D]` (computed in f64).
    pub fn fit(x: &Tensor) -> Standardizer {
        let (n, d) = (x.dim(0), x.dim(1));
        let mut sum = vec![0.0f64; d];
        for row in x.data().chunks(d.max(1)) {
            row.iter().zip(&mut sum).for_each(|(&v, s)| *s += v as f64);
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
        let mut var = vec![0.0f64; d];
        for row in x.data().chunks(d.max(1)) {
            row.iter().zip(&mean).zip(&mut var).for_each(|((&v, m), s)| *s += (v as f64 - m).powi(2));
        }
        let std = var
            .iter()
            .map(|v| (v / n.max(1) as f64).sqrt() as f32)
            .map(|s| if s > 0.0 && s.is_finite() { s } else { 1.0 })
            .collect();
        Standardizer { mean: mean.iter().map(|&m| m as f32).collect(), std }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether it has no columns.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// Checks a standardisation read from a file for `columns` columns: one
    /// mean and one standard deviation per column, every mean finite, every
    /// standard deviation finite and above 0 (else `apply` would divide by 0
    /// or spread NaN). `names` names the columns in the message, when given.
    ///
    /// ```
    /// use backprop::data::Standardizer;
    /// let s = Standardizer { mean: vec![0.0, 1.0], std: vec![1.0, 0.0] };
    /// let e = s.check(2, &["a".into(), "b".into()]).unwrap_err();
    /// assert_eq!(e, "column 'b': standard deviation 0 (it must be finite and above 0)");
    /// assert!(Standardizer::identity(3).check(2, &[]).unwrap_err().contains("3 means"));
    /// ```
    pub fn check(&self, columns: usize, names: &[String]) -> std::result::Result<(), String> {
        if self.mean.len() != columns || self.std.len() != columns {
            return Err(format!(
                "{} means and {} standard deviations for {columns} columns",
                self.mean.len(),
                self.std.len()
            ));
        }
        let name = |i: usize| names.get(i).map_or(format!("column {i}"), |n| format!("column '{n}'"));
        for (i, (&m, &s)) in self.mean.iter().zip(&self.std).enumerate() {
            if !m.is_finite() {
                return Err(format!("{}: mean {m} (it must be finite)", name(i)));
            }
            if !(s.is_finite() && s > 0.0) {
                return Err(format!("{}: standard deviation {s} (it must be finite and above 0)", name(i)));
            }
        }
        Ok(())
    }

    /// `(x - mean) / std`, column by column, computed in f64: `x - mean`
    /// can overflow f32 (3.4e38 - (-1e38)) where the result cannot (the
    /// population std of finite f32 values is at most half their range, so a
    /// standardised value is finite and at most sqrt(N) in size).
    ///
    /// ```
    /// use backprop::{data::Standardizer, Tensor};
    /// let x = Tensor::from_vec(vec![3.4e38, 3.4e38, 3.4e38, -3.4e38], &[4, 1]);
    /// let z = Standardizer::fit(&x).apply(&x);
    /// assert!(z.data().iter().all(|v| v.is_finite()), "{z:?}");
    /// assert!((z.data()[3] + 3f32.sqrt()).abs() < 1e-5);
    /// ```
    pub fn apply(&self, x: &Tensor) -> Tensor {
        self.map_columns(x, |v, m, s| (v - m) / s)
    }

    /// `z * std + mean`: back to the original units (in f64; infinite only
    /// where the value itself is beyond f32's range).
    pub fn invert(&self, z: &Tensor) -> Tensor {
        self.map_columns(z, |v, m, s| v * s + m)
    }

    /// Applies `f(value, mean, std)` in f64 to each column of `x`.
    fn map_columns(&self, x: &Tensor, f: impl Fn(f64, f64, f64) -> f64) -> Tensor {
        let d = self.len();
        assert_eq!(x.shape().last(), Some(&d), "Standardizer: {d} columns, got a tensor of shape {:?}", x.shape());
        let mut out = x.clone();
        for row in out.data_mut().chunks_mut(d.max(1)) {
            for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = f(f64::from(*v), f64::from(m), f64::from(s)) as f32;
            }
        }
        out
    }
}

/// A regression data set: inputs `[N, D]`, targets `[N, T]`, and the
/// standard deviation of each target column, so the trainer reports errors
/// in the target's own units after the targets were standardised.
///
/// ```
/// use backprop::data::{RegressionData, Standardizer, Supervised, Targets};
/// use backprop::Tensor;
/// let x = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[4, 1]);
/// let y = Tensor::from_vec(vec![1.0, 3.0, 5.0, 7.0], &[4, 1]);
/// let data = RegressionData::new(x, y)?;
/// let (train, valid) = data.split_last(0.25);
/// assert_eq!((train.len(), valid.len()), (3, 1));
/// let (sx, sy) = (Standardizer::fit(&train.inputs), Standardizer::fit(&train.targets));
/// let train = train.standardized(&sx, &sy);
/// assert_eq!(train.target_scale(), Some(&sy.std[..]));
/// let (_, t) = train.batch(&[1]);
/// assert_eq!(t, Targets::Values(Tensor::from_vec(vec![0.0], &[1, 1])));
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionData {
    /// `[N, D]`
    pub inputs: Tensor,
    /// `[N, T]`
    pub targets: Tensor,
    /// Standard deviation of each target column in original units (1 when not standardised).
    pub target_std: Vec<f32>,
}

impl RegressionData {
    /// Pairs inputs `[N, D]` with targets `[N, T]`; `target_std` starts at 1.
    ///
    /// # Errors
    /// [`Error::Shape`] when either is not 2-d or the row counts differ.
    pub fn new(inputs: Tensor, targets: Tensor) -> Result<RegressionData> {
        if inputs.ndim() != 2 || targets.ndim() != 2 || inputs.dim(0) != targets.dim(0) {
            return Err(Error::Shape {
                op: "RegressionData".into(),
                message: format!(
                    "inputs {:?} and targets {:?} must be [N, D] and [N, T]",
                    inputs.shape(),
                    targets.shape()
                ),
            });
        }
        let target_std = vec![1.0; targets.dim(1)];
        Ok(RegressionData { inputs, targets, target_std })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.inputs.dim(0)
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of input columns.
    pub fn input_dim(&self) -> usize {
        self.inputs.dim(1)
    }

    /// Number of target columns.
    pub fn target_dim(&self) -> usize {
        self.targets.dim(1)
    }

    /// The examples at `ids`, in that order.
    pub fn subset(&self, ids: &[usize]) -> RegressionData {
        RegressionData {
            inputs: self.inputs.index_select(ids),
            targets: self.targets.index_select(ids),
            target_std: self.target_std.clone(),
        }
    }

    /// `(train, validation)` with the last `round(fraction * N)` examples as
    /// validation: the split for time series, where order matters.
    pub fn split_last(&self, fraction: f32) -> (RegressionData, RegressionData) {
        let n = self.len();
        let n_valid = ((f64::from(fraction) * n as f64).round() as usize).min(n);
        let ids: Vec<usize> = (0..n).collect();
        let (train, valid) = ids.split_at(n - n_valid);
        (self.subset(train), self.subset(valid))
    }

    /// `(train, validation)` with `round(fraction * N)` examples drawn by a
    /// shuffle seeded with `seed` as validation; both keep the original order.
    pub fn split_validation(&self, fraction: f32, seed: u64) -> (RegressionData, RegressionData) {
        let (train, valid) = super::validation_split_indices(self.len(), fraction, seed);
        (self.subset(&train), self.subset(&valid))
    }

    /// The data with `inputs` and `targets` standardisations applied; the
    /// target stds are remembered for [`Supervised::target_scale`].
    pub fn standardized(&self, inputs: &Standardizer, targets: &Standardizer) -> RegressionData {
        RegressionData {
            inputs: inputs.apply(&self.inputs),
            targets: targets.apply(&self.targets),
            target_std: targets.std.clone(),
        }
    }
}

impl Supervised for RegressionData {
    fn len(&self) -> usize {
        RegressionData::len(self)
    }
    fn batch(&self, ids: &[usize]) -> (Tensor, Targets) {
        (self.inputs.index_select(ids), Targets::Values(self.targets.index_select(ids)))
    }
    fn target_scale(&self) -> Option<&[f32]> {
        Some(&self.target_std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_columns_get_unit_std() {
        let s = Standardizer::fit(&Tensor::from_vec(vec![3.0, 1.0, 3.0, 2.0], &[2, 2]));
        assert_eq!(s.mean, vec![3.0, 1.5]);
        assert_eq!(s.std, vec![1.0, 0.5]);
        assert_eq!(Standardizer::fit(&Tensor::zeros(&[0, 2])).std, vec![1.0, 1.0]);
    }

    #[test]
    fn splits_cover_every_example_once() {
        let x = Tensor::from_vec((0..10).map(|v| v as f32).collect(), &[10, 1]);
        let data = RegressionData::new(x.clone(), x).unwrap();
        let (a, b) = data.split_validation(0.3, 5);
        let mut all: Vec<f32> = a.inputs.data().iter().chain(b.inputs.data()).copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..10).map(|v| v as f32).collect::<Vec<_>>());
        let (_, tail) = data.split_last(0.2);
        assert_eq!(tail.inputs.data(), &[8.0, 9.0]);
        assert!(RegressionData::new(Tensor::zeros(&[2, 1]), Tensor::zeros(&[3, 1])).is_err());
    }
}
