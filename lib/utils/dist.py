"""The only module that calls torch.distributed. DDP the nanoGPT way: under torchrun, RANK/WORLD_SIZE/LOCAL_RANK
are in the environment; otherwise everything is a no-op for a single process.

    torchrun --standalone --nproc_per_node 8 --max-restarts 3 tools/train.py --cfg X AUTO_RESUME True
    bash tools/dist_train.sh X 8                      # the same (docs/distributed.md: multi-node, SLURM, restarts)
"""
import datetime
import os
import warnings

import torch
import torch.distributed as dist

from lib.utils.errors import UserError


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def get_rank():
    return dist.get_rank() if is_distributed() else 0


def get_world_size():
    return dist.get_world_size() if is_distributed() else 1


def is_main_process():
    return get_rank() == 0


def init_distributed(device_pref="auto", timeout_s=1800.0):
    """Initialises the process group when launched by torchrun and returns this process's torch.device.

    nccl on CUDA, gloo on CPU. `device_pref` is cfg.DEVICE: 'auto', 'cpu' or 'cuda'. `timeout_s` (cfg.DIST_TIMEOUT_S)
    bounds every collective: a rank whose peer stopped answering without dying fails after it instead of waiting
    forever (a peer that dies closes its sockets, and the others fail at once).
    """
    want_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("DEVICE=cuda but torch.cuda.is_available() is False (CPU build or no GPU visible)")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", 1)) > 1 and not is_distributed():
        timeout = datetime.timedelta(seconds=float(timeout_s))
        store = _restart_safe_store(timeout)
        rank_args = {} if store is None else {"store": store, "rank": int(os.environ["RANK"]),
                                              "world_size": int(os.environ["WORLD_SIZE"])}
        dist.init_process_group(backend="nccl" if want_cuda else "gloo", timeout=timeout, **rank_args)
    if want_cuda:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _restart_safe_store(timeout):
    """The key-value store the process group meets in, when torchrun's default one is unsafe after a restart; None
    to let torch use its default (env://).

    torchrun's workers share the store of their launcher (TORCHELASTIC_USE_AGENT_STORE), which outlives a restart
    with the previous attempt's keys in it: a restarted rank can read a dead rank's address before its successor
    overwrites it, and fails with gloo's 'connectFullMesh failed ... Connection refused' (docs/distributed.md). On
    one node every worker has the same restart count, so the keys are put under one prefix per attempt. Several
    nodes can disagree on that count; there torchrun must not share its store (TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1,
    c10d rendezvous), and a warning says so."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    if int(os.environ.get("GROUP_WORLD_SIZE", 1)) > 1:
        if int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", 0)) > 0 and os.environ.get("RANK") == "0":
            warnings.warn("several nodes with --max-restarts and torchrun's shared store: a restart can fail with "
                          "'connectFullMesh failed'; launch with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 and "
                          "--rdzv-backend c10d (docs/distributed.md)")
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=timeout)
    return dist.PrefixStore(f"attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def barrier():
    if is_distributed():
        dist.barrier()


def all_gather_objects(obj):
    """A list with every rank's `obj` (just [obj] in a single process)."""
    if not is_distributed():
        return [obj]
    gathered = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj, src=0):
    if not is_distributed():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def all_reduce_mean(value):
    """Mean of a float over ranks."""
    if not is_distributed():
        return value
    tensor = torch.tensor([float(value)], dtype=torch.float64,
                          device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(tensor)
    return tensor.item() / get_world_size()


def unwrap(model):
    """The module inside DDP/DataParallel/torch.compile wrappers (what gets saved)."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def broadcast_buffers(*modules):
    """Copies every buffer (BatchNorm running statistics, EMA counters) of each module from rank 0 to the others.
    DDP broadcasts the buffers at each forward, so the ranks' running statistics differ only after their last
    training forward; syncing before validation makes every rank evaluate the weights rank 0 saves."""
    if not is_distributed():
        return
    for module in modules:
        if module is not None:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)


def check_sync_bn(sync_bn, device):
    """Whether to convert BatchNorm to SyncBatchNorm (MODEL.SYNC_BN): only with several processes, where it pools
    the batch statistics of all ranks (one process: plain BatchNorm is the same thing). torch's SyncBatchNorm
    refuses CPU tensors in training (torch 2.13: 'expected input tensor to be on GPU'), so CPU runs are refused
    here, before any training step."""
    if not sync_bn or not is_distributed():
        return False
    if device.type == "cpu":
        raise UserError("MODEL.SYNC_BN True needs CUDA devices: torch's SyncBatchNorm does not run on CPU (gloo); "
                        "set MODEL.SYNC_BN False for CPU processes")
    return True


def wrap_ddp(module, device, sync_bn=False):
    """`module` inside DistributedDataParallel when a process group is up (None and single processes: unchanged);
    with `sync_bn` (MODEL.SYNC_BN) its BatchNorm layers become SyncBatchNorm first (same parameters and buffers, so
    checkpoints load into plain BatchNorm)."""
    if not is_distributed() or module is None:
        return module
    if check_sync_bn(sync_bn, device):
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda"
                                                     else None)


def cleanup():
    if is_distributed():
        dist.destroy_process_group()
