//! Sample quality, measured offline by a trained classifier: the Fréchet
//! distance between its features of generated and real images, the classes
//! it sees in the samples, and a conditional GAN's accuracy.

use super::model::Gan;
use crate::data::Dataset;
use crate::models::Classifier;
use crate::pretrain::Backbone;
use crate::tensor::Rng;
use crate::{Error, Graph, Result, Tensor};
use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// What [`score`] measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GanScore {
    /// Fréchet distance between the classifier's penultimate-layer features
    /// of the generated and the real images (see [`frechet_distance`]).
    pub frechet_distance: f64,
    /// The share of the samples the classifier puts in each class (sums to 1).
    pub class_shares: Vec<f64>,
    /// The classifier's name of each class of `class_shares` (its stored
    /// class names, e.g. `3` to `7` for `train mnist --classes 3-7`).
    pub class_names: Vec<String>,
    /// The smallest of `class_shares`.
    pub min_class_share: f64,
    /// Entropy of `class_shares` in bits (log2(classes) when uniform).
    pub class_entropy_bits: f64,
    /// For a conditional GAN asked for class `i % classes` in turn: the share
    /// of samples classified as the class asked for.
    pub conditional_accuracy: Option<f64>,
    /// Generated images scored (and as many real ones, or all there are).
    pub count: usize,
    /// Real images compared with.
    pub real_count: usize,
}

/// The classifier's penultimate-layer features (the input of its last
/// linear layer) `[N, F]` and its predicted class of each row of `x` (for a
/// single logit: 1 where it is positive)
/// (`[N, inputs]`, already scaled as the classifier expects), in batches of 500.
///
/// # Errors
/// [`Error::InvalidArgument`] when `x` does not have the classifier's input
/// size, or the classifier is neither an MLP nor a CNN, or has no layer with
/// parameters before its output layer (a logistic regression: its
/// "features" would be the pixels themselves).
pub fn features(classifier: &Classifier, x: &Tensor) -> Result<(Tensor, Vec<usize>)> {
    let (n, d) = (x.dim(0), x.dim(1));
    if d != classifier.inputs {
        return Err(Error::invalid(
            "classifier",
            format!("takes {} inputs but the images have {d} values", classifier.inputs),
        ));
    }
    let backbone = match (classifier.mlp, classifier.cnn) {
        (Some(mlp), _) => Backbone::Mlp(mlp),
        (None, Some(cnn)) => Backbone::Cnn(cnn),
        _ => return Err(Error::invalid("classifier", "is neither an MLP nor a CNN: no layers to read")),
    };
    if backbone.encoder_parameters().is_empty() {
        let message = "has no layer before its output layer (a logistic regression): its penultimate features \
                       would be the pixels themselves; give a classifier with hidden layers";
        return Err(Error::invalid("classifier", message));
    }
    let mut feats = Vec::new();
    let mut width = 0;
    let mut classes = Vec::with_capacity(n);
    for start in (0..n).step_by(500) {
        let end = (start + 500).min(n);
        let g = Graph::no_grad();
        let chunk = g.constant(Tensor::from_vec(x.data()[start * d..end * d].to_vec(), &[end - start, d]));
        let outs = match (classifier.mlp, classifier.cnn) {
            (Some(mlp), _) => {
                let mut outs = mlp.forward_all(&g, chunk);
                if mlp.config().output_activation != crate::nn::Activation::Identity {
                    outs.pop();
                }
                outs
            }
            (None, Some(cnn)) => cnn.forward_all(&g, chunk),
            _ => return Err(Error::invalid("classifier", "is neither an MLP nor a CNN: no layers to read")),
        };
        let logits = outs[outs.len() - 1].value();
        let penultimate = outs[outs.len() - 2].value();
        width = penultimate.data().len() / (end - start);
        feats.extend_from_slice(penultimate.data());
        let k = logits.dim(1);
        // One logit (two classes through a sigmoid): class 1 where it is positive.
        classes.extend(logits.data().chunks(k).map(|row| match row {
            [logit] => usize::from(*logit > 0.0),
            _ => row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best }),
        }));
    }
    Ok((Tensor::from_vec(feats, &[n, width]), classes))
}

/// The mean and the covariance (denominator N - 1) of the rows of `x`, in f64.
fn moments(x: &Tensor) -> (DVector<f64>, DMatrix<f64>) {
    let (n, d) = (x.dim(0), x.dim(1));
    let m = DMatrix::from_row_slice(n, d, &x.data().iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    let mean = m.row_mean().transpose();
    let centered = DMatrix::from_fn(n, d, |i, j| m[(i, j)] - mean[j]);
    let cov = centered.transpose() * &centered / (n.max(2) - 1) as f64;
    (mean, cov)
}

/// The square root of a symmetric positive semi-definite matrix, by its
/// eigendecomposition (negative eigenvalues of rounding are taken as 0).
fn sqrt_psd(m: DMatrix<f64>) -> DMatrix<f64> {
    let sym = (&m + m.transpose()) * 0.5;
    let e = SymmetricEigen::new(sym);
    let roots = e.eigenvalues.map(|v| v.max(0.0).sqrt());
    &e.eigenvectors * DMatrix::from_diagonal(&roots) * e.eigenvectors.transpose()
}

/// The Fréchet distance between Gaussians fitted to the rows of `a` and of
/// `b` (`[N, F]` and `[M, F]`), as in FID (Heusel et al. 2017):
/// `|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`, where
/// `tr((S_a S_b)^(1/2)) = tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))`, a symmetric
/// matrix whose square root comes from its eigendecomposition (nalgebra).
///
/// ```
/// use backprop::{gan::frechet_distance, tensor::Rng, Tensor};
/// let mut rng = Rng::new(0);
/// let a = Tensor::randn(&[2000, 3], 0.0, 1.0, &mut rng);
/// let b = Tensor::randn(&[2000, 3], 0.0, 1.0, &mut rng);
/// let shifted = Tensor::randn(&[2000, 3], 2.0, 1.0, &mut rng); // |mu| difference^2 = 3 * 4
/// assert!(frechet_distance(&a, &b).unwrap() < 0.1);
/// assert!((frechet_distance(&a, &shifted).unwrap() - 12.0).abs() < 0.5);
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] when the feature widths differ or a side has fewer than 2 rows.
pub fn frechet_distance(a: &Tensor, b: &Tensor) -> Result<f64> {
    if a.ndim() != 2 || b.ndim() != 2 || a.dim(1) != b.dim(1) {
        return Err(Error::invalid("features", format!("shapes {:?} and {:?} differ in width", a.shape(), b.shape())));
    }
    if a.dim(0) < 2 || b.dim(0) < 2 {
        return Err(Error::invalid("features", "a covariance needs at least 2 rows on each side"));
    }
    let (mu_a, s_a) = moments(a);
    let (mu_b, s_b) = moments(b);
    let root_a = sqrt_psd(s_a.clone());
    let inner = &root_a * &s_b * &root_a;
    let sym = (&inner + inner.transpose()) * 0.5;
    let tr_sqrt: f64 = SymmetricEigen::new(sym).eigenvalues.iter().map(|v| v.max(0.0).sqrt()).sum();
    let diff = mu_a - mu_b;
    Ok((diff.dot(&diff) + s_a.trace() + s_b.trace() - 2.0 * tr_sqrt).max(0.0))
}

/// The share of `predicted` in each of `classes` classes.
pub fn class_shares(predicted: &[usize], classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; classes];
    for &p in predicted {
        if p < classes {
            counts[p] += 1;
        }
    }
    counts.iter().map(|&c| c as f64 / predicted.len().max(1) as f64).collect()
}

/// Pixels in [0, 1] to what `classifier` reads (its stored pixel scale).
fn to_classifier(classifier: &Classifier, mut x: Tensor) -> Result<Tensor> {
    let scale = classifier.pixel_scale()?;
    x.map_inplace(|v| (v - scale.mean) / scale.std);
    Ok(x)
}

/// Scores `gan` with `classifier`: `count` images generated (seeded by
/// `seed`; a conditional GAN asked for class `i % classes` for image `i`)
/// against the first `count` images of `real` (pixels in [0, 1], as the IDX
/// loader gives them), both mapped to the classifier's input scale.
///
/// # Errors
/// [`Error::InvalidArgument`] when the classifier's input size is not the
/// generator's output size, its first classes are not the conditional GAN's
/// (fewer, or other ones: a classifier of `train mnist --classes 3-7`),
/// `count` is below 2 or `real` has fewer than 2 images.
pub fn score(gan: &Gan, classifier: &Classifier, real: &Dataset, count: usize, seed: u64) -> Result<GanScore> {
    let c = gan.config();
    if classifier.inputs != c.outputs() {
        return Err(Error::invalid(
            "classifier",
            format!(
                "takes {} inputs but the generator makes {}x{}x{} = {} values per image",
                classifier.inputs,
                c.image[0],
                c.image[1],
                c.image[2],
                c.outputs()
            ),
        ));
    }
    if real.input_dim() != c.outputs() {
        return Err(Error::invalid(
            "data",
            format!("has {} values per image but the generator makes {}", real.input_dim(), c.outputs()),
        ));
    }
    if c.conditional && classifier.classes < c.classes {
        return Err(Error::invalid(
            "classifier",
            format!("tells {} classes apart but the GAN is conditioned on {}", classifier.classes, c.classes),
        ));
    }
    let names = classifier.class_names()?;
    if c.conditional && names.iter().take(c.classes).enumerate().any(|(i, name)| *name != i.to_string()) {
        return Err(Error::invalid(
            "classifier",
            format!(
                "its outputs are the classes {} (as trained with --classes), not the GAN's 0 to {}: \
                 the conditional accuracy would compare other classes",
                names.join(","),
                c.classes - 1
            ),
        ));
    }
    if count < 2 || real.len() < 2 {
        return Err(Error::invalid("count", "the Fréchet distance needs at least 2 images of each kind"));
    }
    let z = Tensor::randn(&[count, c.latent], 0.0, 1.0, &mut Rng::new(seed));
    let labels: Option<Vec<usize>> = c.conditional.then(|| (0..count).map(|i| i % c.classes).collect());
    let mut fake = gan.sample(&z, labels.as_deref())?;
    fake.map_inplace(|v| (v + 1.0) * 0.5);
    let (mut result, predicted) = compare(classifier, &fake, real)?;
    result.conditional_accuracy =
        labels.map(|l| l.iter().zip(&predicted).filter(|(a, b)| a == b).count() as f64 / count as f64);
    Ok(result)
}

/// Scores real images `x` (pixels in [0, 1], `[N, inputs]`) as if generated:
/// their Fréchet distance to `real` and their class shares. What the tests
/// and a sanity check of a classifier use (noise, one repeated digit).
///
/// # Errors
/// As [`score`].
pub fn score_images(classifier: &Classifier, x: &Tensor, real: &Dataset) -> Result<GanScore> {
    if x.dim(0) < 2 || real.len() < 2 {
        return Err(Error::invalid("count", "the Fréchet distance needs at least 2 images of each kind"));
    }
    compare(classifier, x, real).map(|(score, _)| score)
}

/// The score of images `x` (pixels in [0, 1]) against the first as many of
/// `real`, and the class predicted for each row of `x`.
fn compare(classifier: &Classifier, x: &Tensor, real: &Dataset) -> Result<(GanScore, Vec<usize>)> {
    let count = x.dim(0);
    let real_count = count.min(real.len());
    let fake = to_classifier(classifier, x.clone())?;
    let real_x = to_classifier(classifier, real.batch(&(0..real_count).collect::<Vec<_>>()).0)?;
    let (fake_features, predicted) = features(classifier, &fake)?;
    let (real_features, _) = features(classifier, &real_x)?;
    let class_names = classifier.class_names()?;
    let shares = class_shares(&predicted, class_names.len());
    // 0 - sum, not -sum: one class alone gives 0 bits, not -0.
    let entropy = 0.0 - shares.iter().filter(|&&s| s > 0.0).map(|s| s * s.log2()).sum::<f64>();
    let score = GanScore {
        frechet_distance: frechet_distance(&fake_features, &real_features)?,
        min_class_share: shares.iter().copied().fold(f64::INFINITY, f64::min),
        class_shares: shares,
        class_names,
        class_entropy_bits: entropy,
        conditional_accuracy: None,
        count,
        real_count,
    };
    Ok((score, predicted))
}
