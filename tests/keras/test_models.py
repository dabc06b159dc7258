"""Keras models: Sequential, functional and subclassed models, compile/fit/evaluate/predict,
summary, the data checks, and mixing with PyTorch-style modules."""

import io
import tracemalloc
from contextlib import redirect_stdout

import numpy as np
import pytest

import tessera as ts
from tessera import keras
from tessera.data import DataLoader, TensorDataset
from tessera.keras import layers


def blobs(n=600, dim=20, classes=4, seed=0):
    """Gaussian clusters: a learnable classification problem."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, dim))
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(size=(n, dim))
    return x.astype(np.float32), y


def test_the_issue_example_runs_unchanged_and_learns():
    x, y = blobs(n=800, dim=784, classes=10)
    model = keras.Sequential([layers.Dense(64, activation='relu', input_shape=(784,)),
                              layers.Dense(10, activation='softmax')])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9  # chance is 0.1
    assert history.history["loss"][0] > history.history["loss"][-1]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9
    probs = model.predict(x[:5], verbose=0)
    assert probs.shape == (5, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_summary_parameter_counts(capsys):
    model = keras.Sequential([keras.Input((28, 28, 1)),
                              layers.Conv2D(8, 3, activation="relu"),
                              layers.BatchNormalization(),
                              layers.MaxPooling2D(),
                              layers.Flatten(),
                              layers.Dense(10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    conv = 3 * 3 * 1 * 8 + 8                 # 80
    bn = 4 * 8                               # gamma, beta, moving mean, moving variance
    dense = 13 * 13 * 8 * 10 + 10            # 13530
    total = conv + bn + dense
    assert f"│ {conv:,}" in text.replace(" " * 10, " ") or f" {conv} " in text
    assert "(None, 26, 26, 8)" in text and "(None, 1352)" in text
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total - 16:,}" in text
    assert "Non-trainable params: 16 (64.00 B)" in text
    assert model.count_params() == total
    rnn = keras.Sequential([keras.Input((5, 8)), layers.LSTM(16), layers.Dense(1)])
    assert rnn.count_params() == 4 * 16 * (8 + 16 + 1) + 17
    gru = keras.Sequential([keras.Input((5, 8)), layers.GRU(16)])
    assert gru.count_params() == 3 * 16 * (8 + 16 + 2)
    model.summary()
    assert 'Model: "sequential' in capsys.readouterr().out


def test_functional_model_with_shared_layers_and_two_outputs():
    a = keras.Input((6,), name="left")
    b = keras.Input((6,), name="right")
    shared = layers.Dense(8, activation="relu", name="shared")
    ha, hb = shared(a), shared(b)
    total = layers.Dense(1, name="total")(layers.Concatenate()([ha, hb]))
    label = layers.Dense(2, activation="softmax", name="label")(layers.Add()([ha, hb]))
    model = keras.Model(inputs=[a, b], outputs=[total, label])
    assert [layer.name for layer in model.layers][:3] == ["left", "right", "shared"]
    assert model.output_names == ["total", "label"]
    assert len(shared._inbound_nodes) == 2
    rng = np.random.default_rng(0)
    xa, xb = rng.random((256, 6), np.float32), rng.random((256, 6), np.float32)
    y_total, y_label = xa.sum(1) + xb.sum(1), (xa.sum(1) > xb.sum(1)).astype(np.int64)
    model.compile("adam", loss={"total": "mse", "label": "sparse_categorical_crossentropy"},
                  loss_weights={"total": 0.5, "label": 1.0},
                  metrics={"label": ["accuracy"]})
    hist = model.fit({"left": xa, "right": xb}, {"total": y_total, "label": y_label},
                     epochs=2, batch_size=32, verbose=0)
    assert set(hist.history) == {"loss", "total_loss", "label_loss", "label_accuracy"}
    loss = hist.history["loss"][-1]
    parts = 0.5 * hist.history["total_loss"][-1] + hist.history["label_loss"][-1]
    assert abs(loss - parts) < 1e-3 * max(1, loss)
    out_total, out_label = model.predict([xa[:3], xb[:3]], verbose=0)
    assert out_total.shape == (3, 1) and out_label.shape == (3, 2)
    # Replaying the graph equals calling the layers by hand.
    ta, tb = ts.tensor(xa[:3]), ts.tensor(xb[:3])
    h = layers.Concatenate()([shared(ta), shared(tb)])
    np.testing.assert_allclose(out_total, model.get_layer("total")(h).detach().numpy(),
                               rtol=1e-5)


def test_functional_feature_extractor_from_a_sequential_model():
    seq = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"),
                            layers.Dense(3)])
    features = keras.Model(inputs=seq.inputs, outputs=seq.layers[0].output)
    x = np.random.rand(5, 4).astype(np.float32)
    expected = seq.layers[0](ts.tensor(x)).detach().numpy()
    np.testing.assert_allclose(features.predict(x, verbose=0), expected, rtol=1e-6)


def test_subclassed_model_trains_and_reports():
    class MLP(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(16, activation="relu")
            self.dropout = layers.Dropout(0.1)
            self.out = layers.Dense(4, activation="softmax")

        def call(self, x, training=False):
            return self.out(self.dropout(self.hidden(x), training=training))

    x, y = blobs(n=400)
    model = MLP()
    assert not model.built
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    hist = model.fit(x, y, epochs=3, verbose=0)
    assert model.built and hist.history["accuracy"][-1] > 0.9
    assert [n for n, _ in model.named_parameters()] == [
        "hidden.kernel", "hidden.bias", "out.kernel", "out.bias"]
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(Dense)" in line and "(None, 16)" in line for line in lines)


def test_custom_train_step_and_metrics_property():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)
            self.tracker = keras.metrics.Mean(name="loss")
            self.mae = keras.metrics.MeanAbsoluteError(name="mae")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            pred = self(x, training=True)
            loss = ((pred.squeeze(-1) - y) ** 2).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.tracker.update_state(loss)
            self.mae.update_state(y, pred)
            return {m.name: m.result() for m in self.metrics}

        @property
        def metrics(self):
            return [self.tracker, self.mae]

    x = np.random.rand(128, 3).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5], np.float32)
    model = Custom()
    model(ts.tensor(x[:1]))
    model.compile(optimizer=ts.optim.SGD(model.parameters(), lr=0.1))
    hist = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert set(hist.history) == {"loss", "mae"}
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_compile_names_map_to_objects():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    for name, cls in [("adam", keras.optimizers.Adam), ("sgd", keras.optimizers.SGD),
                      ("rmsprop", keras.optimizers.RMSprop),
                      ("adamw", keras.optimizers.AdamW), ("adagrad", keras.optimizers.Adagrad)]:
        model.compile(optimizer=name, loss="mse")
        assert type(model.optimizer) is cls
    assert keras.optimizers.Adam().epsilon == 1e-7
    assert keras.optimizers.SGD().learning_rate == 0.01
    assert keras.optimizers.AdamW().weight_decay == 0.004
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["accuracy", "AUC", keras.metrics.Precision(name="p")])
    assert model.metrics_names == ["loss", "accuracy", "AUC", "p"]


def test_train_test_predict_on_batch():
    x, y = blobs(n=64)
    model = keras.Sequential([keras.Input((20,)), layers.Dense(4, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()[0].copy()
    loss, acc = model.train_on_batch(x, y)
    assert not np.array_equal(before, model.get_weights()[0])
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    pred = model.predict_on_batch(x)
    assert pred.shape == (64, 4)
    np.testing.assert_allclose(pred, model(ts.tensor(x)).detach().numpy(), rtol=1e-6)
    assert isinstance(model.evaluate(x, y, verbose=0, return_dict=True)["loss"], float)


def test_fit_on_tensors_and_on_a_dataloader():
    x, y = blobs(n=256)
    model = keras.Sequential([keras.Input((20,)), layers.Dense(4, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(ts.tensor(x), ts.tensor(y), epochs=1, verbose=0)
    loader = DataLoader(TensorDataset(ts.tensor(x), ts.tensor(y)), batch_size=32,
                        shuffle=True)
    hist = model.fit(loader, epochs=3, validation_data=loader, verbose=0)
    assert hist.history["val_accuracy"][-1] > 0.9
    assert model.evaluate(loader, verbose=0)[1] > 0.9
    assert model.predict(loader, verbose=0).shape == (256, 4)

    def generator():
        while True:
            yield x[:32], y[:32]
    hist = model.fit(generator(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2


def test_sample_weight_and_class_weight_scale_the_loss():
    x = np.random.rand(8, 3).astype(np.float32)
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    per_sample = keras.losses.sparse_categorical_crossentropy(
        ts.tensor(y), model(ts.tensor(x))).detach().numpy()
    weights = np.array([1, 2, 0, 1, 1, 0, 3, 1], np.float32)
    got = model.evaluate(x, y, sample_weight=weights, batch_size=8, verbose=0)
    np.testing.assert_allclose(got, (per_sample * weights).mean(), rtol=1e-5)
    before = model.get_weights()
    model.fit(x, y, class_weight={0: 0.0, 1: 0.0}, epochs=1, batch_size=8, verbose=0,
              shuffle=False)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_allclose(a, b)  # zero weight for every class: nothing learned
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(x, y, class_weight={0: 1.0, 2: 1.0}, verbose=0)


def test_bad_input_fails_before_any_training():
    model = keras.Sequential([layers.Dense(4, activation="relu", input_shape=(10,)),
                              layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.rand(20, 10).astype(np.float32)
    y = np.random.randint(0, 3, 20)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"same number of samples.*x has 20.*y has 19"):
        model.fit(x, y[:19], verbose=0)
    with pytest.raises(ValueError, match=r"expects data of shape \(None, 10\).*\(20, 2, 5\)"):
        model.fit(x.reshape(20, 2, 5), y, verbose=0)
    bad = y.copy()
    bad[-1] = 7
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\).*7"):
        model.fit(x, bad, verbose=0)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        model.fit(x, np.eye(3, dtype=np.float32)[y], verbose=0)
    with pytest.raises(ValueError, match="y is required"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match="Could not interpret loss identifier: 'no_such_loss'"):
        model.compile("adam", loss="no_such_loss")
    with pytest.raises(ValueError, match="optimizer"):
        model.compile("no_such_optimizer", loss="mse")
    with pytest.raises(ValueError, match="metric"):
        model.compile("adam", loss="mse", metrics=["no_such_metric"])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = keras.Sequential([keras.Input((10,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        fresh.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="incompatible"):
        fresh(ts.zeros(2, 11))
    with pytest.raises(TypeError, match="loss_weights"):
        fresh.compile("adam", "mse", ["accuracy"])


def test_fit_twenty_times_keeps_memory_flat():
    x, y = blobs(n=256)
    model = keras.Sequential([keras.Input((20,)), layers.Dense(32, activation="relu"),
                              layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    for _ in range(3):
        model.fit(x, y, epochs=1, batch_size=32, validation_split=0.2, verbose=0)
    tracemalloc.start()
    model.fit(x, y, epochs=1, batch_size=32, validation_split=0.2, verbose=0)
    baseline, _ = tracemalloc.get_traced_memory()
    for _ in range(20):
        model.fit(x, y, epochs=1, batch_size=32, validation_split=0.2, verbose=0)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert current - baseline < 200_000, f"memory grew by {current - baseline} bytes"


def test_predict_on_arrays_takes_the_fast_path(monkeypatch):
    from tessera.training import engine

    model = keras.Sequential([keras.Input((5,)), layers.Dense(2)])
    x = np.random.rand(100, 5).astype(np.float32)
    expected = model(ts.tensor(x)).detach().numpy()

    def no_callbacks(*args, **kwargs):
        raise AssertionError("predict on arrays built a callback list")
    monkeypatch.setattr(engine, "CallbackList", no_callbacks)
    monkeypatch.setattr(DataLoader, "__iter__",
                        lambda self: (_ for _ in ()).throw(AssertionError("DataLoader used")))
    np.testing.assert_allclose(model.predict(x, batch_size=16, verbose=0), expected,
                               rtol=1e-6)


def test_verbose_modes_print_as_keras():
    x, y = blobs(n=64)
    model = keras.Sequential([keras.Input((20,)), layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    for verbose, expect in ((0, 0), (1, 2), (2, 2)):
        out = io.StringIO()
        with redirect_stdout(out):
            model.fit(x, y, epochs=2, batch_size=16, verbose=verbose)
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        epoch_lines = [line for line in lines if line.startswith("4/4")]
        assert len(epoch_lines) == expect, lines
        assert "\r" not in out.getvalue()
        if expect:
            assert "Epoch 1/2" in lines and "loss:" in epoch_lines[0]


def test_keras_model_inside_torch_module_trains_with_torch_optimizer():
    class Net(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = keras.Sequential([layers.Dense(16, activation="relu")])
            self.head = ts.nn.Linear(16, 4)

        def forward(self, x):
            return self.head(self.features(x))

    x, y = blobs(n=256)
    net = Net()
    net(ts.tensor(x[:2]))
    opt = ts.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(30):
        loss = ts.nn.functional.cross_entropy(net(ts.tensor(x)), ts.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (net(ts.tensor(x)).argmax(1).numpy() == y).mean()
    assert acc > 0.9
    assert "features.0.kernel" in net.state_dict()


def test_trainable_flag_freezes_weights():
    x, y = blobs(n=64)
    base = layers.Dense(8, activation="relu")
    model = keras.Sequential([keras.Input((20,)), base, layers.Dense(4, activation="softmax")])
    base.trainable = False
    model.compile("adam", "sparse_categorical_crossentropy")
    frozen = base.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(frozen, base.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_config_round_trip_rebuilds_the_same_architecture():
    inp = keras.Input((4,))
    h = layers.Dense(8, activation="relu")(inp)
    out = layers.Add()([layers.Dense(8)(h), h])
    functional = keras.Model(inp, layers.Dense(2)(out))
    seq = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Dropout(0.2)])
    for model in (functional, seq):
        clone = type(model).from_config(model.get_config())
        assert [type(m).__name__ for m in clone.layers] == \
            [type(m).__name__ for m in model.layers]
        clone.set_weights(model.get_weights())
        x = np.random.rand(3, 4).astype(np.float32)
        np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=1e-6)
    json_clone = keras.models.model_from_json(functional.to_json())
    assert json_clone.count_params() == functional.count_params()


def test_distillation_as_a_model_overriding_compute_loss():
    # Keras's knowledge-distillation example: compile without a loss, override
    # compute_loss, and let fit do the rest.
    class Distiller(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.student, self.teacher = student, teacher

        def compile(self, optimizer, metrics, alpha=0.1, temperature=3.0):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True)
            self.distill_fn = keras.losses.KLDivergence()
            self.alpha, self.temperature = alpha, temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            t = self.temperature
            distill = self.distill_fn(keras.activations.softmax(teacher_pred / t),
                                      keras.activations.softmax(y_pred / t)) * t ** 2
            return self.alpha * self.student_loss_fn(y, y_pred) + (1 - self.alpha) * distill

        def call(self, x):
            return self.student(x)

    x, y = blobs(n=300)
    teacher = keras.Sequential([keras.Input((20,)), layers.Dense(32, activation="relu"),
                                layers.Dense(4)])
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=5, verbose=0)
    teacher.trainable = False
    frozen = teacher.get_weights()
    student = keras.Sequential([keras.Input((20,)), layers.Dense(4)])
    distiller = Distiller(student, teacher)
    distiller.compile(keras.optimizers.Adam(0.01),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()])
    history = distiller.fit(x, y, epochs=5, verbose=0)
    assert history.history["sparse_categorical_accuracy"][-1] > 0.9
    for a, b in zip(frozen, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
