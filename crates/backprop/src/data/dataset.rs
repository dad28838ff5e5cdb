//! In-memory labelled datasets and the loaders that build them from IDX files.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::idx::{read_idx, IdxArray};
use crate::{Error, Result, Tensor};

/// MNIST-style label files always stand for at least this many classes.
const MIN_CLASSES: usize = 10;

/// A labelled classification dataset held in memory.
///
/// ```
/// use backprop::{data::Dataset, Tensor};
/// let x = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[3, 2]);
/// let data = Dataset::new(x, vec![1, 0, 1], 2)?;
/// assert_eq!((data.len(), data.input_dim()), (3, 2));
/// let (x, y) = data.batch(&[2, 0]);
/// assert_eq!(x.data(), &[4.0, 5.0, 0.0, 1.0]);
/// assert_eq!(y, vec![1, 1]);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Dataset {
    /// The examples, one per row: `[N, D]` `f32`.
    pub inputs: Tensor,
    /// The class of each row, each below `num_classes`.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
    /// `[rows, cols]` when each input row is an image flattened row-major.
    pub image_shape: Option<[usize; 2]>,
}

impl Dataset {
    /// A dataset of `inputs` (`[N, D]`) with one label per row.
    ///
    /// The image shape is unset; see [`Dataset::with_image_shape`].
    ///
    /// # Errors
    /// [`Error::Shape`] when `inputs` is not 2-D or the label count differs
    /// from the row count; [`Error::InvalidArgument`] when `num_classes` is 0
    /// or a label is not below it.
    pub fn new(inputs: Tensor, labels: Vec<usize>, num_classes: usize) -> Result<Dataset> {
        if inputs.ndim() != 2 {
            return Err(shape_error(format!("inputs must be 2-D [N, D], got shape {:?}", inputs.shape())));
        }
        if labels.len() != inputs.dim(0) {
            return Err(shape_error(format!("{} labels for {} input rows", labels.len(), inputs.dim(0))));
        }
        if num_classes == 0 {
            return Err(Error::invalid("num_classes", "must be at least 1, got 0"));
        }
        if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= num_classes) {
            return Err(Error::invalid(
                "labels",
                format!("label {label} at row {row} is out of range for {num_classes} classes"),
            ));
        }
        Ok(Dataset { inputs, labels, num_classes, image_shape: None })
    }

    /// The same dataset with each input row declared a `[rows, cols]` image.
    ///
    /// # Errors
    /// [`Error::Shape`] when `rows * cols` differs from [`Dataset::input_dim`].
    ///
    /// ```
    /// use backprop::{data::Dataset, Tensor};
    /// let data = Dataset::new(Tensor::zeros(&[5, 6]), vec![0; 5], 10)?.with_image_shape([2, 3])?;
    /// assert_eq!(data.image_shape, Some([2, 3]));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn with_image_shape(mut self, shape: [usize; 2]) -> Result<Dataset> {
        let [rows, cols] = shape;
        if rows.checked_mul(cols) != Some(self.input_dim()) {
            return Err(shape_error(format!(
                "a {rows}x{cols} image does not fit inputs of {} values",
                self.input_dim()
            )));
        }
        self.image_shape = Some(shape);
        Ok(self)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of input values per example (`D`).
    pub fn input_dim(&self) -> usize {
        self.inputs.dim(1)
    }

    /// The examples at `ids`, in that order (repeats allowed), as a new dataset.
    ///
    /// # Panics
    /// When an index is out of range.
    ///
    /// ```
    /// use backprop::{data::Dataset, Tensor};
    /// let data = Dataset::new(Tensor::from_vec(vec![0.0, 1.0, 2.0], &[3, 1]), vec![0, 1, 2], 3)?;
    /// let sub = data.subset(&[2, 1]);
    /// assert_eq!(sub.inputs.data(), &[2.0, 1.0]);
    /// assert_eq!(sub.labels, vec![2, 1]);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn subset(&self, ids: &[usize]) -> Dataset {
        let (inputs, labels) = self.batch(ids);
        Dataset { inputs, labels, num_classes: self.num_classes, image_shape: self.image_shape }
    }

    /// The inputs (`[ids.len(), D]`) and labels of the examples at `ids`: one
    /// mini-batch.
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn batch(&self, ids: &[usize]) -> (Tensor, Vec<usize>) {
        let inputs = self.inputs.index_select(ids); // checks every index first
        let labels = ids.iter().map(|&i| self.labels[i]).collect();
        (inputs, labels)
    }

    /// Splits off a random validation set: returns `(train, validation)`.
    ///
    /// The validation set holds `round(fraction * len)` examples drawn by a
    /// shuffle seeded with `seed`, so the same seed gives the same split.
    /// Both parts keep the original order of their examples. When no example
    /// goes to validation, `train` is a (cheap) clone of `self` and the
    /// validation set is empty.
    ///
    /// # Panics
    /// When `fraction` is not in `[0, 1]`.
    ///
    /// ```
    /// use backprop::{data::Dataset, Tensor};
    /// let data = Dataset::new(Tensor::zeros(&[10, 4]), vec![0; 10], 10)?;
    /// let (train, valid) = data.split_validation(0.2, 7);
    /// assert_eq!((train.len(), valid.len()), (8, 2));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn split_validation(&self, fraction: f32, seed: u64) -> (Dataset, Dataset) {
        assert!((0.0..=1.0).contains(&fraction), "split_validation: fraction must be between 0 and 1, got {fraction}");
        let (train, valid) = super::validation_split_indices(self.len(), fraction, seed);
        if valid.is_empty() {
            return (self.clone(), self.subset(&[]));
        }
        (self.subset(&train), self.subset(&valid))
    }
}

impl fmt::Debug for Dataset {
    /// A summary: sizes and shapes, not the values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("input_dim", &self.inputs.shape().get(1))
            .field("num_classes", &self.num_classes)
            .field("image_shape", &self.image_shape)
            .finish()
    }
}

fn shape_error(message: String) -> Error {
    Error::Shape { op: "Dataset".into(), message }
}

/// Loads a dataset from an IDX image file and an IDX label file (each plain
/// or gzip).
///
/// The images must be unsigned bytes, 3-D `[N, rows, cols]` (then
/// [`Dataset::image_shape`] is set) or 2-D `[N, D]`; the labels 1-D `[N]`.
/// Pixels are scaled to `[0, 1]` (`x / 255`). The number of classes is the
/// largest label plus one, but at least 10 (see [`classes_from_labels`]).
///
/// # Errors
/// Any error of [`read_idx`]; [`Error::Format`] naming the file when the
/// dimensions are not as above, the set is empty (`0 images`) or its images
/// have a zero side (`width 0`), or the two files hold different counts (the
/// message names both files and both counts).
///
/// ```no_run
/// use std::path::Path;
/// let dir = Path::new("data/mnist-10k");
/// let test = backprop::data::load_idx_pair(
///     &dir.join("t10k-images-idx3-ubyte.gz"),
///     &dir.join("t10k-labels-idx1-ubyte.gz"),
/// )?;
/// assert_eq!(test.input_dim(), 784);
/// assert_eq!(test.image_shape, Some([28, 28]));
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn load_idx_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    let (inputs, image_shape) = load_idx_images(images)?;
    let n = inputs.dim(0);
    let label_array = read_idx(labels)?;
    let labels_vec = label_values(label_array).map_err(|m| Error::format(labels, m))?;
    if labels_vec.len() != n {
        return Err(Error::format(
            images,
            format!(
                "holds {n} images but the labels file {} holds {} labels; the counts must match",
                labels.display(),
                labels_vec.len()
            ),
        ));
    }
    let num_classes = classes_from_labels(&labels_vec, MIN_CLASSES).map_err(|m| Error::format(labels, m))?;
    let dataset = Dataset::new(inputs, labels_vec, num_classes)?;
    match image_shape {
        Some(shape) => dataset.with_image_shape(shape),
        None => Ok(dataset),
    }
}

/// The images of one IDX file (plain or gzip) as rows `[N, D]` scaled to
/// `[0, 1]` (`x / 255`), with `[rows, cols]` when the file is 3-D
/// `[N, rows, cols]` (`None` for 2-D `[N, D]`): what [`load_idx_pair`]
/// reads, without labels (self-supervised pre-training needs none).
///
/// # Errors
/// Any error of [`read_idx`]; [`Error::Format`] naming the file when the
/// dimensions are not as above, the set is empty or an image has a zero side.
pub fn load_idx_images(images: &Path) -> Result<(Tensor, Option<[usize; 2]>)> {
    let image_array = read_idx(images)?;
    let (n, dim, image_shape) = image_layout(&image_array.dims).map_err(|m| Error::format(images, m))?;
    let pixels = image_array.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok((Tensor::try_from_vec(pixels, &[n, dim])?, image_shape))
}

/// The training images of an MNIST-style folder
/// (`train-images-idx3-ubyte[.gz]` or the dotted spelling) without their
/// labels: the labels file need not be there. See [`load_idx_images`].
///
/// ```no_run
/// let (images, shape) = backprop::data::load_mnist_train_images(std::path::Path::new("data/mnist-10k"))?;
/// assert_eq!((images.dim(1), shape), (784, Some([28, 28])));
/// # Ok::<(), backprop::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] (not found) when the folder or the file is missing, naming
/// the names tried; [`Error::Format`] when `dir` is not a folder; any error
/// of [`load_idx_images`].
pub fn load_mnist_train_images(dir: &Path) -> Result<(Tensor, Option<[usize; 2]>)> {
    check_folder(dir)?;
    load_idx_images(&find_file(dir, MNIST_FILES[0])?)
}

/// The most input values an in-memory data set may hold: 2^30 `f32`
/// (4 GiB), e.g. 1.3 million 28x28 images or 87,000 64x64 RGB ones.
pub const MAX_DATASET_VALUES: usize = 1 << 30;

/// Refuses, before anything is allocated, `n` examples of `dim` values each
/// when that is more than [`MAX_DATASET_VALUES`].
///
/// ```
/// use backprop::data::check_dataset_size;
/// assert!(check_dataset_size(60_000, 784).is_ok());
/// assert!(check_dataset_size(1 << 20, 1 << 20).unwrap_err().contains("limit"));
/// ```
pub fn check_dataset_size(n: usize, dim: usize) -> Result<(), String> {
    match n.checked_mul(dim) {
        Some(total) if total <= MAX_DATASET_VALUES => Ok(()),
        total => Err(format!(
            "{n} examples of {dim} values each make {} values, more than the limit of {MAX_DATASET_VALUES} \
             (4 GiB as f32)",
            total.map_or("more than usize::MAX".to_string(), |t| t.to_string())
        )),
    }
}

/// The most classes a data set may have: 2^16.
pub const MAX_CLASSES: usize = 1 << 16;

/// Class counts up to this are accepted even with fewer examples (a small
/// test file need not hold every class of a byte-labelled set).
const FEW_CLASSES: usize = 256;

/// The number of classes that labels numbered from 0 stand for when a file
/// names no classes: the largest label plus one, and at least `min`.
///
/// A label is refused (the message names its index and value) when it would
/// make more than [`MAX_CLASSES`] classes, or more classes than both the
/// number of examples and 256: such a label is corrupt, not a class number,
/// and would otherwise build a model with an output per imagined class.
///
/// ```
/// use backprop::data::classes_from_labels;
/// assert_eq!(classes_from_labels(&[0, 3, 1], 2), Ok(4));
/// assert_eq!(classes_from_labels(&[1, 0], 10), Ok(10));
/// assert_eq!(classes_from_labels(&[], 2), Ok(2));
/// let e = classes_from_labels(&[0, 1_000_000], 2).unwrap_err();
/// assert!(e.contains("label 1000000 at index 1"), "{e}");
/// ```
pub fn classes_from_labels(labels: &[usize], min: usize) -> Result<usize, String> {
    let Some((index, &max)) = labels.iter().enumerate().max_by_key(|&(_, &l)| l) else {
        return Ok(min);
    };
    let limit = MAX_CLASSES.min(labels.len().max(FEW_CLASSES));
    if max >= limit {
        return Err(format!(
            "label {max} at index {index} is not a plausible class number: it would make {} classes for {} \
             examples (the limit is the larger of the example count and {FEW_CLASSES}, at most {MAX_CLASSES})",
            max as u128 + 1,
            labels.len()
        ));
    }
    Ok((max + 1).max(min))
}

/// `(N, D, image shape)` of an image array's dimensions; refuses an empty set
/// or images with a zero side.
fn image_layout(dims: &[usize]) -> Result<(usize, usize, Option<[usize; 2]>), String> {
    let (n, dim, shape) = match *dims {
        [n, rows, cols] => {
            for (side, name) in [(rows, "height"), (cols, "width")] {
                if side == 0 {
                    return Err(format!(
                        "images of {name} 0 (dimensions {dims:?}); an image needs at least 1x1 pixels"
                    ));
                }
            }
            (n, rows * cols, Some([rows, cols]))
        }
        [n, d] => {
            if d == 0 {
                return Err(format!("inputs of 0 values each (dimensions {dims:?}); an example needs at least one"));
            }
            (n, d, None)
        }
        _ => {
            return Err(format!(
                "expected 3-D images [N, rows, cols] or 2-D inputs [N, D], found {} dimensions {dims:?}",
                dims.len()
            ))
        }
    };
    if n == 0 {
        return Err(format!("0 images (dimensions {dims:?}); a data set needs at least one"));
    }
    check_dataset_size(n, dim)?;
    Ok((n, dim, shape))
}

/// The labels of a 1-D label array.
fn label_values(array: IdxArray) -> Result<Vec<usize>, String> {
    if array.dims.len() != 1 {
        return Err(format!("expected 1-D labels [N], found {} dimensions {:?}", array.dims.len(), array.dims));
    }
    Ok(array.data.into_iter().map(usize::from).collect())
}

/// The training and test sets of an MNIST-style folder.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFolderSplit {
    /// The training set (`train-*` files).
    pub train: Dataset,
    /// The test set (`t10k-*` files).
    pub test: Dataset,
}

/// The four files of an MNIST-style folder: canonical name, dotted variant.
const MNIST_FILES: [[&str; 2]; 4] = [
    ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
    ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
    ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
];

/// Loads an MNIST-style folder: MNIST itself, Fashion-MNIST, or any folder
/// with the four files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`.
///
/// Each file may be plain or gzip (`.gz`), and may also be spelled with a dot
/// (`train-images.idx3-ubyte`). Both sets get the larger of their two class
/// counts, so they agree.
///
/// # Errors
/// [`Error::Io`] (not found) when the folder or one of the files is missing,
/// naming the folder, the file and the names tried; [`Error::Format`] when
/// `dir` is not a folder or the two sets have different input sizes; any
/// error of [`load_idx_pair`].
///
/// ```no_run
/// let split = backprop::data::load_mnist_dir(std::path::Path::new("data/mnist-10k"))?;
/// assert_eq!((split.train.len(), split.test.len()), (8004, 1996));
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn load_mnist_dir(dir: &Path) -> Result<ImageFolderSplit> {
    check_folder(dir)?;
    let train_images = find_file(dir, MNIST_FILES[0])?;
    let train_labels = find_file(dir, MNIST_FILES[1])?;
    let test_images = find_file(dir, MNIST_FILES[2])?;
    find_file(dir, MNIST_FILES[3])?;
    let mut train = load_idx_pair(&train_images, &train_labels)?;
    let mut test = load_mnist_test(dir)?;
    if train.input_dim() != test.input_dim() {
        return Err(Error::format(
            &test_images,
            format!(
                "test images have {} values each but the training images {} have {}",
                test.input_dim(),
                train_images.display(),
                train.input_dim()
            ),
        ));
    }
    let num_classes = train.num_classes.max(test.num_classes);
    train.num_classes = num_classes;
    test.num_classes = num_classes;
    Ok(ImageFolderSplit { train, test })
}

/// Like [`load_mnist_dir`] for a folder that may hold no test files (what
/// `train mnist` reads): the training split, and the test split when the
/// folder holds a `t10k-*` file (then both test files must be there).
///
/// # Errors
/// As [`load_mnist_dir`].
pub fn load_mnist_dir_optional_test(dir: &Path) -> Result<(Dataset, Option<Dataset>)> {
    check_folder(dir)?;
    if MNIST_FILES[2..].iter().any(|&names| find_file(dir, names).is_ok()) {
        let split = load_mnist_dir(dir)?;
        return Ok((split.train, Some(split.test)));
    }
    let images = find_file(dir, MNIST_FILES[0])?;
    let labels = find_file(dir, MNIST_FILES[1])?;
    Ok((load_idx_pair(&images, &labels)?, None))
}

/// Loads the test split (`t10k-images-idx3-ubyte[.gz]` and
/// `t10k-labels-idx1-ubyte[.gz]`, or the dotted spellings) of an MNIST-style
/// folder; the training files need not be there. What `eval`, `ood` and
/// `attack` read.
///
/// # Errors
/// [`Error::Io`] (not found) when the folder or a file is missing, naming
/// the names tried; [`Error::Format`] when `dir` is not a folder; any error
/// of [`load_idx_pair`].
///
/// ```no_run
/// let test = backprop::data::load_mnist_test(std::path::Path::new("data/fashion-mnist-1k"))?;
/// assert_eq!(test.len(), 1000);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn load_mnist_test(dir: &Path) -> Result<Dataset> {
    check_folder(dir)?;
    let images = find_file(dir, MNIST_FILES[2])?;
    let labels = find_file(dir, MNIST_FILES[3])?;
    load_idx_pair(&images, &labels)
}

/// Fails unless `dir` is an existing folder.
fn check_folder(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else if dir.exists() {
        Err(Error::format(dir, "is not a folder; expected a data folder holding the IDX files"))
    } else {
        Err(not_found(dir, "data folder does not exist".into()))
    }
}

/// The path of one of the four files in `dir`, under whichever accepted name exists.
fn find_file(dir: &Path, [name, dotted]: [&str; 2]) -> Result<PathBuf> {
    let tried = [name.to_string(), format!("{name}.gz"), dotted.to_string(), format!("{dotted}.gz")];
    tried
        .iter()
        .map(|t| dir.join(t))
        .find(|p| p.is_file())
        .ok_or_else(|| not_found(dir, format!("{name} not found in this data folder (tried {})", tried.join(", "))))
}

fn not_found(path: &Path, message: String) -> Error {
    Error::io(path, io::Error::new(io::ErrorKind::NotFound, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Dataset {
        let x = Tensor::from_vec((0..2 * n).map(|v| v as f32).collect(), &[n, 2]);
        Dataset::new(x, (0..n).map(|i| i % 3).collect(), 3).unwrap()
    }

    #[test]
    fn new_validates() {
        assert!(Dataset::new(Tensor::zeros(&[3]), vec![0; 3], 2).is_err());
        assert!(Dataset::new(Tensor::zeros(&[3, 1]), vec![0; 2], 2).is_err());
        assert!(Dataset::new(Tensor::zeros(&[3, 1]), vec![0; 3], 0).is_err());
        let e = Dataset::new(Tensor::zeros(&[3, 1]), vec![0, 2, 1], 2).unwrap_err();
        assert!(e.to_string().contains("label 2 at row 1"), "{e}");
    }

    #[test]
    fn split_is_a_seeded_partition_in_order() {
        let data = toy(10);
        let (train, valid) = data.split_validation(0.3, 5);
        assert_eq!((train.len(), valid.len()), (7, 3));
        let first_column = |d: &Dataset| d.inputs.data().iter().step_by(2).map(|&v| v as usize / 2).collect::<Vec<_>>();
        let (t, v) = (first_column(&train), first_column(&valid));
        assert!(t.windows(2).all(|w| w[0] < w[1]) && v.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(train.labels, t.iter().map(|i| i % 3).collect::<Vec<_>>());
        assert_eq!(data.split_validation(0.3, 5), (train, valid));
    }

    #[test]
    fn class_counts_are_bounded_by_the_examples() {
        assert_eq!(classes_from_labels(&[0, 255], 10), Ok(256));
        let e = classes_from_labels(&[0, 256], 10).unwrap_err();
        assert!(e.contains("label 256 at index 1") && e.contains("257 classes for 2 examples"), "{e}");
        let many: Vec<usize> = (0..1000).collect();
        assert_eq!(classes_from_labels(&many, 2), Ok(1000));
        let huge: Vec<usize> = (0..70_000).collect();
        assert!(classes_from_labels(&huge, 2).unwrap_err().contains("65536"));
        assert!(classes_from_labels(&[1 << 62, 0], 2).is_err());
    }

    #[test]
    fn split_edges() {
        let data = toy(4);
        let (train, valid) = data.split_validation(0.0, 1);
        assert_eq!(train, data);
        assert!(valid.is_empty());
        assert_eq!(valid.inputs.shape(), &[0, 2]);
        let (train, valid) = data.split_validation(1.0, 1);
        assert!(train.is_empty());
        assert_eq!(valid, data);
    }

    #[test]
    fn image_layouts() {
        assert_eq!(image_layout(&[5, 2, 3]), Ok((5, 6, Some([2, 3]))));
        assert_eq!(image_layout(&[5, 7]), Ok((5, 7, None)));
        assert!(image_layout(&[5]).is_err());
        assert!(image_layout(&[0, 65535, 65535]).unwrap_err().starts_with("0 images"));
        assert!(image_layout(&[3, 8, 0]).unwrap_err().starts_with("images of width 0"));
        assert!(image_layout(&[3, 0, 8]).unwrap_err().starts_with("images of height 0"));
        assert!(image_layout(&[3, 0]).unwrap_err().contains("0 values"));
        assert!(toy(2).with_image_shape([1, 3]).is_err());
    }
}
