"""Secret redaction: a connection's secrets masked wherever output would show them.

A job's notebook, result and log, a trigger's last error, the REST API's answers and the
CLI's messages are built from what connector code and apps hand back, and an app may echo
the credential it got. What is masked is each secret value and what it gives away
(`derived_secrets`: a secret URL's password, the HTTP Basic credentials a user name and
password make), in every form output may write it (`_forms`: literal, repr'd, JSON- and
HTML-escaped, URL-encoded once or twice, base64 and hex, in any case), inside text
(`scrub_text`) and inside JSON-like data, keys included (`scrub`, `scrubbed_keys`); in what an
app answered, the beginning of one that the app or a proxy cut short too (`scrub_answer`).

It is the second line of defence: secrets are stored encrypted and never shown on purpose;
masking catches what leaks anyway. The core masks what it shows with it; connectors reach it
through `lpstudio.sdk`, which re-exports its public names and masks the errors connector
code raises (`mask_error`, which may replace one by a `ConnectorError`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

#: What a secret is replaced by wherever it would be shown.
MASK = "****"

#: A URL query option that may hold a password (`?password=`, an ODBC string...).
SENSITIVE_OPTION = re.compile(r"pass|pwd|secret|token|key|auth|credential|odbc", re.I)


class Secrets(frozenset[str]):
    """The secrets to mask in what a job shows, and what the job was `given` (its
    parameters, its event: `given_text`), in which a secret's beginning is not masked.

    A beginning masked or not tells who wrote the text whether it begins a secret: a bot
    calling a recipe that passes its input on to an app that echoes it would learn a token
    a character a guess at a time. What the caller wrote is no news to it, and is shown as
    written; a whole secret is masked wherever it is. Carried with the secrets, as every
    masking of a job's output (connector code's too) is handed them."""

    given: str

    def __new__(cls, values: Iterable[str] = (), given: str = "") -> Secrets:
        made = super().__new__(cls, values)
        made.given = given
        return made


def _given(secrets: Collection[str]) -> str:
    return secrets.given if isinstance(secrets, Secrets) else ""


def given_text(*given: Any, hiding: Collection[str] = ()) -> str:
    """What a job was given, as the masking of a secret's beginning looks it up (`Secrets`):
    every string and number in it, keys too, in lower case, apart, and each whole secret of
    `hiding` in it cut out. A sender may relay a whole secret (the kernel gets it); it is
    no news to the sender, but its beginnings are to whoever reads the job."""
    found: list[str] = []
    hidden = frozenset(hiding)
    pattern = _secret_pattern(hidden) if hidden else None

    def add(text: str) -> None:
        if pattern is not None:
            spans = _secret_spans(text, hidden, pattern)
            ends = [0, *(at for span in spans for at in span), len(text)]
            text = "\0".join(text[ends[n] : ends[n + 1]] for n in range(0, len(ends), 2))
        found.append(_folded(text))

    left: list[Any] = [list(given)]  # a stack, not recursion: a body may nest deep
    while left:
        value = left.pop()
        if isinstance(value, dict):
            left.extend(item for pair in value.items() for item in pair)
        elif isinstance(value, list | tuple):
            left.extend(value)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            add(str(value))
    return "\0".join(found)


def derived_secrets(secrets: Mapping[str, Any], fields: Mapping[str, Any]) -> set[str]:
    """Every value that output must not show, from a connection's secret and plain fields:
    each secret, the password of a secret URL as a driver decodes it (a SQL database's URL),
    and the HTTP Basic credentials a user name and password make (an API that echoes the
    Authorization header would otherwise show the encoded password). Values shorter than 3
    characters are left out: masking them would mask ordinary text."""
    values = {str(v) for v in secrets.values() if v not in (None, "")}
    for value in list(values):
        if "://" in value:
            try:
                parts = urlsplit(value)
                password = parts.password
            except ValueError:  # not a URL after all
                continue
            if password:
                values.update({password, unquote(password)})
            for key, option in parse_qsl(parts.query):  # `?password=`, an ODBC string...
                if SENSITIVE_OPTION.search(key) and option:
                    values.update({option, quote_plus(option)})
    user, password = fields.get("username"), secrets.get("password")
    if user is not None and password:
        values.add(base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))
    return {v for v in values if len(v) >= 3}


#: The fewest base64 characters of a secret inside a longer encoded text that are masked
#: (fewer would mask ordinary text).
MIN_ENCODED_CORE = 8


def _encoded_cores(raw: bytes) -> set[str]:
    """The base64 characters that `raw` alone decides, wherever it sits in a longer encoded
    text (`Bearer TOKEN`, `{"token": "TOKEN"}` encoded whole): at each of the 3 byte offsets
    a text before it may leave, standard and URL-safe. The first and last characters mix
    its bits with its neighbours' and are left; cores shorter than `MIN_ENCODED_CORE` too."""
    cores = set()
    for offset in range(3):
        first = -(-8 * offset // 6)  # the first character wholly of `raw`'s bits
        last = 8 * (offset + len(raw)) // 6  # past the last one
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(bytes(offset) + raw).decode("ascii")[first:last]
            if len(core) >= MIN_ENCODED_CORE:
                cores.add(core)
    return cores


def _forms(value: str) -> set[str]:
    """A secret as output may show it: literal, repr'd, JSON-escaped, HTML-escaped (a
    DataFrame's table escapes `&`, `<` and `>`; `html.escape` quotes too, and other escapers
    write `'` as `&#39;` or `&apos;`), URL-encoded (in a query, or in a path keeping `/`;
    and encoded again, as a URL holding it is put into another URL's query, a redirect's
    `?next=`: `%2540` for `@`), base64-encoded (standard and URL-safe, with its padding or
    without, as JWTs write it; inside a longer encoded text, the characters only it decides)
    and hex-encoded (`bytes.hex()`, `binascii.hexlify`, in either case; each byte is two
    digits, so inside a longer hex text the secret's digits stand as they are)."""
    raw = value.encode()
    encoded = [base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")]
    escaped = {
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    # Escaped twice: a JSON text holding it, quoted in an error or printed as a repr (the
    # same as once for a secret of letters and digits only).
    twice = {
        form
        for once in escaped
        for form in (
            repr(once)[1:-1],
            json.dumps(once)[1:-1],
            json.dumps(once, ensure_ascii=False)[1:-1],
        )
    }
    in_url = [quote(value, safe=""), quote(value), quote_plus(value)]  # quote keeps `/`
    forms = {
        value,
        *escaped,  # repr'd, JSON-escaped (non-ASCII kept too, as error messages quote values)
        *twice,
        html.escape(value),
        html.escape(value, quote=False),
        html.escape(value).replace("&#x27;", "&#39;"),  # as other escapers write `'`
        html.escape(value).replace("&#x27;", "&apos;"),
        *in_url,
        # Encoded twice (quote_plus again would write what quote(safe="") does: an encoded
        # form holds no space).
        *(quote(form, safe=safe) for form in in_url for safe in ("", "/")),
        *encoded,
        *(form.rstrip("=") for form in encoded),
        *_encoded_cores(raw),
        raw.hex(),
        raw.hex().upper(),
    }
    return {form for form in forms if form}


@functools.lru_cache(maxsize=32)
def _secret_pattern(secrets: frozenset[str], caseless: bool = False) -> re.Pattern[str] | None:
    """One pattern for every form of every secret in lower case; built once per set of
    secrets, not once per string. None when there is nothing to mask (an empty pattern
    would match everywhere).

    The forms go into a trie (`_trie`). `caseless` matches regardless of case, as re's
    IGNORECASE does (several times slower: its literal search is off), and for it, or for
    forms nested too deep for a trie, they are an alternation, longest first: IGNORECASE
    takes `s` for `ſ` and `i` for `ı`, so two branches of a trie could both match and the
    first, not the longest, would win."""
    written = {f for v in secrets for f in _forms(v)}
    lowered = _lowered(written)
    # Case-blind, a form as written too: "İ" lower-cases to two letters ("i̇"), which
    # IGNORECASE never takes for the one.
    forms = sorted(lowered | written if caseless else lowered)
    if not forms:
        return None
    if not caseless:
        with contextlib.suppress(RecursionError):  # hundreds of forms each inside the next
            return re.compile(_trie(_trie_of(forms)))
    longest_first = sorted(forms, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, longest_first)), re.IGNORECASE if caseless else 0)


def _trie_of(forms: Collection[str]) -> dict[str, Any]:
    """`forms` as a trie of nested dicts, one per character; "" marks where a form ends."""
    trie: dict[str, Any] = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}  # a form ends here
    return trie


def _lowered(forms: set[str]) -> set[str]:
    """`forms` in lower case, as the text searched is lowered. lower() writes a final Σ as
    ς, and a Σ a letter follows in the text as σ: both."""
    lowered = {f.lower() for f in forms}
    return lowered | {f.replace("ς", "σ") for f in lowered if "ς" in f}


def _trie(node: dict[str, Any]) -> str:
    """The pattern of the forms under `node`, sharing their common beginnings: each place
    of a text is compared once with what they share, where an alternation of the forms tries
    them one after another (its cost grew with each form of each secret). A form that
    another extends matches only where the longer one does not: a secret that contains
    another is masked whole."""
    chain: list[str] = []
    while len(node) == 1 and "" not in node:  # one way on: no group
        ((char, node),) = node.items()
        chain.append(re.escape(char))
    branches = [re.escape(char) + _trie(child) for char, child in node.items() if char]
    if branches:  # greedy `?`: the longer forms first, then the one that ends here
        chain.append(f"(?:{'|'.join(branches)}){'?' if '' in node else ''}")
    return "".join(chain)


def scrub_text(text: str, secrets: Collection[str]) -> str:
    """`text` with every form of every secret replaced by `MASK`, in any case: apps echo
    what they got lower-cased, and percent-encode with `%2f` as with `%2F`. The search runs
    on the text lower-cased, and masks the same places in the text as it is; then on the
    text with its escapes decoded (`_escapes_masked`: percent-escapes, JSON's and HTML's);
    then a secret's beginning that an ellipsis follows, as a display cut it (`_elided`),
    unless the job was given it (`Secrets`)."""
    hidden = frozenset(secrets)
    pattern = _secret_pattern(hidden) if hidden else None
    if pattern is None:
        return text
    parts, start = [], 0
    for begin, end in _secret_spans(text, hidden, pattern):
        parts += [text[start:begin], MASK]
        start = end
    masked = "".join([*parts, text[start:]]) if parts else text
    for escapes in _ESCAPES:
        if escapes.marker in masked:
            masked = _escapes_masked(masked, hidden, pattern, escapes)
    return _elided(masked, hidden, _given(secrets))


def _secret_spans(
    text: str, secrets: frozenset[str], pattern: re.Pattern[str]
) -> list[tuple[int, int]]:
    """Where `text` holds a form of a secret, in any case. The search runs on the text
    lower-cased, the places the same; a letter whose lower case is two ("İ") would move
    them, and such a text is searched as it is, case-blind (`caseless`)."""
    folded = text.lower()
    if len(folded) == len(text):
        return [found.span() for found in pattern.finditer(folded)]
    caseless = _secret_pattern(secrets, caseless=True)
    return [found.span() for found in caseless.finditer(text)]  # type: ignore[union-attr]


@dataclass(frozen=True)
class _Escapes:
    """A way of escaping characters that may spell a secret (`_escapes_masked`): the text
    that every escape holds (`marker`: a text without it is not searched again), the
    escape's pattern, what it stands for, and how many times over escapes are read."""

    marker: str
    pattern: re.Pattern[str]
    decode: Callable[[re.Match[str]], str]
    deep: int


def _json_escaped(escape: re.Match[str]) -> str:
    code = escape[1]
    if code[0] == "u":
        return chr(int(code[1:], 16))
    return {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}.get(code, code)


def _one(decoded: str) -> str:
    """An escape's character (`_escape_starts` takes each for one): a reference HTML does
    not know, or one that stands for two characters, for none of a secret's."""
    return decoded if len(decoded) == 1 else "\ufffd"


#: The escapes read (`_escapes_masked`). Percent-escapes of printable ASCII characters, read
#: three times over: a URL put into another URL's query (a redirect's `?next=`), and that one
#: into a third's. JSON's, as encoders other than Python's write them (PHP's `\/`, Go's
#: `\u0026` for `&`, `<` and `>`, or every character as `\uXXXX`), twice over. HTML's
#: character references (`&#x2F;`, `&#47;`, `&amp;`), twice over.
_ESCAPES = (
    _Escapes("%", re.compile(r"%([2-7][0-9a-fA-F])"), lambda e: chr(int(e[1], 16)), 3),
    _Escapes("\\", re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])'), _json_escaped, 2),
    _Escapes(
        "&",
        re.compile(r"&(?:#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z][a-zA-Z0-9]{1,31});"),
        lambda e: _one(html.unescape(e[0])),
        2,
    ),
)


def _escapes_masked(
    text: str, secrets: frozenset[str], pattern: re.Pattern[str], escapes: _Escapes
) -> str:
    """`text` with a secret that its `escapes` spell masked: a URL may escape any
    character of it, needed or not (`sandbox%2Dsecret`, `%73ecret`, `q%2BLp7=W` with only
    its `+` escaped), and escape that again (`q%252BLp7`); an app's JSON answer may write
    its `/` as `\\/` or its `&` as `\\u0026`; where `_forms` holds the ways Python's encoders
    write one. The search runs on the text with each escape decoded, once, then again
    (`escapes.deep`), and masks the escapes and characters that spell the secret. A text
    without an escape costs one search."""
    decoded, starts = text, None  # where each character of `decoded` starts in `text`
    for _ in range(escapes.deep):
        if not escapes.pattern.search(decoded):
            return text
        at = _escape_starts(decoded, escapes.pattern)
        starts = at if starts is None else [starts[place] for place in at]
        decoded = escapes.pattern.sub(escapes.decode, decoded)
        spans = _secret_spans(decoded, secrets, pattern)
        if spans:
            parts, start = [], 0
            for begin, end in spans:
                parts += [text[start : starts[begin]], MASK]
                start = starts[end]
            return _escapes_masked("".join([*parts, text[start:]]), secrets, pattern, escapes)
    return text


def _escape_starts(text: str, escape: re.Pattern[str]) -> list[int]:
    """Where each character of `text` with its escapes decoded starts in `text`, and its
    end. Each escape stands for one character (a JSON `\\uXXXX` of a character beyond
    U+FFFF is two, each decoded alone)."""
    starts: list[int] = []
    at = 0
    for found in escape.finditer(text):
        starts.extend(range(at, found.start()))
        starts.append(found.start())
        at = found.end()
    starts.extend(range(at, len(text) + 1))
    return starts


#: The fewest characters of a secret's beginning that an ellipsis follows that are masked
#: (`_elided`): a display cut it (a DataFrame's cell at its column width, a repr cut short
#: to its first 13). Fewer would mask a secret URL's scheme in ordinary text (`https://...`).
MIN_ELIDED = 12
_ELLIPSIS = re.compile(r"\.\.\.|\u2026")


def _elided(text: str, secrets: frozenset[str], given: str) -> str:
    """`text` with a secret's beginning masked where an ellipsis follows it (`MIN_ELIDED`
    characters of it at least): pandas shows a long value's first 47 characters and `...`,
    and no later masking finds them."""
    if "..." not in text and "\u2026" not in text:
        return text
    parts, start = [], 0
    for ellipsis in _ELLIPSIS.finditer(text):
        at = ellipsis.start()
        begun = _begun(text[start:at], secrets, MIN_ELIDED, given)
        if begun is not None:
            parts += [text[start : start + begun], MASK]
            start = at
    return "".join([*parts, text[start:]]) if parts else text


#: The fewest characters of a secret's beginning, at the end of a text still being written,
#: that are masked (`begun_secret`); of a form of a secret shorter than twice that, half of
#: it, rounded up. As few give nothing away that matters (a few characters of a token, or the
#: scheme that opens a secret URL), and ordinary text ends in as few now and then.
MIN_BEGUN = 4


def scrub_unfinished(text: str, secrets: Collection[str]) -> str:
    """`scrub_text` for text still being written (a running cell's stream, saved while it
    runs): a secret it ends in the middle of is masked too, from the beginning shown. The
    chunk that will finish it may never come (the process killed), and what is shown
    meanwhile is all but the secret."""
    masked = scrub_text(text, secrets)
    start = begun_secret(masked, secrets)
    return masked if start is None else masked[:start] + MASK


def begun_secret(text: str, secrets: Collection[str], fewest: int | None = None) -> int | None:
    """Where the longest end of `text` begins that begins a secret too, in any of its forms
    (`_forms`) and any case, and stops short of its end; None when there is none of
    `MIN_BEGUN` characters at least (or of half of a shorter form), or of `fewest`, or when
    the job was given it (`Secrets`)."""
    return _begun(text, frozenset(secrets), fewest, _given(secrets))


def _begun(text: str, secrets: frozenset[str], fewest: int | None, given: str) -> int | None:
    longest, by_start = _beginnings(secrets) if secrets else (0, {})
    if not longest:
        return None
    window = text[-longest:]  # a form's beginning is shorter than it
    folded = _folded(window)
    for at in range(len(folded) - 1):
        for form in by_start.get(folded[at : at + 2], ()):
            shown = len(folded) - at
            least = _enough(form) if fewest is None else fewest
            if least <= shown < len(form) and form.startswith(folded[at:]):
                # Any shorter end is in what the job was given too.
                return None if folded[at:] in given else len(text) - len(window) + at
    return None


def scrub_answer(text: str, secrets: Collection[str]) -> str:
    """`scrub_text` for what an app answered, which the app or a proxy may have cut short
    in the middle of a secret it echoed (an error's message cut to 50 characters, an echoed
    header to 200): what is left of its beginning is masked too, as no later masking finds
    it. A beginning is cut where the text ends, or where the character after it is neither a
    letter nor a digit nor one the form holds; text that goes on there is a word that merely
    begins like a secret (`sandbox-client` beside the secret `sandbox-secret`), and kept,
    as is a beginning the job was given (`Secrets`)."""
    masked = scrub_text(text, secrets)
    given = _given(secrets)
    hidden = frozenset(secrets)
    pattern = _begun_pattern(hidden) if hidden else None
    if pattern is None:
        return masked
    _, by_start = _beginnings(hidden)
    folded = _folded(masked)
    parts, start, found = [], 0, pattern.search(folded)
    while found:
        at = found.start()
        forms = by_start.get(folded[at : at + 2], ())
        shown = max((_cut_length(folded, at, form) for form in forms), default=0)
        if shown and folded[at : at + shown] not in given:
            parts += [masked[start:at], MASK]
            start = at + shown
        # From the next place: a beginning kept as a word that goes on may hold another.
        found = pattern.search(folded, at + max(shown, 1))
    return "".join([*parts, masked[start:]]) if parts else masked


#: What follows a word in running text, where a cut secret is followed by the end of the text,
#: a quote or an ellipsis (`_cut_length`).
WORD_GOES_ON = frozenset(" )]},;:!?")


def _cut_length(folded: str, at: int, form: str) -> int:
    """How many characters of `form`'s beginning `folded` holds at `at` if it is cut there
    (`scrub_answer`), else 0: too few to tell, the whole form, or a word that goes on."""
    held = folded[at : at + len(form)]
    differ = (n for n, (want, got) in enumerate(zip(form, held, strict=False)) if want != got)
    shown = next(differ, len(held))
    if not _enough(form) <= shown < len(form):
        return 0
    after = folded[at + shown : at + shown + 1]
    if after and (after.isalnum() or after in form):
        return 0
    # A whole leading word of the secret (`sandbox` of `sandbox-secret`: a separator comes
    # next in it) that the text goes on after, as a word does (a space, a bracket closed):
    # the word, not a cut, as an app cuts a value where a quote, an ellipsis or the end of
    # its text follows. The sandbox's "Injected fault (sandbox)" read "(****)".
    if after in WORD_GOES_ON and not form[shown].isalnum():
        return 0
    return shown


def _enough(form: str) -> int:
    """The fewest characters of `form`'s beginning that are masked (`MIN_BEGUN`)."""
    return min(MIN_BEGUN, (len(form) + 1) // 2)


def _folded(text: str) -> str:
    """`text` in lower case, each character in its place: a letter whose lower case is two
    ("İ") is kept as it is."""
    folded = text.lower()
    if len(folded) == len(text):
        return folded
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


@functools.lru_cache(maxsize=32)
def _begun_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """Where a text in lower case may hold a secret's beginning (`scrub_answer`): the
    fewest characters masked of any form. Built once per set of secrets; None when there is
    nothing to mask."""
    _, by_start = _beginnings(secrets)
    shortest = {form[: _enough(form)] for forms in by_start.values() for form in forms}
    if not shortest:
        return None
    return re.compile(_trie(_trie_of(shortest)))


@functools.lru_cache(maxsize=32)
def _beginnings(secrets: frozenset[str]) -> tuple[int, dict[str, tuple[str, ...]]]:
    """Every form of every secret in lower case, by its first two characters (no form is
    shorter: `derived_secrets` leaves out secrets under 3), and the longest's length; built
    once per set of secrets, not once per save."""
    forms = _lowered({f for v in secrets for f in _forms(v)})
    by_start: dict[str, list[str]] = {}
    for form in forms:
        by_start.setdefault(form[:2], []).append(form)
    longest = max(map(len, forms), default=0)
    return longest, {start: tuple(found) for start, found in by_start.items()}


Masker = Callable[[str, Collection[str]], str]  # `scrub_text` or `scrub_answer`


@functools.lru_cache(maxsize=8)
def described_masker(secrets: frozenset[str]) -> Masker:
    """`scrub_text` for `secrets` (no `Secrets`: nothing given to a job), each text masked
    once: recipes copied from one template describe themselves in the same strings (a
    parameter's help, a schema's keys and descriptions), and a listing of 1,500 masked each
    again for every recipe, looking its pattern up by a set of hundreds of secrets each
    time. Only what recipes describe themselves in is kept (bounded), never a job's output."""
    mask = functools.partial(scrub_text, secrets=frozenset(secrets))
    masked = functools.lru_cache(maxsize=8192)(mask)
    return lambda text, _secrets: masked(text)


def scrub(data: Any, secrets: Collection[str], text: Masker = scrub_text) -> Any:
    """Replaces every secret inside the strings of a JSON-like structure, its objects' keys
    too (`{token: 1}` shows the token as well as `{"t": token}` does), and a number that is
    one whole (a PIN, a numeric key), with `MASK`. `text` masks each string: `scrub_answer`
    for what an app answered, which may hold a secret it cut short."""
    if not secrets:
        return data
    if isinstance(data, str):
        return text(data, secrets)
    if isinstance(data, int | float) and not isinstance(data, bool):
        whole = isinstance(data, float) and data.is_integer() and abs(data) < 1e16
        shown = {str(data), *([str(int(data))] if whole else [])}  # 123456.0 is "123456"
        return MASK if not shown.isdisjoint(secrets) else data
    if isinstance(data, list):
        return [scrub(item, secrets, text) for item in data]
    if isinstance(data, tuple):
        return tuple(scrub(item, secrets, text) for item in data)
    if isinstance(data, dict):
        keys = scrubbed_keys(list(data), secrets, text)
        values = data.values()
        return {key: scrub(value, secrets, text) for key, value in zip(keys, values, strict=True)}
    return data


def scrubbed_keys(
    keys: list[Any], secrets: Collection[str], text: Masker = scrub_text
) -> list[Any]:
    """`keys` with their secrets masked, each still distinct: two keys that mask alike (two
    secrets, or a secret beside a key that is `MASK` already) would otherwise be one, and
    the value of the first would be lost. A masked key that meets a key kept as it is, or
    one masked before it, is numbered: `**** (2)`."""
    masked = [scrub(key, secrets, text) for key in keys]
    if len(set(masked)) == len(masked):
        return masked
    taken = {new for key, new in zip(keys, masked, strict=True) if new == key}
    unique = []
    for key, new in zip(keys, masked, strict=True):
        if new != key:
            shown, number = new, 1
            while shown in taken:
                number += 1
                shown = f"{new} ({number})"
            taken.add(shown)
            new = shown
        unique.append(new)
    return unique
