"""The ``tessera`` command: thin entry points over the library.

``tessera quickstart`` trains a small CNN on the UCI handwritten digits (shipped with
scikit-learn, no download), evaluates it on a held-out split, saves a checkpoint,
reloads it into a fresh model and checks that the reloaded model scores the same.
"""

import argparse
import os
import sys
import time

__all__ = ["main", "quickstart"]


def _digits_cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))


def _is_terminal(stream):
    return hasattr(stream, "isatty") and stream.isatty()


def _accuracy(ts, model, loader):
    model.eval()
    correct = total = 0
    with ts.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(dim=1) == y).sum().item()
            total += len(y)
    return correct / total


def quickstart(epochs=12, batch_size=32, lr=2e-3, seed=0,
               checkpoint="checkpoints/quickstart.safetensors", out=None, threads=1):
    """Train, evaluate, checkpoint and reload a CNN on the digits; returns the summary dict.

    ``threads=1``: the matrix products of a 38k-parameter model on 8x8 images are too small
    to share across threads, and on a busy machine BLAS threads only slow them down.
    """
    out = sys.stdout if out is None else out
    from tqdm import tqdm

    import tessera as ts
    from tessera import nn, optim
    from tessera.data import ConcatDataset, DataLoader, random_split
    from tessera.data.datasets import Digits

    if threads:
        ts.set_num_threads(threads)
    start = time.perf_counter()
    ts.manual_seed(seed)
    scale = lambda image: image / 16.0  # noqa: E731 - pixel values are 0..16
    digits = ConcatDataset([Digits(train=True, transform=scale),
                            Digits(train=False, transform=scale)])
    n_test = len(digits) // 5
    train_set, test_set = random_split(digits, [len(digits) - n_test, n_test])
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)

    model = _digits_cnn(nn)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    print(f"tessera {ts.__version__} quickstart: {len(train_set)} training and {n_test} held-out "
          f"images of handwritten digits (8x8), a CNN of "
          f"{sum(p.numel() for p in model.parameters()):,} parameters", file=out)
    for epoch in range(1, epochs + 1):
        model.train()
        seen = correct = 0
        running = 0.0
        # A redrawn bar on a terminal; one line per epoch in a log file or a pipe.
        bar = tqdm(train_loader, desc=f"epoch {epoch:2d}/{epochs}", file=out, ncols=90,
                   disable=not _is_terminal(out))
        for x, y in bar:
            optimizer.zero_grad()
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(y)
            correct += (logits.argmax(dim=1) == y).sum().item()
            seen += len(y)
            bar.set_postfix(loss=f"{running / seen:.4f}", acc=f"{correct / seen:.3f}",
                            refresh=False)
        bar.close()
        if not _is_terminal(out):
            print(f"epoch {epoch:2d}/{epochs}: loss {running / seen:.4f}, "
                  f"train accuracy {correct / seen:.3f}", file=out)
    train_time = time.perf_counter() - start
    test_acc = _accuracy(ts, model, test_loader)

    os.makedirs(os.path.dirname(checkpoint) or ".", exist_ok=True)
    ts.save(model.state_dict(), checkpoint)
    reloaded = _digits_cnn(nn)
    reloaded.load_state_dict(ts.load(checkpoint))
    reloaded_acc = _accuracy(ts, reloaded, test_loader)
    total = time.perf_counter() - start
    summary = {"test_accuracy": test_acc, "reloaded_accuracy": reloaded_acc,
               "train_seconds": train_time, "total_seconds": total, "checkpoint": checkpoint}
    print(f"\ntest accuracy {test_acc:.2%} | reloaded from {checkpoint}: {reloaded_acc:.2%} | "
          f"training {train_time:.1f} s, total {total:.1f} s", file=out)
    if reloaded_acc != test_acc:
        raise RuntimeError("quickstart: the reloaded checkpoint does not reproduce the model")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tessera", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="train a CNN on the UCI digits and check a checkpoint")
    q.add_argument("--epochs", type=int, default=12)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--checkpoint", default="checkpoints/quickstart.safetensors")
    q.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    b = sub.add_parser("bench", help="run the side-by-side benchmarks against PyTorch")
    b.add_argument("suite", nargs="?", default="core_ops")
    args = parser.parse_args(argv)
    if args.command == "quickstart":
        quickstart(epochs=args.epochs, seed=args.seed, checkpoint=args.checkpoint,
                   threads=args.threads)
        return 0
    if args.command == "bench":
        import importlib
        importlib.import_module(f"benchmarks.{args.suite}").main()
        return 0
    return 1
