"""Bounds that keep a hostile or mistaken spec from hanging or exhausting archdsl.

Each bound is set so that a spec that reaches it is stopped, with a located
diagnostic, in well under a second, and a valid spec just below it is checked
and compiled in under two; the largest spec in `specs/` stays below every one.
docs/limits.md lists them with the error each gives.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Every bound archdsl enforces on a spec; pass your own to relax one."""

    max_file_bytes: int = 1024 * 1024  # bytes of a spec file, checked before it is read
    max_yaml_nodes: int = 20_000  # YAML values, counted as composed and after alias expansion
    max_yaml_depth: int = 64
    max_expr_chars: int = 4_000  # one expression
    max_expr_text: int = 16_000  # all of a spec's expressions together (parsing is the cost)
    max_expr_depth: int = 64  # levels of nesting in one expression: `a + b * c` is 3
    max_eval_steps: int = 200_000  # expression nodes evaluated while expanding a spec
    max_list_elements: int = 10_000  # in one list value, nested lists' elements included
    max_int: int = 2**62  # magnitude of any integer an expression produces
    max_repeat: int = 10_000  # copies made by one stage / repeat
    max_block_depth: int = 64  # nested block calls (recursion included)
    max_graph_nodes: int = 5_000  # layers (op nodes) in the expanded network
    max_tensor_elements: int = 2**40  # one activation or weight, per sample
    max_build_params: int = 2_000_000_000  # build() refuses larger models unless asked
    max_sweep_points: int = 1_000  # combinations one `sweep` checks, counted before the first
    max_example_elements: int = 2**28  # of the example input an ONNX export traces (1 GiB)


DEFAULT_LIMITS = Limits()
