r"""Export the generator (images -> heatmaps) to ONNX with a dynamic batch axis, then check it against PyTorch.

    python tools/export_onnx.py --cfg experiments/synthetic/omnipose_quickstart.yaml \
        --weights OmniPose/trained/coco/omnipose/omnipose_quickstart/model_best.pth --out omnipose_quickstart.onnx
    python tools/export_onnx.py --cfg CFG --weights W --work-dir exports     # writes exports/<config name>.onnx

The graph takes `images` (B, 3, H, W) float32, normalised as the dataset does (ImageNet mean/std, RGB when
DATASET.COLOR_RGB), with H, W = MODEL.IMAGE_SIZE, and returns `heatmaps` (B, K, H/4, W/4): the raw network output
(logits for LOSS.TYPE bce). Flip test and decoding stay outside the graph (lib/core/inference.py, lib/codec/).
Pure and adversarially trained weights export the same graph: the discriminators are not part of the generator.
The parity check runs onnxruntime on a batch size other than the export's and prints the max abs difference; above
--tol (1e-4) the run fails with exit status 1. Uses the TorchScript exporter (dynamo=False): the torch.export-based
one needs onnxscript, which is not a requirement.
"""
import logging
import os
import warnings

import numpy as np
import torch

from lib import cli
from lib.config import config_name, load_cfg
from lib.core.predictor import load_generator
from lib.utils.checkpoint import WeightLoadError
from lib.utils.errors import UserError, as_user_errors, run_main

logger = logging.getLogger("export_onnx")

OPSET = 17
EXPORT_BATCH = 2  # traced batch size; the parity check uses PARITY_BATCH to exercise the dynamic axis
PARITY_BATCH = 3
# Library errors that are the user's to fix here (lib.utils.errors.run_main): weights that do not fit the config.
USER_ERRORS = (WeightLoadError,)


def parse_args(argv=None):
    parser = cli.ArgumentParser(__doc__, cfg_help="experiment yaml the weights were trained with")
    cli.add_weights(parser, "weight file (pure or adversarial run, or a release file)", required=True)
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--out", help="output .onnx file")
    cli.add_work_dir(output, "output folder: writes <folder>/<config name>.onnx")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    parser.add_argument("--tol", type=float, default=1e-4, help="max abs heatmap difference allowed vs PyTorch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random check inputs")
    args = cli.parse(parser, argv)
    if args.work_dir:
        args.out = os.path.join(args.work_dir, config_name(args.cfg) + ".onnx")
    return args


def export(model, path, image_size_wh, opset=OPSET):
    """Traces `model` (eval, CPU) at batch EXPORT_BATCH into `path` with batch axis 'batch' dynamic."""
    width, height = image_size_wh
    example = torch.randn(EXPORT_BATCH, 3, height, width)
    folder = os.path.dirname(os.path.abspath(path))
    try:  # fail here, in a line the user can read, rather than deep in the exporter
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "permission denied", folder)
    except OSError as e:
        raise UserError(f"cannot write the ONNX file {path}: {folder}: {e.strerror or e}",
                        hint="choose a writable --out FILE or --work-dir FOLDER") from e
    with warnings.catch_warnings():
        # The tracer warns about the model's shape checks on the input (constant for a fixed input size) and about
        # the legacy exporter being deprecated; neither affects this graph, and the parity check below verifies it.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (example,), path, dynamo=False, opset_version=opset, input_names=["images"],
            output_names=["heatmaps"], dynamic_axes={"images": {0: "batch"}, "heatmaps": {0: "batch"}},
            do_constant_folding=True,
        )


def parity(model, path, image_size_wh, seed=0):
    """Max abs difference between onnxruntime and PyTorch heatmaps on a random (PARITY_BATCH, 3, H, W) batch.

    Returns:
        (max_abs_diff, onnx output shape)
    """
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(path)
    width, height = image_size_wh
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(PARITY_BATCH, 3, height, width, generator=generator)
    with torch.no_grad():
        expected = model(images).float().numpy()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(["heatmaps"], {"images": images.numpy()})[0]
    if got.shape != expected.shape:
        raise RuntimeError(f"{path}: onnxruntime output shape {got.shape} != PyTorch {expected.shape}")
    return float(np.abs(got - expected).max()), got.shape


def main(argv=None):
    """Exports and checks; returns {'out', 'max_abs_diff', 'shape'}. Raises a user error (ConfigError,
    WeightLoadError, UserError) on bad input, SystemExit (status 1) when the parity check fails."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_cfg(args.cfg, args.opts)
    with as_user_errors(ValueError):  # a weight file that does not fit the config says which key to change
        model = load_generator(cfg, args.weights)
    torch.set_flush_denormal(True)
    image_size = tuple(int(v) for v in cfg.MODEL.IMAGE_SIZE)
    export(model, args.out, image_size, args.opset)
    max_diff, shape = parity(model, args.out, image_size, args.seed)
    print(f"exported {args.weights} -> {args.out} (opset {args.opset}, input images (batch, 3, {image_size[1]}, "
          f"{image_size[0]}), output heatmaps {('batch',) + tuple(shape[1:])})")
    print(f"onnxruntime vs PyTorch on a batch of {shape[0]}: max abs heatmap difference {max_diff:.3g} "
          f"(tolerance {args.tol:g})")
    if not max_diff < args.tol:
        raise SystemExit(f"export_onnx: parity check failed: max abs difference {max_diff:.3g} >= {args.tol:g}")
    return {"out": args.out, "max_abs_diff": max_diff, "shape": shape}


if __name__ == "__main__":
    run_main(main, USER_ERRORS)
