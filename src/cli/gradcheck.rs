//! `backprop gradcheck`: checks a saved classifier's autodiff gradients against
//! finite differences on a batch of test examples, tensor by tensor.

use super::args::{non_negative_f32, positive_f32, positive_usize, DataArg, ModelArg, ThreadsArg};
use backprop::autograd::{gradcheck_params_with, Graph, ParamCheck, ParamCheckOptions};
use backprop::data::Targets;
use backprop::loss::Loss;
use backprop::{Error, Result, Tensor};
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct GradcheckArgs {
    #[command(flatten)]
    model: ModelArg,
    // The first examples of the data folder's test split are used.
    #[command(flatten)]
    data: DataArg,
    /// Test examples in the batch.
    #[arg(long, default_value_t = 8, value_parser = positive_usize)]
    batch: usize,
    /// Entries perturbed per parameter tensor at most (half the largest gradients, half random).
    #[arg(long, default_value_t = 20, value_parser = positive_usize)]
    samples: usize,
    /// Finite-difference step (1e-6 to 1: f32 weights cannot resolve smaller steps).
    #[arg(long, default_value_t = 1e-3, value_parser = finite_difference_step)]
    eps: f32,
    /// Allowed absolute error.
    #[arg(long, default_value_t = 1e-4, value_parser = non_negative_f32)]
    atol: f32,
    /// Allowed error relative to the gradient.
    #[arg(long, default_value_t = 1e-2, value_parser = non_negative_f32)]
    rtol: f32,
    /// Seed of the randomly chosen entries.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    pub(crate) threads: ThreadsArg,
}

/// A finite-difference step f32 arithmetic can resolve: below 1e-6 the
/// perturbed weights (spaced about 1.2e-7 apart near 1) round back to
/// themselves or nearly, and the differences are rounding noise.
fn finite_difference_step(s: &str) -> std::result::Result<f32, String> {
    let eps = positive_f32(s)?;
    if !(1e-6..=1.0).contains(&eps) {
        return Err(format!("{s} is outside 1e-6..=1: f32 weights cannot resolve smaller steps, and larger ones are not derivatives (1e-3 is usual)"));
    }
    Ok(eps)
}

pub(crate) fn run(a: GradcheckArgs) -> Result<()> {
    let (loaded, dir, data) = super::eval::load_model_and_data("gradcheck", &a.model, &a.data)?;
    let classifier = loaded.classifier("gradcheck")?;
    // The check runs in evaluation mode (Graph::eval): dropout off, batch norm
    // on its running statistics, the same function on both sides.
    let model = classifier.module;
    let architecture = match (classifier.mlp, classifier.cnn) {
        (Some(mlp), _) => super::train::describe(mlp),
        (_, Some(cnn)) => format!("{}, in evaluation mode", cnn.describe()),
        _ => loaded.description(),
    };
    if data.is_empty() {
        return Err(Error::format(&dir, "the test set is empty"));
    }
    let loss = loaded.loss();
    let ids: Vec<usize> = (0..a.batch.min(data.len())).collect();
    let (x, labels) = data.batch(&ids);
    let targets = Targets::Classes(labels.clone());
    let opts =
        ParamCheckOptions { eps: a.eps, samples: a.samples, atol: a.atol as f64, rtol: a.rtol as f64, seed: a.seed };
    // Finite differences: the f32 forward pass in evaluation mode, as the gradient's
    // (gradcheck_params_with differentiates on Graph::new().eval()), then the loss in f64.
    let eval = || {
        let g = Graph::no_grad();
        loss_f64(loss, &model.forward(&g, g.constant(x.clone())).value(), &labels)
    };
    let checks = gradcheck_params_with(
        &model.parameters(),
        |g| loss.compute(model.forward(g, g.constant(x.clone())), &targets),
        eval,
        &opts,
    )?;

    println!(
        "gradient check of {} ({}, {loss} loss) on {} test examples from {}",
        a.model.model.display(),
        architecture,
        ids.len(),
        dir.display()
    );
    println!(
        "central differences with eps {:e} on up to {} entries per tensor; pass: |error| <= {:e} + {:e} |gradient|",
        a.eps, a.samples, a.atol, a.rtol
    );
    print_table(&checks);
    let failed: Vec<&str> = checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
    if failed.is_empty() {
        println!("all {} parameter tensors PASS", checks.len());
        Ok(())
    } else {
        Err(Error::Checkpoint {
            path: a.model.model,
            message: format!(
                "gradient check FAILED for {} of {} parameter tensors ({}): autodiff and finite differences disagree",
                failed.len(),
                checks.len(),
                failed.join(", ")
            ),
        })
    }
}

/// `loss` of network outputs `[N, C]` against class labels, as [`Loss::compute`]
/// defines it, computed in `f64`.
fn loss_f64(loss: Loss, outputs: &Tensor, labels: &[usize]) -> f64 {
    let classes = outputs.shape().last().copied().unwrap_or(1).max(1);
    let rows: Vec<Vec<f64>> = outputs.data().chunks(classes).map(|r| r.iter().map(|&v| v as f64).collect()).collect();
    let n = rows.len().max(1) as f64;
    if loss == Loss::CrossEntropy {
        let total: f64 = rows
            .iter()
            .zip(labels)
            .map(|(row, &y)| {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() - row[y]
            })
            .sum();
        return total / n;
    }
    // The other losses compare with one-hot targets (BCE with one output: the label itself).
    let target =
        |y: usize, c: usize| if classes == 1 && loss == Loss::Bce { y as f64 } else { f64::from(u8::from(c == y)) };
    let mut total = 0.0;
    for (row, &y) in rows.iter().zip(labels) {
        for (c, &z) in row.iter().enumerate() {
            let t = target(y, c);
            total += match loss {
                Loss::Mse | Loss::Quadratic => (z - t) * (z - t),
                Loss::L1 => (z - t).abs(),
                Loss::Bce => z.max(0.0) - z * t + (-z.abs()).exp().ln_1p(),
                Loss::CrossEntropy => 0.0,
            };
        }
    }
    match loss {
        Loss::Quadratic => 0.5 * total / n,
        _ => total / (n * classes as f64),
    }
}

fn print_table(checks: &[ParamCheck]) {
    let header = ["parameter", "shape", "checked", "max rel error", "max abs error", "result"];
    let rows: Vec<[String; 6]> = checks
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                format!("{:?}", c.shape),
                c.checked.to_string(),
                format!("{:.2e}", c.max_rel_error),
                format!("{:.2e}", c.max_abs_error),
                if c.passed { "PASS" } else { "FAIL" }.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let [name, shape, checked, rel, abs, result] = cells;
        let [w0, w1, w2, w3, w4, _] = widths;
        println!("{name:<w0$}  {shape:<w1$}  {checked:>w2$}  {rel:>w3$}  {abs:>w4$}  {result}");
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop::loss::Loss;

    #[test]
    fn the_f64_losses_match_the_library_losses() {
        let z = Tensor::from_vec(vec![0.3, -1.2, 2.0, 0.7, 0.1, -0.4], &[2, 3]);
        let labels = [2, 0];
        for loss in [Loss::CrossEntropy, Loss::Mse, Loss::Quadratic, Loss::L1, Loss::Bce] {
            let g = Graph::no_grad();
            let want = loss.compute(g.constant(z.clone()), &Targets::Classes(labels.to_vec())).item() as f64;
            let got = loss_f64(loss, &z, &labels);
            assert!((want - got).abs() < 1e-6, "{loss}: {want} vs {got}");
        }
        let z1 = Tensor::from_vec(vec![0.3, -1.2], &[2, 1]);
        let g = Graph::no_grad();
        let want = Loss::Bce.compute(g.constant(z1.clone()), &Targets::Classes(vec![1, 0])).item() as f64;
        assert!((want - loss_f64(Loss::Bce, &z1, &[1, 0])).abs() < 1e-6);
    }
}
