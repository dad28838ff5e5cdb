//! Labelled images from an HDF5 file laid out like the cat/non-cat course
//! files (`train_catvnoncat.h5`, `test_catvnoncat.h5`).
//!
//! Read with the pure-Rust `hdf5-reader` crate: no C library needed.

use std::fs;
use std::path::Path;

use hdf5_reader::{ByteOrder, Datatype, Hdf5File, OpenOptions};

use super::{check_dataset_size, classes_from_labels, Dataset, ImageShape, LabelledImages, MAX_CLASSES};
use crate::{Error, Result, Tensor};

/// Bytes a gzip stream can expand to per compressed byte (deflate's limit is
/// about 1032); bounds what a (possibly corrupt) file may make us allocate.
const MAX_EXPANSION: usize = 1100;

/// Loads images and labels from an HDF5 file holding one pair of datasets
/// `PREFIX_x` and `PREFIX_y` (e.g. `train_set_x` / `train_set_y`), and
/// optionally `list_classes`.
///
/// - `PREFIX_x`: unsigned 8-bit pixels `[N, height, width, channels]`
///   (channels 1 or 3) or `[N, height, width]` (grey), scaled to `[0, 1]`;
/// - `PREFIX_y`: integer (or whole-valued float) labels `[N]`, `[1, N]` or `[N, 1]`;
/// - `list_classes`: the class names as strings (`[b'non-cat', b'cat']`);
///   without it the classes are named `0`, `1`, ... (at least two; the
///   labels must be class numbers, see [`classes_from_labels`]).
///
/// Contiguous, compact and chunked (gzip/shuffle-filtered) datasets are read.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the
/// file when it is not HDF5, has no (or more than one) `*_x`/`*_y` pair, the
/// datasets have other types or shapes, hold no image or an image with a
/// zero side, declare more bytes than they hold, the counts differ, a label
/// has no class name or (without `list_classes`) is no plausible class number.
///
/// ```no_run
/// let train = backprop::data::load_hdf5_images("datasets/train_catvnoncat.h5".as_ref())?;
/// assert_eq!(train.shape.to_string(), "64x64x3");
/// assert_eq!(train.classes, ["non-cat", "cat"]);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn load_hdf5_images(path: &Path) -> Result<LabelledImages> {
    let fail = |message: String| Error::format(path, one_line(&message));
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let budget = bytes.len().saturating_mul(MAX_EXPANSION).max(1 << 20);
    let options = OpenOptions::default().with_max_read_bytes(budget);
    let file =
        Hdf5File::from_vec_with_options(bytes, options).map_err(|e| fail(format!("not a readable HDF5 file: {e}")))?;
    let root = file.root_group().map_err(|e| fail(format!("cannot read the root group: {e}")))?;
    let datasets = root.datasets().map_err(|e| fail(format!("cannot list the datasets: {e}")))?;
    let names: Vec<String> = datasets.iter().map(|d| d.name().trim_start_matches('/').to_string()).collect();
    let prefix = find_pair(&names).map_err(fail)?;
    let get = |suffix: &str| {
        let name = format!("{prefix}{suffix}");
        let index = names.iter().position(|n| *n == name).expect("find_pair checked both names");
        (name, &datasets[index])
    };

    let (x_name, x) = get("_x");
    let (n, shape) = image_layout(&x_name, x.shape()).map_err(&fail)?;
    if !matches!(x.dtype(), Datatype::FixedPoint { size: 1, signed: false, .. }) {
        return Err(fail(format!("dataset {x_name} holds {:?}; expected unsigned 8-bit pixels", x.dtype())));
    }
    check_budget(&x_name, n.saturating_mul(shape.len()), budget).map_err(&fail)?;
    check_dataset_size(n, shape.len()).map_err(|m| fail(format!("dataset {x_name}: {m}")))?;

    let (y_name, y) = get("_y");
    let label_count = label_count(&y_name, y.shape()).map_err(&fail)?;
    if label_count != n {
        return Err(fail(format!(
            "dataset {x_name} holds {n} images but {y_name} holds {label_count} labels; the counts must match"
        )));
    }
    let labels = read_labels(&y_name, y, budget).map_err(&fail)?;
    if labels.len() != n {
        return Err(fail(format!("dataset {y_name} declares {n} labels but holds {}", labels.len())));
    }
    let classes = match datasets.iter().zip(&names).find(|(_, name)| *name == "list_classes") {
        Some((d, _)) => class_names(d).map_err(&fail)?,
        None => {
            let count = classes_from_labels(&labels, 2).map_err(|m| fail(format!("{y_name}: {m}")))?;
            (0..count).map(|c| c.to_string()).collect::<Vec<_>>()
        }
    };
    if let Some((i, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes.len()) {
        return Err(fail(format!(
            "label {label} at index {i} of {y_name} has no class name in list_classes ({} classes)",
            classes.len()
        )));
    }
    let pixels = x.read_raw_bytes().map_err(|e| fail(read_error(&x_name, &e)))?;
    if pixels.len() != n * shape.len() {
        return Err(fail(format!(
            "dataset {x_name} declares {n} images of {shape} ({} bytes) but holds {} bytes",
            n * shape.len(),
            pixels.len()
        )));
    }
    let inputs = Tensor::try_from_vec(pixels.iter().map(|&b| f32::from(b) / 255.0).collect(), &[n, shape.len()])?;
    let data = Dataset::new(inputs, labels, classes.len())?;
    LabelledImages::new(data, classes, shape)
}

/// The class names of `list_classes`: between 2 and [`MAX_CLASSES`] distinct strings.
fn class_names(d: &hdf5_reader::Dataset) -> Result<Vec<String>, String> {
    let count = d.shape().iter().try_fold(1u64, |acc, &v| acc.checked_mul(v)).unwrap_or(u64::MAX);
    if !(2..=MAX_CLASSES as u64).contains(&count) {
        return Err(format!("list_classes names {count} class(es); a classifier needs from 2 to {MAX_CLASSES}"));
    }
    let names = d.read_strings().map_err(|e| format!("cannot read list_classes as strings: {e}"))?;
    if names.len() as u64 != count {
        return Err(format!("list_classes declares {count} names but holds {}", names.len()));
    }
    let names: Vec<String> =
        names.into_iter().map(|s| s.trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string()).collect();
    if let Some((i, name)) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
        return Err(format!(
            "list_classes names '{name}' twice (entries {} and {i})",
            names[..i].iter().position(|n| n == name).unwrap_or(0)
        ));
    }
    Ok(names)
}

/// The one prefix `P` with datasets `P_x` and `P_y`.
fn find_pair(names: &[String]) -> Result<String, String> {
    let prefixes: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix("_x"))
        .filter(|p| names.iter().any(|n| *n == format!("{p}_y")))
        .collect();
    match prefixes.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(format!(
            "no pair of datasets PREFIX_x (images) and PREFIX_y (labels), such as train_set_x and train_set_y; \
             datasets found: {}",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        )),
        many => Err(format!(
            "holds several image/label dataset pairs ({}); expected exactly one",
            many.iter().map(|p| format!("{p}_x/{p}_y")).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// `(N, shape)` of an image dataset's dimensions.
fn image_layout(name: &str, dims: &[u64]) -> Result<(usize, ImageShape), String> {
    let d: Vec<usize> = dims.iter().map(|&v| usize::try_from(v).unwrap_or(usize::MAX)).collect();
    let (n, height, width, channels) = match d[..] {
        [n, h, w] => (n, h, w, 1),
        [n, h, w, c] if c == 1 || c == 3 => (n, h, w, c),
        _ => {
            return Err(format!(
                "dataset {name} has shape {dims:?}; expected images [N, height, width, channels] with 1 or 3 \
                 channels, or [N, height, width]"
            ))
        }
    };
    if n == 0 {
        return Err(format!("dataset {name} has shape {dims:?}: 0 images"));
    }
    for (side, what) in [(height, "height"), (width, "width")] {
        if side == 0 {
            return Err(format!("dataset {name} has shape {dims:?}: images of {what} 0"));
        }
    }
    if [height, width, channels].iter().try_fold(n, |acc, &d| acc.checked_mul(d)).is_none() {
        return Err(format!("dataset {name} has shape {dims:?}: too large (corrupt?)"));
    }
    Ok((n, ImageShape { height, width, channels }))
}

/// The number of labels of a label dataset of shape `[N]`, `[1, N]` or `[N, 1]`.
fn label_count(name: &str, dims: &[u64]) -> Result<usize, String> {
    match *dims {
        [n] | [1, n] | [n, 1] => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(format!("dataset {name} has shape {dims:?}; expected labels [N], [1, N] or [N, 1]")),
    }
}

/// Fails when a dataset of `bytes` bytes is more than the file could hold.
fn check_budget(name: &str, bytes: usize, budget: usize) -> Result<(), String> {
    if bytes > budget {
        return Err(format!("dataset {name} claims {bytes} bytes, more than this file can hold (corrupt?)"));
    }
    Ok(())
}

/// The labels of an integer or whole-valued float dataset, each >= 0.
fn read_labels(name: &str, y: &hdf5_reader::Dataset, budget: usize) -> Result<Vec<usize>, String> {
    let (size, kind) = match *y.dtype() {
        Datatype::FixedPoint { size, signed, byte_order } => (size, (Some(signed), byte_order)),
        Datatype::FloatingPoint { size, byte_order } if size == 4 || size == 8 => (size, (None, byte_order)),
        ref other => return Err(format!("dataset {name} holds {other:?}; expected integer class labels")),
    };
    let size = usize::from(size);
    if !(1..=8).contains(&size) {
        return Err(format!("dataset {name} has {size}-byte integers; expected at most 8 bytes"));
    }
    let count = y.shape().iter().try_fold(1u64, |acc, &v| acc.checked_mul(v)).unwrap_or(u64::MAX);
    check_budget(name, usize::try_from(count).unwrap_or(usize::MAX).saturating_mul(size), budget)?;
    let raw = y.read_raw_bytes().map_err(|e| read_error(name, &e))?;
    let mut labels = Vec::with_capacity(raw.len() / size);
    for (i, bytes) in raw.chunks_exact(size).enumerate() {
        let value = decode_label(bytes, kind);
        match value {
            Some(v) => labels.push(v),
            None => return Err(format!("label at index {i} of {name} is not a class number (a whole number >= 0)")),
        }
    }
    Ok(labels)
}

/// One label: an integer (`Some(signed)`) or a float (`None`) in the given byte order.
fn decode_label(bytes: &[u8], (signed, order): (Option<bool>, ByteOrder)) -> Option<usize> {
    let mut le = [0u8; 8];
    le[..bytes.len()].copy_from_slice(bytes);
    if order == ByteOrder::BigEndian {
        le[..bytes.len()].reverse();
    }
    let bits = u64::from_le_bytes(le);
    match signed {
        Some(true) => {
            let shift = 64 - 8 * bytes.len() as u32;
            let value = ((bits << shift) as i64) >> shift;
            usize::try_from(value).ok()
        }
        Some(false) => usize::try_from(bits).ok(),
        None => {
            let value = if bytes.len() == 4 { f64::from(f32::from_bits(bits as u32)) } else { f64::from_bits(bits) };
            (value >= 0.0 && value.fract() == 0.0 && value < 1e15).then_some(value as usize)
        }
    }
}

/// `cannot read dataset NAME: ...` without the reader's own `NAME: ` prefix.
fn read_error(name: &str, e: &hdf5_reader::error::Error) -> String {
    let text = e.to_string();
    let text = text.strip_prefix(&format!("{name}: ")).unwrap_or(&text);
    format!("cannot read dataset {name}: {text}")
}

/// The message with any line breaks turned into spaces.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_one_pair() {
        assert_eq!(find_pair(&names(&["list_classes", "train_set_x", "train_set_y"])).unwrap(), "train_set");
        assert!(find_pair(&names(&["a_x", "b_y"])).unwrap_err().contains("datasets found: a_x, b_y"));
        assert!(find_pair(&[]).unwrap_err().contains("found: none"));
        assert!(find_pair(&names(&["a_x", "a_y", "b_x", "b_y"])).unwrap_err().contains("several"));
    }

    #[test]
    fn layouts() {
        let (n, s) = image_layout("x", &[5, 64, 64, 3]).unwrap();
        assert_eq!((n, s), (5, ImageShape::rgb(64)));
        assert_eq!(image_layout("x", &[2, 4, 6]).unwrap().1.channels, 1);
        assert!(image_layout("x", &[2, 4, 6, 2]).is_err());
        assert!(image_layout("x", &[0, 4, 6, 3]).is_err());
        assert_eq!(label_count("y", &[1, 7]), Ok(7));
        assert_eq!(label_count("y", &[7, 1]), Ok(7));
        assert!(label_count("y", &[2, 7]).is_err());
    }

    #[test]
    fn decodes_labels_of_every_width_and_order() {
        let le = ByteOrder::LittleEndian;
        assert_eq!(decode_label(&5i64.to_le_bytes(), (Some(true), le)), Some(5));
        assert_eq!(decode_label(&(-1i16).to_le_bytes(), (Some(true), le)), None);
        assert_eq!(decode_label(&[200], (Some(false), le)), Some(200));
        assert_eq!(decode_label(&3u32.to_be_bytes(), (Some(false), ByteOrder::BigEndian)), Some(3));
        assert_eq!(decode_label(&1.0f32.to_le_bytes(), (None, le)), Some(1));
        assert_eq!(decode_label(&0.5f64.to_le_bytes(), (None, le)), None);
    }
}
