"""The .tfcir text form: printed deterministically, parsed back exactly.

    graph @name {
      input %x : f32[1,32,32,3]
      const @w : i8[16,3,3,3] q(axis=0, scale=[0.01,0.02], zp=[0,0])
      %y = conv2d(%x, @w, @b) {dilation=[1,1], group=1, pad=[1,1,1,1], stride=[1,1]} : f32[1,32,32,16] q(0.0235,-128) loc("conv1")
      output %y
    }
    data {
      @w = base64:AAEC...
    }

Attributes are sorted by name; floats print in their shortest exact form; the graph is ASCII
(a dump's header comments may hold UTF-8). The `data` section holds the constants' bytes
(little-endian), so a dump can be replayed.

`meta` set on a node or value prints as a trailing comment that parses back (JSON, keys sorted):

      %y = relu(%x) : f32[1,8] loc("y")  # meta: node {"made-by": "fuse"}, %y {"range": [0.0, 6.0]}
      input %x : f32[1,8]  # meta: %x {"range": [-1.0, 1.0]}

Any other trailing comment is ignored.
"""
from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

import numpy as np

from tfc.errors import ParseError
from tfc.ir.graph import Graph, Value, meta_problem
from tfc.ir.types import DType, QuantParams, SparseLayout, TensorType


# ---------------------------------------------------------------------------------- printing
def _float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def _f32(x: float) -> str:
    """Shortest text that reads back as the same float32 (how scales are stored)."""
    return str(np.float32(x)) if math.isfinite(x) else _float(x)


def format_attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_attr(v) for v in value) + "]"
    raise TypeError(f"cannot print attribute value {value!r}")


def format_quant(q: QuantParams) -> str:
    storage = "" if q.storage == DType.I8 else f",{q.storage.value}"
    if q.axis is None:
        return f"q({_f32(q.scale[0])},{q.zero_point[0]}{storage})"
    scales = ",".join(_f32(s) for s in q.scale)
    zps = ",".join(str(z) for z in q.zero_point)
    storage = "" if q.storage == DType.I8 else f", storage={q.storage.value}"
    return f"q(axis={q.axis}, scale=[{scales}], zp=[{zps}]{storage})"


def format_value_type(v: Value) -> str:
    text = str(v.type)
    if v.quant is not None:
        text += " " + format_quant(v.quant)
    if v.sparse is not None:
        text += f" sparse(block={v.sparse.block}, density={_float(v.sparse.density)}, encoding={json.dumps(v.sparse.encoding)})"
    return text


def format_meta(owners) -> str:
    """The trailing `  # meta: ...` comment for (label, object) pairs whose meta is set, or ""."""
    entries = []
    for label, owner in owners:
        if not owner.meta:
            continue
        problem = meta_problem(owner.meta)
        if problem:
            raise ValueError(f"meta of {label}: {problem}")
        entries.append(f"{label} {json.dumps(owner.meta, sort_keys=True, ensure_ascii=True)}")
    return "  # meta: " + ", ".join(entries) if entries else ""


def _value_line(keyword: str, v: Value) -> str:
    return f"  {keyword} {v.ref} : {format_value_type(v)}" + format_meta([(v.ref, v)])


def format_node(node) -> str:
    outs = ", ".join(v.ref for v in node.outputs)
    args = ", ".join(v.ref for v in node.inputs)
    attrs = ""
    specs = node.spec.attrs
    shown = sorted((k, v) for k, v in node.attrs.items() if k not in specs or specs[k].shown(v))
    if shown:
        attrs = " {" + ", ".join(f"{k}={format_attr(v)}" for k, v in shown) + "}"
    types = ", ".join(format_value_type(v) for v in node.outputs)
    meta = format_meta([("node", node)] + [(v.ref, v) for v in node.outputs])
    return f"{outs} = {node.op}({args}){attrs} : {types} loc({json.dumps(node.name)}){meta}"


def encode_data(data: np.ndarray) -> str:
    raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
    return "base64:" + base64.b64encode(raw).decode("ascii")


def print_graph(graph: Graph, *, with_data: bool = True, header: str | None = None) -> str:
    """The text form. `with_data=False` leaves out the constants' bytes (for reading, not replay)."""
    lines = []
    if header:
        lines += [f"# {line}" if line else "#" for line in header.splitlines()]
    lines.append(f"graph @{graph.name} {{")
    for v in graph.inputs:
        lines.append(_value_line("input", v))
    for v in graph.constants.values():
        lines.append(_value_line("const", v))
    for node in graph.nodes:
        lines.append("  " + format_node(node))
    lines.append("  output " + ", ".join(v.ref for v in graph.outputs))
    lines.append("}")
    if with_data and graph.constants:
        lines.append("data {")
        for v in graph.constants.values():
            lines.append(f"  {v.ref} = {encode_data(v.data)}")
        lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- parsing
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<ref>[%@][A-Za-z0-9_.]+)
  | (?P<num>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)|-inf)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}()\[\],=:])
  | (?P<comment>\#.*)
""", re.VERBOSE)
_META_OWNER = re.compile(r"\s*(node|[%@][A-Za-z0-9_.]+)\s*")


class _Tokens:
    def __init__(self, text: str, line_no: int):
        self.line_no = line_no
        self.items: list[tuple[str, str]] = []
        self.comment = ""   # a trailing `# ...`, without the '#'
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                self.fail(f"unexpected character {text[pos]!r}")
            pos = m.end()
            if m.lastgroup == "comment":
                self.comment = m.group()[1:]
            elif m.lastgroup != "ws":
                self.items.append((m.lastgroup, m.group()))
        self.i = 0

    def fail(self, message: str):
        raise ParseError(f"line {self.line_no}: {message}")

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.items):
            return False
        return value is None or self.items[self.i][1] == value

    def next(self, kind: str | None = None) -> str:
        if self.i >= len(self.items):
            self.fail("unexpected end of line")
        k, v = self.items[self.i]
        if kind and k != kind:
            self.fail(f"expected {kind}, got {v!r}")
        self.i += 1
        return v

    def expect(self, value: str) -> None:
        got = self.next()
        if got != value:
            self.fail(f"expected {value!r}, got {got!r}")

    def done(self) -> None:
        if self.i != len(self.items):
            self.fail(f"unexpected {self.items[self.i][1]!r}")

    def set_meta(self, owners: dict[str, Any]) -> None:
        """Restore the `# meta: LABEL {...}, ...` comment onto `owners` (label -> node or value)."""
        body = self.comment.strip()
        if not body.startswith("meta:"):
            return
        body, pos, decoder = body[len("meta:"):], 0, json.JSONDecoder()
        while True:
            m = _META_OWNER.match(body, pos)
            if not m or m.group(1) not in owners:
                self.fail(f"meta: expected one of {', '.join(owners)} at {body[pos:pos + 20]!r}")
            label = m.group(1)
            try:
                meta, pos = decoder.raw_decode(body, m.end())
            except json.JSONDecodeError as e:
                self.fail(f"meta of {label}: {e.msg} at {body[e.pos:e.pos + 20]!r}")
            problem = meta_problem(meta)
            if problem:
                self.fail(f"meta of {label}: {problem}")
            owners[label].meta = meta
            rest = body[pos:].lstrip()
            if not rest:
                return
            if not rest.startswith(","):
                self.fail(f"meta: expected ',' between entries at {rest[:20]!r}")
            pos = len(body) - len(rest) + 1

    def literal(self) -> Any:
        if self.peek("["):
            self.next()
            items = []
            while not self.peek("]"):
                items.append(self.literal())
                if not self.peek("]"):
                    self.expect(",")
            self.next()
            return items
        kind, text = self.items[self.i] if self.i < len(self.items) else (None, None)
        self.next()
        if kind == "str":
            return json.loads(text)
        if kind == "num":
            if text == "-inf":
                return -math.inf
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "ident" and text in ("true", "false"):
            return text == "true"
        if kind == "ident" and text in ("inf", "nan"):
            return float(text)
        self.fail(f"expected a literal, got {text!r}")


def _parse_type(tok: _Tokens) -> tuple[TensorType, QuantParams | None, SparseLayout | None]:
    dtype_name = tok.next("ident")
    try:
        dtype = DType.parse(dtype_name)
    except ValueError:
        tok.fail(f"unknown element type {dtype_name!r}")
    dims = tok.literal()
    if not isinstance(dims, list) or not all(isinstance(d, int) for d in dims):
        tok.fail("expected a shape like [1,2,3]")
    quant = sparse = None
    while tok.peek("q") or tok.peek("sparse"):
        word = tok.next()
        tok.expect("(")
        if word == "q" and not tok.peek("axis"):
            scale = float(np.float32(tok.literal()))
            tok.expect(",")
            zp = tok.literal()
            storage = DType.I8
            if tok.peek(","):
                tok.next()
                storage = DType.parse(tok.next("ident"))
            quant = QuantParams((scale,), (zp,), None, storage)
        else:
            fields = {}
            while not tok.peek(")"):
                key = tok.next("ident")
                tok.expect("=")
                fields[key] = DType.parse(tok.next("ident")) if key == "storage" else tok.literal()
                if not tok.peek(")"):
                    tok.expect(",")
            try:
                if word == "q":
                    quant = QuantParams(tuple(fields["scale"]), tuple(fields["zp"]), fields["axis"],
                                        fields.get("storage", DType.I8))
                else:
                    sparse = SparseLayout(**fields)
            except (KeyError, TypeError, ValueError) as e:
                tok.fail(f"bad {word}(...): {e}")
        tok.expect(")")
    return TensorType(tuple(dims), dtype), quant, sparse


def parse_graph(text: str, *, data_source: Graph | None = None) -> Graph:
    """Parse the text form. Constants' bytes come from the `data` section, or from
    `data_source` (a graph holding constants of the same names) when it is given."""
    from tfc.ir.ops import get_op

    graph: Graph | None = None
    values: dict[str, Value] = {}
    pending_consts: dict[str, tuple] = {}
    data = _data_section(text)
    section = None
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if section is None:
            m = re.fullmatch(r"graph @([A-Za-z0-9_.]+) \{", line)
            if not m:
                raise ParseError(f"line {line_no}: expected 'graph @name {{'")
            graph, section = Graph(m.group(1)), "graph"
            continue
        if line == "}":
            section = "after" if section in ("graph", "data") else section
            continue
        if section == "after":
            if line != "data {":
                raise ParseError(f"line {line_no}: expected 'data {{'")
            section = "data"
            continue
        if section == "data":
            continue  # read up front by _data_section
        tok = _Tokens(line, line_no)
        head = tok.items[0][1] if tok.items else ""
        if head == "input":
            tok.next()
            name = tok.next("ref")[1:]
            tok.expect(":")
            t, q, _ = _parse_type(tok)
            tok.done()
            values[name] = graph.add_input(name, t, q)
            if values[name].name != name:
                tok.fail(f"value %{name} defined twice")
            tok.set_meta({f"%{name}": values[name]})
        elif head == "const":
            tok.next()
            name = tok.next("ref")[1:]
            tok.expect(":")
            pending_consts[name] = _parse_type(tok) + (line_no, tok)
            tok.done()
        elif head == "output":
            tok.next()
            while tok.peek():
                ref = tok.next("ref")
                graph.outputs.append(_lookup(values, pending_consts, ref, tok, graph, data, data_source))
                if tok.peek():
                    tok.expect(",")
        else:
            _parse_node(tok, graph, values, pending_consts, data, data_source, get_op)
    if graph is None or section not in ("after",):
        raise ParseError("incomplete graph: missing closing '}'")
    for name in pending_consts:
        _materialize(name, pending_consts, values, graph, data, data_source, None)
    graph.constants = dict(sorted(graph.constants.items(), key=lambda kv: list(pending_consts).index(kv[0])
                                  if kv[0] in pending_consts else -1))
    return graph


def _data_section(text: str) -> dict[str, str]:
    """The constants' base64 payloads, read before the body so constants resolve on first use."""
    data, inside = {}, False
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line == "data {":
            inside = True
        elif inside and line == "}":
            inside = False
        elif inside and line:
            m = re.fullmatch(r"@([A-Za-z0-9_.]+) = base64:([A-Za-z0-9+/=]*)", line)
            if not m:
                raise ParseError(f"line {line_no}: expected '@name = base64:...'")
            data[m.group(1)] = m.group(2)
    return data


def _materialize(name, pending, values, graph, data, data_source, tok):
    if name in values:
        return values[name]
    t, q, sparse, line_no, const_tok = pending[name]
    if data_source is not None and name in data_source.constants:
        array = data_source.constants[name].data
    elif name in data:
        try:
            raw = base64.b64decode(data[name], validate=True)
            array = np.frombuffer(raw, dtype=t.dtype.numpy.newbyteorder("<")).astype(t.dtype.numpy)
            array = array.reshape(t.shape)
        except (ValueError, TypeError) as e:
            raise ParseError(f"constant @{name}: bad data ({e})") from None
    else:
        raise ParseError(f"line {line_no}: constant @{name} has no data",
                         hint="print the graph with its data section (the default) to replay it")
    v = graph.add_constant(name, array, quant=q, sparse=sparse)
    if v.type != t:
        raise ParseError(f"line {line_no}: constant @{name} data does not match type {t}")
    const_tok.set_meta({f"@{name}": v})
    values[name] = v
    return v


def _lookup(values, pending, ref, tok, graph, data, data_source):
    name = ref[1:]
    if ref.startswith("@"):
        if name not in pending:
            tok.fail(f"unknown constant {ref}")
        return _materialize(name, pending, values, graph, data, data_source, tok)
    if name not in values:
        tok.fail(f"value {ref} used before it is defined")
    return values[name]


def _parse_node(tok, graph, values, pending, data, data_source, get_op):
    outs = [tok.next("ref")]
    while tok.peek(","):
        tok.next()
        outs.append(tok.next("ref"))
    tok.expect("=")
    op = tok.next("ident")
    tok.expect("(")
    args = []
    while not tok.peek(")"):
        args.append(_lookup(values, pending, tok.next("ref"), tok, graph, data, data_source))
        if not tok.peek(")"):
            tok.expect(",")
    tok.next()
    attrs = {}
    if tok.peek("{"):
        tok.next()
        while not tok.peek("}"):
            key = tok.next("ident")
            tok.expect("=")
            attrs[key] = tok.literal()
            if not tok.peek("}"):
                tok.expect(",")
        tok.next()
    tok.expect(":")
    types = []
    while True:
        types.append(_parse_type(tok))
        if not tok.peek(","):
            break
        tok.next()
    name = None
    if tok.peek("loc"):
        tok.next()
        tok.expect("(")
        name = json.loads(tok.next("str"))
        tok.expect(")")
    tok.done()
    if len(types) != len(outs):
        tok.fail(f"{len(outs)} results but {len(types)} types")
    spec = get_op(op)
    # Empty lists print as [] and parse as lists of no type: the schema coerces them.
    node = graph.add_node(op, args, attrs, name=name, output_names=[o[1:] for o in outs],
                          output_types=[t for t, _, _ in types])
    if name is not None and node.name != name:
        tok.fail(f"node name {name!r} used twice")
    for value, ref, (_, q, sparse) in zip(node.outputs, outs, types):
        if value.name != ref[1:]:
            tok.fail(f"value {ref} defined twice")
        value.quant, value.sparse = q, sparse
        values[value.name] = value
    tok.set_meta({"node": node, **{v.ref: v for v in node.outputs}})
    del spec
