"""A small Conv2D model trained with fit on the UCI digits (scikit-learn ships them):
at least 97% validation accuracy, with EarlyStopping and ModelCheckpoint as in Keras."""

import numpy as np
import pytest

import tessera as ts
from tessera import keras
from tessera.keras import callbacks, layers


def test_conv2d_on_uci_digits_reaches_97_percent(tmp_path):
    pytest.importorskip("sklearn")
    from tessera.data.datasets import load_digits

    images, targets = load_digits()
    order = np.random.default_rng(0).permutation(len(targets))
    x = images.numpy()[order, :, :, None] / 16.0  # channels_last (N, 8, 8, 1)
    y = targets.numpy()[order]
    ts.manual_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    best = tmp_path / "best.keras"
    history = model.fit(
        x, y, epochs=12, batch_size=32, validation_split=0.2, verbose=0,
        callbacks=[callbacks.EarlyStopping(monitor="val_accuracy", patience=3,
                                           restore_best_weights=True),
                   callbacks.ModelCheckpoint(best, monitor="val_accuracy",
                                             save_best_only=True)])
    val_acc = history.history["val_accuracy"]
    assert max(val_acc) >= 0.97, val_acc
    split = int(len(y) * 0.8)
    # restore_best_weights: the model ends with the weights of its best epoch ...
    _, acc = model.evaluate(x[split:], y[split:], verbose=0)
    assert acc == pytest.approx(max(val_acc), abs=1e-6)
    # ... and the checkpoint holds the same model.
    reloaded = keras.models.load_model(best)
    np.testing.assert_array_equal(reloaded.predict(x[split:], verbose=0),
                                  model.predict(x[split:], verbose=0))
