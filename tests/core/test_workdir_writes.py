"""Run-file writes: metrics.jsonl is replaced whole (a failed write leaves the previous file), and a failed write of
any run file is reported as the user's to fix, naming the file."""
import errno
import json
import os

import pytest

from lib.core import workdir
from lib.utils.errors import UserError


def test_append_metrics_keeps_the_previous_file_when_the_write_fails(tmp_path, monkeypatch):
    workdir.append_metrics(tmp_path, {"epoch": 0, "loss": 1.0})
    before = (tmp_path / "metrics.jsonl").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(workdir.os, "replace", disk_full)
    path = str(tmp_path / "metrics.jsonl")
    with pytest.raises(UserError, match="metrics.jsonl: cannot write it") as info:
        with workdir.writing(path):
            workdir.append_metrics(tmp_path, {"epoch": 1, "loss": 0.5})
    assert "No space left" in str(info.value) and "--resume" in info.value.hint
    assert (tmp_path / "metrics.jsonl").read_bytes() == before


def test_append_metrics_adds_one_line_per_epoch(tmp_path):
    for epoch in range(3):
        workdir.append_metrics(tmp_path, {"epoch": epoch, "loss": float("nan") if epoch == 1 else 0.1 * epoch})
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2] and records[1]["loss"] is None
    assert not os.path.exists(tmp_path / "metrics.jsonl.tmp")
