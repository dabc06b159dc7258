"""The public API is curated: this snapshot changes only on purpose.

After adding or removing a public name on purpose, regenerate the snapshot with
``python tests/test_public_api.py --update`` and review the diff.
"""

import importlib
import json
import pathlib
import sys

SNAPSHOT = pathlib.Path(__file__).with_name("public_api.json")
MODULES = ["tessera", "tessera.autograd", "tessera.func", "tessera.nn", "tessera.nn.functional",
           "tessera.nn.init", "tessera.optim", "tessera.optim.lr_scheduler", "tessera.data",
           "tessera.serialization", "tessera.testing", "tessera.profiler", "tessera.training",
           "tessera.keras", "tessera.keras.layers", "tessera.linalg",
           "tessera.compiler"]


def current_api():
    api = {}
    for name in MODULES:
        module = importlib.import_module(name)
        names = getattr(module, "__all__", None)
        assert names is not None, f"{name} has no __all__"
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, f"{name}.__all__ names what it lacks: {missing}"
        api[name] = sorted(set(names))
    return api


def test_public_names_match_the_snapshot():
    expected = json.loads(SNAPSHOT.read_text())
    actual = current_api()
    for name in MODULES:
        added = sorted(set(actual[name]) - set(expected.get(name, [])))
        removed = sorted(set(expected.get(name, [])) - set(actual[name]))
        assert not added and not removed, (
            f"{name}: public names changed (added {added}, removed {removed}); if on purpose, "
            "run `python tests/test_public_api.py --update`")


if __name__ == "__main__" and "--update" in sys.argv:
    SNAPSHOT.write_text(json.dumps(current_api(), indent=1) + "\n")
    print(f"wrote {SNAPSHOT}")
