//! Data sets: IDX files, in-memory datasets, seeded mini-batches.
//!
//! - [`read_idx`] reads one IDX file (the MNIST format), plain or gzip.
//! - [`load_idx_pair`] turns an image file and a label file into a
//!   [`Dataset`]; [`load_mnist_dir`] loads the train and test sets of an
//!   MNIST-style folder into an [`ImageFolderSplit`].
//! - [`Dataset`] holds `[N, D]` inputs with their labels, and cuts subsets,
//!   mini-batches and seeded validation splits.
//! - [`read_csv`] reads a CSV table; [`RegressionData`] holds real-valued
//!   inputs and targets with the [`Standardizer`] fitted on the training split;
//!   [`window_series`] turns a time series into (window, next value) samples.
//! - [`load_hdf5_images`] (cat/non-cat style `.h5` files) and
//!   [`load_image_folder`] (one subfolder of PNG/JPEG per class) load
//!   [`LabelledImages`]: colour images with class names.
//! - [`Augmented`] serves batches of images randomly shifted and flipped
//!   ([`Augment`]), for training.
//! - [`batch_indices`] lists the mini-batches of an epoch, shuffled by a
//!   seeded [`Rng`](crate::tensor::Rng).
//!
//! ```
//! use backprop::data::{batch_indices, Dataset};
//! use backprop::{tensor::Rng, Tensor};
//!
//! let inputs = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[6, 2]);
//! let data = Dataset::new(inputs, vec![0, 1, 2, 0, 1, 2], 3)?;
//! let (train, valid) = data.split_validation(0.5, 7);
//! assert_eq!((train.len(), valid.len()), (3, 3));
//!
//! let mut rng = Rng::new(42);
//! for ids in batch_indices(train.len(), 2, Some(&mut rng)) {
//!     let (x, y) = train.batch(&ids);
//!     assert_eq!(x.shape(), &[ids.len(), 2]);
//!     assert_eq!(y.len(), ids.len());
//! }
//! # Ok::<(), backprop::Error>(())
//! ```

pub mod augment;
pub mod batches;
mod classes;
pub use classes::parse_classes;
pub mod csv;
pub mod dataset;
mod exif;
pub use exif::jpeg_with_orientation;
pub mod hdf5;
pub mod idx;
pub mod images;
pub mod regression;
pub mod series;
pub mod supervised;
pub mod text;
pub mod views;

pub use augment::{Augment, Augmented};
pub use batches::{batch_indices, join_short_last, validation_split_indices};
pub use csv::{parse_number, quote_field, read_csv, CsvTable};
pub use dataset::{
    check_dataset_size, classes_from_labels, load_idx_images, load_idx_pair, load_mnist_dir,
    load_mnist_dir_optional_test, load_mnist_test, load_mnist_train_images, Dataset, ImageFolderSplit, MAX_CLASSES,
    MAX_DATASET_VALUES,
};
pub use hdf5::load_hdf5_images;
pub use idx::{read_idx, IdxArray};
pub use images::{decode_image, load_image_file, load_image_folder, ImageShape, LabelledImages, MAX_IMAGE_PIXELS};
pub use regression::{RegressionData, Standardizer};
pub use series::{series_windows, window_series};
pub use supervised::{Supervised, Targets};
pub use text::{random_windows, CharTokenizer, TextData};
