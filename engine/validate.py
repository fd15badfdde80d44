"""Checks for settings values: base URLs, keys and tokens, numbers, host names.

Why one place: a value reaches the pack from the environment, the config file, `hdredraw config set` and the
settings route, and a bad one must be refused at every door *before* it is stored or used, so that no request
is ever built from it (a key with a newline can split a header; a base URL with userinfo or a typo'd scheme
sends the key somewhere unintended).  Every error is a bilingual ConfigError that says what to do; none
echoes a key.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError

MAX_URL_CHARS = 2048  # a base URL is short; anything longer is a paste accident or an attack
MAX_SECRET_CHARS = 1024  # keys and tokens seen in the wild are < 200 characters
MAX_NUMBER_CHARS = 64

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
# Printable ASCII that may still not stand in a URL unescaped (RFC 3986 plus WHATWG's forbidden host points).
_URL_FORBIDDEN = set('\\"<>`{}|^')
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
_EXAMPLE = "https://api.example.com"


def _short(value: Any, limit: int = 60) -> str:
    """A value for an error message: quoted, control characters escaped, long values cut."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…'"


def _unsafe_char(text: str) -> tuple[int, str] | None:
    """(1-based position, description) of the first space, line break or control/invisible character."""
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            name = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", " ": "a space"}.get(ch)
            return i + 1, name or f"an invisible or control character (U+{ord(ch):04X})"
    return None


def _url_error(en: str, zh: str) -> ConfigError:
    return ConfigError(
        f"{en} Enter the service's full address, for example {_EXAMPLE}.",
        f"{zh}请填写服务的完整地址,例如 {_EXAMPLE}。")


def _without_userinfo(text: str) -> str:
    """`text` with anything before an '@' in the authority replaced, so a password is never echoed."""
    return re.sub(r"(//)[^/?#]*@", r"\1***@", text)


def check_base_url(url: Any) -> str:
    """The normalized form of a service base URL, or a ConfigError that says what is wrong.

    Accepted: `http` or `https`, a host name or IP address, an optional port and path.  Refused: any other
    scheme or none, no host, userinfo (`user:pw@`: credentials belong in the key setting), a query or fragment,
    spaces, control characters and characters a URL cannot carry.  Normalized: scheme and host lower-cased,
    an international host name in its ASCII (punycode) form, the default port and trailing slashes dropped.
    """
    if not isinstance(url, str):
        raise _url_error(f"A base URL must be text (got {type(url).__name__}).",
                         f"接口地址必须是文本(当前为 {type(url).__name__})。")
    text = url.strip()
    if not text:
        raise _url_error("The base URL is empty.", "接口地址为空。")
    if len(text) > MAX_URL_CHARS:
        raise _url_error(f"The base URL is {len(text)} characters long (at most {MAX_URL_CHARS}).",
                         f"接口地址长度为 {len(text)} 个字符(最多 {MAX_URL_CHARS})。")
    shown = _short(_without_userinfo(text))
    bad = _unsafe_char(text)
    if bad:
        raise _url_error(f"The base URL {shown} contains {bad[1]} at position {bad[0]}.",
                         f"接口地址 {shown} 的第 {bad[0]} 个字符是空格、换行或控制字符。")
    odd = next((ch for ch in text if ch in _URL_FORBIDDEN), None)
    if odd:
        raise _url_error(f"The base URL {shown} contains {odd!r}, which a URL cannot carry.",
                         f"接口地址 {shown} 含有 URL 不允许的字符 {odd!r}。")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if "://" not in text:
        raise _url_error(f"The base URL {shown} has no scheme: it must start with https:// (or http://).",
                         f"接口地址 {shown} 缺少协议:必须以 https://(或 http://)开头。")
    if scheme not in _DEFAULT_PORTS:
        raise _url_error(f"The base URL {shown} starts with {parts.scheme or text.split('://')[0]!r}:// but "
                         "must start with https:// or http://.",
                         f"接口地址 {shown} 的协议不是 https:// 或 http://。")
    if "@" in parts.netloc:
        raise _url_error(f"The base URL {shown} contains a user name or password (before '@'); put the key in "
                         "the key setting, never in the address.",
                         f"接口地址 {shown} 含有用户名或密码('@' 之前的部分);密钥请填在密钥设置中,不要写进地址。")
    host = parts.hostname or ""
    if not host:
        raise _url_error(f"The base URL {shown} has no host name.", f"接口地址 {shown} 缺少主机名。")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise _url_error(f"The base URL {shown} has an invalid port.", f"接口地址 {shown} 的端口无效。")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise _url_error(f"The base URL {shown} contains '?' or '#': give only the address, without a query.",
                         f"接口地址 {shown} 含有 '?' 或 '#':只填写地址本身,不要带查询参数。")
    host = _check_host(host, "[" in parts.netloc, shown)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in path):
        raise _url_error(f"The base URL {shown} has non-ASCII characters in its path; percent-encode them.",
                         f"接口地址 {shown} 的路径含有非 ASCII 字符,请先进行百分号编码。")
    return urlunsplit((scheme, netloc, path, "", ""))


def _check_host(host: str, bracketed: bool, shown: str) -> str:
    bad_host = _url_error(f"The base URL {shown} has an invalid host name.", f"接口地址 {shown} 的主机名无效。")
    if bracketed:
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            raise bad_host from None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise bad_host from None
    if not _HOST_CHARS.fullmatch(ascii_host) or ascii_host.startswith(".") or ".." in ascii_host:
        raise bad_host
    return ascii_host


MAX_HOST_NAMES = 32


def check_host_names(value: Any) -> str:
    """A comma-separated list of host names (ports are dropped), lowercased; "" for none."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise ConfigError(f"Expected host names separated by commas, got {_short(value)}. Nothing was saved.",
                          f"需要用逗号分隔的主机名,收到的是 {_short(value)}。未保存任何内容。")
    names = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            parsed = urlsplit("//" + part)
            name = parsed.hostname or ""
            parsed.port  # noqa: B018 - a port that is not a number is an error
        except ValueError:
            name = ""
        shown = _short(part)
        bad = ConfigError(f"{shown} is not a host name (e.g. comfy.example.com). Nothing was saved.",
                          f"{shown} 不是主机名(例如 comfy.example.com)。未保存任何内容。")
        if not name or "/" in part or "@" in part:
            raise bad
        try:
            names.append(_check_host(name, ":" in name, shown))
        except ConfigError:
            raise bad from None
    if len(names) > MAX_HOST_NAMES:
        raise ConfigError(f"At most {MAX_HOST_NAMES} host names. Nothing was saved.",
                          f"最多 {MAX_HOST_NAMES} 个主机名。未保存任何内容。")
    return ",".join(dict.fromkeys(names))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a base URL (normalized as check_base_url does): what a key is bound to."""
    parts = urlsplit(check_base_url(url))
    return f"{parts.scheme}://{parts.netloc}"


def check_secret(value: Any, *, header: bool, what_en: str, what_zh: str) -> str:
    """A key or token stripped of surrounding whitespace, or a ConfigError; the value is never echoed.

    `header`: the value goes into an HTTP header (HiDream's `Authorization: Bearer …`), so only printable
    ASCII is allowed; a form field (HD Redraw's user_key) may carry other text but no spaces, line breaks or
    control characters either (they only ever come from a bad copy and paste).
    """
    again_en = "Copy it again from the service's account page and enter it once more."
    again_zh = "请从服务的账户页面重新复制后再填写。"
    if not isinstance(value, str):
        raise ConfigError(f"The {what_en} must be text (got {type(value).__name__}). {again_en}",
                          f"{what_zh}必须是文本(当前为 {type(value).__name__})。{again_zh}")
    text = value.strip()
    if not text:
        raise ConfigError(f"The {what_en} is empty. {again_en}", f"{what_zh}为空。{again_zh}")
    if len(text) > MAX_SECRET_CHARS:
        raise ConfigError(f"The {what_en} is {len(text)} characters long (at most {MAX_SECRET_CHARS}): this "
                          f"is not a key. {again_en}",
                          f"{what_zh}长度为 {len(text)} 个字符(最多 {MAX_SECRET_CHARS}),这不是有效的密钥。{again_zh}")
    bad = _unsafe_char(text)
    if bad:
        raise ConfigError(f"The {what_en} contains {bad[1]} at position {bad[0]}, which cannot be sent safely. "
                          f"{again_en}",
                          f"{what_zh}的第 {bad[0]} 个字符是空格、换行或控制字符,无法安全发送。{again_zh}")
    if header:
        pos = next((i + 1 for i, ch in enumerate(text) if not 0x21 <= ord(ch) <= 0x7E), None)
        if pos:
            raise ConfigError(
                f"The {what_en} contains a non-ASCII character at position {pos}; it goes into an HTTP "
                f"Authorization header, which carries only ASCII letters, digits and punctuation. {again_en}",
                f"{what_zh}的第 {pos} 个字符不是 ASCII 字符;它要放进 HTTP Authorization 头,只能包含 ASCII "
                f"字母、数字和标点。{again_zh}")
    return text


def check_number(value: Any, *, kind: type, low: float, high: float, what: str) -> int | float:
    """An int or float within [low, high], or a ConfigError naming the range.

    Refuses booleans (JSON `true` is an int in Python), NaN and infinities, fractions for whole-number
    settings, and text that is not a plain number.
    """
    rng_en = f"a whole number from {low:g} to {high:g}" if kind is int else f"a number from {low:g} to {high:g}"
    rng_zh = f"{low:g} 到 {high:g} 之间的整数" if kind is int else f"{low:g} 到 {high:g} 之间的数"
    refuse = ConfigError(f"{what} must be {rng_en} (got {_short(value)}). Enter a value in that range.",
                         f"{what} 必须是{rng_zh}(当前为 {_short(value)}),请填写此范围内的值。")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise refuse
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_NUMBER_CHARS or not text.isascii():
            raise refuse
        try:
            number: float = int(text) if kind is int else float(text)
        except ValueError:
            raise refuse from None
    else:
        number = value
    try:
        if not math.isfinite(number) or not low <= number <= high:
            raise refuse
    except OverflowError:
        raise refuse from None
    if kind is int:
        if isinstance(number, float) and not number.is_integer():
            raise refuse
        return int(number)
    return float(number)
