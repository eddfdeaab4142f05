"""`python -m core VERB ...`: one verb per capability (see DESIGN.md, the CLI contract).

Machine-readable output is JSON on stdout; messages go to stderr; bad input exits 2 with
one clear line.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from core.errors import InputError


def _faces(args: argparse.Namespace) -> dict:
    from PIL import Image

    from core.faces import FaceAnalyzer, draw_faces, prepare_face
    from core.media import load_image

    image = load_image(args.image)
    analyzer = FaceAnalyzer()
    try:
        result = prepare_face(image, analyzer, size=args.size, aligned=args.aligned)
    finally:
        analyzer.close()
    if args.crop:
        Image.fromarray(result.crop.image).save(args.crop)
    if args.annotated and result.face is not None:
        Image.fromarray(draw_faces(result.image, [result.face, *result.others])).save(args.annotated)
    faces = [result.face, *result.others] if result.face is not None else []
    return {
        "image": str(args.image),
        "faces": [{"box": [round(v, 1) for v in face.box], "score": round(face.score, 4)} for face in faces],
        "chosen": 0 if faces else None,
        "crop_size": list(result.crop.image.shape),
    }


def _datasets(args: argparse.Namespace) -> dict:
    from core.datasets import read_dataset

    samples = read_dataset(args.format, args.root, split=args.split, au_labels=args.au_labels)
    return {
        "format": args.format,
        "n": len(samples),
        "labels": dict(sorted(Counter(s.label or "unlabelled" for s in samples).items())),
        "subjects": len({s.subject for s in samples if s.subject}),
        "sequences": len({s.sequence for s in samples if s.sequence}),
        "aus": {f"AU{au}": n for au, n in sorted(Counter(au for s in samples for au in s.aus).items())},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    faces = verbs.add_parser("faces", help="find faces and landmarks; write the aligned crop")
    faces.add_argument("image", type=Path)
    faces.add_argument("--size", type=int, default=48, help="crop side in pixels (default 48)")
    faces.add_argument("--aligned", action="store_true", help="the image is already an aligned crop")
    faces.add_argument("--crop", type=Path, help="write the aligned crop here (.png)")
    faces.add_argument("--annotated", type=Path, help="write the picture with faces and landmarks drawn")
    faces.set_defaults(run=_faces)

    datasets = verbs.add_parser("datasets", help="read a dataset and count its faces, labels and AUs")
    datasets.add_argument("--format", required=True, help="fer2013, ckplus, folder or generated")
    datasets.add_argument("--root", type=Path, help="the dataset folder (or the FER2013 csv)")
    datasets.add_argument("--split", help="train, test or private (FER2013)")
    datasets.add_argument("--au-labels", type=Path, help="CSV of AU presence per CK+ sequence")
    datasets.set_defaults(run=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = args.run(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
