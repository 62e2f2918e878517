//! The k-reciprocal encoding shared by the dense table path and the streamed feature path: from each
//! item's nearest neighbours and its scaled distances, the sparse V (after local query expansion), the
//! inverted index of the gallery rows, and the final Jaccard + original blend of one query row.
use rayon::prelude::*;

use super::RerankParams;

/// A sparse row: ascending column indices and their values.
#[derive(Default, Clone)]
pub(super) struct SparseRow {
    cols: Vec<u32>,
    vals: Vec<f32>,
}

/// NumPy's `np.around` (round half to even) of k1 / 2.
pub(super) fn half_k(k1: usize) -> usize {
    let h = k1 / 2;
    if k1 % 2 == 1 && h % 2 == 1 {
        h + 1
    } else {
        h
    }
}

/// The nearest-neighbour list length the encoding reads: k1 + 1 for the reciprocal sets, k2 for the
/// query expansion, at most n.
pub(super) fn list_len(n: usize, params: RerankParams) -> usize {
    (params.k1 + 1).max(params.k2).min(n)
}

/// Sorted insertion into a list of the `k` smallest (value, index) pairs, nearest first; after the first
/// k items almost every candidate is rejected by one comparison with the current k-th. Equal values
/// keep the earlier index, as a stable argsort does (callers offer indices in increasing order).
pub(super) fn offer(best: &mut Vec<(f32, u32)>, k: usize, d: f32, j: u32) {
    if best.len() == k && d >= best[k - 1].0 {
        return;
    }
    let at = best.partition_point(|&(bd, _)| bd <= d);
    best.insert(at, (d, j));
    best.truncate(k);
}

/// V for all `n` items. `ranks` holds each item's `k` nearest items (n × k, nearest first, as
/// [`list_len`] says); `scaled(i, cols)` returns item i's scaled distances to the items `cols`.
pub(super) fn encode(
    n: usize,
    k: usize,
    ranks: &[u32],
    params: RerankParams,
    scaled: impl Fn(usize, &[u32]) -> Vec<f32> + Sync,
) -> Vec<SparseRow> {
    let RerankParams { k1, k2, .. } = params;
    let top = |i: usize, len: usize| &ranks[i * k..i * k + len.min(k)];
    // k-reciprocal neighbours of i among its first `len` neighbours, in neighbour order.
    let reciprocal = |i: usize, len: usize| -> Vec<u32> {
        top(i, len)
            .iter()
            .copied()
            .filter(|&f| top(f as usize, len).contains(&(i as u32)))
            .collect()
    };
    let half = half_k(k1) + 1;
    let reciprocal_half: Vec<Vec<u32>> = (0..n).into_par_iter().map(|i| reciprocal(i, half)).collect();

    let v: Vec<SparseRow> = (0..n)
        .into_par_iter()
        .map(|i| {
            let base = reciprocal(i, k1 + 1);
            let mut expanded = base.clone();
            for &c in &base {
                let rc = &reciprocal_half[c as usize];
                let common = rc.iter().filter(|x| base.contains(x)).count();
                if 3 * common > 2 * rc.len() {
                    expanded.extend_from_slice(rc);
                }
            }
            expanded.sort_unstable();
            expanded.dedup();
            let weights: Vec<f32> = scaled(i, &expanded).iter().map(|d| (-d).exp()).collect();
            let sum: f32 = weights.iter().sum();
            SparseRow {
                vals: weights.iter().map(|w| w / sum).collect(),
                cols: expanded,
            }
        })
        .collect();
    if k2 == 1 {
        return v;
    }
    (0..n)
        .into_par_iter()
        .map_init(
            || vec![0.0f32; n],
            |dense, i| {
                let mut touched: Vec<u32> = Vec::new();
                for &r in top(i, k2) {
                    let row = &v[r as usize];
                    for (&c, &x) in row.cols.iter().zip(&row.vals) {
                        if dense[c as usize] == 0.0 {
                            touched.push(c);
                        }
                        dense[c as usize] += x;
                    }
                }
                touched.sort_unstable();
                let divisor = top(i, k2).len() as f32;
                let mut out = SparseRow::default();
                for c in touched {
                    let x = std::mem::take(&mut dense[c as usize]) / divisor;
                    if x != 0.0 {
                        out.cols.push(c);
                        out.vals.push(x);
                    }
                }
                out
            },
        )
        .collect()
}

/// V's gallery rows by column (CSC): only gallery columns of the Jaccard distance are output.
pub(super) struct GalleryIndex {
    col_start: Vec<usize>,
    rows: Vec<u32>,
    vals: Vec<f32>,
    num_gallery: usize,
}

impl GalleryIndex {
    pub(super) fn new(v: &[SparseRow], num_query: usize) -> Self {
        let n = v.len();
        let mut col_start = vec![0usize; n + 1];
        for row in &v[num_query..] {
            for &c in &row.cols {
                col_start[c as usize + 1] += 1;
            }
        }
        for c in 0..n {
            col_start[c + 1] += col_start[c];
        }
        let mut fill = col_start.clone();
        let mut rows = vec![0u32; col_start[n]];
        let mut vals = vec![0f32; col_start[n]];
        for (j, row) in v.iter().enumerate().skip(num_query) {
            for (&c, &x) in row.cols.iter().zip(&row.vals) {
                let at = &mut fill[c as usize];
                rows[*at] = (j - num_query) as u32;
                vals[*at] = x;
                *at += 1;
            }
        }
        Self {
            col_start,
            rows,
            vals,
            num_gallery: n - num_query,
        }
    }

    /// Turns `dist` (query row `vi`'s scaled original distances to the gallery) into the re-ranked
    /// distances. `temp` is scratch of the gallery's length.
    pub(super) fn blend(&self, vi: &SparseRow, lambda: f64, temp: &mut [f32], dist: &mut [f32]) {
        debug_assert_eq!(dist.len(), self.num_gallery);
        temp.fill(0.0);
        for (&c, &x) in vi.cols.iter().zip(&vi.vals) {
            let range = self.col_start[c as usize]..self.col_start[c as usize + 1];
            for (&j, &y) in self.rows[range.clone()].iter().zip(&self.vals[range]) {
                temp[j as usize] += x.min(y);
            }
        }
        // The python-float factors are rounded to float32 by NumPy before the multiplications.
        let (w_jaccard, w_dist) = ((1.0 - lambda) as f32, lambda as f32);
        for (d, &t) in dist.iter_mut().zip(temp.iter()) {
            let jaccard = 1.0 - t / (2.0 - t);
            *d = jaccard * w_jaccard + *d * w_dist;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_k_rounds_half_to_even_like_numpy() {
        // np.around(k/2.) for k = 1..8 -> 0, 1, 2, 2, 2, 3, 4, 4
        let got: Vec<usize> = (1..=8).map(half_k).collect();
        assert_eq!(got, vec![0, 1, 2, 2, 2, 3, 4, 4]);
    }
}
