//! The loaders under test, one [`Target`] each, and what "loading" runs: the
//! reader itself, then what a command does next with what it read (build the
//! model of a checkpoint and run it on one example, split and standardise a
//! table, tokenize a text), so a value the reader lets through unchecked
//! still shows up as a panic.

use backprop::autograd::Graph;
use backprop::data::{
    decode_image, load_hdf5_images, load_idx_pair, load_image_file, random_windows, read_csv, read_idx, window_series,
    ImageShape, RegressionData, Standardizer, TextData,
};
use backprop::models::Model;
use backprop::tensor::Rng;
use backprop::{Error, Tensor};
use std::path::PathBuf;

/// A loader the harness feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `load_idx_pair` on raw IDX files (images and labels).
    Idx,
    /// `load_idx_pair` on gzip-compressed IDX files.
    IdxGz,
    /// `read_csv` and the table preparation of `train csv`.
    Csv,
    /// `load_hdf5_images` (the cat/non-cat layout).
    Hdf5,
    /// `models::load` of a safetensors checkpoint, its metadata, and one forward pass.
    Safetensors,
    /// `load_image_file` / `decode_image` on PNG and JPEG files.
    Image,
    /// `TextData::load` and the character tokenizer.
    Text,
}

impl Target {
    /// Every target, in the order they are run.
    pub const ALL: [Target; 7] =
        [Target::Idx, Target::IdxGz, Target::Csv, Target::Hdf5, Target::Safetensors, Target::Image, Target::Text];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Idx => "idx",
            Target::IdxGz => "idx-gz",
            Target::Csv => "csv",
            Target::Hdf5 => "hdf5",
            Target::Safetensors => "safetensors",
            Target::Image => "image",
            Target::Text => "text",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The names the input's files get, in order.
    pub fn file_names(self) -> &'static [&'static str] {
        match self {
            Target::Idx => &["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
            Target::IdxGz => &["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
            Target::Csv => &["data.csv"],
            Target::Hdf5 => &["data.h5"],
            Target::Safetensors => &["model.safetensors"],
            Target::Image => &["picture.img"],
            Target::Text => &["input.txt"],
        }
    }

    /// Runs the loader on `paths` (one per file name). Returns the errors it
    /// reported (none when it accepted the input): each must be one line
    /// naming one of the files.
    pub fn run(self, paths: &[PathBuf]) -> Vec<Error> {
        let mut errors = Vec::new();
        let mut check = |r: backprop::Result<()>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        match self {
            Target::Idx | Target::IdxGz => {
                check(read_idx(&paths[1]).map(drop));
                check(load_idx_pair(&paths[0], &paths[1]).map(|d| {
                    assert!(!d.is_empty() && d.input_dim() > 0, "an empty data set was accepted");
                    assert!(d.labels.iter().all(|&l| l < d.num_classes));
                    assert!(d.inputs.data().iter().all(|v| (0.0..=1.0).contains(v)));
                }));
            }
            Target::Csv => check(csv(&paths[0])),
            Target::Hdf5 => check(load_hdf5_images(&paths[0]).and_then(|set| {
                assert!(!set.data.is_empty() && set.classes.len() >= 2);
                let classes = set.classes.clone();
                set.relabel(&classes, &paths[0]).map(drop)
            })),
            Target::Safetensors => checkpoint(&paths[0], &mut check),
            Target::Image => {
                check(decode_image(&paths[0]).map(drop));
                for channels in [1, 3] {
                    let shape = ImageShape { height: 7, width: 5, channels };
                    check(load_image_file(&paths[0], shape).map(|v| assert_eq!(v.len(), 35 * channels)));
                }
            }
            Target::Text => check(TextData::load(&paths[0], 0.9).map(|data| {
                let text = data.tokenizer.decode(&data.train);
                assert_eq!(data.tokenizer.encode(&text).expect("its own text"), data.train);
                if data.train.len() > 8 {
                    random_windows(&data.train, 2, 8, &mut Rng::new(1));
                }
            })),
        }
        errors
    }
}

/// What `train csv` does with a table: the last column as the target, the
/// other numeric columns as features, standardised; the first as a series.
fn csv(path: &std::path::Path) -> backprop::Result<()> {
    let table = read_csv(path)?;
    let _ = table.renamed_note();
    let last = table.headers.len() - 1;
    let target = table.column(&last.to_string(), "the target")?;
    let features: Vec<usize> = (0..last).filter(|&c| table.is_numeric(c)).collect();
    let n = table.rows.len();
    let y = Tensor::from_vec(table.numeric_matrix(&[target])?, &[n, 1]);
    if !features.is_empty() {
        let x = Tensor::from_vec(table.numeric_matrix(&features)?, &[n, features.len()]);
        let data = RegressionData::new(x, y.clone())?;
        let (train, valid) = data.split_validation(0.2, 1);
        let (sx, sy) = (Standardizer::fit(&train.inputs), Standardizer::fit(&train.targets));
        valid.standardized(&sx, &sy);
    }
    let series = table.numeric_column(target)?;
    if series.len() > 3 {
        window_series(&series, 3)?;
    }
    Ok(())
}

/// What the commands do with a checkpoint: load it (the metadata is checked
/// then), ask it for its role, and run the model on one example.
fn checkpoint(path: &std::path::Path, check: &mut impl FnMut(backprop::Result<()>)) {
    let loaded = match backprop::models::load(path) {
        Ok(l) => l,
        Err(e) => return check(Err(e)),
    };
    let g = Graph::no_grad();
    match &loaded.model {
        Model::Gpt { model, tokenizer } if tokenizer.vocab_size() > 0 => {
            let logits = model.forward_tokens(&g, &[0], 1, 1).value();
            assert_eq!(logits.shape(), &[1, tokenizer.vocab_size()]);
        }
        Model::Mlp(_) => {
            if let Ok(c) = loaded.classifier("fuzz") {
                check(c.image_shape().map(drop));
                check(c.class_names().map(drop));
                check(c.pixel_scale().map(drop));
                check(loaded.reject_below().map(drop));
                let out = c.module.forward(&g, g.constant(Tensor::zeros(&[1, c.inputs]))).value();
                assert_eq!(out.shape(), &[1, c.classes]);
            }
            if let Ok(r) = loaded.regressor("fuzz") {
                check(r.meta().map(|meta| {
                    let x = meta.scalers.inputs.apply(&Tensor::zeros(&[1, r.inputs]));
                    let z = r.module.forward(&g, g.constant(x)).value();
                    meta.scalers.targets.invert(&z);
                }));
            }
        }
        _ => {}
    }
}
