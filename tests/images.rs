//! `backprop train images` and `predict` on colour images: the cat/non-cat
//! HDF5 fixtures (tests/fixtures/make_catvnoncat.py) and folders of PNG/JPEG
//! files drawn here with the same learnable pattern (a "cat" has a bright
//! square in the upper-left quadrant, a "non-cat" elsewhere).

mod common;

use common::{assert_clean_failure, backprop, fixture, Run, TempDir};
use image::{Rgb, RgbImage};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A tiny seeded generator (xorshift).
struct Noise(u64);

impl Noise {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A 64x64 picture of the pattern: the square in the upper-left quadrant for a cat.
fn pattern(cat: bool, noise: &mut Noise) -> RgbImage {
    let quadrant = if cat { 0 } else { 1 + noise.below(3) as u32 };
    let top = (quadrant / 2) * 32 + noise.below(19) as u32;
    let left = (quadrant % 2) * 32 + noise.below(19) as u32;
    let background: Vec<u8> = (0..3).map(|_| 20 + noise.below(70) as u8).collect();
    let blob: Vec<u8> = (0..3).map(|_| 200 + noise.below(56) as u8).collect();
    let mut img = RgbImage::new(64, 64);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let inside = (top..top + 14).contains(&y) && (left..left + 14).contains(&x);
        let mut value = |c: usize| if inside { blob[c] } else { background[c] + 8 * noise.below(5) as u8 };
        *px = Rgb([value(0), value(1), value(2)]);
    }
    img
}

/// `dir/cat/*.png` and `dir/non-cat/*.png` (every fifth image a JPEG), `per_class` each.
fn write_folder(dir: &Path, per_class: usize, seed: u64) {
    let mut noise = Noise(seed);
    for (class, cat) in [("cat", true), ("non-cat", false)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..per_class {
            let ext = if i % 5 == 4 { "jpg" } else { "png" };
            pattern(cat, &mut noise).save(dir.join(class).join(format!("{i:03}.{ext}"))).unwrap();
        }
    }
}

/// The percentage after `label` in a line such as `test accuracy 95.00% (20 images)`.
fn percent_after(text: &str, label: &str) -> f32 {
    let start = text.find(label).unwrap_or_else(|| panic!("no '{label}' in:\n{text}")) + label.len();
    let rest = text[start..].trim_start();
    rest[..rest.find('%').unwrap()].parse().unwrap()
}

fn train(args: &[&str]) -> Run {
    let mut all = vec!["train", "images", "--threads", "2"];
    all.extend_from_slice(args);
    backprop(&all)
}

/// Predicts a freshly drawn cat and non-cat with `model`; checks the class names.
fn predict_both(dir: &TempDir, model: &Path) {
    let mut noise = Noise(99);
    let cat = dir.join("a-cat.png");
    let other = dir.join("not-a-cat.png");
    pattern(true, &mut noise).save(&cat).unwrap();
    pattern(false, &mut noise).save(&other).unwrap();
    let run =
        backprop(&["predict", "--model", model.to_str().unwrap(), cat.to_str().unwrap(), other.to_str().unwrap()])
            .expect_success("predict");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].contains("a-cat.png: cat "), "{}", run.stdout);
    assert!(lines[1].contains("not-a-cat.png: non-cat "), "{}", run.stdout);
    for line in lines {
        let p: f32 = line.rsplit(' ').next().unwrap().trim_end_matches('%').parse().unwrap();
        assert!((50.0..=100.0).contains(&p), "{line}");
    }
}

#[test]
fn logistic_regression_on_hdf5_then_predict_a_png() {
    let dir = TempDir::new("images-h5");
    let out = dir.arg("run");
    let (train_h5, test_h5) = (fixture("catvnoncat_train.h5"), fixture("catvnoncat_test.h5"));
    let run =
        train(&["--data", &train_h5, "--test", &test_h5, "--out", &out, "--epochs", "40"]).expect_success("train");
    assert!(run.stdout.contains("logistic regression 12288-1"), "{}", run.stdout);
    assert!(run.stdout.contains("classes non-cat, cat"), "{}", run.stdout);
    let accuracy = percent_after(&run.stdout, "test accuracy");
    assert!(accuracy >= 90.0, "test accuracy {accuracy}%:\n{}", run.stdout);
    percent_after(&run.stdout, "precision");
    percent_after(&run.stdout, "recall");
    let model = dir.join("run/model.safetensors");
    assert!(dir.join("run/history.jsonl").is_file());
    let info = backprop(&["info", model.to_str().unwrap()]).expect_success("info");
    assert!(info.stdout.contains(r#"backprop.classes: ["non-cat","cat"]"#), "{}", info.stdout);
    assert!(info.stdout.contains(r#""channels":3"#) && info.stdout.contains("backprop.loss: bce"), "{}", info.stdout);
    assert!(info.stdout.contains("backprop.normalize: {\"mean\":"), "{}", info.stdout);
    predict_both(&dir, &model);
}

#[test]
fn logistic_regression_on_image_folders() {
    let dir = TempDir::new("images-folders");
    write_folder(&dir.join("train"), 40, 7);
    write_folder(&dir.join("test"), 10, 8);
    let (data, test, out) = (dir.arg("train"), dir.arg("test"), dir.arg("run"));
    let run = train(&["--data", &data, "--test", &test, "--out", &out, "--epochs", "40"]).expect_success("train");
    assert!(run.stdout.contains("72 train, 8 validation, 20 test images of 64x64x3"), "{}", run.stdout);
    let accuracy = percent_after(&run.stdout, "test accuracy");
    println!("{}", run.stdout.lines().rev().nth(1).unwrap());
    assert!(accuracy >= 90.0, "test accuracy {accuracy}%:\n{}", run.stdout);
    // Folder classes are sorted: cat = 0, non-cat = 1 (the positive class).
    assert!(run.stdout.contains("for 'non-cat'"), "{}", run.stdout);
    predict_both(&dir, &dir.join("run/model.safetensors"));
}

#[test]
fn the_course_deep_network_trains_with_json_output() {
    let dir = TempDir::new("images-mlp");
    let out = dir.arg("run");
    let (train_h5, test_h5) = (fixture("catvnoncat_train.h5"), fixture("catvnoncat_test.h5"));
    let args = ["--data", &train_h5, "--test", &test_h5, "--out", &out, "--model", "mlp", "--hidden", "20,7,5"];
    let run = train(&[&args[..], &["--epochs", "30", "--json"]].concat()).expect_success("train mlp");
    let last = run.stdout.lines().last().unwrap();
    let summary: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(summary["evaluated_on"], "test", "{last}");
    assert_eq!(summary["positive_class"], "cat", "{last}");
    let accuracy = summary["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.85, "{last}");
    assert!(summary["precision"].is_number() && summary["recall"].is_number(), "{last}");
    let info = backprop(&["info", &dir.arg("run/model.safetensors")]).expect_success("info");
    assert!(info.stdout.contains("MLP 12288-20-7-5-1"), "{}", info.stdout);
}

// ---------------------------------------------------------------- bad input

fn train_fails(data: &str, words: &[&str]) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = TempDir::new(&format!("images-bad-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let out = dir.arg("run");
    assert_clean_failure(&train(&["--data", data, "--out", &out, "--epochs", "1"]), words)
}

#[test]
fn hdf5_without_an_x_y_pair() {
    let line = train_fails(&fixture("catvnoncat_no_pair.h5"), &["catvnoncat_no_pair.h5", "PREFIX_x"]);
    assert!(line.contains("images, labels, list_classes"), "{line}");
}

#[test]
fn hdf5_with_more_images_than_labels() {
    train_fails(&fixture("catvnoncat_count_mismatch.h5"), &["catvnoncat_count_mismatch.h5", "5 images", "4 labels"]);
}

#[test]
fn corrupt_and_truncated_hdf5() {
    let dir = TempDir::new("images-corrupt");
    let mut noise = Noise(5);
    let random: Vec<u8> = (0..4000).map(|_| noise.below(256) as u8).collect();
    let corrupt = dir.write("corrupt.h5", &random);
    train_fails(corrupt.to_str().unwrap(), &["corrupt.h5", "not a readable HDF5 file"]);
    let whole = std::fs::read(fixture("catvnoncat_test.h5")).unwrap();
    for cut in [100, 3000, whole.len() / 2] {
        let truncated = dir.write(&format!("truncated-{cut}.h5"), &whole[..cut]);
        train_fails(truncated.to_str().unwrap(), &[&format!("truncated-{cut}.h5")]);
    }
}

#[test]
fn image_folder_with_a_file_that_is_not_an_image() {
    let dir = TempDir::new("images-not-image");
    write_folder(&dir.join("data"), 3, 1);
    dir.write("data/cat/notes.txt", b"not a picture");
    train_fails(&dir.arg("data"), &["notes.txt", "not a readable PNG or JPEG image"]);
}

#[test]
fn empty_image_folder() {
    let dir = TempDir::new("images-empty");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    train_fails(&dir.arg("data"), &["data", "empty"]);
    write_folder(&dir.join("data"), 2, 1);
    for file in ["000.png", "001.png"] {
        std::fs::remove_file(dir.join("data/non-cat").join(file)).unwrap();
    }
    train_fails(&dir.arg("data"), &["non-cat", "holds no images"]);
}

#[test]
fn image_folder_with_one_class() {
    let dir = TempDir::new("images-one-class");
    write_folder(&dir.join("data"), 3, 1);
    std::fs::remove_dir_all(dir.join("data/non-cat")).unwrap();
    train_fails(&dir.arg("data"), &["only one class folder", "'cat'"]);
}

#[test]
fn missing_data_and_unknown_test_classes() {
    train_fails("/no/such/images.h5", &["/no/such/images.h5", "no such HDF5 file or image folder"]);
    let dir = TempDir::new("images-other-classes");
    write_folder(&dir.join("test"), 2, 3);
    std::fs::rename(dir.join("test/non-cat"), dir.join("test/dog")).unwrap();
    let (test, out) = (dir.arg("test"), dir.arg("run"));
    let run = train(&["--data", &fixture("catvnoncat_train.h5"), "--test", &test, "--out", &out]);
    assert_clean_failure(&run, &["class 'dog'", "non-cat, cat"]);
}

#[test]
fn flags_that_do_not_fit_logistic_regression() {
    let data = fixture("catvnoncat_train.h5");
    assert_clean_failure(&train(&["--data", &data, "--hidden", "20,7"]), &["--hidden", "--model mlp"]);
    assert_clean_failure(&train(&["--data", &data, "--activation", "tanh"]), &["--activation"]);
}

#[test]
fn predict_rejects_a_file_that_is_not_an_image() {
    let dir = TempDir::new("images-predict-bad");
    let out = dir.arg("run");
    train(&["--data", &fixture("catvnoncat_train.h5"), "--out", &out, "--epochs", "1"]).expect_success("train");
    let text = dir.write("words.png", b"hello");
    let model = dir.arg("run/model.safetensors");
    let run = backprop(&["predict", "--model", &model, text.to_str().unwrap()]);
    assert_clean_failure(&run, &["words.png", "not a readable PNG or JPEG image"]);
}

// ---------------------------------------------------------------- what a picture means

/// A 20x10 (width x height) picture: left half black, right half white.
fn halves() -> image::RgbImage {
    image::RgbImage::from_fn(20, 10, |x, _| if x < 10 { Rgb([0, 0, 0]) } else { Rgb([255, 255, 255]) })
}

#[test]
fn exif_orientation_turns_a_phone_photo_upright() {
    use backprop::data::{load_image_file, ImageShape};
    let dir = TempDir::new("images-exif");
    let mut jpeg = std::io::Cursor::new(Vec::new());
    halves().write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let grey = |w, h| ImageShape { height: h, width: w, channels: 1 };
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    // Stored 20 wide, 10 high; orientation 6 means "turn 90 degrees clockwise":
    // seen upright it is 10 wide, 20 high, the black half on top.
    let turned = dir.write("turned.jpg", &backprop::data::jpeg_with_orientation(jpeg.get_ref(), 6, true));
    let pixels = load_image_file(&turned, grey(10, 20)).unwrap();
    let (top, bottom) = pixels.split_at(100);
    assert!(mean(top) < 0.1 && mean(bottom) > 0.9, "top {} bottom {}", mean(top), mean(bottom));
    // Orientation 8 (counter-clockwise): the black half at the bottom; 3 (upside down): black on the right.
    let pixels = load_image_file(
        &dir.write("ccw.jpg", &backprop::data::jpeg_with_orientation(jpeg.get_ref(), 8, true)),
        grey(10, 20),
    )
    .unwrap();
    assert!(mean(&pixels[..100]) > 0.9 && mean(&pixels[100..]) < 0.1);
    let pixels = load_image_file(
        &dir.write("180.jpg", &backprop::data::jpeg_with_orientation(jpeg.get_ref(), 3, true)),
        grey(20, 10),
    )
    .unwrap();
    assert!(pixels[0] > 0.9 && pixels[19] < 0.1, "{} {}", pixels[0], pixels[19]);
    // Without the tag nothing turns.
    let plain = load_image_file(&dir.write("plain.jpg", jpeg.get_ref()), grey(20, 10)).unwrap();
    assert!(plain[0] < 0.1 && plain[19] > 0.9);
}

#[test]
fn transparent_backgrounds_are_white_so_black_ink_stays_visible() {
    use backprop::data::{load_image_file, ImageShape};
    let dir = TempDir::new("images-alpha");
    // What drawing apps export: black ink (opaque) on a fully transparent (black) background,
    // with a half-transparent edge.
    let ink = image::RgbaImage::from_fn(4, 4, |x, _| match x {
        0 => image::Rgba([0, 0, 0, 255]),
        1 => image::Rgba([0, 0, 0, 128]),
        _ => image::Rgba([0, 0, 0, 0]),
    });
    let png = dir.join("ink.png");
    ink.save(&png).unwrap();
    let grey = load_image_file(&png, ImageShape { height: 4, width: 4, channels: 1 }).unwrap();
    assert_eq!(&grey[..4], &[0.0, 127.0 / 255.0, 1.0, 1.0]);
    let rgb = load_image_file(&png, ImageShape { height: 4, width: 4, channels: 3 }).unwrap();
    assert_eq!(&rgb[6..12], &[1.0; 6]);
    // `predict --invert` on a digit model sees the drawing exactly as the same ink on
    // opaque white paper (before, the transparent background was black: a blank image).
    let root = TempDir::new("images-alpha-model");
    let model = common::train_tiny_10x10(&root);
    let drawn = dir.join("drawn.png");
    image::RgbaImage::from_fn(10, 10, |_, y| image::Rgba([0, 0, 0, if y == 4 { 255 } else { 0 }]))
        .save(&drawn)
        .unwrap();
    let paper = dir.join("paper.png");
    image::GrayImage::from_fn(10, 10, |_, y| image::Luma([if y == 4 { 0 } else { 255 }])).save(&paper).unwrap();
    let blank = dir.join("blank.png");
    image::GrayImage::new(10, 10).save(&blank).unwrap();
    let answer = |png: &Path| {
        let run = backprop(&["predict", "--model", model.to_str().unwrap(), "--invert", png.to_str().unwrap()])
            .expect_success("predict");
        run.stdout.split_once(": ").unwrap().1.to_string()
    };
    assert_eq!(answer(&drawn), answer(&paper));
    let inverted_blank = answer(&blank); // all black, inverted: all white
    assert_ne!(answer(&drawn), inverted_blank);
}

#[test]
fn the_course_logistic_regression_reaches_its_training_accuracy() {
    // Pixels / 255 without standardisation, weights and bias 0, full-batch gradient
    // descent with learning rate 0.005 for 2000 iterations (Deep Learning course, week 2).
    let dir = TempDir::new("images-course");
    let out = dir.arg("run");
    let (train_h5, test_h5) = (fixture("catvnoncat_train.h5"), fixture("catvnoncat_test.h5"));
    let course = [
        "--normalize",
        "unit",
        "--init",
        "zeros",
        "--optimizer",
        "sgd",
        "--lr",
        "0.005",
        "--schedule",
        "constant",
        "--batch-size",
        "60",
        "--val-fraction",
        "0",
        "--epochs",
        "2000",
        "--json",
    ];
    let run = train(&[&["--data", &train_h5, "--test", &test_h5, "--out", &out], &course[..]].concat())
        .expect_success("the course's setup");
    let records: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("epoch").is_some())
        .collect();
    assert_eq!(records.len(), 2000);
    // Zero weights predict 0.5 for every image: the first loss is ln 2.
    let first = records[0]["train_loss"].as_f64().unwrap();
    assert!((first - std::f64::consts::LN_2).abs() < 1e-3, "first loss {first}");
    let train_accuracy = records[1999]["train_accuracy"].as_f64().unwrap();
    assert!(train_accuracy >= 0.99, "train accuracy {train_accuracy}");
    let summary: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert!(summary["accuracy"].as_f64().unwrap() >= 0.9, "{summary}");
    // The checkpoint stores the scaling (pixels / 255), and predict applies it.
    let info = backprop(&["info", &dir.arg("run/model.safetensors")]).expect_success("info");
    assert!(info.stdout.contains(r#"backprop.normalize: {"mean":0.0,"std":1.0}"#), "{}", info.stdout);
    predict_both(&dir, &dir.join("run/model.safetensors"));
}
