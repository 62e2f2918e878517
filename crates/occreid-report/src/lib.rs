//! Self-contained HTML report for a training or evaluation run (`runs/NAME/report.html`).
//!
//! One file with inline CSS, inline SVG charts and (by default) thumbnails embedded as data URIs, so it can
//! be mailed, attached to an issue or opened on a laptop without the dataset or network access. Pure Rust:
//! the report is written by `occreid demo` on machines without libtorch.

mod chart;
mod compare;
mod ranks;

pub use compare::{Comparison, ComparisonCell, ComparisonRow};

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything a report shows. Serialisable so a run can save it next to the HTML and re-render it later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub title: String,
    /// Free text lines shown under the title (dataset, model, epochs, wall time...).
    pub notes: Vec<String>,
    /// Metrics table: one row per evaluation setting.
    pub metrics: Vec<MetricsRow>,
    /// Line charts (loss/accuracy curves vs epoch, R1-vs-occlusion-ratio per occluder kind, ...).
    pub charts: Vec<Chart>,
    /// Rank lists of a few queries; with per-query AP the page can filter them to wrong rank-1 results and
    /// sort them by AP.
    pub rank_lists: Vec<RankList>,
    /// Several runs' metrics side by side (`occreid compare`), shown before the per-run table.
    pub comparison: Option<Comparison>,
    /// Rank lists grouped under a heading each (one query, its clean and occluded versions, every run's
    /// ranking of them), in the given order.
    pub rank_groups: Vec<RankGroup>,
    /// The config that produced the run (TOML), shown folded at the end so the page documents itself.
    pub config: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RankGroup {
    pub title: String,
    pub lists: Vec<RankList>,
}

/// One evaluation setting. Values are fractions in [0, 1] (as `occreid-eval` returns them) and are shown as
/// percentages with one decimal, the convention of re-ID papers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    pub setting: String,
    pub rank1: f64,
    pub rank5: f64,
    pub rank10: f64,
    pub map: f64,
    pub minp: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Non-finite points are left out of the drawing (a diverged epoch leaves a gap) and counted in the legend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RankList {
    /// Shown before the query (which run, which occlusion); empty for none.
    pub label: String,
    pub query: RankItem,
    /// Top-k in rank order.
    pub gallery: Vec<RankItem>,
    /// The query's average precision over the whole gallery, when known.
    pub ap: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RankItem {
    pub path: PathBuf,
    pub pid: i64,
    pub camid: i64,
    pub distance: f64,
    /// Same pid as the query (ignored on the query itself).
    pub matched: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenderOptions {
    /// Displayed thumbnail height in pixels; embedded images larger than this are shrunk to it.
    pub thumb_height: u32,
    /// Embed thumbnails as data URIs (the report stays valid without the dataset) instead of linking files.
    pub embed_images: bool,
    /// Directory the report will live in, so linked images get relative paths that survive moving the run
    /// folder. `write_report` fills it from its path when left `None`; otherwise links are `file://` URLs.
    pub base_dir: Option<PathBuf>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            thumb_height: 128,
            embed_images: true,
            base_dir: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Rendering happens before any file exists, so the chart is named instead; `write_report` wraps this
    /// in [`ReportError::Render`] with the report's path.
    #[error("cannot draw chart {chart:?}: {message}")]
    Chart { chart: String, message: String },
    #[error("cannot render report {}: {source}", path.display())]
    Render {
        path: PathBuf,
        #[source]
        source: Box<ReportError>,
    },
    #[error("report path {} has no file name", path.display())]
    NoFileName { path: PathBuf },
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Escapes text for both element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  margin: 2rem auto; max-width: 1280px; padding: 0 1.25rem; color: #222; background: #fff; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.15rem; margin: 2.2rem 0 .8rem; padding-bottom: .3rem; border-bottom: 1px solid #ddd; }
ul.notes { list-style: none; padding: 0; margin: 0; color: #555; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td { padding: .35rem .9rem; text-align: right; border-bottom: 1px solid #e6e6e6; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
table.metrics thead th { border-bottom: 2px solid #bbb; font-weight: 600; }
table.metrics tbody tr:nth-child(even) { background: #fafafa; }
table.metrics td.best { font-weight: 700; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure.chart { margin: 0; width: 640px; max-width: 100%; }
figure.chart > figcaption { font-weight: 600; margin-bottom: .3rem; }
figure.chart svg { display: block; width: 100%; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1.1rem; font-size: .85rem; margin-top: .3rem; }
.swatch { display: inline-block; width: 1.1rem; height: .25rem; margin-right: .35rem; vertical-align: middle; }
.skipped { color: #999; }
.rank-help { color: #555; font-size: .85rem; }
.rank-row { display: flex; align-items: flex-start; gap: .45rem; padding: .6rem 0; overflow-x: auto;
  border-bottom: 1px solid #eee; }
.arrow { align-self: center; color: #aaa; font-size: 1.3rem; padding: 0 .2rem; }
.empty { align-self: center; color: #888; font-style: italic; }
figure.thumb { margin: 0; flex: none; width: min-content; min-width: 4.6rem; text-align: center;
  font-size: .72rem; color: #444; }
figure.thumb .head { font-weight: 600; white-space: nowrap; }
figure.thumb img, figure.thumb .placeholder { display: block; margin: 0 auto; border: 3px solid #bbb;
  border-radius: 3px; box-sizing: content-box; }
figure.thumb.query img, figure.thumb.query .placeholder { border-color: #3b6fd8; }
figure.thumb.hit img, figure.thumb.hit .placeholder { border-color: #2e9e44; }
figure.thumb.miss img, figure.thumb.miss .placeholder { border-color: #d33b3b; }
figure.thumb.unlabelled img, figure.thumb.unlabelled .placeholder { border-color: #9a9a9a; }
figure.thumb.hit .head { color: #2e9e44; }
figure.thumb.miss .head { color: #d33b3b; }
figure.thumb figcaption { overflow-wrap: normal; word-break: normal; line-height: 1.3; margin-top: .15rem; }
.rank-label { align-self: center; flex: none; width: 7.5rem; font-size: .8rem; color: #333; }
.rank-label .ap { color: #777; }
.rank-controls { display: flex; gap: 1.2rem; align-items: center; font-size: .85rem; margin: .4rem 0; }
.rank-count { color: #777; }
h3.rank-group { font-size: 1rem; margin: 1.6rem 0 .2rem; }
table.metrics th.run { text-align: center; border-bottom: 1px solid #ddd; }
table.metrics .delta { color: #777; font-size: .8em; margin-left: .3em; font-weight: 400; }
table.metrics .delta.up { color: #2e7d32; }
table.metrics .delta.down { color: #c62828; }
details.config pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8rem; }
.placeholder { background: #ddd; color: #555; display: flex; flex-direction: column; justify-content: center;
  gap: .3rem; overflow: hidden; padding: 0 .2rem; font-size: .68rem; overflow-wrap: anywhere; }
.placeholder .reason { color: #777; font-style: italic; }
footer { margin-top: 3rem; color: #999; font-size: .75rem; }
"#;

/// Renders the whole page. Unreadable thumbnails become placeholders rather than errors: a report that
/// documents a finished run should not be lost to one moved image.
pub fn render_html(report: &Report, opts: &RenderOptions) -> Result<String, ReportError> {
    let title = escape_html(&report.title);
    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!(
        "<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    ));
    h.push_str(&format!("<h1>{title}</h1>\n"));
    if !report.notes.is_empty() {
        h.push_str("<ul class=\"notes\">\n");
        for note in &report.notes {
            h.push_str(&format!("<li>{}</li>\n", escape_html(note)));
        }
        h.push_str("</ul>\n");
    }
    if let Some(c) = &report.comparison {
        h.push_str("<h2>Metrics</h2>\n");
        h.push_str(&compare::comparison_table(c));
    }
    if !report.metrics.is_empty() {
        h.push_str("<h2>Metrics</h2>\n");
        h.push_str(&metrics_table(&report.metrics));
    }
    if !report.charts.is_empty() {
        h.push_str("<h2>Curves</h2>\n<div class=\"charts\">\n");
        for chart in &report.charts {
            h.push_str(&chart::render_chart(chart)?);
        }
        h.push_str("</div>\n");
    }
    if !report.rank_lists.is_empty() {
        h.push_str("<h2>Rank lists</h2>\n");
        h.push_str(
            "<p class=\"rank-help\">Query (blue), then the top gallery images in rank order: green = same \
             identity, red = different identity; d = distance.</p>\n",
        );
        h.push_str(&ranks::render_sortable(&report.rank_lists, opts));
    }
    if !report.rank_groups.is_empty() {
        h.push_str("<h2>Rank lists</h2>\n");
        h.push_str(
            "<p class=\"rank-help\">For each query, every run's ranking of it clean and occluded: the query \
             (blue), then the top gallery images in rank order: green = same identity, red = different \
             identity; d = distance.</p>\n",
        );
        h.push_str(&ranks::render_groups(&report.rank_groups, opts));
    }
    if let Some(config) = &report.config {
        h.push_str(&format!(
            "<h2>Config</h2>\n<details class=\"config\"><summary>the config this run was trained with</summary>\
             <pre>{}</pre></details>\n",
            escape_html(config)
        ));
    }
    h.push_str(&format!(
        "<footer>occreid-report {}</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    ));
    Ok(h)
}

pub(crate) fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}", v * 100.0)
    } else {
        "&ndash;".to_string()
    }
}

/// Bolds each column's best value when there is more than one row, the way comparison tables in papers do.
fn metrics_table(rows: &[MetricsRow]) -> String {
    let cols = |r: &MetricsRow| [r.rank1, r.rank5, r.rank10, r.map, r.minp];
    let mut best = [f64::NEG_INFINITY; 5];
    for r in rows {
        for (b, v) in best.iter_mut().zip(cols(r)) {
            if v.is_finite() && v > *b {
                *b = v;
            }
        }
    }
    let mut h = String::from(
        "<table class=\"metrics\">\n<thead><tr><th>Setting</th><th>R1</th><th>R5</th><th>R10</th><th>mAP</th>\
         <th>mINP</th></tr></thead>\n<tbody>\n",
    );
    for r in rows {
        h.push_str(&format!("<tr><td>{}</td>", escape_html(&r.setting)));
        for (v, b) in cols(r).into_iter().zip(best) {
            let class = if rows.len() > 1 && v == b {
                " class=\"best\""
            } else {
                ""
            };
            h.push_str(&format!("<td{class}>{}</td>", percent(v)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
    h
}

/// Renders and writes atomically: a viewer (or a browser auto-reloading the file during training) sees
/// either the previous report or the new one, never a truncated page, and a failure leaves the old one.
pub fn write_report(path: &Path, report: &Report, opts: &RenderOptions) -> Result<(), ReportError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let html = if opts.base_dir.is_none() {
        let opts = RenderOptions {
            base_dir: Some(dir.clone()),
            ..opts.clone()
        };
        render_html(report, &opts)
    } else {
        render_html(report, opts)
    };
    let html = html.map_err(|e| ReportError::Render {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    write_atomic(path, |f| f.write_all(html.as_bytes()))
}

/// Creates the folder, then writes with occreid-eval's atomic writer (a synced temporary file in the same
/// folder, renamed over the target): an existing report is replaced only by a complete one.
fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), ReportError> {
    if path.file_name().is_none() {
        return Err(ReportError::NoFileName {
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    occreid_eval::npy::write_atomic(path, fill).map_err(|e| ReportError::Write {
        path: path.to_path_buf(),
        source: match e {
            occreid_eval::npy::NpyError::Io { source, .. } => source,
            other => io::Error::other(other.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_the_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        fs::write(&path, "old").unwrap();
        let err = write_atomic(&path, |f| {
            f.write_all(b"half a page")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(matches!(err, ReportError::Write { .. }));
        assert!(err.to_string().contains("report.html"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn escaping_covers_content_and_attributes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn metrics_are_percentages_with_best_in_bold() {
        let rows = [
            MetricsRow {
                setting: "a".into(),
                rank1: 0.9693,
                rank5: 0.9994,
                rank10: 1.0,
                map: 0.8358,
                minp: f64::NAN,
            },
            MetricsRow {
                setting: "b".into(),
                rank1: 0.5,
                rank5: 0.6,
                rank10: 0.7,
                map: 0.9948,
                minp: 0.25,
            },
        ];
        let t = metrics_table(&rows);
        assert!(
            t.contains("<td class=\"best\">96.9</td>") && t.contains("<td class=\"best\">99.5</td>"),
            "{t}"
        );
        assert!(
            t.contains("<td>83.6</td>") && t.contains("<td>&ndash;</td>") && t.contains("<td class=\"best\">25.0</td>")
        );
    }
}
