"""Untrusted SVG: what the nodes output, save and render is safe, sized before it is drawn, and bounded.

SVG comes from a paid service (HiDream img2svg) or from users.  These tests feed hostile documents through the
real nodes (the emulator serves them as HiDream results) and through the engine, with real bytes.
"""

from __future__ import annotations

import base64
import io
import re
import sys
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from helpers import settle

from hdredraw.engine import errors, svg, svgrender

NS = 'xmlns="http://www.w3.org/2000/svg"'
XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
RECT = '<rect id="r" width="10" height="10" fill="#ff0000"/>'
HOSTILE_VIEWBOX = f'<svg {NS} viewBox="0 0 1 2000000"><rect width="1" height="2000000" fill="#00f"/></svg>'


@pytest.fixture
def nodes():
    pytest.importorskip("torch")
    from hdredraw import nodes as nodes_mod

    return nodes_mod


@pytest.fixture
def serve_svg(monkeypatch):
    """Make the emulator's HiDream vectorize return this markup as its result."""
    from hdredraw.engine.emulator import imaging

    def serve(markup: str) -> None:
        monkeypatch.setitem(imaging.TRANSFORMS, "hidream_vectorize",
                            lambda img, params: imaging.Outputs([], svg=markup))
    return serve


def image(h=40, w=56):
    import torch

    return torch.rand(1, h, w, 3, generator=torch.Generator().manual_seed(1))


def vectorize(nodes, img=None):
    n = nodes.NODE_CLASS_MAPPINGS["HDRedraw_HiDreamVectorize"]()
    return settle(n.execute(image=image() if img is None else img, mode="fast", unique_id="3"))


def render_node(nodes, text, width=0, height=0, background=""):
    return nodes.NODE_CLASS_MAPPINGS["HDRedraw_RenderSVG"]().execute(width=width, height=height,
                                                                      background=background, svg_text=text)


def bilingual(exc: BaseException) -> bool:
    return isinstance(exc, errors.HDRedrawError) and bool(exc.en) and bool(re.search(r"[\u4e00-\u9fff]", exc.zh))


# --------------------------------------------------------------------------- 1. sized and capped before drawing

def test_hostile_viewbox_preview_is_capped_and_the_process_survives(comfy, service_env, serve_svg, nodes):
    """viewBox 0 0 1 2000000 previewed at the input's width was a 25 GB canvas: resvg aborted ComfyUI."""
    serve_svg(HOSTILE_VIEWBOX)
    out_svg, text, preview, mask, ids = vectorize(nodes)
    _, h, w, _ = preview.shape
    assert max(h, w) <= svgrender.MAX_RENDER_SIDE and h * w <= svgrender.MAX_RENDER_PIXELS
    assert (h, w) == (svgrender.MAX_RENDER_SIDE, 1)  # fitted, aspect kept as far as pixels allow
    assert mask.shape == preview.shape[:3]
    again = settle(nodes.NODE_CLASS_MAPPINGS["HDRedraw_FetchTask"]().execute(task_id=ids, service="HiDream"))
    assert max(again[0].shape[1:3]) <= svgrender.MAX_RENDER_SIDE


def test_render_svg_sizes_over_the_cap_are_clean_errors(nodes):
    with pytest.raises(errors.ValidationError) as info:  # one side asked for; the other follows the aspect ratio
        render_node(nodes, HOSTILE_VIEWBOX, width=1000)
    assert bilingual(info.value) and "16384" in str(info.value)
    with pytest.raises(errors.ValidationError) as info:  # both asked for, over the total
        render_node(nodes, f'<svg {NS} width="10" height="10"/>', width=16384, height=16384)
    assert bilingual(info.value)
    image_, mask = render_node(nodes, f'<svg {NS} width="40000" height="20">{RECT}</svg>')  # own size: fitted
    assert image_.shape[1:3] == (8, svgrender.MAX_RENDER_SIDE)


@pytest.mark.parametrize("attrs", ['width="0" height="10"', 'width="-5" height="10"', 'width="1e999" height="1"',
                                   'viewBox="0 0 1e-300 1e300" width="1e-300"'])
def test_an_svg_without_a_usable_size_is_a_clean_error(nodes, attrs):
    with pytest.raises(errors.ValidationError) as info:
        render_node(nodes, f"<svg {NS} {attrs}>{RECT}</svg>")
    assert bilingual(info.value) and "width" in info.value.en


SIZES = [  # root attributes (documents without content, so resvg's own choice is its size rule alone)
    'width="30" height="20"', 'width="10.2" height="10.7"', 'width="10mm" height="1in"', 'width="72pt" height="2cm"',
    'width="3pc" height="40q"', 'width="2em" height="3ex"', 'width="2em" height="1em" font-size="20"',
    'viewBox="0 0 30 40"', 'viewBox="0,0,30,41" width="200"', 'viewBox="0 0 30 40" height="200"',
    'viewBox="5 5 30 40" width="50%"', 'viewBox="0 0 30 40" width="20" height="20"', 'width="50%"',
    'width="50%" height="10"', "", 'width="abc" height="20"', 'viewBox="0 0 -1 40"', 'viewBox="0 0 30"',
    'width="1e3" height="2E1"', 'width="+20" height=".5e1"',
]


@pytest.mark.parametrize("attrs", SIZES)
def test_own_size_is_what_resvg_picks(attrs):
    resvg_py = pytest.importorskip("resvg_py")
    from PIL import Image

    doc = f"<svg {NS} {attrs}/>"
    with Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=doc, dpi=96)))) as im:
        expected = im.size
    w0, h0, _ = svgrender.intrinsic_size(svg.parse(doc))
    assert svgrender.plan_size((w0, h0)) == expected
    assert svgrender.render(doc).shape[:2] == expected[::-1]


def test_plan_size_caps_every_request():
    for w0, h0 in [(1, 2e6), (2e6, 1), (1e-3, 1e12), (7, 3), (123456, 654321)]:
        for request in [(0, 0), (56, 0), (0, 56), (16384, 0), (0, 16384)]:
            w, h = svgrender.plan_size((w0, h0), *request, fit=True)
            assert 1 <= w <= svgrender.MAX_RENDER_SIDE and 1 <= h <= svgrender.MAX_RENDER_SIDE
            assert w * h <= svgrender.MAX_RENDER_PIXELS
    assert svgrender.plan_size((300, 201), 200, 0) == (200, 134)
    assert svgrender.plan_size((300, 201), 0, 67) == (100, 67)
    assert svgrender.plan_size((300, 201), 200, 150) == (200, 150)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the renderer's memory limit is Linux's RLIMIT_AS")
def test_an_allocation_the_size_cannot_predict_fails_cleanly():
    """A pattern tile of 100000² px is a 40 GB allocation inside resvg whatever the canvas size: resvg aborts.
    That happens in the renderer's own process, and the node gets a clean error."""
    doc = (f'<svg {NS} width="100" height="100"><defs><pattern id="p" width="100000" height="100000" '
           f'patternUnits="userSpaceOnUse"><rect width="10" height="10"/></pattern></defs>'
           f'<rect width="100" height="100" fill="url(#p)"/></svg>')
    with pytest.raises(errors.ResultError) as info:
        svgrender.render(doc, 100, 100)
    assert bilingual(info.value)


def test_nesting_that_overflows_resvgs_stack_in_a_normal_thread_renders():
    """250 nested groups with opacity overflow an 8 MB stack inside resvg (a segfault, not an exception)."""
    doc = f"<svg {NS} width=\"20\" height=\"20\">" + '<g opacity=".99">' * 250 + RECT + "</g>" * 250 + "</svg>"
    out = svgrender.render(doc, 20, 20)
    assert out.shape == (20, 20, 4) and tuple(out[5, 5, :3]) == (255, 0, 0)


SLOW = (f'<svg {NS} width="8000" height="8000"><filter id="t"><feTurbulence baseFrequency=".01" numOctaves="10"/>'
        '</filter><rect width="8000" height="8000" filter="url(#t)"/></svg>')


def test_cancel_stops_the_renderer(comfy, nodes):
    calls = []
    with pytest.raises(errors.ResultError, match="cancelled"):
        svgrender.render(SLOW, cancel=lambda: calls.append(1) or True)
    assert calls
    comfy.interrupt = True  # ComfyUI's Cancel: the node run ends as interrupted, not as an error
    with pytest.raises(type(comfy).Interrupted):
        render_node(nodes, SLOW)


# --------------------------------------------------------------------------- 2. exact sizes, preserveAspectRatio

def _half_and_half(par: str = "") -> str:
    return (f'<svg {NS} width="300" height="200" {par}><rect width="150" height="200" fill="#ff0000"/>'
            f'<rect x="150" width="150" height="200" fill="#0000ff"/></svg>')


def test_render_svg_both_sides_give_exactly_that_size_letterboxed(nodes):
    img, mask = render_node(nodes, f'<svg {NS} width="300" height="201">'
                                   '<rect width="300" height="201" fill="#ff0000"/></svg>', 200, 150)
    assert img.shape == (1, 150, 200, 3)  # was 200×134
    assert float(mask[0, 2, 100]) == 1.0 and float(mask[0, 147, 100]) == 1.0  # transparent bands, centred
    assert float(mask[0, 75, 100]) == 0.0 and float(img[0, 75, 100, 0]) == 1.0


def test_preserve_aspect_ratio_none_stretches_and_slice_crops(nodes):
    img, mask = render_node(nodes, _half_and_half('preserveAspectRatio="none"'), 100, 200)
    assert img.shape == (1, 200, 100, 3) and float(mask.max()) == 0.0
    assert float(img[0, 100, 10, 0]) == 1.0 and float(img[0, 100, 90, 2]) == 1.0
    img, mask = render_node(nodes, _half_and_half('viewBox="0 0 300 200" preserveAspectRatio="xMidYMid slice"'),
                            100, 200)
    assert float(mask.max()) == 0.0  # covered, not letterboxed
    assert float(img[0, 100, 40, 0]) == 1.0 and float(img[0, 100, 60, 2]) == 1.0  # the middle 100 px
    img, mask = render_node(nodes, _half_and_half('preserveAspectRatio="xMinYMin meet"'), 300, 300)
    assert float(mask[0, 100, 150]) == 0.0 and float(mask[0, 250, 150]) == 1.0  # top-aligned


def test_without_a_viewbox_the_document_still_scales_to_the_size(nodes):
    img, mask = render_node(nodes, f'<svg {NS} width="10mm" height="5mm"><rect width="100%" height="100%" '
                                   'fill="#00ff00"/></svg>', 200, 100)
    assert img.shape == (1, 100, 200, 3) and float(mask.max()) == 0.0


def test_one_side_keeps_the_aspect_ratio_and_none_keeps_the_own_size(nodes):
    doc = f'<svg {NS} width="300" height="201">{RECT}</svg>'
    assert render_node(nodes, doc, 200, 0)[0].shape == (1, 134, 200, 3)
    assert render_node(nodes, doc, 0, 67)[0].shape == (1, 67, 100, 3)
    assert render_node(nodes, doc)[0].shape == (1, 201, 300, 3)


# --------------------------------------------------------------------------- 3. nothing that runs or fetches

SCRIPTY = [
    '<script>alert(1)</script>', '<script xlink:href="http://e/x.js"/>',
    '<rect width="5" height="5" onload="alert(1)" onClick="alert(1)"/>',
    '<a href="javascript:alert(1)"><rect width="5" height="5"/></a>',
    '<a xlink:href="JaVaScRiPt:alert(1)"><rect width="5" height="5"/></a>',
    '<a href=" java&#x09;script:alert(1)"><rect width="5" height="5"/></a>',
    '<a href="&#106;avascript:alert(1)"><rect width="5" height="5"/></a>',
    '<a href="http://evil.example/"><rect width="5" height="5"/></a>',
    '<animate attributeName="href" values="javascript:alert(1)" begin="0s"/>',
    '<a href="#r"><animate attributeName="xlink:href" to="javascript:alert(1)"/></a>',
    '<set attributeName="onclick" to="alert(1)"/>', '<animateTransform attributeName="transform"/>',
    '<use href="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+#x"/>',
    '<use xlink:href="other.svg#x"/>', '<image href="data:text/html;base64,PHNjcmlwdD4="/>',
    '<image href="data:image/svg+xml,&lt;svg onload=alert(1)&gt;"/>',
    '<foreignObject><body xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></body></foreignObject>',
    '<iframe src="javascript:alert(1)"/>', '<embed src="http://e/x.swf"/>', '<object data="http://e/x"/>',
    '<html:script xmlns:html="http://www.w3.org/1999/xhtml">alert(1)</html:script>',
    '<style>@import url(http://e/x.css); @import "http://e/y.css"; rect{fill:#ff0000}</style>',
    '<style>@font-face{font-family:x;src:url(http://e/f.woff)} .a{background:url(http://e/t.png)}</style>',
    '<style>.a{fill:u\\72l(http://e/x)} rect{behavior:url(x.htc);-moz-binding:url(http://e/b)}</style>',
    '<style><![CDATA[rect{fill:expression(alert(1))}]]></style>',
    '<rect width="5" height="5" style="fill:url(http://e/x.svg#p);stroke:expression(alert(1))"/>',
    '<rect width="5" height="5" style="fill:u\\rl(http://e/x)" fill="url(&quot;http://e/x#y&quot;)"/>',
    '<rect width="5" height="5" filter="url(http://e/f.svg#f)" mask="url(data:image/svg+xml,x)"/>',
    '<image href="http://127.0.0.1:9/track.png" width="5" height="5"/>',
    '<image xlink:href="file:///etc/passwd" width="5" height="5"/>',
    '<feImage href="https://e/x.png"/>', '<handler type="application/ecmascript">alert(1)</handler>',
    '<rect width="5" height="5" xml:base="http://e/"/>', '<color-profile xlink:href="http://e/p.icc"/>',
]
FORBIDDEN = ("script", "javascript", "alert", "http:", "https:", "file:", "data:text", "svg+xml", "expression",
             "@import", "@font-face", "behavior", "binding", "foreignobject", "iframe", "embed", "object",
             "animate", "<set", "onload", "onclick", "other.svg", "\\", "xml:base", "color-profile", "handler")


@pytest.mark.parametrize("payload", SCRIPTY)
def test_sanitize_document_keeps_the_drawing_and_drops_what_runs_or_fetches(payload):
    clean = svg.sanitize_document(f'<svg {NS} {XLINK} width="10" height="10">{RECT}{payload}</svg>')
    text = clean.decode("utf-8")
    body = text.replace(f"<svg {NS} {XLINK}", "<svg", 1)  # the namespace names are the only URLs left
    assert not [word for word in FORBIDDEN if word in body.lower()], text
    root = ET.fromstring(clean)  # standalone, namespaced SVG
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert text.startswith(f'<svg {NS} {XLINK}')
    assert root.find("{http://www.w3.org/2000/svg}rect").get("fill") == "#ff0000"
    assert svg.sanitize_document(clean) == clean  # idempotent: saving a saved file changes nothing


def test_sanitize_document_keeps_what_a_drawing_uses():
    png = _png(4, 4)
    doc = (f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
           f'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><?xml-stylesheet href="http://e/x.css"?>'
           f'<!-- note --><svg {NS} {XLINK} viewBox="0 0 10 10"><defs><linearGradient id="g"><stop offset="0" '
           f'stop-color="#fff"/></linearGradient><g id="s"><path d="M0 0L5 5"/></g></defs>'
           f'<style>.a{{fill:url(#g)}} rect&gt;x{{stroke:rgb(1,2,3)}}</style>'
           f'<use xlink:href="#s" transform="rotate(45 5 5)"/><rect class="a" width="4" height="4" '
           f'style="fill:url(\'#g\');opacity:.5"/><text xml:space="preserve" x="1" y="9">A &amp; B</text>'
           f'<image width="4" height="4" href="data:image/png;base64,{png}"/></svg>')
    text = svg.sanitize_document(doc).decode().replace(f"<svg {NS} {XLINK}", "<svg", 1)
    for kept in ('xlink:href="#s"', 'transform="rotate(45 5 5)"', ".a{fill:url(#g)}", "stroke:rgb(1,2,3)",
                 "fill:url('#g');opacity:.5", "A &amp; B", 'xml:space="preserve"', f"base64,{png}", 'class="a"',
                 'stop-color="#fff"', 'viewBox="0 0 10 10"'):
        assert kept in text, kept
    assert "DOCTYPE" not in text and "<?" not in text and "<!--" not in text and "http" not in text


def _png(w: int, h: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (255, 0, 0)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_embedded_rasters_must_be_what_they_claim_and_small():
    bomb = bytearray(base64.b64decode(_png(1, 1)))
    bomb[16:24] = (100000).to_bytes(4, "big") + (100000).to_bytes(4, "big")  # IHDR says 100000×100000
    bomb[29:33] = zlib.crc32(bytes(bomb[12:29])).to_bytes(4, "big")  # a valid header: only the size lies
    for href in (f"data:image/png;base64,{base64.b64encode(bytes(bomb)).decode()}",
                 f"data:image/jpeg;base64,{_png(2, 2)}", "data:image/png;base64,!!!!"):
        assert "base64" not in svg.sanitize_document(f'<svg {NS}><image width="1" height="1" href="{href}"/></svg>'
                                                     ).decode()


@pytest.mark.parametrize("doc", [
    '<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><svg {NS}>&b;</svg>',
    '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg {NS}><text>&x;</text></svg>',
    '<!DOCTYPE svg SYSTEM "http://e/x.dtd" [<!ATTLIST svg onload CDATA "alert(1)">]><svg {NS}/>',
    '<svg {NS}><text>&nbsp;</text></svg>', "<html><script>alert(1)</script></html>", "not markup at all",
    '<svg {NS}><rect></svg>', "", '<svg xmlns="http://www.w3.org/1999/xhtml"/>',
])
def test_entities_dtds_and_non_svg_are_refused_cleanly(doc):
    with pytest.raises(errors.ValidationError) as info:
        svg.sanitize_document(doc.replace("{NS}", NS))
    assert bilingual(info.value)


def test_hidream_and_fetch_task_outputs_are_sanitized(comfy, service_env, serve_svg, nodes, tmp_path):
    evil = (f'<svg {NS} {XLINK} width="56" height="40" onload="alert(1)"><script>alert(1)</script>'
            f'<a href="java&#x09;script:alert(1)">{RECT}</a><image href="{service_env.base_url}/t.png"/>'
            f'<set attributeName="onmouseover" to="alert(1)"/></svg>')
    serve_svg(evil)
    out_svg, text, preview, mask, ids = vectorize(nodes)
    saved = out_svg.data[0].getvalue()
    for body in (text, saved.decode()):  # what Save SVG writes and /view serves, and the text output
        body = body.replace(f"<svg {NS} {XLINK}", "<svg", 1)
        assert "alert" not in body and "script" not in body and "http" not in body and "<set" not in body
    assert 'fill="#ff0000"' in text and saved.decode() == text and saved == svg.sanitize_document(evil)
    fetched = settle(nodes.NODE_CLASS_MAPPINGS["HDRedraw_FetchTask"]().execute(task_id=ids, service="HiDream"))
    assert fetched[4].data[0].getvalue() == saved
    assert not [r for r in service_env.requests if "/t.png" in r.get("path", "")]
    kept = b"".join(p.read_bytes() for p in (tmp_path / "hdredraw-data").rglob("*") if p.is_file())
    assert b"alert(1)" not in kept and b"<script" not in kept  # the journal keeps only the safe markup


def test_rendering_never_reads_local_files(tmp_path):
    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(secret)
    for href in (secret.as_uri(), str(secret), "secret.png"):
        out = svgrender.render(f'<svg {NS} width="8" height="8"><image href="{href}" width="8" height="8"/></svg>')
        assert int(out[..., 3].max()) == 0, href


# --------------------------------------------------------------------------- 4. bounded parsing

def test_deep_nesting_is_a_clean_error_not_a_recursion_error(nodes):
    doc = f'<svg {NS}>' + "<g>" * 100_000 + "</g>" * 100_000 + "</svg>"
    with pytest.raises(errors.ValidationError) as info:
        render_node(nodes, doc)
    assert bilingual(info.value) and "256" in info.value.en
    with pytest.raises(errors.ValidationError):
        svg.sanitize_document(doc)


def test_huge_svg_text_is_refused_before_parsing(nodes):
    doc = f'<svg {NS}>' + "<path d='M0 0'/>" * (50 * 1024 * 1024 // 16) + "</svg>"
    with pytest.raises(errors.ValidationError) as info:
        render_node(nodes, doc)
    assert bilingual(info.value) and "MB" in info.value.en
    with pytest.raises(errors.ValidationError):
        svg.sanitize_document(doc.encode())


def test_a_refused_service_result_names_its_task(comfy, service_env, serve_svg, nodes):
    serve_svg(f'<svg {NS}>' + "<g>" * 5000 + "</g>" * 5000 + "</svg>")
    with pytest.raises(errors.ResultError) as info:
        vectorize(nodes)
    assert info.value.task_id and bilingual(info.value)


def test_use_explosions_are_refused_and_use_cycles_cut():
    groups = ['<g id="a0"><path d="M0 0h1"/></g>'] + [
        f'<g id="a{i}">' + f'<use href="#a{i - 1}"/>' * 10 + "</g>" for i in range(1, 9)]
    with pytest.raises(errors.ValidationError) as info:
        svg.sanitize_document(f'<svg {NS}><defs>{"".join(groups)}</defs><use href="#a8"/></svg>')
    assert bilingual(info.value) and "<use>" in info.value.en
    chain = "".join(f'<g id="c{i}"><use href="#c{i - 1}"/></g>' for i in range(1, 400))
    with pytest.raises(errors.ValidationError):
        svg.sanitize_document(f'<svg {NS}><g id="c0"/>{chain}</svg>')
    cyclic = svg.sanitize_document(f'<svg {NS}><g id="x"><use href="#x"/>{RECT}</g></svg>').decode()
    assert "<use/>" in cyclic and 'fill="#ff0000"' in cyclic


def test_split_keeps_nested_svgs_in_their_document(nodes):
    one = f'<svg {NS} width="10" height="10"><svg width="5" height="5">{RECT}</svg><svg/></svg>'
    img, mask = render_node(nodes, one + "\n" + one, 10, 10)
    assert img.shape == (2, 10, 10, 3)
    assert np.allclose(img[0].numpy(), img[1].numpy())


def test_adversarial_values_cost_linear_time(nodes):
    """Long values that make a backtracking regex go quadratic (minutes for these sizes) are handled in one pass."""
    n = 300_000
    values = ["rgb(" + "a" * n, "(" * n, "u" * n + "rl(", " /*" * (n // 3), "url(#" + "a" * n]
    for value in values:
        doc = f'<svg {NS} width="{"1" * n}x" viewBox="{"1" * n}" style="fill:{value}"><rect fill="{value}"/>' \
              f"<style>{value}{{fill:red}}</style></svg>"
        assert ET.fromstring(svg.sanitize_document(doc)) is not None
        assert svgrender.intrinsic_size(svg.parse(doc))[:2] == (100.0, 100.0)
    with pytest.raises(errors.ValidationError):  # never a complete <svg>: handed whole to the parser
        render_node(nodes, "<svg " * (n // 5))
