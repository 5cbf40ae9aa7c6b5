r"""Poses drawn on images, image folders, videos or a COCO split, into OmniPose/samples/<run name>/ (or --work-dir).

    python tools/demo.py --cfg experiments/synthetic/omnipose_quickstart.yaml \
        --weights OmniPose/trained/coco/omnipose/omnipose_quickstart/model_best.pth \
        --input data/synthetic/images/val2017 --boxes-json data/synthetic/annotations/person_keypoints_val2017.json
    python tools/demo.py --cfg CFG --weights W --input clip.mp4 --whole-image --max-frames 300
    python tools/demo.py --cfg CFG --weights pure.pth adv.pth adv2.pth --labels pure adv adv2 \
        --input photo.jpg --boxes-json boxes.json --every 1          # one panel per weight file, side by side

Person boxes come from exactly one source: --boxes-json (a COCO annotation file, COCO detection results, or
{"photo.jpg": [[x, y, w, h, score], ...]}), --detector torchvision (optional extra) or --whole-image.
A COCO split is --input <image folder> --boxes-json <its annotation json>: the images keep the json's ids.
Writes every --every-th image with skeletons drawn, one annotated .mp4 per input video (every frame), and the
predictions of every processed image and frame as COCO keypoint results (keypoints_results[_<label>].json) plus
images.json (id -> file name, frame, size). Unreadable inputs are reported and skipped; a summary ends the run
(exit status 1 when some input failed, 2 when none could be processed). KEY VALUE pairs override the config, before
or after the options.
"""
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from typing import List, Tuple

import cv2

from lib import cli
from lib.config import config_name, load_cfg
from lib.core.evaluate import write_results
from lib.core.person_boxes import BoxSourceError, DetectorUnavailable, JsonBoxes, make_box_source
from lib.core.predictor import PosePredictor, read_image, resolve_device
from lib.core.runtime import configure_torch
from lib.dataset.joints_dataset import ImageReadError
from lib.utils.checkpoint import WeightLoadError
from lib.utils.errors import UserError, as_user_errors, run_main
from lib.utils.logger import setup_logger
from lib.visualization import compose_panels, draw_persons

logger = logging.getLogger("demo")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
DEFAULT_FPS = 25.0  # for a video whose container reports no frame rate

# The person box sources (choose exactly one), as the errors list them.
BOX_SOURCE_OPTIONS = (
    "--boxes-json FILE (a COCO annotation file, COCO detection results, or {\"image.jpg\": [[x, y, w, h, score], "
    "...]})",
    "--detector torchvision (needs torchvision and its cached detector weights)",
    "--whole-image (the whole image is one person)",
)
# A config key as given on the command line (MODEL.EXTRA.HEAD): catches a misspelt override swallowed by a list
# option (known keys end the list, lib/cli.py).
CONFIG_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")
# Library errors that are the user's to fix here (lib.utils.errors.run_main): weights that do not fit the config.
USER_ERRORS = (WeightLoadError,)


@dataclass
class DemoSummary:
    """What a run did. `failed` holds (input, reason) pairs; file lists hold paths written."""

    out_dir: str
    succeeded: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    images_written: List[str] = field(default_factory=list)
    videos_written: List[str] = field(default_factory=list)
    results_files: List[str] = field(default_factory=list)
    panels: int = 1


def parse_args(argv=None):
    parser = cli.ArgumentParser(__doc__, cfg_help="experiment yaml the weights were trained with")
    cli.add_weights(parser, "one or more weight files (several: drawn side by side, one panel each)", nargs="+",
                    required=True)
    parser.add_argument("--labels", nargs="+", help="panel labels, one per weight file (default: file names)")
    parser.add_argument("--input", nargs="+", required=True,
                        help="images, image folders and/or videos (a COCO split: its image folder + --boxes-json)")
    boxes = parser.add_argument_group("person boxes (choose exactly one)")
    boxes.add_argument("--boxes-json", help="COCO annotation json, COCO detection results, or a plain boxes json")
    boxes.add_argument("--detector", choices=["torchvision"], help="torchvision Faster R-CNN person detector")
    boxes.add_argument("--whole-image", action="store_true", help="the whole image (or frame) is one person")
    boxes.add_argument("--box-thre", type=float, default=None,
                       help="minimum box score (default: 0 for json boxes, 0.5 for the detector)")
    cli.add_work_dir(parser, "the output folder (default: --out-dir/--name)", default="")
    parser.add_argument("--out-dir", default=os.path.join("OmniPose", "samples"), help="base output folder")
    parser.add_argument("--name", default=None, help="run name, the output sub-folder (default: the config name)")
    parser.add_argument("--every", type=int, default=100, help="draw every N-th image (1 = all; videos: all frames)")
    parser.add_argument("--kpt-thre", type=float, default=0.3, help="hide joints scoring below this")
    parser.add_argument("--max-images", type=int, default=0, help="stop after this many images (0 = all)")
    parser.add_argument("--max-frames", type=int, default=0, help="frames per video (0 = all)")
    cli.add_device(parser, "'cpu', 'cuda', 'cuda:1' (default: the config's DEVICE)")
    args = cli.parse(parser, argv)
    for option in ("weights", "labels", "input"):
        swallowed = [v for v in getattr(args, option) or [] if CONFIG_KEY.match(v)]
        if swallowed:
            parser.error(f"--{option} got {swallowed[0]!r}, which looks like a config override but is not a config "
                         "key (lib/config/defaults.py lists them)")
    if args.every < 1:
        parser.error(f"--every {args.every}: must be >= 1 (1 draws every image)")
    if args.labels is not None and len(args.labels) != len(args.weights):
        parser.error(f"--labels gives {len(args.labels)} labels for {len(args.weights)} weight files")
    return args


def default_labels(weights):
    """File stems, or parent-folder/stem when stems repeat (every run writes model_best.pth)."""
    stems = [os.path.splitext(os.path.basename(w))[0] for w in weights]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{os.path.basename(os.path.dirname(os.path.abspath(w)))}/{s}" for w, s in zip(weights, stems)]


def box_source_from_args(args, device):
    """The one person box source the options choose (make_box_source); UserError naming the options otherwise."""
    chosen = [option for option, on in (("--boxes-json", bool(args.boxes_json)), ("--detector", bool(args.detector)),
                                        ("--whole-image", args.whole_image)) if on]
    if not chosen:
        raise UserError("no person box source given; choose one of:\n" + "\n".join(BOX_SOURCE_OPTIONS))
    if len(chosen) > 1:
        raise UserError(f"choose one person box source, got {' and '.join(chosen)}")
    try:
        return make_box_source(args.boxes_json, args.detector, args.whole_image, device, args.box_thre)
    except BoxSourceError as e:
        raise UserError(str(e)) from e
    except DetectorUnavailable as e:
        others = [option for option in BOX_SOURCE_OPTIONS if not option.startswith("--detector")]
        raise UserError(f"--detector torchvision: {e}", hint="or use " + "; or ".join(others)) from e


# --------------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------------
def _kind(path):
    ext = os.path.splitext(path)[1].lower()
    return "video" if ext in VIDEO_EXTENSIONS else "image"


def expand_inputs(paths, summary):
    """[(kind, path)] for the --input paths in order, folders expanded (sorted images); problems go to `summary`."""
    items = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
            if not names:
                _fail(summary, path, f"folder has no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
            items.extend(("image", os.path.join(path, n)) for n in names)
        elif not os.path.exists(path):
            _fail(summary, path, "no such file or folder")
        elif path.lower().endswith(".json"):
            _fail(summary, path, "a json is not an image or video; a COCO split is given as --input <image folder> "
                                 "--boxes-json <annotation json>")
        else:
            items.append((_kind(path), path))
    return items


def _fail(summary, path, reason):
    logger.error("%s: %s", path, reason)
    summary.failed.append((path, reason))


class _Run:
    """State shared by the image and video loops: predictors, box source, ids, results."""

    def __init__(self, args, cfg, predictors, labels, box_source, out_dir, summary):
        self.args, self.cfg = args, cfg
        self.predictors, self.labels = predictors, labels
        self.box_source = box_source
        self.out_dir, self.summary = out_dir, summary
        self.records = [[] for _ in predictors]  # per weight file: COCO results records
        self.images = []  # images.json entries
        self.used_ids = set()
        self.used_names = set()
        self.num_images = 0

    def image_id(self, file_name):
        known = self.box_source.image_id_for(file_name) if file_name else None
        image_id = known if known is not None and known not in self.used_ids else max(self.used_ids, default=0) + 1
        self.used_ids.add(image_id)
        return image_id

    def predict(self, image_bgr, file_name, image_id):
        """Boxes once (looked up by file name), then every model on them; returns persons per model, records kept
        under `image_id`."""
        boxes = self.box_source(image_bgr, file_name)
        all_persons = [p.predict(image_bgr, boxes) for p in self.predictors]
        for records, persons in zip(self.records, all_persons):
            records.extend({"image_id": image_id, "keypoints": person.keypoints, "score": person.score}
                           for person in persons)
        return all_persons

    def draw(self, image_bgr, all_persons):
        panels = [draw_persons(image_bgr, persons, predictor.keypoint_info, self.args.kpt_thre)
                  for predictor, persons in zip(self.predictors, all_persons)]
        labels = self.labels if (len(panels) > 1 or self.args.labels) else None
        return compose_panels(panels, labels)

    def output_path(self, stem, ext):
        name, n = f"{stem}{ext}", 1
        while name in self.used_names:
            name, n = f"{stem}_{n}{ext}", n + 1
        self.used_names.add(name)
        return os.path.join(self.out_dir, name)

    def run_image(self, path):
        try:
            image = read_image(path)
        except ImageReadError as e:
            _fail(self.summary, path, str(e))
            return
        file_name = os.path.basename(path)
        image_id = self.image_id(file_name)
        all_persons = self.predict(image, file_name, image_id)
        self.images.append({"id": image_id, "file_name": file_name, "path": path, "width": image.shape[1],
                            "height": image.shape[0]})
        if self.num_images % self.args.every == 0:
            out = self.output_path(os.path.splitext(file_name)[0], ".jpg")
            if not cv2.imwrite(out, self.draw(image, all_persons)):
                _fail(self.summary, path, f"could not write {out}")
                return
            self.summary.images_written.append(out)
        self.num_images += 1
        self.summary.succeeded.append(path)

    def run_video(self, path):
        capture = cv2.VideoCapture(path)
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok:
            capture.release()
            _fail(self.summary, path, "cannot open or decode the video (no frame could be read)")
            return
        fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
        out = self.output_path(os.path.splitext(os.path.basename(path))[0] + "_pose", ".mp4")
        writer = None
        frames = 0
        try:
            while ok:
                file_name = f"{os.path.basename(path)}#{frames}"
                image_id = self.image_id(None)
                drawn = self.draw(frame, self.predict(frame, file_name, image_id))
                self.images.append({"id": image_id, "file_name": file_name, "path": path, "frame": frames,
                                    "width": frame.shape[1], "height": frame.shape[0]})
                if writer is None:
                    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (drawn.shape[1], drawn.shape[0]))
                    if not writer.isOpened():
                        raise OSError(f"cv2.VideoWriter cannot write {out} (mp4v)")
                writer.write(drawn)
                frames += 1
                if self.args.max_frames and frames >= self.args.max_frames:
                    break
                ok, frame = capture.read()
        except OSError as e:
            _fail(self.summary, path, str(e))
            return
        finally:
            capture.release()
            if writer is not None:
                writer.release()
        written = count_video_frames(out)
        if written == 0:
            _fail(self.summary, path, f"the written video {out} cannot be read back")
            return
        logger.info("%s: %d frames -> %s (%d frames read back)", path, frames, out, written)
        self.summary.videos_written.append(out)
        self.summary.succeeded.append(path)


def count_video_frames(path):
    """Frames decodable from a video file (0 when it does not open)."""
    capture = cv2.VideoCapture(path)
    count = 0
    try:
        while capture.isOpened():
            ok, _ = capture.read()
            if not ok:
                break
            count += 1
    finally:
        capture.release()
    return count


def main(argv=None):
    """Runs the demo; returns a DemoSummary. Configuration, device, weight or box-source problems raise a user error
    (UserError, ConfigError, WeightLoadError) before any output; per-input problems are reported and counted in the
    summary."""
    args = parse_args(argv)
    cfg = load_cfg(args.cfg, args.opts)
    with cli.device_errors():
        device = resolve_device(args.device, cfg.DEVICE)
    configure_torch(cfg, device)
    box_source = box_source_from_args(args, device)
    with as_user_errors(ValueError):  # a weight file that does not fit the config says which key to change
        predictors = [PosePredictor.from_config(cfg, w, device) for w in args.weights]
    # The output folder (and its log) is only created once the run can start.
    out_dir = args.work_dir or os.path.join(args.out_dir, args.name or config_name(args.cfg))
    setup_logger(out_dir, 0, "demo")
    summary = DemoSummary(out_dir=out_dir, panels=len(args.weights))
    labels = args.labels or default_labels(args.weights)
    logger.info("demo: %d weight file(s) %s, boxes from %s, flip test %s, output %s", len(predictors), labels,
                box_source.description, "on" if predictors[0].flip_test else "off", out_dir)

    run = _Run(args, cfg, predictors, labels, box_source, out_dir, summary)
    items = expand_inputs(args.input, summary)
    if isinstance(box_source, JsonBoxes):
        unknown = [p for kind, p in items if kind == "image" and not box_source.has_image(os.path.basename(p))]
        if unknown:
            logger.warning("%d of %d images have no entry in %s (first: %s); they get no persons", len(unknown),
                           len(items), box_source.path, unknown[0])
    for kind, path in items:
        if kind == "image":
            if args.max_images and run.num_images >= args.max_images:
                continue
            run.run_image(path)
        else:
            run.run_video(path)

    if run.images:
        for records, label in zip(run.records, labels):
            suffix = "" if len(labels) == 1 else "_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
            path = os.path.join(out_dir, f"keypoints_results{suffix}.json")
            write_results(records, path)
            summary.results_files.append(path)
        with open(os.path.join(out_dir, "images.json"), "w") as f:
            json.dump(run.images, f, indent=1)
    print(f"demo: {len(summary.succeeded)} input(s) processed, {len(summary.failed)} failed; "
          f"{len(summary.images_written)} image(s), {len(summary.videos_written)} video(s) and "
          f"{len(summary.results_files)} results json(s) in {out_dir}")
    for path, reason in summary.failed:
        print(f"  FAILED {path}: {reason}")
    return summary


def exit_status(summary):
    """0: every input processed; 1: some failed (listed in the summary); 2: none could be processed, which is the
    user's input to fix (an `error:` line names the first)."""
    if summary.failed and not summary.succeeded:
        path, reason = summary.failed[0]
        more = f" (and {len(summary.failed) - 1} more, listed above)" if len(summary.failed) > 1 else ""
        what = reason if reason.startswith(path) else f"{path}: {reason}"
        print(f"error: no input could be processed: {what}{more}", file=sys.stderr)
        return 2
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(exit_status(run_main(main, USER_ERRORS)))
