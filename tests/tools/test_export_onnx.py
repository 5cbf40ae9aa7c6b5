"""tools/export_onnx.py: onnxruntime parity < 1e-4 with a dynamic batch axis, the same graph for pure and adversarial
weight files, and the loader's error for weights of another head."""
import pytest
import torch
from conftest import QUICKSTART

from lib.config import load_cfg
from lib.models import build_generator
from lib.utils.checkpoint import WeightLoadError
from tools import export_onnx

onnx = pytest.importorskip("onnx", reason="onnx is a test extra (requirements-test.txt)")
pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra (requirements-test.txt)")

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weights(opts, tmp_path_factory):
    """The same random tiny generator as a bare state_dict (pure run) and inside an adversarial checkpoint."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    state = build_generator(load_cfg(QUICKSTART, opts + ["MODEL.INIT_WEIGHTS", "False"])).state_dict()
    torch.save(state, folder / "model_best.pth")
    torch.save({"generator": state, "pose_disc": {}, "epoch": 3}, folder / "checkpoint_AN.pth")
    return folder / "model_best.pth", folder / "checkpoint_AN.pth"


def graph_signature(path):
    model = onnx.load(str(path))
    return ([node.op_type for node in model.graph.node], sorted(init.name for init in model.graph.initializer),
            [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim])


def test_export_parity_and_dynamic_batch(opts, weights, tmp_path, capsys):
    out = tmp_path / "onnx" / "model.onnx"
    result = export_onnx.main(["--cfg", QUICKSTART, "--weights", str(weights[0]), "--out", str(out), *opts])
    assert out.is_file()
    assert result["max_abs_diff"] < 1e-4
    assert result["shape"] == (export_onnx.PARITY_BATCH, 17, 16, 12) != (export_onnx.EXPORT_BATCH, 17, 16, 12)
    _, _, input_dims = graph_signature(out)
    assert input_dims == ["batch", 3, 64, 48]
    printed = capsys.readouterr().out
    assert "max abs heatmap difference" in printed and f"{result['max_abs_diff']:.3g}" in printed


def test_pure_and_adversarial_weights_give_the_same_graph(opts, weights, tmp_path):
    paths = []
    for i, weight_file in enumerate(weights):
        paths.append(tmp_path / f"{i}.onnx")
        export_onnx.main(["--cfg", QUICKSTART, "--weights", str(weight_file), "--out", str(paths[-1]), *opts])
    assert graph_signature(paths[0]) == graph_signature(paths[1])


def test_parity_failure_exits(opts, weights, tmp_path):
    with pytest.raises(SystemExit, match="parity check failed"):
        export_onnx.main(["--cfg", QUICKSTART, "--weights", str(weights[0]), "--out", str(tmp_path / "m.onnx"),
                          "--tol", "0", *opts])


def test_weights_of_another_head_get_the_loader_error(opts, weights, tmp_path):
    with pytest.raises(WeightLoadError, match="MODEL.EXTRA.HEAD waspv2"):
        export_onnx.main(["--cfg", QUICKSTART, "--weights", str(weights[0]), "--out", str(tmp_path / "m.onnx"),
                          *opts, "MODEL.EXTRA.HEAD", "waspv1"])
    assert not (tmp_path / "m.onnx").exists()
