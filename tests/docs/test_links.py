"""Every relative Markdown link and image in the README, docs/, experiments/README.md and tools/README.md points at a
file of the repository, and an anchor into a Markdown file names one of its headings. Web links are not fetched:
this checks the tree, not the internet."""
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]

# [text](target) and ![alt](target); the target may carry a "title" after a space.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target  (reference-style definitions)
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:.|\n)*?\1")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def markdown_files():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "experiments" / "README.md"]
    tools_readme = ROOT / "tools" / "README.md"
    if tools_readme.is_file():
        files.append(tools_readme)
    return files


def strip_code(text):
    """The text without fenced code blocks and inline code spans: a path in code is not a link."""
    kept, in_fence = [], False
    for line in text.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
            kept.append("")
            continue
        kept.append("" if in_fence else line)
    return CODE_SPAN.sub("", "\n".join(kept))


def relative_targets(text):
    """The link and image targets of a Markdown text that are not web links (bare anchors included)."""
    prose = strip_code(text)
    targets = INLINE_LINK.findall(prose) + REFERENCE_DEF.findall(prose)
    return [t for t in targets if not SCHEME.match(t)]


def heading_anchors(text):
    """The anchors GitHub gives a Markdown text's headings: lower case, punctuation dropped, spaces to hyphens, and
    -1, -2, ... appended to repeats."""
    anchors, seen = set(), {}
    for line in strip_code(text).split("\n"):
        match = HEADING.match(line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(md_file):
    """(target, reason) for every relative target of `md_file` that is not a file or folder inside the repository,
    or whose anchor names no heading of the Markdown file it points into."""
    broken = []
    for target in relative_targets(md_file.read_text(encoding="utf-8")):
        path_part, _, anchor = target.partition("#")
        path_part = unquote(path_part.split("?", 1)[0])
        resolved = (md_file.parent / path_part if path_part else md_file).resolve()
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append((target, "points outside the repository"))
        elif not resolved.exists():
            broken.append((target, "no such file"))
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved.read_text(encoding="utf-8")):
            broken.append((target, "no such heading"))
    return broken


def test_extractor_finds_links_and_skips_code_and_web_links(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("x")
    page.write_text(
        "See [a](there.md#part), ![img](missing.png \"title\") and [web](https://example.org/x.md).\n"
        "[anchor](#section) `[not a link](code.md)`\n"
        "```\n[also not](fenced.md)\n```\n"
        "[ref]: gone/file.md\n"
        "[up](../../outside.md)\n")
    targets = relative_targets(page.read_text())
    assert targets == ["there.md#part", "missing.png", "#section", "../../outside.md", "gone/file.md"]
    resolved = [(md_target, (page.parent / md_target.split("#")[0]).exists()) for md_target in targets]
    assert resolved == [("there.md#part", True), ("missing.png", False), ("#section", True),
                        ("../../outside.md", False), ("gone/file.md", False)]


def test_heading_anchors_follow_github():
    text = "# Quick start\n## bf16 and channels_last: the speed they buy\n```\n# not a heading\n```\n## Quick start\n"
    assert heading_anchors(text) == {"quick-start", "bf16-and-channels_last-the-speed-they-buy", "quick-start-1"}


@pytest.mark.parametrize("md_file", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(md_file):
    assert md_file.is_file(), f"{md_file.relative_to(ROOT)} is missing"
    broken = broken_links(md_file)
    assert not broken, f"{md_file.relative_to(ROOT)}: " + "; ".join(f"{t} ({why})" for t, why in broken)
