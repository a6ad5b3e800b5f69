"""Write the rendered evaluation sets the README's figures come from, each a folder with a
labels.csv (`file,text`) for `digit-watcher evaluate --labels`: numbers of 2-8 digits (plain,
box, underline, comb cells; a third touching; a set in a row of printed boxes, one digit in
each, and one with the boxes printed against each other; a set photographed, on a table or under
a shadow, and one as a small note on a darker desk; a set on a notebook's ruled paper; and a set
drawn as MNIST's 28x28 tiles side by side, as the simplest other renderer would), a form's short fields (`fields-short`: one or two
digits in a box, on an underline or in comb cells), sums and equations (`numbers-equations`:
operators and a variable x between the numbers, its exponent raised), phone numbers
(`numbers-phone`: "(555) 123-4567"), notes (`notes-photo`: a few lines on a small
sheet, the writing sloped, photographed) and 600-dpi A4 pages (ruled, plain, squared, a table, and
ruled under a printed title and instructions: `pages-headed`, or written in pencil:
`pages-pencil`), all
from MNIST's **test** split (never trained on), and `fonts-held-out`: single letters and digits
(`file,text,kind,char`) in the handwriting fonts no training stage sees (`negatives.HELD_OUT`),
drawn, bent and rendered as the rejection stage draws its own: how a hand the model never saw is
read.

    python bench/make_sets.py OUT [--numbers 1000] [--pages 3] [--marks 1000] [--mnist ../shared/data/mnist.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from watcher import compose, negatives
from watcher.augment import render
from watcher.datasets import load_mnist


def write_font_marks(folder: Path, n: int, seed: int) -> Path:
    """n single marks, half letters and symbols (`negatives.LETTERS`, `SYMBOLS`), half digits, in
    the held-out handwriting fonts; labels.csv says which (`text`: the digit, empty for a letter or
    symbol, whose `kind` is `nondigit`, and `char` the character drawn)."""
    fonts = negatives.handwriting_fonts(held_out=True)
    if not fonts:
        raise SystemExit(f"no held-out handwriting font installed ({', '.join(negatives.HELD_OUT)})")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    chars = negatives.LETTERS + negatives.SYMBOLS
    rows = []
    for k in range(n):
        if k % 2:
            big, d = negatives.font_digit(rng, fonts)
            label, kind = str(d), "digit"
        else:
            label, kind = chars[int(rng.integers(len(chars)))], "nondigit"
            big = negatives.font_mark(label, rng, fonts)
        mark = negatives.mnist_frame(big)
        img = render(mark, rng) if rng.random() < 0.6 else 255 - cv2.resize(mark, (112, 112), interpolation=cv2.INTER_CUBIC)
        name = f"mark-{k:04d}.png"
        cv2.imwrite(str(folder / name), img)
        rows.append((name, label if kind == "digit" else "", kind, label))
    return compose.write_labels(folder, ("file", "text", "kind", "char"), rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--numbers", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--marks", type=int, default=1000)
    ap.add_argument("--mnist", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/mnist.npz")
    a = ap.parse_args()
    data = load_mnist(a.mnist if a.mnist.exists() else None)
    for name, touching in (("numbers", None), ("numbers-spaced", False), ("numbers-touching", True)):
        print(compose.write_set(a.out / name, data.x_test, data.y_test, a.numbers, seed=1, touching=touching))
    # a form's row of printed boxes, one digit in each (not in the mix above, which stays as it was)
    print(compose.write_set(a.out / "numbers-cells", data.x_test, data.y_test, a.numbers, seed=6, field="cells"))
    # the same, the boxes printed against each other or nearly (their sides run together)
    print(compose.write_set(a.out / "numbers-cells-touching", data.x_test, data.y_test, a.numbers, seed=10,
                            field="cells", cells_gap=(0.0, 0.15)))
    # the same numbers photographed: on a table that shows round the sheet, or under a shadow
    print(compose.write_set(a.out / "numbers-photo", data.x_test, data.y_test, a.numbers, seed=7, photo="any"))
    # the same numbers on a small note (3-9% of the picture) photographed on a darker desk
    print(compose.write_set(a.out / "numbers-desk", data.x_test, data.y_test, a.numbers, seed=16, photo="desk"))
    # plain numbers (a third touching) written on a notebook's ruled paper
    print(compose.write_set(a.out / "numbers-ruled", data.x_test, data.y_test, a.numbers, seed=8, field="plain",
                            paper="ruled"))
    # the mixed numbers cropped tight to their ink: the digits (or the field's lines) touch the picture's edges
    print(compose.write_set(a.out / "numbers-tight", data.x_test, data.y_test, a.numbers, seed=14, tight=True))
    # a form's short fields: one or two digits (a third touching) in a box, on an underline or in
    # comb cells, where the field's lines are as big as the digits ("10" in a box)
    print(compose.write_set(a.out / "fields-short", data.x_test, data.y_test, a.numbers, seed=11, kind="field"))
    # numbers as the simplest other renderer draws them: MNIST's tiles side by side (`compose.tiles`)
    print(compose.write_set(a.out / "numbers-tiles", data.x_test, data.y_test, a.numbers, seed=9, kind="tiles"))
    # numbers drawn another way (`compose.styled`): other sizes, colours, polarity, faint, turned, blurred
    print(compose.write_set(a.out / "numbers-styled", data.x_test, data.y_test, a.numbers, seed=12, kind="styled"))
    # sums and equations on one line ("3x² - 12 = 45", `compose.equation`): operators and a variable
    # x between the numbers, an exponent raised over it
    print(compose.write_set(a.out / "numbers-equations", data.x_test, data.y_test, a.numbers, seed=19, kind="equation"))
    # phone numbers, "(555) 123-4567" (`compose.phone_number`): the brackets and the dash are no digits
    print(compose.write_set(a.out / "numbers-phone", data.x_test, data.y_test, a.numbers, seed=20, kind="phone"))
    # a note: a few lines of digits on a small sheet, the writing sloped up to 8 degrees, photographed
    print(compose.write_set(a.out / "notes-photo", data.x_test, data.y_test, a.numbers // 2, seed=15, kind="note"))
    print(compose.write_set(a.out / "pages", data.x_test, data.y_test, a.pages, seed=2, kind="page", ruled=True))
    print(compose.write_set(a.out / "pages-plain", data.x_test, data.y_test, a.pages, seed=3, kind="page"))
    print(compose.write_set(a.out / "pages-squared", data.x_test, data.y_test, a.pages, seed=4, kind="page",
                            squared=True))
    # a table, a digit written large in each printed cell: the digits of two rows often touch the rule between them
    print(compose.write_set(a.out / "pages-table", data.x_test, data.y_test, a.pages, seed=13, kind="page",
                            table=True))
    # a data-collection sheet: a title, an instruction and a "Name: ____" line printed above the grid
    print(compose.write_set(a.out / "pages-headed", data.x_test, data.y_test, a.pages, seed=17, kind="page",
                            ruled=True, header=True))
    # the same written in pencil: the digits a third to a half as dark as the pen, in grains
    print(compose.write_set(a.out / "pages-pencil", data.x_test, data.y_test, a.pages, seed=18, kind="page",
                            ruled=True, pencil=True))
    if a.marks:
        print(write_font_marks(a.out / "fonts-held-out", a.marks, seed=5))


if __name__ == "__main__":
    main()
