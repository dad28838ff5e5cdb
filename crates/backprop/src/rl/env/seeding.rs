//! NumPy's default random generator, bit for bit: `SeedSequence` seeding a
//! `PCG64`, and `Generator.uniform`. Gymnasium draws every initial state with
//! it (`gymnasium.utils.seeding.np_random(seed)`), so `reset(Some(seed))` here
//! starts an episode in exactly the state Gymnasium's does.
//!
//! This is not the framework's [`Rng`](crate::tensor::Rng) (initialisation,
//! shuffling, sampling): it exists only to reproduce Gymnasium's initial
//! states. Sources: NumPy's `bit_generator.pyx` (`SeedSequence`, the
//! `hashmix`/`mix` of Melissa O'Neill's seed_seq_fe), `pcg64.h` (PCG-XSL-RR
//! 128/64) and `distributions.c` (`next_double`, `random_uniform`).

const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;
/// PCG's 128-bit LCG multiplier.
const PCG_MULT: u128 = (2_549_297_995_355_413_924u128 << 64) + 4_865_540_595_714_422_341u128;

/// `np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))`.
///
/// ```
/// use backprop::rl::NumpyRng;
/// // np.random.default_rng(42).uniform(-0.05, 0.05, 4)[0] == 0.027395604855596334
/// let mut rng = NumpyRng::new(42);
/// assert_eq!(rng.uniform(-0.05, 0.05), 0.027395604855596334);
/// ```
#[derive(Clone, Debug)]
pub struct NumpyRng {
    state: u128,
    inc: u128,
}

impl NumpyRng {
    /// The generator NumPy seeds from the integer `seed`.
    pub fn new(seed: u64) -> NumpyRng {
        let words = seed_sequence_state(seed);
        let initstate = (u128::from(words[0]) << 64) | u128::from(words[1]);
        let initseq = (u128::from(words[2]) << 64) | u128::from(words[3]);
        // pcg_setseq_128_srandom_r
        let mut rng = NumpyRng { state: 0, inc: (initseq << 1) | 1 };
        rng.step();
        rng.state = rng.state.wrapping_add(initstate);
        rng.step();
        rng
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// The next 64 random bits (PCG-XSL-RR output of the advanced state).
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let s = self.state;
        let xored = ((s >> 64) as u64) ^ (s as u64);
        xored.rotate_right((s >> 122) as u32)
    }

    /// A double in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `Generator.uniform(low, high)`: `low + (high - low) * next_f64()`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }
}

/// `SeedSequence(seed).generate_state(4, np.uint64)`.
fn seed_sequence_state(seed: u64) -> [u64; 4] {
    // The entropy as little-endian 32-bit words (at least one).
    let entropy: Vec<u32> = if seed >> 32 == 0 { vec![seed as u32] } else { vec![seed as u32, (seed >> 32) as u32] };
    let mut hash_const = INIT_A;
    let mut hashmix = |value: u32| {
        let mut v = value ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_A);
        v = v.wrapping_mul(hash_const);
        v ^ (v >> XSHIFT)
    };
    let mix = |x: u32, y: u32| {
        let r = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
        r ^ (r >> XSHIFT)
    };
    let mut pool = [0u32; POOL_SIZE];
    for (i, slot) in pool.iter_mut().enumerate() {
        *slot = hashmix(entropy.get(i).copied().unwrap_or(0));
    }
    for src in 0..POOL_SIZE {
        for dst in 0..POOL_SIZE {
            if src != dst {
                let h = hashmix(pool[src]);
                pool[dst] = mix(pool[dst], h);
            }
        }
    }
    // (Entropy beyond the pool's 4 words cannot come from a u64 seed.)
    let mut hash_const = INIT_B;
    let mut words = [0u32; 2 * 4];
    for (i, w) in words.iter_mut().enumerate() {
        let mut v = pool[i % POOL_SIZE] ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_B);
        v = v.wrapping_mul(hash_const);
        *w = v ^ (v >> XSHIFT);
    }
    std::array::from_fn(|i| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy() {
        // np.random.SeedSequence(0).generate_state(4, np.uint64), and the first
        // uniform(-0.05, 0.05) draws of np.random.default_rng(seed) (NumPy 2.4).
        let first = |seed: u64| {
            let mut r = NumpyRng::new(seed);
            [r.uniform(-0.05, 0.05), r.uniform(-0.05, 0.05)]
        };
        assert_eq!(first(0), [0.013696168732145436, -0.02302132862361297]);
        assert_eq!(first(1), [0.0011821624700256717, 0.045046369632593536]);
        assert_eq!(first((1 << 40) + 5), [-0.04952605406255092, -0.01274154175887885]);
    }
}
