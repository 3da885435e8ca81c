"""Transformer tagger on a tiny randomly initialised BERT (CPU, seconds): spans, seeds, BALD/BADGE, persistence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from cliniloop.models.sampling.diversity import badge_embeddings  # noqa: E402
from cliniloop.models.sampling.scores import bald  # noqa: E402
from cliniloop.models.text.ner import EntitySpan, LabelledText, NotFittedError, bio_labels, bio_spans  # noqa: E402
from cliniloop.models.text.ner_transformer import (  # noqa: E402
    TransformerTagger,
    auto_batch_size,
    is_transformer_dir,
    packaged_encoder_path,
    piece_offsets,
)

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "s", "/", "p", "cab", "##g", "##x", "##3", "with", "pip", "-", "ta",
    "##zo", "and", "naive", "β", "block", "##er", "use", ";", "na", "##lo", "##xon", "##e", "induced", "rash", ",",
    ".", "the", "patient", "took", "aspirin", "had", "fever", "no", "on", "cafe", "au", "lait", "spots",
]  # fmt: skip
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37, "max_position_embeddings": 64}

TRAIN = [
    LabelledText("s/p CABGx3 with pip-tazo", (EntitySpan(4, 8, "Procedure"), EntitySpan(16, 24, "Chemical"))),
    LabelledText("Hx of β-blocker use; naloxone-induced rash.", (EntitySpan(6, 15, "Chemical"), EntitySpan(21, 29, "Chemical"), EntitySpan(38, 42, "Disease"))),
    LabelledText("The patient took aspirin, had fever.", (EntitySpan(17, 24, "Chemical"), EntitySpan(30, 35, "Disease"))),
    LabelledText("Naïve patient: café-au-lait spots.", (EntitySpan(15, 33, "Disease"),)),
    LabelledText("No rash on the patient.", ()),
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine two threads spin against each other (20x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-vocab")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return folder


def tiny(vocab_dir: Path, **kw) -> TransformerTagger:
    cfg = {**TINY, "vocab_size": len(VOCAB), **kw.pop("config", {})}
    params = {"epochs": 60, "learning_rate": 3e-3, "batch_size": 8, "max_length": 16, "stride": 4, "seed": 0, "device": "cpu"}
    return TransformerTagger(config=cfg, tokenizer=vocab_dir, **{**params, **kw})


@pytest.fixture(scope="module")
def fitted(vocab_dir: Path) -> TransformerTagger:
    return tiny(vocab_dir).fit(TRAIN)


def test_gold_spans_round_trip_through_word_pieces(vocab_dir: Path) -> None:
    tok = tiny(vocab_dir)._load_tokenizer()
    for t in TRAIN:
        pieces = piece_offsets(tok, t.text)
        decoded = [EntitySpan(pieces[a][0], pieces[b - 1][1], lab) for a, b, lab in bio_spans(bio_labels(pieces, t.spans))]
        assert decoded == list(t.spans), t.text
    text = TRAIN[0].text  # CABG inside CABGx3 is the pieces cab ##g; the offsets are the original characters
    assert [text[a:b] for a, b in piece_offsets(tok, text)][3:7] == ["CAB", "G", "x", "3"]
    text = TRAIN[3].text  # accents are stripped for the vocabulary, not for the offsets
    assert [text[a:b] for a, b in piece_offsets(tok, text)][:1] == ["Naïve"]


def test_fitted_model_predicts_exact_character_spans(fitted: TransformerTagger) -> None:
    pred = fitted.predict_spans([t.text for t in TRAIN])
    for t, spans in zip(TRAIN, pred, strict=True):
        assert [(s.start, s.end, s.label) for s in spans] == [(s.start, s.end, s.label) for s in t.spans], t.text
        assert all(0 < s.probability <= 1 for s in spans)
    assert fitted.labels_[0] == "O" and fitted.entity_labels_ == ["Chemical", "Disease", "Procedure"]
    proba = fitted.predict_proba(["s/p CABGx3"])[0]
    assert proba.shape == (7, len(fitted.labels_)) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_long_text_is_windowed_and_each_piece_predicted_once(fitted: TransformerTagger) -> None:
    text = " ".join(t.text for t in TRAIN[:3])  # longer than max_length=16 pieces: several windows
    pieces, windows = fitted._windows([text])
    assert len(windows) > 1 and sorted({p for w in windows for p in w.positions if p >= 0}) == list(range(len(pieces[0])))
    spans = fitted.predict_spans([text], probabilities=False)[0]
    assert all(text[s.start : s.end].strip() == text[s.start : s.end] for s in spans)


def test_same_seed_same_weights_and_version(vocab_dir: Path) -> None:
    first, again = (tiny(vocab_dir, epochs=2).fit(TRAIN) for _ in range(2))
    assert again.version == first.version and again.version.startswith("tfm-")
    assert again.predict_proba(["aspirin rash"])[0].tolist() == first.predict_proba(["aspirin rash"])[0].tolist()
    assert tiny(vocab_dir, epochs=2, seed=1).fit(TRAIN).version != first.version


def test_save_load_round_trip_same_version_and_predictions(fitted: TransformerTagger, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m")
    assert is_transformer_dir(tmp_path / "m")
    loaded = TransformerTagger.load(tmp_path / "m")
    assert loaded.version == fitted.version
    texts = [t.text for t in TRAIN]
    assert loaded.predict_spans(texts) == fitted.predict_spans(texts)
    with pytest.raises(FileNotFoundError, match="transformer.json"):
        TransformerTagger.load(tmp_path)


def test_unfitted_and_bad_inputs_fail_clearly(vocab_dir: Path) -> None:
    with pytest.raises(NotFittedError):
        tiny(vocab_dir).predict_spans(["x"])
    with pytest.raises(ValueError, match="no entity"):
        tiny(vocab_dir).fit([TRAIN[-1]])
    with pytest.raises(ValueError, match="tokenizer"):
        TransformerTagger(config={**TINY, "vocab_size": 10}).fit(TRAIN)


def test_bald_from_mc_dropout_matches_hand_computation(vocab_dir: Path, fitted: TransformerTagger) -> None:
    samples = fitted.mc_dropout_proba(["The patient took aspirin"], samples=4)[0]
    assert samples.shape == (4, 4, len(fitted.labels_))
    assert not np.allclose(samples[0], samples[1])  # dropout is on: the passes differ
    assert np.array_equal(samples, fitted.mc_dropout_proba(["The patient took aspirin"], samples=4)[0])  # seeded
    piece = samples[:, 3, :]  # "aspirin", by hand: H(mean) - mean H, in nats
    mean = piece.mean(axis=0)
    h_mean = -sum(p * math.log(p) for p in mean if p > 0)
    mean_h = sum(-sum(p * math.log(p) for p in row if p > 0) for row in piece) / len(piece)
    assert bald(samples)[3] == pytest.approx(h_mean - mean_h, abs=1e-9)
    assert fitted.bald_scores(["The patient took aspirin"], samples=4)[0] == pytest.approx(float(bald(samples).sum()))
    # no dropout: every pass is the same network, so BALD is exactly zero
    still = tiny(vocab_dir, epochs=2, config={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}).fit(TRAIN)
    assert np.allclose(still.bald_scores(["The patient took aspirin"], samples=3), 0.0, atol=1e-9)


def test_badge_embedding_is_the_last_layer_gradient(fitted: TransformerTagger) -> None:
    text = "naloxone-induced rash"
    grads = fitted.gradient_embeddings([text])[0]
    ids = fitted.tok_(text, return_tensors="pt")
    fitted.net_.zero_grad()
    out = fitted.net_(**ids, output_hidden_states=True)
    logits = out.logits[0, 1:-1]  # drop [CLS] and [SEP]
    pseudo = logits.argmax(dim=-1)
    loss = torch.nn.functional.cross_entropy(logits, pseudo, reduction="none")
    k, d = len(fitted.labels_), fitted.net_.config.hidden_size
    for i in range(logits.shape[0]):  # autograd, one piece at a time, w.r.t. the classifier weights (k x d)
        (g,) = torch.autograd.grad(loss[i], fitted.net_.classifier.weight, retain_graph=True)
        assert np.allclose(grads[i], g.numpy().reshape(k * d), atol=1e-5)
    hidden = out.hidden_states[-1][0, 1:-1].detach().numpy()
    proba = torch.softmax(logits, dim=-1).detach().numpy()
    assert np.allclose(grads, badge_embeddings(proba, hidden), atol=1e-6)
    sent = fitted.sentence_gradient_embeddings([text, ""])
    assert sent.shape == (2, k * d) and np.allclose(sent[0], grads.mean(axis=0)) and not sent[1].any()


def test_batch_size_follows_free_memory() -> None:
    small = auto_batch_size(2 * 1024**3, 128, 384, 6, 12, training=True)
    big = auto_batch_size(40 * 1024**3, 128, 384, 6, 12, training=True)
    assert 1 <= small < big <= 256 and big & (big - 1) == 0
    assert auto_batch_size(2 * 1024**3, 128, 384, 6, 12, training=False) > small
    assert auto_batch_size(0, 128, 384, 6, 12, training=True) == 1


def test_packaged_encoder_tokenizer_maps_pieces_to_characters() -> None:
    try:
        folder = packaged_encoder_path()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    tok = TransformerTagger(encoder=folder)._load_tokenizer()
    text = "s/p CABGx3, pip-tazo; naïve β-blocker"
    pieces = piece_offsets(tok, text)
    assert "".join(text[a:b] for a, b in pieces) == text.replace(" ", "")
    assert (4, 7) in pieces and (7, 8) in pieces  # CAB G: CABG is a whole number of pieces
