//! Seeded random numbers and weight initialisation.
//!
//! The generator is xoshiro256++ seeded through SplitMix64: small, fast and
//! stable across versions, so a seed means the same numbers forever.

use super::Tensor;

/// A seeded pseudo-random generator (xoshiro256++).
///
/// ```
/// use backprop::tensor::Rng;
/// let mut a = Rng::new(42);
/// let mut b = Rng::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let u = a.uniform(-1.0, 1.0);
/// assert!((-1.0..1.0).contains(&u));
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { s: [next(), next(), next(), next()] }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Standard normal N(0, 1) by the Box-Muller transform.
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        let u2 = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

impl Tensor {
    /// Values uniform in [lo, hi).
    pub fn rand_uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut Rng) -> Tensor {
        let n = super::numel(shape);
        Tensor::from_vec((0..n).map(|_| rng.uniform(lo, hi)).collect(), shape)
    }

    /// Values from N(mean, std^2).
    pub fn randn(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Tensor {
        let n = super::numel(shape);
        Tensor::from_vec((0..n).map(|_| mean + std * rng.normal()).collect(), shape)
    }

    /// Xavier/Glorot uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
    /// Suits sigmoid and tanh layers.
    pub fn xavier_uniform(shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut Rng) -> Tensor {
        let a = (6.0 / (fan_in + fan_out) as f32).sqrt();
        Self::rand_uniform(shape, -a, a, rng)
    }

    /// Xavier/Glorot normal: N(0, 2 / (fan_in + fan_out)).
    pub fn xavier_normal(shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut Rng) -> Tensor {
        Self::randn(shape, 0.0, (2.0 / (fan_in + fan_out) as f32).sqrt(), rng)
    }

    /// He/Kaiming normal: N(0, 2 / fan_in). Suits ReLU layers.
    pub fn kaiming_normal(shape: &[usize], fan_in: usize, rng: &mut Rng) -> Tensor {
        Self::randn(shape, 0.0, (2.0 / fan_in as f32).sqrt(), rng)
    }

    /// He/Kaiming uniform: U(-a, a) with a = sqrt(6 / fan_in).
    pub fn kaiming_uniform(shape: &[usize], fan_in: usize, rng: &mut Rng) -> Tensor {
        let a = (6.0 / fan_in as f32).sqrt();
        Self::rand_uniform(shape, -a, a, rng)
    }
}
