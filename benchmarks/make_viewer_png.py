"""Render docs/viewer.png, the README's picture: a real search tree in the HTML viewer.

The tree is a committed run of the embedded default model (`runs/adaptive-40b`, arm
`cascade`: MCTS, W=5, S=3, pruned by the cascade), written as a viewer page and shot by
headless Chromium (Debian's /usr/bin/chromium; `bash .ci/browser-deps.sh` installs it):

    python benchmarks/make_viewer_png.py [--tree TREE.json] [--out docs/viewer.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from equivpruner.search import Tree
from equivpruner.viz import write_tree_html

HERE = Path(__file__).resolve().parent
TREE = HERE / "runs" / "adaptive-40b" / "trees" / "cascade" / "gsm8k-1.json"
OUT = HERE.parent / "docs" / "viewer.png"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no chromium on PATH; `bash .ci/browser-deps.sh` installs Debian's")


def screenshot(page: Path, out: Path, size: tuple[int, int]) -> None:
    """Headless Chromium's screenshot of `page` once its script has run."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
             "--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000",
             f"--screenshot={out.resolve()}",
             page.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=TREE, help="a tree saved by a search")
    parser.add_argument("--out", type=Path, default=OUT, help="the PNG to write")
    parser.add_argument("--size", default="1180x900", help="window WIDTHxHEIGHT in pixels")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    tree = Tree.load(args.tree)
    with tempfile.TemporaryDirectory() as tmp:
        page = write_tree_html(tree, Path(tmp) / "tree.html")
        screenshot(page, args.out, (width, height))
    print(f"wrote {args.out} from {args.tree}")


if __name__ == "__main__":
    main()
