//! The one model loader seen from the command line: every command taking
//! `--model` refuses a checkpoint of another kind with one `error:` line that
//! names the file and the kind it holds, without panicking.

mod common;

use backprop::data::CharTokenizer;
use backprop::nn::{Activation, Gpt, GptConfig, Mlp, MlpConfig};
use backprop::tensor::Rng;
use common::{assert_clean_failure, backprop, mnist_arg, TempDir};

/// A tiny (untrained) GPT checkpoint.
fn save_gpt(dir: &TempDir) -> String {
    let path = dir.join("gpt.safetensors");
    let tokenizer = CharTokenizer::from_text("abc ");
    let cfg = GptConfig {
        vocab_size: tokenizer.vocab_size(),
        block_size: 8,
        layers: 1,
        heads: 2,
        embd: 8,
        dropout: 0.0,
        bias: true,
        tied: false,
    };
    Gpt::new(cfg, &mut Rng::new(0)).unwrap().save(&path, &tokenizer).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn every_model_command_refuses_a_gpt_in_one_line() {
    let dir = TempDir::new("models-gpt");
    let gpt = save_gpt(&dir);
    let png = dir.join("digit.png");
    image::GrayImage::new(28, 28).save(&png).unwrap();
    let png = png.to_str().unwrap();
    let csv = dir.write("rows.csv", b"a,b\n1,2\n");
    let csv = csv.to_str().unwrap();
    let data = mnist_arg();
    let out = dir.arg("out");
    let commands: Vec<Vec<&str>> = vec![
        vec!["eval", "--model", &gpt, "--data", &data],
        vec!["predict", "--model", &gpt, png],
        vec!["predict", "--model", &gpt, "--csv", csv],
        vec!["explain", "--model", &gpt, png, "--out", &out],
        vec!["attack", "--model", &gpt, "--data", &data, "--limit", "5"],
        vec!["ood", "--model", &gpt, "--in", &data, "--out", &data],
        vec!["calibrate", "--model", &gpt, "--data", &data],
        vec!["serve", "--model", &gpt, "--port", "0"],
        vec!["graph", "--model", &gpt],
        vec!["gradcheck", "--model", &gpt, "--data", &data],
    ];
    for args in commands {
        let line = assert_clean_failure(&backprop(&args), &["error:", "gpt.safetensors", "holds a GPT language model"]);
        assert!(line.contains(&format!("as {}", args[0])), "{args:?}: {line}");
    }
    // info describes it rather than refusing it.
    let info = backprop(&["info", &gpt]).expect_success("info on a GPT");
    assert!(info.stdout.contains("kind: gpt"), "{}", info.stdout);
}

#[test]
fn generate_refuses_an_mlp_in_one_line() {
    let dir = TempDir::new("models-mlp");
    let path = dir.join("mlp.safetensors");
    let mlp = Mlp::new(MlpConfig::classifier(4, &[3], 2, Activation::Relu), &mut Rng::new(0));
    mlp.save(&path, &Default::default()).unwrap();
    let run = backprop(&["generate", "--model", path.to_str().unwrap(), "--prompt", "a"]);
    let line =
        assert_clean_failure(&run, &["error:", "mlp.safetensors", "MLP classifier", "language model", "generate"]);
    assert!(!line.contains('\n'));
}

#[test]
fn a_kind_this_version_cannot_read_is_named() {
    let dir = TempDir::new("models-unknown");
    let path = dir.join("rnn.safetensors");
    let meta = [(backprop::checkpoint::KIND_KEY.to_string(), "rnn".to_string())].into();
    backprop::checkpoint::save(&path, &[], &meta).unwrap();
    let run = backprop(&["eval", "--model", path.to_str().unwrap()]);
    assert_clean_failure(&run, &["rnn.safetensors", "kind 'rnn'", "mlp, cnn, gpt"]);
}

#[test]
fn a_pretrained_encoder_given_as_a_model_says_what_it_is() {
    let dir = TempDir::new("models-encoder");
    let path = dir.join("encoder.safetensors");
    let mlp = Mlp::new(MlpConfig::classifier(4, &[3], 2, Activation::Relu), &mut Rng::new(0));
    backprop::pretrain::Backbone::Mlp(&mlp).save_encoder(&path, &Default::default()).unwrap();
    for command in ["eval", "calibrate"] {
        let run = backprop(&[command, "--model", path.to_str().unwrap()]);
        let line = assert_clean_failure(&run, &["encoder.safetensors", "pre-trained encoder", "--init-from"]);
        assert!(!line.contains("cannot read"), "{line}");
    }
}

#[test]
fn negative_numbers_reach_the_value_parsers() {
    let dir = TempDir::new("models-negative");
    let gpt = save_gpt(&dir);
    let run = backprop(&["generate", "--model", &gpt, "--temperature", "-1"]);
    assert_clean_failure(&run, &["--temperature", "-1", "positive"]);
    let run = backprop(&["eval", "--model", &gpt, "--threads", "-2"]);
    assert_clean_failure(&run, &["--threads", "-2"]);
    // Text that starts with a hyphen is still a value where a flag takes text.
    let run = backprop(&["generate", "--model", &gpt, "--prompt", "-a", "--tokens", "3"]);
    assert_clean_failure(&run, &["--prompt", "'-'"]);
}
