"""Multi-process training with real processes: torchrun (gloo, CPU) runs 2 ranks of both trainers on a tiny generator
and a tiny synthetic set. Shards, global batch, equivalence with one process accumulating gradients, identical
weights on every rank, validation on 2 ranks, writes by rank 0 only, elastic restart after a SIGKILL (bit-identical),
an error on one rank ending the job, two "nodes" meeting through c10d rendezvous, SYNC_BN, the LR scaling rule and
tools/dist_train.sh.

Each torchrun launch costs ~10 s on 2 cores; the launches are module fixtures that several tests read. A launch that
fails (torchrun missing included) fails its tests: nothing here is skipped.
"""
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DistributedSampler

from lib.config import load_cfg
from lib.dataset import build_dataset
from lib.dataset.synthetic import generate
from tests.helpers import narrow_model_opts

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = "experiments/synthetic/omnipose_quickstart.yaml"
LAUNCH = "tests/dist/launch.py"
EQUIVALENCE = "tests/dist/equivalence.py"
BATCH, WORLD, SEED = 4, 2, 5
LAUNCH_TIMEOUT_S = 300  # generous: a 3-epoch 2-rank run takes ~15 s on 2 idle cores
GLOBAL_BATCH_LINE = f"global batch {BATCH * WORLD} = {BATCH} per process (TRAIN.BATCH_SIZE_PER_GPU) x {WORLD} processes"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def start_job(command, extra_env=None):
    """A launcher in its own process group (a test that gives up on it can end its workers too), its output in
    temporary files (pipes read one job at a time could fill up and stall the other job)."""
    stdout, stderr = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    job = subprocess.Popen(command, cwd=ROOT, env=dict(env(), **(extra_env or {})), stdout=stdout, stderr=stderr,
                           text=True, start_new_session=True)
    job.outputs = (stdout, stderr)
    return job


def finish_jobs(jobs, timeout=LAUNCH_TIMEOUT_S):
    """Waits for every job (a hang raises subprocess.TimeoutExpired); kills the process groups of the unfinished."""
    try:
        for job in jobs:
            job.wait(timeout=timeout)
    finally:
        for job in jobs:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()
    results = []
    for job in jobs:
        texts = []
        for f in job.outputs:
            f.seek(0)
            texts.append(f.read())
            f.close()
        results.append(subprocess.CompletedProcess(job.args, job.returncode, *texts))
    return results


def run_job(command, extra_env=None, timeout=LAUNCH_TIMEOUT_S):
    return finish_jobs([start_job(command, extra_env)], timeout)[0]


def torchrun(args, timeout=LAUNCH_TIMEOUT_S):
    return run_job([sys.executable, "-m", "torch.distributed.run"] + args, timeout=timeout)


def dist_opts(root, out, epochs, **extra):
    """A W8 OmniPose at 64x48, batch 4 per rank, fp32 on the CPU (bit-for-bit comparisons), AUTO_RESUME on (what a
    restarted attempt needs; the first attempt finds nothing to resume)."""
    opts = {
        "DATASET.ROOT": root, "OUTPUT_DIR": out, "WORKERS": 0, "PRINT_FREQ": 1, "DEVICE": "cpu", "AMP": False,
        "CHANNELS_LAST": False, "AUTO_RESUME": True, "SEED": SEED, "DIST_TIMEOUT_S": 120.0,
        "MODEL.IMAGE_SIZE": "[48,64]", "MODEL.HEATMAP_SIZE": "[12,16]", "MODEL.SIGMA": 1.0,
        "TRAIN.END_EPOCH": epochs, "TRAIN.BATCH_SIZE_PER_GPU": BATCH, "TRAIN.LR_STEP": "[1]",
        "TRAIN.WARMUP_ITERS": 2, "TRAIN.VAL_INTERVAL": 1, "TEST.BATCH_SIZE_PER_GPU": 4, "TEST.BLUR_KERNEL": 3,
        "LOG.NUM_IMAGES": 0, "GAN.POSE_WIDTHS": "[8,16,16,16,16]", "GAN.POSE_DEC_WIDTHS": "[16,16,8]",
        "GAN.CONF_WIDTHS": "[8,8,8,8,8]", "GAN.CONF_DEC_WIDTHS": "[8,8,8]",
    }
    opts.update(extra)
    return [str(x) for kv in opts.items() for x in kv] + narrow_model_opts()


def run_folder(out):
    """Where both trainers put the run: OUTPUT_DIR is set, so the adversarial trainer's default folder is unused."""
    return Path(out) / "coco" / "omnipose" / "omnipose_quickstart"


def probe_events(probe_dir, rank):
    path = Path(probe_dir) / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def failure(done):
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-6000:]}"


# ---------------------------------------------------------------------------------------------------------------
# fixtures: the data and the launches
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """20 train images (46 persons) and 7 val images whose person count is made odd, so that the 2-rank
    DistributedSampler pads validation with a repeat."""
    root = tmp_path_factory.mktemp("dist_synthetic")
    generate(str(root), n_train=20, n_val=7, seed=3)
    ann_path = root / "annotations" / "person_keypoints_val2017.json"
    ann = json.loads(ann_path.read_text())
    persons = [a for a in ann["annotations"] if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0)]
    if len(persons) % 2 == 0:
        ann["annotations"].remove(persons[-1])
        ann_path.write_text(json.dumps(ann))
    return root


def launch_training(data, tmp_path_factory, tool, name, epochs, extra=(), launcher=("--standalone",), **kill):
    """torchrun 2 ranks of tests/dist/launch.py (the tool with probes). Returns (completed process, output folder,
    probe folder)."""
    base = tmp_path_factory.mktemp(name)
    out, probe = base / "out", base / "probe"
    kill_args = [f"--{k.replace('_', '-')}={v}" for k, v in kill.items()]
    args = list(launcher) + ["--nproc_per_node", str(WORLD)] + [LAUNCH, "--probe-dir", str(probe)] + kill_args + [
        tool, "--cfg", QUICKSTART] + dist_opts(data, out, epochs) + list(extra)
    return torchrun(args), out, probe


ADVERSARIAL = ["GAN.WARMUP_EPOCHS", "1", "TRAIN.AUTO_SCALE_LR", "True", "TRAIN.BASE_BATCH_SIZE", "4"]


PURE = ["TRAIN.EMA_DECAY", "0.9"]  # the EMA's average and buffers must survive the restart and the buffer sync too


@pytest.fixture(scope="module")
def pure_run(data, tmp_path_factory):
    return launch_training(data, tmp_path_factory, "train", "pure", 3, PURE)


@pytest.fixture(scope="module")
def pure_killed_run(data, tmp_path_factory):
    return launch_training(data, tmp_path_factory, "train", "pure_killed", 3, PURE,
                           launcher=("--standalone", "--max-restarts", "1"), kill_rank=1, kill_epoch=1, kill_after=2)


@pytest.fixture(scope="module")
def adversarial_run(data, tmp_path_factory):
    return launch_training(data, tmp_path_factory, "train_AN", "adversarial", 3, ADVERSARIAL)


@pytest.fixture(scope="module")
def adversarial_killed_run(data, tmp_path_factory):
    return launch_training(data, tmp_path_factory, "train_AN", "adversarial_killed", 3, ADVERSARIAL,
                           launcher=("--standalone", "--max-restarts", "1"), kill_rank=1, kill_epoch=2, kill_after=3)


RUNS = {"pure": "pure_run", "adversarial": "adversarial_run"}


@pytest.fixture(params=sorted(RUNS))
def any_run(request):
    return request.param, request.getfixturevalue(RUNS[request.param])


# ---------------------------------------------------------------------------------------------------------------
# shards, global batch, writes by rank 0
# ---------------------------------------------------------------------------------------------------------------

def test_shards_are_disjoint_and_cover_the_epoch(any_run):
    _, (done, out, probe) = any_run
    assert done.returncode == 0, failure(done)
    batches = {rank: [e for e in probe_events(probe, rank) if e["event"] == "batch"] for rank in range(WORLD)}
    size = batches[0][0]["dataset_size"]
    for epoch in range(3):
        shards = {rank: [i for e in batches[rank] if e["epoch"] == epoch for i in e["indices"]] for rank in batches}
        assert all(len(s) > 0 and len(s) % BATCH == 0 for s in shards.values()), shards
        assert not set(shards[0]) & set(shards[1]), f"epoch {epoch}: a sample went to both ranks"
        union = set(shards[0]) | set(shards[1])
        assert len(union) == sum(len(s) for s in shards.values())
        # the epoch minus fewer than one global batch (drop_last), and exactly what one process would draw first
        assert size - WORLD * BATCH < len(union) <= size
        one_process = DistributedSampler(range(size), num_replicas=1, rank=0, shuffle=True, seed=SEED)
        one_process.set_epoch(epoch)
        assert union == set(list(one_process)[:len(union)])


def test_the_log_states_the_global_batch(any_run):
    _, (done, out, probe) = any_run
    assert done.returncode == 0, failure(done)
    logs = list(run_folder(out).glob("train*.log"))
    assert len(logs) == 1, logs  # rank 0 alone keeps a log file
    assert GLOBAL_BATCH_LINE in logs[0].read_text()


def test_checkpoint_and_metrics_are_written_once_by_rank_0(any_run):
    trainer, (done, out, probe) = any_run
    assert done.returncode == 0, failure(done)
    folder = run_folder(out)
    assert not [e for e in probe_events(probe, 1) if e["event"] == "write"], "rank 1 wrote run files"
    writes = [e for e in probe_events(probe, 0) if e["event"] == "write"]
    checkpoints = [e for e in writes if e["path"] == str(folder / "checkpoint.pth")]
    metrics = [e for e in writes if e["function"] == "append_metrics"]
    assert len(checkpoints) == 3 and len(metrics) == 3, writes  # one per epoch
    assert [e["path"] for e in writes if e["path"].endswith("final_state.pth")] == [str(folder / "final_state.pth")]
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    # atomic writes leave no temporary file behind, and every file loads
    assert not [p for p in folder.rglob("*") if "tmp" in p.name], list(folder.rglob("*"))
    state = torch.load(folder / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["epoch"] == 3 and state["trainer"] == trainer


# ---------------------------------------------------------------------------------------------------------------
# two ranks compute what one process would; every rank holds the same weights
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def equivalence(data, tmp_path_factory):
    base = tmp_path_factory.mktemp("equivalence")
    out = base / "result.json"
    done = torchrun(["--standalone", "--nproc_per_node", str(WORLD), EQUIVALENCE, "--out", str(out), "--steps", "3",
                     "--cfg", QUICKSTART] + dist_opts(data, base, 1) + [
        "TRAIN.OPTIMIZER", "sgd", "TRAIN.LR", "0.01", "TRAIN.WARMUP_ITERS", "0", "TRAIN.LR_SCHEDULE", "step"])
    assert done.returncode == 0, failure(done)
    return json.loads(out.read_text())


def test_two_ranks_equal_one_process_accumulating_both_batches(equivalence):
    """3 SGD steps, per-rank batch 4, BatchNorm per rank in both. DDP averages the ranks' gradients, (g0 + g1) / 2;
    the reference sums the halved losses' gradients, g0 / 2 + g1 / 2: halving is exact in binary floating point and
    both run the same single-threaded kernels on the same shapes, so on the CPU the weights should agree to the bit
    (observed: 0.0). The tolerance, a millionth of how far 3 steps moved the weights, still admits a last-bit
    difference in a reduction while failing any real discrepancy (a missing average is a 50% error).
    Running statistics: DDP broadcasts rank 0's buffers at every forward, so rank 0's follow rank 0's batches only;
    the reference's do the same (it restores them after rank 1's batch)."""
    r = equivalence
    assert r["world_size_seen"] == WORLD and r["steps"] == 3 and r["batches_differ"] and r["reference_keys_match"]
    assert r["max_param_change"] > 1e-4  # the steps did move the weights
    assert r["max_param_diff"] <= 1e-6 * r["max_param_change"], r
    assert r["max_buffer_diff"] <= 1e-6, r


def _same(a, b):
    """Equal, both NaN, or floats within a relative 1e-6: the two runs batch the val persons differently (4+2 per
    rank vs 4+4+3), and a CPU may pick other kernels for another batch size; here they agree to the bit."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def test_validate_on_two_ranks_equals_one_rank(equivalence):
    r = equivalence
    assert r["val_persons"] % 2 == 1  # the DistributedSampler pads one repeat, which validate() must drop
    two, one = r["validate_two_ranks"], r["validate_one_rank"]
    assert sorted(two) == sorted(one) and "AP" in one and "heatmap_mse" in one
    assert all(_same(two[k], one[k]) for k in one), {k: (two[k], one[k]) for k in one if not _same(two[k], one[k])}
    # rank 1's running statistics differed from rank 0's after training: the sync before validation is needed
    assert r["rank1_buffers_differed_before_sync"]


def _weights(probe, rank, epoch, when, attempt=0):
    return torch.load(Path(probe) / f"weights_rank{rank}_attempt{attempt}_epoch{epoch}_{when}.pt", weights_only=True)


def test_every_rank_holds_identical_generator_and_discriminator_weights(adversarial_run):
    done, out, probe = adversarial_run
    assert done.returncode == 0, failure(done)
    first = _weights(probe, 0, 0, "start")
    for epoch in range(3):  # epoch 0: discriminator warm-up; epochs 1-2: adversarial
        ends = [_weights(probe, rank, epoch, "end") for rank in range(WORLD)]
        assert sorted(ends[0]) == ["conf_disc", "generator", "pose_disc"]
        for name, state in ends[0].items():
            for key, value in state.items():
                # parameters and the discriminators' buffers (spectral norm) agree to the bit; the generator's
                # BatchNorm statistics differ after rank 1's last forward until the epoch-end sync
                if name != "generator" or "running" not in key and "num_batches" not in key:
                    assert torch.equal(value, ends[1][name][key]), (epoch, name, key)
        if epoch > 0:  # after the epoch-end sync, every buffer agrees too
            starts = [_weights(probe, rank, epoch, "start") for rank in range(WORLD)]
            assert all(torch.equal(v, starts[1][n][k]) for n, s in starts[0].items() for k, v in s.items())
    last = _weights(probe, 0, 2, "end")
    for name in ("generator", "pose_disc", "conf_disc"):
        assert any(not torch.equal(v, last[name][k]) for k, v in first[name].items()), f"{name} never changed"


# ---------------------------------------------------------------------------------------------------------------
# elastic restart after SIGKILL, and resume, bit-identical
# ---------------------------------------------------------------------------------------------------------------

def _assert_same_tensors(a, b, where):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert sorted(a, key=str) == sorted(b, key=str), where
        for key in a:
            _assert_same_tensors(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("trainer", ["pure", "adversarial"])
def test_elastic_restart_after_sigkill_ends_bit_identical(trainer, request):
    """torchrun --standalone --max-restarts 1, AUTO_RESUME True: rank 1 SIGKILLs itself in the middle of an epoch;
    torchrun stops rank 0, restarts both, they resume from checkpoint.pth and finish with the weights, optimizer
    states and metrics of the uninterrupted 2-rank run, to the bit."""
    full_done, full_out, _ = request.getfixturevalue(RUNS[trainer])
    done, out, probe = request.getfixturevalue(RUNS[trainer].replace("_run", "_killed_run"))
    assert full_done.returncode == 0, failure(full_done)
    assert done.returncode == 0, failure(done)
    rank1 = probe_events(probe, 1)
    assert [e["attempt"] for e in rank1 if e["event"] == "sigkill"] == [0]
    assert {e["attempt"] for e in probe_events(probe, 0) + rank1 if e["event"] == "done"} == {1}
    full_folder, folder = run_folder(full_out), run_folder(out)
    a = torch.load(full_folder / "checkpoint.pth", map_location="cpu", weights_only=True)
    b = torch.load(folder / "checkpoint.pth", map_location="cpu", weights_only=True)
    for key in ("epoch", "state_dict", "optimizer", "scheduler", "best_perf", "best_epoch", "ema", "pose_disc",
                "conf_disc", "d_optimizer"):
        _assert_same_tensors(a.get(key), b.get(key), key)
    _assert_same_tensors(torch.load(full_folder / "final_state.pth", weights_only=True),
                         torch.load(folder / "final_state.pth", weights_only=True), "final_state")
    stats = ("loss", "lr", "AP", "heatmap_mse", "iterations")
    full_records = [json.loads(line) for line in (full_folder / "metrics.jsonl").read_text().splitlines()]
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [[r.get(k) for k in stats] for r in records] == [[r.get(k) for k in stats] for r in full_records]


# ---------------------------------------------------------------------------------------------------------------
# no silent hang: an error on one rank ends the job
# ---------------------------------------------------------------------------------------------------------------

def test_an_error_on_one_rank_ends_every_rank_promptly(data, tmp_path):
    """An image only rank 1 reads in epoch 0 is corrupt. Rank 1 raises; its sockets close, so rank 0 fails at its
    next collective instead of waiting (DIST_TIMEOUT_S bounds the wait of a peer that hangs without dying), and
    torchrun reports rank 1's failure: its `error:` line naming the image, exit status 2. The job (tools/dist_train.sh) must end inside the test's limit (a hang would
    raise subprocess.TimeoutExpired), with a non-zero status."""
    root = tmp_path / "data"
    shutil.copytree(data, root)
    cfg = load_cfg(QUICKSTART, dist_opts(root, tmp_path / "out", 1))
    db = build_dataset(cfg, is_train=True).db
    shard = {}
    for rank in range(WORLD):
        sampler = DistributedSampler(range(len(db)), num_replicas=WORLD, rank=rank, shuffle=True, seed=SEED,
                                     drop_last=True)
        sampler.set_epoch(0)
        shard[rank] = list(sampler)
    rank0_images = {db[i]["image"] for i in shard[0]}
    only_rank1 = [db[i]["image"] for i in shard[1][:BATCH] if db[i]["image"] not in rank0_images]
    assert only_rank1, "no image of rank 1's first batch is rank 1's alone: change the seed"
    Path(only_rank1[0]).write_bytes(b"not an image")

    # launched as users do (restarts off: this error would recur on every attempt); the collectives' timeout is
    # beyond the test's limit, so the job can only end in time through the error itself
    command = ["bash", "tools/dist_train.sh", QUICKSTART, str(WORLD)] + dist_opts(root, tmp_path / "out", 1,
                                                                                  DIST_TIMEOUT_S=1800.0)
    done = run_job(command, {"MAX_RESTARTS": "0"})
    assert done.returncode != 0
    output = done.stdout + done.stderr
    # rank 1 reports the user's error as every tool does (lib/utils/errors.py): one line naming the file, status 2
    assert f"error: {only_rank1[0]}: not a decodable image" in output, failure(done)
    # torchrun's summary: rank 1 is the root cause, and rank 0 ended too (stopped by torchrun, or by its own error)
    failures, root_cause = output.split("Root Cause (first observed failure):")
    assert "rank      : 1 (local_rank: 1)" in root_cause and "exitcode  : 2" in root_cause, failure(done)
    assert "rank      : 0 (local_rank: 0)" in failures.rsplit("Failures:", 1)[1], failure(done)


def test_a_rank_that_stalls_is_ended_by_the_process_group_timeout(data, tmp_path):
    """Rank 1 stops answering without dying (it sleeps for an hour between two steps). With DIST_TIMEOUT_S 10, rank
    0's pending all-reduce fails after 10 s, and torchrun then stops rank 1: the job ends, non-zero, long before the
    hour (the test's own limit is 300 s; torch's default gloo timeout would have waited 30 minutes)."""
    args = ["--standalone", "--nproc_per_node", str(WORLD), LAUNCH, "--probe-dir", str(tmp_path / "probe"),
            "--kill-rank", "1", "--kill-epoch", "0", "--kill-after", "1", "--stall", "train", "--cfg", QUICKSTART]
    done = torchrun(args + dist_opts(data, tmp_path / "out", 1, DIST_TIMEOUT_S=10.0))
    assert done.returncode != 0
    assert [e["event"] for e in probe_events(tmp_path / "probe", 1) if e["event"] == "stall"] == ["stall"]
    output = done.stdout + done.stderr
    assert "[rank0]: RuntimeError:" in output and "Timed out waiting 10000ms" in output, failure(done)
    failures, root_cause = output.split("Root Cause (first observed failure):")
    assert "rank      : 0 (local_rank: 0)" in root_cause, failure(done)
    assert "rank      : 1 (local_rank: 1)" in failures.rsplit("Failures:", 1)[1], failure(done)


# ---------------------------------------------------------------------------------------------------------------
# two "nodes" on one machine (c10d rendezvous)
# ---------------------------------------------------------------------------------------------------------------

def test_two_nodes_train_validate_save_once_and_survive_a_restart(data, tmp_path, pure_run):
    """--nnodes 2 --node-rank 0|1 --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:PORT, one process each, launched as
    docs/distributed.md says for several nodes (TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1, --max-restarts): rank 1 is
    SIGKILLed in epoch 1; both agents restart, resume and end successfully; the run folder holds one run, validated
    every epoch, written by rank 0 alone, with the weights of the one-node 2-process run, to the bit."""
    port = free_port()
    probe, out = tmp_path / "probe", tmp_path / "out"
    agents = []
    for node in range(2):
        args = ["--nnodes", "2", "--node-rank", str(node), "--nproc_per_node", "1", "--max-restarts", "1",
                "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "two-nodes",
                LAUNCH, "--probe-dir", str(probe), "--kill-rank", "1", "--kill-epoch", "1", "--kill-after", "2",
                "train", "--cfg", QUICKSTART] + dist_opts(data, out, 3)
        agents.append(start_job([sys.executable, "-m", "torch.distributed.run"] + args,
                                {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}))
    results = finish_jobs(agents)
    for done in results:
        assert done.returncode == 0, failure(done)
    assert [e["epoch"] for e in probe_events(probe, 1) if e["event"] == "sigkill"] == [1]
    assert [e["event"] for e in probe_events(probe, 0) + probe_events(probe, 1)].count("start") == 4  # restarted
    folder = run_folder(out)
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2] and all("AP" in r for r in records)
    assert (folder / "final_state.pth").is_file() and (folder / "model_best.pth").is_file()
    assert GLOBAL_BATCH_LINE in next(folder.glob("train*.log")).read_text()
    assert not [e for e in probe_events(probe, 1) if e["event"] == "write"]
    assert [e for e in probe_events(probe, 0) if e["event"] == "write"]
    one_node = torch.load(run_folder(pure_run[1]) / "checkpoint.pth", weights_only=True)
    two_nodes = torch.load(folder / "checkpoint.pth", weights_only=True)
    _assert_same_tensors(one_node["state_dict"], two_nodes["state_dict"], "state_dict")


# ---------------------------------------------------------------------------------------------------------------
# LR scaling rule, SYNC_BN, tools/dist_train.sh
# ---------------------------------------------------------------------------------------------------------------

def test_auto_scale_lr_scales_both_lrs_by_the_global_batch(adversarial_run):
    """TRAIN.AUTO_SCALE_LR True, BASE_BATCH_SIZE 4, 2 ranks of 4: both optimizers start at twice their LR."""
    done, out, _ = adversarial_run
    assert done.returncode == 0, failure(done)
    folder = run_folder(out)
    state = torch.load(folder / "checkpoint.pth", map_location="cpu", weights_only=True)
    cfg = load_cfg(QUICKSTART, [])
    assert state["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(2 * cfg.TRAIN.LR, rel=1e-12)
    assert state["d_optimizer"]["param_groups"][0]["lr"] == pytest.approx(2 * cfg.GAN.D_LR, rel=1e-12)
    log = next(folder.glob("train*.log")).read_text()
    assert f"TRAIN.BASE_BATCH_SIZE 4, TRAIN.LR {cfg.TRAIN.LR:g} -> {2 * cfg.TRAIN.LR:g}" in log


def test_dist_train_sh_launches_either_trainer_standalone_with_restarts(tmp_path):
    for trainer, tool in (("pure", "tools/train.py"), ("adversarial", "tools/train_AN.py")):
        done = run_job(["bash", "tools/dist_train.sh", QUICKSTART, "2", "TRAIN.END_EPOCH", "1"],
                       {"DRY_RUN": "1", "TRAINER": trainer}, timeout=60)
        assert done.returncode == 0, failure(done)
        command = done.stderr.split("[dist_train] ", 1)[1].split()
        assert command[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                               "--max-restarts", "3", tool, "--cfg", QUICKSTART, "AUTO_RESUME", "True",
                               "TRAIN.END_EPOCH", "1"]
    for bad_env, args, expected in (({"TRAINER": "gan"}, [QUICKSTART, "2"], "error: TRAINER=gan"),
                                    ({}, [QUICKSTART, "two"], "error: NPROC=two"),
                                    ({}, [str(tmp_path / "missing.yaml"), "2"], "error: CONFIG")):
        done = run_job(["bash", "tools/dist_train.sh"] + args, bad_env, timeout=60)
        assert done.returncode == 2 and expected in done.stderr, failure(done)

