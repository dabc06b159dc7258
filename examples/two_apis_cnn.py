"""The same CNN written twice with tessera: once with the Keras-style API, once with the
PyTorch-style API. Both are trained on CIFAR-10 when its files are present locally (the
``cifar-10-batches-py`` folder under ``--cifar-root``), and on the UCI digits that
scikit-learn ships otherwise; the script prints, side by side, the lines of model and
training code, the training time and the test accuracy of each.

    python examples/two_apis_cnn.py                  # digits, or CIFAR-10 if found
    python examples/two_apis_cnn.py --cifar-root ~/data --epochs 2 --max-train 10000
"""

import argparse
import inspect
import os
import time

import numpy as np

import tessera as ts
from tessera import keras, nn, optim
from tessera.data import DataLoader, TensorDataset
from tessera.keras import layers
from tessera.nn import functional as F


# == the data =====================================================================

def load_data(cifar_root, max_train=None):
    """``(x_train, y_train, x_test, y_test, name)``: float32 NHWC images in [0, 1]."""
    folder = os.path.join(os.path.expanduser(cifar_root), "cifar-10-batches-py")
    if os.path.isdir(folder):
        from tessera.data.datasets import CIFAR10
        train = CIFAR10(cifar_root, train=True)
        test = CIFAR10(cifar_root, train=False)
        x_train, y_train = train.data, np.array(train.targets)
        x_test, y_test = test.data, np.array(test.targets)
        x_train, x_test = x_train / np.float32(255), x_test / np.float32(255)
        name = "CIFAR-10"
    else:
        from tessera.data.datasets import Digits
        train, test = Digits(train=True), Digits(train=False)
        x_train, y_train = train.data.numpy()[..., None] / 16, train.targets.numpy()
        x_test, y_test = test.data.numpy()[..., None] / 16, test.targets.numpy()
        name = "UCI digits (CIFAR-10 files not found under --cifar-root)"
    if max_train is not None:
        x_train, y_train = x_train[:max_train], y_train[:max_train]
    return (x_train.astype(np.float32), y_train.astype(np.int64),
            x_test.astype(np.float32), y_test.astype(np.int64), name)


# == Keras-style ==================================================================

def build_keras(input_shape, classes):
    model = keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def train_keras(model, x_train, y_train, x_test, y_test, epochs, batch_size):
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=2)
    return model.evaluate(x_test, y_test, verbose=0)[1]


# == PyTorch-style ================================================================

class TorchCNN(nn.Module):
    def __init__(self, channels, size, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * (size // 4) ** 2, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def train_torch(model, x_train, y_train, x_test, y_test, epochs, batch_size):
    images = ts.tensor(x_train.transpose(0, 3, 1, 2))  # PyTorch convolutions are NCHW
    loader = DataLoader(TensorDataset(images, ts.tensor(y_train)), batch_size=batch_size,
                        shuffle=True)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        print(f"epoch {epoch + 1}/{epochs} - loss: {total / len(y_train):.4f}")
    model.eval()
    with ts.no_grad():
        logits = model(ts.tensor(x_test.transpose(0, 3, 1, 2)))
    return float((logits.argmax(1).numpy() == y_test).mean())


# == side by side =================================================================

def code_lines(*objects):
    """Non-blank, non-comment source lines of these functions and classes."""
    count = 0
    for obj in objects:
        for line in inspect.getsource(obj).splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                count += 1
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar-root", default="data",
                        help="folder holding cifar-10-batches-py (default: ./data)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs (default: 10 on the digits, 2 on CIFAR-10)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-train", type=int, default=None,
                        help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x_train, y_train, x_test, y_test, name = load_data(args.cifar_root, args.max_train)
    epochs = args.epochs or (2 if name == "CIFAR-10" else 10)
    size, channels = x_train.shape[1], x_train.shape[3]
    classes = int(y_train.max()) + 1
    print(f"data: {name}; {len(y_train)} training and {len(y_test)} test images of "
          f"{x_train.shape[1:]}; {epochs} epochs\n")

    results = {}
    print("== Keras-style ==")
    ts.manual_seed(args.seed)
    start = time.perf_counter()
    model = build_keras(x_train.shape[1:], classes)
    acc = train_keras(model, x_train, y_train, x_test, y_test, epochs, args.batch_size)
    results["Keras-style"] = (code_lines(build_keras), code_lines(train_keras),
                              time.perf_counter() - start, acc, model.count_params())

    print("\n== PyTorch-style ==")
    ts.manual_seed(args.seed)
    start = time.perf_counter()
    net = TorchCNN(channels, size, classes)
    acc = train_torch(net, x_train, y_train, x_test, y_test, epochs, args.batch_size)
    results["PyTorch-style"] = (code_lines(TorchCNN), code_lines(train_torch),
                                time.perf_counter() - start, acc,
                                sum(p.numel() for p in net.parameters()))

    rows = [("lines of model code", "{:d}"), ("lines of training code", "{:d}"),
            ("training time (s)", "{:.1f}"), ("test accuracy", "{:.4f}"),
            ("parameters", "{:,}")]
    print(f"\n{'':24s}" + "".join(f"{k:>16s}" for k in results))
    for i, (label, fmt) in enumerate(rows):
        print(f"{label:24s}" + "".join(f"{fmt.format(v[i]):>16s}" for v in results.values()))


if __name__ == "__main__":
    main()
