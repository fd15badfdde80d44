"""The real node classes, with real torch tensors, against the emulator over HTTP (ComfyUI stubbed)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import finishes, settle, wait_for  # noqa: E402

from hdredraw import nodes  # noqa: E402
from hdredraw.engine import errors, services, specs  # noqa: E402

CONTRACT = {
    "HDRedraw_Redraw": (("image", "IMAGE"), ("generated_prompt", "STRING"), ("eps_path", "STRING")),
    "HDRedraw_Vectorize": (("eps_path", "STRING"), ("preview", "IMAGE")),
    "HDRedraw_FaceEnhance": (("image", "IMAGE"),),
    "HDRedraw_Seamless": (("image", "IMAGE"), ("grid", "IMAGE"), ("image_1x", "IMAGE")),
    "HDRedraw_RemoveFabric": (("image", "IMAGE"),),
    "HDRedraw_EditImage": (("image", "IMAGE"),),
    "HDRedraw_ExtractPattern": (("images", "IMAGE"),),
    "HDRedraw_RemoveDiamonds": (("image", "IMAGE"),),
    "HDRedraw_ExpandImage": (("image", "IMAGE"),),
    "HDRedraw_RemoveWatermark": (("image", "IMAGE"),),
    "HDRedraw_FetchTask": (("images", "IMAGE"), ("grid", "IMAGE"), ("eps_path", "STRING")),
    "HDRedraw_HiDreamVectorize": (("svg", "SVG"), ("svg_text", "STRING"), ("preview", "IMAGE")),
    "HDRedraw_RenderSVG": (("image", "IMAGE"), ("mask", "MASK")),
}


def batch(n=1, h=40, w=56, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, h)[:, None, None]
    x = torch.linspace(0, 1, w)[None, :, None]
    base = torch.cat([x.expand(h, w, 1), y.expand(h, w, 1), (x * y).expand(h, w, 1)], -1)
    return torch.stack([(base * (0.5 + 0.5 * i / max(n, 1)) + 0.02 * torch.rand(h, w, 3, generator=g))
                        .clamp(0, 1) for i in range(n)])


def node(node_id):
    return nodes.NODE_CLASS_MAPPINGS[node_id]()


def widgets(node_id, **overrides):
    """The node's widget defaults, as ComfyUI would pass them."""
    cls = nodes.NODE_CLASS_MAPPINGS[node_id]
    values = {}
    for name, spec in cls.INPUT_TYPES()["required"].items():
        if isinstance(spec[0], list):
            values[name] = spec[1]["default"]
        elif spec[0] in ("FLOAT", "INT", "BOOLEAN", "STRING"):
            values[name] = spec[1]["default"]
    values.update(overrides)
    return values


def run(node_id, image=None, **overrides):
    n = node(node_id)
    kwargs = widgets(node_id, **overrides)
    if image is not None:
        kwargs["image"] = image
    out = settle(getattr(n, n.FUNCTION)(unique_id="7", **kwargs))
    assert out["ui"]["task_ids"] == out["result"][n.RETURN_NAMES.index("task_ids")].splitlines()
    return out["result"]


# --------------------------------------------------------------------------- the contract

def test_every_node_exists_with_the_contracted_outputs():
    assert set(nodes.NODE_CLASS_MAPPINGS) == set(CONTRACT)
    for node_id, expected in CONTRACT.items():
        cls = nodes.NODE_CLASS_MAPPINGS[node_id]
        got = tuple(zip(cls.RETURN_NAMES, cls.RETURN_TYPES, strict=True))[:len(expected)]
        assert got == expected, node_id
        assert not getattr(cls, "API_NODE", False)
        assert cls.CATEGORY.startswith("HD Redraw/")
        assert cls.DESCRIPTION and len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)
        assert node_id in nodes.NODE_DISPLAY_NAME_MAPPINGS
    assert nodes.NODE_CLASS_MAPPINGS["HDRedraw_HiDreamVectorize"].CATEGORY == "HD Redraw/HiDream"


def test_inputs_are_the_api_fields_with_documented_ranges_and_no_credentials():
    for op in specs.paid_operations():
        types = nodes.NODE_CLASS_MAPPINGS[op.node_id].INPUT_TYPES()
        req = types["required"]
        assert list(req)[0] == "image" and req["image"][0] == "IMAGE"
        assert set(req) - {"image", "variation"} == {f.name for f in op.params}
        for f in op.params:
            opts = req[f.name][1]
            assert opts["tooltip"]
            if f.min is not None:
                assert (opts["min"], opts["max"], opts["default"]) == (f.min, f.max, f.default)
        every = [*req, *types.get("optional", {}), *types.get("hidden", {})]
        assert not [n for n in every if any(s in n.lower() for s in ("key", "token", "secret", "password"))]
    seamless = nodes.NODE_CLASS_MAPPINGS["HDRedraw_Seamless"].INPUT_TYPES()["required"]
    assert seamless["direction"][0] == ["all sides", "top-bottom", "left-right"]
    edit = nodes.NODE_CLASS_MAPPINGS["HDRedraw_EditImage"].INPUT_TYPES()["required"]
    assert edit["model_version"][0] == ["v1", "v2"]
    assert nodes.NODE_CLASS_MAPPINGS["HDRedraw_HiDreamVectorize"].INPUT_TYPES()["required"]["mode"][0] == ["fast",
                                                                                                            "slow"]
    redraw = nodes.NODE_CLASS_MAPPINGS["HDRedraw_Redraw"].INPUT_TYPES()["required"]
    assert redraw["sdxl_model_dropdown"] == ("STRING", redraw["sdxl_model_dropdown"][1])
    assert redraw["sdxl_model_dropdown"][1]["default"] == "通用模型"


# --------------------------------------------------------------------------- every node runs

SIMPLE = ["HDRedraw_FaceEnhance", "HDRedraw_RemoveFabric", "HDRedraw_RemoveDiamonds", "HDRedraw_RemoveWatermark",
          "HDRedraw_ExpandImage", "HDRedraw_EditImage"]


@pytest.mark.parametrize("node_id", SIMPLE)
def test_single_image_nodes(comfy, service_env, node_id):
    extra = {"prompt": "make it warmer"} if node_id == "HDRedraw_EditImage" else {}
    image, mask, task_ids = run(node_id, batch(), **extra)
    assert image.dtype == torch.float32 and image.shape[0] == 1 and image.shape[-1] == 3
    assert mask.shape == image.shape[:3] and float(mask.max()) == 0.0
    assert task_ids == service_env.submissions[0]["task_id"]
    assert any(task_ids in text for _, text in comfy.texts)
    assert comfy.bars and comfy.bars[-1] == (1000, 1000)


def test_redraw_upscales_with_prompt_and_eps(comfy, service_env):
    image, prompt, eps_path, mask, ids = run("HDRedraw_Redraw", batch(), upscale=2.0, vector_switch=True,
                                              auto_generate_prompt=True)
    assert image.shape[1:3] == (80, 112) and prompt
    path = Path(eps_path)
    assert path.parent == comfy_output(comfy) and path.read_bytes().startswith(b"%!PS-Adobe")
    sent = service_env.submissions[0]["fields"]
    assert sent["upscale"] == "2" and sent["vector_switch"] == "true" and sent["steps"] == "30"


def comfy_output(comfy):
    return Path(comfy.modules["folder_paths"].get_output_directory()) / "hdredraw"


def test_vectorize_saves_eps_and_previews_the_service_raster(comfy, service_env):
    eps_path, preview, ids = run("HDRedraw_Vectorize", batch(), color_count=3)
    assert Path(eps_path).read_bytes().startswith(b"%!PS-Adobe")
    assert preview.shape == (1, 40, 56, 3)
    assert len(torch.unique(preview.reshape(-1, 3), dim=0)) <= 3


def test_seamless_outputs(comfy, service_env):
    image, grid, one, mask, ids = run("HDRedraw_Seamless", batch(), direction="all sides")
    assert grid.shape[1] == 2 * one.shape[1] and grid.shape[2] == 2 * one.shape[2]
    assert service_env.submissions[0]["fields"]["direction"] == "0"


def test_batch_of_three_runs_concurrently_in_order(comfy, service_env):
    service_env.processing_time = 0.5
    images = batch(3)
    out, mask, ids = run("HDRedraw_RemoveWatermark", images)
    assert out.shape[0] == 3 and len(ids.splitlines()) == 3
    means = [float(o.mean()) for o in out]
    assert means == sorted(means)  # input brightness rises with the index; order is kept
    assert [s["task_id"] for s in service_env.submissions] != [] and len(service_env.submissions) == 3
    assert any("3/3" in text for _, text in comfy.texts)


def test_extract_pattern_results_of_different_sizes_are_padded_and_masked(comfy, service_env):
    images, mask, ids = run("HDRedraw_ExtractPattern", batch(2), aspect_ratio="16:9")
    assert images.shape[0] == 4  # two results per input, all together
    sizes = service_env.submissions
    assert len(sizes) == 2
    # the smaller alternative is padded: its mask is 1 exactly where padding was added
    padded = [i for i in range(4) if float(mask[i].max()) == 1.0]
    assert padded and all(float(mask[i].min()) == 0.0 for i in padded)
    assert any("padded" in text or "填充" in text for _, text in comfy.texts)


def test_alpha_goes_in_as_mask_and_comes_back_as_mask(comfy, service_env):
    img = batch()
    alpha = torch.zeros(1, 40, 56)
    alpha[:, 10:30, 10:40] = 1.0
    mask_in = 1.0 - alpha
    out, mask_out, _ = settle(node("HDRedraw_RemoveWatermark").execute(image=img, mask=mask_in, unique_id="1"))
    assert service_env.submissions[0]["image_mode"] == "RGBA"
    assert torch.allclose(mask_out, mask_in, atol=1 / 255)


def test_hidream_vectorize_returns_comfy_svg(comfy, service_env):
    svg, text, preview, mask, ids = run("HDRedraw_HiDreamVectorize", batch(), mode="fast")
    assert len(svg.data) == 1 and isinstance(svg.data[0], io.BytesIO)
    assert svg.data[0].getvalue().decode() == text and "<svg" in text
    assert preview.shape == (1, 40, 56, 3)


def test_render_svg_any_size_with_alpha_as_mask(comfy):
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            '<rect x="0" y="0" width="5" height="10" fill="#ff0000"/></svg>')
    image, mask = node("HDRedraw_RenderSVG").execute(width=100, height=0, background="", svg_text=text)
    assert image.shape == (1, 100, 100, 3)
    assert float(image[0, 50, 10, 0]) == 1.0 and float(mask[0, 50, 10]) == 0.0 and float(mask[0, 50, 90]) == 1.0


def test_render_svg_fetches_nothing(comfy, emu):
    text = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" '
            f'height="8"><image href="{emu.base_url}/probe.png" width="8" height="8"/>'
            f'<image xlink:href="{emu.base_url}/probe2.png" width="8" height="8"/>'
            f'<rect width="8" height="8" style="fill:url({emu.base_url}/x.svg#p)"/><script>fetch("{emu.base_url}")'
            '</script></svg>')
    node("HDRedraw_RenderSVG").execute(width=16, svg_text=text)
    time.sleep(0.2)
    assert emu.requests == []


def test_fetch_task_returns_results_again_for_free(comfy, service_env):
    _, grid, one, _, ids = run("HDRedraw_Seamless", batch())
    images, grid2, eps, one2, svg, prompt, mask, ids2, listing = settle(node("HDRedraw_FetchTask").execute(
        task_id=ids, service="HD Redraw"))
    assert torch.equal(grid, grid2) and torch.equal(one, one2) and ids2 == ids
    assert len(service_env.submissions) == 1
    assert ids in listing and "seamless" in listing


def test_fetch_task_hidream(comfy, service_env):
    svg, text, *_ , ids = run("HDRedraw_HiDreamVectorize", batch(), mode="fast")
    out = settle(node("HDRedraw_FetchTask").execute(task_id=ids, service="HiDream"))
    assert out[4].data[0].getvalue().decode() == text and out[0].shape[-1] == 3


# --------------------------------------------------------------------------- errors and cancel

def test_each_documented_error_is_one_readable_exception(comfy, service_env, monkeypatch):
    monkeypatch.setenv("HDREDRAW_USER_KEY", "wrong-key-000")
    with pytest.raises(errors.AuthError) as info:
        run("HDRedraw_FaceEnhance", batch())
    assert "账户不存在" in str(info.value) and "HDREDRAW_USER_KEY" in str(info.value)
    service_env.add_account("empty-key-000", 0, 0)
    monkeypatch.setenv("HDREDRAW_USER_KEY", "empty-key-000")
    with pytest.raises(errors.BalanceError):
        run("HDRedraw_FaceEnhance", batch())
    monkeypatch.setenv("HDREDRAW_USER_KEY", service_env.user_key)
    with pytest.raises(errors.ValidationError):
        run("HDRedraw_Redraw", batch(), upscale=9.0)
    with pytest.raises(errors.ValidationError):
        run("HDRedraw_EditImage", batch(), prompt="")
    service_env.fail_next("failed")
    with pytest.raises(errors.TaskFailed) as info:
        run("HDRedraw_RemoveFabric", batch())
    assert info.value.task_id
    service_env.inject("submit", "drop_after_accept")
    with pytest.raises(errors.SubmitUncertain):
        run("HDRedraw_RemoveFabric", batch())
    service_env.fail_next("moderation")
    with pytest.raises(errors.ModerationRejected):
        run("HDRedraw_HiDreamVectorize", batch(), mode="fast")
    with pytest.raises(errors.TaskNotFound):
        settle(node("HDRedraw_FetchTask").execute(task_id="nope", service="HD Redraw"))


def test_missing_base_url(comfy, monkeypatch):
    with pytest.raises(errors.ConfigError, match="HDREDRAW_BASE_URL"):
        run("HDRedraw_FaceEnhance", batch())


def test_one_failure_in_a_batch_names_the_image_and_keeps_the_others(comfy, service_env):
    service_env.fail_next("failed")
    with pytest.raises(errors.TaskFailed) as info:
        run("HDRedraw_FaceEnhance", batch(3))
    text = str(info.value)
    assert "of 3" in text and "Fetch Task" in text


def test_cancel_mid_poll_ends_every_image_at_once(comfy, service_env, monkeypatch):
    """Polls 600 s apart and 600 s tasks: only answering ComfyUI's Interrupt between polls ends the node."""
    monkeypatch.setattr(services.get("hdredraw"), "poll_interval", 600.0)
    service_env.processing_time = 600

    def interrupt_once_both_are_submitted():
        wait_for(lambda: len(service_env.submissions) == 2, "two submissions")
        comfy.interrupt = True

    threading.Thread(target=interrupt_once_both_are_submitted, daemon=True).start()
    with pytest.raises(type(comfy).Interrupted):
        finishes(lambda: run("HDRedraw_FaceEnhance", batch(2)), "the interrupted node")
    still = [service_env.task(s["task_id"])["status"] for s in service_env.submissions]
    assert len(still) == 2 and "Completed" not in still  # the node ended while both tasks were running


def test_bad_tensors(comfy, service_env):
    with pytest.raises(errors.ValidationError):
        run("HDRedraw_FaceEnhance", torch.zeros(0, 8, 8, 3))
    with pytest.raises(errors.ValidationError):
        run("HDRedraw_FaceEnhance", torch.zeros(1, 8, 8, 2))
    weird = batch()
    weird[0, 0, 0] = torch.tensor([float("nan"), float("inf"), -5.0])
    out = run("HDRedraw_FaceEnhance", weird)[0]
    assert torch.isfinite(out).all()
    assert np.isfinite(out.numpy()).all()


def test_status_text_follows_comfyui_language(comfy, service_env, tmp_path):
    settings = Path(comfy.modules["folder_paths"].get_user_directory()) / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"Comfy.Locale": "zh"}')
    run("HDRedraw_RemoveFabric", batch())
    assert "任务" in comfy.texts[-1][1] and "完成" in comfy.texts[-1][1]


def test_one_language_per_line_even_when_the_process_locale_differs(comfy, service_env, monkeypatch):
    """ComfyUI says zh, the process says en: the engine's own notes ("reused …") follow ComfyUI too."""
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    settings = Path(comfy.modules["folder_paths"].get_user_directory()) / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"Comfy.Locale": "zh"}')
    run("HDRedraw_RemoveFabric", batch(seed=3))
    run("HDRedraw_RemoveFabric", batch(seed=3))  # reused: the note comes from the engine
    last = comfy.texts[-1][1]
    assert "复用" in last and "Reused" not in last and "task" not in last
