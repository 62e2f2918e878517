//! Several runs' metrics side by side: one row per evaluation setting, R1 and mAP per run, each run after
//! the first with its difference to the first, the best run of each row in bold.

use serde::{Deserialize, Serialize};

use crate::{escape_html, percent};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Comparison {
    /// Column headings, one per run; the first is the baseline the differences are taken against.
    pub runs: Vec<String>,
    pub rows: Vec<ComparisonRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ComparisonRow {
    pub setting: String,
    /// One per run, in `runs` order; `None` where that run has no such result (e.g. no re-ranking).
    pub cells: Vec<Option<ComparisonCell>>,
}

/// Fractions in [0, 1], shown as percentages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonCell {
    pub rank1: f64,
    pub map: f64,
}

/// `+4.1` / `−2.0` in points, coloured by sign; empty for the baseline column or a missing baseline.
fn delta(v: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if v.is_finite() && b.is_finite() => {
            let d = (v - b) * 100.0;
            let (class, sign) = if d >= 0.05 {
                ("up", "+")
            } else if d <= -0.05 {
                ("down", "\u{2212}")
            } else {
                ("", "\u{00b1}")
            };
            format!("<span class=\"delta {class}\">{sign}{:.1}</span>", d.abs())
        }
        _ => String::new(),
    }
}

pub(crate) fn comparison_table(c: &Comparison) -> String {
    let mut h = String::from("<table class=\"metrics comparison\">\n<thead><tr><th rowspan=\"2\">Setting</th>");
    for (i, run) in c.runs.iter().enumerate() {
        let note = if i == 0 { " (baseline)" } else { "" };
        h.push_str(&format!(
            "<th class=\"run\" colspan=\"2\">{}{note}</th>",
            escape_html(run)
        ));
    }
    h.push_str("</tr>\n<tr>");
    for _ in &c.runs {
        h.push_str("<th>R1</th><th>mAP</th>");
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in &c.rows {
        let best = |f: fn(&ComparisonCell) -> f64| {
            row.cells
                .iter()
                .flatten()
                .map(f)
                .filter(|v| v.is_finite())
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let (best_r1, best_map) = (best(|c| c.rank1), best(|c| c.map));
        let base = row.cells.first().copied().flatten();
        h.push_str(&format!("<tr><td>{}</td>", escape_html(&row.setting)));
        for (i, cell) in row.cells.iter().enumerate() {
            match cell {
                None => h.push_str("<td>&ndash;</td><td>&ndash;</td>"),
                Some(cell) => {
                    for (v, b, base) in [
                        (cell.rank1, best_r1, base.map(|c| c.rank1)),
                        (cell.map, best_map, base.map(|c| c.map)),
                    ] {
                        let class = if c.runs.len() > 1 && v == b {
                            " class=\"best\""
                        } else {
                            ""
                        };
                        let d = if i == 0 { String::new() } else { delta(v, base) };
                        h.push_str(&format!("<td{class}>{}{d}</td>", percent(v)));
                    }
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_of_each_row_is_bold_and_differences_are_against_the_first_run() {
        let cell = |rank1, map| Some(ComparisonCell { rank1, map });
        let c = Comparison {
            runs: vec!["bot".into(), "igoas".into()],
            rows: vec![
                ComparisonRow {
                    setting: "holistic".into(),
                    cells: vec![cell(0.80, 0.60), cell(0.75, 0.62)],
                },
                ComparisonRow {
                    setting: "re-ranked".into(),
                    cells: vec![None, cell(0.5, 0.4)],
                },
            ],
        };
        let t = comparison_table(&c);
        assert!(t.contains("<td class=\"best\">80.0</td>"), "{t}");
        assert!(
            t.contains("<td>75.0<span class=\"delta down\">\u{2212}5.0</span></td>"),
            "{t}"
        );
        assert!(
            t.contains("<td class=\"best\">62.0<span class=\"delta up\">+2.0</span></td>"),
            "{t}"
        );
        // No baseline value: no difference is invented.
        assert!(
            t.contains("<td>&ndash;</td><td>&ndash;</td><td class=\"best\">50.0</td>"),
            "{t}"
        );
    }
}
