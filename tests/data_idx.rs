//! IDX reading, dataset loading, validation splits and mini-batches.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use backprop::data::{batch_indices, load_idx_pair, load_mnist_dir, read_idx, Dataset};
use backprop::tensor::Rng;
use backprop::{Error, Tensor};
use flate2::write::GzEncoder;
use flate2::Compression;

/// A scratch folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("backprop-test-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Writes `bytes` to `name` in the folder and returns its path.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The bytes of an unsigned-byte IDX file.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Three 2x2 images and their labels.
const PIXELS: [u8; 12] = [0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0];
const LABELS: [u8; 3] = [7, 0, 3];

fn images_file() -> Vec<u8> {
    idx_bytes(&[3, 2, 2], &PIXELS)
}

fn labels_file() -> Vec<u8> {
    idx_bytes(&[3], &LABELS)
}

fn file_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

#[test]
fn reads_raw_and_gzip_idx_alike() {
    let dir = TempDir::new("raw-gzip");
    let raw = read_idx(&dir.write("a-idx3-ubyte", &images_file())).unwrap();
    // Gzip is detected by content: this name has no `.gz`.
    let gz = read_idx(&dir.write("b-idx3-ubyte", &gzip(&images_file()))).unwrap();
    assert_eq!(raw.dims, vec![3, 2, 2]);
    assert_eq!(raw.data, PIXELS.to_vec());
    assert_eq!(raw, gz);
}

#[test]
fn loads_a_good_pair_scaled_to_unit_range() {
    let dir = TempDir::new("good-pair");
    let images = dir.write("images.gz", &gzip(&images_file()));
    let labels = dir.write("labels", &labels_file());
    let data = load_idx_pair(&images, &labels).unwrap();
    assert_eq!(data.inputs.shape(), &[3, 4]);
    assert_eq!(data.len(), 3);
    assert_eq!(data.input_dim(), 4);
    assert_eq!(data.image_shape, Some([2, 2]));
    assert_eq!(data.labels, vec![7, 0, 3]);
    assert_eq!(data.num_classes, 10);
    let expected: Vec<f32> = PIXELS.iter().map(|&p| p as f32 / 255.0).collect();
    assert_eq!(data.inputs.data(), expected.as_slice());
    assert_eq!(data.inputs.data()[0], 0.0);
    assert_eq!(data.inputs.data()[1], 1.0);
    assert!((data.inputs.data()[2] - 0.2).abs() < 1e-7);
}

#[test]
fn two_dimensional_images_and_large_labels() {
    let dir = TempDir::new("flat");
    let images = dir.write("images", &idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]));
    let labels = dir.write("labels", &idx_bytes(&[2], &[0, 14]));
    let data = load_idx_pair(&images, &labels).unwrap();
    assert_eq!(data.inputs.shape(), &[2, 3]);
    assert_eq!(data.image_shape, None);
    assert_eq!(data.num_classes, 15);
}

#[test]
fn truncated_file_is_reported() {
    let dir = TempDir::new("truncated");
    let mut bytes = images_file();
    bytes.truncate(bytes.len() - 5);
    for (name, content) in [("short-raw", bytes.clone()), ("short-gz", gzip(&bytes))] {
        let path = dir.write(name, &content);
        let msg = read_idx(&path).unwrap_err().to_string();
        assert!(msg.contains("truncated"), "{msg}");
        assert!(msg.contains("expected 12 bytes of data after the header, found 7"), "{msg}");
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn trailing_bytes_are_reported() {
    let dir = TempDir::new("trailing");
    let mut bytes = images_file();
    bytes.extend_from_slice(&[9, 9]);
    let path = dir.write("long", &bytes);
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(msg.contains("trailing") && msg.contains("long"), "{msg}");
}

#[test]
fn bad_magic_is_reported() {
    let dir = TempDir::new("magic");
    let path = dir.write("notes.txt", b"PK\x03\x04 this is a zip, not IDX");
    let err = read_idx(&path).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("magic") && msg.contains("notes.txt"), "{msg}");
}

#[test]
fn unsupported_type_and_dimensions_are_reported() {
    let dir = TempDir::new("type");
    let mut float = idx_bytes(&[1], &[0, 0, 0, 0]);
    float[2] = 0x0D;
    let msg = read_idx(&dir.write("floats", &float)).unwrap_err().to_string();
    assert!(msg.contains("0x0d"), "{msg}");
    let msg = read_idx(&dir.write("five-d", &idx_bytes(&[1, 1, 1, 1, 1], &[0]))).unwrap_err().to_string();
    assert!(msg.contains("dimensions 5"), "{msg}");
}

#[test]
fn garbled_gzip_is_an_error_not_a_panic() {
    let dir = TempDir::new("garbled");
    let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
    bytes.extend((0..200u32).map(|i| (i * 7919 % 251) as u8));
    let path = dir.write("garbled.gz", &bytes);
    let err = read_idx(&path).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("garbled.gz"), "{err}");

    // A valid stream cut short is an error too.
    let mut cut = gzip(&images_file());
    cut.truncate(cut.len() / 2);
    let err = read_idx(&dir.write("cut.gz", &cut)).unwrap_err();
    assert!(err.to_string().contains("cut.gz"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new("missing-file");
    let err = read_idx(&dir.0.join("nope")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn label_count_mismatch_names_both_counts_and_files() {
    let dir = TempDir::new("mismatch");
    let images = dir.write("imgs", &images_file());
    let labels = dir.write("lbls", &idx_bytes(&[2], &[1, 2]));
    let msg = load_idx_pair(&images, &labels).unwrap_err().to_string();
    assert!(msg.contains("3 images") && msg.contains("2 labels"), "{msg}");
    assert!(msg.contains("imgs") && msg.contains("lbls"), "{msg}");
}

#[test]
fn wrong_dimensions_for_images_or_labels() {
    let dir = TempDir::new("dims");
    let flat = dir.write("flat", &idx_bytes(&[3], &LABELS));
    let labels = dir.write("labels", &labels_file());
    let images = dir.write("images", &images_file());
    let msg = load_idx_pair(&flat, &labels).unwrap_err().to_string();
    assert!(msg.contains("flat") && msg.contains("3-D"), "{msg}");
    let msg = load_idx_pair(&images, &images).unwrap_err().to_string();
    assert!(msg.contains("1-D labels"), "{msg}");
}

#[test]
fn mnist_dir_accepts_plain_gzip_and_dotted_names() {
    let dir = TempDir::new("mnist-dir");
    dir.write("train-images-idx3-ubyte.gz", &gzip(&images_file()));
    dir.write("train-labels.idx1-ubyte", &labels_file());
    dir.write("t10k-images.idx3-ubyte.gz", &gzip(&idx_bytes(&[1, 2, 2], &[1, 2, 3, 4])));
    dir.write("t10k-labels-idx1-ubyte", &idx_bytes(&[1], &[5]));
    let split = load_mnist_dir(&dir.0).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (3, 1));
    assert_eq!(split.test.labels, vec![5]);
    assert_eq!(split.train.num_classes, split.test.num_classes);
}

#[test]
fn mnist_dir_rejects_different_input_sizes() {
    let dir = TempDir::new("mnist-dims");
    dir.write("train-images-idx3-ubyte", &images_file());
    dir.write("train-labels-idx1-ubyte", &labels_file());
    dir.write("t10k-images-idx3-ubyte", &idx_bytes(&[1, 1, 3], &[1, 2, 3]));
    dir.write("t10k-labels-idx1-ubyte", &idx_bytes(&[1], &[5]));
    let msg = load_mnist_dir(&dir.0).unwrap_err().to_string();
    assert!(msg.contains("t10k-images-idx3-ubyte"), "{msg}");
}

#[test]
fn missing_folder_is_reported() {
    let path = std::env::temp_dir().join(format!("backprop-test-{}-no-such-folder", std::process::id()));
    let err = load_mnist_dir(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("does not exist") && msg.contains("no-such-folder"), "{msg}");
}

#[test]
fn missing_file_in_folder_is_named() {
    let dir = TempDir::new("mnist-missing");
    dir.write("train-images-idx3-ubyte", &images_file());
    dir.write("train-labels-idx1-ubyte", &labels_file());
    dir.write("t10k-images-idx3-ubyte", &images_file());
    let msg = load_mnist_dir(&dir.0).unwrap_err().to_string();
    assert!(msg.contains("t10k-labels-idx1-ubyte"), "{msg}");
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz") && msg.contains("t10k-labels.idx1-ubyte"), "{msg}");
    assert!(msg.contains(file_name(&dir.0)), "{msg}");
}

#[test]
fn batch_indices_cover_everything_once_and_are_reproducible() {
    let (n, size) = (103, 10);
    let a = batch_indices(n, size, Some(&mut Rng::new(1)));
    assert_eq!(a.len(), 11);
    assert!(a[..10].iter().all(|b| b.len() == size));
    assert_eq!(a[10].len(), 3);
    let flat: Vec<usize> = a.concat();
    assert_eq!(flat.len(), n);
    assert_eq!(flat.iter().copied().collect::<HashSet<_>>(), (0..n).collect::<HashSet<_>>());
    assert_ne!(flat, (0..n).collect::<Vec<_>>(), "shuffled order should differ from identity");

    assert_eq!(a, batch_indices(n, size, Some(&mut Rng::new(1))));
    assert_ne!(a, batch_indices(n, size, Some(&mut Rng::new(2))));

    let ordered = batch_indices(n, size, None);
    assert_eq!(ordered.concat(), (0..n).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "batch_size")]
fn batch_size_zero_panics() {
    batch_indices(10, 0, None);
}

fn toy_dataset(n: usize) -> Dataset {
    let inputs = Tensor::from_vec((0..n * 2).map(|v| v as f32).collect(), &[n, 2]);
    Dataset::new(inputs, (0..n).map(|i| i % 4).collect(), 4).unwrap()
}

#[test]
fn split_validation_sizes_and_seeds() {
    let data = toy_dataset(50);
    let (train, valid) = data.split_validation(0.1, 3);
    assert_eq!((train.len(), valid.len()), (45, 5));
    assert_eq!(valid.inputs.shape(), &[5, 2]);
    assert_eq!(train.num_classes, 4);
    assert_eq!(data.split_validation(0.1, 3), (train.clone(), valid.clone()));
    assert_ne!(data.split_validation(0.1, 4).1, valid);

    // Every example lands in exactly one part, with its own label.
    let mut rows: Vec<usize> =
        train.inputs.data().iter().chain(valid.inputs.data()).step_by(2).map(|&v| v as usize / 2).collect();
    let labels: Vec<usize> = train.labels.iter().chain(&valid.labels).copied().collect();
    assert!(rows.iter().zip(&labels).all(|(r, l)| r % 4 == *l));
    rows.sort_unstable();
    assert_eq!(rows, (0..50).collect::<Vec<_>>());

    let (train, valid) = data.split_validation(0.0, 3);
    assert_eq!(train, data);
    assert!(valid.is_empty());
    assert_eq!(valid.input_dim(), 2);
    let (train, valid) = data.split_validation(0.333, 3);
    assert_eq!((train.len(), valid.len()), (33, 17));
}

#[test]
fn subset_and_batch_pick_rows() {
    let data = toy_dataset(5);
    let (x, y) = data.batch(&[4, 1]);
    assert_eq!(x.data(), &[8.0, 9.0, 2.0, 3.0]);
    assert_eq!(y, vec![0, 1]);
    let sub = data.subset(&[3]);
    assert_eq!(sub.len(), 1);
    assert_eq!(sub.labels, vec![3]);
}

#[test]
fn loads_bundled_mnist_10k() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k");
    let split = load_mnist_dir(&dir).unwrap();
    assert_eq!(split.train.len(), 8004);
    assert_eq!(split.test.len(), 1996);
    for set in [&split.train, &split.test] {
        assert_eq!(set.input_dim(), 784);
        assert_eq!(set.num_classes, 10);
        assert_eq!(set.image_shape, Some([28, 28]));
        assert!(set.inputs.data().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(set.labels.iter().all(|&l| l < 10));
        assert_eq!(set.labels.iter().copied().collect::<HashSet<_>>().len(), 10);
    }
}
