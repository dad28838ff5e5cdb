//! Data sets: IDX files, in-memory datasets, seeded mini-batches.
//!
//! - [`read_idx`] reads one IDX file (the MNIST format), plain or gzip.
//! - [`load_idx_pair`] turns an image file and a label file into a
//!   [`Dataset`]; [`load_mnist_dir`] loads the train and test sets of an
//!   MNIST-style folder into an [`ImageFolderSplit`].
//! - [`Dataset`] holds `[N, D]` inputs with their labels, and cuts subsets,
//!   mini-batches and seeded validation splits.
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

pub mod batches;
pub mod dataset;
pub mod idx;
pub mod supervised;

pub use batches::batch_indices;
pub use dataset::{load_idx_pair, load_mnist_dir, Dataset, ImageFolderSplit};
pub use idx::{read_idx, IdxArray};
pub use supervised::{Supervised, Targets};
