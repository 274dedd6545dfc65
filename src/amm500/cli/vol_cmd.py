"""``amm500 vol train`` and ``amm500 vol eval``: the volatility LSTM from canonical data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from amm500.cli.app import console, fail, vol_app
from amm500.data.schema import DataError

DataOption = Annotated[Path, typer.Option("--data", "-d", help="Canonical data directory (events/ or 1-minute bars/).")]
NO_TORCH = "torch is not installed; the volatility LSTM needs the ml extra: pip install 'amm500[ml]'"


def _fail(message: str) -> typer.Exit:
    """``fail`` (which shows brackets such as ``spread_bps[...]`` or ``amm500[ml]`` literally)."""
    return fail(message)


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise _fail(NO_TORCH) from None


@vol_app.command("train")
def train_cmd(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write.")] = Path("models/vol_lstm.pt"),
    epochs: Annotated[int, typer.Option(min=1, max=1000, help="Most epochs (early stopping may end sooner).")] = 30,
    seed: Annotated[int, typer.Option(min=0, help="Seed for weights and batch order.")] = 0,
    lookback: Annotated[int, typer.Option(min=1, max=1440, help="Minutes of feature rows per sample.")] = 30,
    batch_size: Annotated[int, typer.Option(min=1, max=65536, help="Samples per training step.")] = 256,
    lr: Annotated[float, typer.Option(min=1e-6, max=1.0, help="Adam learning rate.")] = 1e-3,
    patience: Annotated[int, typer.Option(min=1, max=1000, help="Epochs without validation gain before stopping.")] = 5,
    threads: Annotated[
        int | None, typer.Option(min=1, max=256, help="torch CPU threads (default 1: faster on a shared 2-core box).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when available).")] = None,
) -> None:
    """Train VolatilityLSTM on the chronological train split, early-stopping on validation."""
    _require_torch()
    if device not in (None, "cpu", "cuda"):
        raise _fail(f"--device must be cpu or cuda (got {device!r})")
    from amm500.core.files import check_output_file

    check_output_file(out, "--out")
    from amm500.signals.ml.dataset import load_dataset
    from amm500.signals.ml.model import save_model
    from amm500.signals.ml.train import TrainOptions, train_model

    try:
        ds = load_dataset(data, lookback)
    except DataError as exc:
        raise _fail(str(exc)) from None
    console.print(f"[bold]data[/] {data} ({ds.bars.source}, {len(ds.bars):,} minutes) · samples train "
                  f"{ds.train.size:,} / val {ds.val.size:,} / test {ds.test.size:,} · {len(ds.feature_names)} features")
    opts = TrainOptions(epochs=epochs, seed=seed, lookback=lookback, batch_size=batch_size, lr=lr, patience=patience,
                        threads=threads, device=device)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task("training", total=None)

        def on_epoch(epoch: int, train_loss: float, val_loss: float) -> None:
            progress.update(task, description=f"epoch {epoch}/{epochs} · train {train_loss:.4f} · val {val_loss:.4f}")

        result = train_model(ds, opts, data_dir=data, hooks=(lambda total: progress.update(task, total=total),
                                                             lambda: progress.advance(task), on_epoch))
    if result.best_epoch == 0 and result.interrupted:
        console.print("[yellow]interrupted before the first epoch finished; nothing saved[/]")
        raise typer.Exit(130)
    save_model(out, result.model, result.spec)
    meta = result.spec.meta
    console.print(f"[green]saved[/] {out} · best epoch {result.best_epoch}/{result.epochs_run} · val QLIKE loss "
                  f"{result.val_loss:.4f} · {result.seconds:.1f} s on {meta['device']}")
    if result.best_epoch == 0:
        console.print("[yellow]no epoch improved on the untrained model's validation loss[/]")
    if result.interrupted:
        console.print("[yellow]interrupted: saved the best model of the epochs that finished[/]")
        raise typer.Exit(130)


def _score_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"next-5-minute volatility, test split {report['test_span']} (n={report['test_samples']:,}, "
                        f"mean realized {report['mean_realized_vol']:.3f})")
    for col in ("method", "MSE (vol²)", "QLIKE", "corr", "mean forecast"):
        table.add_column(col, justify="left" if col == "method" else "right")
    scores = report["scores"]
    best_mse = min(s["mse"] for s in scores)
    best_q = min(s["qlike"] for s in scores)
    for s in scores:
        table.add_row(s["method"], ("[bold]" if s["mse"] == best_mse else "") + f"{s['mse']:.5f}",
                      ("[bold]" if s["qlike"] == best_q else "") + f"{s['qlike']:.4f}", f"{s['corr']:.3f}",
                      f"{s['mean_forecast']:.3f}")
    return table


@vol_app.command("eval")
def eval_cmd(
    data: DataOption,
    model: Annotated[Path, typer.Option("--model", "-m", help="Model file from `amm500 vol train`.")] = Path(
        "models/vol_lstm.pt"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the scores as JSON here.")] = None,
) -> None:
    """Compare the LSTM with realized, rolling-std, EWMA and HAR-RV forecasts on the test split."""
    _require_torch()
    from amm500.core.files import check_output_file
    from amm500.data.store import write_json_atomic
    from amm500.signals.ml import ModelError
    from amm500.signals.ml.evaluate import evaluate

    if json_out is not None:
        check_output_file(json_out, "--json")
    try:
        report = evaluate(data, model)
    except (DataError, ModelError) as exc:
        raise _fail(str(exc)) from None
    console.print(_score_table(report))
    lstm, *baselines = report["scores"]
    beaten = [b["method"] for b in baselines if b["qlike"] < lstm["qlike"]]
    if beaten:
        console.print(f"[yellow]the LSTM's QLIKE is worse than: {', '.join(beaten)}[/]")
    if json_out is not None:
        write_json_atomic(json_out, report, flag="--json")
        console.print(f"wrote {json_out}")
    else:
        console.print_json(json.dumps({"scores": report["scores"]}))
