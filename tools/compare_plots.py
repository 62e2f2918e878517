"""Writes the occlusion-curve charts of an `occreid compare` page as standalone SVG files (for BENCHMARKS.md,
which cannot embed the page): one file per chart, named after its caption, e.g. `r1_solid_box_bottom.svg`.

Run: .venv/bin/python tools/compare_plots.py COMPARE.html OUT_DIR [--metric R1|mAP|all]   (standard library only)
"""
import argparse
import html
import os
import re

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("page")
p.add_argument("out")
p.add_argument("--metric", default="R1", choices=["R1", "mAP", "all"])
a = p.parse_args()

page = open(a.page, encoding="utf-8").read()
os.makedirs(a.out, exist_ok=True)
written = 0
for body in re.findall(r'<figure class="chart">(.*?)</figure>', page, re.S):
    caption = html.unescape(re.search(r"<figcaption>(.*?)</figcaption>", body, re.S).group(1))
    m = re.match(r"(R1|mAP): (\w+) occluders at the (\w+)", caption)
    if not m or (a.metric != "all" and m.group(1) != a.metric):
        continue
    svg = re.search(r"<svg.*?</svg>", body, re.S).group(0)
    name = os.path.join(a.out, f"{m.group(1).lower()}_{m.group(2)}_{m.group(3)}.svg")
    with open(name + ".tmp", "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n")
    os.replace(name + ".tmp", name)
    written += 1
if written == 0:
    raise SystemExit(f"{a.page}: no occlusion charts found (is it an `occreid compare` page with occlusion runs?)")
print(f"wrote {written} charts to {a.out}")
