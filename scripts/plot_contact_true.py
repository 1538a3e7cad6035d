"""docs/images/contact_true.png: one real clip's tracked and contact-true lip distance, with its closures;
with `--rest`, also the rest-true target of training's --rest-in-pauses (imitator.contact.rest_in_pauses)
and the pauses the voice-activity detector found.

    PYTHONPATH=. python scripts/plot_contact_true.py /work/cache/real CLIP_ID docs/images/contact_true.png [--rest]
"""
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from imitator.align import BILABIALS
from imitator.data.dataset import Dataset
from imitator.topology import lip_distance


def main(root: str, clip_id: str, out: str, rest: bool = False, seconds: float = 8.0) -> None:
    data = Dataset(root)
    seq = data.load(clip_id)
    with np.load(data.root / "sequences" / f"{clip_id}.npz", allow_pickle=False) as z:
        raw, frames = z["raw_lip_distance"], z["closure_frames"]
    corrected = lip_distance(seq.vertices)
    n = min(len(raw), int(seconds * data.fps))
    t = np.arange(n) / data.fps
    frames = frames[frames < n]
    fig, ax = plt.subplots(figsize=(12, 4))
    for p, s, e in seq.info.phones:
        if p in BILABIALS and s < t[-1]:
            ax.axvspan(s, e, color="tab:orange", alpha=0.2, lw=0)
    ax.plot(t, raw[:n], color="0.5", lw=1.5, label="tracked (MediaPipe)")
    ax.plot(t, corrected[:n], color="tab:blue", lw=1.2, label="contact-true target")
    if rest:
        from imitator.contact import RestConfig, closed_at_rest, rest_in_pauses
        from imitator.vad import pauses, speech_frames

        speech = speech_frames(seq.audio, len(seq.vertices), data.fps)
        for k, (a, b) in enumerate(pauses(speech, int(RestConfig().min_pause_s * data.fps))):
            ax.axvspan(a / data.fps, b / data.fps, color="0.85", lw=0, zorder=0,
                       label="pause >= 0.5 s (voice activity)" if k == 0 else None)
        target = rest_in_pauses(seq.vertices, closed_at_rest(seq.template), speech, data.fps)
        ax.plot(t, lip_distance(target)[:n], color="tab:green", lw=1.2, label="+ rest-true target in pauses")
    ax.plot(t[frames], raw[frames], "v", color="tab:red", label="labelled closure (tracked gap)")
    ax.plot(t[frames], corrected[frames], "o", color="tab:red", ms=4, label="labelled closure (target)")
    ax.axhline(1.0, color="k", lw=0.6, ls=":", label="1 mm (closure threshold)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("inner lip distance (mm)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, t[-1])
    ax.set_title("\n".join(textwrap.wrap(f"{clip_id}: {seq.info.transcript}", 140)), fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    gaps = raw[frames]
    print(f"{len(frames)} closures in the first {n / data.fps:.0f} s: tracked gap median {np.median(gaps):.2f} mm, "
          f"target max {corrected[frames].max():.3f} mm")


if __name__ == "__main__":
    main(*sys.argv[1:4], rest="--rest" in sys.argv[4:])
