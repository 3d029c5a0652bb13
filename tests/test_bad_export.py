"""Bad input to `export`, `verify` and `--board`: refused in one line before any work, or made safe. Hostile
labels are exported for every target and compiled the way a user would (host g++, the STM32 Makefile, the
Arduino library for Cortex-M4F), and must come back byte for byte."""

import re
import subprocess

import numpy as np
import pytest
from conftest import untrained_tinynet
from test_cli import assert_one_line_error, run
from test_export import FLAGS
from test_firmware import run_arduino_example

from tinyml_kit.core.boards import get_board
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.tflite_info import read_model_file
from tinyml_kit.export.c_sources import write_c_sources
from tinyml_kit.export.toolchain import CXX_FLAGS, TFLM_DEFINES, find_tflm_dir

# Each breaks a naive C literal, comment, Markdown line or Makefile: a trigraph ('??!' is '|', '??/' a backslash
# that swallows the closing quote), a quote and a backslash, a comment end, a newline, non-ASCII, a printf
# directive, a make function.
HOSTILE = ["what??!", 'a"b\\c', "x*/y", "two\nlines", "ü", "%s", "$(shell echo hi)", "end??/"]
READBACK = r"""
#include <cstdio>
#include <cstring>
#include "model_data.h"
int main() {
  for (int i = 0; i < kNumClasses; ++i) std::fwrite(kClassLabels[i], 1, std::strlen(kClassLabels[i]) + 1, stdout);
  return 0;
}
"""
_LITERAL = re.compile(rb'"((?:[^"\\\n]|\\.)*)"')
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)")


@pytest.fixture(scope="module")
def tflm():
    return find_tflm_dir()


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory):
    """An int8 model with one output per hostile label, under a file name every generated header quotes in a
    comment, itself hostile (a trigraph, a newline, a trailing backslash before the suffix)."""
    _, flatbuffer = untrained_tinynet(len(HOSTILE))
    path = tmp_path_factory.mktemp("hostile") / "m??!ü\n%s\\.tflite"
    path.write_bytes(flatbuffer)
    return path


def c_literals(source: bytes) -> list[str]:
    """The C string literals in `source`, decoded the way a compiler does (the escapes export writes)."""
    simple = {b"n": b"\n", b"t": b"\t", b"r": b"\r"}

    def unescape(m):
        e = m.group(1)
        return bytes([int(e, 8)]) if e[:1].isdigit() else simple.get(e, e)

    return [_ESCAPE.sub(unescape, body).decode() for body in _LITERAL.findall(source)]


def labels_in(path) -> list[str]:
    block = re.search(rb"kClassLabels\[[^\]]*\] = \{(.*?)\};", path.read_bytes(), re.DOTALL).group(1)
    return c_literals(block)


def host_label_in(sample_input) -> str:
    line = re.search(rb"kSampleHostLabel = (.*);", sample_input.read_bytes()).group(1)
    return c_literals(line)[0]


def markdown_shows(text: str) -> str:
    """What Markdown displays for backslash-escaped text."""
    return re.sub(r"\\(.)", r"\1", text)


def export_hostile(model, tmp_path, *args):
    result = run("export", model, "--labels", ",".join(HOSTILE), "--out", tmp_path, "--engine", "tflm", *args)
    assert result.exit_code == 0, result.output
    return tmp_path


def _run_ok(cmd, cwd=None):
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _c_target(model, tmp_path, tflm):
    """Host g++ with every warning as an error, in C++17 (trigraphs ignored, warned) and C++11 (trigraphs
    converted); the program prints the labels it was compiled with."""
    out = export_hostile(model, tmp_path / "c", "--target", "c")
    (out / "main.cc").write_text(READBACK)
    for std in ("-std=c++17", "-std=c++11"):
        exe = tmp_path / f"readback{std[-2:]}"
        _run_ok(["g++", *FLAGS, std, "-I", out, out / "main.cc", out / "model_data.cc", "-o", exe])
        printed = subprocess.run([exe], capture_output=True, check=True).stdout
        assert printed.split(b"\0")[:-1] == [label.encode() for label in HOSTILE]
    _run_ok(["g++", *CXX_FLAGS, *TFLM_DEFINES, "-I", out, *tflm.includes(), "-c", out / "tinyml_model.cc",
           "-o", tmp_path / "tinyml_model.o"])
    assert labels_in(out / "model_data.cc") == HOSTILE   # the decoder the other targets rely on agrees with g++


def _stm32_target(model, tmp_path, tflm):
    """The project's own Makefile (-Wall -Wextra -Werror for the board's core); labels read back from the
    sources, kept out of the Makefile, and shown as themselves in the README."""
    project = export_hostile(model, tmp_path, "--target", "stm32", "--board", "nucleo-f401re") / "tinyml_model_stm32"
    _run_ok(["make", "-j2", f"TFLM_DIR={tflm.tree}"], cwd=project)
    assert (project / "build" / "libtinyml.a").stat().st_size > 0
    assert labels_in(project / "tinyml" / "model_data.cc") == HOSTILE
    host = host_label_in(project / "tinyml" / "sample_input.h")
    assert host in HOSTILE
    makefile = (project / "Makefile").read_text()
    assert not any(label in makefile for label in HOSTILE)
    shown = markdown_shows((project / "README.md").read_text())
    as_text = {label: label.replace("\n", "\\n") for label in HOSTILE}   # a newline is shown as \n
    assert f"classes\n({', '.join(as_text.values())}), input 16×16×1 raw pixels." in shown
    assert f"what the host predicted for it ({as_text[host]})." in shown


def _arduino_target(model, tmp_path, tflm):
    """The library's sources and example built for the Cortex-M4F and run under QEMU: the sketch prints the
    host's label byte for byte; library.properties stays one key=value per line, without labels."""
    library = export_hostile(model, tmp_path / "lib", "--target", "arduino") / "tinyml_model"
    properties = (library / "library.properties").read_text().splitlines()
    assert all(re.fullmatch(r"[a-z]+=.+", line) for line in properties), properties
    assert not any(label in line for line in properties for label in HOSTILE)
    assert labels_in(library / "src" / "model_data.cpp") == HOSTILE
    host = host_label_in(library / "examples" / "classify" / "sample_input.h")
    printed = run_arduino_example(library, tflm, tmp_path / "build")
    assert host in HOSTILE and f"label: {host}  score: 0." in printed, printed
    assert f"(host predicted: {host}, true class: unknown)" in printed, printed


@pytest.mark.parametrize("fmt", [("--format", "onnx"), ("--target", "c"), ("--target", "arduino"),
                                 ("--target", "stm32", "--board", "nucleo-f401re")])
def test_a_name_that_is_not_an_identifier_is_refused_before_any_work(tiny_model, tmp_path_factory, fmt):
    model = tmp_path_factory.mktemp("in") / "model.keras" if fmt[1] == "onnx" else tiny_model[1]
    if fmt[1] == "onnx":
        tiny_model[0].save(model)
    work = tmp_path_factory.mktemp("work")
    for name in ("../../x", str(work / "abs" / "x"), "model\n", "my-model", "1x", ""):
        for source in (model, work / "missing"):   # a missing model shows the name is checked first
            assert_one_line_error(run("export", source, *fmt, "--name", name, "--out", work / "a" / "b"),
                                  f"name {name!r} is not a C identifier", "letters, digits and _", "(--name)")
    assert list(work.iterdir()) == []


def test_empty_and_duplicate_labels_are_refused_naming_them(tiny_model, tmp_path):
    _, model = tiny_model
    out = tmp_path / "out"
    for labels, fragments in [(",,", ["label 1 of 3 is empty", "class0,class1,class2", "(--labels)"]),
                              ("a, ,b", ["label 2 of 3 is empty"]), ("a,b,", ["label 3 of 3 is empty"]),
                              ("cat,dog,cat", ["labels 1 and 3 are both 'cat'"]),
                              ("cat, cat ,dog", ["labels 1 and 2 are both 'cat'"]),
                              (",,,", ["4 labels given but the model has 3 outputs"])]:
        assert_one_line_error(run("export", model, "--labels", labels, "--out", out, "--engine", "tflm"), *fragments)
    assert not out.exists()
    data, info = read_model_file(model)
    with pytest.raises(UserError, match=r"label 2 \('b\\x00'\) contains a NUL character"):
        write_c_sources(data, info, out, ["a", "b\0", "c"], 1000, 1024)
    assert run("export", model, "--labels", " cat, dog ,bird", "--out", out, "--engine", "tflm").exit_code == 0
    assert labels_in(out / "model_data.cc") == ["cat", "dog", "bird"]


@pytest.mark.parametrize("target", ["c", "stm32", "arduino"])
def test_hostile_labels_compile_and_read_back_on_every_target(hostile_model, tflm, tmp_path, target):
    {"c": _c_target, "stm32": _stm32_target, "arduino": _arduino_target}[target](hostile_model, tmp_path, tflm)


def test_an_arena_too_small_is_reported_with_the_size_tried_and_the_host_requirement(tiny_model):
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.export.firmware import ModelSource

    data, info = read_model_file(tiny_model[1])
    host = measure_arena(data)
    src = ModelSource(data, info, ["a", "b", "c"], host.total_bytes, host.alloc_bytes)
    tried = host.total_bytes // 2
    with pytest.raises(UserError) as error:
        verify_model(src, np.zeros((1, 16, 16, 1), np.int8), get_board("nucleo-f401re"), arena_bytes=tried,
                     engine="tflm")
    message = str(error.value)
    assert "\n" not in message and "short by" not in message
    assert f"the tensor arena of {tried:,} bytes is too small on the Cortex-M4F" in message
    assert f"the host measured {host.total_bytes:,} bytes for the whole model: reserve at least that" in message
    assert set(re.findall(r"\d[\d,]{2,}", message)) == {f"{tried:,}", f"{host.total_bytes:,}"}   # no other count


def test_board_ids_match_in_any_case_and_unknown_ones_get_the_closest():
    assert get_board("NUCLEO-F401RE").id == get_board("nucleo-f401re").id == "nucleo-f401re"
    assert_one_line_error(run("solve", "--board", "nucleo-f401"),
                          "unknown board 'nucleo-f401': did you mean nucleo-f401re? (all boards: tinyml-kit boards)")
    with pytest.raises(UserError, match=re.escape("did you mean nucleo-f411re, nucleo-f401re or nucleo-l4r5zi?")):
        get_board("nucleo-f410re")
    with pytest.raises(UserError, match="unknown board 'nope': choose one of uno-r3, .*stm32n6570-dk"):
        get_board("nope")
    result = run("solve", "--board", "NUCLEO-F401RE", "--json")
    assert result.exit_code == 0, result.output
    assert '"board": "nucleo-f401re"' in result.stdout


def test_export_never_writes_over_another_models_files_and_replaces_its_own(tiny_model, tmp_path):
    """Into a folder holding another model's export, a folder of other files or another run's directory: refused,
    nothing changed. Again into its own export (here with the other engine) or beside the model: its files are
    replaced, and the earlier export's that the new one does not write are removed."""
    _, model = tiny_model
    out, notes, run_b = tmp_path / "out", tmp_path / "notes", tmp_path / "run_b"
    assert run("export", model, "--out", out, "--engine", "tflm").exit_code == 0
    other = tmp_path / "other.tflite"
    other.write_bytes(untrained_tinynet(4)[1])
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    run_b.mkdir()
    (run_b / "report.json").write_text("{}")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for source, dest, args, fragments in [
            (other, out, [], [f"{out} holds the export of another model ({model})", "new or empty folder"]),
            (model, notes, [], ["is not empty (todo.txt) and holds no export of", "new or empty folder"]),
            (model, run_b, [], [f"{run_b} is the directory of another run", "new or empty folder"]),
            (model, run_b, ["--target", "arduino"], ["is the directory of another run"])]:
        assert_one_line_error(run("export", source, "--out", dest, *args), *fragments, "(--out)")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert run("export", model, "--out", out, "--engine", "c").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "tinyml_export.json", "tinyml_model.c",
                                                     "tinyml_model.h"]
    own = tmp_path / "own"
    own.mkdir()
    (own / "m.tflite").write_bytes(model.read_bytes())
    assert run("export", own / "m.tflite", "--out", own, "--engine", "tflm").exit_code == 0
    assert (own / "model_data.cc").is_file() and (own / "m.tflite").is_file()


def test_arduino_archives_are_byte_identical_whenever_and_however_exported(tiny_model, tmp_path):
    """Two exports, the second under another umask (and so other file modes) and later: the same .zip, byte for
    byte, its entries sorted with one fixed time."""
    import os
    import time
    import zipfile

    _, model = tiny_model
    archives = []
    for i, umask in enumerate((0o022, 0o077)):
        time.sleep(2.1 * i)   # past the zip format's 2-second time resolution
        previous = os.umask(umask)
        try:
            result = run("export", model, "--engine", "c", "--target", "arduino", "--out", tmp_path / str(i))
        finally:
            os.umask(previous)
        assert result.exit_code == 0, result.output
        archives.append((tmp_path / str(i) / "tinyml_model.zip").read_bytes())
    assert archives[0] == archives[1]
    entries = zipfile.ZipFile(tmp_path / "0" / "tinyml_model.zip").infolist()
    assert [e.filename for e in entries] == sorted(e.filename for e in entries)
    assert {e.date_time for e in entries} == {(1980, 1, 1, 0, 0, 0)}
