"""The judge's Python worker: runs one submission's code and hands back data.

judge-runner starts it inside the sandbox, once per graded submission, with the scratch copy
of the submission as working directory:

    python -s -B worker.py FIXTURES_DIR INBOX OUTBOX

Protocol: one JSON object per line, requests on fd 3 and responses on fd 4. Those are private
pipes, so nothing the submission prints (fds 1 and 2, captured by the judge) can corrupt them.
Arrays travel as .npy files: the judge writes arguments into INBOX, the worker writes results
into OUTBOX. The worker never compares anything; the judge does, in Rust.

Tamper resistance: every function the protocol and the measurements rely on (tracemalloc,
perf_counter, os.read/os.write, the .npy writer, the JSON encoder) is captured before any
submission code is imported, and the worker's functions look builtins up in a private copy,
so a submission that patches numpy, tracemalloc, time, json or builtins cannot change what
is reported. Code in this process could still forge anything with enough effort, so nothing that
decides a verdict rests on this process's word alone: every response echoes the request's
sequence number (a forged or duplicate line is caught by the judge at the next exchange), the
judge reads the process's resident memory from /proc itself, times each call on its own clock,
and objects the judge serves (remote fixtures) run in the judge, which counts their calls.
"""

import builtins
import sys

# Functions defined below look builtins up in this copy, not in the builtins module a
# submission may patch (a function keeps the builtins of the globals it was defined in).
__builtins__ = dict(vars(builtins))

BLOCKED_PACKAGES = ("torch", "jax", "jaxlib", "tensorflow", "autograd")
TRACEBACK_LINES = 20
SKIPPED_DIRS = {"__pycache__", "site-packages", "node_modules", "venv", ".venv", "env"}
MAX_SEARCH_DEPTH = 3


class JsonContext:
    """What the C JSON scanner reads its settings from, once, when it is made; it then parses
    without any Python-level code a submission could patch (json.loads would go through
    json.decoder, which looks up builtins such as len at call time)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def serve(fixtures_dir, inbox, outbox):
    import ast
    import fcntl
    import importlib.util
    import inspect
    import math
    import os
    import time
    import traceback
    import _json
    import _tracemalloc

    import numpy as np

    # Captured before any submission code runs: C functions and methods of C types, which a
    # submission cannot reach through module attributes any more.
    perf_counter = time.perf_counter
    trace_start = _tracemalloc.start
    trace_stop = _tracemalloc.stop
    traced_memory = _tracemalloc.get_traced_memory
    is_tracing = _tracemalloc.is_tracing
    os_read, os_write, os_close = os.read, os.write, os.close
    join_path = os.path.join
    encode_str = _json.encode_basestring_ascii
    json_scan = _json.make_scanner(JsonContext())
    float_repr = float.__repr__
    int_repr = int.__repr__
    isnan, isinf = math.isnan, math.isinf
    ndarray, np_generic = np.ndarray, np.generic
    # The ndarray's own descriptors: a subclass may shadow `dtype` or `shape` with properties.
    true_dtype = np.ndarray.dtype.__get__
    np_bool, np_integer, np_floating = np.bool_, np.integer, np.floating
    astype, tofile = np.ndarray.astype, np.ndarray.tofile
    np_load = np.load
    format_exception = traceback.format_exception
    numpy_version = np.__version__
    blocked_packages = frozenset(BLOCKED_PACKAGES)

    # The protocol pipes move to high, close-on-exec descriptors; 3 and 4 are closed, so a
    # child process of the submission inherits neither.
    requests = fcntl.fcntl(3, fcntl.F_DUPFD_CLOEXEC, 100)
    responses = fcntl.fcntl(4, fcntl.F_DUPFD_CLOEXEC, 100)
    os_close(3)
    os_close(4)

    objects = {}  # handle -> object kept for the judge (fixtures, opaque results)
    fixture_calls = {}  # fixture handle -> calls the submission made on it
    blocked = []  # refused imports not yet reported
    counters = {"handle": 0, "array": 0, "seq": None}
    submission = {}
    pending = bytearray()

    # ---- wire format ------------------------------------------------------------------

    def encode(x):
        """JSON text of a tree of None/bool/int/finite float/str/list/dict."""
        if x is None:
            return "null"
        if x is True:
            return "true"
        if x is False:
            return "false"
        t = type(x)
        if t is str:
            return encode_str(x)
        if t is int:
            return int_repr(x)
        if t is float:
            return float_repr(x)
        if t is list:
            return "[" + ",".join([encode(v) for v in x]) + "]"
        if t is dict:
            return "{" + ",".join([encode_str(k) + ":" + encode(v) for k, v in x.items()]) + "}"
        raise TypeError("cannot encode %r" % (t,))

    def send(message):
        message["seq"] = counters["seq"]
        message["blocked"] = blocked[:]
        del blocked[:]
        view = memoryview((encode(message) + "\n").encode())
        while view:
            view = view[os_write(responses, view):]

    def receive():
        searched = 0
        while True:
            end = pending.find(b"\n", searched)
            if end >= 0:
                line = pending[:end].decode()
                del pending[: end + 1]
                return json_scan(line, 0)[0]
            searched = len(pending)
            chunk = os_read(requests, 1 << 20)
            if not chunk:
                return None
            pending.extend(chunk)

    def new_handle(obj):
        counters["handle"] += 1
        objects[counters["handle"]] = obj
        return counters["handle"]

    def from_wire(w):
        t = type(w)
        if w is None or t is bool or t is int or t is float or t is str:
            return w
        if t is list:
            return [from_wire(v) for v in w]
        if "npy" in w:
            return np_load(join_path(inbox, w["npy"]), allow_pickle=False)
        if "tuple" in w:
            return tuple([from_wire(v) for v in w["tuple"]])
        if "dict" in w:
            return {k: from_wire(v) for k, v in w["dict"]}
        if "obj" in w:
            return objects[w["obj"]]
        if "float" in w:
            return float(w["float"])
        raise ValueError("unknown wire value %r" % (w,))

    def keep(obj, type_name=None):
        if type_name is None:
            cls = type(obj)
            module = getattr(cls, "__module__", None)
            type_name = cls.__qualname__ if module in (None, "builtins") else module + "." + cls.__qualname__
        return {"opaque": type_name, "id": new_handle(obj)}

    def save_array(a):
        """Writes `a` as a .npy file in the outbox; its own writer, so patching numpy's
        save/format functions changes nothing."""
        dtype = true_dtype(a)
        kind, size = dtype.kind, dtype.itemsize
        if kind == "f":
            descr = "<f4" if size == 4 else "<f8"
        elif kind in "iu":
            descr = "<i8"
        elif kind == "b":
            descr = "|b1"
        else:
            return keep(a, "ndarray[%s]" % dtype)
        # subok=False: a plain ndarray of the same data, whatever the subclass overrides; no
        # copy when it already is one (the judge measures the call's resident memory).
        data = astype(a, descr, order="C", subok=False, copy=False)
        shape = data.shape
        if len(shape) == 1:
            shape_text = "(" + int_repr(shape[0]) + ",)"
        else:
            shape_text = "(" + ", ".join([int_repr(n) for n in shape]) + ")"
        header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text + ", }"
        # magic (6) + version (2) + header length (2) + header + newline: a multiple of 64
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        counters["array"] += 1
        name = "r%d.npy" % counters["array"]
        with open(join_path(outbox, name), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
            f.flush()
            tofile(data, f)
        return {"npy": name, "dtype": descr}

    def to_wire(v, depth=0):
        if depth > 100:
            return keep(v)
        if v is None or v is True or v is False:
            return v
        t = type(v)
        if t is str:
            return v
        if t is int:
            return v if -(1 << 63) <= v < (1 << 63) else keep(v, "int beyond 64 bits")
        if t is float:
            if isnan(v):
                return {"float": "nan"}
            if isinf(v):
                return {"float": "inf" if v > 0 else "-inf"}
            return v
        # issubclass of type(v), not isinstance: an object can fake its __class__.
        if issubclass(t, ndarray):
            return save_array(v)
        if issubclass(t, np_generic):
            if isinstance(v, np_bool):
                return bool(v)
            if isinstance(v, np_integer):
                return to_wire(int(v), depth + 1)
            if isinstance(v, np_floating):
                return to_wire(float(v), depth + 1)
            return keep(v)
        if t is Counted or t is Remote:
            return {"obj": object.__getattribute__(v, "_judge_id")}
        if isinstance(v, list):
            return [to_wire(x, depth + 1) for x in v]
        if isinstance(v, tuple):
            return {"tuple": [to_wire(x, depth + 1) for x in v]}
        if isinstance(v, dict):
            return {"dict": [[k if type(k) is str else str(k), to_wire(x, depth + 1)] for k, x in v.items()]}
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, int):
            return to_wire(int(v), depth + 1)
        if isinstance(v, float):
            return to_wire(float(v), depth + 1)
        if isinstance(v, str):
            return str(v)
        return keep(v)

    def ok(value):
        return {"ok": value}

    def missing(name, detail):
        return {"error": {"kind": "missing", "name": name, "detail": detail}}

    def protocol_error(message):
        return {"error": {"kind": "protocol", "message": message}}

    def exception_error(e):
        if isinstance(e, BlockedImport):
            return {"error": {"kind": "blocked", "module": e.name or "?"}}
        try:
            message = str(e)
        except BaseException:
            message = "<unprintable %s>" % type(e).__name__
        try:
            lines = "".join(format_exception(type(e), e, e.__traceback__))
            tail = "\n".join(lines.splitlines()[-TRACEBACK_LINES:])
        except BaseException:
            tail = ""
        kind = "memory" if isinstance(e, MemoryError) else "exception"
        return {"error": {"kind": kind, "type": type(e).__name__, "message": message[:4000], "traceback": tail}}

    # ---- fixtures and the import blocker -----------------------------------------------

    class Counted:
        """A grader fixture as the submission sees it: each call of it or of one of its
        methods is counted."""

        __slots__ = ("_judge_fixture", "_judge_id")

        def __init__(self, fixture, handle):
            object.__setattr__(self, "_judge_fixture", fixture)
            object.__setattr__(self, "_judge_id", handle)

        def __getattr__(self, name):
            attr = getattr(object.__getattribute__(self, "_judge_fixture"), name)
            if not callable(attr):
                return attr
            handle = object.__getattribute__(self, "_judge_id")

            def counted(*args, **kwargs):
                fixture_calls[handle] += 1
                return attr(*args, **kwargs)

            return counted

        def __setattr__(self, name, value):
            setattr(object.__getattribute__(self, "_judge_fixture"), name, value)

        def __call__(self, *args, **kwargs):
            fixture_calls[object.__getattribute__(self, "_judge_id")] += 1
            return object.__getattribute__(self, "_judge_fixture")(*args, **kwargs)

        def __len__(self):
            return len(object.__getattribute__(self, "_judge_fixture"))

        def __getitem__(self, key):
            return object.__getattribute__(self, "_judge_fixture")[key]

        def __iter__(self):
            return iter(object.__getattribute__(self, "_judge_fixture"))

        def __repr__(self):
            return repr(object.__getattribute__(self, "_judge_fixture"))

    class Remote:
        """An object that lives in the judge (a remote fixture): attributes are copies the judge
        sent, and every method call travels to the judge, which runs and counts it. Nothing in
        this process can see its state, run it without the judge knowing, or reset its count."""

        __slots__ = ("_judge_id", "_judge_attrs")

        def __init__(self, handle, attrs):
            object.__setattr__(self, "_judge_id", handle)
            object.__setattr__(self, "_judge_attrs", attrs)

        def __getattr__(self, name):
            attrs = object.__getattribute__(self, "_judge_attrs")
            if name in attrs:
                return attrs[name]
            if name.startswith("__"):
                raise AttributeError(name)
            handle = object.__getattribute__(self, "_judge_id")

            def remote_method(*args, **kwargs):
                return call_judge(handle, name, args, kwargs)

            return remote_method

        def __setattr__(self, name, value):
            raise AttributeError("the judge's object is read-only")

        def __call__(self, *args, **kwargs):
            return call_judge(object.__getattribute__(self, "_judge_id"), "__call__", args, kwargs)

        def __repr__(self):
            return "<remote %s>" % object.__getattribute__(self, "_judge_attrs").get("__name__", "object")

    def call_judge(handle, method, args, kwargs):
        """One method call of a remote fixture: a callback line out, the judge's reply in."""
        send(
            {
                "callback": {
                    "obj": handle,
                    "method": method,
                    "args": [to_wire(a) for a in args],
                    "kwargs": [[k, to_wire(v)] for k, v in kwargs.items()],
                }
            }
        )
        reply = receive()
        if reply is None or reply.get("op") != "reply":
            raise RuntimeError("the judge did not answer a remote call")
        if "error" in reply:
            raise ValueError(reply["error"])
        return from_wire(reply["value"])

    def unwrap(obj):
        return object.__getattribute__(obj, "_judge_fixture") if isinstance(obj, Counted) else obj

    class BlockedImport(ModuleNotFoundError):
        pass

    class ImportBlocker:
        """First finder on sys.meta_path: the autodiff frameworks are refused, and every
        attempt is recorded for the judge."""

        def find_spec(self, fullname, path=None, target=None):
            if fullname.partition(".")[0] in blocked_packages:
                blocked.append(fullname)
                raise BlockedImport("importing %s is not allowed (numpy only)" % fullname, name=fullname)
            return None

    fixture_modules = {}
    for file_name in sorted(os.listdir(fixtures_dir)):
        if file_name.endswith(".py"):
            name = file_name[:-3]
            spec = importlib.util.spec_from_file_location("judge_fixture_" + name, join_path(fixtures_dir, file_name))
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException as e:
                details = exception_error(e)["error"]
                send({"fatal": "fixture module %s failed to import: %s" % (name, details.get("traceback", ""))})
                return
            fixture_modules[name] = module

    sys.meta_path.insert(0, ImportBlocker())
    # The submission's folder, not the worker's, is where its imports are found.
    sys.path[0] = os.getcwd()

    # ---- entry discovery ----------------------------------------------------------------

    def python_files():
        found = []
        for folder, subfolders, files in os.walk("."):
            depth = folder.count(os.sep)
            subfolders[:] = sorted(
                d for d in subfolders if depth < MAX_SEARCH_DEPTH and not d.startswith(".") and d not in SKIPPED_DIRS
            )
            found.extend(os.path.normpath(join_path(folder, f)) for f in sorted(files) if f.endswith(".py"))
        return found

    def top_level_bindings(tree):
        defined, imported = set(), set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    defined.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined.add(node.target.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        return defined, imported

    def stem(path):
        return os.path.splitext(os.path.basename(path))[0]

    def parameters(obj):
        try:
            return [p for p in inspect.signature(obj).parameters]
        except (TypeError, ValueError):
            return []

    def signature_text(name, obj):
        """`name(a, b, c=1)` as inspect sees it, or `name(?)` when it cannot say."""
        try:
            return name + str(inspect.signature(obj))
        except (TypeError, ValueError):
            return name + "(?)"

    def binds(fn, args, kwargs):
        """Whether `fn`'s own signature accepts the call; None when it has no signature."""
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            return False
        return True

    def describe_call(name, args, kwargs):
        parts = [type(a).__name__ for a in args] + ["%s=%s" % (k, type(v).__name__) for k, v in kwargs.items()]
        return "%s(%s)" % (name, ", ".join(parts))

    def contract_error(name, fn, args, kwargs, e):
        """A call the submission's signature refuses (wrong arity or parameter name): the
        interface was not followed; expected (from the interface) against found (inspect)."""
        expected = submission.get("signatures", {}).get(name)
        detail = "expected %s; found %s (called as %s): %s: %s" % (
            expected or name + "(...) as the interface declares it",
            signature_text(name, fn),
            describe_call(name, args, kwargs),
            type(e).__name__,
            str(e)[:1000],
        )
        return {"error": {"kind": "contract", "name": name, "detail": detail}}

    def load(names, prefer, entry=None):
        """Imports the .py file that defines the contract names (ARCHITECTURE §4): files are
        parsed, not run, to find it; only the chosen one is imported. `entry` (an adapter, or
        `judge grade --entry FILE`) names the file instead, and discovery is skipped."""
        files = python_files()
        if not files:
            return missing("a Python module", "the submission has no .py file")
        if entry is not None:
            wanted_file = os.path.normpath(entry)
            if wanted_file not in files:
                return missing(entry, "no such .py file in the submission (searched %s)" % ", ".join(files))
            return import_entry(names, wanted_file, [wanted_file])
        wanted = set(names)
        scored, broken = [], []
        for path in files:
            try:
                with open(path, "rb") as f:
                    tree = ast.parse(f.read(), filename=path)
            except (SyntaxError, ValueError) as e:
                broken.append(e)
                continue
            defined, imported = top_level_bindings(tree)
            if wanted & (defined | imported):
                scored.append((path, wanted & defined, wanted & (defined | imported)))
        if not scored:
            if broken:
                return exception_error(broken[0].with_traceback(None))
            return missing(", ".join(names), "no .py file defines it (searched %s)" % ", ".join(files))

        def rank(entry):
            path, defined, bound = entry
            test_like = stem(path).startswith("test") or stem(path).endswith("_test")
            return (-len(defined), -len(bound), stem(path) != prefer, test_like, path.count(os.sep), path)

        scored.sort(key=rank)
        return import_entry(names, scored[0][0], [path for path, _, _ in scored])

    def import_entry(names, chosen, candidates):
        folder = os.path.dirname(os.path.abspath(chosen))
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_name = stem(chosen)
        if module_name in sys.modules or not module_name.isidentifier():
            module_name = "judge_submission_" + str(counters["handle"])
        spec = importlib.util.spec_from_file_location(module_name, chosen)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as e:
            del sys.modules[module_name]
            return exception_error(e)
        submission["module"] = module
        present = [n for n in names if hasattr(module, n)]
        return ok(
            {
                "file": chosen,
                "module": module_name,
                "defined": present,
                "missing": [n for n in names if n not in present],
                "parameters": [[n, parameters(getattr(module, n))] for n in present],
                "candidates": candidates,
            }
        )

    # ---- calls --------------------------------------------------------------------------

    def resolve_target(target):
        if "function" in target:
            name = target["function"]
            module = submission.get("module")
            if module is None:
                return None, missing(name, "no submission module is loaded")
            fn = getattr(module, name, None)
            if fn is None:
                return None, missing(name, "%s.py does not define it" % module.__name__)
        else:
            handle, name = target["method"]
            if handle not in objects:
                return None, protocol_error("no object with handle %d" % handle)
            # The judge's own calls on a fixture are not the submission's: no counting.
            fn = getattr(unwrap(objects[handle]), name, None)
            if fn is None:
                return None, missing(name, "the object has no attribute %s" % name)
        if not callable(fn):
            return None, missing(name, "it is not callable (%s)" % type(fn).__name__)
        return fn, None

    def target_name(target):
        return target["function"] if "function" in target else target["method"][1]

    def call(request):
        fn, error = resolve_target(request["target"])
        if error is not None:
            return error
        args = [from_wire(a) for a in request["args"]]
        kwargs = {k: from_wire(v) for k, v in request["kwargs"]}
        calls_before = sum(fixture_calls.values())
        if is_tracing():
            trace_stop()
        trace_start(1)
        start = perf_counter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:
            if is_tracing():
                trace_stop()
            # A TypeError at the call boundary (the signature refuses the call: no frame of the
            # submission's own ran, or its signature does not bind the arguments) is the
            # interface not followed; a TypeError deeper in its own code is its error.
            if isinstance(e, TypeError):
                bound = binds(fn, args, kwargs)
                if bound is False or (bound is None and e.__traceback__.tb_next is None):
                    return contract_error(target_name(request["target"]), fn, args, kwargs, e)
            # Drop the worker's own frame from the traceback.
            return exception_error(e.with_traceback(e.__traceback__.tb_next))
        seconds = perf_counter() - start
        # A submission that stopped tracing has no trustworthy peak: report none.
        peak = traced_memory()[1] if is_tracing() else None
        if is_tracing():
            trace_stop()
        del args, kwargs
        try:
            value = to_wire(result)
        except BaseException as e:
            return exception_error(e)
        return ok(
            {
                "value": value,
                "seconds": seconds,
                "peak_bytes": peak,
                "fixture_calls": sum(fixture_calls.values()) - calls_before,
            }
        )

    def new_fixture(request):
        module = fixture_modules.get(request["module"])
        if module is None:
            return missing(request["module"], "no such fixture module")
        cls = getattr(module, request["class"], None)
        if cls is None:
            return missing(request["class"], "fixture module %s does not define it" % request["module"])
        args = [from_wire(a) for a in request["args"]]
        kwargs = {k: from_wire(v) for k, v in request["kwargs"]}
        try:
            instance = cls(*args, **kwargs)
        except BaseException as e:
            return exception_error(e)
        counters["handle"] += 1
        handle = counters["handle"]
        objects[handle] = Counted(instance, handle)
        fixture_calls[handle] = 0
        return ok({"obj": handle})

    def new_remote(request):
        attrs = {k: from_wire(v) for k, v in request["attrs"]}
        counters["handle"] += 1
        handle = counters["handle"]
        objects[handle] = Remote(handle, attrs)
        return ok({"obj": handle})

    def flush_output():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass

    send({"ready": {"python": "%d.%d.%d" % sys.version_info[:3], "numpy": numpy_version}})
    while True:
        request = receive()
        if request is None:
            return
        op = request.get("op")
        counters["seq"] = request.get("seq")
        try:
            if op == "call":
                response = call(request)
            elif op == "load":
                submission["signatures"] = dict(request.get("signatures") or {})
                response = load(request["names"], request["prefer"], request.get("entry"))
            elif op == "new_fixture":
                response = new_fixture(request)
            elif op == "new_remote":
                response = new_remote(request)
            elif op == "sync":
                response = ok(None)
            elif op == "fixture_calls":
                response = ok(fixture_calls.get(request["obj"], 0))
            else:
                response = protocol_error("unknown operation %r" % (op,))
        except MemoryError as e:
            response = exception_error(e)
        except BaseException as e:
            response = protocol_error("worker failed on %r: %s: %s" % (op, type(e).__name__, e))
        flush_output()
        send(response)


if __name__ == "__main__":
    serve(*sys.argv[1:4])
