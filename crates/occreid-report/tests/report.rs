use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use occreid_report::{
    render_html, write_report, Chart, Comparison, ComparisonCell, ComparisonRow, MetricsRow, RankGroup, RankItem,
    RankList, RenderOptions, Report, ReportError, Series,
};

/// A tiny PNG (20x40) and JPEG (30x64) plus a corrupt "JPEG", all in `dir`.
fn images(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let png = dir.join("0001_c1s1_000001_00.png");
    image::RgbImage::from_fn(20, 40, |x, y| image::Rgb([(x * 12) as u8, (y * 6) as u8, 90]))
        .save(&png)
        .unwrap();
    let jpg = dir.join("0002_c2s1_000002_00.jpg");
    image::RgbImage::from_fn(30, 64, |x, _| image::Rgb([200, (x * 8) as u8, 30]))
        .save(&jpg)
        .unwrap();
    let bad = dir.join("bad.jpg");
    fs::write(&bad, b"\xff\xd8 definitely not a jpeg").unwrap();
    (png, jpg, bad)
}

fn item(path: &Path, pid: i64, distance: f64, matched: bool) -> RankItem {
    RankItem {
        path: path.to_path_buf(),
        pid,
        camid: 3,
        distance,
        matched,
    }
}

fn curve(name: &str, points: Vec<(f64, f64)>) -> Series {
    Series {
        name: name.into(),
        points,
    }
}

fn report(png: &Path, jpg: &Path, bad: &Path) -> Report {
    Report {
        title: "BoT <script>alert(1)</script> & co".into(),
        notes: vec!["dataset: Market-1501 <occluded>".into(), "epochs: 120".into()],
        metrics: vec![
            MetricsRow {
                setting: "plain".into(),
                rank1: 0.9693,
                rank5: 0.9994,
                rank10: 1.0,
                map: 0.8358,
                minp: 0.4768,
            },
            MetricsRow {
                setting: "re-ranked <k1=20>".into(),
                rank1: 0.9949,
                rank5: 0.9982,
                rank10: 0.9994,
                map: 0.9948,
                minp: 0.986,
            },
        ],
        charts: vec![
            Chart {
                title: "Loss".into(),
                x_label: "epoch".into(),
                y_label: "loss".into(),
                series: vec![
                    curve("id", (0..10).map(|e| (e as f64, 5.0 / (e as f64 + 1.0))).collect()),
                    curve(
                        "triplet",
                        vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 0.5), (3.0, f64::INFINITY)],
                    ),
                ],
            },
            Chart {
                title: "R1 vs occlusion".into(),
                x_label: "ratio".into(),
                y_label: "R1".into(),
                series: vec![
                    curve("rect", vec![(0.1, 0.9), (0.3, 0.7)]),
                    curve("bag", vec![(0.2, 0.8)]),
                ],
            },
        ],
        rank_lists: vec![
            RankList {
                query: item(png, 1, 0.0, false),
                gallery: vec![
                    item(png, 1, 0.1234, true),
                    item(jpg, 2, 0.5, false),
                    item(bad, 7, 0.9, false),
                ],
                ap: Some(0.75),
                ..RankList::default()
            },
            RankList {
                query: item(jpg, 2, 0.0, false),
                gallery: vec![item(jpg, 2, 0.25, true)],
                ap: Some(1.0),
                ..RankList::default()
            },
        ],
        config: Some("[data]\nroot = \"<d>\"".into()),
        ..Report::default()
    }
}

fn data_uris(html: &str) -> Vec<&str> {
    html.split("src=\"data:image/jpeg;base64,")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect()
}

#[test]
fn full_report_is_self_contained_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (png, jpg, bad) = images(dir.path());
    let opts = RenderOptions {
        thumb_height: 32,
        ..RenderOptions::default()
    };
    let html = render_html(&report(&png, &jpg, &bad), &opts).unwrap();

    // The only script is the rank lists' filter/sort, written by the renderer; the title's is escaped.
    assert_eq!(html.matches("<script").count(), 1, "raw script tag in output");
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("root = &quot;&lt;d&gt;&quot;"), "config shown escaped");
    // Filter and sort keys on each row (both lists have a correct rank 1).
    assert!(html.contains("data-order=\"0\" data-ap=\"0.750000\" data-wrong=\"0\""));
    assert!(html.contains("AP 75.0"));
    assert!(html.contains("BoT &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    assert!(html.contains("Market-1501 &lt;occluded&gt;") && html.contains("re-ranked &lt;k1=20&gt;"));
    for v in ["96.9", "99.9", "100.0", "83.6", "47.7", "99.5", "98.6"] {
        assert!(html.contains(&format!("{v}</td>")), "missing {v}");
    }
    assert_eq!(html.matches("<svg").count(), 2);
    assert_eq!(html.matches("class=\"thumb query\"").count(), 2);
    assert_eq!(html.matches("class=\"thumb hit\"").count(), 2);
    assert_eq!(html.matches("class=\"thumb miss\"").count(), 2);
    assert!(html.contains("d 0.123<") && html.contains("pid 7 &middot; cam 3"));

    // The corrupt image becomes a placeholder naming the file; the report still renders.
    assert_eq!(html.matches("class=\"placeholder\"").count(), 1);
    let ph = &html[html.find("class=\"placeholder\"").unwrap()..];
    assert!(ph[..ph.find("</div>").unwrap()].contains("bad.jpg"));

    // Offline: every image is a data URI, no stylesheets or remote URLs.
    assert!(!html.contains("<link") && !html.contains("https://"));
    assert_eq!(html.matches("src=\"").count(), 5);
    let uris = data_uris(&html);
    assert_eq!(uris.len(), 5);
    for uri in uris {
        let bytes = base64::engine::general_purpose::STANDARD.decode(uri).unwrap();
        let thumb = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        assert!(thumb.height() <= 32, "not shrunk: {}", thumb.height());
    }
}

#[test]
fn linked_images_are_relative_to_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    fs::create_dir(&imgs).unwrap();
    let (png, jpg, _) = images(&imgs);
    let missing = imgs.join("gone.png");
    let mut r = report(&png, &jpg, &missing);
    r.rank_lists.truncate(1);
    let out = dir.path().join("runs").join("demo").join("report.html");
    let opts = RenderOptions {
        embed_images: false,
        ..RenderOptions::default()
    };
    write_report(&out, &r, &opts).unwrap();
    let html = fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("src=\"../../imgs/0001_c1s1_000001_00.png\""),
        "relative link"
    );
    assert!(html.contains("src=\"../../imgs/0002_c2s1_000002_00.jpg\""));
    assert!(!html.contains("data:image"));
    assert!(html.contains("file not found") && html.contains("gone.png"));
}

#[test]
fn write_report_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let (png, jpg, bad) = images(dir.path());
    let out_dir = dir.path().join("run");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("report.html");
    fs::write(&out, "old").unwrap();
    write_report(&out, &report(&png, &jpg, &bad), &RenderOptions::default()).unwrap();
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    let names: Vec<_> = fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("report.html")]);

    // A directory in the way: the rename fails, the error names the path, nothing is left behind.
    let blocked = out_dir.join("blocked.html");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("keep"), "x").unwrap();
    let err = write_report(&blocked, &Report::default(), &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, ReportError::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("blocked.html"), "{err}");
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 2);
    assert_eq!(fs::read_to_string(blocked.join("keep")).unwrap(), "x");
}

#[test]
fn degenerate_and_non_finite_charts_render() {
    let nan_series = |name: &str| curve(name, vec![(f64::NAN, 1.0), (2.0, f64::NEG_INFINITY)]);
    let charts = vec![
        ("no series", vec![]),
        ("empty series", vec![curve("none", vec![])]),
        ("single point", vec![curve("one", vec![(3.0, 0.5)])]),
        ("all NaN", vec![nan_series("nan")]),
        (
            "constant",
            vec![curve("flat", (0..5).map(|e| (e as f64, 0.9)).collect())],
        ),
        ("zeros", vec![curve("zero", vec![(0.0, 0.0), (0.0, 0.0)])]),
        (
            "mixed",
            vec![
                curve("a", vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 1e308)]),
                nan_series("b"),
                curve("lr", vec![(0.0, 1e-5), (1.0, 3.5e-5)]),
            ],
        ),
    ];
    let report = Report {
        title: "curves".into(),
        charts: charts
            .into_iter()
            .map(|(title, series)| Chart {
                title: title.into(),
                x_label: "epoch".into(),
                y_label: "value".into(),
                series,
            })
            .collect(),
        ..Report::default()
    };
    let html = render_html(&report, &RenderOptions::default()).unwrap();
    assert_eq!(html.matches("<svg").count(), 7);
    assert_eq!(html.matches("</svg>").count(), 7);
    let lower = html.to_lowercase();
    assert!(!lower.contains("nan\"") && !lower.contains("inf\"") && !html.contains("NaN,"));
    assert_eq!(html.matches("no data\n</text>").count(), 3);
    assert!(html.contains("(2 non-finite skipped)"));
}

#[test]
fn minimal_report_renders() {
    let r = Report {
        title: "empty run".into(),
        ..Report::default()
    };
    let html = render_html(&r, &RenderOptions::default()).unwrap();
    assert!(html.contains("<h1>empty run</h1>") && html.contains("<title>empty run</title>"));
    assert!(!html.contains("<svg") && !html.contains("class=\"rank-row\"") && !html.contains("<table"));
}

#[test]
fn comparison_page_has_the_table_and_grouped_rows_without_sort_controls() {
    let dir = tempfile::tempdir().unwrap();
    let (png, jpg, _) = images(dir.path());
    let list = |label: &str, first_matched: bool| RankList {
        label: label.into(),
        query: item(&png, 1, 0.0, false),
        gallery: vec![item(&jpg, 2, 0.3, first_matched), item(&png, 1, 0.4, true)],
        ap: None,
    };
    let r = Report {
        title: "compare".into(),
        comparison: Some(Comparison {
            runs: vec!["bot".into(), "sdcn_vgn".into()],
            rows: vec![ComparisonRow {
                setting: "solid_box bottom 30%".into(),
                cells: vec![
                    Some(ComparisonCell { rank1: 0.4, map: 0.3 }),
                    Some(ComparisonCell { rank1: 0.6, map: 0.35 }),
                ],
            }],
        }),
        rank_groups: vec![RankGroup {
            title: "query 0001_c1s1_000001_00.png".into(),
            lists: vec![list("bot · clean", true), list("bot · occluded", false)],
        }],
        ..Report::default()
    };
    let html = render_html(
        &r,
        &RenderOptions {
            thumb_height: 16,
            ..RenderOptions::default()
        },
    )
    .unwrap();
    assert!(html.contains("sdcn_vgn</th>") && html.contains("bot (baseline)</th>"));
    assert!(
        html.contains("<td class=\"best\">60.0<span class=\"delta up\">+20.0</span></td>"),
        "{html}"
    );
    assert_eq!(html.matches("class=\"rank-row\"").count(), 2);
    assert!(html.contains("bot · occluded") && html.contains("<h3 class=\"rank-group\">"));
    assert!(!html.contains("<script"), "grouped rows need no script");
    assert_eq!(html.matches("class=\"thumb miss\"").count(), 1);
}
