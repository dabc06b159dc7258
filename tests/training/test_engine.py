"""The training engine on its own: a PyTorch-style module with a loss function and a
tessera.optim optimizer, the override points, the data it accepts, and checkpoints."""

import numpy as np
import pytest

import tessera as ts
from tessera import nn, optim, training
from tessera.data import DataLoader, TensorDataset
from tessera.training.data import ArrayData, train_validation_split


class Regressor(training.Engine, nn.Module):
    def __init__(self, lr=0.1):
        super().__init__()
        self.fc = nn.Linear(3, 1)
        self.optimizer = optim.SGD(self.parameters(), lr=lr)
        self.loss_fn = nn.MSELoss()

    def forward(self, x):
        return self.fc(x).squeeze(-1)


def data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3), np.float32)
    return x, x @ np.array([1.0, -2.0, 0.5], np.float32) + 0.25


def test_engine_trains_a_plain_module():
    x, y = data()
    model = Regressor()
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.01 < history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0) < 0.01
    assert model.predict(x[:4], verbose=0).shape == (4,)
    assert model.training is False  # fit leaves the module in eval mode


def test_compute_loss_and_train_step_are_the_override_points():
    class L1(Regressor):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         training=True):
            return (y_pred - y).abs().mean()

    x, y = data()
    model = L1()
    model.fit(x, y, epochs=2, verbose=0)
    pred = model(ts.tensor(x)).detach().numpy()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(np.abs(pred - y).mean(),
                                                            rel=1e-5)

    class Counting(Regressor):
        steps = 0

        def train_step(self, data):
            Counting.steps += 1
            return super().train_step(data)

    Counting().fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert Counting.steps == 8


def test_validation_split_takes_the_last_samples_before_shuffling():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    train, val = train_validation_split(ArrayData(x, x, batch_size=4, shuffle=True), 0.3)
    assert train.num_samples == 7 and val.num_samples == 3
    (vx, _), = list(val)
    np.testing.assert_array_equal(vx.numpy().ravel(), [7, 8, 9])
    seen = np.concatenate([bx.numpy().ravel() for bx, _ in train])
    assert sorted(seen) == list(range(7))


def test_shuffling_follows_manual_seed_and_steps_per_epoch_continues():
    x = np.arange(12, dtype=np.float32).reshape(12, 1)

    def order():
        ts.manual_seed(3)
        return np.concatenate([b.numpy().ravel() for b in ArrayData(x, batch_size=4,
                                                                     shuffle=True)])
    assert np.array_equal(order(), order()) and sorted(order()) == list(range(12))
    arrays = ArrayData(x, batch_size=4, steps=2)
    first = [b.numpy().ravel()[0] for b in arrays]
    second = [b.numpy().ravel()[0] for b in arrays]
    assert first == [0, 4] and second == [8, 0]


def test_initial_epoch_and_history():
    x, y = data()
    model = Regressor()
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2
    assert model.history is history


def test_training_checkpoint_round_trip(tmp_path):
    x, y = data()
    model = Regressor(lr=0.05)
    model.optimizer = optim.Adam(model.parameters(), lr=0.05)
    model.fit(x, y, epochs=2, verbose=0)
    model.save_training_checkpoint(tmp_path / "ckpt", epoch=1)
    other = Regressor()
    other.optimizer = optim.Adam(other.parameters(), lr=0.05)
    loop = other.load_training_checkpoint(tmp_path / "ckpt")
    assert loop["epoch"] == 1
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    other.fit(x, y, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.fc.weight.detach().numpy(),
                               other.fc.weight.detach().numpy(), rtol=1e-6)


def test_data_errors():
    model = Regressor()
    x, y = data()
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        model.fit(np.array([["a", "b", "c"]] * 4), np.zeros(4), verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)
    loader = DataLoader(TensorDataset(ts.tensor(x), ts.tensor(y)), batch_size=8)
    with pytest.raises(ValueError, match="y must not be given"):
        model.fit(loader, y, verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported"):
        model.fit(loader, validation_split=0.2, verbose=0)
