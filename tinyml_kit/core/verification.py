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
    cycles: int | None = None         # likewise, with the board's flash wait states: what the time budget limits

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Measurement":
        return cls(**known_fields(cls, d))


_CYCLE_KEYS = ("cycles", "flash_misses", "flash_loads")


@dataclass
class OpProfile:
    """One op of a profiled inference."""
    index: int          # the op's index in the model's graph (the C engine may run them in another order)
    op: str             # TFLite builtin name (TFLM's registration name; the C engine's step kind)
    instructions: int   # median over the images
    share: float        # of the whole inference
    cycles: int | None = None   # median over the images, from the core's timing table (`core.timing`)
    flash_misses: int | None = None   # data reads from flash the board's modelled cache missed, median
    flash_loads: int | None = None    # data reads from flash, median

    def to_dict(self) -> dict:   # a profile without cycles is written as before them
        return {k: v for k, v in asdict(self).items() if v is not None or k not in _CYCLE_KEYS}


@dataclass
class OpTypeProfile:
    """Every op of one type together."""
    op: str
    count: int
    instructions: int
    share: float        # of the whole inference
    cycles: int | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k not in _CYCLE_KEYS}


@dataclass
class VerifyProfile:
    """`verify --profile`: each op in execution order, each op type (largest first) and the ops' sum against the
    whole inference (the rest runs between ops)."""
    ops: list[OpProfile]
    instructions: int
    coverage: float
    by_op: list[OpTypeProfile]
    cycles: int | None = None   # the ops' estimated cycles summed

    def to_dict(self) -> dict:
        d = {"profile": [op.to_dict() for op in self.ops], "profile_instructions": self.instructions,
             "profile_coverage": self.coverage, "profile_by_op": [t.to_dict() for t in self.by_op]}
        if self.cycles is not None:
            d["profile_cycles"] = self.cycles
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VerifyProfile":
        return cls([OpProfile(**op) for op in d["profile"]], d["profile_instructions"], d["profile_coverage"],
                   [OpTypeProfile(**t) for t in d["profile_by_op"]], d.get("profile_cycles"))


@dataclass
class CycleEstimate:
    """Cycles per inference estimated from what the QEMU plugin counted and the core's timing table, and the
    latency they take at the board's clock. `validated` says whether the core's table was checked against
    published cycle counts (bench/cycle_model.py); `basis` names the table and the board's flash timing."""
    cycles_est: int                 # the median over the images
    cycles_range: list[int]
    latency_ms: float
    clock_mhz: float
    validated: bool
    basis: str
    flash_misses: int = 0           # data reads from flash that waited (the board's modelled cache missed), median

    def to_dict(self) -> dict:
        return {"cycles_est": self.cycles_est, "cycles_range": list(self.cycles_range),
                "latency_ms": self.latency_ms, "clock_mhz": self.clock_mhz, "cycles_validated": self.validated,
                "cycle_basis": self.basis, "flash_misses": self.flash_misses}

    @classmethod
    def from_dict(cls, d: dict) -> "CycleEstimate | None":
        if "cycles_est" not in d:
            return None
        return cls(d["cycles_est"], d["cycles_range"], d["latency_ms"], d["clock_mhz"], d["cycles_validated"],
                   d["cycle_basis"], d["flash_misses"])


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
    cycles: CycleEstimate | None = None    # absent from results written before the cycle model
    ram_constant_bytes: int = 0            # of elf_ram_bytes: constants the C engine's plan copied to RAM for speed
    # a TFLM firmware whose outputs differ from LiteRT's, compared with TFLM on this machine too (the same kernels'
    # source): LiteRT and TFLM part on some ops (`check.op_difference`); None: not needed, or not TFLM
    equals_host_tflm: bool | None = None

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("profile", "run_dir", "cycles", "ram_constant_bytes", "equals_host_tflm")}
        d["elf_sections"] = asdict(self.elf_sections)
        d["instructions_range"] = list(self.instructions_range)
        if self.cycles is not None:
            d.update(self.cycles.to_dict())
        if self.profile is not None:
            d.update(self.profile.to_dict())
        if self.ram_constant_bytes:
            d["ram_constant_bytes"] = self.ram_constant_bytes
        if self.equals_host_tflm is not None:
            d["equals_host_tflm"] = self.equals_host_tflm
        if self.run_dir is not None:
            d["run_dir"] = self.run_dir
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VerifyResult":
        d = {**_EARLIER, **d}
        plain = {k: v for k, v in known_fields(cls, d).items() if k not in ("elf_sections", "profile", "cycles")}
        return cls(**plain, elf_sections=ElfSections(**d["elf_sections"]),
                   profile=VerifyProfile.from_dict(d) if "profile" in d else None, cycles=CycleEstimate.from_dict(d))

    @property
    def profiled(self) -> bool:
        """Whether the firmware printed a per-op profile."""
        return bool(self.profile and self.profile.ops)
