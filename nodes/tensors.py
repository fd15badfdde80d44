"""torch IMAGE/MASK <-> the engine's numpy arrays.

IMAGE is [B,H,W,3] float32 0..1; MASK is [B,H,W] in LoadImage's convention (mask = 1 − alpha).  Results
that differ in size within one batch are padded (top-left aligned) to the largest size and the padding is
marked in the MASK as fully masked, so nothing is stretched, cropped or lost.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..engine.codecs import check_input_size
from ..engine.errors import ValidationError


def _quantise(t: torch.Tensor) -> np.ndarray:
    """float 0..1 → uint8 (NaN→0, +inf→1, −inf→0, clamped), with torch's fast kernels, one image at a time."""
    q = torch.nan_to_num(t.to(torch.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return q.clamp_(0.0, 1.0).mul_(255.0).add_(0.5).to(torch.uint8).numpy()


def image_to_arrays(image: torch.Tensor, mask: torch.Tensor | None = None) -> list[np.ndarray]:
    """One H×W×3 (or ×4 with alpha from a 4th channel or a MASK) uint8 array per batch item."""
    if not isinstance(image, torch.Tensor):
        raise ValidationError("The image input is not an IMAGE tensor.", "image 输入不是 IMAGE 张量。")
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
        raise ValidationError(
            f"IMAGE must be [batch, height, width, 3]; got {list(image.shape)}.",
            f"IMAGE 的形状应为 [batch, height, width, 3];当前为 {list(image.shape)}。")
    if image.shape[0] == 0:
        raise ValidationError("The image batch is empty.", "图像批次为空。")
    check_input_size(int(image.shape[2]), int(image.shape[1]))
    image = image.detach().to("cpu")
    if mask is not None:
        mask = mask.detach().to("cpu")
        if mask.ndim == 2:
            mask = mask.unsqueeze(0)
    out = []
    for i in range(image.shape[0]):
        a = _quantise(image[i])
        if a.shape[-1] == 1:
            a = np.repeat(a, 3, axis=-1)
        if mask is not None:
            mi = mask[min(i, mask.shape[0] - 1)]
            if tuple(mi.shape) != a.shape[:2]:
                raise ValidationError(
                    f"The mask is {mi.shape[1]}×{mi.shape[0]} but the image is {a.shape[1]}×{a.shape[0]}.",
                    f"遮罩尺寸 {mi.shape[1]}×{mi.shape[0]} 与图像尺寸 {a.shape[1]}×{a.shape[0]} 不一致。")
            a = np.concatenate([a[..., :3], _quantise(1.0 - mi)[..., None]], axis=-1)
        out.append(np.ascontiguousarray(a))
    return out


def _readonly_view(a: np.ndarray) -> torch.Tensor:
    """A tensor over a decoded (read-only) array without copying it; it is only ever read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(a))


def arrays_to_image(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Stack decoded results into (IMAGE, MASK, padded?)."""
    if not arrays:
        return torch.zeros((1, 64, 64, 3)), torch.ones((1, 64, 64)), False
    h = max(a.shape[0] for a in arrays)
    w = max(a.shape[1] for a in arrays)
    image = torch.zeros((len(arrays), h, w, 3), dtype=torch.float32)
    mask = torch.ones((len(arrays), h, w), dtype=torch.float32)
    padded = False
    for i, a in enumerate(arrays):
        ah, aw = a.shape[:2]
        padded |= (ah, aw) != (h, w)
        src = _readonly_view(a if a.ndim == 3 else a[..., None])
        scale = {np.dtype(np.uint8): 1 / 255.0, np.dtype(np.uint16): 1 / 65535.0}.get(a.dtype, 1.0)
        region = image[i, :ah, :aw]
        region.copy_(src[..., :3] if src.shape[-1] >= 3 else src[..., :1].expand(ah, aw, 3))
        if scale != 1.0:
            region.mul_(scale)
        if src.shape[-1] == 4:
            alpha = src[..., 3].to(torch.float32)
            mask[i, :ah, :aw] = 1.0 - (alpha * scale if scale != 1.0 else alpha)
        else:
            mask[i, :ah, :aw] = 0.0
    return image, mask, padded
