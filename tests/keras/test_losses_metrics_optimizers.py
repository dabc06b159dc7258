"""Keras losses against PyTorch, metrics against scikit-learn, optimizers against
tessera.optim / PyTorch with Keras's defaults."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tessera as ts
from tessera import keras
from tessera.keras import losses, metrics, optimizers


def t(a):
    return ts.tensor(np.asarray(a))


def val(x):
    return float(x.item())


@pytest.fixture
def cls_data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    probs = torch.softmax(torch.tensor(logits), -1).numpy()
    return logits, labels, probs


def test_crossentropies_match_torch(cls_data):
    logits, labels, probs = cls_data
    ref = TF.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    scce = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert val(scce(t(labels), t(logits))) == pytest.approx(ref, rel=1e-5)
    assert val(losses.get("sparse_categorical_crossentropy")(t(labels), t(probs))) == \
        pytest.approx(ref, rel=1e-4)
    onehot = np.eye(4, dtype=np.float32)[labels]
    assert val(losses.CategoricalCrossentropy(from_logits=True)(t(onehot), t(logits))) == \
        pytest.approx(ref, rel=1e-5)
    smooth = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    ref_s = TF.cross_entropy(torch.tensor(logits), torch.tensor(labels),
                             label_smoothing=0.1).item()
    assert val(smooth(t(onehot), t(logits))) == pytest.approx(ref_s, rel=1e-5)
    # Column labels (N, 1) are accepted, as in Keras.
    assert val(scce(t(labels[:, None]), t(logits))) == pytest.approx(ref, rel=1e-5)


def test_binary_crossentropy_and_regression_losses():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 3)).astype(np.float32)
    y = rng.integers(0, 2, (5, 3)).astype(np.float32)
    ref = TF.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y)).item()
    assert val(losses.BinaryCrossentropy(from_logits=True)(t(y), t(z))) == \
        pytest.approx(ref, rel=1e-5)
    p = 1 / (1 + np.exp(-z))
    assert val(losses.binary_crossentropy(t(y), t(p)).mean()) == pytest.approx(ref, rel=1e-4)
    a, b = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 3)).astype(
        np.float32)
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert val(losses.get("mse")(t(a), t(b))) == pytest.approx(TF.mse_loss(tb, ta).item(),
                                                               rel=1e-5)
    assert val(losses.get("mae")(t(a), t(b))) == pytest.approx(TF.l1_loss(tb, ta).item(),
                                                               rel=1e-5)
    assert val(losses.Huber(delta=0.5)(t(a), t(b))) == pytest.approx(
        TF.huber_loss(tb, ta, delta=0.5).item(), rel=1e-5)
    assert val(losses.LogCosh()(t(a), t(b))) == pytest.approx(
        np.log(np.cosh(b - a)).mean(), rel=1e-5)
    cos = TF.cosine_similarity(ta, tb, dim=-1).mean().item()
    assert val(losses.CosineSimilarity()(t(a), t(b))) == pytest.approx(-cos, rel=1e-5)
    q = np.abs(a) / np.abs(a).sum(1, keepdims=True)
    r = np.abs(b) / np.abs(b).sum(1, keepdims=True)
    assert val(losses.KLDivergence()(t(q), t(r))) == pytest.approx(
        (q * np.log(q / r)).sum(1).mean(), rel=1e-4)


def test_sample_weight_reduction_is_sum_over_batch_size():
    y, p = np.zeros((4, 1), np.float32), np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    w = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
    mse = losses.MeanSquaredError()
    assert val(mse(t(y), t(p), sample_weight=t(w))) == pytest.approx((1 + 18 + 8) / 4)
    assert val(losses.MeanSquaredError(reduction="sum")(t(y), t(p))) == 30.0
    assert losses.MeanSquaredError(reduction="none")(t(y), t(p)).shape == (4,)


def test_loss_gradients_flow():
    logits = ts.tensor(np.random.rand(3, 5).astype(np.float32), requires_grad=True)
    losses.SparseCategoricalCrossentropy(from_logits=True)(t([1, 0, 4]), logits).backward()
    ref = torch.tensor(logits.detach().numpy(), requires_grad=True)
    TF.cross_entropy(ref, torch.tensor([1, 0, 4])).backward()
    np.testing.assert_allclose(logits.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_unknown_names_fail_with_the_list_of_known_ones():
    with pytest.raises(ValueError, match="Could not interpret loss identifier.*mse"):
        losses.get("squared")
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        metrics.get("accuracyy")
    with pytest.raises(ValueError, match="adam"):
        optimizers.get("adamm")


def test_accuracy_metrics(cls_data):
    logits, labels, probs = cls_data
    expected = (logits.argmax(1) == labels).mean()
    for m, y in ((metrics.SparseCategoricalAccuracy(), labels),
                 (metrics.CategoricalAccuracy(), np.eye(4)[labels]),
                 (metrics.get("accuracy"), labels)):
        m.update_state(t(y), t(probs))
        assert val(m.result()) == pytest.approx(expected)
    binary = metrics.BinaryAccuracy()
    binary.update_state(t([1, 0, 1, 1]), t([0.9, 0.6, 0.4, 0.7]))
    assert val(binary.result()) == 0.5
    top2 = metrics.SparseTopKCategoricalAccuracy(k=2)
    top2.update_state(t(labels), t(probs))
    in_top = [lab in np.argsort(-row)[:2] for row, lab in zip(probs, labels)]
    assert val(top2.result()) == pytest.approx(np.mean(in_top))
    m = metrics.Mean()
    m.update_state(t([1.0, 2.0]))
    m.update_state(t([3.0]), sample_weight=t([2.0]))
    assert val(m.result()) == pytest.approx((1 + 2 + 6) / 4)
    m.reset_state()
    assert val(m.result()) == 0.0


def test_confusion_metrics_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    score = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1).astype(np.float32)
    prec, rec, auc = metrics.Precision(), metrics.Recall(), metrics.AUC()
    pr_auc = metrics.AUC(curve="PR")
    for start in range(0, 400, 100):  # accumulated over batches
        for m in (prec, rec, auc, pr_auc):
            m.update_state(t(y[start:start + 100]), t(score[start:start + 100]))
    pred = score > 0.5
    assert val(prec.result()) == pytest.approx(sk.precision_score(y, pred), rel=1e-5)
    assert val(rec.result()) == pytest.approx(sk.recall_score(y, pred), rel=1e-5)
    assert val(auc.result()) == pytest.approx(sk.roc_auc_score(y, score), abs=5e-3)
    assert val(pr_auc.result()) == pytest.approx(sk.average_precision_score(y, score),
                                                 abs=2e-2)
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(t([[1.0], [2.0]]), t([[2.0], [4.0]]))
    assert val(rmse.result()) == pytest.approx(np.sqrt(2.5))


def _keras_vs_torch(keras_opt, torch_opt_fn, steps=5):
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(steps)]
    p = ts.nn.Parameter(ts.tensor(w0))
    q = torch.tensor(w0, requires_grad=True)
    ref = torch_opt_fn([q])
    for g in grads:
        keras_opt.apply([ts.tensor(g)], [p])
        q.grad = torch.tensor(g)
        ref.step()
    return p.detach().numpy(), q.detach().numpy()


@pytest.mark.parametrize("make,ref", [
    (lambda: optimizers.SGD(0.1, momentum=0.9),
     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    (lambda: optimizers.Adam(0.01),
     lambda ps: torch.optim.Adam(ps, lr=0.01, eps=1e-7)),
    (lambda: optimizers.AdamW(0.01, weight_decay=0.1),
     lambda ps: torch.optim.AdamW(ps, lr=0.01, eps=1e-7, weight_decay=0.1)),
    (lambda: optimizers.RMSprop(0.01),
     lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7)),
    (lambda: optimizers.Adagrad(0.1),
     lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=1e-7)),
])
def test_optimizers_follow_their_update_rules(make, ref):
    ours, theirs = _keras_vs_torch(make(), ref)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_gradient_clipping_schedules_and_learning_rate():
    opt = optimizers.SGD(1.0, clipnorm=1.0)
    p = ts.nn.Parameter(ts.zeros(2))
    opt.apply([ts.tensor([3.0, 4.0])], [p])
    np.testing.assert_allclose(p.detach().numpy(), [-0.6, -0.8], rtol=1e-6)
    opt = optimizers.SGD(1.0, clipvalue=0.5)
    p = ts.nn.Parameter(ts.zeros(2))
    opt.apply([ts.tensor([3.0, -0.25])], [p])
    np.testing.assert_allclose(p.detach().numpy(), [-0.5, 0.25])
    sched = optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(sched)
    p = ts.nn.Parameter(ts.zeros(1))
    for _ in range(4):
        opt.apply([ts.ones(1)], [p])
    expected = -sum(0.1 * 0.5 ** (i / 2) for i in range(4))
    assert float(p.detach().numpy()[0]) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.1
    opt = optimizers.Adam()
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    assert optimizers.deserialize(optimizers.serialize(optimizers.Adam(0.2))).learning_rate \
        == 0.2
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_to_categorical_and_plot_history(tmp_path):
    pytest.importorskip("matplotlib")
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1], 3),
                                  np.eye(3)[[0, 2, 1]])
    with pytest.raises(ValueError, match="labels"):
        keras.utils.to_categorical([0, 5], 3)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    x = np.random.rand(32, 2).astype(np.float32)
    history = model.fit(x, x.sum(1), epochs=3, validation_split=0.25, verbose=0)
    path = keras.utils.plot_history(history, tmp_path / "curves.png")
    data = open(path, "rb").read()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
