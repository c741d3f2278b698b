"""The fan-out's state machine (FanOut in the stack), run in the sandbox as Step Functions would.

moto's Step Functions can execute a state machine, Distributed Map included, but not this one
here: its Lambda runs a function only in Docker, which the sandbox does not use, and its
executions call the other services with fixed credentials that AWS's rules in the sandbox
(rules.gateway) refuse. So this runs the deployed definition itself, read back from moto's
Step Functions: the states and fields the definition uses, each as the Amazon States Language
says, and nothing else. A state or field it does not know stops the run (UnknownState), so the
definition cannot grow a step that the sandbox would pass without running.

- Task on lambda:invoke: Parameters, the invocation, ResultSelector, ResultPath, Retry. The
  state machine's role must be allowed lambda:InvokeFunction on the function (asked of the
  sandbox's rules, as Lambda would); the function's handler then runs here as the function's
  role, through `invoke`.
- Map in DISTRIBUTED mode: ItemsPath, ItemSelector, MaxConcurrency(Path) items at once, each
  item's own ItemProcessor, ToleratedFailurePercentage, Catch, ResultPath.
- Choice (IsPresent), Succeed, Fail.

Retry intervals are recorded, not slept (a test would wait minutes for nothing).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

LAMBDA_INVOKE = ":states:::lambda:invoke"
_KNOWN_FIELDS = {
    "Task": {
        "Type", "Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch",
        "Next", "End", "Comment",
    },
    "Map": {
        "Type", "ItemsPath", "ItemSelector", "MaxConcurrency", "MaxConcurrencyPath",
        "ToleratedFailurePercentage", "ItemProcessor", "ResultPath", "Catch", "Next", "End",
        "Comment",
    },
    "Choice": {"Type", "Choices", "Default", "Comment"},
    "Succeed": {"Type", "Comment"},
    "Fail": {"Type", "Error", "Cause", "Comment"},
}  # fmt: skip


class UnknownState(Exception):
    """The definition uses something this runner does not carry out."""


class StateFailed(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass
class Execution:
    status: str = "RUNNING"  # SUCCEEDED or FAILED
    error: str = ""
    cause: str = ""
    output: Any = None
    transitions: int = 0  # states entered, as Step Functions bills them
    item_transitions: int = 0  # of those, billed to the map's items (child executions)
    invocations: list[dict[str, Any]] = field(default_factory=list)  # each event the function got
    waits_s: list[float] = field(default_factory=list)  # retry intervals Step Functions would wait
    items: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (item, outcome)
    caught: list[str] = field(default_factory=list)  # "State: Error: cause", each Catch taken
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


Invoke = Callable[[dict[str, Any]], dict[str, Any]]
Authorize = Callable[[str], bool]  # function ARN -> may the state machine's role invoke it


def run(
    definition: dict[str, Any], execution_input: dict[str, Any], invoke: Invoke, allowed: Authorize
) -> Execution:
    """One execution of `definition` on `execution_input`."""
    execution = Execution()
    try:
        execution.output = _machine(definition, execution_input, invoke, allowed, execution, {})
        execution.status = "SUCCEEDED"
    except StateFailed as exc:
        execution.status, execution.error, execution.cause = "FAILED", exc.error, exc.cause
    return execution


def _machine(
    machine: dict[str, Any],
    data: Any,
    invoke: Invoke,
    allowed: Authorize,
    execution: Execution,
    context: dict[str, Any],
) -> Any:
    states = machine["States"]
    name = machine["StartAt"]
    context = {**context, "Execution": context.get("Execution", {"Input": data})}
    while True:
        state = states[name]
        kind = state["Type"]
        if kind not in _KNOWN_FIELDS or set(state) - _KNOWN_FIELDS[kind]:
            raise UnknownState(f"state {name}: {kind} with {sorted(set(state))}")
        _bill(execution, context)
        if kind == "Succeed":
            return data
        if kind == "Fail":
            raise StateFailed(state.get("Error", "States.Fail"), state.get("Cause", ""))
        if kind == "Choice":
            name = _choose(state, data)
            continue
        try:
            if kind == "Task":
                result = _task(state, data, invoke, allowed, execution, context)
            else:
                result = _map(state, data, invoke, allowed, execution, context)
                result = None if state.get("ResultPath", "$") is None else result
            data = _put(data, state.get("ResultPath", "$"), result)
        except StateFailed as exc:
            catcher = _matching(state.get("Catch", []), exc.error)
            if catcher is None:
                raise
            with execution.lock:
                execution.caught.append(f"{name}: {exc}")
            data = _put(
                data, catcher.get("ResultPath", "$"), {"Error": exc.error, "Cause": exc.cause}
            )
            name = catcher["Next"]
            continue
        if state.get("End"):
            return data
        name = state["Next"]


def _task(
    state: dict[str, Any],
    data: Any,
    invoke: Invoke,
    allowed: Authorize,
    execution: Execution,
    context: dict[str, Any],
) -> Any:
    if not state["Resource"].endswith(LAMBDA_INVOKE):
        raise UnknownState(f"a Task on {state['Resource']}")
    parameters = _fill(state["Parameters"], data, context)
    function = parameters["FunctionName"]
    attempts: dict[int, int] = {}
    while True:
        try:
            if not allowed(function):
                raise StateFailed(
                    "Lambda.AWSLambdaException", f"not authorized to invoke {function}"
                )
            event = copy.deepcopy(parameters.get("Payload", {}))
            with execution.lock:
                execution.invocations.append(event)
            try:
                payload = invoke(event)
            except Exception as exc:  # what the function raised: its errorType, as Lambda says
                raise StateFailed(type(exc).__name__, str(exc)) from None
            result = {"Payload": payload, "StatusCode": 200}
            if "ResultSelector" in state:
                result = _fill(state["ResultSelector"], result, context)
            return result
        except StateFailed as exc:
            index, retrier = next(
                (
                    (i, r)
                    for i, r in enumerate(state.get("Retry", []))
                    if _matches(r["ErrorEquals"], exc.error)
                ),
                (-1, None),
            )
            if retrier is None:
                raise
            done = attempts.get(index, 0)
            if done >= retrier.get("MaxAttempts", 3):
                raise
            attempts[index] = done + 1
            wait = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** done
            with execution.lock:
                execution.waits_s.append(wait)
            _bill(execution, context)  # a retry is billed as a transition


def _map(
    state: dict[str, Any],
    data: Any,
    invoke: Invoke,
    allowed: Authorize,
    execution: Execution,
    context: dict[str, Any],
) -> list[Any]:
    processor = state["ItemProcessor"]
    if processor.get("ProcessorConfig", {}).get("Mode") != "DISTRIBUTED":
        raise UnknownState("only a Distributed Map is run here")
    items = _get(data, state.get("ItemsPath", "$"), context)
    if not isinstance(items, list):
        raise StateFailed("States.Runtime", "ItemsPath did not give a list")
    limit = state.get("MaxConcurrency") or _get(data, state["MaxConcurrencyPath"], context)
    tolerated = float(state.get("ToleratedFailurePercentage", 0))
    failed = 0
    stop = threading.Event()

    def one(index: int, item: Any) -> Any:
        nonlocal failed
        if stop.is_set():
            return None  # the map has failed: no more child executions start
        item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
        selected = (
            _fill(state["ItemSelector"], data, item_context) if "ItemSelector" in state else item
        )
        # Each item is a child execution of its own: its input is the selected item. Starting
        # it is billed as one transition, beside the states it enters.
        child = {**item_context, "Execution": {"Input": selected}}
        _bill(execution, child)
        try:
            out = _machine(processor, selected, invoke, allowed, execution, child)
        except StateFailed as exc:
            with execution.lock:
                failed += 1
                execution.items.append((selected, f"FAILED {exc.error}"))
                if failed * 100 > tolerated * len(items):
                    stop.set()
            return None
        with execution.lock:
            execution.items.append((selected, "SUCCEEDED"))
        return out

    with ThreadPoolExecutor(max_workers=max(1, int(limit))) as pool:
        results = list(pool.map(one, range(len(items)), items))
    if failed * 100 > tolerated * len(items):
        raise StateFailed(
            "States.ExceedToleratedFailureThreshold",
            f"{failed} of {len(items)} items failed (tolerated: {tolerated:g}%)",
        )
    return results


def _bill(execution: Execution, context: dict[str, Any]) -> None:
    """One state transition, and whose: a child execution's (its context names its item) or
    the parent's."""
    with execution.lock:
        execution.transitions += 1
        if "Map" in context:
            execution.item_transitions += 1


def _choose(state: dict[str, Any], data: Any) -> str:
    for choice in state["Choices"]:
        if set(choice) - {"Variable", "IsPresent", "Next"}:
            raise UnknownState(f"a Choice rule with {sorted(choice)}")
        present = _has(data, choice["Variable"])
        if present == choice["IsPresent"]:
            return str(choice["Next"])
    if "Default" not in state:
        raise StateFailed("States.NoChoiceMatched", "no choice matched")
    return str(state["Default"])


def _matching(rules: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    return next((r for r in rules if _matches(r["ErrorEquals"], error)), None)


def _matches(errors: list[str], error: str) -> bool:
    return "States.ALL" in errors or error in errors


def _fill(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """Parameters, ItemSelector and ResultSelector: a key ending ".$" takes a path's value."""
    if isinstance(template, dict):
        filled = {}
        for key, value in template.items():
            if key.endswith(".$"):
                filled[key[:-2]] = _get(data, value, context)
            else:
                filled[key] = _fill(value, data, context)
        return filled
    if isinstance(template, list):
        return [_fill(v, data, context) for v in template]
    return template


def _steps(path: str) -> tuple[bool, list[str]]:
    if path.startswith("$$"):
        return True, [p for p in path[2:].split(".") if p]
    if not path.startswith("$") or any(c in path for c in "[]*?@"):
        raise UnknownState(f"path {path!r}")
    return False, [p for p in path[1:].split(".") if p]


def _get(data: Any, path: str, context: dict[str, Any]) -> Any:
    from_context, steps = _steps(path)
    value: Any = context if from_context else data
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            raise StateFailed("States.Runtime", f"{path} is not in the state's input")
        value = value[step]
    return value


def _has(data: Any, path: str) -> bool:
    try:
        _get(data, path, {})
    except StateFailed:
        return False
    return True


def _put(data: Any, path: str | None, result: Any) -> Any:
    if path is None:
        return data
    _, steps = _steps(path)
    if not steps:
        return result
    out = copy.deepcopy(data) if isinstance(data, dict) else {}
    here = out
    for step in steps[:-1]:
        here = here.setdefault(step, {})
    here[steps[-1]] = result
    return out
