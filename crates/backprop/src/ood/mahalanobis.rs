//! The Mahalanobis score of Lee et al., "A simple unified framework for
//! detecting out-of-distribution samples and adversarial attacks" (NeurIPS
//! 2018): class-conditional Gaussians with one shared covariance, fitted to
//! the penultimate features of the training data; an example scores minus
//! its squared Mahalanobis distance to the closest class mean.

use crate::{Error, Result, Tensor};

/// Class means and the shared precision (inverse covariance) of penultimate features.
#[derive(Clone, Debug)]
pub struct Mahalanobis {
    /// `[C, D]`: the mean feature vector of each class.
    pub means: Tensor,
    /// `[D, D]`: the inverse of the shared (tied) covariance, plus a small ridge.
    pub precision: Tensor,
}

/// The ridge added to the covariance's diagonal before it is inverted, as a
/// fraction of the mean variance: features that never vary (dead ReLUs) then
/// get a large but finite weight.
pub const RIDGE: f64 = 1e-6;

impl Mahalanobis {
    /// Fits the class means `mu_c` and the shared covariance
    /// `Sigma = 1/N sum_c sum_{i in c} (f_i - mu_c)(f_i - mu_c)^T` of
    /// `features` (`[N, D]`) with labels in `0..classes`, and inverts it
    /// (Cholesky, in f64).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a class has no example, the labels
    /// do not match the rows, or the features are not finite.
    ///
    /// ```
    /// use backprop::{ood::Mahalanobis, Tensor};
    /// let f = Tensor::from_vec(vec![0.0, 1.0, 2.0, 1.0, 10.0, 0.0, 12.0, 0.0], &[4, 2]);
    /// let m = Mahalanobis::fit(&f, &[0, 0, 1, 1], 2)?;
    /// assert_eq!(m.means.data(), &[1.0, 1.0, 11.0, 0.0]);
    /// assert!(m.scores(&m.means)?.iter().all(|s| s.abs() < 1e-3)); // a class mean is at distance 0
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn fit(features: &Tensor, labels: &[usize], classes: usize) -> Result<Mahalanobis> {
        let (n, d) = (features.dim(0), features.data().len() / features.dim(0).max(1));
        if labels.len() != n {
            return Err(Error::invalid("labels", format!("{} labels for {n} feature rows", labels.len())));
        }
        check_finite(features)?;
        let x = features.data();
        let mut sums = vec![0.0f64; classes * d];
        let mut counts = vec![0usize; classes];
        for (row, &c) in x.chunks(d).zip(labels) {
            if c >= classes {
                return Err(Error::invalid("labels", format!("label {c} is not below {classes}")));
            }
            counts[c] += 1;
            for (s, &v) in sums[c * d..(c + 1) * d].iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        if let Some(c) = counts.iter().position(|&k| k == 0) {
            return Err(Error::invalid("features", format!("class {c} has no example to take a mean of")));
        }
        for (c, &k) in counts.iter().enumerate() {
            sums[c * d..(c + 1) * d].iter_mut().for_each(|s| *s /= k as f64);
        }
        let mut cov = vec![0.0f64; d * d];
        let mut centred = vec![0.0f64; d];
        for (row, &c) in x.chunks(d).zip(labels) {
            for j in 0..d {
                centred[j] = f64::from(row[j]) - sums[c * d + j];
            }
            for i in 0..d {
                let ci = centred[i];
                if ci != 0.0 {
                    for (acc, &cj) in cov[i * d..(i + 1) * d].iter_mut().zip(&centred) {
                        *acc += ci * cj;
                    }
                }
            }
        }
        cov.iter_mut().for_each(|v| *v /= n as f64);
        let mean_var = (0..d).map(|i| cov[i * d + i]).sum::<f64>() / d.max(1) as f64;
        let ridge = RIDGE * mean_var.max(1e-12);
        (0..d).for_each(|i| cov[i * d + i] += ridge);
        let precision = inverse_spd(&cov, d)
            .ok_or_else(|| Error::invalid("features", "their covariance is not positive definite"))?;
        Ok(Mahalanobis {
            means: Tensor::from_vec(sums.iter().map(|&v| v as f32).collect(), &[classes, d]),
            precision: Tensor::from_vec(precision.iter().map(|&v| v as f32).collect(), &[d, d]),
        })
    }

    /// `-min_c (f - mu_c)^T Sigma^-1 (f - mu_c)` for each row of `features`
    /// (`[N, D]`): 0 at a class mean, lower further from every class.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the features have another width than the means.
    pub fn scores(&self, features: &Tensor) -> Result<Vec<f32>> {
        let d = self.means.dim(1);
        if features.ndim() != 2 || features.dim(1) != d {
            let message = format!("shape {:?}, but the fitted means are {d} wide", features.shape());
            return Err(Error::invalid("features", message));
        }
        let p: Vec<f64> = self.precision.data().iter().map(|&v| f64::from(v)).collect();
        // P = L L^T, so d^2 = |L^T (f - mu)|^2: whiten once, then plain distances.
        let l = cholesky(&p, d).ok_or_else(|| Error::invalid("precision", "is not positive definite"))?;
        let l = Tensor::from_vec(l.iter().map(|&v| v as f32).collect(), &[d, d]);
        let y = features.matmul(&l);
        let m = self.means.matmul(&l);
        let classes = m.dim(0);
        Ok(y.data()
            .chunks(d)
            .map(|row| {
                let best = (0..classes)
                    .map(|c| {
                        row.iter()
                            .zip(&m.data()[c * d..(c + 1) * d])
                            .map(|(&a, &b)| f64::from(a - b).powi(2))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min);
                -best as f32
            })
            .collect())
    }
}

pub(super) fn check_finite(features: &Tensor) -> Result<()> {
    match features.data().iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::invalid(
            "features",
            format!("value {i} is {}: the model's features are not finite; check its weights", features.data()[i]),
        )),
        None => Ok(()),
    }
}

/// The lower-triangular `L` with `a = L L^T` (row-major `d x d`), or `None`
/// when `a` is not symmetric positive definite.
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * d + j] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// The inverse of a symmetric positive definite matrix, through its Cholesky factor.
fn inverse_spd(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, d)?;
    // Solve L L^T X = I column by column.
    let mut inv = vec![0.0f64; d * d];
    let mut y = vec![0.0f64; d];
    for col in 0..d {
        for i in 0..d {
            let s: f64 = (0..i).map(|k| l[i * d + k] * y[k]).sum();
            y[i] = (f64::from(u8::from(i == col)) - s) / l[i * d + i];
        }
        for i in (0..d).rev() {
            let s: f64 = (i + 1..d).map(|k| l[k * d + i] * inv[k * d + col]).sum();
            inv[i * d + col] = (y[i] - s) / l[i * d + i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Rng;

    #[test]
    fn a_class_mean_is_at_distance_zero_and_distance_grows_as_the_covariance_says() {
        let mut rng = Rng::new(5);
        // Two classes, feature 0 spread 10x wider than feature 1.
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for i in 0..400 {
            let c = i % 2;
            x.push(rng.normal() * 10.0 + 50.0 * c as f32);
            x.push(rng.normal());
            labels.push(c);
        }
        let f = Tensor::from_vec(x, &[400, 2]);
        let m = Mahalanobis::fit(&f, &labels, 2).unwrap();
        for s in m.scores(&m.means).unwrap() {
            assert!(s.abs() < 1e-3, "{s}");
        }
        // One unit along the narrow feature is as far as ~10 along the wide one.
        let mu = m.means.data().to_vec();
        let probe = Tensor::from_vec(vec![mu[0] + 10.0, mu[1], mu[0], mu[1] + 1.0], &[2, 2]);
        let s = m.scores(&probe).unwrap();
        assert!((s[0] / s[1] - 1.0).abs() < 0.25, "{s:?}");
        assert!(s[0] < -0.5 && s[1] < -0.5);
        // The inverse is an inverse.
        let cov = [4.0, 1.0, 1.0, 3.0];
        let inv = inverse_spd(&cov, 2).unwrap();
        let prod = [cov[0] * inv[0] + cov[1] * inv[2], cov[0] * inv[1] + cov[1] * inv[3]];
        assert!((prod[0] - 1.0).abs() < 1e-12 && prod[1].abs() < 1e-12);
    }

    #[test]
    fn an_empty_class_is_an_error() {
        let f = Tensor::from_vec(vec![0.0, 1.0], &[2, 1]);
        let e = Mahalanobis::fit(&f, &[0, 0], 2).unwrap_err().to_string();
        assert!(e.contains("class 1 has no example"), "{e}");
    }
}
