"""The ``graphnn`` command: ``compile`` (a model ahead of time into a shared library with a C
header), ``bench`` (every generated kernel's time, FLOP and byte rates) and ``inspect`` (the IR
after each pass, the kernels, the generated source, graphviz drawings).  Each subcommand is a
thin layer over ``graphnn.aot`` and ``graphnn.tools``."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional


def _model(args):
    from .tools.examples import example_model, load
    if args.example:
        return example_model(args.example)
    if not args.model:
        raise SystemExit("graphnn: give a model file (saved with model.save) or --example mlp|cnn")
    return load(args.model)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="model file saved with model.save (HDF5)")
    p.add_argument("--example", choices=("mlp", "cnn"), help="a built-in example model instead")


def cmd_compile(args) -> int:
    from . import aot
    model = _model(args)
    lib = aot.compile(model, args.output, target=args.target, cpu=args.cpu, name=args.name,
                      arch=args.arch)
    print(f"wrote {lib.library} ({lib.weight_bytes} bytes of weights embedded), {lib.header}, "
          f"example.c and Makefile in {lib.out_dir}; `make -C {lib.out_dir}` builds ./example")
    return 0


def cmd_bench(args) -> int:
    from .tools.bench import bench, format_table
    result = bench(_model(args), batch=args.batch, seconds=args.seconds,
                   functions=args.functions.split(","))
    if args.json:
        json.dump(result, sys.stdout, indent=1, default=float)
        print()
    else:
        print(format_table(result, top=args.top))
    return 0


def cmd_inspect(args) -> int:
    from .tools.inspect import inspect
    files = inspect(_model(args), args.output, functions=args.functions.split(","))
    print(f"wrote {len(files)} files under {args.output}:")
    for f in files:
        print(f"  {f}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphnn", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="compile a model's inference function ahead of time")
    _add_model_args(c)
    c.add_argument("-o", "--output", required=True, help="output folder")
    c.add_argument("--target", default="cpu", choices=("cpu", "cuda"))
    c.add_argument("--cpu", default="native", choices=("native", "generic"),
                   help="native: this CPU's features; generic: baseline x86-64")
    c.add_argument("--arch", default="sm_90", help="GPU architecture for --target cuda")
    c.add_argument("--name", default="model", help="library and header name (default model)")
    c.set_defaults(run=cmd_compile)
    b = sub.add_parser("bench", help="time every generated kernel")
    _add_model_args(b)
    b.add_argument("--batch", type=int, default=128)
    b.add_argument("--seconds", type=float, default=1.0, help="timing budget per function")
    b.add_argument("--functions", default="predict,train")
    b.add_argument("--top", type=int, default=0, help="show only the N slowest kernels")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(run=cmd_bench)
    i = sub.add_parser("inspect", help="write the IR, kernels, generated source and drawings")
    _add_model_args(i)
    i.add_argument("-o", "--output", required=True, help="output folder")
    i.add_argument("--functions", default="predict,train")
    i.set_defaults(run=cmd_inspect)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, RuntimeError, OSError) as err:
        print(f"graphnn {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
