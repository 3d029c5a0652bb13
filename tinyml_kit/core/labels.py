"""Class labels, as a dataset names them and a firmware prints them: one per class, none empty, no two alike."""

from tinyml_kit.core.errors import UserError


def check_labels(labels: list[str], classes: int) -> None:
    """One label per class, none empty, no two alike. Duplicates are refused rather than numbered: the firmware
    names a class only by its label (`Top1().label`, and the STM32 self-test compares labels with strcmp), so
    two classes sharing one could not be told apart on the board, and the self-test could pass on the wrong one."""
    if len(labels) != classes:
        raise UserError(f"{len(labels)} labels given but the model has {classes} outputs: pass one label per class",
                        "labels")
    first: dict[str, int] = {}
    for position, label in enumerate(labels, 1):
        if not label.strip():
            raise UserError(f"label {position} of {classes} is empty: give every class a name, e.g. "
                            f"{','.join(f'class{i}' for i in range(classes))}", "labels")
        if "\0" in label:
            raise UserError(f"label {position} ({label!r}) contains a NUL character, which ends a C string: "
                            f"remove it", "labels")
        key = label.strip()
        if key in first:
            raise UserError(f"labels {first[key]} and {position} are both {key!r}: give each class its own label",
                            "labels")
        first[key] = position
