"""The bad-input battery: every mistake a user can make with a file, key, value, folder or device ends in one
`error: ...` line naming the culprit, exit status 2 and no traceback. Each case is a real command in a subprocess.

Most cases fail before any training; the few that need a run share one tiny finished run made once per module.
"""
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import QUICKSTART, tiny_opts

from tools import train

ROOT = Path(__file__).resolve().parents[2]


def sha256_tree(folder):
    """{relative path: sha256} of every file under `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def run_command(argv, env=None):
    """Runs `argv` (a tool path relative to the repository, or bash) from the repository root."""
    command = ([sys.executable] + argv) if argv[0].endswith(".py") else argv
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable, **(env or {}))
    environment.pop("OMNIPOSE_DEBUG", None)
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment)


def assert_user_error(done, culprit):
    """Status 2, exactly one `error:` line and it names `culprit`, no traceback."""
    output = done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert len(errors) == 1, output[-3000:]
    # the culprit is on the error line or its indented continuation lines (a list of differing keys, say)
    message = done.stderr[done.stderr.index(errors[0]):].split("\nhint:")[0]
    assert str(culprit) in message, output[-3000:]


@pytest.fixture(scope="module")
def made(tiny_synthetic, tmp_path_factory):
    """Files the cases need: a finished 1-epoch run (weights, checkpoint), broken yamls, data and weight files."""
    base = tmp_path_factory.mktemp("bad_input")
    opts = tiny_opts(tiny_synthetic, base / "runs", epochs=1) + ["TRAIN.MAX_ITERS_PER_EPOCH", "3"]
    run_dir = Path(train.main(["--cfg", QUICKSTART] + opts))
    files = {"base": base, "opts": opts, "run_dir": run_dir, "weights": run_dir / "model_best.pth",
             "checkpoint": run_dir / "checkpoint.pth"}

    def write(name, text):
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    files["bad_yaml"] = write("bad.yaml", "MODEL:\n  NAME: [omnipose\n")
    files["no_base"] = write("no_base.yaml", "_BASE_: missing_base.yaml\nSEED: 1\n")
    files["loop_a"] = write("loop_a.yaml", "_BASE_: loop_b.yaml\n")
    write("loop_b.yaml", "_BASE_: loop_a.yaml\n")
    files["text"] = write("notes.txt", "not an image\n")
    files["fake_video"] = write("clip.mp4", "not a video\n")
    files["empty_folder"] = base / "empty"
    files["empty_folder"].mkdir()
    files["not_torch"] = write("not_torch.pth", "plain text, not a torch file\n")
    files["truncated_weights"] = base / "truncated.pth"
    files["truncated_weights"].write_bytes(files["weights"].read_bytes()[:200])
    files["truncated_checkpoint"] = base / "truncated_ckpt" / "checkpoint.pth"
    files["truncated_checkpoint"].parent.mkdir()
    files["truncated_checkpoint"].write_bytes(files["checkpoint"].read_bytes()[:300])
    files["bad_detections"] = write("detections.json", json.dumps({"boxes": "not a list"}))
    files["a_file"] = write("a_file", "a file where a folder is expected\n")

    def broken_copy(name, damage):
        """A copy of the tiny dataset with every val image damaged by damage(path)."""
        root = base / name
        shutil.copytree(tiny_synthetic, root)
        for image in sorted((root / "images" / "val2017").iterdir()):
            damage(image)
        return root

    files["corrupt_jpeg_root"] = broken_copy("corrupt", lambda p: p.write_bytes(b"\xff\xd8\xff not a jpeg"))
    files["zero_size_root"] = broken_copy("zero_size", lambda p: p.write_bytes(b""))
    files["missing_image_root"] = broken_copy("missing_image", lambda p: p.unlink())
    root = base / "truncated_json"
    shutil.copytree(tiny_synthetic, root)
    annotations = root / "annotations" / "person_keypoints_val2017.json"
    annotations.write_text(annotations.read_text()[:500])
    files["truncated_json_root"] = root
    return files


def _with_root(opts, root):
    """`opts` with DATASET.ROOT replaced."""
    i = opts.index("DATASET.ROOT")
    return opts[:i + 1] + [str(root)] + opts[i + 2:]


def _train(made, *extra):
    return ["tools/train.py", "--cfg", QUICKSTART] + made["opts"] + [str(e) for e in extra]


def _test(made, *extra, root=None):
    opts = made["opts"] if root is None else _with_root(made["opts"], made[root])
    return ["tools/test.py", "--cfg", QUICKSTART, "--weights", str(made["weights"]), "--work-dir",
            str(made["base"] / "test_out")] + opts + [str(e) for e in extra]


def _demo(made, *inputs):
    return ["tools/demo.py", "--cfg", QUICKSTART, "--weights", str(made["weights"]), "--whole-image",
            "--work-dir", str(made["base"] / "demo_out"), "--input", *map(str, inputs)] + made["opts"]


# (id, command builder (made -> argv), culprit builder (made -> text the error line must name))
CASES = [
    ("missing-yaml", lambda m: ["tools/train.py", "--cfg", "experiments/nope.yaml"], lambda m: "nope.yaml"),
    ("malformed-yaml", lambda m: ["tools/train.py", "--cfg", str(m["bad_yaml"])], lambda m: "bad.yaml"),
    ("missing-base", lambda m: ["tools/train.py", "--cfg", str(m["no_base"])], lambda m: "missing_base.yaml"),
    ("base-loop", lambda m: ["tools/test.py", "--cfg", str(m["loop_a"])], lambda m: "loops"),
    ("unknown-key", lambda m: _train(m, "TRAIN.LRR", "0.1"), lambda m: "TRAIN.LRR"),
    ("wrong-type", lambda m: _train(m, "TRAIN.END_EPOCH", "many"), lambda m: "TRAIN.END_EPOCH"),
    ("odd-overrides", lambda m: _train(m, "TRAIN.LR"), lambda m: "KEY VALUE"),
    ("missing-data-root", lambda m: _train(m, "--work-dir", m["base"] / "w0", "DATASET.ROOT", m["base"] / "no_data"),
     lambda m: "no_data"),
    ("batch-zero", lambda m: _train(m, "TRAIN.BATCH_SIZE_PER_GPU", "0"), lambda m: "TRAIN.BATCH_SIZE_PER_GPU"),
    ("heatmap-not-quarter", lambda m: _train(m, "MODEL.HEATMAP_SIZE", "[10,10]"), lambda m: "MODEL.HEATMAP_SIZE"),
    ("unknown-flag", lambda m: _train(m, "--bogus-flag"), lambda m: "--bogus-flag"),
    ("resume-and-overwrite", lambda m: _train(m, "--resume", "--overwrite"), lambda m: "--overwrite"),
    ("corrupt-jpeg", lambda m: _test(m, root="corrupt_jpeg_root"), lambda m: ".jpg"),
    ("zero-size-image", lambda m: _test(m, root="zero_size_root"), lambda m: ".jpg"),
    ("missing-image", lambda m: _test(m, root="missing_image_root"), lambda m: ".jpg"),
    ("truncated-annotations", lambda m: _test(m, root="truncated_json_root"), lambda m: "person_keypoints_val2017"),
    ("detections-wrong-shape", lambda m: _test(m, "TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE",
                                               m["bad_detections"]), lambda m: "detections.json"),
    ("test-without-weights", lambda m: ["tools/test.py", "--cfg", QUICKSTART] + m["opts"], lambda m: "no weights"),
    ("missing-weights", lambda m: _test(m, "--weights", m["base"] / "absent.pth"), lambda m: "absent.pth"),
    ("truncated-weights", lambda m: _test(m, "--weights", m["truncated_weights"]), lambda m: "truncated.pth"),
    ("non-torch-weights", lambda m: ["tools/test.py", "--cfg", QUICKSTART, "TEST.MODEL_FILE", str(m["not_torch"])]
     + m["opts"], lambda m: "not_torch.pth"),
    ("wrong-architecture-weights", lambda m: _test(m, "MODEL.NUM_JOINTS", "16"), lambda m: "model_best.pth"),
    ("init-from-missing", lambda m: _train(m, "--work-dir", m["base"] / "w1", "--init-from", m["base"] / "gone.pth"),
     lambda m: "gone.pth"),
    ("resume-missing-checkpoint", lambda m: _train(m, "--work-dir", m["base"] / "w2", "--resume",
                                                   m["base"] / "lost" / "checkpoint.pth"), lambda m: "lost"),
    ("resume-truncated-checkpoint", lambda m: _train(m, "--work-dir", m["truncated_checkpoint"].parent, "--resume",
                                                     m["truncated_checkpoint"]), lambda m: "truncated_ckpt"),
    ("resume-changed-lr", lambda m: _train(m, "--resume", "TRAIN.END_EPOCH", "2", "TRAIN.LR", "0.0001"),
     lambda m: "TRAIN.LR"),
    ("resume-finished-run", lambda m: _train(m, "--auto-resume"), lambda m: "already finished"),
    ("resume-without-checkpoint", lambda m: _train(m, "--work-dir", m["base"] / "w3", "--resume"),
     lambda m: "checkpoint.pth"),
    ("nan-loss", lambda m: _train(m, "--work-dir", m["base"] / "nan", "TRAIN.LR", "1e30"),
     lambda m: "non-finite loss"),
    ("demo-missing-path", lambda m: _demo(m, m["base"] / "nowhere.jpg"), lambda m: "nowhere.jpg"),
    ("demo-empty-folder", lambda m: _demo(m, m["empty_folder"]), lambda m: "empty"),
    ("demo-not-a-video", lambda m: _demo(m, m["fake_video"]), lambda m: "clip.mp4"),
    ("demo-text-file", lambda m: _demo(m, m["text"]), lambda m: "notes.txt"),
    ("demo-no-box-source", lambda m: ["tools/demo.py", "--cfg", QUICKSTART, "--weights", str(m["weights"]),
                                      "--input", str(m["text"])], lambda m: "--boxes-json"),
    ("onnx-unwritable-path", lambda m: ["tools/export_onnx.py", "--cfg", QUICKSTART, "--weights", str(m["weights"]),
                                        "--out", str(m["a_file"] / "model.onnx")] + m["opts"],
     lambda m: "model.onnx"),
    ("model-info-unknown-key", lambda m: ["tools/analysis/model_info.py", "--cfg", QUICKSTART, "--no-time",
                                          "MODEL.EXTRA.HEADS", "waspv1"], lambda m: "MODEL.EXTRA.HEADS"),
    ("benchmark-bad-value", lambda m: ["tools/analysis/benchmark.py", "--cfg", QUICKSTART, "LOSS.TYPE", "l1"],
     lambda m: "LOSS.TYPE"),
    ("run-script-missing-yaml", lambda m: ["bash", "run_train.sh", "experiments/absent.yaml"],
     lambda m: "absent.yaml"),
    ("run-test-script-missing-weights", lambda m: ["bash", "run_test.sh", QUICKSTART, "--weights",
                                                   str(m["base"] / "gone.pth")] + m["opts"], lambda m: "gone.pth"),
]


@pytest.mark.parametrize("command,culprit", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_error_line(made, command, culprit):
    assert_user_error(run_command(command(made)), culprit(made))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a visible GPU")
@pytest.mark.parametrize("tool", ["tools/train.py", "tools/test.py", "tools/demo.py", "tools/analysis/benchmark.py"])
def test_cuda_without_a_gpu(made, tool):
    extra = {"tools/test.py": ["--weights", str(made["weights"])],
             "tools/demo.py": ["--weights", str(made["weights"]), "--input", "x.jpg", "--whole-image"]}
    done = run_command([tool, "--cfg", QUICKSTART, "--device", "cuda"] + extra.get(tool, []) + made["opts"])
    assert_user_error(done, "cuda")


def test_second_run_into_a_finished_run_leaves_it_byte_identical(made):
    before = sha256_tree(made["run_dir"])
    done = run_command(_train(made, "TRAIN.LR", "0.0001"))
    assert_user_error(done, made["run_dir"])
    assert "--overwrite" in done.stderr and "--work-dir" in done.stderr
    assert sha256_tree(made["run_dir"]) == before


def test_overwrite_moves_the_old_run_aside(made):
    folder = made["base"] / "to_replace"
    shutil.copytree(made["run_dir"], folder)
    before = sha256_tree(folder)
    done = run_command(_train(made, "--work-dir", folder, "--overwrite", "TRAIN.END_EPOCH", "1"))
    assert done.returncode == 0, done.stderr[-3000:]
    aside = [p for p in folder.parent.iterdir() if p.name.startswith("to_replace.replaced-")]
    assert len(aside) == 1 and sha256_tree(aside[0]) == before
    assert (folder / "final_state.pth").is_file()


# Makes every torch.save of a training checkpoint fail as a full disk does, after writing part of it.
DISK_FULL = textwrap.dedent("""
    import errno, torch
    _save = torch.save
    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "optimizer" in obj:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return _save(obj, f, *args, **kwargs)
    torch.save = save
""")


def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_one(made, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(made["run_dir"], folder)
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(DISK_FULL)
    previous = (folder / "checkpoint.pth").read_bytes()
    done = run_command(_train(made, "--work-dir", folder, "--resume", "TRAIN.END_EPOCH", "2"),
                       env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "hook"), str(ROOT)])})
    assert_user_error(done, "checkpoint.pth")
    assert os.strerror(errno.ENOSPC) in done.stderr
    assert (folder / "checkpoint.pth").read_bytes() == previous
    state = torch.load(folder / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["epoch"] == 1
    assert not list(folder.glob(".checkpoint.pth.*")), "the partial temporary file must be removed"


def test_debug_flag_shows_the_traceback(made):
    done = run_command(_train(made, "TRAIN.LRR", "0.1", "--debug"))
    assert done.returncode == 2 and "Traceback" in done.stderr and "error: " in done.stderr


def test_flags_after_overrides(made):
    """The grammar: flags and KEY VALUE pairs in any order (this used to read --work-dir as a config key)."""
    done = run_command(["tools/test.py", "--cfg", QUICKSTART] + made["opts"]
                       + ["TEST.MODEL_FILE", str(made["weights"]), "--output-dir", str(made["base"] / "flags_last")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((made["base"] / "flags_last").glob("test_*.log"))
