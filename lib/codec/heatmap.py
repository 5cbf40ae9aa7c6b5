"""The heatmap codec: the only code that knows the input->heatmap scale, sigma, DARK and the coordinate convention.

Provenance: the unnormalised full-grid sub-pixel Gaussian target of OmniPose/DARK (`JointsDataset.generate_target`),
HRNet's argmax + quarter-pixel decode (`get_max_preds`/`get_final_preds`) and DARK's blur-log-Taylor refinement
(Zhang et al., "Distribution-Aware Coordinate Representation", CVPR 2020), rewritten vectorised.

The one convention (used by encode and decode alike):
  * Pixel centres sit at integer coordinates: pixel (i, j) of an image covers [i-0.5, i+0.5] x [j-0.5, j+0.5].
  * A crop of size (W, H) has its centre at ((W-1)/2, (H-1)/2); a heatmap of size (w, h) at ((w-1)/2, (h-1)/2).
  * Input-crop px map to heatmap px by one isotropic factor r = (w-1)/(W-1) about those centres:
        p_hm = r * (p_in - ((W-1)/2, (H-1)/2)) + ((w-1)/2, (h-1)/2)
    This is exactly what the original gets from building one affine for the input size and another for the heatmap
    size (both use the width factor, `lib.utils.transforms.get_affine_transform`), so heatmap -> input -> image equals
    the original's direct heatmap -> image map. For 288x384 -> 72x96, r = 71/287 (not 1/4); no half-pixel shift.
  * Coordinates are (x, y); sizes are (w, h); arrays are (..., H, W).
"""
import logging

import numpy as np
import torch

from lib.utils.transforms import PIXEL_STD, affine_points, get_affine_transform

logger = logging.getLogger(__name__)

# The name weight files trained on these targets record (lib.utils.checkpoint.weights_record): Gaussian peaks at the
# sub-pixel joint under the (size-1)/2-centred maps above, so a mirrored crop's joint lands exactly on the mirrored
# heatmap cell and the flip test needs no shift. Change the name whenever encode's convention changes.
TARGET_CONVENTION = "centred-v1"


def _as_torch(heatmaps, name="heatmaps"):
    """Torch view of a numpy or torch heatmap batch, with a flag saying whether the input was numpy."""
    if isinstance(heatmaps, torch.Tensor):
        return heatmaps.detach(), False
    if isinstance(heatmaps, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(heatmaps)), True
    raise TypeError(f"{name}: expected a torch.Tensor or numpy array of shape (B, K, H, W), got {type(heatmaps)}")


def _check_4d(heatmaps, name="heatmaps"):
    if heatmaps.ndim != 4:
        raise ValueError(f"{name}: expected shape (B, K, H, W), got {tuple(heatmaps.shape)}")


def _argmax_torch(heatmaps):
    """(B, K, H, W) -> integer argmax x, y (B, K) int64 and max values (B, K), no offset."""
    batch, joints, height, width = heatmaps.shape
    flat = heatmaps.reshape(batch, joints, height * width)
    maxvals, index = flat.max(dim=-1)
    return index % width, index // width, maxvals


def argmax_decode(heatmaps):
    """Argmax with HRNet's quarter-pixel step toward the higher neighbour.

    Args:
        heatmaps: (B, K, H, W) torch.Tensor or numpy array.

    Returns:
        coords: (B, K, 2) float32 (x, y) in heatmap px. The quarter offset is applied per axis where both neighbours
            exist (0 < x < W-1, resp. 0 < y < H-1). Joints whose map maximum is <= 0 get (0, 0).
        maxvals: (B, K) the map maxima (dtype of the input, float32 for integer input).
        Torch in -> torch out on the same device (no grad); numpy in -> numpy out.
    """
    hm, from_numpy = _as_torch(heatmaps)
    _check_4d(hm)
    if not hm.is_floating_point():
        hm = hm.float()
    with torch.no_grad():
        height, width = hm.shape[-2:]
        px, py, maxvals = _argmax_torch(hm)
        flat = hm.reshape(hm.shape[0], hm.shape[1], -1)

        def value_at(x, y):
            return flat.gather(-1, (y * width + x).unsqueeze(-1)).squeeze(-1)

        # Neighbour indices are clamped so the gather is valid; the masks drop the border cases.
        dx = value_at((px + 1).clamp(max=width - 1), py) - value_at((px - 1).clamp(min=0), py)
        dy = value_at(px, (py + 1).clamp(max=height - 1)) - value_at(px, (py - 1).clamp(min=0))
        inner_x = (px > 0) & (px < width - 1)
        inner_y = (py > 0) & (py < height - 1)
        x = px.float() + 0.25 * torch.sign(dx).float() * inner_x.float()
        y = py.float() + 0.25 * torch.sign(dy).float() * inner_y.float()
        coords = torch.stack([x, y], dim=-1) * (maxvals > 0).unsqueeze(-1).float()
    if from_numpy:
        return coords.numpy(), maxvals.numpy()
    return coords, maxvals


def _opencv_gaussian_sigma(kernel):
    """The sigma OpenCV's GaussianBlur picks for sigma=0 (2.0 for an 11x11 kernel), as DARK uses it."""
    return 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8


def dark_blur(heatmaps, kernel):
    """DARK's modulation: Gaussian blur (zero padding), then rescale each map to its original maximum.

    Args:
        heatmaps: (B, K, H, W) float torch tensor.
        kernel: odd blur size in heatmap cells.

    Returns:
        (B, K, H, W) blurred tensor (float64).
    """
    if kernel % 2 != 1 or kernel < 1:
        raise ValueError(f"blur kernel={kernel} must be a positive odd number (TEST.BLUR_KERNEL)")
    hm = heatmaps.to(torch.float64)
    height, width = hm.shape[-2:]
    sigma = _opencv_gaussian_sigma(kernel)
    radius = kernel // 2
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=hm.device)
    taps = torch.exp(-(offsets**2) / (2 * sigma**2))
    taps = taps / taps.sum()

    def band(size):
        # (size, size) matrix applying the 1-D blur; rows cut at the border = the original's zero padding.
        index = torch.arange(size, device=hm.device)
        shift = index[None, :] - index[:, None]
        return torch.where(shift.abs() <= radius, taps[(shift + radius).clamp(0, kernel - 1)], 0.0)

    # Separable blur as two matrix products: much faster on CPU than conv2d over B*K single-channel maps.
    blurred = band(height) @ hm @ band(width).T
    orig_max = hm.amax(dim=(-2, -1), keepdim=True)
    new_max = blurred.amax(dim=(-2, -1), keepdim=True)
    ratio = torch.where(new_max > 0, orig_max / new_max.clamp(min=1e-300), torch.ones_like(new_max))
    return blurred * ratio


def dark_refine(log_heatmaps, px, py):
    """One second-order Taylor step (offset = -H^-1 grad) at integer positions of log heatmaps.

    Args:
        log_heatmaps: (B, K, H, W) float64 torch log-likelihood maps.
        px, py: (B, K) int64 argmax positions.

    Returns:
        (B, K, 2) float64 refined (x, y); unchanged where 1 < x < W-2 and 1 < y < H-2 fails (the original's
        bounds, so the +-2 taps exist) or the Hessian is singular.
    """
    batch, joints, height, width = log_heatmaps.shape
    flat = log_heatmaps.reshape(batch, joints, -1)
    inside = (px > 1) & (px < width - 2) & (py > 1) & (py < height - 2)
    cx = px.clamp(2, max(width - 3, 2))
    cy = py.clamp(2, max(height - 3, 2))

    def at(ox, oy):
        x = (cx + ox).clamp(0, width - 1)
        y = (cy + oy).clamp(0, height - 1)
        return flat.gather(-1, (y * width + x).unsqueeze(-1)).squeeze(-1)

    center = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    # DARK's step-2 second differences.
    dxx = 0.25 * (at(2, 0) - 2 * center + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * center + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy**2
    usable = inside & (det != 0)
    safe_det = torch.where(usable, det, torch.ones_like(det))
    offset_x = -(dyy * dx - dxy * dy) / safe_det
    offset_y = -(-dxy * dx + dxx * dy) / safe_det
    usable = usable & torch.isfinite(offset_x) & torch.isfinite(offset_y)
    x = px.to(torch.float64) + torch.where(usable, offset_x, torch.zeros_like(offset_x))
    y = py.to(torch.float64) + torch.where(usable, offset_y, torch.zeros_like(offset_y))
    return torch.stack([x, y], dim=-1)


class HeatmapCodec:
    """Encodes joints into Gaussian heatmaps and decodes heatmaps into joints (module docstring: the convention).

    Args:
        input_size: (W, H) of the network input crop in px.
        heatmap_size: (w, h) of the heatmaps in px.
        sigma: std of the target Gaussian in heatmap px.
        use_dark: decode with DARK refinement (else argmax + quarter offset).
        blur_kernel: DARK blur kernel size (odd), heatmap px.
    """

    def __init__(self, input_size, heatmap_size, sigma, use_dark=True, blur_kernel=11):
        self.input_size = tuple(int(v) for v in input_size)
        self.heatmap_size = tuple(int(v) for v in heatmap_size)
        if len(self.input_size) != 2 or len(self.heatmap_size) != 2 or min(self.input_size + self.heatmap_size) < 2:
            raise ValueError(
                f"input_size={input_size}, heatmap_size={heatmap_size}: expected two (w, h) pairs of sizes >= 2"
            )
        if not sigma > 0:
            raise ValueError(f"sigma={sigma} must be positive (MODEL.SIGMA, heatmap px)")
        if blur_kernel % 2 != 1 or blur_kernel < 1:
            raise ValueError(f"blur_kernel={blur_kernel} must be a positive odd number (TEST.BLUR_KERNEL)")
        self.sigma = float(sigma)
        self.use_dark = bool(use_dark)
        self.blur_kernel = int(blur_kernel)
        in_w, in_h = self.input_size
        hm_w, hm_h = self.heatmap_size
        # Width-based isotropic factor, as the original's two affines (see the module docstring).
        self.input_to_heatmap_factor = (hm_w - 1) / (in_w - 1)
        self._input_center = np.array([(in_w - 1) / 2, (in_h - 1) / 2])
        self._heatmap_center = np.array([(hm_w - 1) / 2, (hm_h - 1) / 2])

    @classmethod
    def from_cfg(cls, cfg):
        """Codec from MODEL.{IMAGE_SIZE, HEATMAP_SIZE, SIGMA} and TEST.{POST_PROCESS (-> use_dark), BLUR_KERNEL}."""
        return cls(
            input_size=cfg.MODEL.IMAGE_SIZE,
            heatmap_size=cfg.MODEL.HEATMAP_SIZE,
            sigma=cfg.MODEL.SIGMA,
            use_dark=cfg.TEST.POST_PROCESS,
            blur_kernel=cfg.TEST.BLUR_KERNEL,
        )

    def __repr__(self):
        return (
            f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, sigma={self.sigma}, "
            f"use_dark={self.use_dark}, blur_kernel={self.blur_kernel})"
        )

    # ------------------------------------------------------------------------------------------------------------
    # Coordinate maps
    # ------------------------------------------------------------------------------------------------------------
    def input_to_heatmap(self, points):
        """(..., 2) input-crop px -> (..., 2) heatmap px (numpy float64, or torch in the input's dtype)."""
        return self._map(points, self._input_center, self._heatmap_center, self.input_to_heatmap_factor)

    def heatmap_to_input(self, points):
        """(..., 2) heatmap px -> (..., 2) input-crop px (numpy float64, or torch in the input's dtype)."""
        return self._map(points, self._heatmap_center, self._input_center, 1.0 / self.input_to_heatmap_factor)

    @staticmethod
    def _map(points, src_center, dst_center, factor):
        if isinstance(points, torch.Tensor):
            src = torch.as_tensor(src_center, dtype=points.dtype, device=points.device)
            dst = torch.as_tensor(dst_center, dtype=points.dtype, device=points.device)
            return (points - src) * factor + dst
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-1] != 2:
            raise ValueError(f"points: expected shape (..., 2) as (x, y), got {points.shape}")
        return (points - src_center) * factor + dst_center

    def image_to_heatmap_factor(self, scale):
        """Isotropic image px -> heatmap px zoom of a crop with this (2,) or (B, 2) scale (no rotation effect)."""
        scale = np.asarray(scale, dtype=np.float64)
        return (self.heatmap_size[0] - 1) / (scale[..., 0] * PIXEL_STD - 1)

    # ------------------------------------------------------------------------------------------------------------
    # Encode
    # ------------------------------------------------------------------------------------------------------------
    def encode(self, joints_input, visible):
        """Gaussian targets for joints given in input-crop px.

        Args:
            joints_input: (K, 2) or (B, K, 2) float (x, y) in input-crop px.
            visible: (K,) or (B, K); > 0 means labelled.

        Returns:
            target: (..., K, h, w) float32, exp(-d^2 / (2 sigma^2)) over the full grid with peak 1 at the sub-pixel
                joint location in heatmap px; all zeros where the weight is 0.
            weight: (..., K) float32, 1 for labelled joints whose 3-sigma box [mu - 3 sigma, mu + 3 sigma] overlaps
                the map's extent [-0.5, w-0.5] x [-0.5, h-0.5]; 0 otherwise (unlabelled, far outside, non-finite).
        """
        joints_input = np.asarray(joints_input, dtype=np.float64)
        visible = np.asarray(visible)
        if joints_input.ndim not in (2, 3) or joints_input.shape[-1] != 2:
            raise ValueError(f"joints_input: expected shape (K, 2) or (B, K, 2), got {joints_input.shape}")
        if visible.shape != joints_input.shape[:-1]:
            raise ValueError(
                f"visible: expected shape {joints_input.shape[:-1]} to match joints_input {joints_input.shape}, "
                f"got {visible.shape}"
            )
        hm_w, hm_h = self.heatmap_size
        joints_hm = self.input_to_heatmap(joints_input)  # (..., K, 2)
        mu_x, mu_y = joints_hm[..., 0], joints_hm[..., 1]
        reach = 3 * self.sigma
        with np.errstate(invalid="ignore"):
            overlaps = (
                (mu_x + reach >= -0.5) & (mu_x - reach <= hm_w - 0.5)
                & (mu_y + reach >= -0.5) & (mu_y - reach <= hm_h - 0.5)
            )
        weight = ((visible > 0) & overlaps & np.isfinite(joints_hm).all(axis=-1)).astype(np.float32)
        mu_x = np.where(weight > 0, mu_x, 0.0)
        mu_y = np.where(weight > 0, mu_y, 0.0)
        xs = np.arange(hm_w, dtype=np.float64)
        ys = np.arange(hm_h, dtype=np.float64)
        # The 2-D Gaussian is separable: an outer product of the row and column profiles, for all joints at once.
        gx = np.exp(-((xs - mu_x[..., None]) ** 2) / (2 * self.sigma**2))  # (..., K, w)
        gy = np.exp(-((ys - mu_y[..., None]) ** 2) / (2 * self.sigma**2))  # (..., K, h)
        target = gy[..., :, None] * gx[..., None, :] * weight[..., None, None]  # (..., K, h, w)
        return target.astype(np.float32), weight

    # ------------------------------------------------------------------------------------------------------------
    # Decode
    # ------------------------------------------------------------------------------------------------------------
    def decode(self, heatmaps):
        """Joint locations in heatmap px.

        Args:
            heatmaps: (B, K, h, w) numpy array or torch tensor (any device).

        Returns:
            coords: (B, K, 2) float64 numpy (x, y) in heatmap px: DARK-refined when use_dark, else argmax + quarter
                offset. (0, 0) where the map maximum is <= 0.
            maxvals: (B, K) float32 numpy, the raw map maxima.
        """
        hm, _ = _as_torch(heatmaps)
        _check_4d(hm)
        if tuple(hm.shape[-2:]) != (self.heatmap_size[1], self.heatmap_size[0]):
            raise ValueError(
                f"heatmaps: spatial shape {tuple(hm.shape[-2:])} (H, W) does not match the codec's heatmap_size "
                f"{self.heatmap_size} (w, h)"
            )
        hm = hm.detach().to("cpu")
        if not self.use_dark:
            coords, maxvals = argmax_decode(hm)
            return coords.numpy().astype(np.float64), maxvals.float().numpy()
        hm = hm.to(torch.float64)
        with torch.no_grad():
            px, py, maxvals = _argmax_torch(hm)
            log_hm = torch.log(dark_blur(hm, self.blur_kernel).clamp(min=1e-10))
            coords = dark_refine(log_hm, px, py)
            coords = coords * (maxvals > 0).unsqueeze(-1).to(coords.dtype)
        return coords.numpy(), maxvals.float().numpy()

    def decode_to_image(self, heatmaps, centers, scales):
        """Decode, then map heatmap px -> input px -> image px through the inverse crop affine (no rotation).

        Args:
            heatmaps: (B, K, h, w) numpy or torch.
            centers: (B, 2) crop centres in image px.
            scales: (B, 2) crop scales (box size / 200).

        Returns:
            coords_img: (B, K, 2) float64 (x, y) in image px.
            maxvals: (B, K) float32.
        """
        coords_hm, maxvals = self.decode(heatmaps)
        centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
        scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
        if len(centers) != len(coords_hm) or len(scales) != len(coords_hm):
            raise ValueError(
                f"centers {centers.shape} and scales {scales.shape} must have one (2,) row per heatmap batch item "
                f"({len(coords_hm)})"
            )
        coords_input = self.heatmap_to_input(coords_hm)
        coords_img = np.empty_like(coords_input)
        for i, (center, scale) in enumerate(zip(centers, scales)):
            inverse = get_affine_transform(center, scale, 0.0, self.input_size, inv=True)
            coords_img[i] = affine_points(coords_input[i], inverse)
        return coords_img, maxvals

