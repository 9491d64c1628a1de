#!/usr/bin/env python3
"""Medians, ratios, target checks and an SVG plot from the CSV of benches/vs_asrestore.sh.

    python3 benches/report.py /tmp/vs-asrestore/results.csv --svg out.svg [--markdown out.md]

Standard library only. Every figure is the median over the rounds of one (part, shape,
variant, tool); ratios compare each restorer tool with `asrestore` of the same part, shape and
variant (so, the same run of the script and the same server).
"""

import argparse
import csv
import statistics
import sys
from collections import defaultdict

REF = "asrestore"


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("records", "bytes", "round", "rss_kib"):
            r[k] = int(r[k])
        for k in ("wall_s", "rec_per_s", "mb_per_s", "cpu_s", "us_per_rec", "srv_cpu_s", "load1"):
            r[k] = float(r[k])
    return rows


def medians(rows):
    """(part, shape, variant, tool) -> dict of medians and the round count."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["part"], r["shape"], r["variant"], r["tool"])].append(r)
    out = {}
    for key, rs in groups.items():
        m = {k: statistics.median(r[k] for r in rs)
             for k in ("wall_s", "rec_per_s", "mb_per_s", "cpu_s", "us_per_rec", "srv_cpu_s", "rss_kib")}
        m["rss_max_kib"] = max(r["rss_kib"] for r in rs)
        m["rounds"] = len(rs)
        m["records"] = rs[0]["records"]
        m["bytes"] = rs[0]["bytes"]
        m["load_med"] = statistics.median(r["load1"] for r in rs)
        out[key] = m
    return out


def order(values, first=()):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return [v for v in first if v in seen] + [v for v in seen if v not in first]


def mib(kib):
    return kib / 1024


def tables(rows, med):
    """Markdown tables and target checks as a list of lines."""
    lines = []
    checks = []
    tools = order([r["tool"] for r in rows], first=(REF,))
    ours = [t for t in tools if t != REF]
    loads = [r["load1"] for r in rows]
    if loads:
        lines.append(f"Load average (1 min) at the start of each run: median {statistics.median(loads):.2f}, "
                     f"min {min(loads):.2f}, max {max(loads):.2f}; {len(rows)} runs.")
        lines.append("")

    shape_keys = [k for k in med if k[0] == "shapes"]
    if shape_keys:
        lines.append("### Restore, per shape and `--max-async-batches` (medians)")
        lines.append("")
        lines.append("| shape | async | tool | records | MB | rounds | records/s | MB/s | client CPU µs/record "
                     "| server CPU s | peak RSS MiB | records/s ratio | CPU/record ratio |")
        lines.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        shapes = order([k[1] for k in shape_keys])
        for shape in shapes:
            variants = order([k[2] for k in shape_keys if k[1] == shape])
            for variant in variants:
                ref = med.get(("shapes", shape, variant, REF))
                for tool in tools:
                    m = med.get(("shapes", shape, variant, tool))
                    if not m:
                        continue
                    if ref and tool != REF:
                        rr = m["rec_per_s"] / ref["rec_per_s"]
                        cr = m["us_per_rec"] / ref["us_per_rec"]
                        ratio = f"**{rr:.2f}x** | **{cr:.2f}x**"
                        want_rate = 2.0 if shape == "mixed" else 1.5
                        checks.append((f"{tool} {shape} {variant}: records/s {rr:.2f}x asrestore (>= {want_rate}x)",
                                       rr >= want_rate))
                        if shape == "mixed":
                            checks.append((f"{tool} {shape} {variant}: CPU/record {cr:.2f}x asrestore (<= 0.4x)",
                                           cr <= 0.4))
                    else:
                        ratio = " | "
                    lines.append(
                        f"| {shape} | {variant.removeprefix('async=')} | {tool} | {m['records']} | "
                        f"{m['bytes'] / 1e6:.0f} | {m['rounds']} | {m['rec_per_s']:.0f} | {m['mb_per_s']:.1f} | "
                        f"{m['us_per_rec']:.2f} | {m['srv_cpu_s']:.1f} | {mib(m['rss_kib']):.1f} | {ratio} |")
        lines.append("")

    val = [k for k in med if k[0] == "validate"]
    if val:
        lines.append("### `--validate` (medians)")
        lines.append("")
        lines.append("| backup | tool | records | MB | rounds | wall s | MB/s | client CPU s | peak RSS MiB | speed-up |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for variant in order([k[2] for k in val]):
            ref = med.get(("validate", "mixed", variant, REF))
            for tool in tools:
                m = med.get(("validate", "mixed", variant, tool))
                if not m:
                    continue
                up = ""
                if ref and tool != REF:
                    s = ref["wall_s"] / m["wall_s"]
                    up = f"**{s:.1f}x**"
                    checks.append((f"{tool} --validate {variant}: {s:.1f}x faster than asrestore --validate (>= 10x)",
                                   s >= 10))
                lines.append(f"| mixed {variant} | {tool} | {m['records']} | {m['bytes'] / 1e6:.0f} | {m['rounds']} | "
                             f"{m['wall_s']:.2f} | {m['mb_per_s']:.0f} | {m['cpu_s']:.2f} | {mib(m['rss_kib']):.1f} | {up} |")
        lines.append("")

    comp = [k for k in med if k[0] == "compression"]
    if comp:
        lines.append("### Compressed input: the same mixed backup plain, gzip -6 and zstd -3 (medians)")
        lines.append("")
        lines.append("| input | tool | rounds | wall s | records/s | client CPU µs/record | peak RSS MiB |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for tool in tools:
            for variant in ("plain", "gzip", "zstd", "plain-validate", "gzip-validate", "zstd-validate"):
                m = med.get(("compression", "mixed", variant, tool))
                if not m:
                    continue
                lines.append(f"| {variant.replace('-validate', ' --validate')} | {tool} | {m['rounds']} | "
                             f"{m['wall_s']:.2f} | {m['rec_per_s']:.0f} | {m['us_per_rec']:.2f} | {mib(m['rss_kib']):.1f} |")
            for suffix in ("", "-validate"):
                g = med.get(("compression", "mixed", "gzip" + suffix, tool))
                z = med.get(("compression", "mixed", "zstd" + suffix, tool))
                if g and z:
                    what = "restore" if not suffix else "--validate"
                    checks.append((f"{tool} {what}: zstd input {z['wall_s']:.2f} s vs gzip {g['wall_s']:.2f} s "
                                   f"(zstd at least as fast)", z["wall_s"] <= g["wall_s"]))
        lines.append("")

    rss = [k for k in med if k[0] == "rss"]
    if rss:
        lines.append("### Peak RSS restoring large backups (mixed shape, `--no-generation`, medians)")
        lines.append("")
        lines.append("| backup | tool | records | MB | rounds | records/s | client CPU µs/record | peak RSS MiB (median) | peak RSS MiB (max) |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for tool in tools:
            sizes = [k[2] for k in rss if k[3] == tool]
            sizes.sort(key=lambda v: float(v.rstrip("GB")))
            for variant in sizes:
                m = med[("rss", "mixed", variant, tool)]
                lines.append(f"| mixed {variant} | {tool} | {m['records']} | {m['bytes'] / 1e6:.0f} | {m['rounds']} | "
                             f"{m['rec_per_s']:.0f} | {m['us_per_rec']:.2f} | {mib(m['rss_kib']):.1f} | {mib(m['rss_max_kib']):.1f} |")
            if tool != REF and sizes:
                ms = [med[("rss", "mixed", v, tool)] for v in sizes]
                hi = max(mib(m["rss_max_kib"]) for m in ms)
                checks.append((f"{tool}: peak RSS at most {hi:.1f} MiB over every large restore (< 64 MiB)", hi < 64))
                if len(ms) > 1:
                    a, b = mib(ms[0]["rss_kib"]), mib(ms[-1]["rss_kib"])
                    d = abs(b - a) / a
                    checks.append((f"{tool}: peak RSS {sizes[0]} {a:.1f} MiB vs {sizes[-1]} {b:.1f} MiB, "
                                   f"{d * 100:.1f}% apart (within 10%)", d <= 0.10))
        lines.append("")

    if checks:
        lines.append("### Targets")
        lines.append("")
        for text, ok in checks:
            lines.append(f"- {'met' if ok else '**NOT met**'}: {text}")
        lines.append("")
    return lines


def svg(med, path):
    """Two panels: records/s and client CPU µs/record per shape and async, one bar per tool."""
    keys = [k for k in med if k[0] == "shapes"]
    if not keys:
        return
    groups = order([(k[1], k[2]) for k in keys])
    tools = order([k[3] for k in keys], first=(REF,))
    colors = ["#9e9e9e", "#1f77b4", "#2ca02c", "#d62728", "#9467bd"]
    bar_h, gap, label_w, panel_w, top = 14, 12, 190, 360, 60
    group_h = len(tools) * bar_h + gap
    height = top + len(groups) * group_h + 60
    width = label_w + 2 * (panel_w + 40) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">restorer vs asrestore '
           f'(medians of interleaved rounds, same server)</text>']
    panels = [("records/s (higher is better)", "rec_per_s", "{:.0f}"),
              ("client CPU µs/record (lower is better)", "us_per_rec", "{:.1f}")]
    for p, (title, field, fmt) in enumerate(panels):
        x0 = label_w + p * (panel_w + 40)
        vmax = max(med[k][field] for k in keys) * 1.15
        out.append(f'<text x="{x0 + panel_w / 2}" y="{top - 22}" text-anchor="middle" font-size="12">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{top - 10}" x2="{x0}" y2="{height - 50}" stroke="black"/>')
        for t in range(5):
            v = vmax * t / 4
            x = x0 + panel_w * t / 4
            out.append(f'<line x1="{x:.1f}" y1="{height - 50}" x2="{x:.1f}" y2="{height - 46}" stroke="black"/>')
            out.append(f'<text x="{x:.1f}" y="{height - 34}" text-anchor="middle">{fmt.format(v)}</text>')
        for g, (shape, variant) in enumerate(groups):
            y = top + g * group_h
            if p == 0:
                out.append(f'<text x="{label_w - 8}" y="{y + len(tools) * bar_h / 2 + 4}" text-anchor="end">'
                           f'{shape}, {variant.replace("async=", "async ")}</text>')
            for i, tool in enumerate(tools):
                m = med.get(("shapes", shape, variant, tool))
                if not m:
                    continue
                w = panel_w * m[field] / vmax
                yy = y + i * bar_h
                out.append(f'<rect x="{x0}" y="{yy}" width="{w:.1f}" height="{bar_h - 2}" '
                           f'fill="{colors[i % len(colors)]}"/>')
                out.append(f'<text x="{x0 + w + 3:.1f}" y="{yy + bar_h - 4}">{fmt.format(m[field])}</text>')
    lx = label_w
    for i, tool in enumerate(tools):
        out.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{colors[i % len(colors)]}"/>')
        out.append(f'<text x="{lx + 16}" y="{height - 12}">{tool}</text>')
        lx += 30 + 7 * len(tool)
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--svg")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    rows = load(a.csv)
    if not rows:
        print("no rows", file=sys.stderr)
        return 1
    med = medians(rows)
    lines = tables(rows, med)
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    if a.svg:
        svg(med, a.svg)
        print(f"plot: {a.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
