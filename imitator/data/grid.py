"""GRID corpus transcripts from file names.

A GRID file name spells its sentence, one letter a word: command, colour, preposition, the letter itself,
the digit and the adverb (`bbaf2n` = "bin blue at f two now"). Decoding the name gives an exact transcript,
which aligns better than Whisper's guess at the corpus's unusual word sequences.

    python -m imitator.data.grid VIDEOS... > transcripts.tsv   # path<TAB>sentence for every GRID clip found
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

_COMMAND = {"b": "bin", "l": "lay", "p": "place", "s": "set"}
_COLOUR = {"b": "blue", "g": "green", "r": "red", "w": "white"}
_PREPOSITION = {"a": "at", "b": "by", "i": "in", "w": "with"}
_DIGIT = {"z": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
          "7": "seven", "8": "eight", "9": "nine"}
_ADVERB = {"a": "again", "n": "now", "p": "please", "s": "soon"}
# The code is the last six characters of the stem (some copies carry a prefix, e.g. "id2_vcd_swwp2s").
_CODE = re.compile(r"([blps])([bgrw])([abiw])([a-z])([z1-9])([anps])$")


def grid_sentence(name: str) -> str | None:
    """The sentence a GRID file name spells, or None when the name is not a GRID code."""
    m = _CODE.search(Path(name).stem.lower())
    if m is None:
        return None
    c, colour, prep, letter, digit, adverb = m.groups()
    return " ".join([_COMMAND[c], _COLOUR[colour], _PREPOSITION[prep], letter, _DIGIT[digit], _ADVERB[adverb]])


def grid_transcripts(folders: list[str | Path], person_prefix: str = "grid_") -> list[tuple[Path, str]]:
    """(video path, sentence) for every video under a person folder named `person_prefix...` whose name
    decodes; the other clips are left to their own transcripts."""
    rows = []
    for folder in folders:
        for person in sorted(Path(folder).iterdir()):
            if not (person.is_dir() and person.name.startswith(person_prefix)):
                continue
            for video in sorted(person.glob("*.mp4")):
                sentence = grid_sentence(video.name)
                if sentence:
                    rows.append((video.resolve(), sentence))
    return rows


def main(argv: list[str]) -> None:
    for path, sentence in grid_transcripts(argv):
        print(f"{path}\t{sentence}")


if __name__ == "__main__":
    main(sys.argv[1:])
