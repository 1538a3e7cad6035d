"""The `imitator` command line. Thin: each command parses arguments and calls the Python API."""
from __future__ import annotations

import argparse
import sys


def _cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, train

    cfg = TrainConfig(data=args.data, out=args.out, encoder=args.encoder, epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size,
                      lip_weight=args.lip_weight, seed=args.seed, resume=args.resume,
                      max_sequences=args.max_sequences)
    train(cfg)


def _cmd_make_corpus(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from tqdm import tqdm

    from .data.synthetic import QUICK, CorpusConfig, make_corpus

    cfg = replace(QUICK if args.quick else CorpusConfig(), seed=args.seed, workers=args.workers)
    with tqdm(total=1, unit="seq", desc="make-corpus") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = make_corpus(args.out, cfg, progress)
    print(report.summary())


def _cmd_label_lips(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .lips import label_dataset

    with tqdm(total=1, unit="seq", desc="label-lips") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = label_dataset(args.data, realign=args.realign, progress=progress)
    print(report.summary())
    for seq_id, why in report.failed.items():
        print(f"  {seq_id}: {why}")


def _cmd_track(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .tracking import save_preview, track_video

    with tqdm(total=100, unit="%", desc="track") as bar:
        def progress(fraction: float, message: str) -> None:
            bar.update(round(100 * fraction) - bar.n)
            bar.set_postfix_str(message)

        result = track_video(args.video, progress=progress)
    result.save(args.out)
    if args.preview:
        save_preview(result, args.preview)
    print(f"{args.out}: {len(result.vertices)} frames at {result.fps:g} fps, "
          f"{int(result.valid.sum())} valid, audio {len(result.audio) / 16000:.2f} s")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imitator", description="Personalized speech-driven 3D facial animation")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a generic model on a dataset folder")
    t.add_argument("data", help="dataset folder (index.json + sequences/)")
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument("--encoder", default="whisper-tiny.en", help="whisper-tiny.en | mel | hf:<model id or path>")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--batch-size", type=int, default=1, help="sequences per step (the paper uses 1)")
    t.add_argument("--lip-weight", type=float, default=5.0, help="weight of the lip-contact loss (0 disables)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-sequences", type=int, default=None, help="use only the first N training sequences")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last if present")
    t.set_defaults(func=_cmd_train)

    m = sub.add_parser("make-corpus", help="generate the synthetic speech-to-face training corpus")
    m.add_argument("--out", required=True, help="dataset folder to create")
    m.add_argument("--quick", action="store_true", help="a small corpus (4 identities x 6 sentences) for trials")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--workers", type=int, default=2, help="worker processes")
    m.set_defaults(func=_cmd_make_corpus)

    lb = sub.add_parser("label-lips", help="label lip closures (m, b, p) of a dataset and write its lip_weights")
    lb.add_argument("data", help="dataset folder (index.json + sequences/)")
    lb.add_argument("--realign", action="store_true",
                    help="align the transcripts again even where phones are stored (transcribe if none)")
    lb.set_defaults(func=_cmd_label_lips)

    tr = sub.add_parser("track", help="track the face in a video: stabilised per-frame meshes (mm) and its audio")
    tr.add_argument("video", help="mp4 / mov / webm / ... video of one talking face")
    tr.add_argument("--out", required=True, help=".npz file to write")
    tr.add_argument("--preview", default=None, help="also write a PNG: the mesh over a frame, the lip distance")
    tr.set_defaults(func=_cmd_track)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as e:  # user errors: one clear line, no traceback
        print(f"imitator {args.command}: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
