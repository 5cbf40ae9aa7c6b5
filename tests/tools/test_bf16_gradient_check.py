"""tools/dev/bf16_gradient_check.py: compares whole-model bf16 gradients with fp32's and flags non-finite ones."""
import pytest
import torch
from conftest import QUICKSTART, tiny_opts

from lib.utils import amp as precision
from tools.dev import bf16_gradient_check as check

needs_bf16 = pytest.mark.skipif(not precision.cpu_has_native_bf16(),
                                reason="CPU bf16 autocast is only used where the CPU has AVX512-BF16 or AMX")


@needs_bf16
def test_reports_every_variant_and_passes_on_a_working_model(tiny_synthetic, tmp_path, capsys):
    argv = ["--cfg", QUICKSTART, "--batches", "1", "--top", "3"] + tiny_opts(tiny_synthetic, tmp_path)
    assert check.main(argv) == 0
    out = capsys.readouterr().out
    assert all(name in out for name, _, _ in check.VARIANTS) and "median relative error" in out
    # bf16 is not fp32: an error of exactly 0 everywhere would mean the autocast never ran
    assert "bf16 without oneDNN (baseline) 0," not in out


def test_a_non_finite_gradient_fails_the_check(tiny_synthetic, tmp_path, monkeypatch, capsys):
    real = check.gradients

    def broken(model, criterion, batch, amp, channels_last, onednn):
        grads = real(model, criterion, batch, False, channels_last, onednn)  # fp32: runs on any CPU
        if amp and channels_last and onednn:
            name = next(iter(grads))
            grads[name] = torch.full_like(grads[name], float("nan"))
        return grads

    monkeypatch.setattr(check, "gradients", broken)
    argv = ["--cfg", QUICKSTART, "--batches", "1"] + tiny_opts(tiny_synthetic, tmp_path)
    assert check.main(argv) == 1
    assert "NON-FINITE" in capsys.readouterr().out


def test_too_few_samples_is_a_clear_error(tiny_synthetic, tmp_path):
    argv = ["--cfg", QUICKSTART, "--batches", "1000"] + tiny_opts(tiny_synthetic, tmp_path)
    with pytest.raises(ValueError, match=r"training samples, need 4000"):
        check.main(argv)
