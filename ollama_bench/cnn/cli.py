"""`obench cnn …`: argv → one call → rendered output and an exit code.

Imports without torch: torch-dependent modules are imported inside the commands, after the
guard has turned a missing extra into one line with the install hint (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ollama_bench.cnn import guard
from ollama_bench.console import err_console, fail, show
from ollama_bench.errors import ObenchError, UsageError

EXIT_CODES = (
    "Exit codes: 0 done; 2 usage or input error (also: torch not installed); "
    "130 interrupted (finished samples are kept in the run file)."
)

DEFAULT_OPT = "channels_last,keep_heap"  # optimize.DEFAULT, spelled out: no torch import here

app = typer.Typer(
    help="Time classic CNNs in torch on the CPU and any GPU: inference, threads versus "
    f"batching, training. Needs the cnn extra: {escape(guard.INSTALL_HINT)}. {EXIT_CODES}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def cnn() -> None:
    """Time classic CNNs in torch: inference, threads versus batching, training."""


OutOption = Annotated[
    Path,
    typer.Option(envvar="OBENCH_OUT", help="Run file (.jsonl) or folder for it."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the summary as JSON on stdout instead of tables.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
DebugOption = Annotated[bool, typer.Option(help="Show tracebacks.")]


def int_list(text: str, flag: str, *, minimum: int = 1) -> tuple[int, ...]:
    """`1,2,4` → (1, 2, 4); anything else is a UsageError naming the flag."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not a comma-separated list of integers") from None
    if not values or min(values) < minimum:
        raise UsageError(f"{flag} {text!r}: give integers ≥ {minimum}, e.g. {flag} 1,2")
    return values


@app.command(epilog=EXIT_CODES)
def infer(
    model: Annotated[
        str, typer.Option(envvar="OBENCH_CNN_MODEL", help="cnn8m, resnet18 or lenet.")
    ] = "cnn8m",
    devices: Annotated[
        str | None,
        typer.Option(
            envvar="OBENCH_CNN_DEVICES",
            help="Comma-separated devices (cpu, cuda, cuda:1, mps); default: all found.",
        ),
    ] = None,
    batch_sizes: Annotated[
        str, typer.Option(envvar="OBENCH_CNN_BATCH_SIZES", help="Comma-separated batch sizes.")
    ] = "1,2,4,8,16",
    warmup: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="OBENCH_CNN_WARMUP",
            help="Warm-up batches per setting: stored, left out of the figures.",
        ),
    ] = 10,
    iterations: Annotated[
        int,
        typer.Option(min=1, envvar="OBENCH_CNN_ITERATIONS", help="Measured batches per setting."),
    ] = 50,
    threads: Annotated[
        str | None,
        typer.Option(
            envvar="OBENCH_CNN_THREADS",
            help="CPU intra-op threads; a list (1,2) sweeps. Default: the physical cores.",
        ),
    ] = None,
    opt: Annotated[
        str,
        typer.Option(
            envvar="OBENCH_CNN_OPT",
            help="Optimisations, comma-separated: channels_last, keep_heap (the default pair), "
            "compile, freeze, or none.",
        ),
    ] = DEFAULT_OPT,
    no_opt: Annotated[
        bool, typer.Option("--no-opt", help="Plain eager model: the same as --opt none.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            envvar="OBENCH_CNN_PLOT", help="Folder for the dashboard PNGs (needs matplotlib)."
        ),
    ] = None,
    out: OutOption = Path("obench-runs"),
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Time forward passes (random weights) per device, batch size and thread count.

    Reports images/s (batch size / median batch latency), batch latency median and p90,
    achieved GFLOP/s against a measured 2048² fp32 matmul, and each device's speed-up over
    the CPU at the same batch size with a 95% CI (see the README).
    """
    try:
        guard.require("torch")
        if plot is not None:
            guard.require("matplotlib", hint=guard.PLOT_HINT)
        from ollama_bench.cnn import runs

        plan = runs.plan_infer(
            model=model,
            devices=devices,
            batch_sizes=int_list(batch_sizes, "--batch-sizes"),
            warmup=warmup,
            iterations=iterations,
            threads=None if threads is None else int_list(threads, "--threads"),
            opt="none" if no_opt else opt,
        )
        outcome = runs.run_infer(plan, out, err_console, quiet)
        if plot is not None:
            from ollama_bench.cnn.plots import dashboard

            for path in dashboard(outcome.summary, outcome.samples, plot):
                err_console.print(f"plot: {path}")
    except ObenchError as exc:
        raise fail(exc, debug) from None
    from ollama_bench.cnn.report import render_infer

    show(outcome.summary, json_output, render_infer)
    raise typer.Exit(130 if outcome.summary.interrupted else 0)


@app.command(epilog=EXIT_CODES)
def parallel(
    images: Annotated[
        int, typer.Option(min=1, envvar="OBENCH_CNN_IMAGES", help="Images per pass (N).")
    ] = 32,
    workers: Annotated[
        int, typer.Option(min=2, envvar="OBENCH_CNN_WORKERS", help="Thread-pool workers (K).")
    ] = 2,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            envvar="OBENCH_CNN_THREADS",
            help="Cores to use (T): intra-op threads of the sequential and batched arms; "
            "pool workers get T // K each. Default: the physical cores.",
        ),
    ] = None,
    warmup: Annotated[
        int, typer.Option(min=0, envvar="OBENCH_CNN_WARMUP", help="Warm-up passes per arm.")
    ] = 1,
    repetitions: Annotated[
        int,
        typer.Option(min=1, envvar="OBENCH_CNN_REPETITIONS", help="Measured passes per arm."),
    ] = 5,
    opt: Annotated[
        str,
        typer.Option(envvar="OBENCH_CNN_OPT", help="channels_last, keep_heap, or none."),
    ] = DEFAULT_OPT,
    oversubscribed: Annotated[
        bool,
        typer.Option(help="Also run the seed's pool: K workers with T intra-op threads each."),
    ] = True,
    out: OutOption = Path("obench-runs"),
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """ResNet-18 at batch 1: N sequential calls vs a pool of K threads vs one batched call.

    The same inputs, a warm-up and repeated passes for every arm, with the intra-op thread
    count of each arm set and stated; then why the figures come out as they do.
    """
    try:
        guard.require("torch")
        from ollama_bench.cnn import runs

        summary = runs.run_parallel(
            images=images,
            workers=workers,
            threads=threads,
            warmup=warmup,
            repetitions=repetitions,
            opt=opt,
            oversubscribed=oversubscribed,
            out=out,
            console=err_console,
            quiet=quiet,
        )
    except ObenchError as exc:
        raise fail(exc, debug) from None
    from ollama_bench.cnn.report import render_parallel

    show(summary, json_output, render_parallel)
    raise typer.Exit(130 if summary.interrupted else 0)


@app.command(epilog=EXIT_CODES.replace("done;", "done; 1 a worker process failed;"))
def train(
    data: Annotated[
        Path | None,
        typer.Option(
            envvar="OBENCH_CNN_DATA",
            help="Image folder, one sub-folder per class, instead of scikit-learn's digits.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="OBENCH_CNN_WORKERS",
            help="DDP worker processes; above 1, a 1-worker run comes first for the scaling.",
        ),
    ] = 1,
    epochs: Annotated[int, typer.Option(min=1, envvar="OBENCH_CNN_EPOCHS")] = 15,
    batch_size: Annotated[
        int,
        typer.Option(min=1, envvar="OBENCH_CNN_BATCH_SIZE", help="Global, split across workers."),
    ] = 16,
    learning_rate: Annotated[
        float, typer.Option(min=0.0, envvar="OBENCH_CNN_LR", help="Adam's, cosine-decayed.")
    ] = 0.005,
    target_accuracy: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, envvar="OBENCH_CNN_TARGET", help="Test accuracy to time reaching."
        ),
    ] = 0.95,
    device: Annotated[
        str, typer.Option(envvar="OBENCH_CNN_DEVICE", help="auto, cpu or cuda.")
    ] = "auto",
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            envvar="OBENCH_CNN_THREADS",
            help="CPU cores in all; each of W workers gets threads // W. Default: physical cores.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(envvar="OBENCH_CNN_SEED")] = 0,
    out: OutOption = Path("obench-runs"),
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Train LeNet on scikit-learn's digits (fixed split and seed), or a small CNN on --data.

    Reports time per epoch, time to reach --target-accuracy and the final test accuracy; with
    --workers N, the same training with DistributedDataParallel and its scaling over 1 worker.
    """
    try:
        guard.require("torch", "sklearn")
        from ollama_bench.cnn import runs

        summary = runs.run_train(
            data=data,
            workers=workers,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            target_accuracy=target_accuracy,
            device=device,
            threads=threads,
            seed=seed,
            out=out,
            console=err_console,
            quiet=quiet,
        )
    except ObenchError as exc:
        raise fail(exc, debug) from None
    from ollama_bench.cnn.report import render_train

    show(summary, json_output, render_train)
    raise typer.Exit(130 if summary.interrupted else 0)
