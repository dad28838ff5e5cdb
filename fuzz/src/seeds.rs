//! The seed inputs each loader's mutations start from: real files of the
//! repository (the bundled MNIST and Fashion-MNIST subsets, the cat/non-cat
//! HDF5 fixtures, tiny Shakespeare) cut to a small size so each run is fast,
//! and files written here by the library itself (checkpoints of every kind
//! with their metadata, PNG and JPEG pictures with alpha and EXIF, CSV tables
//! with quotes, repeated names and a series).

use crate::mutate::Input;
use crate::targets::Target;
use backprop::data::{read_idx, CharTokenizer, Standardizer};
use backprop::models::{RegressionMeta, Scalers, CLASSES_KEY, INPUT_KEY, LOSS_KEY, NORMALIZE_KEY};
use backprop::nn::{Activation, Gpt, GptConfig, Mlp, MlpConfig};
use backprop::ood::REJECT_KEY;
use backprop::tensor::Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The seeds of `target`, read from the repository at `root` (scratch files go to `scratch`).
pub fn seeds(target: Target, root: &Path, scratch: &Path) -> Result<Vec<Input>, String> {
    let read = |p: &str| std::fs::read(root.join(p)).map_err(|e| format!("{}: {e}", root.join(p).display()));
    Ok(match target {
        Target::Idx => idx_seeds(root)?,
        Target::IdxGz => idx_seeds(root)?.into_iter().map(|files| files.iter().map(|f| gzip(f)).collect()).collect(),
        Target::Csv => csv_seeds(),
        Target::Hdf5 => {
            let names = ["catvnoncat_test.h5", "catvnoncat_train.h5", "catvnoncat_count_mismatch.h5", "labels_1e6.h5"];
            names.iter().map(|n| read(&format!("tests/fixtures/{n}")).map(|b| vec![b])).collect::<Result<_, _>>()?
        }
        Target::Safetensors => checkpoint_seeds(scratch)?,
        Target::Image => image_seeds(),
        Target::Text => {
            let text = read("data/tinyshakespeare/input.txt")?;
            let utf8 = "Grüße, 世界! Ünïcödé lines\nsecond line: ÆØÅ æøå\n".repeat(20).into_bytes();
            vec![vec![text[..4000].to_vec()], vec![utf8]]
        }
    })
}

/// Raw IDX pairs: the first images of the bundled MNIST and Fashion-MNIST
/// test files, and a 2-D `[N, D]` pair.
fn idx_seeds(root: &Path) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for (dir, n) in [("data/mnist-10k", 24), ("data/fashion-mnist-1k", 8)] {
        let images = read_idx(&root.join(dir).join("t10k-images-idx3-ubyte.gz")).map_err(|e| e.to_string())?;
        let labels = read_idx(&root.join(dir).join("t10k-labels-idx1-ubyte.gz")).map_err(|e| e.to_string())?;
        let pixels = &images.data[..n * 784];
        out.push(vec![idx(&[n as u32, 28, 28], pixels), idx(&[n as u32], &labels.data[..n])]);
    }
    let flat: Vec<u8> = (0..6 * 50).map(|i| (i * 7 % 256) as u8).collect();
    out.push(vec![idx(&[6, 50], &flat), idx(&[6], &[0, 1, 2, 3, 4, 9])]);
    Ok(out)
}

/// The bytes of an unsigned-byte IDX file.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// Tables: numbers, quoted text, repeated names (survey style), a series, CRLF with a BOM.
fn csv_seeds() -> Vec<Input> {
    let mut numbers = String::from("id,x1,x2,city,y\n");
    let mut survey = String::from("cli,ili,tested_positive,cli,ili,tested_positive\n");
    let mut series = String::from("t,value\n");
    for i in 0..40 {
        let (a, b) = (i as f32 * 0.37 - 3.0, (i * 7 % 11) as f32 - 5.5);
        numbers += &format!("{i},{a:.4},{b:.3},\"Town {}, Shire\",{:.5}\n", i % 5, 3.0 * a - 2.0 * b + 0.5);
        survey += &format!("{a},{b},{},{b},{a},{}\n", a * b, a + b);
        series += &format!("{i},{:.6}\n", (i as f32 * 0.3).sin());
    }
    let crlf = "\u{feff}a,b,\"q\"\"uoted\"\r\n1,2,3\r\n4,5,\"6\"\r\n\r\n".to_string();
    [numbers, survey, series, crlf].into_iter().map(|s| vec![s.into_bytes()]).collect()
}

/// Checkpoints of every kind the loader reads, with the metadata the commands write.
fn checkpoint_seeds(scratch: &Path) -> Result<Vec<Input>, String> {
    let path = scratch.join("seed.safetensors");
    let mut out = Vec::new();
    let mut save_mlp = |config: MlpConfig, meta: &[(&str, String)]| -> Result<(), String> {
        let mlp = Mlp::new(config, &mut Rng::new(1));
        let meta: BTreeMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        mlp.save(&path, &meta).map_err(|e| e.to_string())?;
        out.push(vec![std::fs::read(&path).map_err(|e| e.to_string())?]);
        Ok(())
    };
    let digits = MlpConfig::classifier(16, &[8], 10, Activation::Relu);
    save_mlp(
        digits,
        &[(INPUT_KEY, r#"{"image":[4,4]}"#.into()), (LOSS_KEY, "cross-entropy".into()), (REJECT_KEY, "0.5".into())],
    )?;
    let colour = MlpConfig::classifier(48, &[], 1, Activation::Identity);
    save_mlp(
        colour,
        &[
            (INPUT_KEY, r#"{"image":[4,4],"channels":3}"#.into()),
            (CLASSES_KEY, r#"["non-cat","cat"]"#.into()),
            (NORMALIZE_KEY, r#"{"mean":0.4,"std":0.2}"#.into()),
            (LOSS_KEY, "bce".into()),
        ],
    )?;
    for window in [None, Some(3)] {
        let features: Vec<String> =
            if window.is_some() { Vec::new() } else { vec!["a".into(), "b".into(), "c".into()] };
        let inputs = Standardizer { mean: vec![0.5, -1.0, 2.0], std: vec![1.5, 0.25, 3.0] };
        let targets = Standardizer { mean: vec![10.0], std: vec![4.0] };
        let meta = RegressionMeta { features, targets: vec!["y".into()], window, scalers: Scalers { inputs, targets } };
        let mut entries: Vec<(&str, String)> = Vec::new();
        let map = meta.to_metadata();
        entries.extend(map.iter().map(|(k, v)| (k.as_str(), v.clone())));
        save_mlp(MlpConfig::classifier(3, &[4], 1, Activation::Tanh), &entries)?;
    }
    let tokenizer = CharTokenizer::from_text("abcdefgh ");
    let config =
        GptConfig { vocab_size: 9, block_size: 8, layers: 1, heads: 2, embd: 8, dropout: 0.0, bias: true, tied: true };
    let gpt = Gpt::new(config, &mut Rng::new(1)).map_err(|e| e.to_string())?;
    gpt.save(&path, &tokenizer).map_err(|e| e.to_string())?;
    out.push(vec![std::fs::read(&path).map_err(|e| e.to_string())?]);
    Ok(out)
}

/// Pictures: RGB, RGBA (ink on transparent), grey, 16-bit PNG; JPEG with and without EXIF orientation.
fn image_seeds() -> Vec<Input> {
    use image::{DynamicImage, ImageFormat};
    let rgb = image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([(x * 16) as u8, (y * 20) as u8, 128]));
    let rgba = image::RgbaImage::from_fn(12, 12, |x, y| image::Rgba([0, 0, 0, if x == y { 255 } else { 0 }]));
    let grey = image::GrayImage::from_fn(9, 7, |x, y| image::Luma([(x * y * 4) as u8]));
    let deep = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(6, 5, |x, y| image::Luma([(x * 9000 + y) as u16]));
    let encode = |img: DynamicImage, format: ImageFormat| {
        let mut bytes = std::io::Cursor::new(Vec::new());
        img.write_to(&mut bytes, format).expect("encoding to memory");
        bytes.into_inner()
    };
    let jpeg = encode(DynamicImage::ImageRgb8(rgb.clone()), ImageFormat::Jpeg);
    vec![
        vec![encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Png)],
        vec![encode(DynamicImage::ImageRgba8(rgba), ImageFormat::Png)],
        vec![encode(DynamicImage::ImageLuma8(grey), ImageFormat::Png)],
        vec![encode(DynamicImage::ImageLuma16(deep), ImageFormat::Png)],
        vec![backprop::data::jpeg_with_orientation(&jpeg, 6, false)],
        vec![jpeg],
    ]
}
