"""tools/test.py on the tiny synthetic set: the log labels both COCOeval tables, keeps pycocotools' progress prints
off stdout, says which flip alignment and boxes were used, and ends with the summary table."""
from pathlib import Path

from conftest import QUICKSTART, tiny_opts

from lib.config import load_cfg
from lib.core.function import build_train_generator
from lib.utils.checkpoint import save_generator_weights
from tools import test as test_tool

SUMMARY_HEADS = ("AP", "AP .5", "AP .75", "AP M", "AP L", "AR", "AP v=1", "acc v=1", "acc v=2", "boxes used")


def test_log_is_labelled_quiet_and_ends_with_the_summary(tiny_synthetic, tmp_path, capsys):
    opts = tiny_opts(tiny_synthetic, tmp_path)
    weights = tmp_path / "run" / "model_best.pth"
    save_generator_weights(build_train_generator(load_cfg(QUICKSTART, opts)), weights)  # recorded, as trainers do
    detections = Path(tiny_synthetic) / "person_detection_results" / "synthetic_val2017_detections.json"
    detector = ["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(detections)]
    for boxes, extra in (("GT", []), ("detected", detector)):
        test_tool.main(["--cfg", QUICKSTART] + opts + ["TEST.MODEL_FILE", str(weights), "TEST.SHIFT_HEATMAP", "True"]
                       + extra)
        out = capsys.readouterr().out
        for chatter in ("creating index", "index created", "Loading and preparing results", "DONE (t="):
            assert chatter not in out, chatter
        assert "COCOeval, all labelled joints" in out and "COCOeval, occluded joints only" in out
        assert "flip test without heatmap shift (TEST.SHIFT_HEATMAP True ignored)" in out
        summary = out[out.index("evaluation summary"):].splitlines()
        heads = [cell.strip() for cell in summary[1].strip("|").split("|")]
        values = [cell.strip() for cell in summary[3].strip("|").split("|")]
        assert tuple(heads) == SUMMARY_HEADS and values[-1].endswith(boxes), (heads, values)
        assert all(v == "nan" or 0.0 <= float(v) <= 1.0 for v in values[:-1]), values  # nan: no v=1 joints
    logs = sorted((weights.parent / "test").glob("test_*.log"))
    assert logs and "evaluation summary" in logs[-1].read_text()
