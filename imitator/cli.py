"""The `imitator` command line. Thin: each command parses arguments and calls the Python API."""
from __future__ import annotations

import argparse
import sys


def _cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, train

    cfg = TrainConfig(data=args.data, out=args.out, encoder=args.encoder, epochs=args.epochs, lr=args.lr,
                      lip_weight=args.lip_weight, seed=args.seed, resume=args.resume,
                      max_sequences=args.max_sequences)
    train(cfg)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imitator", description="Personalized speech-driven 3D facial animation")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a generic model on a dataset folder")
    t.add_argument("data", help="dataset folder (index.json + sequences/)")
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument("--encoder", default="whisper-tiny.en", help="whisper-tiny.en | mel | hf:<model id or path>")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--lip-weight", type=float, default=5.0, help="weight of the lip-contact loss (0 disables)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-sequences", type=int, default=None, help="use only the first N training sequences")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last if present")
    t.set_defaults(func=_cmd_train)
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
