"""Statistics of a person-keypoint dataset, to compare the synthetic set with real persons.

    python tools/analysis/dataset_stats.py data/synthetic/annotations/person_keypoints_val2017.json
    python tools/analysis/dataset_stats.py ochuman/test_ochuman.json mpii/test_mpii.json   # COCO and MPII formats
    python tools/analysis/dataset_stats.py A.json B.json --json stats.json        # also write the numbers as json

Reads COCO keypoint files (a dict with "images" and "annotations") and the HRNet/OmniPose MPII format (a list of
{"image", "joints", "joints_vis", "center", "scale"}). Image sizes come from the json ("width", "height") or, when
missing (always for MPII), from the image files next to the json (or under --images DIR).

Every statistic is over the non-crowd persons with at least one labelled joint (the persons training and OKS use):

    persons / image        labelled persons per image that has at least one
    mask / box area        segment area (decoded from "segmentation", not the "area" field) / box area: how much
                           of its box a person fills; OKS normalises by the segment area
    "area" / box area      the "area" field / box area (OCHuman, for one, stores the box area there)
    v=1 of labelled        labelled-but-occluded joints / labelled joints
    labelled joints        labelled joints per person (of 17, or 16 for MPII)
    box h / image h        person box height / image height (MPII: the extent of the labelled joints)
    box w / box h          box aspect ratio
    sqrt(area) < 32, 32-96, > 96 px: COCO's size buckets (small persons carry no joints in COCO), by the "area" field
    overlapping            share of persons whose box overlaps another labelled person's box with IoU > 0.1

Values are medians with the 10th-90th percentile range, or shares, as the "stat" column says.
"""
import argparse
import json
import math
import os
import sys
from typing import Dict, List, Optional

import numpy as np
from pycocotools import mask as mask_utils

OVERLAP_IOU = 0.1


def _fail(path: str, message: str) -> None:
    raise ValueError(f"{path}: {message}")


def _image_size(path: str, image_dir: str, file_name: str) -> tuple:
    """(width, height) read from the image file's header."""
    import cv2  # only needed when the json has no sizes

    image_path = os.path.join(image_dir, file_name)
    image = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    if image is None:
        _fail(path, f"image {image_path!r} is missing or unreadable (needed for its size; pass --images DIR)")
    return image.shape[1], image.shape[0]


def _segment_area(seg, height: int, width: int) -> Optional[float]:
    """Pixel area of a COCO segmentation (polygons, uncompressed or compressed RLE); None when there is none."""
    if not seg:
        return None
    if isinstance(seg, list):  # polygons
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = dict(seg)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    return float(mask_utils.area(rle))


def load_coco(path: str, data: Dict, image_dir: str) -> Dict:
    """Persons (list of dicts) and image sizes of a COCO keypoint file."""
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            _fail(path, f"expected a COCO keypoint file with a list under {key!r}")
    sizes = {}
    for img in data["images"]:
        if "width" in img and "height" in img:
            sizes[img["id"]] = (int(img["width"]), int(img["height"]))
        else:
            sizes[img["id"]] = _image_size(path, image_dir, img["file_name"])
    persons = []
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0) or ann.get("category_id", 1) != 1:
            continue
        if ann["image_id"] not in sizes:
            _fail(path, f"annotation {ann.get('id')} names image_id {ann['image_id']}, which is not in 'images'")
        kps = np.asarray(ann.get("keypoints", []), float).reshape(-1, 3)
        if not (kps[:, 2] > 0).any():
            continue
        w, h = sizes[ann["image_id"]]
        persons.append({
            "image": ann["image_id"], "box": [float(v) for v in ann["bbox"]], "vis": kps[:, 2].astype(int),
            "area": float(ann["area"]) if "area" in ann else None,
            "mask_area": _segment_area(ann.get("segmentation"), h, w), "image_size": (w, h),
        })
    return {"images": sizes, "persons": persons, "joints": 17}


def load_mpii(path: str, data: List, image_dir: str) -> Dict:
    """Persons and image sizes of an HRNet-style MPII file: the box is the extent of the labelled joints."""
    sizes, persons = {}, []
    for k, entry in enumerate(data):
        if not isinstance(entry, dict) or "joints" not in entry or "image" not in entry:
            _fail(path, f"entry {k} is not an MPII record with 'image' and 'joints'")
        name = entry["image"]
        if name not in sizes:
            sizes[name] = _image_size(path, image_dir, name)
        joints = np.asarray(entry["joints"], float)
        vis = np.asarray(entry.get("joints_vis", np.ones(len(joints))), float) > 0
        if not vis.any():
            continue
        lo, hi = joints[vis].min(0), joints[vis].max(0)
        persons.append({"image": name, "box": [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]],
                        "vis": np.where(vis, 2, 0), "area": None, "mask_area": None, "image_size": sizes[name],
                        "no_occlusion_flags": True})
    return {"images": sizes, "persons": persons, "joints": len(data[0]["joints"]) if data else 16}


def load(path: str, image_dir: Optional[str] = None) -> Dict:
    """Read a COCO or MPII keypoint json; image files are looked for in image_dir (default: the json's folder)."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid json ({err})") from None
    image_dir = image_dir or os.path.dirname(os.path.abspath(path))
    if isinstance(data, dict):
        return load_coco(path, data, image_dir)
    if isinstance(data, list):
        return load_mpii(path, data, image_dir)
    _fail(path, "expected a COCO keypoint dict or an MPII list of persons")


def _iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _spread(values) -> Optional[Dict]:
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if values.size == 0:
        return None
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"median": float(p50), "p10": float(p10), "p90": float(p90), "mean": float(values.mean()),
            "n": int(values.size)}


def compute_stats(dataset: Dict) -> Dict:
    """The statistics of the module docstring, as a dict (None where the data cannot tell)."""
    persons = dataset["persons"]
    by_image: Dict = {}
    for p in persons:
        by_image.setdefault(p["image"], []).append(p)
    box_area = [p["box"][2] * p["box"][3] for p in persons]
    mask_ratio = [p["mask_area"] / a if p["mask_area"] is not None and a > 0 else None
                  for p, a in zip(persons, box_area)]
    area_ratio = [p["area"] / a if p["area"] is not None and a > 0 else None for p, a in zip(persons, box_area)]
    vis = np.concatenate([p["vis"] for p in persons]) if persons else np.zeros(0, int)
    labelled = int((vis > 0).sum())
    has_flags = not any(p.get("no_occlusion_flags") for p in persons)
    sqrt_area = [math.sqrt(p["area"]) for p in persons if p["area"] is not None]
    overlapping = 0
    for group in by_image.values():
        for i, p in enumerate(group):
            if any(_iou(p["box"], q["box"]) > OVERLAP_IOU for j, q in enumerate(group) if j != i):
                overlapping += 1
    n = len(persons)
    return {
        "images": len(dataset["images"]),
        "images_with_persons": len(by_image),
        "persons": n,
        "persons_per_image": n / len(by_image) if by_image else None,
        "mask_box_ratio": _spread(mask_ratio),
        "area_box_ratio": _spread(area_ratio),
        "v1_share": float((vis == 1).sum() / labelled) if labelled and has_flags else None,
        "labelled_joints": _spread([float((p["vis"] > 0).sum()) for p in persons]),
        "box_h_over_image_h": _spread([p["box"][3] / p["image_size"][1] for p in persons]),
        "box_h_px": _spread([p["box"][3] for p in persons]),
        "box_aspect": _spread([p["box"][2] / p["box"][3] if p["box"][3] > 0 else None for p in persons]),
        "size_small": float(np.mean(np.asarray(sqrt_area) < 32)) if sqrt_area else None,
        "size_medium": float(np.mean((np.asarray(sqrt_area) >= 32) & (np.asarray(sqrt_area) < 96)))
        if sqrt_area else None,
        "size_large": float(np.mean(np.asarray(sqrt_area) >= 96)) if sqrt_area else None,
        "overlapping": overlapping / n if n else None,
    }


ROWS = (  # (key, label, kind)
    ("images", "images", "count"),
    ("persons", "labelled persons", "count"),
    ("persons_per_image", "persons / image (images with any)", "float"),
    ("mask_box_ratio", "mask / box area, median (p10-p90)", "spread"),
    ("area_box_ratio", "\"area\" / box area, median (p10-p90)", "spread"),
    ("v1_share", "v=1 of labelled joints", "share"),
    ("labelled_joints", "labelled joints / person, mean", "mean"),
    ("box_h_over_image_h", "box h / image h, median (p10-p90)", "spread"),
    ("box_h_px", "box h px, median (p10-p90)", "spread_px"),
    ("box_aspect", "box w / h, median (p10-p90)", "spread"),
    ("size_small", "sqrt(area) < 32 px", "share"),
    ("size_medium", "sqrt(area) 32-96 px", "share"),
    ("size_large", "sqrt(area) >= 96 px", "share"),
    ("overlapping", f"box IoU > {OVERLAP_IOU:g} with another", "share"),
)


def _cell(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "count":
        return str(value)
    if kind == "float":
        return f"{value:.2f}"
    if kind == "share":
        return f"{100 * value:.0f} %"
    if kind == "mean":
        return f"{value['mean']:.1f}"
    if kind == "spread_px":
        return f"{value['median']:.0f} ({value['p10']:.0f}-{value['p90']:.0f})"
    return f"{value['median']:.2f} ({value['p10']:.2f}-{value['p90']:.2f})"


def format_table(names: List[str], stats: List[Dict]) -> str:
    """A markdown table: one row per statistic, one column per dataset."""
    lines = ["| stat | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label, kind in ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(s[key], kind) for s in stats) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="COCO or MPII keypoint json files")
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="folder of the images, for sizes the json lacks (default: the json's folder)")
    parser.add_argument("--names", nargs="+", default=None, help="column names (default: the file names)")
    parser.add_argument("--json", default="", metavar="OUT", help="also write the statistics to this json file")
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.files):
        parser.error(f"--names gives {len(args.names)} names for {len(args.files)} files")
    names = args.names or [os.path.basename(f) for f in args.files]
    try:
        stats = [compute_stats(load(f, args.images)) for f in args.files]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(names, stats))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(zip(names, stats)), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
