"""Write imitator/data/splits/real_people.json: the person split of ../shared/data/real, made once.

train/ people (licences allow training a shipped model) are all "train". eval/ people (research-only) are
split 50/50 into "val" and "test" by person with a fixed seed; the msdwild_* clips are kept on one side
because which of their 3 people is in which clip is unknown. Rerunning gives the same file.

    python scripts/make_real_split.py ../shared/data/real
"""
import json
import random
import sys
from pathlib import Path

SEED = 12


def main(real: Path, out: Path) -> None:
    people = {p.name: "train" for p in sorted((real / "train").iterdir()) if p.is_dir()}
    evaluation = sorted(p.name for p in (real / "eval").iterdir() if p.is_dir())
    groups: dict[str, list[str]] = {}
    for person in evaluation:  # one group per person, except the msdwild clips (unknown people)
        groups.setdefault("msdwild" if person.startswith("msdwild_") else person, []).append(person)
    keys = sorted(groups)
    random.Random(SEED).shuffle(keys)
    val = 0
    for key in keys:
        side = "val" if val < len(evaluation) / 2 and val + len(groups[key]) <= len(evaluation) / 2 + 4 else "test"
        val += len(groups[key]) if side == "val" else 0
        for person in groups[key]:
            people[person] = side
    note = ("Person split of ../shared/data/real (scripts/make_real_split.py, seed %d): train/ people are train; "
            "eval/ people (research-only) are val or test, 50/50 by person, msdwild_* together. "
            "val and test people must never be trained on." % SEED)
    out.write_text(json.dumps({"note": note, "people": people}, indent=1) + "\n")
    counts = {s: sum(v == s for v in people.values()) for s in ("train", "val", "test")}
    print(out, counts)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent.parent / "imitator/data/splits/real_people.json")
