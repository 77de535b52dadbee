"""What archdsl writes: never an input, never over something that is not a regular
file, all outputs or none, with the modes a user expects (archdsl.outputs)."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from archdsl.cli import main
from archdsl.outputs import Interrupted, OutputError, Outputs
from conftest import ROOT

TINY = "archdsl: 1\nname: tiny\ninput: [3, 8, 8]\nnetwork:\n  - conv(4, 3)\n  - relu\n"


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def run(capsys, monkeypatch, tmp_path):
    """`archdsl ARGS…` in tmp_path; (exit code, stdout, stderr), argparse's exits included."""

    def run(*args):
        monkeypatch.chdir(tmp_path)
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _write(path, data=b"new\n"):
    return lambda f: f.write(data)


def _names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


# ------------------------------------------------------------ what is refused


def test_an_input_is_refused(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("spec\n")
    outputs = Outputs()
    outputs.read(spec, "the spec net.yaml")
    outputs.add("-o", spec)
    with pytest.raises(OutputError, match=r"^-o .*net.yaml: that is the spec net.yaml"):
        outputs.check()
    assert spec.read_text() == "spec\n"


@pytest.mark.parametrize("spelling", ["dot", "symlink", "hard link"])
def test_an_input_is_refused_under_another_name(tmp_path, spelling, monkeypatch):
    spec = tmp_path / "net.yaml"
    spec.write_text("spec\n")
    monkeypatch.chdir(tmp_path)
    other = {"dot": "./sub/../net.yaml", "symlink": "link.yaml", "hard link": "hard.yaml"}
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        os.symlink(spec, tmp_path / "link.yaml")
    if spelling == "hard link":
        os.link(spec, tmp_path / "hard.yaml")
    outputs = Outputs()
    outputs.read("net.yaml", "the spec")
    outputs.add("-o", other[spelling])
    with pytest.raises(OutputError, match="that is the spec"):
        outputs.check()


def test_two_outputs_in_one_file_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outputs = Outputs()
    outputs.add("-o", "same.py")
    outputs.add("--torchscript", "./same.py")
    with pytest.raises(OutputError) as info:
        outputs.check()
    assert str(info.value) == "--torchscript ./same.py: the same file as -o same.py"
    assert info.value.help == "give each output its own file"


def _fifo(path):
    os.mkfifo(path)


def _socket(path):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()


@pytest.mark.parametrize("make, kind", [(os.mkdir, "a directory"),
                                        (_fifo, "a FIFO (named pipe)"),
                                        (_socket, "a socket")])
def test_what_is_not_a_regular_file_is_never_replaced(tmp_path, make, kind):
    target = tmp_path / "thing"
    make(target)
    outputs = Outputs()
    outputs.add("-o", target)
    with pytest.raises(OutputError, match=re.escape(f"is {kind}, not a regular file")):
        outputs.write({"-o": _write(target)})
    assert _names(tmp_path) == ["thing"] and not target.is_file()


def test_a_missing_directory_is_named(tmp_path):
    outputs = Outputs()
    outputs.add("--weights", tmp_path / "nowhere" / "w.pt")
    with pytest.raises(OutputError, match=r"^--weights .*w.pt: no such directory: .*nowhere$"):
        outputs.check()


def test_a_file_in_place_of_a_directory_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    outputs = Outputs()
    outputs.add("-o", tmp_path / "file" / "net.py")
    with pytest.raises(OutputError, match="not a directory"):
        outputs.check()


def test_standard_output_only_where_allowed(tmp_path):
    outputs = Outputs()
    outputs.add("--weights", "-")
    with pytest.raises(OutputError, match="standard output is not an output of --weights"):
        outputs.check()
    allowed = Outputs()
    allowed.add("-o", "-", stdout=True)
    allowed.check()
    assert allowed.to_stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any directory")
def test_a_read_only_directory_is_refused_before_the_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    outputs = Outputs()
    outputs.add("-o", locked / "net.py")
    with pytest.raises(OutputError, match="cannot be written"):
        outputs.check()


def test_a_read_only_file_system_is_one_line(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    outputs = Outputs()
    outputs.add("-o", tmp_path / "net.py")
    with pytest.raises(OutputError) as info:
        outputs.write({"-o": _write(None)})
    assert str(info.value).endswith("net.py: cannot be written (Read-only file system); "
                                    "no output was changed")


# ------------------------------------------------------------------- modes


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    outputs = Outputs()
    outputs.add("-o", tmp_path / "net.py")
    outputs.write({"-o": _write(None)})
    assert (tmp_path / "net.py").stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("mode", [0o644, 0o755, 0o600])
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, mode):
    umask(0o077)
    target = tmp_path / "net.py"
    target.write_text("old\n")
    target.chmod(mode)
    outputs = Outputs()
    outputs.add("-o", target)
    outputs.write({"-o": _write(target)})
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o777 == mode


def test_a_symbolic_link_is_written_through(tmp_path):
    real = tmp_path / "real.py"
    real.write_text("old\n")
    real.chmod(0o640)
    os.symlink("real.py", tmp_path / "link.py")
    outputs = Outputs()
    outputs.add("-o", tmp_path / "link.py")
    outputs.write({"-o": _write(None)})
    assert (tmp_path / "link.py").is_symlink()
    assert real.read_bytes() == b"new\n" and real.stat().st_mode & 0o777 == 0o640


def test_every_file_is_synced_before_it_is_renamed(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("rename"), replace(a, b))[1])
    outputs = Outputs()
    outputs.add("-o", tmp_path / "a")
    outputs.add("--weights", tmp_path / "b")
    outputs.write({"-o": _write(None), "--weights": _write(None)})
    assert events[:4] == ["fsync", "fsync", "rename", "rename"]


# ------------------------------------------------------------ all or nothing


def test_a_full_disk_half_way_leaves_every_output_as_it_was(tmp_path):
    first, second = tmp_path / "net.py", tmp_path / "net.pt"
    first.write_text("previous\n")

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    outputs = Outputs()
    outputs.add("-o", first)
    outputs.add("--weights", second)
    with pytest.raises(OutputError) as info:
        outputs.write({"-o": _write(None), "--weights": full})
    assert str(info.value) == (f"--weights {second}: cannot be written (No space left on "
                               "device); no output was changed")
    assert first.read_text() == "previous\n"
    assert _names(tmp_path) == ["net.py"]


def test_a_failing_writer_removes_its_temporary_files(tmp_path):
    def broken(f):
        raise RuntimeError("exporter failed")

    outputs = Outputs()
    outputs.add("-o", tmp_path / "a.py")
    outputs.add("--onnx", tmp_path / "a.onnx", to_path=True)
    with pytest.raises(RuntimeError, match="exporter failed"):
        outputs.write({"-o": _write(None), "--onnx": broken})
    assert _names(tmp_path) == []


def test_a_directory_made_for_an_output_goes_when_the_write_fails(tmp_path):
    def broken(f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    outputs = Outputs()
    outputs.add("-o", tmp_path / "codegen" / "net.py", make_parent=True)
    with pytest.raises(OutputError):
        outputs.write({"-o": broken})
    assert _names(tmp_path) == []
    outputs.write({"-o": _write(None)})
    assert (tmp_path / "codegen" / "net.py").read_bytes() == b"new\n"


def test_a_writer_that_makes_files_beside_its_own(tmp_path):
    def export(path):
        with open(path, "wb") as f:
            f.write(b"model")
        with open(path + ".data", "wb") as f:
            f.write(b"weights")

    outputs = Outputs()
    outputs.add("--onnx", tmp_path / "net.onnx", to_path=True)
    outputs.write({"--onnx": export})
    assert _names(tmp_path) == ["net.onnx", "net.onnx.data"]
    assert (tmp_path / "net.onnx.data").read_bytes() == b"weights"


def test_a_signal_while_staging_removes_the_temporary_files(tmp_path):
    target = tmp_path / "net.py"
    target.write_text("previous\n")

    def killed(f):
        f.write(b"partial")
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    outputs = Outputs()
    outputs.add("-o", target)
    with pytest.raises(Interrupted) as info:
        outputs.write({"-o": killed})
    assert info.value.code == 128 + signal.SIGTERM
    assert _names(tmp_path) == ["net.py"] and target.read_text() == "previous\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_during_the_renames_waits_for_the_last(tmp_path, monkeypatch):
    replace = os.replace

    def interrupted(a, b):
        os.kill(os.getpid(), signal.SIGINT)
        replace(a, b)

    monkeypatch.setattr(os, "replace", interrupted)
    outputs = Outputs()
    outputs.add("-o", tmp_path / "a")
    outputs.add("--weights", tmp_path / "b")
    with pytest.raises(Interrupted) as info:
        outputs.write({"-o": _write(None), "--weights": _write(None)})
    assert info.value.code == 130
    assert _names(tmp_path) == ["a", "b"]


SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from archdsl.outputs import Interrupted, Outputs

    def slow(f):
        f.write(b"partial")
        print("staged", flush=True)
        time.sleep(60)

    outputs = Outputs()
    outputs.add("-o", sys.argv[1])
    try:
        outputs.write({"-o": slow})
    except Interrupted as exc:
        sys.exit(exc.code)
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_killed_process_leaves_no_temporary_file(tmp_path, signum):
    target = tmp_path / "net.py"
    target.write_text("previous\n")
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline() == "staged\n"
    assert len(_names(tmp_path)) == 2  # the temporary file is there
    process.send_signal(signum)
    assert process.wait(timeout=60) == 128 + signum
    assert _names(tmp_path) == ["net.py"] and target.read_text() == "previous\n"


# ------------------------------------------------------------ the commands


def test_compile_never_writes_over_its_spec(run, tiny):
    code, out, err = run("compile", tiny, "-o", tiny)
    assert code == 2
    assert err.startswith(f"archdsl: error: -o {tiny}: that is the spec")
    assert "Traceback" not in err and tiny.read_text() == TINY


def test_compile_never_writes_over_a_parent_the_spec_extends(run, tmp_path, tiny):
    child = tmp_path / "child.yaml"
    child.write_text("archdsl: 1\nextends: tiny.yaml\nname: child\n")
    code, out, err = run("compile", child, "--weights", "tiny.yaml")
    assert code == 2
    assert "a file the spec" in err and "reads (extends: or spec:)" in err
    assert tiny.read_text() == TINY


def test_compile_never_writes_over_the_weights_it_reads(run, tmp_path, tiny):
    (tmp_path / "w.pt").write_bytes(b"weights")
    code, out, err = run("compile", tiny, "--init-from", "w.pt", "--weights", "w.pt")
    assert code == 2 and "that is the --init-from file w.pt" in err
    assert (tmp_path / "w.pt").read_bytes() == b"weights"


def test_compile_refuses_two_outputs_in_one_file(run, tmp_path, tiny):
    code, out, err = run("compile", tiny, "-o", "same.py", "--torchscript", "same.py")
    assert code == 2 and "--torchscript same.py: the same file as -o same.py" in err
    assert _names(tmp_path) == ["tiny.yaml"]


def test_compile_refuses_a_directory_in_one_line(run, tmp_path, tiny):
    (tmp_path / "out").mkdir()
    code, out, err = run("compile", tiny, "-o", "out")
    assert code == 2
    assert err.splitlines()[0] == ("archdsl: error: -o out: is a directory, not a regular "
                                   "file; archdsl replaces only regular files")


def test_compile_writes_only_what_it_is_asked_for(run, tmp_path, tiny):
    code, out, err = run("compile", tiny, "--torchscript", "tiny.pt")
    assert code == 0, err
    assert _names(tmp_path) == ["tiny.pt", "tiny.yaml"]  # no codegen/tiny.py
    assert out == "wrote tiny.pt (TorchScript)\n"
    code, out, err = run("compile", tiny, "--weights", "w.pt", "-o", "tiny.py")
    assert code == 0, err
    assert _names(tmp_path) == ["tiny.pt", "tiny.py", "tiny.yaml", "w.pt"]


def test_compile_source_to_standard_output(run, tiny):
    import archdsl

    code, out, err = run("compile", tiny, "-o", "-")
    assert code == 0, err
    assert out == archdsl.compile_source(tiny)


def test_compile_failing_half_way_leaves_the_earlier_output(run, tmp_path, tiny,
                                                            monkeypatch):
    import torch

    def full(obj, f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    (tmp_path / "tiny.py").write_text("previous\n")
    monkeypatch.setattr(torch, "save", full)
    code, out, err = run("compile", tiny, "-o", "tiny.py", "--weights", "w.pt")
    assert code == 2
    assert err == ("archdsl: error: --weights w.pt: cannot be written (No space left on "
                   "device); no output was changed\n")
    assert (tmp_path / "tiny.py").read_text() == "previous\n"
    assert _names(tmp_path) == ["tiny.py", "tiny.yaml"]


def test_compile_with_a_bad_weights_file_is_one_line(run, tmp_path, tiny):
    (tmp_path / "w.pt").write_text("not weights\n")
    code, out, err = run("compile", tiny, "--init-from", "w.pt", "--weights", "out.pt")
    assert code == 1
    assert err == ("archdsl: error: w.pt: a text file, not a weights file of torch.save or "
                   "torch.jit.save\n")
    assert not (tmp_path / "out.pt").exists()


def test_compile_init_from_a_checkpoint_says_where_it_found_the_weights(run, tmp_path,
                                                                         tiny):
    import torch

    import archdsl

    state = archdsl.build(tiny).state_dict()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ck.pt")
    code, out, err = run("compile", tiny, "--init-from", "ck.pt", "--weights", "w.pt")
    assert code == 0, err
    assert "  note      ck.pt: read the state_dict under 'state_dict' of a checkpoint" in out
    assert torch.load(tmp_path / "w.pt", weights_only=True).keys() == state.keys()


def test_compile_interrupted_is_130_and_quiet(run, tiny, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("archdsl.api.load", interrupted)
    code, out, err = run("compile", tiny)
    assert (code, err) == (130, "")


@pytest.mark.parametrize("amount", ["1e999", "nan", "-5", "inf"])
def test_a_budget_that_is_not_a_number_is_a_usage_error(run, tiny, amount):
    code, out, err = run("check", "--max-params", amount, tiny)
    assert code == 2
    assert "argument --max-params:" in err and "Traceback" not in err


def test_graph_writes_to_a_file_or_standard_output(run, tmp_path, tiny):
    code, out, err = run("graph", tiny, "-o", "-")
    assert code == 0 and out.startswith("digraph")
    code, out, err = run("graph", tiny, "-o", "tiny.dot")
    assert (code, out) == (0, "wrote tiny.dot\n")
    assert (tmp_path / "tiny.dot").read_text().startswith("digraph")
    code, out, err = run("graph", tiny, "-o", "tiny.yaml")
    assert code == 2 and "that is the spec" in err


def test_sweep_refuses_its_spec_as_the_csv_before_sweeping(run, tiny):
    code, out, err = run("sweep", tiny, "--grid", "x=1,2", "--csv", tiny)
    assert (code, out) == (2, "")
    assert "that is the spec" in err and tiny.read_text() == TINY


def test_check_skips_a_link_out_of_the_directory(run, tmp_path, tiny):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "net.yaml").write_text(TINY)
    os.symlink(tiny, tmp_path / "specs" / "outside.yaml")
    code, out, err = run("check", "specs")
    assert code == 0
    assert "ok  specs/net.yaml" in out and "outside" not in out
    assert "note: skipped specs/outside.yaml: a symbolic link out of specs" in err


@pytest.mark.parametrize("args", [["graph", "specs/resnet50.yaml"],
                                  ["check", "--format", "json", "tests/broken/groups.yaml"]])
def test_a_closed_pipe_ends_quietly_with_141(args):
    process = subprocess.Popen([sys.executable, "-m", "archdsl", *args], cwd=ROOT,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    process.stdout.close()  # like `| head -c1` ending before the first write
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, err
    assert err == ""


@pytest.mark.slow
def test_compile_onnx_alone_writes_one_file(run, tmp_path, tiny, umask):
    pytest.importorskip("onnxscript")
    code, out, err = run("compile", tiny, "--onnx", "tiny.onnx")
    assert code == 0, err
    assert _names(tmp_path) == ["tiny.onnx", "tiny.yaml"]
    assert (tmp_path / "tiny.onnx").stat().st_mode & 0o777 == 0o644
