"""torch IMAGE/MASK <-> the engine's numpy arrays.

IMAGE is [B,H,W,3] float32 0..1; MASK is [B,H,W] in LoadImage's convention (mask = 1 − alpha).  Results
that differ in size within one batch are padded (top-left aligned) to the largest size and the padding is
marked in the MASK as fully masked, so nothing is stretched, cropped or lost.
"""

from __future__ import annotations

import numpy as np
import torch

from ..engine.errors import ValidationError


def image_to_arrays(image: torch.Tensor, mask: torch.Tensor | None = None) -> list[np.ndarray]:
    """One H×W×3 (or ×4 with a mask) float32 array per batch item; values are cleaned by the encoder."""
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
    arrays = image.detach().to("cpu", torch.float32).numpy()
    if arrays.shape[-1] == 1:
        arrays = np.repeat(arrays, 3, axis=-1)
    out = [np.ascontiguousarray(a) for a in arrays]  # a 4th channel is alpha; an explicit MASK replaces it
    if mask is None:
        return out
    m = mask.detach().to("cpu", torch.float32)
    if m.ndim == 2:
        m = m.unsqueeze(0)
    m = m.numpy()
    for i, a in enumerate(out):
        mi = m[min(i, len(m) - 1)]
        if mi.shape != a.shape[:2]:
            raise ValidationError(
                f"The mask is {mi.shape[1]}×{mi.shape[0]} but the image is {a.shape[1]}×{a.shape[0]}.",
                f"遮罩尺寸 {mi.shape[1]}×{mi.shape[0]} 与图像尺寸 {a.shape[1]}×{a.shape[0]} 不一致。")
        out[i] = np.concatenate([a[..., :3], (1.0 - mi)[..., None]], axis=-1)
    return out


def _to_float(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


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
        f = torch.from_numpy(_to_float(a))
        if f.ndim == 2:
            f = f[..., None]
        image[i, :ah, :aw] = f[..., :3] if f.shape[-1] >= 3 else f[..., :1].expand(ah, aw, 3)
        mask[i, :ah, :aw] = 1.0 - f[..., 3] if f.shape[-1] == 4 else 0.0
    return image, mask, padded
