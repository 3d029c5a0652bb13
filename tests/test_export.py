import shutil
import subprocess

import pytest

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.tflite_info import read_model_file
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer
from tinyml_kit.export.c_sources import write_c_sources

MAIN = r"""
#include <cstdint>
#include <cstdio>
#include "{name}_data.h"
alignas(16) static uint8_t tensor_arena[{prefix}kTensorArenaSize];
int main() {{
  if (reinterpret_cast<uintptr_t>({symbol}) % 16 != 0) return 1;
  if (reinterpret_cast<uintptr_t>(tensor_arena) % 16 != 0) return 2;
  std::printf("%u %d %d %s %s\n", {symbol}_len, {prefix}kNumClasses, {prefix}kInputZeroPoint,
              {prefix}kClassLabels[0], {prefix}kClassLabels[{prefix}kNumClasses - 1]);
  return {symbol}[4] == 'T' && {symbol}[5] == 'F' && {symbol}[6] == 'L' && {symbol}[7] == '3' ? 0 : 3;
}}
"""
FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _write(tiny_model, tmp_path, name="model", labels=("zero", 'quo"te', "naïve")):
    _, path = tiny_model
    data, info = read_model_file(path)
    write_c_sources(data, info, tmp_path, list(labels), 1000, 2048, name=name, source=str(path))
    prefix = "" if name == "model" else f"{name}_"
    (tmp_path / "main.cc").write_text(MAIN.format(name=name, prefix=prefix, symbol=f"g_{name}_data"))
    return data


@pytest.mark.parametrize("name", ["model", "kws"])
def test_generated_sources_compile_and_run_on_host(tiny_model, tmp_path, name):
    data = _write(tiny_model, tmp_path, name)
    exe = tmp_path / "a.out"
    subprocess.run(["g++", *FLAGS, "-I", str(tmp_path), str(tmp_path / "main.cc"), str(tmp_path / f"{name}_data.cc"),
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.returncode == 0, out
    assert out.stdout.split()[:4] == [str(len(compact_flatbuffer(data))), "3", "-128", "zero"]   # what TFLM runs


@pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None, reason="arm-none-eabi-g++ not installed")
def test_generated_sources_compile_for_cortex_m4(tiny_model, tmp_path):
    _write(tiny_model, tmp_path)
    subprocess.run(["arm-none-eabi-g++", *FLAGS, "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard",
                    "-fno-exceptions", "-fno-rtti", "-c", str(tmp_path / "model_data.cc"), "-o",
                    str(tmp_path / "model_data.o")], check=True)


def test_export_checks_labels_and_name(tiny_model, tmp_path):
    with pytest.raises(UserError, match="2 labels given but the model has 3 outputs"):
        _write(tiny_model, tmp_path, labels=("a", "b"))
    with pytest.raises(UserError, match="not a C identifier"):
        _write(tiny_model, tmp_path, name="1bad-name")
