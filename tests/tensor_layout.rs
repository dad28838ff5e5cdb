//! Tensor layout (permute, narrow/concat, index_select/gather, reshape) and
//! the random number generator, against naive references and statistics.

use backprop::tensor::Rng;
use backprop::Tensor;

mod tensor_common;
use tensor_common::{randn, ravel, unravel};

// ---------------------------------------------------------------- moving values

#[test]
fn permute_matches_naive_and_round_trips() {
    let x = randn(&[2, 3, 4, 5], 1);
    let perms: [[usize; 4]; 5] = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1], [0, 2, 1, 3]];
    for dims in perms {
        let p = x.permute(&dims);
        let out_shape: Vec<usize> = dims.iter().map(|&d| x.shape()[d]).collect();
        assert_eq!(p.shape(), out_shape.as_slice());
        for flat in 0..p.numel() {
            let oi = unravel(flat, &out_shape);
            let mut ii = vec![0; 4];
            for (o, &d) in dims.iter().enumerate() {
                ii[d] = oi[o];
            }
            assert_eq!(p.data()[flat], x.data()[ravel(&ii, x.shape())], "permute {dims:?}");
        }
        let mut inverse = [0; 4];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i;
        }
        assert_eq!(p.permute(&inverse), x, "permute {dims:?} round trip");
    }
    let m = randn(&[3, 7], 2);
    let t = m.transpose(0, 1);
    assert_eq!(t.shape(), &[7, 3]);
    assert_eq!(t.data()[2 * 3 + 1], m.data()[7 + 2]);
    assert_eq!(t.transpose(1, 0), m);
    assert_eq!(x.transpose(1, 3).transpose(1, 3), x);
}

#[test]
#[should_panic(expected = "not a permutation")]
fn permute_rejects_repeated_dims() {
    let _ = Tensor::zeros(&[2, 3]).permute(&[0, 0]);
}

#[test]
fn narrow_and_concat_round_trip() {
    let x = randn(&[4, 6, 5], 3);
    for axis in 0..3 {
        let size = x.shape()[axis];
        // Split into three uneven parts and join them back.
        let cuts = [0, 1, size - 2, size];
        let parts: Vec<Tensor> = cuts.windows(2).map(|w| x.narrow(axis, w[0], w[1] - w[0])).collect();
        for (p, w) in parts.iter().zip(cuts.windows(2)) {
            let mut s = x.shape().to_vec();
            s[axis] = w[1] - w[0];
            assert_eq!(p.shape(), s.as_slice());
            // Naive check of the slice.
            for flat in 0..p.numel() {
                let mut idx = unravel(flat, p.shape());
                idx[axis] += w[0];
                assert_eq!(p.data()[flat], x.data()[ravel(&idx, x.shape())]);
            }
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        assert_eq!(Tensor::concat(&refs, axis), x, "axis {axis}");
    }
    // The whole axis, and an empty slice.
    assert_eq!(x.narrow(1, 0, 6), x);
    assert_eq!(x.narrow(2, 5, 0).shape(), &[4, 6, 0]);
}

#[test]
#[should_panic(expected = "exceeds size")]
fn narrow_rejects_out_of_range() {
    let _ = Tensor::zeros(&[2, 3]).narrow(1, 2, 2);
}

#[test]
#[should_panic(expected = "does not match")]
fn concat_rejects_mismatched_shapes() {
    let _ = Tensor::concat(&[&Tensor::zeros(&[2, 3]), &Tensor::zeros(&[3, 2])], 0);
}

#[test]
fn index_select_and_gather_last() {
    let x = randn(&[5, 3, 2], 4);
    let ids = [4, 0, 0, 2];
    let s = x.index_select(&ids);
    assert_eq!(s.shape(), &[4, 3, 2]);
    for (r, &i) in ids.iter().enumerate() {
        assert_eq!(&s.data()[r * 6..(r + 1) * 6], &x.data()[i * 6..(i + 1) * 6]);
    }
    assert_eq!(x.index_select(&[0, 1, 2, 3, 4]), x);
    // Same as narrow for a contiguous range.
    assert_eq!(x.index_select(&[1, 2, 3]), x.narrow(0, 1, 3));
    assert_eq!(x.index_select(&[]).shape(), &[0, 3, 2]);

    let logits = randn(&[4, 7], 5);
    let labels = [6, 0, 3, 3];
    let g = logits.gather_last(&labels);
    assert_eq!(g.shape(), &[4]);
    for (r, &l) in labels.iter().enumerate() {
        assert_eq!(g.data()[r], logits.data()[r * 7 + l]);
    }
    let l3 = randn(&[2, 3, 4], 6);
    let g3 = l3.gather_last(&[0, 1, 2, 3, 0, 1]);
    assert_eq!(g3.shape(), &[2, 3]);
    assert_eq!(g3.data()[4], l3.data()[4 * 4]);
}

#[test]
#[should_panic(expected = "out of range")]
fn index_select_rejects_out_of_range() {
    let _ = Tensor::zeros(&[2, 3]).index_select(&[2]);
}

#[test]
fn reshape_shares_and_checks_counts() {
    let x = randn(&[3, 4], 1);
    let r = x.reshape(&[2, 6]);
    assert_eq!(r.data(), x.data());
    assert_eq!(r.shape(), &[2, 6]);
    assert_eq!(Tensor::scalar(2.5).reshape(&[1, 1]).item(), 2.5);
    assert!(Tensor::try_from_vec(vec![1.0; 5], &[2, 3]).is_err());
}

// ---------------------------------------------------------------- random numbers

#[test]
fn rng_is_reproducible() {
    let mut a = Rng::new(2024);
    let mut b = Rng::new(2024);
    let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
    let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
    assert_eq!(xs, ys);
    let mut c = Rng::new(2025);
    let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
    assert_ne!(xs, zs);
    assert_eq!(randn(&[10, 10], 7), randn(&[10, 10], 7));
    assert_ne!(randn(&[10, 10], 7), randn(&[10, 10], 8));
    // A cloned generator continues the same stream.
    let mut d = Rng::new(5);
    d.next_u64();
    let mut e = d.clone();
    assert_eq!(d.normal(), e.normal());
}

#[test]
fn rng_normal_mean_and_std() {
    let mut rng = Rng::new(99);
    let n = 100_000;
    let xs: Vec<f64> = (0..n).map(|_| rng.normal() as f64).collect();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    assert!(mean.abs() < 0.015, "mean {mean}");
    assert!((var.sqrt() - 1.0).abs() < 0.015, "std {}", var.sqrt());
    assert!(xs.iter().all(|x| x.is_finite()));
    // About 68% within one standard deviation.
    let within = xs.iter().filter(|x| x.abs() < 1.0).count() as f64 / n as f64;
    assert!((within - 0.6827).abs() < 0.01, "{within}");

    let t = Tensor::randn(&[100_000], 3.0, 0.5, &mut Rng::new(1));
    let m = t.mean_all() as f64;
    let sd = (t.data().iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / 1e5).sqrt();
    assert!((m - 3.0).abs() < 0.01 && (sd - 0.5).abs() < 0.01, "mean {m} std {sd}");
}

#[test]
fn rng_uniform_below_and_shuffle() {
    let mut rng = Rng::new(3);
    let n = 100_000;
    let us: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
    assert!(us.iter().all(|u| (0.0..1.0).contains(u)));
    let mean = us.iter().map(|&u| u as f64).sum::<f64>() / n as f64;
    assert!((mean - 0.5).abs() < 0.01, "{mean}");
    for _ in 0..1000 {
        let u = rng.uniform(-2.0, 3.0);
        assert!((-2.0..3.0).contains(&u));
    }
    let mut counts = [0usize; 7];
    for _ in 0..70_000 {
        counts[rng.below(7)] += 1;
    }
    assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
    let mut items: Vec<usize> = (0..50).collect();
    rng.shuffle(&mut items);
    assert_ne!(items, (0..50).collect::<Vec<_>>());
    items.sort_unstable();
    assert_eq!(items, (0..50).collect::<Vec<_>>());
}

#[test]
fn xavier_and_kaiming_bounds() {
    let (fan_in, fan_out) = (300, 100);
    let shape = [fan_out, fan_in];
    let mut rng = Rng::new(11);

    let a = (6.0f32 / (fan_in + fan_out) as f32).sqrt();
    let xu = Tensor::xavier_uniform(&shape, fan_in, fan_out, &mut rng);
    assert_eq!(xu.shape(), &shape);
    assert!(xu.data().iter().all(|v| v.abs() <= a), "xavier_uniform exceeds {a}");
    let (lo, hi) = xu.data().iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(lo < -0.95 * a && hi > 0.95 * a, "xavier_uniform should fill [-{a}, {a}]: [{lo}, {hi}]");

    let b = (6.0f32 / fan_in as f32).sqrt();
    let ku = Tensor::kaiming_uniform(&shape, fan_in, &mut rng);
    assert!(ku.data().iter().all(|v| v.abs() <= b), "kaiming_uniform exceeds {b}");
    let (lo, hi) = ku.data().iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(lo < -0.95 * b && hi > 0.95 * b);

    let std_of = |t: &Tensor| {
        let m = t.mean_all() as f64;
        (t.data().iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / t.numel() as f64).sqrt()
    };
    let kn = Tensor::kaiming_normal(&shape, fan_in, &mut rng);
    let want = (2.0 / fan_in as f64).sqrt();
    assert!((std_of(&kn) / want - 1.0).abs() < 0.03, "kaiming_normal std {} vs {want}", std_of(&kn));
    assert!(kn.mean_all().abs() < 0.01);
    let xn = Tensor::xavier_normal(&shape, fan_in, fan_out, &mut rng);
    let want = (2.0 / (fan_in + fan_out) as f64).sqrt();
    assert!((std_of(&xn) / want - 1.0).abs() < 0.03, "xavier_normal std {} vs {want}", std_of(&xn));
    // Uniform(-a, a) has std a / sqrt(3).
    assert!((std_of(&xu) / (a as f64 / 3f64.sqrt()) - 1.0).abs() < 0.03);
}
