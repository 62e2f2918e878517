//! Random draws used by every augmentation, sampler and occluder.
//!
//! [`RandomSource`] is the one interface they draw through. Two kinds of generator implement it:
//! * any [`rand::RngCore`] (the pipeline uses [`rand_chacha::ChaCha8Rng`]: seedable, portable, and its
//!   state serialises with serde, so a resumed run continues the exact stream);
//! * [`PyRandom`], a bit-exact reimplementation of CPython's `random` module (MT19937, `seed(int)`,
//!   `random()`, `uniform`, `randint`, `shuffle`, `sample`). The reference repositories (BoT, DAAO,
//!   IGOAS) draw their random erasing, occluder boxes and identity sampling from Python's `random`; with
//!   `PyRandom` those algorithms reproduce the reference output draw for draw, which is what the parity
//!   tests check against fixtures produced by Python.
use serde::{Deserialize, Serialize};

/// The draws an augmentation needs. Integer draws and shuffles follow CPython's algorithms
/// (`_randbelow` by rejection on `getrandbits`, Fisher–Yates from the end, `sample`'s pool/set split),
/// so the *same code* is exact under [`PyRandom`] and merely uniform under a generic RNG.
pub trait RandomSource {
    /// Uniform `u32` (Python: `genrand_uint32`).
    fn next_u32_draw(&mut self) -> u32;

    /// Uniform in `[0, 1)` with 53-bit resolution (Python: `random.random()`).
    fn random(&mut self) -> f64 {
        let a = (self.next_u32_draw() >> 5) as f64;
        let b = (self.next_u32_draw() >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `a + (b - a) * random()` (Python: `random.uniform(a, b)`).
    fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    /// Uniform integer in `[0, n)`; `n` in `1..=2^32` (Python: `_randbelow(n)`, which consumes draws
    /// even for `n == 1`). Returns 0 without drawing for `n == 0`.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        assert!(n <= 1 << 32, "below({n}): at most 2^32 supported");
        let k = 64 - n.leading_zeros(); // n.bit_length()
        loop {
            let r = (self.next_u32_draw() >> (32 - k)) as u64;
            if r < n {
                return r;
            }
        }
    }

    /// Uniform integer in `[a, b]`, both inclusive (Python: `random.randint(a, b)`).
    fn randint(&mut self, a: i64, b: i64) -> i64 {
        assert!(b >= a, "randint({a}, {b}): empty range");
        a + self.below((b - a + 1) as u64) as i64
    }

    /// In-place shuffle (Python: `random.shuffle`).
    fn shuffle<T>(&mut self, x: &mut [T])
    where
        Self: Sized,
    {
        for i in (1..x.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            x.swap(i, j);
        }
    }

    /// `k` distinct positions of a population of size `n`, in selection order
    /// (Python: `random.sample(range(n), k)`, including its pool-vs-set strategy switch).
    fn sample_positions(&mut self, n: usize, k: usize) -> Vec<usize>
    where
        Self: Sized,
    {
        assert!(k <= n, "sample of {k} from a population of {n}");
        let mut setsize = 21usize;
        if k > 5 {
            // 4 ** ceil(log(3k, 4)), computed as Python does (floating-point log).
            let e = ((k * 3) as f64).ln() / 4f64.ln();
            setsize += 4usize.pow(e.ceil() as u32);
        }
        let mut out = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.below((n - i) as u64) as usize;
                out.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.below(n as u64) as usize;
                while selected.contains(&j) {
                    j = self.below(n as u64) as usize;
                }
                selected.insert(j);
                out.push(j);
            }
        }
        out
    }
}

impl<R: rand::RngCore> RandomSource for R {
    fn next_u32_draw(&mut self) -> u32 {
        self.next_u32()
    }
}

const N: usize = 624;
const M: usize = 397;

/// CPython's `random.Random`: MT19937 seeded with `init_by_array` over the 32-bit words of `|seed|`.
/// Serialisable, so a parity-mode run can be resumed too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PyRandom {
    mt: Vec<u32>,
    index: usize,
}

impl PyRandom {
    /// Same stream as Python's `random.seed(seed)` for an integer seed.
    pub fn new(seed: u64) -> Self {
        let mut key = vec![seed as u32];
        if seed >> 32 != 0 {
            key.push((seed >> 32) as u32);
        }
        let mut r = Self::init_genrand(19_650_218);
        let mt = &mut r.mt;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        r
    }

    fn init_genrand(s: u32) -> Self {
        let mut mt = vec![0u32; N];
        mt[0] = s;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        PyRandom { mt, index: N }
    }

    fn twist(&mut self) {
        let mt = &mut self.mt;
        for k in 0..N {
            let y = (mt[k] & 0x8000_0000) | (mt[(k + 1) % N] & 0x7fff_ffff);
            let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
            mt[k] = mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }
}

impl RandomSource for PyRandom {
    fn next_u32_draw(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

/// Python's `round()` for the non-negative values the augmentations round: ties to even.
pub fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython_reference_values() {
        // CPython 3: random.seed(0); [random.random() for _ in range(2)]
        let mut r = PyRandom::new(0);
        assert_eq!(r.random(), 0.8444218515250481);
        assert_eq!(r.random(), 0.7579544029403025);
        // random.seed(42); random.randint(0, 100)
        let mut r = PyRandom::new(42);
        assert_eq!(r.randint(0, 100), 81);
    }
}
