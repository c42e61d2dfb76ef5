"""Signed and encrypted registry versions: what signing, verifying and encrypting cost.

Three workloads (issue 14):

1. **Load overhead.** A small scikit-learn LogisticRegression (skops) in a signed
   ``ModelRegistry.local`` (SQLite + local files): ``load`` by a registry holding a
   ``TrustPolicy`` vs the same load by one without (interleaved, median of the per-pair
   differences, in wall time and in this process's CPU time, which a shared machine
   disturbs less), and the signature check on its own (``verify_version``, median).
   Target: <= 0.5 ms added.
2. **A 500 MB directory of many files** (``--files`` files, random bytes, 2 levels of
   folders): sign (hash every file, sign the manifest) and verify (re-hash every file
   against the manifest, check the signature), prodml vs OpenSSF ``model-signing``
   (key-based: its ``use_elliptic_key_signer`` / ``use_elliptic_key_verifier``, ECDSA
   P-256, its default SHA-256 file serialisation with its thread pool). prodml signs
   with Ed25519 over its manifest statement and verifies through the artifact store's
   ``verify`` (no links followed, extra files refused), like a registry ``verify``.
   model-signing pins its own dependency set, so it runs in its own virtualenv
   (``--setup-model-signing`` builds ``/work/benchvenv/model-signing``), driven as a
   subprocess that times only its own calls. Target: prodml <= 1x model-signing's time.
3. **Encryption throughput**: ``encrypt_file`` / ``decrypt_file`` of a ``--enc-mb`` MB
   file on disk (chunked AES-256-GCM, 1 MiB chunks), in MB/s, next to a plain copy of
   the same file (the I/O floor) and one-shot AES-GCM over the bytes in memory.

The machine is shared; repeats interleave the tools, and ratios are medians of the
per-repeat ratios. Usage::

    python benchmarks/bench_signing.py [--quick] [--repeats 3] [--mb 500] [--files 2000]

Figures go to stdout and ``benchmarks/results/signing.json``.
"""

# S603: the subprocesses run this script's own worker in a virtualenv this script built.
# ruff: noqa: S603

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "signing.json"
MS_VENV = Path(os.environ.get("PRODML_BENCH_MODEL_SIGNING_VENV", "/work/benchvenv/model-signing"))

WORKER = r"""
import json, sys, time, pathlib
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
import model_signing

model, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
key = ec.generate_private_key(ec.SECP256R1())
(out / "key.pem").write_bytes(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()))
(out / "pub.pem").write_bytes(key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
sig = out / "model.sig"
t0 = time.perf_counter()
signing = model_signing.signing.Config().use_elliptic_key_signer(private_key=out / "key.pem")
signing.sign(model, sig)
t1 = time.perf_counter()
checking = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=out / "pub.pem")
checking.verify(model, sig)
t2 = time.perf_counter()
print(json.dumps({"sign": t1 - t0, "verify": t2 - t1}))
"""


def setup_model_signing() -> None:
    """Build the model-signing virtualenv."""
    subprocess.run([sys.executable, "-m", "venv", str(MS_VENV)], check=True)
    # model-signing 1.1 imports OpenSSL (its certificate signer) at import time without
    # installing pyOpenSSL everywhere: install it too, or the worker cannot import it.
    pip = str(MS_VENV / "bin" / "pip")
    subprocess.run([pip, "install", "model-signing==1.1.*", "pyopenssl"], check=True)


def _ms_version() -> str:
    out = subprocess.run(
        [str(MS_VENV / "bin" / "pip"), "show", "model-signing"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return next((ln.split()[-1] for ln in out.splitlines() if ln.startswith("Version")), "?")


# ------------------------------------------------------------------ 1. load overhead


def bench_load(reps: int) -> dict[str, float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from prodml.registry import ModelRegistry
    from prodml.registry.signing import Ed25519Signer, TrustPolicy, verify_version

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    root = tempfile.mkdtemp(prefix="bench-sign-")
    signer = Ed25519Signer.generate()
    policy = TrustPolicy([signer.verifier()])
    with ModelRegistry.local(root, signer=signer) as writer:
        writer.register("clf", model)
        writer.set_alias("clf", "production", 1)
    # Two readers opened alike; only the trust policy differs.
    signed = ModelRegistry.local(root, trust=policy, read_only=True)
    plain = ModelRegistry.local(root, read_only=True)
    for reg in (signed, plain):  # warm up
        for _ in range(20):
            reg.load("clf@production")
    diffs, with_trust, without, cpu_diffs = [], [], [], []
    burst = 10  # loads per registry per round: rounds alternate which goes first
    for i in range(reps):
        order = (signed, plain) if i % 2 == 0 else (plain, signed)
        got, cpu = {}, {}
        for reg in order:
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(burst):
                reg.load("clf@production")
            got[id(reg)] = (time.perf_counter() - t0) / burst
            cpu[id(reg)] = (time.process_time() - c0) / burst
        cpu_diffs.append(cpu[id(signed)] - cpu[id(plain)])
        with_trust.append(got[id(signed)])
        without.append(got[id(plain)])
        diffs.append(got[id(signed)] - got[id(plain)])
    mv = signed.get("clf@1")
    checks = []
    for _ in range(reps):
        t0 = time.perf_counter()
        verify_version(mv, policy)
        checks.append(time.perf_counter() - t0)
    signed.close()
    plain.close()
    shutil.rmtree(root, ignore_errors=True)
    return {
        "load_trusted_ms": statistics.median(with_trust) * 1e3,
        "load_plain_ms": statistics.median(without) * 1e3,
        "added_ms_median_of_pairs": statistics.median(diffs) * 1e3,
        "added_cpu_ms_median_of_pairs": statistics.median(cpu_diffs) * 1e3,
        "verify_version_ms": statistics.median(checks) * 1e3,
    }


# ------------------------------------------------------------------ 2. a 500 MB directory


def make_tree(root: Path, total_mb: int, files: int) -> int:
    size = total_mb * (1 << 20) // files
    block = os.urandom(size)
    for i in range(files):
        d = root / f"shard{i % 10:02d}" / f"part{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        # Distinct content per file without paying os.urandom for each.
        (d / f"w{i:05d}.bin").write_bytes(i.to_bytes(8, "little") + block[8:])
    return size * files


def prodml_sign_verify(root: Path, key: str) -> dict[str, float]:
    from datetime import datetime, timezone

    from prodml.registry._manifest import build
    from prodml.registry.backends.artifacts import LocalArtifactStore
    from prodml.registry.entities import ModelVersion
    from prodml.registry.signing import Ed25519Signer, TrustPolicy, sign_version, verify_version

    signer = Ed25519Signer.generate()
    policy = TrustPolicy([signer.verifier()])
    store = LocalArtifactStore(f"file://{root}")
    t0 = time.perf_counter()
    files = build(root / key)
    mv = ModelVersion(
        name="big",
        version=1,
        flavour="files",
        flavour_meta={"kind": "dir"},
        artifact_key=key,
        files=files,
        created_at=datetime.now(timezone.utc),
        created_by="bench",
    )
    mv = sign_version(mv, signer)
    t1 = time.perf_counter()
    verify_version(mv, policy)
    store.verify(key, mv.files, model_name="big", version=1)
    t2 = time.perf_counter()
    return {"sign": t1 - t0, "verify": t2 - t1}


def model_signing_sign_verify(model: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ms-") as out:
        proc = subprocess.run(
            [str(MS_VENV / "bin" / "python"), "-c", WORKER, str(model), out],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"model-signing worker failed: {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def bench_directory(total_mb: int, files: int, repeats: int) -> dict[str, Any]:
    from prodml.registry.backends._artifact_base import new_key

    base = Path(tempfile.mkdtemp(prefix="bench-big-"))
    key = new_key("big")
    model = base / key
    model.mkdir(parents=True)
    nbytes = make_tree(model, total_mb, files)
    have_ms = (MS_VENV / "bin" / "python").exists()
    if not have_ms:
        print(f"  model-signing not found at {MS_VENV} (--setup-model-signing): prodml alone")
    rows = []
    try:
        for r in range(repeats):
            ours = prodml_sign_verify(base, key)
            theirs = model_signing_sign_verify(model) if have_ms else None
            rows.append({"prodml": ours, "model_signing": theirs})
            print(f"  repeat {r + 1}: prodml {ours} | model-signing {theirs}", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out: dict[str, Any] = {"bytes": nbytes, "files": files, "rows": rows}
    for op in ("sign", "verify"):
        out[f"prodml_{op}_s"] = statistics.median(r["prodml"][op] for r in rows)
        if have_ms:
            out[f"model_signing_{op}_s"] = statistics.median(r["model_signing"][op] for r in rows)
            out[f"{op}_ratio_prodml_over_ms"] = statistics.median(
                r["prodml"][op] / r["model_signing"][op] for r in rows
            )
    out["model_signing_version"] = _ms_version() if have_ms else None
    return out


# ------------------------------------------------------------------ 3. encryption


def bench_encryption(mb: int, repeats: int) -> dict[str, float]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from prodml.registry.encryption import decrypt_file, encrypt_file

    class Keys:
        key_id = "bench"

        def key(self, key_id: str) -> bytes:
            return bytes(range(32))

    base = Path(tempfile.mkdtemp(prefix="bench-enc-"))
    src, enc, dec, cp = base / "plain", base / "enc", base / "dec", base / "copy"
    src.write_bytes(os.urandom(mb << 20))
    rates: dict[str, list[float]] = {"encrypt": [], "decrypt": [], "copy": [], "aesgcm_memory": []}
    data = src.read_bytes()
    cipher = AESGCM(bytes(32))
    try:
        for _ in range(repeats):
            for name, fn in (
                ("encrypt", lambda: _run(encrypt_file, src, enc, Keys())),
                ("decrypt", lambda: _run(decrypt_file, enc, dec, Keys())),
                ("copy", lambda: shutil.copyfile(src, cp)),
                (
                    "aesgcm_memory",
                    lambda: [
                        cipher.encrypt(bytes(12), data[i : i + (1 << 20)], None)
                        for i in range(0, len(data), 1 << 20)
                    ],
                ),
            ):
                t0 = time.perf_counter()
                fn()
                rates[name].append(mb / (time.perf_counter() - t0))
        assert dec.read_bytes() == data
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return {f"{k}_mb_s": statistics.median(v) for k, v in rates.items()}


def _run(fn: Any, src: Path, dst: Path, keys: Any) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fn(fin, fout, keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 MB, 200 files, 1 repeat")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--enc-mb", type=int, default=128)
    parser.add_argument("--load-reps", type=int, default=300)
    parser.add_argument("--setup-model-signing", action="store_true")
    args = parser.parse_args()
    if args.setup_model_signing:
        setup_model_signing()
        return
    if args.quick:
        args.mb, args.files, args.repeats, args.enc_mb, args.load_reps = 50, 200, 1, 16, 100
    results: dict[str, Any] = {"machine": "2 cores, shared", "args": vars(args)}
    print("1. load overhead of a trust policy (small sklearn model)", flush=True)
    results["load"] = bench_load(args.load_reps)
    print(json.dumps(results["load"], indent=2), flush=True)
    print(f"2. sign + verify {args.mb} MB in {args.files} files", flush=True)
    results["directory"] = bench_directory(args.mb, args.files, args.repeats)
    print(
        json.dumps({k: v for k, v in results["directory"].items() if k != "rows"}, indent=2),
        flush=True,
    )
    print(f"3. encryption throughput ({args.enc_mb} MB file)", flush=True)
    results["encryption"] = bench_encryption(args.enc_mb, max(args.repeats, 3))
    print(json.dumps(results["encryption"], indent=2), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
