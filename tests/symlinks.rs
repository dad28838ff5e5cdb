//! Every file backprop writes goes through one atomic writer that follows
//! symbolic links (issue 9, item 7): the link's target is replaced, the link
//! stays a link, and no temporary file is left behind.

#![cfg(unix)]

mod common;

use backprop::checkpoint::{self, Checkpoint};
use backprop::ood::REJECT_KEY;
use common::{backprop, TempDir};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

fn is_link(p: &Path) -> bool {
    fs::symlink_metadata(p).unwrap().file_type().is_symlink()
}

/// Names in `dir` that look like the writer's temporary files.
fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_chain_of_relative_links_is_followed_to_the_file() {
    let dir = TempDir::new("links-chain");
    let real = dir.write("store/real.bin", b"old");
    fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    symlink("store/real.bin", dir.join("hop")).unwrap();
    symlink("hop", dir.join("link.bin")).unwrap();
    checkpoint::write_atomically(&dir.join("link.bin"), b"new").unwrap();
    assert!(is_link(&dir.join("link.bin")) && is_link(&dir.join("hop")));
    assert_eq!(fs::read(&real).unwrap(), b"new");
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&real).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o640, "the target keeps its permissions");
    assert!(temporaries(dir.path()).is_empty() && temporaries(&dir.join("store")).is_empty());

    // A dangling link creates its target; a loop is an error naming the path.
    symlink("store/new.bin", dir.join("dangling")).unwrap();
    checkpoint::write_atomically(&dir.join("dangling"), b"made").unwrap();
    assert_eq!(fs::read(dir.join("store/new.bin")).unwrap(), b"made");
    symlink("loop-b", dir.join("loop-a")).unwrap();
    symlink("loop-a", dir.join("loop-b")).unwrap();
    let e = checkpoint::write_atomically(&dir.join("loop-a"), b"x").unwrap_err().to_string();
    assert!(e.contains("loop-a") && e.contains("symbolic links"), "{e}");
}

#[test]
fn calibrate_through_a_link_rewrites_the_target() {
    let dir = TempDir::new("links-calibrate");
    let model = common::train_tiny_10x10(&dir);
    let link = dir.join("link.safetensors");
    symlink(&model, &link).unwrap();
    let data = dir.arg("data10");
    backprop(&["calibrate", "--model", link.to_str().unwrap(), "--data", &data]).expect_success("calibrate");
    assert!(is_link(&link), "the link was replaced by a regular file");
    let stored = Checkpoint::load(&model).unwrap();
    let threshold: f32 = stored.metadata[REJECT_KEY].parse().unwrap();
    assert!((0.0..=1.0).contains(&threshold));
    assert!(temporaries(dir.path()).is_empty() && temporaries(model.parent().unwrap()).is_empty());
}

#[test]
fn training_predictions_and_reports_write_through_links() {
    let dir = TempDir::new("links-outputs");
    let data = dir.join("data10");
    common::write_band_dataset(&data, 10, 200, 50);
    let store = dir.join("store");
    fs::create_dir_all(&store).unwrap();
    let out = dir.join("run");
    fs::create_dir_all(&out).unwrap();
    for name in ["model.safetensors", "history.jsonl", "loss.png", "loss.svg"] {
        fs::write(store.join(name), b"old").unwrap();
        symlink(store.join(name), out.join(name)).unwrap();
    }
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    backprop(&["train", "mnist", "--data", d, "--out", o, "--hidden", "8", "--epochs", "2"]).expect_success("train");
    backprop(&["report", o]).expect_success("report");
    for name in ["model.safetensors", "history.jsonl", "loss.png", "loss.svg"] {
        assert!(is_link(&out.join(name)), "{name} is no longer a link");
        assert_ne!(fs::read(store.join(name)).unwrap(), b"old", "{name}'s target was not written");
    }
    assert!(Checkpoint::load(&store.join("model.safetensors")).is_ok());
    assert!(image::open(store.join("loss.png")).is_ok());
    assert_eq!(fs::read_to_string(store.join("history.jsonl")).unwrap().lines().count(), 2);

    // predict --csv --output through a link.
    let csv = dir.write("t.csv", b"a,y\n1,2\n2,4\n3,6\n4,8\n5,10\n");
    let c = dir.arg("csvrun");
    backprop(&["train", "csv", "--file", csv.to_str().unwrap(), "--target", "y", "--epochs", "1", "--out", &c])
        .expect_success("train csv");
    fs::write(store.join("preds.csv"), b"old").unwrap();
    symlink(store.join("preds.csv"), dir.join("preds.csv")).unwrap();
    let model = format!("{c}/model.safetensors");
    let output = dir.arg("preds.csv");
    backprop(&["predict", "--model", &model, "--csv", csv.to_str().unwrap(), "--output", &output])
        .expect_success("predict --csv --output");
    assert!(is_link(&dir.join("preds.csv")));
    assert!(fs::read_to_string(store.join("preds.csv")).unwrap().starts_with("a,y,predicted_y\n"));
}
