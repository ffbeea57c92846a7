"""One declared, described and validated parameter set per node.

Each node lists its parameters once as :class:`Param` entries (name, default, description, range
or choices, an optional extra check). :func:`declare_parameters` declares them with full
descriptors (so ``ros2 param describe`` shows description and range), validates the start-up
values (from a YAML ``--params-file`` or overrides) and refuses bad ones with ``ValueError`` naming
the parameter; later ``set_parameters`` calls are validated by the same rules and refused with a
reason naming the parameter. The node reads a plain typed namespace; whatever a change must drive
(a timer period, a buffer setting) goes through ``on_change``, which runs only for accepted sets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterUninitializedException,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

Value = bool | int | float | str | list


@dataclass(frozen=True)
class Param:
    """One node parameter.

    ``range`` (inclusive) for numbers; ``choices`` for strings; ``check(value)`` returns an error
    text (or None) for anything else. ``array_type`` types an empty-list default
    (``"string"`` or ``"double"``). ``read_only`` parameters can't change after start-up (the
    ones that pick hardware or models; restart the node to change them).
    """

    name: str
    default: Value
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    check: Callable[[Any], str | None] | None = None
    read_only: bool = False
    array_type: str | None = None

    def validate(self, value: Any) -> str | None:
        """Error text naming this parameter, or None when ``value`` is acceptable."""
        want = type(self.default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if want is list:
            if not isinstance(value, list | tuple):
                return f"parameter {self.name!r} must be a list, got {value!r}"
        elif not isinstance(value, want) or (want is int and isinstance(value, bool)):
            return f"parameter {self.name!r} must be {want.__name__}, got {type(value).__name__} {value!r}"
        if self.range is not None:
            lo, hi = self.range
            if not lo <= value <= hi:
                return f"parameter {self.name!r} = {value} is outside [{lo}, {hi}]"
        if self.choices is not None and value not in self.choices:
            return f"parameter {self.name!r} = {value!r} is not one of {list(self.choices)}"
        if self.check is not None:
            err = self.check(value)
            if err:
                return f"parameter {self.name!r} = {value!r}: {err}"
        return None

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(
            name=self.name, description=self.description, read_only=self.read_only
        )
        if self.range is not None:
            lo, hi = self.range
            if isinstance(self.default, float):
                d.floating_point_range = [
                    FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)
                ]
            else:
                d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        if self.choices is not None:
            d.additional_constraints = f"one of {list(self.choices)}"
        return d


def validate_values(specs: Sequence[Param], values: dict[str, Any]) -> list[str]:
    """Errors for the given values (names not in ``specs`` are reported as unknown)."""
    by_name = {p.name: p for p in specs}
    errors = []
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            errors.append(f"unknown parameter {name!r}")
            continue
        err = spec.validate(value)
        if err:
            errors.append(err)
    return errors


def defaults(specs: Sequence[Param]) -> dict[str, Value]:
    return {p.name: p.default for p in specs}


def declare_parameters(
    node: Node,
    specs: Sequence[Param],
    on_change: Callable[[dict[str, Any]], None] | None = None,
) -> SimpleNamespace:
    """Declare, validate and read ``specs`` on ``node``; returns ``namespace.<name> = value``.

    Raises ValueError naming the first bad parameter (wrong type, out of range, failed check).
    Later changes are validated the same way, all values of one ``set_parameters_atomically``
    call before any is applied: a set with one bad value is refused as a whole and changes
    nothing. An accepted set updates the namespace and then calls ``on_change({name: value})``
    (only after every on-set callback of the node accepted it, so a refusal by any of them leaves
    the namespace and whatever ``on_change`` drives, e.g. a timer rate, untouched).
    """
    values: dict[str, Any] = {}
    for spec in specs:
        default: Any = spec.default
        if isinstance(spec.default, list) and not spec.default:
            default = {
                "string": Parameter.Type.STRING_ARRAY,
                "double": Parameter.Type.DOUBLE_ARRAY,
            }[spec.array_type or "string"]
        try:
            param = node.declare_parameter(spec.name, default, spec.descriptor())
            value = param.value
        except ParameterUninitializedException:
            value = []
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            raise ValueError(f"node {node.get_name()}: parameter {spec.name!r}: {exc}") from exc
        if value is None and isinstance(spec.default, list):
            value = []
        if isinstance(spec.default, list):
            value = list(value)
        err = spec.validate(value)
        if err:
            raise ValueError(f"node {node.get_name()}: {err}")
        values[spec.name] = value
    ns = SimpleNamespace(**values)
    by_name = {p.name: p for p in specs}

    def value_of(p: Parameter) -> Any:
        return list(p.value) if isinstance(by_name[p.name].default, list) else p.value

    def validate(params: list[Parameter]) -> SetParametersResult:
        # validation only: nothing is applied here, another callback may still refuse the set
        errors = [
            spec.validate(value_of(p))
            for p in params
            if (spec := by_name.get(p.name)) is not None  # others (use_sim_time): rclpy's
        ]
        errors = [e for e in errors if e]
        if errors:
            return SetParametersResult(successful=False, reason="; ".join(errors))
        return SetParametersResult(successful=True)

    def apply(params: list[Parameter]) -> None:
        changed = {p.name: value_of(p) for p in params if p.name in by_name}
        for name, value in changed.items():
            setattr(ns, name, value)
        if changed and on_change is not None:
            on_change(changed)

    node.add_on_set_parameters_callback(validate)
    node.add_post_set_parameters_callback(apply)
    return ns
