"""Box and affine geometry for top-down crops: centre/scale boxes, the crop affine, point mapping, joint flips.

Pure numpy. The affine follows the DARK/UDP-style transform of the original OmniPose code
(`utils/transforms.py::get_affine_transform`): the box centre goes to ((w-1)/2, (h-1)/2) of the output and the box
width scale[0]*200 spans the output width in the (size-1) pixel-centre alignment, i.e. one isotropic factor
(w_out - 1) / (scale[0]*200 - 1) for both axes, then an optional rotation about the centre.
"""
import numpy as np

PIXEL_STD = 200  # HRNet's box unit, px: scale = box size / PIXEL_STD


def box_to_center_scale(box_xywh, aspect_ratio, padding=1.25):
    """Person box to the (centre, scale) pair used by every crop.

    Args:
        box_xywh: (4,) x, y, w, h of the box in image px (COCO convention: x, y is the top-left corner).
        aspect_ratio: model input width / height; the shorter side of the box is grown to this aspect.
        padding: the aspect-fixed box is enlarged by this factor (1.25 as the original).

    Returns:
        center: (2,) float32 box centre in image px, x + (w-1)/2, y + (h-1)/2 (pixel-centre convention).
        scale: (2,) float32 box (w, h) / PIXEL_STD * padding.
    """
    x, y, w, h = (float(v) for v in np.asarray(box_xywh, dtype=np.float64).reshape(4))
    if aspect_ratio <= 0:
        raise ValueError(f"aspect_ratio={aspect_ratio} must be positive (input width / height)")
    center = np.array([x + (w - 1) * 0.5, y + (h - 1) * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float32) * padding
    return center, scale.astype(np.float32)


def get_affine_transform(center, scale, rot_deg, output_size_wh, inv=False):
    """The crop affine from image px to output px (or back with inv=True).

    The centre maps to ((w_out-1)/2, (h_out-1)/2); the source width scale[0]*PIXEL_STD maps onto the output width
    with the isotropic factor (w_out-1)/(scale[0]*PIXEL_STD-1) (the original's (size-1) alignment); a positive
    rot_deg turns the crop counter-clockwise in the image (the image content turns clockwise in the crop), as the
    original's get_dir construction.

    Args:
        center: (2,) box centre in image px.
        scale: (2,) box size / PIXEL_STD; only scale[0] sets the zoom (the box is aspect-fixed beforehand).
        rot_deg: rotation in degrees.
        output_size_wh: (w, h) of the output in px.
        inv: return the inverse map (output px -> image px).

    Returns:
        (2, 3) float64 matrix M with [x_out, y_out] = M @ [x_img, y_img, 1].
    """
    center = np.asarray(center, dtype=np.float64).reshape(2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    out_w, out_h = float(output_size_wh[0]), float(output_size_wh[1])
    src_w = scale[0] * PIXEL_STD
    if not src_w > 1:
        raise ValueError(f"scale={scale.tolist()}: the box width scale[0]*{PIXEL_STD}={src_w} px must exceed 1 px")
    zoom = (out_w - 1) / (src_w - 1)
    rad = np.deg2rad(float(rot_deg))
    cos, sin = np.cos(rad), np.sin(rad)
    linear = zoom * np.array([[cos, sin], [-sin, cos]])
    dst_center = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5])
    matrix = np.empty((2, 3))
    matrix[:, :2] = linear
    matrix[:, 2] = dst_center - linear @ center
    return invert_affine(matrix) if inv else matrix


def invert_affine(matrix):
    """Inverse of a (2, 3) affine."""
    matrix = np.asarray(matrix, dtype=np.float64)
    linear_inv = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear_inv, -linear_inv @ matrix[:, 2:]], axis=1)


def compose_affine(outer, inner):
    """The (2, 3) affine doing `inner` first, then `outer`."""
    outer3 = np.vstack([np.asarray(outer, dtype=np.float64), [0.0, 0.0, 1.0]])
    inner3 = np.vstack([np.asarray(inner, dtype=np.float64), [0.0, 0.0, 1.0]])
    return (outer3 @ inner3)[:2]


def hflip_affine(image_width):
    """The (2, 3) mirror x -> image_width - 1 - x in pixel-centre coordinates."""
    return np.array([[-1.0, 0.0, image_width - 1.0], [0.0, 1.0, 0.0]])


def affine_points(points, matrix):
    """Maps points through a (2, 3) affine.

    Args:
        points: (N, 2) x, y (any leading shape (..., 2) is accepted).
        matrix: (2, 3) affine.

    Returns:
        (..., 2) mapped points, float64 unless the input is float32 (dtype kept for floating inputs).
    """
    points = np.asarray(points)
    out_dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
    matrix = np.asarray(matrix, dtype=np.float64)
    mapped = points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return mapped.astype(out_dtype)


def fliplr_joints(joints, vis, image_width, flip_pairs):
    """Mirrors joints horizontally and swaps the left/right pairs.

    Args:
        joints: (K, 2+) image px; only column 0 (x) changes to image_width - 1 - x.
        vis: (K,) or (K, C) visibility, swapped with the joints.
        image_width: width of the image in px.
        flip_pairs: iterable of (left, right) joint indices.

    Returns:
        (joints, vis): new arrays (inputs are not modified).
    """
    joints = np.array(joints, copy=True)
    vis = np.array(vis, copy=True)
    joints[:, 0] = image_width - 1 - joints[:, 0]
    for left, right in flip_pairs:
        joints[[left, right]] = joints[[right, left]]
        vis[[left, right]] = vis[[right, left]]
    return joints, vis


def flip_permutation(num_joints, flip_pairs):
    """(K,) index array p with flipped[k] = original[p[k]] for a left/right swap."""
    perm = np.arange(num_joints)
    for left, right in flip_pairs:
        perm[left], perm[right] = right, left
    return perm
