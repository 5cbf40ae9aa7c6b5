r"""Which layer crashes (or computes wrong gradients) under bf16 autocast + channels_last on this CPU.

Every distinct layer of the configured generator (convolutions, depthwise and atrous convolutions, transposed
convolutions, the fixed Gaussian filters, BatchNorm, pooling), with the input shape and dtype it sees in the real
model, runs forward + backward in a child process, one after another; a crash kills only the child, is recorded
with the op, shape and dtype, and the child restarts after it. A crashing layer is then rerun in bf16 with contiguous
tensors and in fp32 with channels_last, to tell which of the two causes it. Gradients are compared with fp32 on
contiguous tensors (a silently wrong kernel shows as a large error). Last, the whole training step of the model
(lib.core.precision_guard's probe, what the trainers' guard runs) in each precision.

    python tools/dev/probe_precision.py --cfg experiments/coco/omnipose_w48_256x192.yaml
    python tools/dev/probe_precision.py --cfg experiments/coco/omnipose_w48_256x192.yaml --batch 4 --json probe.json
    python tools/dev/probe_precision.py --cfg experiments/synthetic/omnipose_quickstart.yaml --all-variants

Prints a markdown table and a summary; exits 1 when any layer or training step crashed, failed or disagreed with
fp32 under bf16 + channels_last.
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from lib.core import precision_guard as precision  # noqa: E402
from lib.utils import checkpoint  # noqa: E402
from lib.utils.environment import cpu_info  # noqa: E402

# (autocast bf16, channels_last): the suspect combination first, then the two that tell its halves apart.
SUSPECT = (True, True)
ALTERNATIVES = ((True, False), (False, True))
LAYER_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d, nn.Upsample)
# Largest relative gradient error accepted: bf16 rounds inputs and weights to 8 mantissa bits (about 0.4 %).
TOLERANCE = {True: 0.05, False: 1e-3}


def layer_kind(module):
    from lib.models.hrnet_common import GaussianFilter

    if isinstance(module, GaussianFilter):
        return "gaussian filter (depthwise, fixed)"
    if isinstance(module, nn.ConvTranspose2d):
        return "transposed conv"
    if isinstance(module, nn.Conv2d):
        kinds = []
        if module.groups > 1 and module.groups == module.in_channels:
            kinds.append("depthwise")
        if max(module.dilation) > 1:
            kinds.append(f"atrous d={module.dilation[0]}")
        return " ".join(kinds + ["conv"])
    return type(module).__name__


# ----------------------------------------------------------------------------------------------------------------
# Child side
# ----------------------------------------------------------------------------------------------------------------
def _load_child_cfg(path):
    from yacs.config import CfgNode

    with open(path) as f:
        return CfgNode.load_cfg(f)


def _build(cfg):
    from lib.models import build_generator

    torch.manual_seed(0)
    return build_generator(cfg)


def child_record(cfg_file, out_file, modules_file, progress_file, batch, amp, channels_last):
    """One forward of the model; writes the distinct (layer type, settings, input shape, dtype) cases, and one copy
    of each case's layer (fp32, contiguous, its real initial weights) for the run children."""
    cfg = _load_child_cfg(cfg_file)
    model = _build(cfg)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    cases, index, layers = [], {}, {}
    progress = open(progress_file, "a", buffering=1)

    def pre_hook(name):
        def hook(module, args):
            progress.write(f"forward {name}\n")  # the last line names the layer if the forward itself crashes
            progress.flush()
        return hook

    def hook(name):
        def record(module, args, output):
            x = args[0]
            key = (type(module).__name__, module.extra_repr(), tuple(x.shape), str(x.dtype))
            if key in index:
                cases[index[key]]["count"] += 1
                return
            index[key] = len(cases)
            layers[len(cases)] = module
            cases.append({"module": name, "count": 1, "kind": layer_kind(module),
                          "op": f"{type(module).__name__}({module.extra_repr()})", "input": list(x.shape),
                          "dtype": str(x.dtype).replace("torch.", "")})
        return record

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, LAYER_TYPES):
            handles += [module.register_forward_pre_hook(pre_hook(name)), module.register_forward_hook(hook(name))]
    width, height = cfg.MODEL.IMAGE_SIZE
    images = torch.randn(batch, 3, height, width)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        model(images)
    for handle in handles:
        handle.remove()
    layers = {i: copy.deepcopy(m).float().to(memory_format=torch.contiguous_format) for i, m in layers.items()}
    torch.save(layers, modules_file)
    with open(out_file, "w") as f:
        json.dump(cases, f)


def _relative_error(value, reference):
    return float((value.float() - reference).norm() / reference.norm().clamp_min(1e-12))


def run_case(module, case, amp, channels_last, steps):
    """Forward + backward of one layer `steps` times (grads reset between, as in training); returns the largest
    relative error of the input and parameter gradients against fp32 on contiguous tensors."""
    reference = copy.deepcopy(module).float().to(memory_format=torch.contiguous_format)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    module = copy.deepcopy(module).to(memory_format=fmt)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(case["input"], generator=gen)
    dtype = getattr(torch, case["dtype"]) if amp else torch.float32
    x_in = x.to(dtype).contiguous(memory_format=fmt) if x.dim() == 4 else x.to(dtype)
    x_in.requires_grad_(True)
    for _ in range(max(steps, 1)):
        module.zero_grad(set_to_none=True)
        x_in.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            y = module(x_in)
        upstream = torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
        y.backward(upstream.to(y.dtype))
    x_ref = x.clone().requires_grad_(True)
    reference(x_ref).backward(upstream)
    errors = [_relative_error(x_in.grad, x_ref.grad)]
    for (name, p), p_ref in zip(module.named_parameters(), reference.parameters()):
        if p.grad is not None and p_ref.grad is not None:
            errors.append(_relative_error(p.grad, p_ref.grad))
    return max(errors)


def child_run(modules_file, cases_file, jobs_file, start, stop, progress_file, steps):
    """Runs jobs[start:stop], writing 'start k' before and 'done k <json>' after each (a crash leaves a 'start k')."""
    # Whole modules need the full unpickler; the file is this tool's own, written by its record child just now.
    layers = checkpoint.load_file(modules_file, trusted_files=[modules_file])
    with open(cases_file) as f:
        cases = json.load(f)
    with open(jobs_file) as f:
        jobs = json.load(f)
    with open(progress_file, "a", buffering=1) as progress:
        for k in range(start, min(stop, len(jobs))):
            job = jobs[k]
            progress.write(f"start {k}\n")
            progress.flush()
            t0 = time.perf_counter()
            try:
                error = run_case(layers[job["case"]], cases[job["case"]], job["amp"], job["channels_last"], steps)
                result = {"result": "ok", "grad_error": error}
            except Exception as e:  # an exception is a finding here, not a bug of the tool
                result = {"result": f"error: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
            result["seconds"] = time.perf_counter() - t0
            progress.write(f"done {k} {json.dumps(result)}\n")
            progress.flush()


# ----------------------------------------------------------------------------------------------------------------
# Parent side
# ----------------------------------------------------------------------------------------------------------------
def _child_env(threads):
    return dict(os.environ, OMP_NUM_THREADS=str(threads),
                PYTHONPATH=os.pathsep.join(p for p in (REPO_ROOT, os.environ.get("PYTHONPATH")) if p))


def _child(args, threads, timeout):
    cmd = [sys.executable, "-X", "faulthandler", os.path.abspath(__file__), "--child"] + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=_child_env(threads), timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _how(done):
    return precision.exit_description(None if done is None else done.returncode)


def read_progress(path):
    """{job index: result dict}, and the index of a job that started but never finished (or None)."""
    results, started = {}, None
    if not os.path.isfile(path):
        return results, None
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2)
            if parts[0] == "start":
                started = int(parts[1])
            elif parts[0] == "done":
                results[int(parts[1])] = json.loads(parts[2])
                started = None
    return results, started


def run_jobs(jobs, launch, add_alternatives=True):
    """Runs every job through `launch(start)` (a child over jobs[start:...] appending to one progress file; returns
    (the finished subprocess or None on a timeout, the progress file)), starting a new child after each crash. A
    crashed suspect-combination job adds its alternatives to `jobs`. Returns one result dict per job, in order."""
    results, start = {}, 0
    while start < len(jobs):
        done, progress_path = launch(start)
        finished, crashed = read_progress(progress_path)
        results.update(finished)
        if crashed is not None:
            results[crashed] = {"result": _how(done), "seconds": None}
            job = jobs[crashed]
            if add_alternatives and (job["amp"], job["channels_last"]) == SUSPECT:
                jobs.extend({"case": job["case"], "amp": a, "channels_last": c} for a, c in ALTERNATIVES)
        elif done is None or done.returncode != 0:  # died outside any job: nothing to attribute it to
            raise RuntimeError(f"probe child died ({_how(done)}) outside a layer:\n{done.stderr if done else ''}")
        start = next((k for k in range(start, len(jobs)) if k not in results), len(jobs))
    return [results.get(k, {"result": "not run"}) for k in range(len(jobs))]


def verdict(job, result):
    """'ok', 'MISMATCH', or the crash / error text."""
    if result["result"] != "ok":
        return result["result"]
    return "ok" if result["grad_error"] <= TOLERANCE[job["amp"]] else "MISMATCH"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--batch", type=int, default=0, help=f"batch (default: the guard's probe batch, "
                        f"TRAIN.BATCH_SIZE_PER_GPU up to {precision.PROBE_MAX_BATCH})")
    parser.add_argument("--steps", type=int, default=2, help="forward+backward repeats per layer (the crash seen "
                        "here needed a second backward on one thread)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the children (default: this "
                        "process's)")
    parser.add_argument("--all-variants", action="store_true", help="run every layer in all three precisions")
    parser.add_argument("--one-process", action="store_true", help="run the layers in one child, restarted after "
                        "a crash (faster, but a crash seen in a fresh process can stay hidden in a used heap)")
    parser.add_argument("--only", default="", help="probe only layers whose module name, kind or op contains this "
                        "text (e.g. 'atrous', 'transposed', 'waspv2')")
    parser.add_argument("--no-whole-step", action="store_true", help="skip the whole-model training steps")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per child")
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)

    from lib.config import load_cfg

    cfg = load_cfg(args.cfg, args.opts, freeze=False)
    cfg.MODEL.PRETRAINED = ""  # shapes matter, not weights
    cfg.AMP, cfg.CHANNELS_LAST = True, True
    cfg.freeze()
    batch = args.batch or precision.probe_batch(cfg)
    threads = args.threads or torch.get_num_threads()
    cpu = cpu_info()
    header = {"cpu": cpu["model"], "avx512_bf16": cpu["avx512_bf16"], "amx_bf16": cpu["amx_bf16"],
              "amx_tile": cpu["amx_tile"], "torch": torch.__version__, "threads": threads, "batch": batch,
              "input": list(cfg.MODEL.IMAGE_SIZE), "config": args.cfg}
    print("environment: " + json.dumps(header))
    report = {"environment": header, "forward_crash": None}

    with tempfile.TemporaryDirectory(prefix="omnipose_probe_precision_") as tmp:
        cfg_file, cases_file, jobs_file, modules_file = (
            os.path.join(tmp, n) for n in ("config.yaml", "cases.json", "jobs.json", "layers.pt"))
        with open(cfg_file, "w") as f:
            f.write(cfg.dump())
        progress = os.path.join(tmp, "record.progress")
        record = ["record", cfg_file, cases_file, modules_file, progress, str(batch)]
        done = _child(record + ["1", "1"], threads, args.timeout)
        if done is not None and done.returncode > 0:  # an exception, not a crash: the tool or the config is wrong
            raise SystemExit(f"recording the layers failed:\n{done.stderr}")
        if done is None or done.returncode != 0:
            last = [line for line in open(progress)] if os.path.isfile(progress) else []
            where = last[-1].split(" ", 1)[1].strip() if last else "before any layer"
            report["forward_crash"] = {"result": _how(done), "layer": where}
            print(f"the bf16 + channels_last forward itself died ({_how(done)}) in {where}; recording shapes in fp32")
            done = _child(record + ["0", "0"], threads, args.timeout)
            if done is None or done.returncode != 0:
                raise SystemExit(f"even the fp32 forward failed ({_how(done)}):\n{done.stderr if done else ''}")
        with open(cases_file) as f:
            cases = json.load(f)
        variants = [SUSPECT] + (list(ALTERNATIVES) if args.all_variants else [])
        chosen = [i for i, c in enumerate(cases) if not args.only or any(args.only in c[k] for k in
                                                                           ("module", "kind", "op"))]
        jobs = [{"case": i, "amp": a, "channels_last": c} for i in chosen for a, c in variants]
        print(f"{len(cases)} distinct layers; running {len(jobs)} layer probes ({args.steps} forward+backward each)",
              flush=True)

        def launch(start):
            with open(jobs_file, "w") as f:
                json.dump(jobs, f)
            path = os.path.join(tmp, "run.progress")
            stop = len(jobs) if args.one_process else start + 1  # a fresh process per layer by default
            return _child(["run", modules_file, cases_file, jobs_file, str(start), str(stop), path, str(args.steps)],
                          threads, args.timeout), path

        results = run_jobs(jobs, launch, add_alternatives=not args.all_variants)

    rows = []
    for job, result in zip(jobs, results):
        case = cases[job["case"]]
        rows.append(dict(case, precision=precision.describe(job["amp"], job["channels_last"]),
                         verdict=verdict(job, result), **result))
    print("\n| module (first of n) | n | kind | op | input | dtype | precision | result | grad err | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        err = f"{r['grad_error']:.2g}" if r.get("grad_error") is not None else "-"
        sec = f"{r['seconds']:.2f}" if r.get("seconds") is not None else "-"
        print(f"| {r['module']} | {r['count']} | {r['kind']} | {r['op']} | {tuple(r['input'])} | {r['dtype']} | "
              f"{r['precision']} | {r['verdict']} | {err} | {sec} |")
    report["layers"] = rows

    if not args.no_whole_step:
        print("\nwhole training step (what the trainers' guard probes):")
        report["whole_step"] = []
        for amp, channels_last in [SUSPECT, *ALTERNATIVES]:
            outcome = precision.run_probe(cfg, amp, channels_last, batch=batch, threads=threads,
                                          timeout=args.timeout)
            report["whole_step"].append(outcome.as_dict())
            print(f"- {precision.describe(amp, channels_last)}: {outcome.how} ({outcome.seconds:.1f} s)", flush=True)

    suspect_desc = precision.describe(*SUSPECT)
    bad = [r for r in rows if r["precision"] == suspect_desc and r["verdict"] != "ok"]
    bad_steps = [s for s in report.get("whole_step", []) if s["precision"] == suspect_desc and s["result"] != "exit 0"]
    print("\nsummary:")
    if report["forward_crash"]:
        print(f"- the forward died in {report['forward_crash']['layer']} ({report['forward_crash']['result']})")
    for r in bad:
        others = [o for o in rows if o["module"] == r["module"] and o["input"] == r["input"] and o is not r]
        tail = "; ".join(f"{o['precision']}: {o['verdict']}" for o in others)
        print(f"- {r['verdict']}: {r['kind']} {r['op']} at {r['module']} (and {r['count'] - 1} more alike), input "
              f"{tuple(r['input'])} {r['dtype']}, {suspect_desc}" + (f" ({tail})" if tail else ""))
    for s in bad_steps:
        print(f"- the whole training step at batch {batch}: {s['result']}")
    if not (bad or bad_steps or report["forward_crash"]):
        print(f"- every layer and the whole step ran under {suspect_desc} on this CPU")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if (bad or bad_steps or report["forward_crash"]) else 0


def child_main(argv):
    torch.set_flush_denormal(True)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    if argv[0] == "record":
        cfg_file, out_file, modules_file, progress, batch, amp, channels_last = argv[1:8]
        child_record(cfg_file, out_file, modules_file, progress, int(batch), amp == "1", channels_last == "1")
    elif argv[0] == "run":
        modules_file, cases_file, jobs_file, start, stop, progress, steps = argv[1:8]
        child_run(modules_file, cases_file, jobs_file, int(start), int(stop), progress, int(steps))
    else:
        raise SystemExit(f"unknown child command {argv[0]!r}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        sys.exit(main())
