"""Running averages for training and evaluation logs."""


class AverageMeter:
    """A weighted running mean: update(value, n) adds `value` for `n` samples."""

    def __init__(self):
        self.sum, self.count = 0.0, 0

    def update(self, value, n=1):
        self.sum += float(value) * n
        self.count += n

    @property
    def avg(self):
        return self.sum / self.count if self.count else float("nan")
