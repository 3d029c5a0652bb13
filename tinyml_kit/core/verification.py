"""What a run records of its verification, as typed data: the candidates measured before training (`report.json`'s
`verification`) and the firmware's run on an emulated core (`verify`'s result, `verify_<kernels>.json`).

They live here, below every stage, because `RunRecord` holds them. Their JSON keys are the ones users' scripts
read: `to_dict()` writes exactly them, in their order, and `from_dict()` reads them back, older files included.
"""

from dataclasses import asdict, dataclass, fields

from tinyml_kit.core.record_sections import known_fields


@dataclass
class Measurement:
    """One candidate converted to int8 and measured as its engine runs it."""
    family: str
    knobs: dict
    params: int
    macs: int
    flash_bytes: int
    arena_bytes: int
    arena_alloc_bytes: int
    fits: bool
    instructions: int | None = None   # predicted from the converted graph, on the board's core if emulated

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Measurement":
        return cls(**known_fields(cls, d))


@dataclass
class OpProfile:
    """One op of a profiled inference."""
    index: int          # the op's index in the model's graph (the C engine may run them in another order)
    op: str             # TFLite builtin name (TFLM's registration name; the C engine's step kind)
    instructions: int   # median over the images
    share: float        # of the whole inference

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class OpTypeProfile:
    """Every op of one type together."""
    op: str
    count: int
    instructions: int
    share: float        # of the whole inference


@dataclass
class VerifyProfile:
    """`verify --profile`: each op in execution order, each op type (largest first) and the ops' sum against the
    whole inference (the rest runs between ops)."""
    ops: list[OpProfile]
    instructions: int
    coverage: float
    by_op: list[OpTypeProfile]

    def to_dict(self) -> dict:
        return {"profile": [op.to_dict() for op in self.ops], "profile_instructions": self.instructions,
                "profile_coverage": self.coverage, "profile_by_op": [asdict(t) for t in self.by_op]}

    @classmethod
    def from_dict(cls, d: dict) -> "VerifyProfile":
        return cls([OpProfile(**op) for op in d["profile"]], d["profile_instructions"], d["profile_coverage"],
                   [OpTypeProfile(**t) for t in d["profile_by_op"]])


@dataclass
class ElfSections:
    text: int
    data: int
    bss: int


# What results written before these keys existed ran on: TFLM on the Cortex-M4F of mps2-an386.
_EARLIER = {"engine": "tflm", "core": "m4", "core_title": "Cortex-M4F", "machine": "mps2-an386"}


@dataclass
class VerifyResult:
    """The firmware built for an emulated core, run under QEMU and compared with LiteRT's reference kernels,
    with what the ELF and the core measured and the verdict against the board's linked memory."""
    engine: str
    kernels: str
    core: str                       # the emulated core's id (m4, m7, m33, m55)
    core_title: str
    machine: str                    # QEMU's machine
    images: int
    bit_exact: bool
    outputs_equal_fraction: float
    max_abs_diff: int
    top1_agreement: float
    elf_flash_bytes: int
    elf_ram_bytes: int
    elf_sections: ElfSections
    model_bytes: int
    arena_used_bytes: int
    arena_reserved_bytes: int
    arena_host_bytes: int           # what the host measured (TFLM) or planned (the C engine)
    stack_used_bytes: int
    instructions_per_inference: int   # the median over the images
    instructions_range: list[int]
    board: str
    board_flash_bytes: int
    board_ram_bytes: int
    fits_flash: bool
    fits_ram: bool
    fits: bool
    profile: VerifyProfile | None = None   # with `profile`
    run_dir: str | None = None             # verified from a run directory

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("profile", "run_dir")}
        d["elf_sections"] = asdict(self.elf_sections)
        d["instructions_range"] = list(self.instructions_range)
        if self.profile is not None:
            d.update(self.profile.to_dict())
        if self.run_dir is not None:
            d["run_dir"] = self.run_dir
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VerifyResult":
        d = {**_EARLIER, **d}
        plain = {k: v for k, v in known_fields(cls, d).items() if k not in ("elf_sections", "profile")}
        return cls(**plain, elf_sections=ElfSections(**d["elf_sections"]),
                   profile=VerifyProfile.from_dict(d) if "profile" in d else None)

    @property
    def profiled(self) -> bool:
        """Whether the firmware printed a per-op profile."""
        return bool(self.profile and self.profile.ops)
