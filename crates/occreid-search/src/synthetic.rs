//! Feature sets with identity structure for search benchmarks, at any size, with no model: identity `p`
//! has a random unit centre; its images are the centre plus noise, L2-normalised like real re-ID
//! features. Deterministic (a SplitMix64 hash of seed, row and column), and generated block by block.
use occreid_eval::market_scale::mix64;
use occreid_eval::Matrix;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticFeatures {
    pub dim: usize,
    pub ids: u64,
    /// Noise standard deviation relative to the centres' (1 = an image is as far from its identity's
    /// centre as the centres are from each other, on average per coordinate).
    pub noise: f32,
    pub seed: u64,
}

/// A uniform value in [-1, 1) from a hash: mean 0, variance 1/3.
fn unit(h: u64) -> f32 {
    ((h >> 40) as f32 / (1u64 << 23) as f32) - 1.0
}

impl SyntheticFeatures {
    /// Rows `first .. first + n` of stream `stream` (0 = gallery, 1 = queries, ...): row `r` is identity
    /// `r % ids`.
    pub fn block(&self, stream: u64, first: u64, n: usize) -> (Matrix, Vec<i64>) {
        let d = self.dim;
        let mut data = vec![0f32; n * d];
        data.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
            let r = first + i as u64;
            let pid = r % self.ids;
            let (c, e) = (
                mix64(self.seed ^ (pid << 1)),
                mix64(self.seed ^ mix64(stream) ^ (r << 1 | 1)),
            );
            for (k, v) in row.iter_mut().enumerate() {
                *v = unit(mix64(c ^ k as u64)) + self.noise * unit(mix64(e ^ k as u64));
            }
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter_mut().for_each(|v| *v /= norm);
        });
        let pids = (first..first + n as u64).map(|r| (r % self.ids) as i64).collect();
        (Matrix::new(n, d, data), pids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_deterministic_normalised_and_identity_structured() {
        let s = SyntheticFeatures {
            dim: 64,
            ids: 5,
            noise: 1.0,
            seed: 9,
        };
        let (a, pids) = s.block(0, 0, 20);
        let (b, _) = s.block(0, 7, 3);
        assert_eq!(a.row(8), b.row(1), "a row does not depend on the block it is made in");
        assert_eq!(pids[..6], [0, 1, 2, 3, 4, 0]);
        for i in 0..20 {
            let n: f32 = a.row(i).iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        let (q, _) = s.block(1, 0, 5);
        assert_ne!(q.row(0), a.row(0), "queries are other images");
        // Same identity is closer than another identity, for every query here.
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
        for i in 0..5 {
            let same = dot(q.row(i), a.row(i));
            let other = (0..20)
                .filter(|j| j % 5 != i)
                .map(|j| dot(q.row(i), a.row(j)))
                .fold(f32::MIN, f32::max);
            assert!(same > other, "query {i}: {same} vs {other}");
        }
    }
}
