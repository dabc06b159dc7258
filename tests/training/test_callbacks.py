"""Callbacks of the training engine, with Keras's semantics."""

import csv
import io
import math
import os

import numpy as np
import pytest

import tessera as ts
from tessera import keras, nn, training
from tessera.keras import layers
from tessera.training import callbacks as cbs


class Host(training.Engine, nn.Module):
    """A minimal model on the engine: one weight whose value we set by hand."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ts.zeros(1))
        self.optimizer = ts.optim.SGD(self.parameters(), lr=0.1)

    def forward(self, x):
        return x * self.w


def drive(callback, values, monitor="val_loss", model=None):
    """Run the epoch hooks with ``values`` as the monitored quantity; the weight holds the
    epoch number. Returns the model and the epochs that ran."""
    model = model or Host()
    callback.set_model(model)
    callback.set_params({"epochs": len(values), "verbose": 0, "steps": 1,
                         "metrics": ["loss", monitor]})
    model.stop_training = False
    callback.on_train_begin()
    ran = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        model.w._data[...] = epoch
        callback.on_epoch_end(epoch, {"loss": 0.0, monitor: value})
        ran.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end()
    return model, ran


def test_early_stopping_patience_and_restore_best_weights():
    es = cbs.EarlyStopping(patience=2, restore_best_weights=True)
    model, ran = drive(es, [1.0, 0.9, 0.95, 0.97, 0.8])
    assert ran == [0, 1, 2, 3] and es.stopped_epoch == 3 and es.best_epoch == 1
    assert float(model.w._data[0]) == 1.0  # the weights of the best epoch


def test_restore_best_weights_also_when_training_runs_to_the_end():
    es = cbs.EarlyStopping(patience=10, restore_best_weights=True)
    model, ran = drive(es, [3.0, 1.0, 2.0])
    assert ran == [0, 1, 2] and es.stopped_epoch == 0
    assert float(model.w._data[0]) == 1.0


def test_early_stopping_min_delta_mode_and_start_epoch():
    es = cbs.EarlyStopping(patience=1, min_delta=0.01)
    _, ran = drive(es, [1.0, 0.999, 0.998, 0.5])
    assert ran == [0, 1]
    es = cbs.EarlyStopping(monitor="val_accuracy", patience=1)
    _, ran = drive(es, [0.5, 0.6, 0.55, 0.9], monitor="val_accuracy")
    assert ran == [0, 1, 2]  # "auto" mode: accuracy goes up
    es = cbs.EarlyStopping(patience=0, start_from_epoch=2)
    _, ran = drive(es, [1.0, 2.0, 3.0, 4.0])
    assert ran == [0, 1, 2, 3]


def test_monitor_is_checked_when_fit_starts():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.rand(16, 3).astype(np.float32), np.random.randint(0, 2, 16)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"monitor 'val_loss'.*loss, accuracy.*validation"):
        model.fit(x, y, callbacks=[cbs.EarlyStopping()], verbose=0)
    with pytest.raises(ValueError, match=r"monitor 'val_acc'.*val_accuracy"):
        model.fit(x, y, validation_split=0.25, verbose=0,
                  callbacks=[cbs.ModelCheckpoint("m.keras", monitor="val_acc",
                                                 save_best_only=True)])
    with pytest.raises(ValueError, match="monitor 'lss'"):
        model.fit(x, y, callbacks=[cbs.ReduceLROnPlateau(monitor="lss")], verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


class Scripted(keras.Model):
    """A model whose validation loss follows a script, and whose weight counts epochs."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.dense = layers.Dense(1, kernel_initializer="zeros")
        self.tracker = keras.metrics.Mean(name="loss")
        self.epoch = 0

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        self.dense.kernel._data += 1.0
        self.tracker.update_state(0.0)
        return {"loss": self.tracker.result()}

    def test_step(self, data):
        self.tracker.update_state(self.script[self.epoch])
        self.epoch += 1
        return {"loss": self.tracker.result()}

    @property
    def metrics(self):
        return [self.tracker]


def _scripted_fit(script, callbacks, epochs=None):
    model = Scripted(script)
    model.compile(optimizer="sgd")
    x = np.ones((4, 1), np.float32)
    history = model.fit(x, x, batch_size=4, epochs=epochs or len(script),
                        validation_data=(x, x), callbacks=callbacks, verbose=0)
    return model, history


def test_early_stopping_inside_fit():
    es = cbs.EarlyStopping(patience=1, restore_best_weights=True)
    model, history = _scripted_fit([3.0, 2.0, 2.5, 1.0], [es])
    assert history.epoch == [0, 1, 2] and history.history["val_loss"] == [3.0, 2.0, 2.5]
    assert float(model.dense.kernel._data[0, 0]) == 2.0  # restored to the end of epoch 1


def test_model_checkpoint_save_best_only(tmp_path, capsys):
    path = str(tmp_path / "ckpt_{epoch:02d}_{val_loss:.1f}.keras")
    ckpt = cbs.ModelCheckpoint(path, save_best_only=True, verbose=1)
    _scripted_fit([3.0, 1.0, 2.0, 0.5], [ckpt])
    saved = sorted(os.listdir(tmp_path))
    assert saved == ["ckpt_01_3.0.keras", "ckpt_02_1.0.keras", "ckpt_04_0.5.keras"]
    out = capsys.readouterr().out
    assert "val_loss improved from 1.00000 to 0.50000" in out
    assert "Epoch 3: val_loss did not improve from 1.00000" in out


def test_model_checkpoint_every_epoch_weights_only(tmp_path):
    path = str(tmp_path / "w.weights.safetensors")
    ckpt = cbs.ModelCheckpoint(path, save_weights_only=True)
    model, _ = _scripted_fit([1.0, 1.0, 1.0], [ckpt])
    model.dense.kernel._data[...] = -1
    model.load_weights(path)
    assert float(model.dense.kernel._data[0, 0]) == 3.0  # the last epoch's weights
    with pytest.raises(ValueError, match="weights.safetensors"):
        cbs.ModelCheckpoint(str(tmp_path / "w.keras"), save_weights_only=True)


def test_reduce_lr_on_plateau():
    model = Scripted([1.0] * 7)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = np.ones((4, 1), np.float32)
    h = model.fit(x, x, epochs=7, validation_data=(x, x), verbose=0,
                  callbacks=[cbs.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.02,
                                                   cooldown=1)])
    # Logged before each epoch's decision: reduced at the end of epochs 2 and 4 (after
    # one epoch of cooldown and two of patience), then clipped to min_lr at epoch 6.
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025,
                                                        0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    with pytest.raises(ValueError, match="factor"):
        cbs.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_with_keras_and_torch_optimizers():
    model = Scripted([1.0] * 3)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = np.ones((4, 1), np.float32)
    sched = cbs.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr * 0.1)
    h = model.fit(x, x, epochs=3, callbacks=[sched], verbose=0)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.01, 0.001])
    host = Host()
    cb = cbs.LearningRateScheduler(lambda epoch: 1.0 / (epoch + 1))
    cb.set_model(host)
    cb.on_epoch_begin(3)
    assert host.optimizer.param_groups[0]["lr"] == 0.25


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    _scripted_fit([3.0, 2.0], [cbs.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"] and float(rows[2][2]) == 2.0
    _scripted_fit([1.0], [cbs.CSVLogger(path, append=True)])
    rows = list(csv.reader(open(path)))
    assert len(rows) == 4 and rows[3][0] == "0"


def test_terminate_on_nan_and_lambda_callback():
    model = keras.Sequential([keras.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((32, 2), np.float32)
    x[5] = np.nan
    seen = []
    hooks = cbs.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch),
                               on_epoch_end=lambda epoch, logs: seen.append(f"e{epoch}"))
    history = model.fit(x, np.ones(32), batch_size=4, epochs=3, shuffle=False, verbose=0,
                        callbacks=[cbs.TerminateOnNaN(), hooks])
    assert seen == [0, 1, "e0"] and math.isnan(history.history["loss"][0])
    with pytest.raises(TypeError, match="unknown hook"):
        cbs.LambdaCallback(on_epoch_middle=print)


def test_tensorboard_event_files_are_read_back_by_tensorboard(tmp_path):
    pytest.importorskip("tensorboardX")
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    x = np.random.rand(64, 3).astype(np.float32)
    y = x.sum(1)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, name="hidden"),
                              layers.Dense(1, name="out")])
    model.compile("adam", "mse", metrics=["mae"])
    tb = cbs.TensorBoard(log_dir=str(tmp_path), histogram_freq=1, update_freq="batch")
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[tb])
    train = event_accumulator.EventAccumulator(str(tmp_path / "train"),
                                               size_guidance={"histograms": 0, "scalars": 0})
    train.Reload()
    tags = train.Tags()
    assert {"epoch_loss", "epoch_mae", "batch_loss"} <= set(tags["scalars"])
    assert "hidden/kernel" in tags["histograms"] and "out/bias" in tags["histograms"]
    epoch_loss = [e.value for e in train.Scalars("epoch_loss")]
    assert epoch_loss == pytest.approx(history.history["loss"], rel=1e-5)
    assert [e.step for e in train.Scalars("batch_loss")] == list(range(1, 7))
    val = event_accumulator.EventAccumulator(str(tmp_path / "validation"))
    val.Reload()
    assert [e.value for e in val.Scalars("epoch_loss")] == pytest.approx(
        history.history["val_loss"], rel=1e-5)


def test_backup_and_restore_resumes_an_interrupted_run(tmp_path):
    x = np.random.default_rng(0).random((64, 4), np.float32)
    y = x @ np.array([1.0, 2.0, -1.0, 0.5], np.float32)

    def make():
        ts.manual_seed(0)
        model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="tanh"),
                                  layers.Dense(1)])
        model.compile(keras.optimizers.Adam(0.01), "mse")
        return model

    straight = make()
    straight.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)

    class Crash(cbs.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated interruption")

    backup = tmp_path / "backup"
    resumed = make()
    with pytest.raises(KeyboardInterrupt):
        resumed.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0,
                    callbacks=[cbs.BackupAndRestore(backup), Crash()])
    assert os.path.exists(backup / "state.json")
    resumed = make()  # a fresh process would start from new weights like these
    history = resumed.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0,
                          callbacks=[cbs.BackupAndRestore(backup)])
    assert history.epoch == [2, 3]
    assert not os.path.exists(backup)  # deleted once training completed
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progbar_redraws_on_a_terminal_and_writes_lines_otherwise():
    tty = FakeTTY()
    bar = cbs.Progbar(4, verbose=1, interval=0.0, stream=tty)
    for step in range(1, 5):
        bar.update(step, {"loss": 1.0 / step})
    text = tty.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "ETA" in text and "4/4" in text and "loss: 0.2500" in text
    pipe = io.StringIO()
    bar = cbs.Progbar(4, verbose=1, stream=pipe)
    for step in range(1, 5):
        bar.update(step, {"loss": 0.5})
    assert pipe.getvalue().count("\n") == 1 and "\r" not in pipe.getvalue()
    assert pipe.getvalue().startswith("4/4 ")
    quiet = io.StringIO()
    bar = cbs.Progbar(4, verbose=2, stream=quiet)
    for step in range(1, 5):
        bar.update(step, {"loss": 0.5})
    line = quiet.getvalue()
    assert line.count("\n") == 1 and line.startswith("4/4 - ") and "step - loss: 0.5000" in line
