"""lib/utils/amp.py: the bf16-safe strided convolution."""
import pytest
import torch

from lib.utils.amp import bf16_safe_conv


@pytest.mark.parametrize("height", [1, 2, 5])
def test_strided_conv_on_one_column_has_the_fp32_gradient_under_cpu_bf16(height):
    """torch 2.13.0+cpu's bf16 weight gradient of a stride-2 conv on a one-column input reads memory it never wrote
    (garbage up to 1e37, sometimes NaN; seen in CI): bf16_safe_conv must give fp32's gradient. Twenty
    fresh convs, because the garbage differs from call to call (most calls were wrong without the guard)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for _ in range(20):
        conv = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)
        x = torch.randn(4, 8, height, 1)
        with torch.autocast("cpu"):
            out = bf16_safe_conv(conv, x)
        grad_out = torch.randn(out.shape)
        (grad,) = torch.autograd.grad(out.float(), conv.weight, grad_out)
        (expected,) = torch.autograd.grad(conv(x), conv.weight, grad_out)
        assert torch.isfinite(grad).all()
        torch.testing.assert_close(grad, expected, rtol=0.02, atol=0.05)


def test_bf16_safe_conv_is_plain_conv_elsewhere():
    """Wider inputs, stride 1 and fp32 keep autocast's bf16 (the guard costs nothing at real sizes)."""
    conv = torch.nn.Conv2d(4, 4, 3, stride=2, padding=1)
    with torch.autocast("cpu"):
        assert bf16_safe_conv(conv, torch.randn(1, 4, 6, 2)).dtype == torch.bfloat16
        assert bf16_safe_conv(conv, torch.randn(1, 4, 6, 1)).dtype == torch.float32
        stride1 = torch.nn.Conv2d(4, 4, 3, padding=1)
        assert bf16_safe_conv(stride1, torch.randn(1, 4, 6, 1)).dtype == torch.bfloat16
    assert bf16_safe_conv(conv, torch.randn(1, 4, 6, 1)).dtype == torch.float32
