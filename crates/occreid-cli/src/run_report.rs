//! Turns a finished run (epoch records, the final evaluation, the occlusion suite) into the HTML report.
use std::path::Path;

use anyhow::{Context, Result};
use occreid_data::Split;
use occreid_eval::RankMetrics;
use occreid_report::{write_report, Chart, MetricsRow, RankItem, RankList, RenderOptions, Report, Series};
use occreid_train::evaluate::Evaluation;
use occreid_train::robustness::OcclusionResult;
use occreid_train::EpochRecord;

pub struct RunSummary<'a> {
    pub title: String,
    pub notes: Vec<String>,
    pub records: &'a [EpochRecord],
    pub evaluation: Option<&'a Evaluation>,
    pub split: &'a Split,
    pub occlusion: &'a [OcclusionResult],
    /// With several `data.test_sets`: each set's final metrics, by name.
    pub test_sets: Vec<(String, RankMetrics)>,
}

fn row(setting: &str, m: &RankMetrics) -> MetricsRow {
    MetricsRow {
        setting: setting.to_string(),
        rank1: m.rank(1),
        rank5: m.rank(5),
        rank10: m.rank(10),
        map: m.map,
        minp: m.minp,
    }
}

fn series(name: &str, points: impl IntoIterator<Item = (f64, f64)>) -> Series {
    Series {
        name: name.to_string(),
        points: points.into_iter().collect(),
    }
}

/// Reads `metrics.jsonl` of a run folder: the whole history, including the epochs before a resume, which
/// the engine of a resumed run never held in memory.
pub fn read_records(run_dir: &Path) -> Result<Vec<EpochRecord>> {
    let path = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1)))
        .collect()
}

pub fn build(s: &RunSummary, rank_lists: usize) -> Report {
    let mut report = Report {
        title: s.title.clone(),
        notes: s.notes.clone(),
        ..Report::default()
    };
    if let Some(ev) = s.evaluation {
        report.metrics.push(row("holistic queries", &ev.plain));
        if let Some(r) = &ev.reranked {
            report
                .metrics
                .push(row("holistic + re-ranking (k1 20, k2 6, λ 0.3)", r));
        }
    }
    for (name, m) in &s.test_sets {
        report.metrics.push(row(&format!("test set {name}"), m));
    }
    let epochs = || s.records.iter().map(|r| r.epoch as f64);
    if !s.records.is_empty() {
        let mut terms: Vec<&String> = s.records[0].losses.keys().collect();
        terms.sort_by_key(|k| (k.as_str() != "total", k.to_string()));
        report.charts.push(Chart {
            title: "Training loss (epoch mean)".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: terms
                .iter()
                .map(|t| {
                    series(
                        t,
                        epochs().zip(s.records.iter().map(|r| r.losses.get(*t).copied().unwrap_or(f64::NAN))),
                    )
                })
                .collect(),
        });
        let evals: Vec<(f64, f64, f64)> = s
            .records
            .iter()
            .filter_map(|r| r.eval.map(|e| (r.epoch as f64, e.rank1, e.map)))
            .collect();
        report.charts.push(Chart {
            title: "Training accuracy and test metrics".into(),
            x_label: "epoch".into(),
            y_label: "fraction".into(),
            series: vec![
                series("train ID accuracy", epochs().zip(s.records.iter().map(|r| r.accuracy))),
                series("test R1", evals.iter().map(|e| (e.0, e.1))),
                series("test mAP", evals.iter().map(|e| (e.0, e.2))),
            ],
        });
        report.charts.push(Chart {
            title: "Learning rate".into(),
            x_label: "epoch".into(),
            y_label: "lr".into(),
            series: vec![series("lr", epochs().zip(s.records.iter().map(|r| r.lr)))],
        });
    }
    if !s.occlusion.is_empty() {
        let holistic = s.evaluation.map(|e| e.plain.rank(1));
        let mut keys: Vec<(String, _, _)> = Vec::new();
        for o in s.occlusion {
            let name = format!("{} ({})", o.kind.name(), o.position.name());
            if !keys.iter().any(|(n, _, _)| *n == name) {
                keys.push((name, o.kind, o.position));
            }
        }
        report.charts.push(Chart {
            title: "Rank-1 vs occluded area of the query".into(),
            x_label: "occluded fraction of the query image".into(),
            y_label: "R1".into(),
            series: keys
                .iter()
                .map(|(name, kind, pos)| {
                    let pts = holistic.map(|h| (0.0, h)).into_iter().chain(
                        s.occlusion
                            .iter()
                            .filter(|o| o.kind == *kind && o.position == *pos)
                            .map(|o| (o.ratio, o.rank1)),
                    );
                    series(name, pts)
                })
                .collect(),
        });
        for o in s.occlusion {
            report.metrics.push(MetricsRow {
                setting: o.setting(),
                rank1: o.rank1,
                rank5: f64::NAN,
                rank10: f64::NAN,
                map: o.map,
                minp: o.minp,
            });
        }
    }
    if let Some(ev) = s.evaluation {
        report.rank_lists = rank_lists_of(ev, s.split, rank_lists, 10);
    }
    report
}

/// Top-`k` gallery items (same-identity same-camera items removed, as the metric does) of `n` queries
/// spread over the query set.
fn rank_lists_of(ev: &Evaluation, split: &Split, n: usize, k: usize) -> Vec<RankList> {
    let q = split.query.len();
    if q == 0 || n == 0 {
        return Vec::new();
    }
    let item = |s: &occreid_data::Sample, distance: f64, matched: bool| RankItem {
        path: s.path.clone(),
        pid: s.pid,
        camid: s.camid,
        distance,
        matched,
    };
    (0..n.min(q))
        .map(|i| i * q / n.min(q))
        .map(|qi| {
            let query = &split.query[qi];
            let mut order: Vec<usize> = (0..split.gallery.len())
                .filter(|&g| !(split.gallery[g].pid == query.pid && split.gallery[g].camid == query.camid))
                .collect();
            order.sort_by(|&a, &b| ev.distmat.get(qi, a).total_cmp(&ev.distmat.get(qi, b)).then(a.cmp(&b)));
            RankList {
                query: item(query, 0.0, true),
                gallery: order
                    .iter()
                    .take(k)
                    .map(|&g| {
                        let s = &split.gallery[g];
                        item(s, ev.distmat.get(qi, g) as f64, s.pid == query.pid)
                    })
                    .collect(),
            }
        })
        .collect()
}

pub fn write(path: &Path, report: &Report) -> Result<()> {
    write_report(path, report, &RenderOptions::default()).with_context(|| format!("writing {}", path.display()))
}
