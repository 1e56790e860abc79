"""Mutation fuzzing of every codec's decoder: damaged streams must fail with one clear error.

Each registered codec writes a few real streams (two small crops, its lowest and highest default
quality); each stream is then damaged the ways an unlucky user or an attacker would damage it
(:func:`mutate`): cut short, bits flipped, bytes inserted, deleted or appended, header bytes set to
extremes, and, for the book's own container, header fields or payload bytes edited with the
checksum recomputed so that the damage gets past it. The codec that wrote the stream decodes
every mutant in a separate worker process, under an address-space limit of 1 GiB above what the
worker held before, and with a 20-second time limit. Each outcome is one of:

- ``refused``: :class:`lic.codec.BitstreamError` (the one clear line that the CLI prints);
- ``decoded``: an image of the right type; for the book's containers, when the checksum was not
  recomputed and the bytes changed, this is ``silent`` instead: damage that got through;
- ``cut``: a progressive stream cut short between rounds, decoded to the coarser image of the rounds
  it holds, as designed, and reported as such (``ProgressiveCodec.rounds``; the CLI prints a note);
- ``crash`` (any other exception), ``memory`` (MemoryError), ``hang`` (no answer in 20 s).

``crash``, ``memory``, ``hang`` and ``silent`` are failures. Pillow's formats carry no checksum, so
a flipped bit inside their data may decode to a wrong image: for them ``decoded`` is only counted.

    python scripts/fuzz.py --per-codec 10000 --json benchmarks/fuzz.json   # make fuzz (minutes)
    python scripts/fuzz.py --per-codec 200 --codec wen2019                  # quick
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import struct
import sys
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

FAILURES = ("crash", "memory", "hang", "silent")
HANG_SECONDS = 20
MEMORY_HEADROOM = 1 << 30
KINDS = ("truncate", "flip", "insert", "delete", "append", "header", "fields+crc", "payload+crc")


# ----------------------------------------------------------------------------- mutations
def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes, bool]:
    """One damaged copy of ``data``: ``(kind, bytes, checksum_recomputed)``."""
    container = data[:3] == b"LIC"
    kind = rng.choice(KINDS if container else KINDS[:6])
    out = bytearray(data)
    n = len(out)
    if kind == "truncate":
        return kind, bytes(out[: rng.randrange(n)]), False
    if kind == "flip":
        for _ in range(rng.choice((1, 1, 2, 8))):
            i = rng.randrange(n)
            out[i] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        i = rng.randrange(n + 1)
        out[i:i] = rng.randbytes(rng.choice((1, 2, 16)))
    elif kind == "delete":
        i = rng.randrange(n)
        del out[i : i + rng.choice((1, 2, 16))]
    elif kind == "append":
        out += rng.randbytes(rng.choice((1, 7, 300)))
    elif kind == "header":
        for _ in range(rng.choice((1, 2, 4))):
            out[rng.randrange(min(n, 40))] = rng.choice((0, 0xFF, rng.randrange(256)))
    elif kind == "fields+crc":
        return kind, _edit_fields(data, rng), True
    else:  # payload+crc
        return kind, _edit_payload(data, rng), True
    return kind, bytes(out), False


def _split(data: bytes) -> tuple[int, int, int]:
    """(offset of the fixed fields, offset of the CRC, offset after the header) of a container."""
    fields = 5 + data[4]
    return fields, fields + 10, fields + 14


def _with_crc(data: bytearray) -> bytes:
    """The container with its CRC-32 recomputed over header and payload (or index), as the writer does."""
    fields, crc_at, start = _split(data)
    version = data[3]
    covered = len(data) - start if version == 1 else struct.unpack(">I", data[fields + 6 : fields + 10])[0]
    crc = zlib.crc32(bytes(data[start : start + covered]), zlib.crc32(bytes(data[:crc_at])))
    data[crc_at : crc_at + 4] = struct.pack(">I", crc)
    return bytes(data)


def _edit_fields(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    fields, _, _ = _split(out)
    field = rng.choice(("quality", "height", "width", "length", "name"))
    if field == "name":
        i = 5 + rng.randrange(out[4])
        out[i] = rng.randrange(32, 127)
    else:
        offset, size = {"quality": (0, 2), "height": (2, 2), "width": (4, 2), "length": (6, 4)}[field]
        value = rng.choice((0, 1, 2, 255, 256, 0xFFFF, 0xFFFFFFFF, rng.randrange(1 << (8 * size))))
        out[fields + offset : fields + offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "big")
    return _with_crc(out)


def _edit_payload(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    _, _, start = _split(out)
    if len(out) > start:
        for _ in range(rng.choice((1, 3))):
            i = rng.randrange(start, len(out))
            out[i] ^= 1 << rng.randrange(8)
    return _with_crc(out)


# ----------------------------------------------------------------------------- the decoding worker
def _worker(conn) -> None:
    """Decode streams sent over ``conn`` under an address-space limit; answer with the outcome."""
    import torch

    torch.set_num_threads(1)
    from lic.codec import BitstreamError
    from lic.registry import get_codec

    limit_set = False
    while True:
        request = conn.recv()
        if request is None:
            return
        name, data = request
        codec = get_codec(name)
        if hasattr(codec, "qualities") and not limit_set:   # load what the codec needs, then limit
            _warm(codec)
        if not limit_set:
            used = _address_space()
            resource.setrlimit(resource.RLIMIT_AS, (used + MEMORY_HEADROOM, resource.RLIM_INFINITY))
            limit_set = True
        try:
            image = codec.decompress(data)
            ok = isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] == 3 and \
                image.is_floating_point() and bool(image.min() >= 0) and bool(image.max() <= 1)
            held, written = codec.rounds(data) if ok and hasattr(codec, "rounds") else (0, 0)
            if held < written:
                conn.send(("cut", f"{held} of {written} rounds"))
            else:
                conn.send(("decoded", tuple(image.shape)) if ok else ("crash", f"bad image {getattr(image, 'shape', image)}"))
        except BitstreamError as err:
            conn.send(("refused", str(err)))
        except MemoryError:
            conn.send(("memory", "MemoryError"))
        except Exception as err:  # noqa: BLE001  (the point: anything else is a crash)
            conn.send(("crash", f"{type(err).__name__}: {err} @ {traceback.extract_tb(err.__traceback__)[-1].name}"))


def _warm(codec) -> None:
    """Load every checkpoint of a learned codec before the memory limit is set."""
    model = getattr(codec, "model", None)
    if model is None:
        return
    try:
        for q in codec.qualities:
            model(q)
    except TypeError:   # a codec with one model (ashok2019)
        model()


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


class Decoder:
    """A worker process per codec; restarted after a hang or a crash of the process itself."""

    def __init__(self) -> None:
        self.context = mp.get_context("spawn")
        self.process = None

    def start(self) -> None:
        self.conn, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()

    def decode(self, name: str, data: bytes) -> tuple[str, str]:
        if self.process is None or not self.process.is_alive():
            self.start()
        self.conn.send((name, data))
        if self.conn.poll(HANG_SECONDS):
            try:
                return self.conn.recv()
            except EOFError:
                pass
            self.stop()
            return "crash", "the worker process died"
        self.stop()
        return "hang", f"no answer in {HANG_SECONDS} s"

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process = None


# ----------------------------------------------------------------------------- a run
def seed_streams(name: str) -> list[bytes]:
    """Real streams of codec ``name``: two small crops, at its lowest and highest default quality."""
    from lic.data import evaluation_set
    from lic.registry import get_codec

    codec = get_codec(name)
    photos = dict(evaluation_set(["kodim23", "sail"]))
    crops = [photos["kodim23"][:, 96:160, 160:240], photos["sail"][:, 200:248, 300:372]]
    qualities = (codec.qualities[0], codec.qualities[-1])
    return [codec.compress(crop, q) for crop in crops for q in qualities]


def fuzz_codec(name: str, count: int, seed: int = 0, decoder: Decoder | None = None) -> dict:
    """Decode ``count`` mutants of codec ``name``'s streams; outcome counts and the first failures."""
    own = decoder is None
    decoder = decoder or Decoder()
    rng = random.Random(f"{name}:{seed}")
    seeds = seed_streams(name)
    outcomes, by_kind, failures = Counter(), Counter(), []
    started = time.perf_counter()
    try:
        for i in range(count):
            original = seeds[i % len(seeds)]
            kind, data, crc_fixed = mutate(original, rng)
            outcome, detail = decoder.decode(name, data)
            if outcome == "decoded" and data[:3] == b"LIC" and not crc_fixed and data != original:
                outcome = "silent"
            if outcome == "memory" and len(data) >= 1024:
                outcome = "refused"          # a 1 GiB limit says nothing about a large stream
            outcomes[outcome] += 1
            by_kind[f"{kind}:{outcome}"] += 1
            if outcome in FAILURES and len(failures) < 5:
                failures.append({"kind": kind, "outcome": outcome, "detail": detail[:300], "bytes": len(data),
                                 "stream": data.hex() if len(data) <= 512 else None})
    finally:
        if own:
            decoder.stop()
    return {"codec": name, "streams": count, "outcomes": dict(outcomes), "by_kind": dict(sorted(by_kind.items())),
            "failures": failures, "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-codec", type=int, default=200, help="mutated streams per codec")
    parser.add_argument("--codec", nargs="*", help="default: every registered codec")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the counts here (e.g. benchmarks/fuzz.json)")
    args = parser.parse_args(argv)
    from lic.registry import available

    names = args.codec or list(available())
    results, decoder = [], Decoder()
    try:
        for name in names:
            decoder.stop()   # a fresh worker (and memory limit) per codec
            result = fuzz_codec(name, args.per_codec, args.seed, decoder)
            results.append(result)
            bad = sum(result["outcomes"].get(k, 0) for k in FAILURES)
            print(f"{name:<16} {result['streams']:>6} streams  {result['outcomes']}  "
                  f"{'FAILURES: ' + str(bad) if bad else 'ok'}  ({result['seconds']:.0f} s)", flush=True)
    finally:
        decoder.stop()
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "per_codec": args.per_codec, "hang_seconds": HANG_SECONDS,
                                         "memory_headroom_bytes": MEMORY_HEADROOM, "python": sys.version.split()[0],
                                         "codecs": results}, indent=1) + "\n")
    return 1 if any(r["outcomes"].get(k) for r in results for k in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
