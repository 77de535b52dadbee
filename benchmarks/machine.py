"""What machine a benchmark ran on, for the header of its output."""

from __future__ import annotations

import platform
import subprocess


def cpu_name() -> str:
    """The processor's model name (lscpu), or what platform knows."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"
