"""WCAG AA: every text colour the stylesheet sets keeps 4.5:1 against its background."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = re.sub(
    r"/\*.*?\*/",
    "",
    (Path(__file__).resolve().parents[2] / "review" / "static" / "review.css").read_text(),
    flags=re.S,
)
PAGE = "#fafafa"  # the body's background
WHITE = "#ffffff"
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


def luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _declared(prop: str, body: str) -> str | None:
    found = re.search(rf"(?:^|;|\s){prop}\s*:\s*(#[0-9a-fA-F]{{3,6}})\b", body)
    return found.group(1) if found else None


def rules() -> list[tuple[str, str | None, str | None]]:
    return [
        (selector.strip(), _declared("color", body), _declared("background", body))
        for selector, body in _RULE.findall(CSS)
    ]


def test_the_yellow_badge_reads_at_aa() -> None:
    [(colour, background)] = [(c, b) for s, c, b in rules() if s == ".channel.yellow"]
    assert contrast(colour, background) >= 4.5


@pytest.mark.parametrize("selector, colour, background", [r for r in rules() if r[1] and r[2]])
def test_every_rule_with_both_colours_passes(selector: str, colour: str, background: str) -> None:
    assert contrast(colour, background) >= 4.5, f"{selector}: {colour} on {background}"


@pytest.mark.parametrize("selector, colour", [(s, c) for s, c, b in rules() if c and not b])
def test_text_colours_pass_on_the_page_and_on_white(selector: str, colour: str) -> None:
    if colour.lower() in ("#fff", "#ffffff"):
        return  # white text sits on its own dark background (checked above)
    assert min(contrast(colour, PAGE), contrast(colour, WHITE), contrast(colour, "#eef1f4")) >= 4.5, selector


def test_white_text_badges_pass() -> None:
    for selector in (".channel.red", ".channel.held", ".top"):
        [(colour, background)] = [(c, b) for s, c, b in rules() if s == selector and c and b]
        assert contrast(colour, background) >= 4.5, selector
