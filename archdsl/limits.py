"""Bounds that keep a hostile or mistaken spec from hanging or exhausting archdsl."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Every bound archdsl enforces on a spec; pass your own to relax one."""

    max_file_bytes: int = 4 * 1024 * 1024
    max_yaml_nodes: int = 200_000  # counted after alias expansion (alias bombs)
    max_yaml_depth: int = 64
    max_expr_chars: int = 4_000
    max_int: int = 2**62  # magnitude of any integer an expression produces
    max_repeat: int = 10_000  # copies made by one stage / repeat
    max_block_depth: int = 64  # nested block calls (recursion included)
    max_graph_nodes: int = 200_000
    max_tensor_elements: int = 2**40  # one activation or weight, per sample
    max_build_params: int = 2_000_000_000  # build() refuses larger models unless asked


DEFAULT_LIMITS = Limits()
