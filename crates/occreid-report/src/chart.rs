//! Line charts as inline SVG through plotters' string backend.
//!
//! The legend is drawn in HTML under the SVG rather than by plotters: an in-plot legend box always covers
//! part of some curve (loss falls to the lower right, accuracy rises to the upper right), and HTML text uses
//! the page's fonts while plotters can only guess glyph widths without a font library.

use plotters::prelude::*;

use crate::{escape_html, Chart, ReportError};

/// Pixel size of the SVG's coordinate system; the page scales it down to the column width. (plotters divides
/// font sizes by 1.24, so the 15/16 px styles below come out at about 12/13 px.)
const WIDTH: u32 = 640;
const HEIGHT: u32 = 400;

/// Tableau 10: distinct on screen and in greyscale print, and colour-blind friendlier than plotters' default.
pub(crate) const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

pub(crate) fn series_color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Values this large would overflow the axis span (max - min) to infinity, so they count as unplottable.
fn plottable(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite() && p.0.abs() < 1e300 && p.1.abs() < 1e300
}

/// Splits at unplottable points so a NaN epoch shows as a gap in the curve instead of a bridging segment.
fn segments(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    points
        .split(|p| !plottable(p))
        .filter(|s| !s.is_empty())
        .map(<[_]>::to_vec)
        .collect()
}

/// Pads a degenerate (single value) range so plotters gets a non-empty axis and the value sits mid-axis.
fn padded(min: f64, max: f64, margin: f64) -> (f64, f64) {
    if min > max {
        return (0.0, 1.0);
    }
    if min == max {
        let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        return (min - pad, max + pad);
    }
    let m = (max - min) * margin;
    (min - m, max + m)
}

/// plotters' own f64 labels always carry a decimal ("10.0" epochs) and never use exponents ("0.00001"
/// learning rates); this picks the decimals from the axis span instead.
fn tick_label(v: f64, span: f64) -> String {
    let mag = v.abs();
    if mag != 0.0 && (mag >= 1e6 || span < 1e-4) {
        return format!("{v:.2e}");
    }
    let decimals = (-(span / 10.0).log10()).ceil().clamp(0.0, 6.0) as usize;
    let s = format!("{v:.decimals$}");
    // "-0" / "-0.00" for values that round to zero.
    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// Renders one chart as `<figure>` holding the SVG, with the HTML legend below it.
pub(crate) fn render_chart(chart: &Chart) -> Result<String, ReportError> {
    let err = |e: &dyn std::fmt::Display| ReportError::Chart {
        chart: chart.title.clone(),
        message: e.to_string(),
    };
    let segs: Vec<Vec<Vec<(f64, f64)>>> = chart.series.iter().map(|s| segments(&s.points)).collect();
    let all = segs.iter().flatten().flatten();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let has_data = x0 <= x1;
    let (x0, x1) = padded(x0, x1, 0.0);
    let (y0, y1) = padded(y0, y1, 0.05);
    let (xspan, yspan) = (x1 - x0, y1 - y0);
    let xfmt = |v: &f64| tick_label(*v, xspan);
    let yfmt = |v: &f64| tick_label(*v, yspan);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ctx = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(&e))?;
        ctx.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, series_segs) in segs.iter().enumerate() {
            let color = series_color(i);
            for seg in series_segs {
                ctx.draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| err(&e))?;
                // Markers keep isolated points (a single evaluation, a point between two NaNs) visible.
                ctx.draw_series(seg.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| err(&e))?;
            }
        }
        if !has_data {
            let style = ("sans-serif", 16).into_font().color(&RGBColor(120, 120, 120));
            root.draw_text("no data", &style, (WIDTH as i32 / 2 - 28, HEIGHT as i32 / 2 - 8))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }

    let mut html = String::with_capacity(svg.len() + 512);
    html.push_str("<figure class=\"chart\">\n<figcaption>");
    html.push_str(&escape_html(&chart.title));
    html.push_str("</figcaption>\n");
    html.push_str(&svg);
    if !chart.series.is_empty() {
        html.push_str("<div class=\"legend\">");
        for (i, s) in chart.series.iter().enumerate() {
            let (r, g, b) = PALETTE[i % PALETTE.len()];
            let skipped = s.points.iter().filter(|p| !plottable(p)).count();
            html.push_str(&format!(
                "<span class=\"key\"><span class=\"swatch\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>{}",
                escape_html(&s.name)
            ));
            if skipped > 0 {
                html.push_str(&format!(
                    " <span class=\"skipped\">({skipped} non-finite skipped)</span>"
                ));
            }
            html.push_str("</span>");
        }
        html.push_str("</div>\n");
    }
    html.push_str("</figure>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_follow_the_axis_span() {
        assert_eq!(tick_label(20.0, 120.0), "20");
        assert_eq!(tick_label(0.25, 0.5), "0.25");
        assert_eq!(tick_label(-0.0, 1.0), "0.0");
        assert_eq!(tick_label(1e-5, 5e-5), "1.00e-5");
        assert_eq!(tick_label(2e7, 1e7), "2.00e7");
    }

    #[test]
    fn degenerate_ranges_are_padded() {
        assert_eq!(padded(f64::INFINITY, f64::NEG_INFINITY, 0.05), (0.0, 1.0));
        assert_eq!(padded(0.0, 0.0, 0.05), (-1.0, 1.0));
        let (lo, hi) = padded(0.9, 0.9, 0.05);
        assert!(lo < 0.9 && hi > 0.9 && hi - lo < 0.2);
    }

    #[test]
    fn non_finite_points_split_the_line() {
        let pts = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 0.5),
            (3.0, f64::INFINITY),
            (4.0, 1e301),
            (5.0, 0.2),
        ];
        assert_eq!(
            segments(&pts),
            vec![vec![(0.0, 1.0)], vec![(2.0, 0.5)], vec![(5.0, 0.2)]]
        );
    }
}
