"""The `imitator` command line. Thin: each command parses arguments and calls the Python API.

A user's mistake (an ImitatorError, or a missing input file) is one line on stderr and exit status 2;
anything else is a bug and keeps its traceback."""
from __future__ import annotations

import argparse
import sys


def _cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, train

    mix = [float(m) for m in args.mix.split(",")] if args.mix else None
    cfg = TrainConfig(data=args.data, out=args.out, encoder=args.encoder, epochs=args.epochs, lr=args.lr,
                      lr_schedule=args.lr_schedule, weight_decay=args.weight_decay, batch_size=args.batch_size, architecture=args.architecture,
                      lip_weight=args.lip_weight, lip_region=args.lip_region, seed=args.seed, resume=args.resume,
                      max_sequences=args.max_sequences, mix=mix, identity_balance=args.identity_balance,
                      epoch_size=args.epoch_size, max_frames=args.max_frames, mirror=args.mirror, init=args.init,
                      generic_from=args.generic_from, closed_rest_lips=args.closed_rest_lips,
                      augment_audio=args.augment_audio, augment_copies=args.augment_copies,
                      rest_in_pauses=args.rest_in_pauses, style_dropout=args.style_dropout,
                      model={**({"audio_context": args.audio_context} if args.audio_context is not None else {}),
                             **({"feedback": False} if args.no_feedback else {})})
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


def _cmd_fit_closures(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .checkpoint import load_model, save_model
    from .closures import ClosureConfig, FitConfig, fit_detector, labelled_sequences
    from .data.dataset import Dataset
    from .errors import ConfigError
    from .inference import model_encoder

    model = load_model(args.model, device="cpu")
    encoder = model_encoder(model)
    if encoder.trainable:
        raise ConfigError("a closure detector hears frozen speech features; this model fine-tunes its encoder")
    datasets = [Dataset(d) for d in args.data]
    if any(d.fps != model.cfg.fps for d in datasets):
        raise ConfigError(f"the datasets' frame rates must be the model's ({model.cfg.fps:g} fps)")
    sequences = [s for d in datasets for s in labelled_sequences(d, encoder, args.augment_copies)]
    cfg = ClosureConfig(encoder=model.cfg.encoder, audio_dim=model.cfg.audio_dim, context=args.context,
                        hidden=args.hidden, threshold=args.threshold, hold=args.hold,
                        fps=model.cfg.fps)
    with tqdm(total=args.steps, desc="closure detector", unit="step") as bar:
        def progress(step: int, total: int, loss: float) -> None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{loss:.3f}")

        detector = fit_detector(sequences, cfg, FitConfig(steps=args.steps, seed=args.seed), progress)
    model.attach_closures(detector)
    out = save_model(model, args.out or args.model, extra={k: v for k, v in model.meta.items() if k != "model"})
    print(f"closure detector ({len(sequences)} labelled sequences) written to {out}")


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
    from .audio import SAMPLE_RATE
    from .tracking import save_preview, track_video

    bar, progress = _percent_bar("track")
    with bar:
        result = track_video(args.video, progress=progress)
    result.save(args.out)
    if args.preview:
        save_preview(result, args.preview)
    print(f"{args.out}: {len(result.vertices)} frames at {result.fps:g} fps, "
          f"{int(result.valid.sum())} valid, audio {len(result.audio) / SAMPLE_RATE:.2f} s")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _cmd_build_dataset(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .data.build import build_dataset

    with tqdm(total=1, unit="clip", desc="build-dataset") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = build_dataset(args.videos, args.out, args.split_file, args.val_fraction, args.test_fraction,
                               args.seed, args.transcripts, args.workers, args.redo, args.max_per_person,
                               progress=progress)
    print(report.summary())
    print(f"report: {args.out}/report.md")


def _percent_bar(desc: str):
    """A tqdm bar driven by the (fraction, message) progress callbacks of tracking and create_style."""
    from tqdm import tqdm

    bar = tqdm(total=100, unit="%", desc=desc)

    def progress(fraction: float, message: str) -> None:
        bar.update(round(100 * fraction) - bar.n)
        bar.set_postfix_str(message, refresh=False)

    return bar, progress


def _model(args: argparse.Namespace):
    from .pipeline import default_model

    return default_model(args.model)


def _cmd_create_style(args: argparse.Namespace) -> None:
    from .adapt import fit_summary
    from .pipeline import create_style, picture_note

    import torch

    torch.set_num_threads(1)  # adaptation's small tensors: faster on one thread (app.py main, docs/benchmarks.md)
    bar, progress = _percent_bar("create-style")
    with bar:
        style = create_style(args.from_tracked or args.video, args.name, model=_model(args), progress=progress,
                             description=args.description, overwrite=args.overwrite, transcript=args.transcript)
    fit = style.meta.fit
    print(f"style {style.name!r} saved: {fit_summary(fit)} ({fit['frames']} frames; {fit.get('lip_labels', '')})")
    print(picture_note(style))
    for warning in fit.get("warnings", []):  # two faces, face lost, truncated file ...
        print(f"warning: {warning}", file=sys.stderr)


def _cmd_styles(args: argparse.Namespace) -> None:
    """imitator styles [list|rename OLD NEW|describe NAME TEXT|delete NAME]: the app's style management."""
    from . import style_store

    action = getattr(args, "styles_cmd", None) or "list"
    if action == "rename":
        style_store.rename_style(args.name, args.new_name, overwrite=args.overwrite)
        print(f"renamed style {args.name!r} to {args.new_name!r}")
    elif action == "describe":
        style_store.describe_style(args.name, args.description)
        print(f"description of {args.name!r} saved")
    elif action == "delete":
        style_store.delete_style(args.name)
        print(f"deleted style {args.name!r}")
    else:
        entries = style_store.list_styles()
        for e in entries:
            what = f"BROKEN: {e.error}" if e.error else (e.meta.description or e.meta.source)
            print(f"{e.name:24s} {e.kind:7s} {what}")
        if not any(e.kind == "user" for e in entries):
            print(f"(no styles of your own yet; they go to {style_store.owner_dir()})")


def _cmd_animate(args: argparse.Namespace) -> None:
    from .errors import UsageError
    from .pipeline import animate

    if not (args.npz or args.out or args.glb or args.obj_zip):
        raise UsageError("say where to write the animation: --out video.mp4, --npz, --glb or --obj-zip")
    anim = animate(args.audio, style=args.style, model=_model(args), compare_generic=args.side_by_side)
    from .pipeline import export_animation, render_video

    # Blinks: in the video unless --no-blinks; in the exported meshes only with --blinks.
    notes = export_animation(anim, npz=args.npz, glb=args.glb, obj_zip=args.obj_zip, blinks=bool(args.blinks))
    if args.out:
        render_video(anim, args.out, blinks=args.blinks is not False)
    print(f"{len(anim.vertices)} frames at {anim.fps:g} fps in style {anim.style!r}: "
          + ", ".join(p for p in (args.out, args.npz, args.glb, args.obj_zip) if p))
    for note in notes:
        print(f"note: {note}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from .checkpoint import load_model
    from .data.dataset import Dataset
    from .errors import UsageError
    from .evaluate import evaluate_model, markdown_table

    data = Dataset(args.data)
    rows = []
    if args.static:
        rows += [("static template", g) for g in evaluate_model(None, data, args.split)]
    model = load_model(args.checkpoint) if args.checkpoint else None
    if model is not None:
        style = "auto" if args.style == "auto" else (None if args.style == "generic" else args.style)
        rows += [(args.checkpoint, g) for g in evaluate_model(model, data, args.split, style)]
    if not rows:
        raise UsageError("nothing to evaluate: give --checkpoint and/or --static")
    print(markdown_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"model": label, "group": g.name, "n": g.n_sequences, "metrics": g.metrics,
                        "per_sequence": g.per_sequence} for label, g in rows], f, indent=1)


def _cmd_import_vocaset(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .data.vocaset import VocasetConfig, convert_vocaset, parse_numbers

    cfg = VocasetConfig(flame_mesh=args.flame_mesh, flame_masks=args.flame_masks, transcripts=args.transcripts,
                        subjects=tuple(args.subjects) if args.subjects else None,
                        sentences=parse_numbers(args.sentences) if args.sentences else None)
    with tqdm(unit="seq", desc="import-vocaset") as bar:
        report = convert_vocaset(args.src, args.out, cfg, lambda n, name: bar.update(1))
    print(report.summary())
    for seq_id, why in list(report.skipped.items())[:20]:
        print(f"  skipped {seq_id}: {why}")


def _cmd_reproduce_paper(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from .adapt import AdaptConfig
    from .paper import ProtocolConfig, reproduce_paper

    adapt_cfg = replace(AdaptConfig(), stage1_steps=args.adapt_steps, stage2_steps=args.adapt_steps)
    cfg = ProtocolConfig(data=args.data, out=args.out, checkpoint=args.checkpoint, epochs=args.epochs,
                         encoder=args.encoder, references=tuple(int(n) for n in args.references.split(",")),
                         adapt=adapt_cfg, faceformer=args.faceformer or bool(args.faceformer_checkpoint),
                         faceformer_checkpoint=args.faceformer_checkpoint)
    result = reproduce_paper(cfg)
    print(result.table())
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items())
          + f"; written to {args.out}/results.json and table.md")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imitator", description="Personalized speech-driven 3D facial animation")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a generic model on one or several dataset folders")
    t.add_argument("data", nargs="+", help="dataset folders (index.json + sequences/), trained on at once")
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument("--encoder", default="whisper-tiny.en", help="whisper-tiny.en | mel | hf:<model id or path>")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                   help="cosine: decay the learning rate to lr/100 by the last epoch")
    t.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (0: none)")
    t.add_argument("--batch-size", type=int, default=1, help="sequences per step (the paper uses 1)")
    t.add_argument("--architecture", default="imitator", choices=["imitator", "faceformer"],
                   help="faceformer: the FaceFormer-style baseline (periodic positions, ALiBi, style start token)")
    t.add_argument("--lip-weight", type=float, default=5.0, help="weight of the lip-contact loss (0 disables)")
    t.add_argument("--lip-region", default="face", choices=["face", "lips"],
                   help="measure the lip-contact loss over the whole face (the paper) or the lip vertices only")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-sequences", type=int, default=None, help="use only the first N training sequences")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last if present")
    t.add_argument("--mix", default=None, help="share of each dataset in an epoch's draws, e.g. 1,1 (default: by size)")
    t.add_argument("--identity-balance", type=float, default=0.0,
                   help="0: people as often as their data; 1: every person equally often (between: a power law)")
    t.add_argument("--epoch-size", type=int, default=None, help="draws per epoch with --mix/--identity-balance")
    t.add_argument("--max-frames", type=int, default=None, help="cut longer sequences into chunks of this many frames")
    t.add_argument("--mirror", type=float, default=0.0, help="probability of mirroring an example left-right")
    t.add_argument("--init", default=None, help="checkpoint to fine-tune (new people get new styles)")
    t.add_argument("--closed-rest-lips", action="store_true",
                   help="close the inner-lip gap of every neutral face (trained on and given): tracker bias")
    t.add_argument("--augment-audio", type=float, default=0.0,
                   help="probability of hearing an example through a degraded copy of its audio (noise, reverb, EQ)")
    t.add_argument("--augment-copies", type=int, default=2, help="degraded copies per sequence (features cached)")
    t.add_argument("--rest-in-pauses", type=float, default=0.0, metavar="SECONDS",
                   help="pauses at least this long (voice activity) get rest-true targets: the lower face at rest")
    t.add_argument("--style-dropout", type=float, default=0.0,
                   help="probability of decoding a generic-style person's draw in the generic (mean) style")
    t.add_argument("--audio-context", type=int, default=None,
                   help="audio frames each side that a motion frame hears (default 0; with --init: the model's)")
    t.add_argument("--no-feedback", action="store_true",
                   help="the viseme decoder does not hear its own previous output (not the paper's autoregression)")
    t.add_argument("--generic-from", action="append", default=None, metavar="DATA",
                   help="the generic style is the mean style of this dataset's people (repeatable; default: all)")
    t.set_defaults(func=_cmd_train)

    fc = sub.add_parser("fit-closures", help="train a model's closure detector: the lips close on the m/b/p it hears")
    fc.add_argument("model", help="checkpoint folder")
    fc.add_argument("data", nargs="+", help="dataset folders with lip labels (their train split is used)")
    fc.add_argument("--out", default=None, help="checkpoint folder to write (default: the model's own)")
    fc.add_argument("--context", type=int, default=6, help="speech frames heard each side")
    fc.add_argument("--hidden", type=int, default=0, help="hidden channels (0: linear)")
    fc.add_argument("--threshold", type=float, default=0.7, help="closure probability a peak needs")
    fc.add_argument("--hold", type=int, default=1, help="frames each side of a closure the lips stay shut too")
    fc.add_argument("--steps", type=int, default=3000)
    fc.add_argument("--augment-copies", type=int, default=2, help="degraded copies of each sequence heard too")
    fc.add_argument("--seed", type=int, default=0)
    fc.set_defaults(func=_cmd_fit_closures)

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

    bd = sub.add_parser("build-dataset", help="build a dataset from talking-head videos (one folder per person)")
    bd.add_argument("videos", nargs="+", help="folders: VIDEOS/<person>/*.mp4, or videos (one person per file)")
    bd.add_argument("--out", required=True, help="dataset folder to write (rerun to resume)")
    bd.add_argument("--split-file", default=None, help="JSON {person: train|val|test}, naming every person")
    bd.add_argument("--val-fraction", type=float, default=0.0, help="without --split-file: share of people in val")
    bd.add_argument("--test-fraction", type=float, default=0.0, help="... and in test")
    bd.add_argument("--seed", type=int, default=0, help="shuffles the people for the fractions")
    bd.add_argument("--transcripts", default=None, help="TSV: video path<TAB>transcript (else .txt beside, else Whisper)")
    bd.add_argument("--workers", type=int, default=1, help="clips processed in parallel (processes)")
    bd.add_argument("--max-per-person", type=int, default=None,
                    help="at most this many clips of one person (evenly spread over its file names)")
    bd.add_argument("--redo", action="store_true", help="recompute every clip from its cached tracking")
    bd.set_defaults(func=_cmd_build_dataset)

    tr = sub.add_parser("track", help="track the face in a video: stabilised per-frame meshes (mm) and its audio")
    tr.add_argument("video", help="mp4 / mov / webm / ... video of one talking face")
    tr.add_argument("--out", required=True, help=".npz file to write")
    tr.add_argument("--preview", default=None, help="also write a PNG: the mesh over a frame, the lip distance")
    tr.set_defaults(func=_cmd_track)

    cs = sub.add_parser("create-style", help="learn a speaking style from a short talking-head video with sound; "
                        "the style keeps a picture of the face (deleted with the style)")
    cs.add_argument("video", nargs="?", help="video of one person talking (about 5 s or more, with audio)")
    cs.add_argument("--from-tracked", default=None, help="a .npz from `imitator track` instead of a video")
    cs.add_argument("--name", required=True, help="name of the new style")
    cs.add_argument("--description", default="", help="a short description shown in style lists")
    cs.add_argument("--overwrite", action="store_true", help="replace a user style of the same name")
    cs.add_argument("--transcript", default="",
                    help="the words spoken (default: Whisper transcribes them to find the lip closures)")
    cs.add_argument("--model", default=None, help="checkpoint folder (default: the bundled model)")
    cs.set_defaults(func=_cmd_create_style)

    st = sub.add_parser("styles", help="list, rename, describe or delete styles (presets are read-only)")
    st.set_defaults(func=_cmd_styles)
    sst = st.add_subparsers(dest="styles_cmd")
    sst.add_parser("list", help="the bundled presets, then your styles")
    rn = sst.add_parser("rename", help="rename one of your styles")
    rn.add_argument("name")
    rn.add_argument("new_name")
    rn.add_argument("--overwrite", action="store_true", help="replace your style that already has the new name")
    de = sst.add_parser("describe", help="set the description shown in style lists")
    de.add_argument("name")
    de.add_argument("description")
    dl = sst.add_parser("delete", help="delete one of your styles")
    dl.add_argument("name")

    ds = sub.add_parser("delete-style", help="delete a user style (same as `styles delete`)")
    ds.add_argument("name")
    ds.set_defaults(func=_cmd_styles, styles_cmd="delete")

    an = sub.add_parser("animate", help="animate speech with a style")
    an.add_argument("audio", help="speech: any audio file, or a video whose audio track to use")
    an.add_argument("--style", default=None, help="style name (see `imitator styles`); default: generic")
    an.add_argument("--out", default=None, help="mp4 video to write (rendered face with the speech)")
    an.add_argument("--npz", default=None, help="NPZ to write: vertices (T, V, 3) mm, faces, fps")
    an.add_argument("--glb", default=None, help="GLB to write: the textured face, every frame as a morph target")
    an.add_argument("--obj-zip", default=None, help="zip of one OBJ per frame, with the face texture (MTL + PNG)")
    an.add_argument("--side-by-side", action="store_true", help="video: generic | styled side by side")
    an.add_argument("--blinks", action=argparse.BooleanOptionalAction, default=None,
                    help="eye blinks: by default in the video and not in exported meshes; --blinks adds them to "
                         "the exports too, --no-blinks leaves them out of the video too")
    an.add_argument("--model", default=None, help="checkpoint folder (default: the bundled model)")
    an.set_defaults(func=_cmd_animate)

    ev = sub.add_parser("evaluate", help="score a model on a dataset (mm; see docs/metrics.md)")
    ev.add_argument("--checkpoint", default=None, help="checkpoint folder")
    ev.add_argument("--data", required=True, help="dataset folder")
    ev.add_argument("--split", default="test")
    ev.add_argument("--style", default="auto",
                    help="auto (own style for seen identities, generic for unseen), generic, or a style name")
    ev.add_argument("--static", action="store_true", help="also score the static-template baseline")
    ev.add_argument("--json", default=None, help="write all numbers (per sequence too) to this file")
    ev.set_defaults(func=_cmd_evaluate)

    iv = sub.add_parser("import-vocaset", help="convert VOCASET (released or FaceFormer layout) to a dataset folder")
    iv.add_argument("src", help="VOCASET folder: data_verts.npy + *.pkl, or vertices_npy/ + wav/ + templates.pkl")
    iv.add_argument("--out", required=True, help="dataset folder to write (30 fps, mm, FLAME topology)")
    iv.add_argument("--flame-mesh", required=True, help="FLAME triangles: FLAME_sample.ply, head_template.obj, .npz")
    iv.add_argument("--flame-masks", required=True, help="FLAME_masks.pkl (or .npz/.json) with a 'lips' vertex set")
    iv.add_argument("--transcripts", default=None,
                    help='JSON {"sentence01": "text", ...}: label lip closures where a text is given')
    iv.add_argument("--subjects", nargs="*", default=None, help="convert only these subjects (name prefixes)")
    iv.add_argument("--sentences", default=None, help="convert only these sentence numbers, e.g. 1-4,21-24 (trials)")
    iv.set_defaults(func=_cmd_import_vocaset)

    rp = sub.add_parser("reproduce-paper", help="the paper's VOCASET protocol: train, adapt with 1 / 4 references, "
                                                "score; prints Table 1 columns beside the paper's numbers")
    rp.add_argument("data", help="dataset folder from `imitator import-vocaset`")
    rp.add_argument("--out", required=True, help="folder for the prior, results.json and table.md")
    rp.add_argument("--checkpoint", default=None, help="an already trained prior (skips training)")
    rp.add_argument("--epochs", type=int, default=300)
    rp.add_argument("--encoder", default="whisper-tiny.en",
                    help="whisper-tiny.en | mel | hf:<id or path> (the paper: hf:facebook/wav2vec2-base-960h)")
    rp.add_argument("--references", default="1,4", help="reference-sequence counts to adapt with, e.g. 1,4,20")
    rp.add_argument("--adapt-steps", type=int, default=300, help="steps per adaptation stage")
    rp.add_argument("--faceformer", action="store_true", help="also train and score the FaceFormer-style baseline")
    rp.add_argument("--faceformer-checkpoint", default=None, help="an already trained FaceFormer-style baseline")
    rp.set_defaults(func=_cmd_reproduce_paper)
    return p


USER_ERROR = 2  # the exit status of a user's mistake, as argparse uses for bad arguments


def main(argv: list[str] | None = None) -> None:
    from .errors import ImitatorError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ImitatorError, FileNotFoundError) as e:  # user errors: one clear line, no traceback
        print(f"imitator {args.command}: error: {e}", file=sys.stderr)
        sys.exit(USER_ERROR)


if __name__ == "__main__":
    main()
