//! Labelled colour (or grey) images: one folder per class, or an HDF5 file
//! (see [`load_hdf5_images`](super::load_hdf5_images)).
//!
//! Every image becomes one row of `height * width * channels` values in
//! `[0, 1]`, row-major with the channels interleaved (`HWC`: the layout of a
//! NumPy `[N, 64, 64, 3]` array and of decoded PNG pixels).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use image::DynamicImage;
use rayon::prelude::*;

use super::{check_dataset_size, Dataset, MAX_CLASSES};
use crate::{Error, Result, Tensor};

/// The size of every image of a set: `height x width`, `channels` values per
/// pixel (1 grey, 3 RGB).
///
/// ```
/// use backprop::data::ImageShape;
/// let shape = ImageShape::rgb(64);
/// assert_eq!(shape.len(), 12288);
/// assert_eq!(shape.to_string(), "64x64x3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel: 1 (grey) or 3 (RGB).
    pub channels: usize,
}

impl ImageShape {
    /// A `size x size` RGB image.
    pub fn rgb(size: usize) -> ImageShape {
        ImageShape { height: size, width: size, channels: 3 }
    }

    /// Values per image: `height * width * channels`.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.height, self.width, self.channels)
    }
}

/// Images with class labels and class names.
///
/// ```
/// use backprop::data::{Dataset, ImageShape, LabelledImages};
/// use backprop::Tensor;
/// let shape = ImageShape { height: 1, width: 2, channels: 1 };
/// let data = Dataset::new(Tensor::zeros(&[3, 2]), vec![0, 1, 1], 2)?;
/// let images = LabelledImages::new(data, vec!["dog".into(), "cat".into()], shape)?;
/// // Labels follow another set's class list, matched by name.
/// let same = images.relabel(&["cat".to_string(), "dog".to_string()], "test".as_ref())?;
/// assert_eq!(same.data.labels, vec![1, 0, 0]);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledImages {
    /// One flattened image per row (`[N, shape.len()]`, values in `[0, 1]`) and its label.
    pub data: Dataset,
    /// The name of each class, indexed by label.
    pub classes: Vec<String>,
    /// The size of every image.
    pub shape: ImageShape,
}

impl LabelledImages {
    /// Checks that the rows have `shape.len()` values and that there is one
    /// name per class.
    ///
    /// # Errors
    /// [`Error::Shape`] when either does not fit.
    pub fn new(data: Dataset, classes: Vec<String>, shape: ImageShape) -> Result<LabelledImages> {
        if data.input_dim() != shape.len() {
            let message = format!("{shape} images need {} values each, got {}", shape.len(), data.input_dim());
            return Err(Error::Shape { op: "LabelledImages".into(), message });
        }
        if classes.len() != data.num_classes {
            let message = format!("{} class names for {} classes", classes.len(), data.num_classes);
            return Err(Error::Shape { op: "LabelledImages".into(), message });
        }
        Ok(LabelledImages { data, classes, shape })
    }

    /// The same images labelled by their index in `classes` (another set's
    /// class list): each class name of `self` is looked up there; a class
    /// named by a number `k` that is not in the list stands for class `k`
    /// (an HDF5 file without `list_classes` names its classes 0, 1, ...).
    ///
    /// # Errors
    /// [`Error::Format`] naming `source` when one of its classes is not in `classes`.
    pub fn relabel(self, classes: &[String], source: &Path) -> Result<LabelledImages> {
        let mut map = Vec::with_capacity(self.classes.len());
        for name in &self.classes {
            let by_number = || name.parse::<usize>().ok().filter(|&k| k < classes.len());
            let index = classes.iter().position(|c| c == name).or_else(by_number);
            match index {
                Some(i) => map.push(i),
                None => {
                    return Err(Error::format(
                        source,
                        format!("class '{name}' is not one of the training classes ({})", classes.join(", ")),
                    ))
                }
            }
        }
        let labels = self.data.labels.iter().map(|&l| map[l]).collect();
        let data = Dataset::new(self.data.inputs, labels, classes.len())?;
        Ok(LabelledImages { data, classes: classes.to_vec(), shape: self.shape })
    }
}

/// Reads a PNG or JPEG file as `shape.height x shape.width` pixels (resized
/// with a triangle filter, aspect ratio not kept), grey or RGB as
/// `shape.channels` says, scaled to `[0, 1]`, channels interleaved.
///
/// The picture is taken as it is meant to be seen: turned upright by its
/// EXIF orientation (a phone photo taken sideways), and with any alpha
/// channel composited onto white (black ink on a transparent background, as
/// drawing apps export it, becomes black on white). See [`decode_image`].
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the
/// file when it is not a PNG or JPEG image (or too large to decode);
/// [`Error::InvalidArgument`] for a shape with a zero side or other than 1
/// or 3 channels.
///
/// ```no_run
/// use backprop::data::{load_image_file, ImageShape};
/// let pixels = load_image_file("cat.jpg".as_ref(), ImageShape::rgb(64))?;
/// assert_eq!(pixels.len(), 64 * 64 * 3);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn load_image_file(path: &Path, shape: ImageShape) -> Result<Vec<f32>> {
    check_shape(shape)?;
    let img = decode_image(path)?;
    let (w, h) = (shape.width as u32, shape.height as u32);
    let filter = image::imageops::FilterType::Triangle;
    let values: Vec<u8> = if shape.channels == 1 {
        image::imageops::resize(&DynamicImage::ImageRgb8(img).to_luma8(), w, h, filter).into_raw()
    } else {
        image::imageops::resize(&img, w, h, filter).into_raw()
    };
    Ok(values.into_iter().map(|v| f32::from(v) / 255.0).collect())
}

/// The most pixels (width x height) a decoded image may have: 2^26, e.g.
/// 8192 x 8192 (a 48-megapixel phone photo fits); more is refused before decoding.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;

/// Decodes a PNG or JPEG file into upright RGB pixels: the EXIF orientation
/// applied, an alpha channel composited onto white
/// (`c' = a c + (1 - a) 255`, with `a` the opacity in `[0, 1]`).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the
/// file when it is not a readable PNG or JPEG image or declares more than
/// [`MAX_IMAGE_PIXELS`] pixels.
pub fn decode_image(path: &Path) -> Result<image::RgbImage> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let not_readable = |e: image::ImageError| Error::format(path, format!("not a readable PNG or JPEG image: {e}"));
    let mut reader =
        image::io::Reader::new(io::Cursor::new(&bytes[..])).with_guessed_format().map_err(|e| Error::io(path, e))?;
    let (w, h) = reader.into_dimensions().map_err(not_readable)?;
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(Error::format(path, format!("a {w}x{h} image is too large (at most {MAX_IMAGE_PIXELS} pixels)")));
    }
    reader =
        image::io::Reader::new(io::Cursor::new(&bytes[..])).with_guessed_format().map_err(|e| Error::io(path, e))?;
    let img = reader.decode().map_err(not_readable)?;
    let img = match super::exif::orientation(&bytes) {
        Some(2) => img.fliph(),
        Some(3) => img.rotate180(),
        Some(4) => img.flipv(),
        Some(5) => img.rotate90().fliph(),
        Some(6) => img.rotate90(),
        Some(7) => img.rotate270().fliph(),
        Some(8) => img.rotate270(),
        _ => img,
    };
    if !img.color().has_alpha() {
        return Ok(img.to_rgb8());
    }
    let rgba = img.into_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = px.0.map(u32::from);
        // a c + (1 - a) 255 in units of 1/255, rounded.
        out.0 = [r, g, b].map(|c| ((a * c + (255 - a) * 255 + 127) / 255) as u8);
    }
    Ok(rgb)
}

fn check_shape(shape: ImageShape) -> Result<()> {
    if shape.height == 0 || shape.width == 0 {
        return Err(Error::invalid(
            "image size",
            format!("must be at least 1x1, got {}x{}", shape.height, shape.width),
        ));
    }
    if shape.channels != 1 && shape.channels != 3 {
        return Err(Error::invalid("image channels", format!("must be 1 or 3, got {}", shape.channels)));
    }
    Ok(())
}

/// Loads a folder with one subfolder of PNG/JPEG images per class.
///
/// The class names are the subfolder names, sorted; the label of an image is
/// the index of its folder's name. Every image is read with
/// [`load_image_file`] at `shape`. Files and folders whose names start with
/// a dot are skipped; files directly in `dir` are ignored.
///
/// # Errors
/// [`Error::Io`] (not found) when `dir` does not exist; [`Error::Format`]
/// when it is not a folder, has fewer than two class folders, a class folder
/// holds no image or a subfolder, or a file is not an image (naming it).
///
/// ```no_run
/// use backprop::data::{load_image_folder, ImageShape};
/// let set = load_image_folder("pets/train".as_ref(), ImageShape::rgb(64))?;
/// println!("{} images of {} classes: {:?}", set.data.len(), set.classes.len(), set.classes);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn load_image_folder(dir: &Path, shape: ImageShape) -> Result<LabelledImages> {
    check_shape(shape)?;
    let (folders, loose_files) = class_folders(dir)?;
    match folders.len() {
        0 if loose_files > 0 => {
            return Err(Error::format(
                dir,
                format!(
                    "no class subfolders, only {loose_files} files; put each class's images in a subfolder \
                     named after the class"
                ),
            ))
        }
        0 => return Err(Error::format(dir, "is empty; expected one subfolder of PNG/JPEG images per class")),
        1 => {
            return Err(Error::format(
                dir,
                format!(
                    "has only one class folder ('{}'); a classifier needs at least 2 classes",
                    file_name(&folders[0])
                ),
            ))
        }
        _ => {}
    }
    if folders.len() > MAX_CLASSES {
        return Err(Error::format(
            dir,
            format!("has {} class folders, more than the limit of {MAX_CLASSES} classes", folders.len()),
        ));
    }
    let mut files = Vec::new();
    for (label, folder) in folders.iter().enumerate() {
        let images = image_files(folder)?;
        if images.is_empty() {
            return Err(Error::format(folder, "class folder holds no images"));
        }
        files.extend(images.into_iter().map(|f| (f, label)));
    }
    check_dataset_size(files.len(), shape.len()).map_err(|m| Error::format(dir, format!("{m} at {shape}")))?;
    let decoded: Vec<Result<Vec<f32>>> = files.par_iter().map(|(f, _)| load_image_file(f, shape)).collect();
    let mut pixels = Vec::with_capacity(files.len() * shape.len());
    for image in decoded {
        pixels.extend(image?);
    }
    let inputs = Tensor::try_from_vec(pixels, &[files.len(), shape.len()])?;
    let labels = files.iter().map(|&(_, l)| l).collect();
    let data = Dataset::new(inputs, labels, folders.len())?;
    LabelledImages::new(data, folders.iter().map(|f| file_name(f)).collect(), shape)
}

/// The class subfolders of `dir`, sorted by name, and the number of plain files beside them.
fn class_folders(dir: &Path) -> Result<(Vec<PathBuf>, usize)> {
    if !dir.exists() {
        let e = io::Error::new(io::ErrorKind::NotFound, "image folder does not exist");
        return Err(Error::io(dir, e));
    }
    if !dir.is_dir() {
        return Err(Error::format(dir, "is not a folder or an HDF5 file of images"));
    }
    let mut folders = Vec::new();
    let mut files = 0;
    for path in visible_entries(dir)? {
        if path.is_dir() {
            folders.push(path);
        } else {
            files += 1;
        }
    }
    folders.sort();
    Ok((folders, files))
}

/// The image files of a class folder, sorted by name.
fn image_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files = visible_entries(folder)?;
    if let Some(sub) = files.iter().find(|p| p.is_dir()) {
        return Err(Error::format(sub, "is a folder inside a class folder; class folders must hold only images"));
    }
    files.sort();
    Ok(files)
}

/// The entries of `dir` whose names do not start with a dot.
fn visible_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if !file_name(&path).starts_with('.') {
            out.push(path);
        }
    }
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: Vec<usize>, classes: &[&str]) -> LabelledImages {
        let n = labels.len();
        let data = Dataset::new(Tensor::zeros(&[n, 1]), labels, classes.len()).unwrap();
        let shape = ImageShape { height: 1, width: 1, channels: 1 };
        LabelledImages::new(data, classes.iter().map(|c| c.to_string()).collect(), shape).unwrap()
    }

    #[test]
    fn relabel_by_name_and_by_number() {
        let train: Vec<String> = vec!["non-cat".into(), "cat".into()];
        let test = set(vec![0, 1], &["cat", "non-cat"]).relabel(&train, "t".as_ref()).unwrap();
        assert_eq!(test.data.labels, vec![1, 0]);
        let numbered = set(vec![0, 1, 1], &["0", "1"]).relabel(&train, "t".as_ref()).unwrap();
        assert_eq!(numbered.data.labels, vec![0, 1, 1]);
        assert_eq!(numbered.classes, train);
        let e = set(vec![0, 1], &["cat", "dog"]).relabel(&train, "t".as_ref()).unwrap_err();
        assert!(e.to_string().contains("class 'dog'"), "{e}");
    }

    #[test]
    fn new_checks_sizes() {
        let data = Dataset::new(Tensor::zeros(&[2, 3]), vec![0, 1], 2).unwrap();
        assert!(LabelledImages::new(data.clone(), vec!["a".into(), "b".into()], ImageShape::rgb(1)).is_ok());
        assert!(LabelledImages::new(data.clone(), vec!["a".into()], ImageShape::rgb(1)).is_err());
        assert!(LabelledImages::new(data, vec!["a".into(), "b".into()], ImageShape::rgb(2)).is_err());
    }

    #[test]
    fn bad_shapes_are_rejected() {
        assert!(check_shape(ImageShape { height: 0, width: 4, channels: 3 }).is_err());
        assert!(check_shape(ImageShape { height: 4, width: 4, channels: 2 }).is_err());
    }
}
