"""Layering: the data pipeline, the models and the codec never import the training core (lib.core)."""
import subprocess
import sys


def test_data_models_and_codec_do_not_import_the_training_core():
    code = ("import sys, lib.codec, lib.dataset, lib.models; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('lib.core'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported from lib.core: {done.stdout.strip()}"
