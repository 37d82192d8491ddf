"""The answer: model, text, index and engine. Pure: no I/O, no YAML, no SQL, no platform."""

import sys

# jieba and zhconv locate their dictionaries with pkg_resources when it can be imported, and with a
# plain path beside their own files when it cannot (as in an environment without setuptools); the
# files read are the same. Importing pkg_resources costs about 0.1 s and 10 MB at every start, so the
# two are imported here, before anything else of the answer, with it hidden for that moment only.
if "pkg_resources" not in sys.modules:
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # None in sys.modules: ImportError
    try:
        import jieba  # noqa: F401
        import zhconv  # noqa: F401
    finally:
        del sys.modules["pkg_resources"]
