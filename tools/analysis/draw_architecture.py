"""Block diagram of the adversarial setup (OmniPose generator against a Pose and a Confidence Discriminator), drawn
with matplotlib patches only. Content: the discriminators, labels, losses and training step as implemented in
lib/models/discriminator.py and lib/core/function_AN.py.

    python tools/analysis/draw_architecture.py             # OmniPose/reports/architecture/ (1400 x 740 px)
    python tools/analysis/draw_architecture.py --docs      # the committed docs/adversarial_architecture.png
    python tools/analysis/draw_architecture.py --out /tmp/arch.png --dpi 150
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

WIDTH, HEIGHT = 14.0, 7.4  # figure inches == data units, so 1 unit = `dpi` pixels
# Where the figure goes without --out: under OmniPose/ unless a person means to update the committed one (--docs).
REPORT_OUT = "OmniPose/reports/architecture/adversarial_architecture.png"
DOCS_OUT = "docs/adversarial_architecture.png"

# fill / edge colours per role
GEN = ("#dbe9f6", "#2f6ea5")
TENSOR = ("#f4f4f4", "#555555")
DISC = ("#fde3cf", "#c0601a")
LABEL = ("#e8f3df", "#4a8a2a")
LOSS = ("#f9e0e6", "#a8324f")
INFER = ("#fff6cc", "#a88a00")
TRAIN_EDGE = "#7a7a7a"

TITLE_SIZE = 11.5
BODY_SIZE = 9.5
SMALL_SIZE = 8.5


def box(ax, x, y, w, h, title, body="", colors=TENSOR, title_size=TITLE_SIZE, body_size=BODY_SIZE, lw=1.4,
        title_dy=0.2, align="center"):
    """A rounded box with a bold title line near its top and an optional body below it."""
    fill, edge = colors
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.0,rounding_size=0.08", fc=fill, ec=edge, lw=lw,
                                zorder=2))
    tx = x + w / 2 if align == "center" else x + 0.12
    ax.text(tx, y + h - title_dy, title, ha=align, va="center", fontsize=title_size, fontweight="bold", color="#222",
            zorder=4)
    if body:
        ax.text(tx, y + h - title_dy - 0.2, body, ha=align, va="top", fontsize=body_size, color="#222",
                linespacing=1.35, zorder=4)
    return (x, y, w, h)


def arrow(ax, start, end, color="#333", lw=1.4, style="-|>", ls="-", text=None, text_xy=None, text_ha="left",
          text_size=SMALL_SIZE):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=13, color=color, lw=lw, ls=ls,
                                 shrinkA=0, shrinkB=0, zorder=3))
    if text:
        ax.text(*(text_xy or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)), text, ha=text_ha, va="center",
                fontsize=text_size, color=color, zorder=4,
                bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.9))


def polyline(ax, points, color="#333", lw=1.4, arrow_end=True):
    """Orthogonal connector through `points`, with an arrow head on the last segment."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1], ys[:-1], color=color, lw=lw, solid_capstyle="butt", zorder=3)
    if arrow_end:
        arrow(ax, points[-2], points[-1], color=color, lw=lw)
    else:
        ax.plot(xs[-2:], ys[-2:], color=color, lw=lw, zorder=3)


def encoder_decoder_glyph(ax, x, y, w, h, color):
    """Miniature of the discriminators' U-shape: E0..E4 bars shrinking, D3..D1 growing, skip arcs, pooled read-out."""
    heights = [1.0, 0.8, 0.6, 0.45, 0.32, 0.45, 0.6, 0.8]
    n = len(heights) + 1
    step = w / n
    bar_w = step * 0.55
    centers = []
    for i, frac in enumerate(heights):
        bh = h * frac
        cx = x + step * (i + 0.5)
        ax.add_patch(Rectangle((cx - bar_w / 2, y + (h - bh) / 2), bar_w, bh, fc=color, ec="none", alpha=0.75,
                               zorder=3))
        centers.append(cx)
    for enc, dec in ((1, 7), (2, 6), (3, 5)):  # skips E1->D1, E2->D2, E3->D3
        ax.annotate("", xy=(centers[dec], y + h * 0.5 + h * heights[dec] / 2),
                    xytext=(centers[enc], y + h * 0.5 + h * heights[enc] / 2),
                    arrowprops=dict(arrowstyle="-", color=color, lw=0.9, connectionstyle="arc3,rad=-0.35"),
                    zorder=3)
    # global average pool -> 17 logits
    px = x + step * (len(heights) + 0.5)
    ax.add_patch(Rectangle((px - bar_w / 2, y + h * 0.2), bar_w, h * 0.6, fc="white", ec=color, lw=1.0, zorder=3))
    ax.text(px, y + h * 0.5, "17", ha="center", va="center", fontsize=6.5, color=color, zorder=4)


def draw(out_path, dpi=100):
    fig = plt.figure(figsize=(WIDTH, HEIGHT), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(0, HEIGHT)
    ax.axis("off")

    ax.text(0.3, 7.12, "Adversarial OmniPose: generator G vs. Pose Discriminator P and Confidence Discriminator C "
            "(after Chen et al. 2017)", ha="left", va="center", fontsize=12.5,
            fontweight="bold", color="#222")

    # ---------------- inference path (top row) ----------------
    row_y, row_h = 5.15, 1.45
    box(ax, 0.3, row_y, 1.6, row_h, "input crop x", "3 × H × W\n(e.g. 384 × 288)", title_dy=0.3)
    gx, gw = 2.35, 4.95
    ax.add_patch(FancyBboxPatch((gx, 5.0), gw, 1.75, boxstyle="round,pad=0.0,rounding_size=0.1", fc=GEN[0],
                                ec=GEN[1], lw=1.8, zorder=1))
    ax.text(gx + gw / 2, 6.53, "OmniPose generator G", ha="center", va="center", fontsize=TITLE_SIZE,
            fontweight="bold", color=GEN[1], zorder=4)
    # backbone sub-box with its four parallel branches
    bx, by, bw, bh = gx + 0.15, 5.12, 2.95, 1.2
    ax.add_patch(FancyBboxPatch((bx, by), bw, bh, boxstyle="round,pad=0.0,rounding_size=0.06", fc="white",
                                ec=GEN[1], lw=1.0, zorder=2))
    ax.text(bx + 0.1, by + bh - 0.17, "HRNet-W48 backbone", ha="left", va="center", fontsize=BODY_SIZE,
            fontweight="bold", zorder=4)
    for i, (scale, length) in enumerate((("1/4", 2.0), ("1/8", 1.55), ("1/16", 1.1), ("1/32", 0.65))):
        ly = by + bh - 0.4 - i * 0.16
        ax.plot([bx + bw - 0.15 - length, bx + bw - 0.15], [ly, ly], color=GEN[1], lw=3.2 - 0.5 * i, zorder=3,
                solid_capstyle="round")
        ax.text(bx + bw - 0.2 - length, ly, scale, ha="right", va="center", fontsize=7.5, color=GEN[1], zorder=4)
    ax.text(bx + 0.1, by + 0.1, "4 branches, Gaussian-deconv fuse", ha="left", va="bottom", fontsize=SMALL_SIZE,
            color="#222", zorder=4)
    hx = bx + bw + 0.2
    box(ax, hx, by, gx + gw - 0.15 - hx, bh, "WASPv2 head", "waterfall atrous\nspatial pooling\n→ 17 maps",
        colors=("white", GEN[1]), title_size=BODY_SIZE, body_size=SMALL_SIZE, lw=1.0, title_dy=0.17)
    arrow(ax, (bx + bw, by + bh / 2), (hx, by + bh / 2), color=GEN[1])

    yx, yw = 7.75, 2.0
    box(ax, yx, row_y, yw, row_h, "heatmaps ŷ", "17 × H/4 × W/4\nlinear output", title_dy=0.3)
    dx, dw = 10.35, 1.55
    box(ax, dx, row_y, dw, row_h, "decode", "argmax +\nDARK / sub-pixel", colors=INFER, title_dy=0.3)
    kx, kw = 12.35, 1.35
    box(ax, kx, row_y, kw, row_h, "keypoints", "17 × (x, y,\nscore)", colors=INFER, title_dy=0.3)
    mid = row_y + row_h / 2
    arrow(ax, (1.9, mid), (gx, mid))
    arrow(ax, (gx + gw, mid), (yx, mid))
    arrow(ax, (yx + yw, mid), (dx, mid))
    arrow(ax, (dx + dw, mid), (kx, mid))
    ax.text((dx + kx + kw) / 2, row_y + row_h + 0.14, "at inference: decode → keypoints", ha="center", va="center",
            fontsize=SMALL_SIZE, color=INFER[1], fontweight="bold")

    # ---------------- training-only part (dashed) ----------------
    ax.add_patch(FancyBboxPatch((0.15, 0.12), 13.7, 4.63, boxstyle="round,pad=0.0,rounding_size=0.12", fc="none",
                                ec=TRAIN_EDGE, lw=1.6, ls=(0, (6, 4)), zorder=1))
    ax.text(13.75, 4.52, "training only — no inference cost", ha="right", va="center", fontsize=11.5,
            fontweight="bold", color=TRAIN_EDGE, style="italic")

    # D inputs: x_s under x, f and r under the heatmaps, ground truth to their right
    xs_box = box(ax, 0.3, 2.55, 1.75, 1.25, "x_s", "area-downsample\nof x (detached)\n3 × H/4 × W/4",
                 body_size=SMALL_SIZE)
    arrow(ax, (1.1, row_y), (1.1, xs_box[1] + xs_box[3]))

    fx, fw = 7.75, 2.0
    f_box = box(ax, fx, 3.55, fw, 0.85, "fake f", "f = clamp(ŷ, 0, 1)", body_size=SMALL_SIZE)
    r_box = box(ax, fx, 2.2, fw, 0.95, "real r (composite)", "GT y_j where w_j = 1,\nelse f_j (detached)",
                body_size=SMALL_SIZE)
    arrow(ax, (8.75, row_y), (8.75, 3.55 + 0.85))
    arrow(ax, (8.75, f_box[1]), (8.75, r_box[1] + r_box[3]))
    gt_box = box(ax, 10.35, 3.55, 3.35, 0.85, "ground truth", "maps y (17 × H/4 × W/4), weights w,\njoints k, "
                 "person area A", body_size=SMALL_SIZE)
    polyline(ax, [(10.35, 3.75), (10.05, 3.75), (10.05, 2.68), (fx + fw, 2.68)])

    # discriminators side by side, inputs through a bus from f / r, outputs down into the losses
    px, pw = 2.5, 2.45
    cx, cw = 5.15, 2.2
    dy, dh = 1.95, 2.25
    box(ax, px, dy, pw, dh, "Pose Discr. P(x_s, maps)", "in: 3 + 17 channels\nat H/4 × W/4; widths\n64-128-256-256-256",
        colors=DISC, title_size=10.5, body_size=SMALL_SIZE)
    box(ax, cx, dy, cw, dh, "Confidence Discr. C", "C(maps), in: 17 channels\nhalf of P's widths\n(32 … 128)",
        colors=DISC, title_size=10.5, body_size=SMALL_SIZE)
    encoder_decoder_glyph(ax, px + 0.15, dy + 0.35, pw - 0.3, 0.55, DISC[1])
    encoder_decoder_glyph(ax, cx + 0.15, dy + 0.35, cw - 0.3, 0.55, DISC[1])
    for x0, w0 in ((px, pw), (cx, cw)):
        ax.text(x0 + w0 / 2, dy + 0.17, "→ 17 logits", ha="center", va="center", fontsize=SMALL_SIZE,
                color=DISC[1], fontweight="bold", zorder=4)
    arrow(ax, (xs_box[0] + xs_box[2], 3.15), (px, 3.15))
    bus_y, bus_x = 4.47, 7.45
    ax.plot([px + pw / 2, bus_x, bus_x], [bus_y, bus_y, 2.68], color="#333", lw=1.4, zorder=3)
    ax.plot([bus_x, fx], [3.97, 3.97], color="#333", lw=1.4, zorder=3)
    ax.plot([bus_x, fx], [2.68, 2.68], color="#333", lw=1.4, zorder=3)
    arrow(ax, (px + pw / 2, bus_y), (px + pw / 2, dy + dh))
    arrow(ax, (cx + cw / 2, bus_y), (cx + cw / 2, dy + dh))
    ax.text(4.95, bus_y + 0.03, "maps: f (fake) or r (real)", ha="center", va="bottom", fontsize=SMALL_SIZE,
            color="#333", bbox=dict(boxstyle="round,pad=0.08", fc="white", ec="none"))
    ax.text(0.35, 2.38, "P and C: encoder-decoder,\nspectral-norm 3×3 convs,\nLeakyReLU, skips, global\n"
            "average read-out", ha="left", va="top", fontsize=SMALL_SIZE, color=DISC[1], style="italic",
            linespacing=1.3)

    # per-joint labels
    lab = box(ax, 10.35, 1.95, 3.35, 1.35, "per-joint labels (no grad)",
              "P: p_j = 1  if OKS term ks_j ≥ TAU_P (0.75)\n     ks_j = exp(−d_j² / (2 A κ_j²)), d_j: ŷ_j to k_j\nC: c_j = 1  if ‖f_j − y_j‖² / ‖y_j‖² < EPS_C (0.3)\n"
              "reals: 0.9 (smoothed); w_j = 0 masked", colors=LABEL, body_size=SMALL_SIZE, align="left")
    arrow(ax, (12.5, gt_box[1]), (12.5, lab[1] + lab[3]))

    # losses
    ly, lh = 0.28, 1.28
    ax.add_patch(FancyBboxPatch((0.3, ly), 13.4, lh, boxstyle="round,pad=0.0,rounding_size=0.08", fc=LOSS[0],
                                ec=LOSS[1], lw=1.4, zorder=2))
    sections = [
        (0.3, 3.05, "L_mse", "target-weighted MSE(ŷ, y)\n(the pure OmniPose loss)\nlabelled joints only"),
        (3.35, 4.6, "L_D  (D step, Adam 1e-4)",
         "BCE(D(real r), 0.9) + balanced BCE(D(f.detach()), p or c)\nnegatives up-weighted by n_pos / n_neg (≤ 10)\n"
         "updates P and C only; G gets no gradient"),
        (7.95, 5.75, "L_G = L_mse + ramp(t) · L_adv  (G step)",
         "L_adv = LAMBDA_P · BCE(P(x_s, f), 1) + LAMBDA_C · BCE(C(f), 1)\nramp 0 → 1 over the first adversarial epoch\n"
         "P and C frozen, re-run on the non-detached f; updates G only"),
    ]
    for i, (sx, sw, title, body) in enumerate(sections):
        if i:
            ax.plot([sx, sx], [ly + 0.1, ly + lh - 0.1], color=LOSS[1], lw=0.9, ls=":", zorder=3)
        ax.text(sx + sw / 2, ly + lh - 0.24, title, ha="center", va="center", fontsize=10.5, fontweight="bold",
                color=LOSS[1], zorder=4)
        ax.text(sx + sw / 2, ly + lh - 0.45, body, ha="center", va="top", fontsize=SMALL_SIZE, color="#222",
                linespacing=1.35, zorder=4)
    arrow(ax, (px + pw / 2, dy), (px + pw / 2, ly + lh))
    arrow(ax, (cx + cw / 2, dy), (cx + cw / 2, ly + lh))
    arrow(ax, (12.5, lab[1]), (12.5, ly + lh), text="targets p, c", text_xy=(12.58, 1.76))

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)
    return out_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help=f"PNG to write [{REPORT_OUT}]")
    where.add_argument("--docs", action="store_true", help=f"write the committed figure {DOCS_OUT} instead")
    parser.add_argument("--dpi", type=int, default=100, help="pixels per inch (the figure is 14 x 7.4 inches)")
    args = parser.parse_args(argv)
    path = draw(args.out or (DOCS_OUT if args.docs else REPORT_OUT), args.dpi)
    print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KB)", file=sys.stderr)
    return path


if __name__ == "__main__":
    main()
