//! The transformer pieces: gradients of LayerNorm, causal attention and
//! embeddings against finite differences; the KV-cache path against the full
//! forward pass; a tiny GPT memorising a short text; bad input to the CLI.

use backprop::autograd::{gradcheck, GradcheckOptions, Var};
use backprop::data::{random_windows, CharTokenizer, TextData};
use backprop::nn::{Gpt, GptConfig, Module};
use backprop::tensor::Rng;
use backprop::train::{estimate_loss, train_lm, LmConfig};
use backprop::Tensor;
use std::process::Command;

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::new(seed))
}

#[test]
fn layer_norm_gradients_match_finite_differences() {
    let x = rand(&[3, 5], 1);
    let gamma = rand(&[5], 2);
    let beta = rand(&[5], 3);
    let r = gradcheck(
        &[x.clone(), gamma, beta],
        |_, v| v[0].layer_norm(Some(v[1]), Some(v[2]), 1e-5),
        &GradcheckOptions::default(),
    );
    assert!(r.passed, "{r:?}");
    let r = gradcheck(&[x], |_, v| v[0].layer_norm(None, None, 1e-5), &GradcheckOptions::default());
    assert!(r.passed, "without gamma/beta: {r:?}");
}

#[test]
fn causal_softmax_gradients_match_and_the_future_is_masked() {
    let s = rand(&[2, 4, 4], 4);
    let r = gradcheck(std::slice::from_ref(&s), |_, v| v[0].causal_softmax(0.7), &GradcheckOptions::default());
    assert!(r.passed, "{r:?}");
    let g = backprop::Graph::no_grad();
    let p = g.constant(s).causal_softmax(0.7).value();
    for m in 0..2 {
        for i in 0..4 {
            let row = &p.data()[(m * 4 + i) * 4..(m * 4 + i + 1) * 4];
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert!(row[i + 1..].iter().all(|&v| v == 0.0), "row {i} attends to the future: {row:?}");
        }
    }
}

/// Multi-head causal attention written with the same ops the layer uses,
/// with the projections as leaves so gradcheck covers everything.
fn attention<'g>(x: Var<'g>, w_qkv: Var<'g>, w_proj: Var<'g>, b: usize, t: usize, h: usize) -> Var<'g> {
    let c = x.shape()[1];
    let hd = c / h;
    let qkv = x.matmul_t(false, w_qkv, true);
    let head =
        |i: usize| qkv.narrow(1, i * c, c).reshape(&[b, t, h, hd]).permute(&[0, 2, 1, 3]).reshape(&[b * h, t, hd]);
    let att = head(0).matmul_t(false, head(1), true).causal_softmax(1.0 / (hd as f32).sqrt());
    let y = att.matmul(head(2)).reshape(&[b, h, t, hd]).permute(&[0, 2, 1, 3]).reshape(&[b * t, c]);
    y.matmul_t(false, w_proj, true)
}

#[test]
fn attention_gradients_match_finite_differences() {
    let (b, t, c, h) = (2, 3, 4, 2);
    let inputs =
        [rand(&[b * t, c], 5).mul_scalar(0.5), rand(&[3 * c, c], 6).mul_scalar(0.5), rand(&[c, c], 7).mul_scalar(0.5)];
    let r = gradcheck(&inputs, |_, v| attention(v[0], v[1], v[2], b, t, h), &GradcheckOptions::default());
    assert!(r.passed, "{r:?}");
}

#[test]
fn attention_does_not_look_ahead() {
    // Changing the last token must not change earlier positions' outputs.
    let (b, t, c, h) = (1, 4, 4, 2);
    let x = rand(&[t, c], 8);
    let (wq, wp) = (rand(&[3 * c, c], 9), rand(&[c, c], 10));
    let run = |x: &Tensor| {
        let g = backprop::Graph::no_grad();
        attention(g.constant(x.clone()), g.constant(wq.clone()), g.constant(wp.clone()), b, t, h).value()
    };
    let mut x2 = x.clone();
    x2.data_mut()[(t - 1) * c..].iter_mut().for_each(|v| *v += 1.0);
    let (y1, y2) = (run(&x), run(&x2));
    assert_eq!(y1.data()[..(t - 1) * c], y2.data()[..(t - 1) * c]);
    assert_ne!(y1.data()[(t - 1) * c..], y2.data()[(t - 1) * c..]);
}

#[test]
fn embedding_gradient_is_a_scatter_add() {
    let table = rand(&[5, 3], 11);
    let r = gradcheck(&[table], |_, v| v[0].index_select(&[4, 1, 4, 0]).tanh(), &GradcheckOptions::default());
    assert!(r.passed, "{r:?}");
}

fn tiny_config(vocab: usize) -> GptConfig {
    GptConfig { vocab_size: vocab, block_size: 8, layers: 2, heads: 2, embd: 16, dropout: 0.0, bias: true, tied: true }
}

#[test]
fn kv_cache_step_matches_the_full_forward_pass() {
    for tied in [true, false] {
        let cfg = GptConfig { tied, ..tiny_config(7) };
        let gpt = Gpt::new(cfg, &mut Rng::new(3)).unwrap();
        let tokens = [1, 5, 2, 6, 0, 3];
        let mut cache = gpt.new_cache();
        for n in 1..=tokens.len() {
            let step = gpt.step(&mut cache, tokens[n - 1]);
            let full = gpt.logits_last(&tokens[..n]);
            let diff = step.iter().zip(&full).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-4, "position {n}: cached and full logits differ by {diff}");
        }
    }
}

/// Contexts of 1 and 2 positions, one head of one channel, a vocabulary of
/// one: generation rebuilds its cache every step or two and never panics.
#[test]
fn generation_with_the_smallest_contexts_rebuilds_its_cache() {
    for (block, heads, embd, vocab) in [(1, 1, 1, 1), (1, 2, 4, 5), (2, 1, 1, 3), (3, 1, 4, 2)] {
        let cfg = GptConfig { block_size: block, heads, embd, layers: 1, ..tiny_config(vocab) };
        let gpt = Gpt::new(cfg, &mut Rng::new(5)).unwrap();
        let prompt = vec![0; 4]; // longer than the context
        let out = gpt.generate(&prompt, 25, 0.8, None, &mut Rng::new(1), |_| {});
        assert_eq!(out.len(), 29, "block {block}");
        assert!(out.iter().all(|&t| t < vocab), "block {block}: {out:?}");
        assert_eq!(gpt.generate(&prompt, 0, 1.0, None, &mut Rng::new(1), |_| {}), prompt);
        if block == 1 {
            // With one position each token is drawn from the logits of the one before it alone.
            let mut rng = Rng::new(9);
            let drawn = gpt.generate(&[0], 6, 1.0, Some(1), &mut rng, |_| {});
            for w in drawn.windows(2) {
                let logits = gpt.logits_last(&[w[0]]);
                let best = (0..vocab).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap();
                assert_eq!(w[1], best, "{drawn:?}");
            }
        }
    }
}

#[test]
fn gpt_parameters_are_named_like_nanogpt_and_counted() {
    let cfg = tiny_config(7);
    let gpt = Gpt::new(cfg.clone(), &mut Rng::new(0)).unwrap();
    let names: Vec<String> = gpt.parameters().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"transformer.h.1.attn.c_attn.weight".to_string()), "{names:?}");
    assert!(names.contains(&"transformer.h.0.mlp.c_proj.bias".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("lm_head")), "tied embeddings have no lm_head");
    // The shapes computed from the configuration are the real ones, name for name.
    for cfg in [cfg.clone(), GptConfig { tied: false, bias: false, ..cfg }] {
        let gpt = Gpt::new(cfg.clone(), &mut Rng::new(0)).unwrap();
        let real: Vec<(String, Vec<usize>)> = gpt.parameters().into_iter().map(|(n, p)| (n, p.shape())).collect();
        assert_eq!(cfg.parameter_shapes().unwrap(), real);
        let counted: usize = real.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        assert_eq!(counted, gpt.num_parameters());
    }
}

fn tiny_checkpoint(name: &str) -> (std::path::PathBuf, backprop::checkpoint::Checkpoint) {
    let dir = temp_dir(name);
    let path = dir.join("model.safetensors");
    let tokenizer = CharTokenizer::from_text("abcdefg");
    Gpt::new(tiny_config(7), &mut Rng::new(0)).unwrap().save(&path, &tokenizer).unwrap();
    (dir, backprop::checkpoint::Checkpoint::load(&path).unwrap())
}

#[test]
fn a_checkpoint_round_trips_and_one_claiming_huge_sizes_is_refused_without_allocating() {
    use backprop::checkpoint::CONFIG_KEY;
    let (dir, ckpt) = tiny_checkpoint("huge");
    let (gpt, _) = Gpt::from_checkpoint(&ckpt).unwrap();
    assert_eq!(gpt.config(), &tiny_config(7));
    let hostile = [
        GptConfig { embd: 1 << 40, heads: 1, ..tiny_config(7) },
        GptConfig { embd: 1 << 62, heads: 1, ..tiny_config(7) },
        GptConfig { layers: 1 << 40, ..tiny_config(7) },
        GptConfig { block_size: 1 << 60, ..tiny_config(7) },
        GptConfig { embd: 32, heads: 2, ..tiny_config(7) },
    ];
    let start = std::time::Instant::now();
    for cfg in hostile {
        let mut bad = ckpt.clone();
        bad.metadata.insert(CONFIG_KEY.into(), serde_json::to_string(&cfg).unwrap());
        let err = Gpt::from_checkpoint(&bad).err().expect("a hostile configuration was accepted").to_string();
        assert!(err.contains("model.safetensors"), "{err}");
    }
    assert!(start.elapsed().as_secs_f32() < 1.0, "refusing took {:?}", start.elapsed());
    // A hostile configuration is refused by the constructor too, before allocating.
    assert!(Gpt::new(GptConfig { embd: 1 << 62, heads: 1, ..tiny_config(7) }, &mut Rng::new(0)).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn config_errors_name_fields_not_flags() {
    let err = GptConfig { heads: 3, embd: 128, ..tiny_config(7) }.validate().unwrap_err().to_string();
    assert_eq!(err, "invalid value for heads: 3 heads do not divide embd 128");
    let err = GptConfig { block_size: 0, ..tiny_config(7) }.validate().unwrap_err().to_string();
    assert!(err.contains("block_size") && !err.contains("--"), "{err}");
}

#[test]
fn a_tiny_gpt_memorises_a_short_text() {
    // Every character has one successor, so a perfect model reaches zero loss.
    let text = "Thequickbrownfx,JUMPSOVLAZYDG!".repeat(20);
    let data = TextData::from_text(&text, 0.5);
    let cfg = GptConfig { block_size: 16, embd: 32, ..tiny_config(data.tokenizer.vocab_size()) };
    let gpt = Gpt::new(cfg, &mut Rng::new(1)).unwrap();
    let lm = LmConfig {
        iters: 300,
        batch_size: 8,
        lr: 1e-2,
        min_lr: 1e-3,
        warmup: 20,
        weight_decay: 0.0,
        eval_every: 300,
        ..Default::default()
    };
    let records = train_lm(&gpt, &data, &lm, |_| Ok(())).unwrap();
    let train_loss = estimate_loss(&gpt, &data.train, 8, 10, &mut Rng::new(2));
    assert!(train_loss < 0.05, "training loss stayed at {train_loss} ({records:?})");
    // It continues the text it memorised.
    let prompt = data.tokenizer.encode("quick").unwrap();
    let out = gpt.generate(&prompt, 30, 0.01, Some(1), &mut Rng::new(0), |_| {});
    assert_eq!(data.tokenizer.decode(&out[prompt.len()..]), "brownfx,JUMPSOVLAZYDG!Thequick");
}

#[test]
fn windows_are_shifted_by_one() {
    let tokens: Vec<usize> = (0..50).collect();
    let (x, y) = random_windows(&tokens, 3, 5, &mut Rng::new(0));
    for (a, b) in x.iter().zip(&y) {
        assert_eq!(a + 1, *b);
    }
    let tok = CharTokenizer::from_text("abc");
    assert!(tok.encode("abd").unwrap_err().to_string().contains("'d'"));
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("backprop-gpt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the binary; asserts failure with one stderr line containing `words`.
fn fails_with(args: &[&str], words: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one error line, got {stderr}");
    for w in words {
        assert!(lines[0].to_lowercase().contains(&w.to_lowercase()), "{args:?}: {:?} lacks {w:?}", lines[0]);
    }
}

#[test]
fn bad_input_to_train_gpt_and_generate_is_one_line() {
    let dir = temp_dir("bad");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let binary = dir.join("blob.bin");
    std::fs::write(&binary, [0u8, 159, 146, 150, 0, 1]).unwrap();
    let text = dir.join("t.txt");
    std::fs::write(&text, "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc\n".repeat(20)).unwrap();
    let out = dir.join("run");
    let (e, b, t, o) =
        (empty.to_str().unwrap(), binary.to_str().unwrap(), text.to_str().unwrap(), out.to_str().unwrap());
    fails_with(&["train", "gpt", "--text", e, "--out", o], &["empty"]);
    fails_with(&["train", "gpt", "--text", b, "--out", o], &["binary"]);
    fails_with(&["train", "gpt", "--text", t, "--block-size", "0", "--out", o], &["--block-size"]);
    fails_with(&["train", "gpt", "--text", t, "--heads", "3", "--embd", "128", "--out", o], &["--heads", "divide"]);
    // The library names the field (block_size); the CLI names the flag.
    fails_with(&["train", "gpt", "--text", t, "--block-size", "5000", "--out", o], &["--block-size", "window"]);
    // A position table too large to build blames --block-size, not --embd.
    let huge = ["train", "gpt", "--text", t, "--block-size", "100000000", "--out", o];
    fails_with(&huge, &["--block-size", "parameters"]);
    fails_with(&["train", "gpt", "--text", "/nonexistent/x.txt", "--out", o], &["/nonexistent/x.txt"]);
    // A real (tiny) model, then a prompt outside its vocabulary.
    let ok = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args([
            "train",
            "gpt",
            "--text",
            t,
            "--layers",
            "1",
            "--embd",
            "16",
            "--heads",
            "2",
            "--block-size",
            "8",
            "--iters",
            "5",
            "--eval-every",
            "5",
            "--out",
            o,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // --json: a record per validation, then one summary, every line JSON.
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&ok.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!((lines[0]["epoch"].as_u64(), lines[0]["step"].as_u64()), (Some(1), Some(5)));
    assert!(lines[1]["val_loss"].is_f64() && lines[1]["model"].is_string(), "{lines:?}");
    let model = out.join("model.safetensors");
    let m = model.to_str().unwrap();
    fails_with(&["generate", "--model", m, "--prompt", "abz"], &["--prompt", "'z'"]);
    let gen = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args(["generate", "--model", m, "--prompt", "ab", "--tokens", "30"])
        .output()
        .unwrap();
    assert!(gen.status.success());
    assert_eq!(String::from_utf8_lossy(&gen.stdout).trim_end_matches('\n').chars().count(), 32);
    fails_with(&["eval", "--model", m], &["gpt"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fused_attention_matches_the_composed_ops_and_its_gradients_check() {
    let (b, t, c, h) = (2, 5, 8, 2);
    let x = rand(&[b * t, c], 12).mul_scalar(0.5);
    let (wq, wp) = (rand(&[3 * c, c], 13).mul_scalar(0.5), rand(&[c, c], 14));
    let g = backprop::Graph::no_grad();
    let composed = attention(g.constant(x.clone()), g.constant(wq.clone()), g.constant(wp.clone()), b, t, h).value();
    let qkv = g.constant(x.clone()).matmul_t(false, g.constant(wq.clone()), true);
    let fused = qkv.causal_attention(b, t, h).matmul_t(false, g.constant(wp.clone()), true).value();
    assert!(composed.max_abs_diff(&fused) < 1e-5, "fused and composed attention differ");
    let qkv = x.matmul_t(false, &wq, true);
    let r = gradcheck(&[qkv], |_, v| v[0].causal_attention(b, t, h), &GradcheckOptions::default());
    assert!(r.passed, "{r:?}");
}

/// `train gpt --block-size 1` trains, prints its sample and saves a model
/// that `generate` runs with (the cache rebuild once panicked on an empty
/// range), down to `--tokens 0`.
#[test]
fn a_context_of_one_character_trains_and_generates() {
    let dir = temp_dir("block1");
    let text = dir.join("t.txt");
    std::fs::write(&text, "the quick brown fox jumps over the lazy dog.\n".repeat(20)).unwrap();
    let out = dir.join("run");
    let (t, o) = (text.to_str().unwrap(), out.to_str().unwrap());
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).output().unwrap();
    let flags = ["--layers", "1", "--heads", "1", "--embd", "4", "--block-size", "1", "--iters", "5"];
    let train = run(&[&["train", "gpt", "--text", t, "--out", o, "--eval-every", "5"], &flags[..]].concat());
    let stderr = String::from_utf8_lossy(&train.stderr);
    assert!(train.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(String::from_utf8_lossy(&train.stdout).contains("sample:"));
    let m = out.join("model.safetensors");
    for (tokens, chars) in [("40", 41), ("0", 1)] {
        let gen = run(&["generate", "--model", m.to_str().unwrap(), "--prompt", "t", "--tokens", tokens]);
        assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
        assert_eq!(String::from_utf8_lossy(&gen.stdout).trim_end_matches('\n').chars().count(), chars);
    }
    std::fs::remove_dir_all(&dir).ok();
}
