//! CUHK03 single-gallery-shot CMC (torchreid `eval_cuhk03`): per valid query, one kept image is drawn
//! per gallery identity and the first-match CMC of that reduced list is averaged over the draws.
use std::collections::HashMap;

use rand_mt::Mt;

use super::{before, Cuhk03Cmc, Labels, QueryOutcome, SkipReason};
use crate::MatrixView;

/// NumPy legacy `RandomState.randint(0, n)` for n < 2^32: masked rejection on 32-bit MT19937 draws;
/// n == 1 consumes nothing.
fn numpy_randint(rng: &mut Mt, n: usize) -> usize {
    let max = (n - 1) as u32;
    if max == 0 {
        return 0;
    }
    let mask = u32::MAX >> max.leading_zeros();
    loop {
        let v = rng.next_u32() & mask;
        if v <= max {
            return v as usize;
        }
    }
}

/// Kept gallery positions grouped by identity, groups in order of first appearance in the ranking
/// (torchreid iterates a dict filled in that order, which fixes how the RNG stream is consumed).
struct Groups {
    /// Per group: positions in the kept list, ascending.
    positions: Vec<Vec<usize>>,
    own: usize,
}

fn group_kept(row: &[f32], q: usize, query: Labels, gallery: Labels) -> Groups {
    let (qpid, qcam) = (query.pids[q], query.camids[q]);
    let mut kept: Vec<usize> = (0..row.len())
        .filter(|&j| !(gallery.pids[j] == qpid && gallery.camids[j] == qcam))
        .collect();
    kept.sort_unstable_by(|&a, &b| {
        if before(row[a], a, row[b], b) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut positions: Vec<Vec<usize>> = Vec::new();
    for (pos, &j) in kept.iter().enumerate() {
        let g = *index.entry(gallery.pids[j]).or_insert_with(|| {
            positions.push(Vec::new());
            positions.len() - 1
        });
        positions[g].push(pos);
    }
    let own = index[&qpid];
    Groups { positions, own }
}

pub(super) fn cmc(
    distmat: MatrixView,
    query: Labels,
    gallery: Labels,
    per_query: &[Result<QueryOutcome, SkipReason>],
    max_rank: usize,
    mode: Cuhk03Cmc,
) -> Vec<f64> {
    let mut total = vec![0.0f64; max_rank];
    let mut num_valid = 0usize;
    let mut rng = match mode {
        Cuhk03Cmc::Sampled { seed, .. } => Some(Mt::new(seed)),
        Cuhk03Cmc::Expectation => None,
    };
    for (q, outcome) in per_query.iter().enumerate() {
        if outcome.is_err() {
            continue;
        }
        num_valid += 1;
        let groups = group_kept(distmat.row(q), q, query, gallery);
        let curve = match (mode, rng.as_mut()) {
            (Cuhk03Cmc::Sampled { repeats, .. }, Some(rng)) => sampled(&groups, max_rank, repeats, rng),
            _ => expectation(&groups, max_rank),
        };
        for (t, c) in total.iter_mut().zip(curve) {
            *t += c;
        }
    }
    total.iter().map(|t| t / num_valid as f64).collect()
}

fn sampled(groups: &Groups, max_rank: usize, repeats: usize, rng: &mut Mt) -> Vec<f64> {
    let mut curve = vec![0.0f64; max_rank];
    let mut picked = vec![0usize; groups.positions.len()];
    for _ in 0..repeats {
        for (p, g) in picked.iter_mut().zip(&groups.positions) {
            *p = g[numpy_randint(rng, g.len())];
        }
        let own = picked[groups.own];
        let rank = picked.iter().filter(|&&p| p < own).count();
        for c in curve.iter_mut().skip(rank) {
            *c += 1.0;
        }
    }
    curve.iter().map(|c| c / repeats as f64).collect()
}

/// E[CMC] over the draws: for each equally likely own-identity image, the number of other identities
/// drawn ahead of it is Poisson-binomial with p_g = (images of g ahead) / (images of g).
fn expectation(groups: &Groups, max_rank: usize) -> Vec<f64> {
    let own = &groups.positions[groups.own];
    let mut curve = vec![0.0f64; max_rank];
    let mut dist = vec![0.0f64; max_rank];
    for &p in own {
        dist.fill(0.0);
        dist[0] = 1.0;
        for (g, pos) in groups.positions.iter().enumerate() {
            if g == groups.own {
                continue;
            }
            let ahead = pos.partition_point(|&x| x < p);
            if ahead == 0 {
                continue;
            }
            let prob = ahead as f64 / pos.len() as f64;
            // Counts >= max_rank never contribute to the CMC, so the distribution is truncated there.
            for k in (0..max_rank).rev() {
                let stay = dist[k] * (1.0 - prob);
                let moved_in = if k > 0 { dist[k - 1] * prob } else { 0.0 };
                dist[k] = stay + moved_in;
            }
        }
        let mut acc = 0.0;
        for (c, d) in curve.iter_mut().zip(&dist) {
            acc += d;
            *c += acc;
        }
    }
    curve.iter().map(|c| c / own.len() as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randint_matches_numpy_legacy_stream() {
        // np.random.seed(0); [np.random.randint(0, n) for n in (5, 1, 3, 7, 2, 1000)] -> [4, 0, 1, 0, 1, 763]
        // (printed by NumPy 2.4 running tools/numpy_randint_reference.py).
        let mut rng = Mt::new(0);
        let got: Vec<usize> = [5, 1, 3, 7, 2, 1000]
            .iter()
            .map(|&n| numpy_randint(&mut rng, n))
            .collect();
        assert_eq!(got, vec![4, 0, 1, 0, 1, 763]);
    }
}
