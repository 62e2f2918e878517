//! Rank-list rows: query thumbnail, then the top-k gallery thumbnails bordered by match/mismatch.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::ImageReader;

use crate::{escape_html, RankGroup, RankItem, RankList, RenderOptions};

/// Re-ID crops are about twice as tall as wide; placeholders use that shape so rows keep their rhythm.
const PLACEHOLDER_ASPECT: f64 = 0.5;
/// Caps panoramas or corrupt headers with absurd aspect ratios at a sane thumbnail width.
const MAX_ASPECT: f64 = 8.0;
/// Small enough that a 10 x 11 rank grid stays a few hundred KiB, sharp enough to recognise clothing.
const JPEG_QUALITY: u8 = 85;
/// Decoder messages can run to several lines; the placeholder only has room for a short reason.
const MAX_REASON_CHARS: usize = 90;

/// What an `<img>` should show: a URL (data: or file path) or, when the image cannot be used, why not.
type Source = Result<String, String>;

/// The single-run section: every row carries its query order, AP and whether rank 1 is wrong, and a few
/// lines of inline script (the page stays one offline file) filter to wrong rank-1 results and sort by AP.
/// Without the script the rows simply show in query order.
pub(crate) fn render_sortable(lists: &[RankList], opts: &RenderOptions) -> String {
    let mut cache = HashMap::new();
    let has_ap = lists.iter().any(|l| l.ap.is_some());
    let mut html = String::from(
        "<div class=\"rank-controls\"><label><input type=\"checkbox\" id=\"rank-wrong-only\"> wrong rank-1 \
         only</label>",
    );
    if has_ap {
        html.push_str(
            "<label>sort <select id=\"rank-sort\"><option value=\"order\">query order</option>\
             <option value=\"ap-asc\">AP, lowest first</option><option value=\"ap-desc\">AP, highest \
             first</option></select></label>",
        );
    }
    html.push_str("<span class=\"rank-count\"></span></div>\n<div id=\"rank-lists\">\n");
    for (qi, list) in lists.iter().enumerate() {
        let wrong = labelled(list) && list.gallery.first().is_some_and(|g| !g.matched);
        let ap = list
            .ap
            .filter(|a| a.is_finite())
            .map_or(String::new(), |a| format!("{a:.6}"));
        html.push_str(&format!(
            "<div class=\"rank-row\" data-order=\"{qi}\" data-ap=\"{ap}\" data-wrong=\"{}\">\n",
            u8::from(wrong)
        ));
        html.push_str(&row_body(list, qi + 1, opts, &mut cache));
        html.push_str("</div>\n");
    }
    html.push_str("</div>\n");
    html.push_str(SORT_SCRIPT);
    html
}

const SORT_SCRIPT: &str = r#"<script>
(function () {
  var box = document.getElementById('rank-lists'), only = document.getElementById('rank-wrong-only'),
      sort = document.getElementById('rank-sort'), count = document.querySelector('.rank-count');
  function update() {
    var rows = Array.prototype.slice.call(box.children), key = sort ? sort.value : 'order', shown = 0;
    rows.sort(function (a, b) {
      var order = a.dataset.order - b.dataset.order;
      if (key === 'order') return order;
      var ap = (parseFloat(a.dataset.ap) || 0) - (parseFloat(b.dataset.ap) || 0);
      return (key === 'ap-asc' ? ap : -ap) || order;
    });
    rows.forEach(function (r) {
      box.appendChild(r);
      var hide = only.checked && r.dataset.wrong !== '1';
      r.style.display = hide ? 'none' : '';
      if (!hide) shown++;
    });
    count.textContent = shown + ' of ' + rows.length + ' queries shown';
  }
  only.addEventListener('change', update);
  if (sort) sort.addEventListener('change', update);
  update();
})();
</script>
"#;

/// Groups under a heading each, rows in the given order (the comparison page).
pub(crate) fn render_groups(groups: &[RankGroup], opts: &RenderOptions) -> String {
    let mut cache = HashMap::new();
    let mut html = String::new();
    for (gi, group) in groups.iter().enumerate() {
        html.push_str(&format!(
            "<h3 class=\"rank-group\">{}</h3>\n",
            escape_html(&group.title)
        ));
        for list in &group.lists {
            html.push_str("<div class=\"rank-row\">\n");
            html.push_str(&row_body(list, gi + 1, opts, &mut cache));
            html.push_str("</div>\n");
        }
    }
    html
}

/// Label, query, arrow, gallery. Images shared by several rows (a gallery item retrieved for many queries)
/// are decoded once per page.
fn row_body(list: &RankList, number: usize, opts: &RenderOptions, cache: &mut HashMap<PathBuf, Source>) -> String {
    let mut html = String::new();
    if !list.label.is_empty() || list.ap.is_some() {
        let ap = list.ap.map_or(String::new(), |a| {
            format!("<br><span class=\"ap\">AP {}</span>", crate::percent(a))
        });
        html.push_str(&format!(
            "<div class=\"rank-label\">{}{ap}</div>\n",
            escape_html(&list.label)
        ));
    }
    html.push_str(&item_html(&list.query, Role::Query, number, opts, cache));
    html.push_str("<div class=\"arrow\">&#8594;</div>\n");
    if list.gallery.is_empty() {
        html.push_str("<div class=\"empty\">no gallery items</div>\n");
    }
    for (rank, item) in list.gallery.iter().enumerate() {
        let role = match (labelled(list), item.matched) {
            (false, _) => Role::Unlabelled,
            (true, true) => Role::Hit,
            (true, false) => Role::Miss,
        };
        html.push_str(&item_html(item, role, rank + 1, opts, cache));
    }
    html
}

/// Escapes a file name and lets it wrap only after `_`, `-` or `.` (`0001_c1s1_001051_00.jpg` breaks
/// between its fields, never inside a number).
fn breakable_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 16);
    for c in name.chars() {
        out.push_str(&escape_html(c.encode_utf8(&mut [0; 4])));
        if matches!(c, '_' | '-' | '.') {
            out.push_str("<wbr>");
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Query,
    Hit,
    Miss,
    /// A match of a query without an identity (`occreid search`): neither right nor wrong.
    Unlabelled,
}

/// Queries with a negative pid have no identity, so their matches are not marked right or wrong.
fn labelled(list: &RankList) -> bool {
    list.query.pid >= 0
}

fn item_html(
    item: &RankItem,
    role: Role,
    index: usize,
    opts: &RenderOptions,
    cache: &mut HashMap<PathBuf, Source>,
) -> String {
    let name = item
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| item.path.to_string_lossy().into_owned());
    let caption = breakable_name(&name);
    let name = escape_html(&name);
    let (class, head) = match role {
        Role::Query => ("query", format!("query {index}")),
        Role::Hit => ("hit", format!("#{index} &#10003;")),
        Role::Miss => ("miss", format!("#{index} &#10007;")),
        Role::Unlabelled => ("unlabelled", format!("#{index}")),
    };
    let source = cache
        .entry(item.path.clone())
        .or_insert_with(|| image_source(&item.path, opts));
    let h = opts.thumb_height.max(1);
    let visual = match source {
        Ok(src) => format!(
            "<img src=\"{}\" height=\"{h}\" alt=\"{name}\" title=\"{}\">",
            escape_html(src),
            escape_html(&item.path.to_string_lossy())
        ),
        Err(reason) => format!(
            "<div class=\"placeholder\" style=\"height:{h}px;width:{}px\" title=\"{}\">\
             <span class=\"pname\">{name}</span><span class=\"reason\">{}</span></div>",
            ((h as f64 * PLACEHOLDER_ASPECT).round() as u32).max(48),
            escape_html(&item.path.to_string_lossy()),
            escape_html(reason)
        ),
    };
    let distance = if role == Role::Query {
        String::new()
    } else {
        format!("<br>d {:.3}", item.distance)
    };
    format!(
        "<figure class=\"thumb {class}\"><div class=\"head\">{head}</div>{visual}\
         <figcaption><span class=\"fname\">{caption}</span><br>pid {} &middot; cam {}{distance}</figcaption></figure>\n",
        item.pid, item.camid
    )
}

fn image_source(path: &Path, opts: &RenderOptions) -> Source {
    if opts.embed_images {
        embed(path, opts.thumb_height.max(1)).map_err(|e| shorten(&e))
    } else if path.is_file() {
        Ok(link(path, opts.base_dir.as_deref()))
    } else {
        Err("file not found".to_string())
    }
}

fn shorten(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or("");
    if line.chars().count() <= MAX_REASON_CHARS {
        line.to_string()
    } else {
        let cut: String = line.chars().take(MAX_REASON_CHARS - 1).collect();
        format!("{cut}\u{2026}")
    }
}

/// Decodes, shrinks and re-encodes as JPEG. Images are only ever shrunk: enlarging would add bytes and no
/// detail, and the `<img height>` attribute gives every thumbnail the same displayed height anyway.
fn embed(path: &Path, thumb_height: u32) -> Result<String, String> {
    let reader = ImageReader::open(path).map_err(|e| e.to_string())?;
    // Sniff the content: dataset files are sometimes PNGs named .jpg.
    let reader = reader.with_guessed_format().map_err(|e| e.to_string())?;
    let img = reader.decode().map_err(|e| e.to_string())?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err("empty image".to_string());
    }
    let img = if h > thumb_height {
        let tw = (w as f64 * thumb_height as f64 / h as f64).round().max(1.0);
        let tw = tw.min(thumb_height as f64 * MAX_ASPECT) as u32;
        img.resize_exact(tw, thumb_height, FilterType::Triangle)
    } else {
        img
    };
    // JPEG has no alpha channel and the encoder rejects 16-bit and float buffers.
    let rgb = img.to_rgb8();
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut Cursor::new(&mut bytes), JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| format!("re-encoding failed: {e}"))?;
    let mut uri = String::from("data:image/jpeg;base64,");
    base64::engine::general_purpose::STANDARD.encode_string(&bytes, &mut uri);
    Ok(uri)
}

/// A URL for `src`: relative to the report's directory when both are on the same root, so the run folder
/// can be moved or copied together with its images; otherwise an absolute `file://` URL.
fn link(path: &Path, base_dir: Option<&Path>) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(rel) = base_dir
        .and_then(|b| std::path::absolute(b).ok())
        .and_then(|b| relative(&abs, &b))
    {
        return percent_encode(&rel, false);
    }
    let url_path = percent_encode(&abs, true);
    if url_path.starts_with('/') {
        format!("file://{url_path}")
    } else {
        format!("file:///{url_path}")
    }
}

fn relative(path: &Path, base: &Path) -> Option<PathBuf> {
    let pc: Vec<Component> = path.components().collect();
    let bc: Vec<Component> = base.components().collect();
    let common = pc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    // Different roots (another drive) share nothing usable; `..` in the base cannot be undone lexically.
    if common == 0 || bc[common..].iter().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &pc[common..] {
        rel.push(c.as_os_str());
    }
    Some(rel)
}

/// Percent-encodes everything but unreserved characters and `/`; a `:` is kept only in absolute file URLs
/// (Windows drive letters), since in a relative URL's first segment it would read as a scheme.
fn percent_encode(path: &Path, allow_colon: bool) -> String {
    let s = path.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            b'\\' if cfg!(windows) => out.push('/'),
            b':' if allow_colon => out.push(':'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_report_dir_and_encoded() {
        let base = Path::new("/runs/demo");
        assert_eq!(link(Path::new("/runs/demo/img/a b.jpg"), Some(base)), "img/a%20b.jpg");
        assert_eq!(
            link(Path::new("/data/market/q#1.jpg"), Some(base)),
            "../../data/market/q%231.jpg"
        );
        assert_eq!(link(Path::new("/data/x.png"), None), "file:///data/x.png");
    }

    #[test]
    fn file_names_wrap_only_between_fields() {
        assert_eq!(
            breakable_name("0001_c1s1_<x>.jpg"),
            "0001_<wbr>c1s1_<wbr>&lt;x&gt;.<wbr>jpg"
        );
    }

    #[test]
    fn long_reasons_are_cut_to_one_short_line() {
        let long = format!("{}\nsecond line", "x".repeat(200));
        let s = shorten(&long);
        assert_eq!(s.chars().count(), MAX_REASON_CHARS);
        assert!(s.ends_with('\u{2026}') && !s.contains('\n'));
    }
}
