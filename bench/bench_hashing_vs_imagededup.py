"""Benchmark: perceptual hashing throughput, ours vs imagededup's PHash, on the same files.

A 2,000-post synthetic board (256-px images by default, ``--image-size`` for board-sized
originals; mixed jpg/png/webp/gif); the decodable files are
linked into one flat folder. Side by side, alternating, each in a fresh process with 2 worker
processes:

- ours: `curation.images.inspect_file` on every file as the stage runs it (every frame
  decoded, JPEGs at the reduction the hashes need (`jpeg_draft`, every byte still read),
  validation, pixel sha256, then every perceptual hash: pHash and dHash of the normalised
  picture and of its mirror, of the picture with its background whitened, and the alignment
  thumbnail), the same with `jpeg_draft = false` (every pixel decoded), and, separately, the
  perceptual hashes alone (`picture_hashes`: draft decode, reduce, trim, hash);
- baseline: imagededup's `PHash().encode_images(folder, num_enc_workers=2)`, run with the
  Python of a separate venv that has imagededup (`--imagededup-python`), since imagededup pins
  its own dependencies.

Target (hash dedupe issue): our hashing at least 2x imagededup's PHash throughput.

    python bench/bench_hashing_vs_imagededup.py --imagededup-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

OURS = textwrap.dedent("""
    import sys, time
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path
    from PIL import Image
    from curation.images.inspect import inspect_file
    from curation.images.hashing import HASH_SIDE, has_real_alpha, picture_hashes

    def hashes_only(path):
        img = Image.open(path)
        if img.format == "JPEG":
            img.draft(None, (HASH_SIDE, HASH_SIDE))
        return picture_hashes(img, (255, 255, 255), has_real_alpha(img))["phash"]

    def full(path):
        return inspect_file(path, 89_478_485, jpeg_draft=True).phash

    def every_pixel(path):
        return inspect_file(path, 89_478_485, jpeg_draft=False).phash

    if __name__ == "__main__":
        files = sorted(str(p) for p in Path(sys.argv[2]).iterdir())
        fn = {"full": full, "every-pixel": every_pixel, "hashes": hashes_only}[sys.argv[1]]
        start = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            hashes = list(pool.map(fn, files, chunksize=32))
        print(time.perf_counter() - start, sum(h is not None for h in hashes))
""")

THEIRS = textwrap.dedent("""
    import sys, time
    from imagededup.methods import PHash
    if __name__ == "__main__":
        start = time.perf_counter()
        encodings = PHash(verbose=False).encode_images(image_dir=sys.argv[1], num_enc_workers=2)
        print(time.perf_counter() - start, sum(v is not None for v in encodings.values()))
""")


def timed(python: str, script: str, *args: str) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run([python, f.name, *args], check=True, capture_output=True, text=True).stdout.split()
    finally:
        os.unlink(f.name)
    return float(out[-2]), int(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imagededup-python", required=True, help="python of a venv with imagededup installed")
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument(
        "--image-size",
        type=int,
        default=256,
        help="long side of the synthetic images in px (boards serve 1,000-3,000 px originals)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--board", type=Path, help="use this synthetic board (made by `curate synth`) instead of making one")
    opts = parser.parse_args()
    import polars as pl

    with tempfile.TemporaryDirectory(prefix="bench_hashing_") as tmp:
        board, flat = opts.board or Path(tmp) / "board", Path(tmp) / "flat"
        if not opts.board:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "curation.cli",
                    "-q",
                    "synth",
                    str(board),
                    "--posts",
                    str(opts.posts),
                    "--image-size",
                    str(opts.image_size),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        posts = pl.read_parquet(board / "truth" / "posts.parquet")
        bad = set(pl.read_parquet(board / "truth" / "bad_files.parquet")["post_id"])
        flat.mkdir()
        for post_id, path in posts.select("post_id", "path").iter_rows():
            if post_id not in bad:
                (flat / Path(path).name).symlink_to(board / path)
        runs: dict[str, list[float]] = {
            "ours: the stage's hashes": [],
            "ours: full inspection": [],
            "ours: full inspection, jpeg_draft = false": [],
            "imagededup PHash (baseline)": [],
        }
        counts = {}
        for _ in range(opts.repeats):
            for name, call in (
                ("imagededup PHash (baseline)", lambda: timed(opts.imagededup_python, THEIRS, str(flat))),
                ("ours: the stage's hashes", lambda: timed(sys.executable, OURS, "hashes", str(flat))),
                ("ours: full inspection", lambda: timed(sys.executable, OURS, "full", str(flat))),
                ("ours: full inspection, jpeg_draft = false", lambda: timed(sys.executable, OURS, "every-pixel", str(flat))),
            ):
                seconds, n = call()
                runs[name].append(seconds)
                counts[name] = n
        base = statistics.median(runs["imagededup PHash (baseline)"])
        files = len(list(flat.iterdir()))
        report = {
            "files": files,
            "image_size": None if opts.board else opts.image_size,
            "workers": 2,
            "cpus": os.cpu_count(),
            "results": {
                name: {
                    "runs_s": [round(t, 2) for t in ts],
                    "median_s": round(statistics.median(ts), 2),
                    "files_per_s": round(files / statistics.median(ts)),
                    "hashed": counts[name],
                    "throughput_vs_imagededup": round(base / statistics.median(ts), 2),
                }
                for name, ts in runs.items()
            },
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
