"""Small helpers on nn.Modules."""
import contextlib


@contextlib.contextmanager
def frozen(*modules):
    """Within the block the modules are in eval mode with requires_grad False on every parameter; afterwards each
    module's train/eval mode and each parameter's requires_grad are what they were, even when an exception passes
    through. None entries are ignored."""
    modules = [m for m in modules if m is not None]
    modes = [[(sub, sub.training) for sub in m.modules()] for m in modules]
    flags = [[(p, p.requires_grad) for p in m.parameters()] for m in modules]
    try:
        for m in modules:
            m.eval()
            m.requires_grad_(False)
        yield
    finally:
        for saved in modes:
            for sub, training in saved:
                sub.training = training
        for saved in flags:
            for p, requires_grad in saved:
                p.requires_grad_(requires_grad)
