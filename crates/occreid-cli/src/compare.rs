//! `occreid compare RUN...`: finished runs evaluated on the same test set, side by side in one HTML page
//! (metrics table with differences to the first run, R1/mAP against the occluded fraction per occluder
//! kind, a few queries clean and occluded with every run's top-10) or as JSON.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use occreid_model::methods;
use occreid_report::{Chart, Comparison, ComparisonCell, ComparisonRow, RankGroup, RankList, Report, Series};
use occreid_train::config;
use occreid_train::robustness::{OcclusionResult, SHOWCASE_RATIO};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::run_report::ShowcaseSetting;

#[derive(clap::Args)]
pub struct Args {
    /// Run folders (of `occreid train` or `occreid demo`); the first is the baseline of the differences
    #[arg(required = true, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// The comparison page to write (HTML, self-contained)
    #[arg(long, required_unless_present = "json")]
    out: Option<PathBuf>,
    /// Print the metrics table as JSON on stdout
    #[arg(long)]
    json: bool,
    /// Replace an existing --out
    #[arg(long)]
    overwrite: bool,
    /// How many queries the page shows clean and occluded
    #[arg(long, default_value_t = 4)]
    queries: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TestSet {
    dataset: String,
    queries: usize,
    gallery: usize,
    fingerprint: String,
}

#[derive(Debug, Deserialize)]
struct Metrics {
    cmc: Vec<f64>,
    #[serde(rename = "mAP")]
    map: f64,
}

impl Metrics {
    fn cell(&self) -> ComparisonCell {
        ComparisonCell {
            rank1: self.cmc.first().copied().unwrap_or(f64::NAN),
            map: self.map,
        }
    }
}

/// What compare reads of a run's summary.json.
#[derive(Debug, Deserialize)]
struct Summary {
    method: String,
    epochs: usize,
    #[serde(flatten)]
    holistic: Metrics,
    reranked: Option<Metrics>,
    #[serde(default)]
    occlusion: Vec<OcclusionResult>,
    test_set: Option<TestSet>,
    occlusion_seed: Option<u64>,
    #[serde(default)]
    showcase: Vec<ShowcaseSetting>,
}

struct Run {
    label: String,
    dir: PathBuf,
    summary: Summary,
    test_set: TestSet,
}

/// The summary.json of a run folder: its own, or for a multi-stage run (SDCN + VGN) its last stage's,
/// with the plan's method name.
fn summary_path(dir: &Path) -> Result<(PathBuf, Option<String>)> {
    let own = dir.join("summary.json");
    if own.is_file() {
        return Ok((own, None));
    }
    let cfg_path = dir.join("config.toml");
    if !cfg_path.is_file() {
        bail!(
            "{} is not a finished run: it holds neither summary.json nor a multi-stage run's config.toml",
            dir.display()
        );
    }
    let cfg = config::load(&cfg_path, &[])?;
    let stages = methods::plan(&cfg.method, &cfg.recipe())?;
    let last = stages.last().context("the method has no stages")?;
    let path = dir.join(last.folder).join("summary.json");
    if !path.is_file() {
        bail!(
            "{} is not finished: its last stage has no {}",
            dir.display(),
            path.display()
        );
    }
    Ok((path, Some(cfg.method.clone())))
}

fn load_run(dir: &Path) -> Result<Run> {
    let (path, plan_method) = summary_path(dir)?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut summary: Summary =
        serde_json::from_str(&text).with_context(|| format!("{} is not a run summary", path.display()))?;
    if let Some(m) = plan_method {
        summary.method = m;
    }
    let test_set = summary.test_set.clone().with_context(|| {
        format!(
            "{} has no test-set fingerprint (written by an older occreid); compare needs runs finished by this \
             version",
            path.display()
        )
    })?;
    let label = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Run {
        label,
        dir: dir.to_path_buf(),
        summary,
        test_set,
    })
}

/// Refuses runs that were not evaluated on the same test set and occlusion settings, naming the difference.
fn check_comparable(runs: &[Run]) -> Result<()> {
    let first = &runs[0];
    let settings = |r: &Run| -> Vec<String> { r.summary.occlusion.iter().map(OcclusionResult::setting).collect() };
    for r in &runs[1..] {
        if r.test_set.fingerprint != first.test_set.fingerprint {
            bail!(
                "{} and {} were evaluated on different test sets ({}: {} queries / {} gallery, fingerprint {}; \
                 {}: {} queries / {} gallery, fingerprint {}); compare runs of one test set",
                first.dir.display(),
                r.dir.display(),
                first.test_set.dataset,
                first.test_set.queries,
                first.test_set.gallery,
                first.test_set.fingerprint,
                r.test_set.dataset,
                r.test_set.queries,
                r.test_set.gallery,
                r.test_set.fingerprint
            );
        }
        let (a, b) = (settings(first), settings(r));
        if a != b {
            let only =
                |x: &[String], y: &[String]| -> Vec<String> { x.iter().filter(|s| !y.contains(s)).cloned().collect() };
            let (in_a, in_b) = (only(&a, &b), only(&b, &a));
            bail!(
                "{} and {} ran different occlusion settings: only in the first: [{}]; only in the second: [{}]{}",
                first.dir.display(),
                r.dir.display(),
                in_a.join(", "),
                in_b.join(", "),
                if in_a.is_empty() && in_b.is_empty() {
                    " (the same settings in another order)"
                } else {
                    ""
                }
            );
        }
        if !a.is_empty() && r.summary.occlusion_seed != first.summary.occlusion_seed {
            bail!(
                "{} and {} occluded their queries with different seeds ({:?} and {:?}): the occluded queries \
                 differ",
                first.dir.display(),
                r.dir.display(),
                first.summary.occlusion_seed,
                r.summary.occlusion_seed
            );
        }
    }
    Ok(())
}

fn table(runs: &[Run]) -> Comparison {
    let mut rows = vec![ComparisonRow {
        setting: "holistic".into(),
        cells: runs.iter().map(|r| Some(r.summary.holistic.cell())).collect(),
    }];
    if runs.iter().any(|r| r.summary.reranked.is_some()) {
        rows.push(ComparisonRow {
            setting: "holistic + re-ranking".into(),
            cells: runs
                .iter()
                .map(|r| r.summary.reranked.as_ref().map(Metrics::cell))
                .collect(),
        });
    }
    for (i, o) in runs[0].summary.occlusion.iter().enumerate() {
        rows.push(ComparisonRow {
            setting: o.setting(),
            cells: runs
                .iter()
                .map(|r| {
                    r.summary.occlusion.get(i).map(|o| ComparisonCell {
                        rank1: o.rank1,
                        map: o.map,
                    })
                })
                .collect(),
        });
    }
    Comparison {
        runs: runs.iter().map(|r| r.label.clone()).collect(),
        rows,
    }
}

/// For each occluder kind and position: R1 and mAP against the occluded fraction, one line per run, the
/// holistic value at 0.
fn charts(runs: &[Run]) -> Vec<Chart> {
    let mut keys = Vec::new();
    for o in &runs[0].summary.occlusion {
        if !keys.contains(&(o.kind, o.position)) {
            keys.push((o.kind, o.position));
        }
    }
    let mut out = Vec::new();
    for (kind, position) in keys {
        for (metric, pick) in [
            ("R1", (|c: ComparisonCell| c.rank1) as fn(ComparisonCell) -> f64),
            ("mAP", |c: ComparisonCell| c.map),
        ] {
            out.push(Chart {
                title: format!("{metric}: {} occluders at the {}", kind.name(), position.name()),
                x_label: "occluded fraction of the query image".into(),
                y_label: metric.into(),
                series: runs
                    .iter()
                    .map(|r| Series {
                        name: r.label.clone(),
                        points: std::iter::once((0.0, pick(r.summary.holistic.cell())))
                            .chain(
                                r.summary
                                    .occlusion
                                    .iter()
                                    .filter(|o| o.kind == kind && o.position == position)
                                    .map(|o| {
                                        (
                                            o.ratio,
                                            pick(ComparisonCell {
                                                rank1: o.rank1,
                                                map: o.map,
                                            }),
                                        )
                                    }),
                            )
                            .collect(),
                    })
                    .collect(),
            });
        }
    }
    out
}

/// Up to `n` showcase queries, each clean and under one occlusion setting (the settings taken in turn, so
/// every occluder kind is shown), with every run's top-10. For each setting the first query where the runs
/// disagree about rank 1 is taken: it shows what the methods change.
fn rank_groups(runs: &[Run], n: usize) -> Vec<RankGroup> {
    let showcase = |r: &Run, name: &str| r.summary.showcase.iter().find(|s| s.setting == name).cloned();
    let Some(holistic) = showcase(&runs[0], "holistic") else {
        return Vec::new();
    };
    let mut settings: Vec<String> = runs[0]
        .summary
        .showcase
        .iter()
        .filter(|s| s.setting != "holistic")
        .map(|s| s.setting.clone())
        .collect();
    if settings.is_empty() {
        settings.push("holistic".into());
    }
    // Each run's list of query `q` under `setting` (same test set, same showcase rule: same queries).
    let lists = |setting: &str, q: usize| -> Vec<Option<RankList>> {
        runs.iter()
            .map(|r| showcase(r, setting).and_then(|s| s.lists.get(q).cloned()))
            .collect()
    };
    let disagree = |setting: &str, q: usize| {
        ["holistic", setting].iter().any(|s| {
            let hits: Vec<bool> = lists(s, q)
                .iter()
                .flatten()
                .map(|l| l.gallery.first().is_some_and(|g| g.matched))
                .collect();
            hits.iter().any(|&h| h != hits[0])
        })
    };
    let count = holistic.lists.len();
    let mut used = vec![false; count];
    let mut groups = Vec::new();
    for j in 0..n.min(count) {
        let setting = &settings[j % settings.len()];
        let Some(q) = (0..count)
            .find(|&q| !used[q] && disagree(setting, q))
            .or_else(|| (0..count).find(|&q| !used[q]))
        else {
            break;
        };
        used[q] = true;
        let query = &holistic.lists[q].query;
        let name = query
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut group = RankGroup {
            title: format!("query {name} (pid {}, camera {}) · {setting}", query.pid, query.camid),
            lists: Vec::new(),
        };
        let shown: &[&str] = if setting == "holistic" {
            &["holistic"]
        } else {
            &["holistic", setting]
        };
        for s in shown {
            for (run, list) in runs.iter().zip(lists(s, q)) {
                if let Some(mut list) = list {
                    list.label = format!("{} · {}", run.label, if *s == "holistic" { "clean" } else { s });
                    group.lists.push(list);
                }
            }
        }
        groups.push(group);
    }
    groups
}

pub fn run(a: Args) -> Result<()> {
    if let Some(out) = &a.out {
        crate::check_output(out, a.overwrite)?;
    }
    let runs = load_runs(&a.runs)?;
    let comparison = table(&runs);
    if a.json {
        let meta: Vec<_> = runs
            .iter()
            .map(|r| json!({ "label": r.label, "dir": r.dir, "method": r.summary.method, "epochs": r.summary.epochs }))
            .collect();
        let out = json!({ "runs": meta, "test_set": runs[0].test_set, "table": comparison });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    if let Some(out) = &a.out {
        write_page(out, &runs, comparison, a.queries)?;
        eprintln!("comparison: {}", out.display());
    }
    Ok(())
}

fn load_runs(dirs: &[PathBuf]) -> Result<Vec<Run>> {
    let mut runs = dirs.iter().map(|d| load_run(d)).collect::<Result<Vec<_>>>()?;
    check_comparable(&runs)?;
    name_as_the_papers_do(&mut runs);
    Ok(runs)
}

/// Labels runs by their method as the papers name it ("SDCN + VGN"); where two runs share a method, by
/// the method and the run folder ("BoT (bot_seed1)").
fn name_as_the_papers_do(runs: &mut [Run]) {
    let paper = |r: &Run| methods::paper_name(&r.summary.method).to_string();
    let names: Vec<String> = runs.iter().map(paper).collect();
    for (r, name) in runs.iter_mut().zip(&names) {
        r.label = if names.iter().filter(|n| *n == name).count() == 1 {
            name.clone()
        } else {
            format!("{name} ({})", r.label)
        };
    }
}

/// R1 of each run on the holistic queries and at the showcase ratio (30 %) of each occluder kind.
struct Headline {
    /// "holistic", then the occluded settings.
    settings: Vec<String>,
    /// Per run: its label and its R1 in each setting (None where the run lacks it).
    rows: Vec<(String, Vec<Option<f64>>)>,
}

fn headline(runs: &[Run]) -> Headline {
    let shown: Vec<&OcclusionResult> = runs[0]
        .summary
        .occlusion
        .iter()
        .filter(|o| (o.ratio - SHOWCASE_RATIO).abs() < 1e-9)
        .collect();
    let mut settings = vec!["holistic".to_string()];
    settings.extend(shown.iter().map(|o| o.setting()));
    let rows = runs
        .iter()
        .map(|r| {
            let mut values = vec![r.summary.holistic.cmc.first().copied()];
            values.extend(shown.iter().map(|want| {
                r.summary
                    .occlusion
                    .iter()
                    .find(|o| o.setting() == want.setting())
                    .map(|o| o.rank1)
            }));
            (r.label.clone(), values)
        })
        .collect();
    Headline { settings, rows }
}

/// One sentence on what to look at: the occluded setting whose cost (holistic R1 minus occluded R1)
/// differs most between the runs, with each run's cost there, from the least hurt to the most.
fn what_to_look_at(runs: &[Run]) -> Option<String> {
    if runs.len() < 2 {
        return None;
    }
    let Headline { settings, rows } = headline(runs);
    let costs = |c: usize| -> Vec<(&str, f64, f64)> {
        rows.iter()
            .filter_map(|(label, v)| Some((label.as_str(), v[0]?, v[0]? - v[c]?)))
            .collect()
    };
    let spread = |col: &[(&str, f64, f64)]| {
        let (lo, hi) = col.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
            (lo.min(c.2), hi.max(c.2))
        });
        hi - lo
    };
    let (widest, _) = (1..settings.len())
        .map(|c| (c, spread(&costs(c))))
        .filter(|(_, s)| s.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let mut col = costs(widest);
    col.sort_by(|a, b| a.2.total_cmp(&b.2));
    let each: Vec<String> = col
        .iter()
        .enumerate()
        .map(|(k, (label, holistic, cost))| {
            let unit = if k == 0 { " points of R1" } else { "" };
            format!(
                "{label} {:.0}{unit} (of {:.1} holistic)",
                cost * 100.0,
                holistic * 100.0
            )
        })
        .collect();
    Some(format!(
        "What separates the methods here: {} of the query costs {}.",
        settings[widest],
        each.join(", ")
    ))
}

/// The headline table as text for a terminal: R1 per run, holistic and at 30 % of each occluder kind, and
/// the sentence on what to look at.
pub(crate) fn headline_text(dirs: &[PathBuf]) -> Result<String> {
    let runs = load_runs(dirs)?;
    let Headline { settings, rows } = headline(&runs);
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).max(6);
    let mut out = format!("{:<width$}", "R1 (%)");
    for s in &settings {
        out.push_str(&format!("  {s:>24}"));
    }
    out.push('\n');
    for (label, values) in &rows {
        out.push_str(&format!("{label:<width$}"));
        for v in values {
            match v {
                Some(x) => out.push_str(&format!("  {:>24.2}", x * 100.0)),
                None => out.push_str(&format!("  {:>24}", "-")),
            }
        }
        out.push('\n');
    }
    if let Some(sentence) = what_to_look_at(&runs) {
        out.push_str(&sentence);
        out.push('\n');
    }
    Ok(out)
}

/// The comparison page of finished runs (what `occreid demo` writes as its report).
pub(crate) fn write_comparison(dirs: &[PathBuf], out: &Path, queries: usize) -> Result<()> {
    let runs = load_runs(dirs)?;
    write_page(out, &runs, table(&runs), queries)
}

fn write_page(out: &Path, runs: &[Run], comparison: Comparison, queries: usize) -> Result<()> {
    let t = &runs[0].test_set;
    let mut notes: Vec<String> = what_to_look_at(runs).into_iter().collect();
    notes.push(format!(
        "test set: {} ({} queries, {} gallery; fingerprint {})",
        t.dataset, t.queries, t.gallery, t.fingerprint
    ));
    notes.extend(runs.iter().map(|r| {
        format!(
            "{}: method {}, {} epochs ({})",
            r.label,
            r.summary.method,
            r.summary.epochs,
            r.dir.display()
        )
    }));
    notes.push("the first run is the baseline: each other run's value is followed by its difference in points".into());
    let report = Report {
        title: format!(
            "occreid compare: {}",
            runs.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join(" vs ")
        ),
        notes,
        comparison: Some(comparison),
        charts: charts(runs),
        rank_groups: rank_groups(runs, queries),
        ..Report::default()
    };
    crate::run_report::write(out, &report)
}

#[cfg(test)]
mod tests {
    use occreid_data::occluders::{OccluderKind, Position};

    use super::*;

    fn run(folder: &str, method: &str, holistic: f64, occluded: [f64; 2]) -> Run {
        let occlusion = [OccluderKind::SolidBox, OccluderKind::NoiseBox]
            .into_iter()
            .zip(occluded)
            .map(|(kind, rank1)| OcclusionResult {
                kind,
                ratio: 0.3,
                position: Position::Bottom,
                rank1,
                map: rank1,
                minp: rank1,
                rankings: Vec::new(),
            })
            .collect();
        Run {
            label: folder.into(),
            dir: folder.into(),
            summary: Summary {
                method: method.into(),
                epochs: 1,
                holistic: Metrics {
                    cmc: vec![holistic],
                    map: holistic,
                },
                reranked: None,
                occlusion,
                test_set: None,
                occlusion_seed: Some(0),
                showcase: Vec::new(),
            },
            test_set: TestSet {
                dataset: "market1501".into(),
                queries: 1,
                gallery: 1,
                fingerprint: "f".into(),
            },
        }
    }

    #[test]
    fn runs_are_named_as_the_papers_do_and_the_widest_setting_is_the_one_to_look_at() {
        let mut runs = vec![
            run("bot", "bot", 0.8776, [0.551, 0.1184]),
            run("sdcn_vgn", "sdcn_vgn", 0.751, [0.4735, 0.4408]),
            run("igoas", "igoas", 0.8939, [0.502, 0.1265]),
        ];
        name_as_the_papers_do(&mut runs);
        let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["BoT", "SDCN + VGN", "IGOAS"]);
        // Costs: solid box BoT 32.7, SDCN 27.8, IGOAS 39.2 (spread 11.4); noise box 75.9, 31.0, 76.7 (45.7).
        assert_eq!(
            what_to_look_at(&runs).unwrap(),
            "What separates the methods here: noise_box bottom 30% of the query costs SDCN + VGN 31 points of R1 \
             (of 75.1 holistic), BoT 76 (of 87.8 holistic), IGOAS 77 (of 89.4 holistic)."
        );
        // Two runs of one method keep their folders apart.
        let mut twins = vec![run("a", "bot", 0.5, [0.1, 0.2]), run("b", "bot", 0.6, [0.1, 0.2])];
        name_as_the_papers_do(&mut twins);
        assert_eq!(twins[0].label, "BoT (a)");
        assert_eq!(twins[1].label, "BoT (b)");
        assert_eq!(what_to_look_at(&twins[..1]), None);
    }
}
