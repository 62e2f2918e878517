//! Turns a finished run (epoch records, the final evaluation, the occlusion suite) into the HTML report.
use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use occreid_data::{Sample, Split};
use occreid_eval::RankMetrics;
use occreid_report::{write_report, Chart, MetricsRow, RankItem, RankList, RenderOptions, Report, Series};
use occreid_train::evaluate::{Evaluation, QueryRanking};
use occreid_train::robustness::{occluded_query, OcclusionResult, SHOWCASE_TOP};
use occreid_train::{checkpoint, EpochRecord, TrainConfig};
use serde::{Deserialize, Serialize};

/// Queries whose rankings a run keeps (spread evenly over the query set): the report's rank lists, and
/// what `occreid compare` shows side by side. Enough that filtering to wrong rank-1 results leaves some.
const SHOWCASE_QUERIES: usize = 24;

pub struct RunSummary<'a> {
    pub title: String,
    pub notes: Vec<String>,
    pub records: &'a [EpochRecord],
    pub evaluation: Option<&'a Evaluation>,
    pub occlusion: &'a [OcclusionResult],
    /// With several `data.test_sets`: each set's final metrics, by name.
    pub test_sets: Vec<(String, RankMetrics)>,
    /// The holistic showcase rankings (the report's rank lists).
    pub rank_lists: Vec<RankList>,
    /// The config the run was trained with, shown at the end of the report.
    pub config: Option<String>,
}

/// One setting's showcase rankings as summary.json keeps them for `occreid compare`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShowcaseSetting {
    /// `holistic`, or the occlusion setting's name (`solid_box bottom 30%`).
    pub setting: String,
    pub lists: Vec<RankList>,
}

/// The showcase query indices of a query set of `n` items.
pub fn showcase_queries(n: usize) -> Vec<usize> {
    let k = SHOWCASE_QUERIES.min(n);
    (0..k).map(|i| i * n / k).collect()
}

fn rank_item(s: &Sample, distance: f64, matched: bool) -> RankItem {
    RankItem {
        path: s.path.clone(),
        pid: s.pid,
        camid: s.camid,
        distance,
        matched,
    }
}

/// A ranking as the report draws it; `query_image` replaces the query's own file (an occluded version).
fn rank_list(split: &Split, r: &QueryRanking, query_image: Option<PathBuf>) -> RankList {
    let q = &split.query[r.query];
    let mut query = rank_item(q, 0.0, true);
    if let Some(path) = query_image {
        query.path = path;
    }
    RankList {
        label: String::new(),
        query,
        gallery: r
            .top
            .iter()
            .map(|&(g, d)| {
                let s = &split.gallery[g];
                rank_item(s, d as f64, s.pid == q.pid)
            })
            .collect(),
        ap: r.ap,
    }
}

/// The showcase of a finished run: the holistic rankings, then those of each showcase occlusion setting
/// with its occluded query images written (PNG, atomically) under `out/showcase/<setting>/`.
pub fn showcase(
    out: &Path,
    cfg: &TrainConfig,
    split: &Split,
    ev: &Evaluation,
    occlusion: &[OcclusionResult],
) -> Result<Vec<ShowcaseSetting>> {
    let holistic = showcase_queries(split.query.len())
        .into_iter()
        .map(|qi| rank_list(split, &ev.ranking(qi, &split.query, &split.gallery, SHOWCASE_TOP), None))
        .collect();
    let mut settings = vec![ShowcaseSetting {
        setting: "holistic".into(),
        lists: holistic,
    }];
    for o in occlusion.iter().filter(|o| !o.rankings.is_empty()) {
        let name = o.setting();
        let dir = std::path::absolute(out.join("showcase").join(name.replace([' ', '%'], "_")))?;
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let lists = o
            .rankings
            .iter()
            .map(|r| {
                let img = occluded_query(split, cfg, (o.kind, o.ratio, o.position), r.query)?;
                let stem = split.query[r.query]
                    .path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy();
                let path = dir.join(format!("{stem}.png"));
                let mut png = Vec::new();
                img.image
                    .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
                    .with_context(|| format!("encoding {}", path.display()))?;
                checkpoint::write_atomic(&path, &png)?;
                Ok(rank_list(split, r, Some(path)))
            })
            .collect::<Result<_>>()?;
        settings.push(ShowcaseSetting { setting: name, lists });
    }
    Ok(settings)
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

pub fn build(s: &RunSummary) -> Report {
    let mut report = Report {
        title: s.title.clone(),
        notes: s.notes.clone(),
        rank_lists: s.rank_lists.clone(),
        config: s.config.clone(),
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
    report
}

pub fn write(path: &Path, report: &Report) -> Result<()> {
    write_report(path, report, &RenderOptions::default()).with_context(|| format!("writing {}", path.display()))
}
