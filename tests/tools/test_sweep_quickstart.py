"""tools/studies/sweep_quickstart.py: every variant gets the same training minutes (from a calibrated speed), and the
report (table, json, plot) comes from the runs' own metrics."""
import json

from conftest import QUICKSTART, tiny_opts

from lib.config import load_cfg
from tools.studies import sweep_quickstart


def test_two_variants_end_to_end(tiny_synthetic, tmp_path):
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(load_cfg(QUICKSTART, tiny_opts(tiny_synthetic, tmp_path / "unused")).dump())
    out = tmp_path / "sweep"
    argv = ["--cfg", str(cfg_file), "--variants", "base", "lr_2e-3", "--minutes", "0.05", "--evals", "2",
            "--calib-iters", "3", "--out", str(out)]
    assert sweep_quickstart.main(argv) == 0
    results = json.loads((out / "sweep.json").read_text())
    assert [r["variant"] for r in results] == ["base", "lr_2e-3"]
    for r in results:
        assert r["calibrated_img_s"] > 0 and r["iterations"] >= 2  # what ran (the tiny split caps each epoch)
        assert len(r["curve"]) == 2 and 0.0 <= r["final_AP"] <= 1.0
        assert 0 < r["curve"][0]["minutes"] <= r["curve"][1]["minutes"] == r["train_minutes"]
        assert r["env"]["torch_threads"] >= 1
    run_cfg = load_cfg(str(out / "lr_2e-3" / "coco" / "omnipose" / "tiny" / "config.yaml"))
    assert run_cfg.TRAIN.LR == 0.002 and run_cfg.TRAIN.LR_SCHEDULE == "cosine"
    table = (out / "sweep.md").read_text()
    assert "| base |" in table and "| lr_2e-3 |" in table and "Machine:" in table
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # --plot-only rewrites the report from sweep.json without training
    (out / "sweep.md").unlink()
    assert sweep_quickstart.main(["--plot-only", "--out", str(out)]) == 0
    assert "| lr_2e-3 |" in (out / "sweep.md").read_text()
