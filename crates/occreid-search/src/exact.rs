//! Exact k-nearest-neighbour search over a gallery seen one block at a time (a gallery of any size, in
//! shards): memory O(queries × (k + block)), distances by the GEMM path of occreid-eval.
use rayon::prelude::*;

use occreid_eval::distance::{pairwise, DimensionMismatch, Metric};
use occreid_eval::Matrix;

/// Each query's neighbours as (gallery index, squared distance), nearest first.
pub type Neighbours = Vec<Vec<(usize, f32)>>;

/// The `k` nearest gallery rows of each query so far, in increasing (distance, gallery index) order, so
/// that ties rank the earlier gallery row first, as the metrics do.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    best: Vec<Vec<(f32, usize)>>,
    seen: usize,
}

impl TopK {
    pub fn new(queries: usize, k: usize) -> Self {
        Self {
            k,
            best: vec![Vec::with_capacity(k + 1); queries],
            seen: 0,
        }
    }

    /// Gallery rows pushed so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Takes in `distances` (queries × block) of gallery rows `self.seen() ..` in order.
    pub fn push(&mut self, distances: &Matrix) {
        assert_eq!(distances.rows(), self.best.len(), "one distance row per query");
        let (k, offset, cols) = (self.k, self.seen, distances.cols());
        if cols > 0 {
            self.best
                .par_iter_mut()
                .zip(distances.as_slice().par_chunks(cols))
                .for_each(|(best, row)| merge(best, row, offset, k));
        }
        self.seen += cols;
    }

    /// Each query's neighbours so far as (distance, gallery index), nearest first.
    pub fn current(&self) -> &[Vec<(f32, usize)>] {
        &self.best
    }

    /// Each query's neighbours as (gallery index, distance), nearest first.
    pub fn into_results(self) -> Neighbours {
        self.best
            .into_iter()
            .map(|b| b.into_iter().map(|(d, i)| (i, d)).collect())
            .collect()
    }
}

fn merge(best: &mut Vec<(f32, usize)>, row: &[f32], offset: usize, k: usize) {
    if k == 0 {
        return;
    }
    let order = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    // A row can only enter when it beats the current k-th (a later index never wins a tie).
    let mut worst = (best.len() == k).then(|| best[k - 1]);
    for (j, &d) in row.iter().enumerate() {
        let cand = (d, offset + j);
        if worst.is_some_and(|w| order(&cand, &w).is_ge()) {
            continue;
        }
        let at = best.partition_point(|b| order(b, &cand).is_lt());
        best.insert(at, cand);
        if best.len() > k {
            best.pop();
        }
        if best.len() == k {
            worst = Some(best[k - 1]);
        }
    }
}

/// Distances from `query` to one gallery block, taken into `top`.
pub fn search_block(query: &Matrix, block: &Matrix, metric: Metric, top: &mut TopK) -> Result<(), DimensionMismatch> {
    let d = pairwise(query, block, metric)?;
    top.push(&d);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32
    }

    /// Every query's k nearest by a full sort of its whole distance row: the definition.
    fn brute(q: &Matrix, g: &Matrix, k: usize) -> Vec<Vec<(usize, f32)>> {
        let d = pairwise(q, g, Metric::SqEuclidean).unwrap();
        (0..q.rows())
            .map(|i| {
                let mut v: Vec<(usize, f32)> = d.row(i).iter().copied().enumerate().collect();
                v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                v.truncate(k);
                v
            })
            .collect()
    }

    #[test]
    fn blocks_of_any_size_give_the_full_sort() {
        let mut seed = 7;
        let (nq, ng, dim) = (9, 103, 6);
        // Quantised values, so many distances tie exactly and the tie order is exercised.
        let mut values = |n: usize| -> Vec<f32> { (0..n).map(|_| (lcg(&mut seed) * 4.0).floor()).collect() };
        let q = Matrix::new(nq, dim, values(nq * dim));
        let g = Matrix::new(ng, dim, values(ng * dim));
        for k in [0, 1, 10, 103, 200] {
            let want = brute(&q, &g, k);
            for block in [1, 7, 50, 103, 500] {
                let mut top = TopK::new(nq, k);
                for start in (0..ng).step_by(block) {
                    let rows = block.min(ng - start);
                    let part = Matrix::new(rows, dim, g.as_slice()[start * dim..(start + rows) * dim].to_vec());
                    search_block(&q, &part, Metric::SqEuclidean, &mut top).unwrap();
                }
                assert_eq!(top.seen(), ng);
                assert_eq!(top.into_results(), want, "k {k} block {block}");
            }
        }
    }

    #[test]
    fn a_block_of_another_dimension_is_refused() {
        let mut top = TopK::new(1, 3);
        let e = search_block(
            &Matrix::zeros(1, 4),
            &Matrix::zeros(2, 5),
            Metric::SqEuclidean,
            &mut top,
        );
        assert!(e.is_err());
        assert_eq!(top.seen(), 0);
    }
}
