"""``amm500 backtest``: replay canonical data through the strategy; JSON metrics and an HTML report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from amm500.cli.app import ConfigOption, SetOption, app, console, fail, get_config
from amm500.config import ConfigError
from amm500.data.schema import DataError

LOW_REALISM = "LOW REALISM"


def _clean(value: Any) -> Any:
    """JSON has no NaN / inf: they become null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def result_json(result: Any) -> dict[str, Any]:
    """Metrics + the config used, with the fill model stated at the top level."""
    out = dict(result.metrics)
    out["config"] = result.config.masked_dict()
    cleaned: dict[str, Any] = _clean(out)
    return cleaned


@app.command("backtest")
def backtest(
    data: Annotated[Path, typer.Option("--data", "-d", help="Canonical data directory (events/ or bars/).")],
    config: ConfigOption = None,
    set_: SetOption = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Only the first N days.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write metrics + config as JSON here.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
    vol_model: Annotated[Path | None, typer.Option(
        "--vol-model", help="VolatilityLSTM file (amm500 vol train): its causal forecasts set the spreads "
        "(implies trading.volatility_source=lstm).")] = None,
    phases: Annotated[int | None, typer.Option(
        "--phases", min=1, max=64, help="Also run N-1 more times with the timer grid shifted by k/N of the quote "
        "interval, and report each metric's min / median / max over the N phases (backtest.phases; in --json "
        "under 'phases'; the other outputs are the first phase's).")] = None,
) -> None:
    """Backtest the configured strategy on canonical data (tick: queue-aware L2; bar: LOW REALISM)."""
    from amm500.backtest.runner import run_backtest
    from amm500.data.store import write_json_atomic

    cfg = get_config(config, set_)
    if phases is not None:
        cfg.backtest.phases = phases
    if cfg.backtest.fill_model == "bar":
        console.print(f"[bold yellow]{LOW_REALISM}:[/] bar mode fills quotes by coin flip (fill_rate="
                      f"{cfg.backtest.fill_rate}) on candles: no queue, no latency, no adverse selection detail.")
    vol_forecast = None
    if vol_model is not None:
        from rich.markup import escape

        from amm500.signals.ml import ModelError
        from amm500.signals.ml.predictor import forecast_series

        if cfg.backtest.fill_model == "bar":
            raise fail("--vol-model needs a tick-mode backtest (bar mode does not use volatility forecasts)")
        try:
            vol_forecast = forecast_series(data, vol_model)
        except ModelError as exc:
            raise fail(escape(f"--vol-model: {exc}")) from None
        except DataError as exc:
            raise fail(escape(str(exc))) from None
        cfg.trading.volatility_source = "lstm"
    phase_run = None
    try:
        if cfg.backtest.phases > 1:
            from amm500.backtest.phases import run_phases

            phase_run = run_phases(cfg, data, cfg.backtest.phases, days=days, vol_forecast=vol_forecast,
                                   on_phase=None if quiet else _phase_progress)
            result = phase_run.results[0]
        else:
            result = run_backtest(cfg, data, days=days, vol_forecast=vol_forecast, progress=not quiet)
    except (DataError, ConfigError) as exc:
        raise fail(str(exc)) from None
    payload = result_json(result)
    if phase_run is not None:
        payload["phases"] = _clean(phase_run.to_json())
    if not quiet:
        from amm500.backtest.report import summary_table

        console.print(summary_table(result.metrics))
    if phase_run is not None and not quiet:
        console.print(phase_table(phase_run))
    if json_out is not None:
        write_json_atomic(json_out, payload)
        console.print(f"[green]wrote[/] {json_out}")
    if report is not None:
        from amm500.backtest.report import write_report

        write_report(result, report)
        console.print(f"[green]wrote[/] {report}")


def _phase_progress(done: int, total: int) -> None:
    console.print(f"phase {done}/{total} done", highlight=False)


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def phase_table(run: Any) -> Any:
    """Each shown metric's min / median / max over the timer phases, and the phase offsets."""
    from rich.table import Table

    from amm500.backtest.phases import SHOWN

    spread = run.spread
    step = run.offsets_ms[1] - run.offsets_ms[0] if len(run.offsets_ms) > 1 else 0.0
    table = Table(title=f"phase spread: {len(run.offsets_ms)} timer phases, {step:g} ms apart "
                        f"(offsets {run.offsets_ms[0]:g} .. {run.offsets_ms[-1]:g} ms)")
    for col in ("metric", "min", "median", "max", "max - min"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name in SHOWN:
        if name in spread:
            s = spread[name]
            table.add_row(name, *(_num(v) for v in (s["min"], s["median"], s["max"], s["max"] - s["min"])))
    return table
