"""The argument list of `k0s install worker|controller`: user args plus what k0smotron adds.

User args are spliced into the command line verbatim (as upstream does), so users may shell-quote values themselves,
e.g. `--labels="a=b,c=d"`. They come from the same spec as preStartCommands, so this grants no new power.
"""

from __future__ import annotations

from collections.abc import Sequence

MACHINE_NAME_LABEL = "k0smotron.io/machine-name"
KUBELET_EXTRA_ARGS = "--kubelet-extra-args"
_WORKER_ENABLING_ARGS = frozenset({"--enable-worker", "--enable-worker=true", "--single"})


def controller_worker_enabled(args: Sequence[str] | None) -> bool:
    """Whether the controller also runs a kubelet (and so needs node labels and a node name)."""
    return any(arg in _WORKER_ENABLING_ARGS for arg in args or ())


def install_args(
    args: Sequence[str] | None, *, machine_name: str, worker: bool, use_system_hostname: bool = False
) -> list[str]:
    """Merge user args with k0smotron's, in the order upstream produces them.

    With `worker` (a worker, or a controller that runs a kubelet): first `--labels=k0smotron.io/machine-name=<m>`, so
    the ProviderID controller can find the node; `--hostname-override=<m>` leads the kubelet args unless
    `use_system_hostname`, so the node is named after the Machine. All `--kubelet-extra-args` values are collected
    into one trailing `--kubelet-extra-args="..."` because k0s honours only one of them.
    """
    merged = [f"--labels={MACHINE_NAME_LABEL}={machine_name}"] if worker else []
    kubelet_args: list[str] = []
    for arg in args or ():
        if arg.startswith(KUBELET_EXTRA_ARGS):
            value = _kubelet_extra_args_value(arg)
            if value:
                kubelet_args.append(value)
        else:
            merged.append(arg)
    if worker and not use_system_hostname:
        kubelet_args.insert(0, f"--hostname-override={machine_name}")
    if kubelet_args:
        merged.append(f'{KUBELET_EXTRA_ARGS}="{" ".join(kubelet_args)}"')
    return merged


def _kubelet_extra_args_value(arg: str) -> str:
    """`--kubelet-extra-args=--a=1 --b` or `--kubelet-extra-args "--a=1"` → the bare value, surrounding quotes off."""
    value = arg.removeprefix(KUBELET_EXTRA_ARGS)
    if value[:1] in ("=", " "):
        value = value[1:]
    return value.strip().strip("\"'")
