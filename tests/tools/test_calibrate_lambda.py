"""tools/studies/calibrate_lambda.py: a tiny in-process calibration (2 iterations per multiplier, paired by seed), the
table and json it writes, the choice of a multiplier from made-up measurements, and its errors."""
import json
import math
import statistics

import pytest
from conftest import QUICKSTART, tiny_opts

from lib.config import load_cfg
from tools.studies import calibrate_lambda


def test_tiny_calibration_is_paired_and_reported(tiny_synthetic, tmp_path, capsys):
    opts = tiny_opts(tiny_synthetic, tmp_path / "unused")
    out_json = tmp_path / "calibration.json"
    results, choice, advice = calibrate_lambda.main(["--cfg", QUICKSTART, "--scales", "0.5", "1", "2", "--iters", "2",
                                                     "--json", str(out_json)] + opts)
    gan = load_cfg(QUICKSTART, opts).GAN
    assert [r["scale"] for r in results] == [0.5, 1.0, 2.0]
    for r in results:
        assert r["lambda_p"] == pytest.approx(r["scale"] * gan.LAMBDA_P)
        assert r["lambda_c"] == pytest.approx(r["scale"] * gan.LAMBDA_C)
        assert len(r["ratios"]) == 2 and all(v > 0 for v in r["ratios"])  # every iteration measured
        assert r["median"] == pytest.approx(statistics.median(r["ratios"]))
        assert r["mean"] == pytest.approx(sum(r["ratios"]) / 2)
        assert r["last_quarter_mean"] == r["ratios"][-1]  # a quarter of 2 values: the last one
    # Same seed, same weights, same first batch, and D's first update does not depend on lambda: the first ratios
    # differ by exactly the multiplier (powers of two: exact under bf16 autocast too, which rounds 3x to ~0.4 %).
    first = {r["scale"]: r["ratios"][0] for r in results}
    assert first[0.5] / first[1.0] == pytest.approx(0.5, rel=1e-4)
    assert first[2.0] / first[1.0] == pytest.approx(2.0, rel=1e-4)

    printed = capsys.readouterr().out
    head = printed.splitlines()[0]
    assert head.startswith("| multiplier | GAN.LAMBDA_P | GAN.LAMBDA_C | measured | grad_ratio median")
    row = next(line for line in printed.splitlines() if line.startswith("| 2 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["2", f"{2 * gan.LAMBDA_P:.4g}", f"{2 * gan.LAMBDA_C:.4g}", "2", f"{results[2]['median']:.3g}"]
    assert f"2 adversarial iterations after 0 discriminator-only ones; band 0.05-0.2, chosen by the median: " \
        f"{advice}" in printed
    saved = json.loads(out_json.read_text())
    assert saved["results"][1]["ratios"] == results[1]["ratios"] and saved["advice"] == advice
    assert saved["choice"] == (None if choice is None else choice["scale"]) and saved["band"] == [0.05, 0.2]


def test_discriminator_warmup_keeps_the_pairing(tiny_synthetic, tmp_path):
    """Warm-up iterations train D only, whatever lambda: the first measured ratios still scale with the multiplier,
    and they differ from those of an untrained D."""
    opts = tiny_opts(tiny_synthetic, tmp_path / "unused")
    cold, _, _ = calibrate_lambda.main(["--cfg", QUICKSTART, "--scales", "1", "--iters", "1"] + opts)
    warm, _, _ = calibrate_lambda.main(["--cfg", QUICKSTART, "--scales", "1", "2", "--iters", "1", "--d-warmup-iters",
                                        "2"] + opts)
    assert [len(r["ratios"]) for r in warm] == [1, 1]
    assert warm[1]["ratios"][0] / warm[0]["ratios"][0] == pytest.approx(2.0, rel=1e-4)
    assert warm[0]["ratios"][0] != pytest.approx(cold[0]["ratios"][0], rel=1e-3)


def _result(scale, ratio):
    return {"scale": scale, "lambda_p": 0.01 * scale, "lambda_c": 0.008 * scale, "median": ratio, "mean": ratio,
            "last_quarter_mean": ratio}


def test_choice_in_band_is_nearest_the_centre():
    # 0.06 and 0.18 are both in 0.05-0.2; on a log scale 0.06 is 1.67x from the centre 0.1, 0.18 is 1.8x
    choice, advice = calibrate_lambda.recommend([_result(0.3, 0.03), _result(1, 0.06), _result(3, 0.18)])
    assert choice["scale"] == 1 and advice.startswith("multiplier 1 (GAN.LAMBDA_P 0.01, GAN.LAMBDA_C 0.008)")
    choice, _ = calibrate_lambda.recommend([_result(1, 0.06), _result(3, 0.15)])
    assert choice["scale"] == 3  # 1.5x from the centre beats 1.67x


def test_no_choice_says_which_way():
    choice, advice = calibrate_lambda.recommend([_result(0.5, 0.4), _result(1, 0.8), _result(2, 1.6)])
    assert choice is None and "every median grad_ratio is above the band; go lower" in advice
    assert f"about multiplier {0.5 * math.sqrt(0.01) / 0.4:.3g}" in advice  # 0.125: from the nearest, linearly
    choice, advice = calibrate_lambda.recommend([_result(0.5, 0.001), _result(1, 0.002), _result(2, 0.004)])
    assert choice is None and "below the band; go higher: about multiplier 50" in advice
    # bracketed: 0.02 at x1, 0.5 at x3: log-interpolated to the centre 0.1
    choice, advice = calibrate_lambda.recommend([_result(1, 0.02), _result(3, 0.5)])
    expected = math.exp(math.log(3) * math.log(0.1 / 0.02) / math.log(0.5 / 0.02))
    assert choice is None and f"between multipliers 1 (median 0.02) and 3 (0.5); try about {expected:.3g}" in advice
    choice, advice = calibrate_lambda.recommend([_result(1, 0.0)])
    assert choice is None and "no multiplier gave a positive grad_ratio" in advice


def test_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"GAN.LAMBDA_P=0.0 and GAN.LAMBDA_C=0.0"):
        calibrate_lambda.main(["--cfg", QUICKSTART, "GAN.LAMBDA_P", "0.0", "GAN.LAMBDA_C", "0.0"])
    for bad in (["--iters", "0"], ["--scales", "1", "-2"]):
        with pytest.raises(SystemExit):
            calibrate_lambda.main(["--cfg", QUICKSTART] + bad)
        assert "must be" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no grad_ratio was measured"):
        calibrate_lambda.summarize([])
