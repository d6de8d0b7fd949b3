"""The model-backed detectors: the cross-encoder (batching, orders, scheme, one logit) on a
tiny random checkpoint, and the embedding detector with its clustering."""

from __future__ import annotations

import pytest

from equivpruner.equiv.base import Context
from equivpruner.equiv.registry import make_detector


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    pytest.importorskip("transformers")
    from equivpruner.equiv.cross_encoder import init_random_checkpoint
    from equivpruner.equiv.embedding import resolve_model

    try:
        tokenizer_dir = resolve_model("embedded:minilm")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    return init_random_checkpoint(str(tmp_path_factory.mktemp("tiny-ce")), tokenizer_dir)


def _record_shapes(model):
    shapes = []
    handle = model.register_forward_pre_hook(
        lambda mod, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    return shapes, handle


def test_cross_encoder_batches_symmetrically_with_dynamic_padding(tiny_checkpoint):
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector

    steps = ["3 × 4 = 12", "4 × 3 = 12", "Let's break the problem down step by step.", "Done."]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    detector = CrossEncoderDetector(tiny_checkpoint, batch_size=4)
    model = detector._loaded()[1]
    shapes, handle = _record_shapes(model)
    try:
        verdicts = detector.compare(steps, pairs, Context())
        swapped = detector.compare(steps[::-1], [(3 - j, 3 - i) for i, j in pairs], Context())
        one_by_one = CrossEncoderDetector(tiny_checkpoint, batch_size=1).scores(
            [(steps[i], steps[j]) for i, j in pairs]
        )
    finally:
        handle.remove()
    assert [(v.i, v.j, v.stage) for v in verdicts] == [(i, j, "cross-encoder") for i, j in pairs]
    assert all(0.0 <= v.probability <= 1.0 for v in verdicts)
    for v, w in zip(verdicts, swapped, strict=True):  # (A, B) and (B, A) score the same
        assert v.probability == pytest.approx(w.probability, abs=1e-6)
    assert [v.probability for v in verdicts] == pytest.approx(one_by_one, abs=1e-5)
    # each compare: 6 pairs one way, then (threshold 0.5: every pair open) 6 the other way,
    # in batches of 4; then 12 sequences one by one
    assert len(shapes) == 4 + 4 + 12
    assert [s[0] for s in shapes[:4]] == [4, 2, 4, 2]
    assert max(s[1] for s in shapes) < 40  # padded to the longest in the batch, not 256
    assert shapes[0][1] >= shapes[2][1]  # sorted by length


def test_cross_encoder_runs_the_reverse_order_only_where_it_can_flip_the_verdict():
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector

    table = {("a", "b"): 0.1, ("b", "a"): 0.9, ("a", "c"): 0.85, ("c", "a"): 0.99,
             ("b", "c"): 0.95, ("c", "b"): 0.7, ("a", "d"): 0.79, ("d", "a"): 1.0}  # fmt: skip
    calls = []

    def forward(segments):
        calls.append(list(segments))
        return [table[s] for s in segments]

    detector = CrossEncoderDetector("unused", threshold=0.9)
    detector.forward = forward
    steps, pairs = ["a", "b", "c", "d"], [(0, 1), (0, 2), (1, 2), (0, 3)]
    verdicts = detector.compare(steps, pairs, Context())
    assert calls[1] == [("c", "a"), ("c", "b")]  # only the pairs scored in [0.8, 1.8)
    both = detector.scores([(steps[i], steps[j]) for i, j in pairs])
    expected = [False, True, False, False]
    assert [v.equivalent for v in verdicts] == [p >= 0.9 for p in both] == expected
    assert [v.probability for v in verdicts] == pytest.approx([0.1, 0.92, 0.825, 0.79])


def test_cross_encoder_with_no_pair_left_open_runs_one_order(tiny_checkpoint):
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector

    detector = CrossEncoderDetector(tiny_checkpoint, threshold=1.0)  # nothing can reach 1.0
    verdicts = detector.compare(["3 * 4 = 12", "4 * 3 = 12", "5"], [(0, 1), (1, 2)], Context())
    assert [v.equivalent for v in verdicts] == [False, False]
    assert detector.forward([]) == []


def test_cross_encoder_reference_scheme_and_context(tiny_checkpoint):
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector

    detector = CrossEncoderDetector(tiny_checkpoint, symmetric=False)
    model = detector._loaded()[1]
    text_pairs = [("3 × 4 = 12", "4 × 3 = 12"), ("a", "b")]
    shapes, handle = _record_shapes(model)
    try:
        reference = detector.reference_scheme_scores(text_pairs)
    finally:
        handle.remove()
    assert shapes == [(1, 512), (1, 512)]  # one pair per pass, padded to the position limit
    assert reference == pytest.approx(detector.scores(text_pairs), abs=1e-5)
    with_context = CrossEncoderDetector(tiny_checkpoint, use_context=True, context_tokens=4)
    tokenizer = with_context._loaded()[0]
    assert with_context._context("one two three four five six") == "one two three four"
    assert tokenizer.sep_token
    assert len(with_context.scores(text_pairs, question="How many apples?")) == 2
    with pytest.raises(ValueError):
        CrossEncoderDetector("")
    plain = make_detector("cross-encoder", checkpoint=tiny_checkpoint)
    assert isinstance(plain, CrossEncoderDetector)
    cascade = make_detector("cascade", checkpoint=tiny_checkpoint, batch_size=8)
    assert isinstance(cascade.final, CrossEncoderDetector) and cascade.final.batch_size == 8


def test_cross_encoder_single_logit_uses_sigmoid(tmp_path):
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector, init_random_checkpoint
    from equivpruner.equiv.embedding import resolve_model

    path = init_random_checkpoint(str(tmp_path), resolve_model("embedded:minilm"), num_labels=1)
    (p,) = CrossEncoderDetector(path).scores([("a", "b")])
    assert 0.0 < p < 1.0


@pytest.mark.slow
def test_embedding_detector_and_clustering():
    from equivpruner.equiv.embedding import EmbeddingDetector, agglomerate

    detector = EmbeddingDetector()
    steps = [
        "Let's break down the problem step by step.",
        "Let us solve the problem step by step.",
        "The derivative of sin(x) is cos(x).",
    ]
    verdicts = detector.compare(steps, [(0, 1), (0, 2)], Context())
    assert verdicts[0].probability > verdicts[1].probability
    assert verdicts[0].stage == "embedding"
    grouping = detector.cluster(steps, distance=1 - (verdicts[0].probability - 0.01))
    assert [0, 1] in grouping.groups and [2] in grouping.groups
    assert agglomerate([[0, 0.05, 0.3], [0.05, 0, 0.08], [0.3, 0.08, 0]], 0.1, "complete") == [
        [0, 1],
        [2],
    ]


def test_cross_encoder_batches_respect_a_token_budget():
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector

    detector = CrossEncoderDetector("unused", batch_size=64, max_batch_tokens=100)
    assert detector._batches([50, 10, 30, 40, 10]) == [[0, 3], [2, 1, 4]]
    assert CrossEncoderDetector("unused", batch_size=2)._batches([1, 2, 3]) == [[2, 1], [0]]
