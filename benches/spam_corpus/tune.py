#!/usr/bin/env python3
"""Chooses locthu's default Bayes band scores on the TRAIN split only (issue 10).

The train split of compare.py (first hex digit of sha256(R) 0-7) is split again by the
second hex digit: 0-b fit, c-f validate. locthu learns the fit part, scans the validation
part once, and since `scan` prints every symbol with its score, other band scores are
tried offline: the total is re-summed with them. The test split is never read here.

    python3 benches/spam_corpus/tune.py --locthu-bin target/release/locthu
"""

import argparse
import hashlib
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import compare  # noqa: E402

BANDS = ["BAYES_00", "BAYES_05", "BAYES_20", "BAYES_40", "BAYES_50", "BAYES_60", "BAYES_80",
         "BAYES_95", "BAYES_99"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--locthu-bin", default=str(compare.REPO / "target/release/locthu"))
    ap.add_argument("--corpus-dir", default="/work/corpus-cache")
    args = ap.parse_args()
    data = compare.fetch_corpus(Path(args.corpus_dir))
    train, _test = compare.split(data)
    del _test  # never used: the test split is for measuring only
    fit = [m for m in train if hashlib.sha256(m.key.encode()).hexdigest()[1] in "0123456789ab"]
    val = [m for m in train if m not in fit]
    w = Path(tempfile.mkdtemp(prefix="locthu-tune-"))
    for name, msgs in (("spam", [m for m in fit if m.spam]), ("ham", [m for m in fit if not m.spam])):
        compare.materialise(msgs, w / "fit" / name)
    compare.materialise(val, w / "val")
    (w / "filters").symlink_to((compare.REPO / "filters").resolve())
    cfg = w / "locthu.toml"
    cfg.write_text(compare.LOCTHU_CONFIG.format(work=w, state=w / "state.redb", tag=5.0,
                                                reject=10.0, dead=9))
    b = args.locthu_bin
    subprocess.run([b, "spam", "learn", "-c", str(cfg), "--spam", str(w / "fit/spam"),
                    "--ham", str(w / "fit/ham")], check=True, capture_output=True)
    out = subprocess.run([b, "scan", "--config", str(cfg)] + [str(w / "val" / m.flat) for m in val],
                         capture_output=True, text=True).stdout
    by_file = {str(w / "val" / m.flat): m for m in val}
    rows = []
    for line in out.splitlines():
        j = json.loads(line)
        syms = j.get("symbols") or {}
        band = next((s for s in syms if s in BANDS), None)
        rest = sum(v for s, v in syms.items() if s not in BANDS)
        rows.append((by_file[j["file"]].spam, band, rest))
    print(f"fit {len(fit)}, validate {len(rows)} ({sum(r[0] for r in rows)} spam)")
    best = []
    grid = {
        "BAYES_00": [-1.9, -3.0, -5.0], "BAYES_05": [-0.5, -1.5, -3.0],
        "BAYES_60": [1.5, 2.5], "BAYES_80": [2.0, 3.5, 5.0], "BAYES_95": [3.0, 5.0, 6.0],
        "BAYES_99": [3.5, 5.0, 7.0], "weight": [1.0, 0.7, 0.5],
    }
    fixed = {"BAYES_20": -0.001, "BAYES_40": -0.001, "BAYES_50": 0.8}
    keys = list(grid)
    for combo in itertools.product(*grid.values()):
        s = dict(zip(keys, combo)) | fixed
        tp = fp = tn = fn = 0
        for spam, band, rest in rows:
            total = rest * s["weight"] + (s[band] if band else 0.0)
            said = total >= 5.0
            tp += spam and said; fp += (not spam) and said
            tn += (not spam) and not said; fn += spam and not said
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        fpr = fp / (fp + tn)
        best.append((fpr <= 0.005, f1, -fpr, s, (tp, fp, tn, fn)))
    best.sort(key=lambda r: (r[0], r[1], r[2]), reverse=True)
    for ok, f1, nfpr, s, c in best[:8]:
        print(f"ok={ok} F1={f1:.4f} FPR={-nfpr:.4%} {c} {json.dumps(s)}")


if __name__ == "__main__":
    main()
