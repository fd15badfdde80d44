"""One table from output name to how it is computed from a batch's results.

Each operation's spec entry lists its outputs by name; the node factory reads them and this table builds
them, so no output depends on which operation produced it.  A new output kind is one function here plus
its type and tooltip in `output_kinds`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..engine.text import Text, language
from . import outputs, tensors
from .output_kinds import NOTE_PADDED

NO_PREVIEW = Text("No preview: the service sent none and Ghostscript is not installed to render the EPS. The EPS "
                  "file itself is complete.", "无预览:服务未返回预览图,且未安装 Ghostscript 无法本地渲染 EPS。EPS 文件本身完整。")


class Batch:
    """A finished batch's results plus what building its outputs has already computed (each once)."""

    def __init__(self, results: list, ui: Any, input_sizes: list[tuple[int, int]], names: tuple[str, ...]):
        self.results, self.ui, self.input_sizes, self.names = results, ui, input_sizes, names
        self._cache: dict[str, Any] = {}

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def note(self, text: Text) -> None:
        self.ui.note(text.get(language()))

    def svgs(self) -> list[list[bytes]]:
        """Every SVG output and preview uses the sanitized documents."""
        return self.once("svgs", lambda: outputs.safe_svgs(self.results))

    def placeholder(self, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.note(Text(f"These results have no {what}; that output shows a placeholder.",
                       f"这些结果没有 {what},该输出为占位图。"))
        image, mask, _ = tensors.arrays_to_image([outputs.placeholder()])
        return image, mask

    def images(self, every: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """All result images (`every`) or the first of each task; SVG-only results are rendered."""
        def make() -> tuple[torch.Tensor, torch.Tensor]:
            blobs = [b for r in self.results for b in (r.images if every else r.images[:1])]
            if not blobs and any(r.svgs for r in self.results):
                image, mask, padded = tensors.arrays_to_image(
                    outputs.render_svgs([d for ds in self.svgs() for d in ds]))
            elif not blobs:
                return self.placeholder("images")
            else:
                image, mask, padded = outputs.stack(blobs)
            if padded:
                self.note(NOTE_PADDED)
            return image, mask
        return self.once(f"images:{every}", make)

    def preview(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A raster of each task's vector result: its SVG at the input's width, else the service's preview
        image, else the EPS rendered locally (when Ghostscript is there)."""
        def make() -> tuple[torch.Tensor, torch.Tensor]:
            if any(r.svgs for r in self.results):
                sizes = [(w, 0) for w, _ in self.input_sizes]
                arrays = outputs.render_svgs([ds[0] for ds in self.svgs() if ds], sizes)
            else:
                arrays = [self._raster_of(r) for r in self.results]
            image, mask, _ = tensors.arrays_to_image(arrays)
            return image, mask
        return self.once("preview", make)

    def _raster_of(self, result: Any) -> Any:
        if result.images:
            return outputs.codecs.decode_image(result.images[0])
        local = outputs.render_eps(result.vector) if result.vector else None
        if local is None:
            self.note(NO_PREVIEW)
            return outputs.placeholder()
        return local

    def mask(self) -> torch.Tensor:
        """The transparency of the node's main picture: its image output, else its preview."""
        if "image" in self.names or "images" in self.names:
            return self.images(every="images" in self.names)[1]
        return self.preview()[1]

    def one_of(self, attr: str) -> torch.Tensor:
        blobs = [getattr(r, attr) for r in self.results if getattr(r, attr)]
        return outputs.stack(blobs)[0] if blobs else self.placeholder(attr)[0]


BUILDERS: dict[str, Callable[[Batch], Any]] = {
    "image": lambda b: b.images(every=False)[0],
    "images": lambda b: b.images(every=True)[0],
    "mask": lambda b: b.mask(),
    "grid": lambda b: b.one_of("grid"),
    "image_1x": lambda b: b.one_of("image_1x"),
    "preview": lambda b: b.preview()[0],
    "generated_prompt": lambda b: "\n".join(r.prompt for r in b.results),
    "eps_path": lambda b: "\n".join(outputs.save_eps(r) for r in b.results if r.vector),
    "task_ids": lambda b: "\n".join(r.task_id for r in b.results),
    "svg": lambda b: outputs.svg_object([d for ds in b.svgs() for d in ds]),
    "svg_text": lambda b: "\n".join(d.decode("utf-8") for ds in b.svgs() for d in ds),
}


def build_outputs(names: tuple[str, ...], results: list, ui: Any, input_sizes: list[tuple[int, int]]) -> tuple:
    """Compute each requested output from the batch's results, in order."""
    batch = Batch(results, ui, input_sizes, names)
    return tuple(BUILDERS[name](batch) for name in names)
