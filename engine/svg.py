"""SVG made safe to keep, show and render.

SVG comes from a paid service (HiDream img2svg) or from users, and the pack hands it on: to core Save SVG
(whose file ComfyUI's /view serves in ComfyUI's own origin), as text, and to the renderer.  So every document
is rebuilt from an allow-list of static SVG elements and attributes: nothing that can run (scripts, handlers,
animation that rewrites links, foreignObject/iframe/embed), nothing that can fetch (any reference other than
a local `#fragment`, or an inline raster `data:image/png|jpeg|gif|webp`), no DTDs or entities, no processing
instructions or comments.  Parsing is streaming and bounded (size, depth, element count, and the size the
document would have once `use` and `url(#…)` references are expanded), so hostile input ends in one clean
bilingual error instead of a RecursionError or an exhausted process.  Rendering lives in `svgrender`
(which uses this module; nothing here uses it).
"""

from __future__ import annotations

import base64
import io
import re
import xml.parsers.expat as expat

from .errors import ValidationError

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_SVG_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 256          # libxml2's default nesting limit; real drawings stay far below it
MAX_ELEMENTS = 1_000_000
MAX_EXPANDED = 2_000_000  # elements once every use / url(#…) reference is followed
MAX_EMBEDDED_PIXELS = 64_000_000

ELEMENTS = frozenset("""svg g defs symbol use switch title desc style path rect circle ellipse line polyline polygon
    text tspan textPath image linearGradient radialGradient stop pattern clipPath mask marker filter feBlend
    feColorMatrix feComponentTransfer feComposite feConvolveMatrix feDiffuseLighting feDisplacementMap
    feDistantLight feDropShadow feFlood feFuncA feFuncB feFuncG feFuncR feGaussianBlur feImage feMerge
    feMergeNode feMorphology feOffset fePointLight feSpecularLighting feSpotLight feTile feTurbulence""".split())
RENAMED = {"a": "g"}  # a link keeps its drawing, loses its link
PROPERTIES = frozenset("""alignment-baseline baseline-shift clip clip-path clip-rule color color-interpolation
    color-interpolation-filters color-rendering direction display dominant-baseline fill fill-opacity fill-rule
    filter flood-color flood-opacity font font-family font-feature-settings font-kerning font-size
    font-size-adjust font-stretch font-style font-variant font-weight image-rendering isolation letter-spacing
    lighting-color marker marker-end marker-mid marker-start mask mask-type mix-blend-mode opacity overflow
    paint-order shape-rendering stop-color stop-opacity stroke stroke-dasharray stroke-dashoffset
    stroke-linecap stroke-linejoin stroke-miterlimit stroke-opacity stroke-width text-anchor text-decoration
    text-rendering transform transform-box transform-origin unicode-bidi vector-effect visibility white-space
    word-spacing writing-mode""".split())
ATTRIBUTES = PROPERTIES | frozenset("""id class style x y x1 y1 x2 y2 cx cy r rx ry fx fy fr width height d
    points pathLength viewBox preserveAspectRatio version gradientUnits gradientTransform spreadMethod offset
    patternUnits patternContentUnits patternTransform clipPathUnits maskUnits maskContentUnits markerUnits
    markerWidth markerHeight refX refY orient filterUnits primitiveUnits in in2 result stdDeviation dx dy rotate
    textLength lengthAdjust startOffset method spacing side type values tableValues slope intercept amplitude
    exponent k1 k2 k3 k4 operator radius order kernelMatrix divisor bias targetX targetY edgeMode preserveAlpha
    kernelUnitLength surfaceScale diffuseConstant specularConstant specularExponent azimuth elevation pointsAtX
    pointsAtY pointsAtZ limitingConeAngle z scale xChannelSelector yChannelSelector baseFrequency numOctaves
    seed stitchTiles mode systemLanguage media lang xml:space xml:lang href""".split())
FUNCTIONS = frozenset("""url rgb rgba hsl hsla matrix translate translatex translatey scale scalex scaley rotate
    skew skewx skewy blur brightness contrast drop-shadow grayscale hue-rotate invert opacity saturate
    sepia""".split())
RASTER_HREF = {"image", "feImage"}
HREF_TAGS = RASTER_HREF | {"use", "textPath", "linearGradient", "radialGradient", "pattern", "filter"}
RASTER_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP"}

_FRAGMENT = r"#[^\s'\"()\\;,<>#]+"
_FRAGMENT_RE = re.compile(_FRAGMENT)
_URL_RE = re.compile(r"url\(\s*(['\"]?)(" + _FRAGMENT + r")\1\s*\)", re.I)
_BRACE_RE = re.compile(r"[{}]")
_DATA_RE = re.compile(r"data:image/(png|jpeg|jpg|gif|webp);base64,([A-Za-z0-9+/=]*)", re.I)
_WS_RE = re.compile(r"[\x00-\x20]+")


def _reject(en: str, zh: str) -> ValidationError:
    return ValidationError(f"This SVG was refused: {en}", f"此 SVG 被拒绝:{zh}")


class Element:
    """One kept element: local SVG name, attributes (`href` for either spelling), children (Element or str)."""

    __slots__ = ("tag", "attrs", "children")

    def __init__(self, tag: str, attrs: dict[str, str]):
        self.tag = tag
        self.attrs = attrs
        self.children: list[Element | str] = []


# --------------------------------------------------------------------------- values

def safe_value(value: str) -> bool:
    """True when a presentation value can neither fetch nor run anything: no CSS escapes or comments, and every
    function is a harmless one (colours, transforms, filter functions) or `url(#local-fragment)`.  Linear in
    the value's length (no regex that can backtrack over a long value)."""
    if "\\" in value or "/*" in value or "<" in value:
        return False
    pos = value.find("(")
    while pos >= 0:  # the identifier just before each "(" is the function's name
        end = pos
        while end and value[end - 1] in " \t\r\n\f":
            end -= 1
        start = end
        while start and (value[start - 1].isalnum() or value[start - 1] in "_-"):
            start -= 1
        name = value[start:end].lower()
        if name not in FUNCTIONS or (name == "url" and not _URL_RE.match(value, start)):
            return False
        pos = value.find("(", pos + 1)
    return True


def strip_comments(css: str) -> str | None:
    """CSS without /* comments */ (None when one is left open), in one pass."""
    out, i = [], 0
    while (start := css.find("/*", i)) >= 0:
        end = css.find("*/", start + 2)
        if end < 0:
            return None
        out.append(css[i:start])
        out.append(" ")
        i = end + 2
    out.append(css[i:])
    return "".join(out)


def clean_declarations(text: str) -> str:
    """A `style` attribute (or rule body) keeping only allowed properties with safe values."""
    text = strip_comments(text) or ""
    kept = []
    for decl in text.split(";"):
        name, sep, value = decl.partition(":")
        name, value = name.strip().lower(), value.strip()
        if sep and name in PROPERTIES and value and safe_value(value):
            kept.append(f"{name}:{value}")
    return ";".join(kept)


def clean_stylesheet(css: str) -> str:
    """A `<style>` sheet keeping plain rules only: no at-rules (@import, @font-face, @media…), no escapes."""
    text = strip_comments(css)
    if text is None or "\\" in text or "<" in text:
        return ""
    rules: list[str] = []
    depth, head, body = 0, 0, 0
    for m in _BRACE_RE.finditer(text):
        if m.group() == "{":
            if depth == 0:
                body = m.end()
            depth += 1
        elif depth == 0:
            head = m.end()  # a stray "}"
        else:
            depth -= 1
            if depth == 0:  # one complete rule (or at-rule block) ends here
                selector = text[head:body - 1].rsplit(";", 1)[-1].strip()  # after any "@import …;"
                decls = clean_declarations(text[body:m.start()]) if "{" not in text[body:m.start()] else ""
                if selector and "@" not in selector and decls:
                    rules.append(f"{selector}{{{decls}}}")
                head = m.end()
    return "\n".join(rules)


def _raster_ok(kind: str, payload: str) -> bool:
    """An embedded raster is kept only if it is the format it claims and small enough to decode safely."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as im:
            return im.format == RASTER_FORMATS[kind] and im.width * im.height <= MAX_EMBEDDED_PIXELS
    except Exception:  # Pillow raises many types for broken data; any of them means "drop it"
        return False


def clean_href(tag: str, value: str) -> str | None:
    """A local `#fragment`, or an inline raster for <image>/<feImage>; None for anything else."""
    compact = _WS_RE.sub("", value)  # browsers drop ASCII whitespace and controls from URLs ("java\tscript:")
    if _FRAGMENT_RE.fullmatch(compact):
        return compact
    m = _DATA_RE.fullmatch(compact)
    if tag in RASTER_HREF and m and _raster_ok(m.group(1).lower(), m.group(2)):
        return compact
    return None


def _clean_attrs(tag: str, raw: dict[str, str]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for key, value in raw.items():
        ns, _, local = key.rpartition("}")
        if ns == XML_NS and local in ("space", "lang"):
            name = "xml:" + local
        elif ns in ("", XLINK_NS) and local == "href":
            if tag not in HREF_TAGS or (ns == XLINK_NS and "href" in attrs):
                continue  # SVG 2: plain href wins over xlink:href
            href = clean_href(tag, value)
            if href is not None:
                attrs["href"] = href
            continue
        elif ns:
            continue
        else:
            name = local
        if name not in ATTRIBUTES:
            continue
        if name == "style":
            value = clean_declarations(value)
            if value:
                attrs[name] = value
        elif safe_value(value):
            attrs[name] = value
    return attrs


# --------------------------------------------------------------------------- parsing

class _Builder:
    """Expat callbacks that keep only allowed content, counting depth and elements as they go."""

    def __init__(self) -> None:
        self.stack: list[Element | None] = []
        self.root: Element | None = None
        self.elements = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise _reject(f"more than {MAX_ELEMENTS:,} elements.", f"元素超过 {MAX_ELEMENTS:,} 个。")
        if len(self.stack) >= MAX_DEPTH:
            raise _reject(f"elements are nested more than {MAX_DEPTH} deep.", f"元素嵌套超过 {MAX_DEPTH} 层。")
        ns, _, local = name.rpartition("}")
        parent = self.stack[-1] if self.stack else None
        tag = RENAMED.get(local, local)
        if not self.stack:
            if ns not in ("", SVG_NS) or local != "svg":
                raise _reject("the markup is not an <svg> document.", "内容不是 <svg> 文档。")
        elif parent is None or ns not in ("", SVG_NS) or tag not in ELEMENTS:
            self.stack.append(None)  # dropped, with everything inside it
            return
        el = Element(tag, _clean_attrs(tag, attrs))
        if parent is None:
            self.root = el
        else:
            parent.children.append(el)
        self.stack.append(el)

    def end(self, name: str) -> None:
        el = self.stack.pop()
        if el is not None and el.tag == "style":
            kind = el.attrs.get("type", "text/css").split(";")[0].strip().lower()
            text = "".join(c for c in el.children if isinstance(c, str))
            sheet = clean_stylesheet(text) if kind in ("", "text/css") else ""
            el.children = [sheet] if sheet else []

    def data(self, text: str) -> None:
        if self.stack and self.stack[-1] is not None:
            self.stack[-1].children.append(text)


def _refuse_dtd(name: str, system_id: str | None, public_id: str | None, has_internal_subset: int) -> None:
    if has_internal_subset:
        raise _reject("it declares a DTD internal subset (entities are not accepted).",
                      "包含 DTD 内部子集(不接受实体声明)。")


def _refuse_entity(*_args: object) -> None:
    raise _reject("it declares entities.", "包含实体声明。")

def _as_bytes(data: bytes | bytearray | memoryview | str) -> tuple[bytes, str | None]:
    """The bytes to parse and the encoding to force (text is parsed as the UTF-8 it is encoded to here,
    whatever its XML declaration says).  Leading whitespace before an XML declaration is forgiven."""
    if isinstance(data, str):
        if len(data) > MAX_SVG_BYTES:
            raise _too_big(len(data))
        return data.lstrip(" \t\r\n\ufeff").encode("utf-8", "surrogatepass"), "UTF-8"
    return bytes(data).lstrip(b" \t\r\n"), None


def _too_big(size: int) -> ValidationError:
    mb = MAX_SVG_BYTES // (1024 * 1024)
    return _reject(f"it is {size / 1048576:.1f} MB; at most {mb} MB is accepted.",
                   f"大小为 {size / 1048576:.1f} MB,最多接受 {mb} MB。")


def parse(data: bytes | bytearray | memoryview | str) -> Element:
    """The document's allowed content as a tree (ValidationError, in both languages, for anything refused)."""
    raw, encoding = _as_bytes(data)
    if len(raw) > MAX_SVG_BYTES:
        raise _too_big(len(raw))
    builder = _Builder()
    parser = expat.ParserCreate(encoding, namespace_separator="}")
    parser.buffer_text = True
    parser.specified_attributes = True  # DTD-defaulted attributes are not reported
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(raw, True)
    except expat.ExpatError as exc:
        raise ValidationError(f"This is not valid SVG markup ({expat.errors.messages[exc.code]}, line "
                              f"{exc.lineno}).", f"不是有效的 SVG({expat.errors.messages[exc.code]},第 "
                              f"{exc.lineno} 行)。") from None
    except RecursionError:  # not expected (everything here is iterative), but never let one reach a user
        raise _reject("it is nested too deeply.", "嵌套过深。") from None
    if builder.root is None:
        raise _reject("the markup is not an <svg> document.", "内容不是 <svg> 文档。")
    _check_references(builder.root)
    return builder.root


def _references(el: Element) -> list[str]:
    refs = [el.attrs["href"][1:]] if el.attrs.get("href", "").startswith("#") else []
    return refs + [m.group(2)[1:] for k, v in el.attrs.items() if k != "href" for m in _URL_RE.finditer(v)]


def _check_references(root: Element) -> None:
    """Refuse documents whose drawing explodes once references are followed (the SVG "billion laughs": each
    <use> pointing at a group of ten uses of the next group…), or nests too deep for the renderer's stack.
    Cyclic <use> links are cut (the renderer would skip them anyway); cyclic url() links are left to it."""
    ids: dict[str, Element] = {}
    for el in iter_elements(root):
        ids.setdefault(el.attrs.get("id", ""), el)
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        el, done = stack.pop()
        key = id(el)
        kids = [c for c in el.children if isinstance(c, Element)]
        targets = [ids[r] for r in _references(el) if r in ids]
        if done:
            active.discard(key)
            nodes = [n for n in kids + targets if id(n) in size]
            size[key] = min(MAX_EXPANDED + 1, 1 + sum(size[id(n)] for n in nodes))
            depth[key] = 1 + max((depth[id(n)] for n in nodes), default=0)
            if size[key] > MAX_EXPANDED or depth[key] > MAX_DEPTH:
                raise _reject(f"following its references (<use>, url(#…)) would make more than {MAX_EXPANDED:,} "
                              f"elements or nest them more than {MAX_DEPTH} deep.",
                              f"展开其引用(<use>、url(#…))后将超过 {MAX_EXPANDED:,} 个元素或嵌套超过 {MAX_DEPTH} 层。")
            continue
        if key in size:
            continue
        active.add(key)
        stack.append((el, True))
        for n in kids + targets:
            if id(n) in active:  # a reference back into its own ancestry
                if el.tag == "use" and n in targets:
                    el.attrs.pop("href", None)
                continue
            if id(n) not in size:
                stack.append((n, False))


def iter_elements(root: Element):
    """Every element of the tree, document order, without recursion."""
    stack = [root]
    while stack:
        el = stack.pop()
        yield el
        stack.extend(reversed([c for c in el.children if isinstance(c, Element)]))


# --------------------------------------------------------------------------- writing

def _escape(text: str, attr: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attr:
        text = text.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")
    return text


def serialize(root: Element) -> bytes:
    """Standalone SVG markup (UTF-8), with the SVG and xlink namespaces declared on the root."""
    out: list[str] = []
    stack: list[Element | str | tuple[str]] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            out.append(f"</{item[0]}>")
            continue
        if isinstance(item, str):
            out.append(_escape(item))
            continue
        attrs = "".join(f' {"xlink:href" if k == "href" else k}="{_escape(v, True)}"' for k, v in item.attrs.items())
        if item is root:
            attrs = f' xmlns="{SVG_NS}" xmlns:xlink="{XLINK_NS}"' + attrs
        if not item.children:
            out.append(f"<{item.tag}{attrs}/>")
            continue
        out.append(f"<{item.tag}{attrs}>")
        stack.append((item.tag,))
        stack.extend(reversed(item.children))
    return "".join(out).encode("utf-8")


def sanitize_document(data: bytes | str) -> bytes:
    """Safe, standalone SVG markup (UTF-8 bytes) with the same drawing: what the pack outputs, saves and
    renders.  Raises ValidationError (English and Chinese) for markup that is not SVG or is refused."""
    return serialize(parse(data))
