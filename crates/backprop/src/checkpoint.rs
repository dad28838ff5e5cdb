//! Checkpoints: safetensors files with parameter names, plus metadata that
//! describes the model so the file alone rebuilds it.
//!
//! Saving is atomic: the bytes go to a temporary file in the same folder,
//! which is then renamed over the target, so an interrupted save never
//! leaves a half-written checkpoint in place of a good one; a symbolic link
//! is followed, so its target is rewritten and the link stays
//! ([`write_atomically`]).
//!
//! Loading refuses a file whose tensors hold NaN or infinite values, naming
//! the tensor: no command computes with such weights.

use crate::autograd::Param;
use crate::{Error, Result, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Metadata key naming the kind of model (`"mlp"`, ...).
pub const KIND_KEY: &str = "backprop.kind";
/// Metadata key holding the model's configuration as JSON.
pub const CONFIG_KEY: &str = "backprop.config";
/// Metadata key with the crate version that wrote the file.
pub const VERSION_KEY: &str = "backprop.version";

/// A loaded checkpoint: named tensors and string metadata.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Where it was read from.
    pub path: PathBuf,
    /// Tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// The metadata of the safetensors header.
    pub metadata: BTreeMap<String, String>,
}

/// Writes `params` and `metadata` to `path` atomically (temp file + rename).
///
/// ```
/// use backprop::{checkpoint, Param, Tensor};
/// let dir = std::env::temp_dir().join(format!("bp-doc-ckpt-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("m.safetensors");
/// let w = Param::new(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
/// checkpoint::save(&path, &[("w".into(), w)], &[("note".into(), "hi".into())].into()).unwrap();
/// let c = checkpoint::Checkpoint::load(&path).unwrap();
/// assert_eq!(c.tensors["w"].data(), &[1.0, 2.0]);
/// assert_eq!(c.metadata["note"], "hi");
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
pub fn save(path: &Path, params: &[(String, Param)], metadata: &BTreeMap<String, String>) -> Result<()> {
    let values: Vec<(String, Tensor)> = params.iter().map(|(n, p)| (n.clone(), p.value())).collect();
    let bytes: Vec<Vec<u8>> =
        values.iter().map(|(_, t)| t.data().iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(values.len());
    for ((name, t), b) in values.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, t.shape().to_vec(), b)
            .map_err(|e| Error::format(path, format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let mut meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    meta.insert(VERSION_KEY.into(), env!("CARGO_PKG_VERSION").into());
    let buffer = safetensors::serialize(views, &Some(meta)).map_err(|e| Error::format(path, e.to_string()))?;
    write_atomically(path, &buffer)
}

/// Writes `bytes` to `path` atomically: to a temporary file in the same
/// folder, synced, then renamed over the target, so a reader never sees a
/// half-written file and a failed write leaves the old file as it was.
///
/// A symbolic link is followed (through any chain of links, relative or
/// absolute): the file it points to is replaced and the link stays a link.
/// An existing target keeps its permissions. The one writer of every file
/// backprop produces (checkpoints, histories, plots, predictions).
///
/// # Errors
/// [`Error::Io`] naming the path when the folder cannot be made, the
/// temporary file cannot be written or renamed, or a link cannot be read
/// (or loops); [`Error::InvalidArgument`] when the path names no file.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("bp-doc-atomic-{}", std::process::id()));
/// let path = dir.join("out.txt");
/// backprop::checkpoint::write_atomically(&path, b"hello").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = follow_links(path)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let file_name =
        target.file_name().ok_or_else(|| Error::invalid("output path", format!("{} names no file", path.display())))?;
    let tmp = target.with_file_name(format!(".{}.{}.tmp", file_name.to_string_lossy(), std::process::id()));
    let permissions = std::fs::metadata(&target).ok().map(|m| m.permissions());
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Some(p) = permissions {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    result.map_err(|e| {
        std::fs::remove_file(&tmp).ok();
        Error::io(path, e)
    })
}

/// The most symbolic links followed in a chain (Linux's limit is 40).
const MAX_LINKS: usize = 40;

/// `path` with every symbolic link at its end resolved (a relative link is
/// relative to the folder holding it); `path` itself when it is no link or
/// does not exist.
fn follow_links(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&current).map_err(|e| Error::io(&current, e))?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    let e = std::io::Error::other(format!("more than {MAX_LINKS} symbolic links in a chain"));
    Err(Error::io(path, e))
}

/// What a safetensors parse error means, in words (the crate's `Debug`
/// names such as `HeaderTooLarge` say little to a user who passed a text file).
fn explain_safetensors_error(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall => "shorter than the 8-byte header length it starts with".into(),
        E::HeaderTooLarge | E::InvalidHeaderLength => {
            "its first 8 bytes do not give a plausible header length (is it a safetensors file at all?)".into()
        }
        E::InvalidHeader | E::InvalidHeaderStart | E::InvalidHeaderDeserialization | E::JsonError(_) => {
            "its header is not the JSON object safetensors starts with".into()
        }
        E::MetadataIncompleteBuffer => {
            "the tensor data is shorter or longer than the header declares (truncated?)".into()
        }
        E::TensorInvalidInfo | E::ValidationOverflow | E::InvalidTensorView(..) => {
            "a tensor's dtype, shape and byte range in the header do not agree".into()
        }
        E::InvalidOffset(name) => format!("the byte range of tensor {name} in the header is not valid"),
        E::TensorNotFound(name) => format!("tensor {name} is listed but not found"),
        other => other.to_string(),
    }
}

impl Checkpoint {
    /// Reads a safetensors file; only `f32` tensors are accepted.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming
    /// the file when it is not valid safetensors or a tensor has another
    /// dtype; [`Error::Checkpoint`] naming the tensor, the index and the
    /// count when a tensor holds NaN or infinite values.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let invalid =
            |e| Error::format(path, format!("not a valid safetensors file: {}", explain_safetensors_error(&e)));
        let st = SafeTensors::deserialize(&bytes).map_err(invalid)?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(invalid)?;
        let metadata: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(Error::format(
                    path,
                    format!("tensor {name} has dtype {:?}; only F32 is supported", view.dtype()),
                ));
            }
            let data: Vec<f32> =
                view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                let count = data.iter().filter(|v| !v.is_finite()).count();
                return Err(Error::Checkpoint {
                    path: path.to_path_buf(),
                    message: format!(
                        "tensor '{name}' holds {} at index {i} ({count} non-finite of {} values); the weights are \
                         unusable (a diverged run or a corrupt file)",
                        data[i],
                        data.len()
                    ),
                });
            }
            tensors.insert(
                name,
                Tensor::try_from_vec(data, view.shape()).map_err(|e| Error::format(path, e.to_string()))?,
            );
        }
        Ok(Checkpoint { path: path.to_path_buf(), tensors, metadata })
    }

    /// Writes this checkpoint's tensors and metadata to `path` atomically
    /// (see [`save`]), e.g. to store a new metadata entry in a loaded file:
    /// `backprop calibrate` adds its threshold so.
    pub fn save_to(&self, path: &Path) -> Result<()> {
        let params: Vec<(String, Param)> =
            self.tensors.iter().map(|(n, t)| (n.clone(), Param::new(t.clone()))).collect();
        save(path, &params, &self.metadata)
    }

    /// A metadata value, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| Error::Checkpoint {
            path: self.path.clone(),
            message: format!("metadata has no '{key}' entry (was it written by backprop?)"),
        })
    }

    /// Checks that the file holds a model of kind `kind` (its [`KIND_KEY`]
    /// entry); otherwise the error names the kind it holds and what was
    /// wanted: `holds a model of kind 'gan', not a GPT` (`what` = "a GPT").
    pub fn require_kind(&self, kind: &str, what: &str) -> Result<()> {
        let found = self.require(KIND_KEY)?;
        if found == kind {
            return Ok(());
        }
        Err(Error::Checkpoint {
            path: self.path.clone(),
            message: format!("holds a model of kind '{found}', not {what}"),
        })
    }

    /// Checks that the file holds exactly the tensors `expected` names, with
    /// those shapes (besides an out-of-distribution detector's `ood.*`
    /// tensors); the error names the first tensor that is missing, has
    /// another shape, or does not belong.
    pub fn check_shapes(&self, expected: &[(String, Vec<usize>)]) -> Result<()> {
        let fail = |message: String| Error::Checkpoint { path: self.path.clone(), message };
        for (name, want) in expected {
            let t =
                self.tensors.get(name).ok_or_else(|| fail(format!("has no tensor '{name}' that the model needs")))?;
            if t.shape() != want.as_slice() {
                return Err(fail(format!("tensor '{name}' has shape {:?} but the model needs {want:?}", t.shape())));
            }
        }
        // Tensors under `ood.` hold an out-of-distribution detector stored beside the model.
        let foreign = |k: &str| !k.starts_with(crate::ood::OOD_TENSOR_PREFIX) && !expected.iter().any(|(n, _)| n == k);
        if let Some(extra) = self.tensors.keys().find(|k| foreign(k)) {
            return Err(fail(format!("tensor '{extra}' does not belong to the model")));
        }
        Ok(())
    }

    /// Copies the stored tensors into `params` after [`Checkpoint::check_shapes`].
    pub fn restore_into(&self, params: &[(String, Param)]) -> Result<()> {
        let expected: Vec<(String, Vec<usize>)> = params.iter().map(|(n, p)| (n.clone(), p.shape())).collect();
        self.check_shapes(&expected)?;
        for (name, p) in params {
            p.set_value(self.tensors[name].clone());
        }
        Ok(())
    }
}
