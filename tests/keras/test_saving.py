"""``.keras`` archives, weight files and configs: what is saved reloads (in a fresh process)
and predicts identically."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import tessera as ts
from tessera import keras
from tessera.keras import layers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cnn():
    model = keras.Sequential([keras.Input((8, 8, 1)),
                              layers.Conv2D(4, 3, padding="same", activation="relu"),
                              layers.BatchNormalization(),
                              layers.MaxPooling2D(),
                              layers.Flatten(),
                              layers.Dropout(0.2),
                              layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.rand(64, 8, 8, 1).astype(np.float32)
    model.fit(x, np.random.randint(0, 10, 64), epochs=1, verbose=0)
    return model, x


def _functional():
    text = keras.Input((6,), name="text")
    meta = keras.Input((3,), name="meta")
    h = layers.Dense(8, activation="tanh")(text)
    h = layers.Concatenate()([h, layers.Dense(4)(meta)])
    out = layers.Dense(2, activation="sigmoid", name="out")(h)
    model = keras.Model([text, meta], out, name="two_inputs")
    model.compile(keras.optimizers.RMSprop(0.01), "binary_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC()])
    return model


def test_keras_archive_layout(tmp_path):
    model, _ = _cnn()
    path = tmp_path / "cnn.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("config.json"))
    assert names == {"config.json", "metadata.json", "model.weights.safetensors"}
    assert not any(n.endswith((".pkl", ".pickle", ".h5")) for n in names)
    assert config["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in config["config"]["layers"]] == [
        "InputLayer", "Conv2D", "BatchNormalization", "MaxPooling2D", "Flatten", "Dropout",
        "Dense"]
    assert config["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match=r"\.keras"):
        model.save(tmp_path / "cnn.h5")


def test_saved_model_reloads_in_a_fresh_process_and_predicts_identically(tmp_path):
    model, x = _cnn()
    path = tmp_path / "cnn.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    expected = model.predict(x, verbose=0)
    script = textwrap.dedent(f"""
        import numpy as np
        from tessera import keras
        model = keras.models.load_model({str(path)!r})
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "out.npy")!r}, model.predict(x, verbose=0))
        print(type(model.optimizer).__name__, model.metrics_names)
    """)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[0] == "Adam"
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_functional_model_round_trip(tmp_path):
    model = _functional()
    xt, xm = np.random.rand(16, 6).astype(np.float32), np.random.rand(16, 3).astype(np.float32)
    model.fit([xt, xm], np.random.randint(0, 2, (16, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "f.keras")
    loaded = keras.models.load_model(tmp_path / "f.keras")
    assert loaded.name == "two_inputs"
    assert [t.shape for t in loaded.inputs] == [(None, 6), (None, 3)]
    np.testing.assert_array_equal(loaded.predict([xt, xm], verbose=0),
                                  model.predict([xt, xm], verbose=0))
    assert loaded.metrics_names == ["loss", "accuracy", "auc"] or \
        loaded.metrics_names[0] == "loss"
    loaded.fit([xt, xm], np.random.randint(0, 2, (16, 2)), epochs=1, verbose=0)


def test_save_and_load_weights(tmp_path):
    model, x = _cnn()
    path = tmp_path / "cnn.weights.safetensors"
    model.save_weights(path)
    other, _ = _cnn()
    assert not np.allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    model.save(tmp_path / "cnn.keras")
    third, _ = _cnn()
    third.load_weights(tmp_path / "cnn.keras")
    np.testing.assert_array_equal(third.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="weights.safetensors"):
        model.save_weights(tmp_path / "cnn.h5")
    small = keras.Sequential([keras.Input((8, 8, 1)), layers.Flatten(), layers.Dense(3)])
    with pytest.raises(ValueError, match="cannot load weights"):
        small.load_weights(path)
    with pytest.raises(FileNotFoundError):
        keras.models.load_model(tmp_path / "missing.keras")


def test_custom_layer_needs_registration_and_loads_with_it(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    model = keras.Sequential([keras.Input((3,)), Scale(3.0), layers.Dense(2)])
    model.save(tmp_path / "custom.keras")
    loaded = keras.models.load_model(tmp_path / "custom.keras")
    x = np.random.rand(4, 3).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].factor == 3.0

    class Unregistered(layers.Layer):
        def call(self, x):
            return x
    keras.Sequential([keras.Input((3,)), Unregistered()]).save(tmp_path / "u.keras")
    with pytest.raises(TypeError, match="register_keras_serializable"):
        keras.models.load_model(tmp_path / "u.keras")
    lam = keras.Sequential([keras.Input((3,)), layers.Lambda(lambda t: t * 2)])
    with pytest.raises(ValueError, match="Lambda"):
        lam.save(tmp_path / "lambda.keras")


def test_subclassed_model_with_config_saves(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    class Tiny(keras.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    model = Tiny(3)
    x = np.random.rand(2, 5).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "tiny.keras")
    loaded = keras.models.load_model(tmp_path / "tiny.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert ts.is_tensor(loaded.dense.kernel)
