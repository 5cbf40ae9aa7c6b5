"""The shared command-line grammar (lib/cli.py) and the run-folder decisions (lib/core/workdir.plan_start)."""
import pytest

from lib import cli
from lib.core import workdir
from lib.utils.errors import UserError


def parser():
    p = cli.ArgumentParser("test")
    cli.add_weights(p, "weights", aliases=("--init-from",), nargs="+")
    cli.add_work_dir(p, "folder", aliases=("--output-dir",))
    cli.add_device(p)
    p.add_argument("--resume", nargs="?", const="own", default="")
    p.add_argument("--every", type=int, default=1)
    return p


@pytest.mark.parametrize("argv,expected", [
    (["--cfg", "c.yaml", "TRAIN.LR", "0.1", "--output-dir", "d"], dict(work_dir="d", opts=["TRAIN.LR", "0.1"])),
    (["TRAIN.LR", "-1", "--cfg", "c.yaml", "--every", "3"], dict(every=3, opts=["TRAIN.LR", "-1"])),
    (["--cfg", "c.yaml", "--weights", "a.pth", "b.pth", "SEED", "2"], dict(weights=["a.pth", "b.pth"],
                                                                        opts=["SEED", "2"])),
    (["--cfg", "c.yaml", "--resume", "TRAIN.END_EPOCH", "9"], dict(resume="own", opts=["TRAIN.END_EPOCH", "9"])),
    (["--cfg", "c.yaml", "--resume", "run/checkpoint.pth"], dict(resume="run/checkpoint.pth", opts=[])),
    (["--cfg", "c.yaml", "--init-from", "w.pth", "--", "--odd", "value"], dict(weights=["w.pth"],
                                                                            opts=["--odd", "value"])),
], ids=["flag-after-override", "negative-value", "list-ends-at-key", "optional-value-absent",
        "optional-value-given", "double-dash"])
def test_flags_and_overrides_in_any_order(argv, expected):
    args = cli.parse(parser(), argv)
    assert {key: getattr(args, key) for key in expected} == expected


def test_usage_errors_are_one_error_line(capsys):
    with pytest.raises(SystemExit) as info:
        cli.parse(parser(), ["--cfg", "c.yaml", "--bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and "--bogus" in err[0] and err[1].startswith("hint: ")


def test_device_flag_is_the_device_override():
    args = cli.parse(parser(), ["--cfg", "c.yaml", "DEVICE", "cuda", "--device", "cpu"])
    assert (args.opts + cli.device_override(args))[-2:] == ["DEVICE", "cpu"]


def _run_folder(tmp_path, *names):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in names:
        (folder / name).write_text("x")
    return str(folder)


def test_new_run_in_an_empty_or_unfinished_folder(tmp_path):
    assert workdir.plan_start(str(tmp_path / "absent")).resume_from == ""
    folder = _run_folder(tmp_path, "config.yaml", "train_1.log")  # stopped before its first epoch ended
    assert workdir.plan_start(folder) == workdir.StartPlan(folder)


def test_a_folder_holding_a_run_is_refused_unless_asked(tmp_path):
    folder = _run_folder(tmp_path, "checkpoint.pth", "metrics.jsonl", "config.yaml")
    with pytest.raises(UserError, match="already holds a run") as info:
        workdir.plan_start(folder)
    assert "--resume" in info.value.hint and "--overwrite" in info.value.hint
    own = f"{folder}/checkpoint.pth"
    assert workdir.plan_start(folder, resume=workdir.RESUME_OWN).resume_from == own
    assert workdir.plan_start(folder, auto_resume=True).resume_from == own
    plan = workdir.plan_start(folder, overwrite=True)
    assert plan.resume_from == "" and plan.move_aside.startswith(folder + ".replaced-")


def test_resume_into_a_folder_of_another_run_is_refused(tmp_path):
    folder = _run_folder(tmp_path, "model_best.pth")
    with pytest.raises(UserError, match="mix two runs"):
        workdir.plan_start(folder, resume=str(tmp_path / "elsewhere" / "checkpoint.pth"))
    with pytest.raises(UserError, match="already holds a run") as info:
        workdir.plan_start(folder, auto_resume=True)  # weights but no checkpoint: nothing to continue, much to lose
    assert "no checkpoint.pth to continue" in info.value.hint


def test_overwrite_moves_the_folder_aside_whole(tmp_path):
    folder = _run_folder(tmp_path, "checkpoint.pth", "final_state.pth")
    plan = workdir.plan_start(folder, overwrite=True)
    workdir.carry_out(plan)
    assert sorted(p.name for p in (tmp_path / plan.move_aside.split("/")[-1]).iterdir()) == \
        ["checkpoint.pth", "final_state.pth"]
    assert list((tmp_path / "run").iterdir()) == []
