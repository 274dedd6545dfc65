"""Config: seed defaults, load order, validation messages, secrets."""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amm500.cli import app
from amm500.config import (
    BTC_MAX_LEVERAGE,
    Config,
    ConfigError,
    load_config,
    parse_overrides,
)
from amm500.core.instrument import Instrument
from amm500.optimize import recommend
from seed_helpers import SEED_TOML, seed_config

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("AMM500_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    return path


def test_seed_toml_is_the_seed_values() -> None:
    """configs/seed.toml holds the seed guide's values (../shared/seed/hft-optimization-guide.txt, sections
    1, 2, 4, 5 and 8C) and still loads: a renamed or removed field fails here (sections forbid unknown keys)."""
    cfg = seed_config()
    t, e, r = cfg.trading, cfg.execution, cfg.risk
    assert t.strategy == "market_making" and t.vol_adaptive_enabled
    assert (t.min_spread_bps, t.max_spread_bps) == (1.0, 10.0)
    assert t.band_spreads() == (1.0, 2.0, 3.0, 5.0, 10.0)
    assert t.band_edges() == (0.10, 0.20, 0.40, 0.60)
    assert t.spread_recalc_interval == 5.0
    assert (t.imbalance_skew_enabled, t.imbalance_skew_bps, t.imbalance_depth) == (True, 0.5, 10)
    assert (e.rebalance_interval, e.quote_refresh_interval, e.max_delta_imbalance) == (1.0, 0.5, 0.005)
    assert (r.target_maker_ratio, r.max_taker_ratio, r.taker_fee_penalty) == (0.95, 0.10, 0.0005)
    assert (r.funding_hedge_threshold, r.funding_arb_enabled) == (0.0001, True)
    assert (r.inventory_skew_threshold, r.max_position_seconds) == (0.01, 30.0)
    assert (r.adverse_selection_window, r.adverse_selection_threshold) == (10, 0.5)
    assert (r.kill_switch_enabled, r.max_drawdown, r.max_consecutive_losses, r.max_session_loss) == (
        True, 0.05, 10, 100.0)
    ins = Instrument.from_config(cfg)
    assert (cfg.backtest.fee_tier, ins.maker_fee, ins.taker_fee) == ("tier0", 0.00015, 0.00045)


def test_seed_toml_pins_every_strategy_setting() -> None:
    """Every trading, execution and risk field is in configs/seed.toml, so a later change of a default
    cannot change what the seed's file (and the backtest fingerprints run on it) means."""
    data = tomllib.loads(SEED_TOML.read_text())
    for section in ("trading", "execution", "risk"):
        missing = set(type(getattr(Config(), section)).model_fields) - set(data[section])
        assert not missing, f"configs/seed.toml [{section}] lacks {sorted(missing)}"


def test_defaults_are_the_seed_plus_the_recommendation() -> None:
    """The defaults differ from the seed's settings exactly by the recommendation's settings (its file,
    optimize/recommendation.json, names them), and the kill switch keeps the seed's thresholds: changing a
    default without regenerating the recommendation's figures fails here."""
    rec = recommend.load()
    assert rec is not None
    defaults = load_config()
    for section in recommend.EVALUATED_SECTIONS:
        assert getattr(defaults, section).model_dump(mode="json") == rec["config"][section], (
            f"the [{section}] defaults are not what the recommendation's figures were measured with; "
            f"regenerate them: {recommend.REGENERATE}")
    assert recommend.runs_defaults(defaults)
    moved = seed_config(rec["sets"])
    for section in ("trading", "execution", "risk", "glft"):
        assert getattr(moved, section) == getattr(defaults, section), section
    assert recommend.default_point(defaults) == recommend.default_point(moved)
    assert rec["settings"] == {"strategy": defaults.trading.strategy, "width_bps": defaults.trading.min_spread_bps,
                               "alpha": "on" if defaults.glft.alpha_enabled else "off"}
    seed = seed_config()
    assert defaults.trading != seed.trading  # the recommendation is not the seed's ladder
    kill = ("kill_switch_enabled", "max_drawdown", "max_consecutive_losses", "max_session_loss")
    assert [getattr(defaults.risk, k) for k in kill] == [getattr(seed.risk, k) for k in kill]


def test_load_order_defaults_toml_env_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[trading]\nleverage = 7\norder_levels = 4\nmin_spread_bps = 2.0\n")
    assert load_config(path).trading.leverage == 7
    monkeypatch.setenv("AMM500_TRADING__LEVERAGE", "9")
    cfg = load_config(path)
    assert (cfg.trading.leverage, cfg.trading.order_levels) == (9, 4)
    cfg = load_config(path, ["trading.leverage=3"])
    # CLI beats env beats TOML, field by field: the TOML-only fields survive.
    assert (cfg.trading.leverage, cfg.trading.order_levels, cfg.trading.min_spread_bps) == (3, 4, 2.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[trading]\nleverage = 500\n", ["trading.leverage", "500", "40"]),
        ("[trading]\nleverage = 0\n", ["trading.leverage", ">= 1"]),
        ("[trading]\nmin_spread_bps = 12.0\n", ["min_spread_bps (12.0)", "max_spread_bps (10.0)"]),
        ("[execution]\nquote_refresh_interval = 0\n", ["execution.quote_refresh_interval", "> 0"]),
        ("[execution]\nrebalance_interval = -1\n", ["execution.rebalance_interval", "> 0"]),
        ("[trading]\nlevrage = 5\n", ["trading.levrage", "unknown key"]),
        ("[tradng]\nleverage = 5\n", ["tradng", "unknown key"]),
        ("[risk]\nmax_drawdown = 1.5\n", ["risk.max_drawdown", "<= 1"]),
        ("[trading]\nhigh_vol_max = 0.3\n", ["band edges must increase"]),
        ("[backtest]\nqueue_model = 'magic'\n", ["backtest.queue_model", "risk_averse", "prob"]),
        ("[trading]\norder_size_fraction = 0.0001\n", ["order_size_fraction", "minimum order value"]),
        ("[network]\naccount_address = '0x12'\n", ["network.account_address", "20-byte hex"]),
    ],
)
def test_validation_names_field_value_and_range(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    for part in expected:
        assert part in message, message


def test_bad_files_and_overrides(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[trading\nleverage=1"))
    with pytest.raises(ConfigError, match=r"section\.field"):
        parse_overrides(["leverage=5"])
    with pytest.raises(ConfigError, match="unknown section"):
        parse_overrides(["nope.leverage=5"])
    with pytest.raises(ConfigError, match=r"expected section\.field=value"):
        parse_overrides(["trading.leverage"])
    with pytest.raises(ConfigError, match=r"trading\.leverage"):
        load_config(None, ["trading.leverage=abc"])


def test_unknown_env_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMM500_TRADING__LEVRAGE", "5")
    with pytest.raises(ConfigError, match="LEVRAGE"):
        load_config()


def test_venue_leverage_check() -> None:
    """Leverage is checked against the venue's maximum once meta is known (Instrument.with_venue)."""
    cfg = load_config(None, ["trading.leverage=30"])
    ins = Instrument.from_config(cfg)
    assert ins.max_leverage == BTC_MAX_LEVERAGE == 40
    ins.with_venue(sz_decimals=5, max_leverage=40).check_leverage(cfg.trading.leverage)
    with pytest.raises(ConfigError, match="<= 25"):
        ins.with_venue(sz_decimals=5, max_leverage=25).check_leverage(cfg.trading.leverage)
    with pytest.raises(ConfigError, match=r"backtest\.sz_decimals"):
        ins.with_venue(sz_decimals=4, max_leverage=40)


def test_instrument_is_the_backtests_source_of_facts() -> None:
    """Tick, lot, minimum order and fees reach the backtest kernel and the strategy from the Instrument."""
    from amm500.backtest.runner import build_cfg
    from amm500.core.params import P_LOT, P_MIN_NOTIONAL, P_TICK, build_params
    from amm500.sim.layout import CF_LOT, CF_MAKER_FEE, CF_MIN_NOTIONAL, CF_TICK

    cfg = load_config(None, ["backtest.tick_size=0.5", "backtest.sz_decimals=3", "backtest.min_order_value=12",
                             "backtest.fee_tier=2"])
    ins = Instrument.from_config(cfg)
    assert (ins.tick, ins.lot, ins.min_notional) == (0.5, 0.001, 12.0)
    kcfg, params = build_cfg(cfg), build_params(cfg)
    assert (kcfg[CF_TICK], kcfg[CF_LOT], kcfg[CF_MIN_NOTIONAL], kcfg[CF_MAKER_FEE]) == (
        ins.tick, ins.lot, ins.min_notional, ins.maker_fee)
    assert (params[P_TICK], params[P_LOT], params[P_MIN_NOTIONAL]) == (ins.tick, ins.lot, ins.min_notional)


def test_secret_never_from_file_or_cli(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secrets are not read from config files") as info:
        load_config(write(tmp_path, f"[network]\nprivate_key = '{KEY}'\n"))
    assert KEY not in str(info.value)
    with pytest.raises(ConfigError, match="not accepted on the command line") as info2:
        load_config(None, [f"network.private_key={KEY}"])
    assert KEY not in str(info2.value)


def test_secret_from_env_and_keystore_is_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMM500_NETWORK__PRIVATE_KEY", KEY)
    cfg = load_config()
    assert cfg.private_key() == KEY
    dumped = json.dumps(cfg.masked_dict())
    assert KEY not in dumped and "********" in dumped
    assert KEY not in repr(cfg) and KEY not in str(cfg)
    monkeypatch.delenv("AMM500_NETWORK__PRIVATE_KEY")
    keystore = tmp_path / "key"
    keystore.write_text(KEY[2:] + "\n")
    cfg = load_config(None, [f"network.keystore_path='{keystore}'"])
    assert cfg.private_key() == KEY
    keystore.write_text("not a key")
    with pytest.raises(ConfigError, match="32-byte hex") as info:
        load_config(None, [f"network.keystore_path='{keystore}'"]).private_key()
    assert "not a key" not in str(info.value)


def test_network_urls() -> None:
    assert Config().network.urls() == ("http://127.0.0.1:3001", "ws://127.0.0.1:3001/ws")
    cfg = load_config(None, ["network.network='mainnet'"])
    assert cfg.network.urls() == ("https://api.hyperliquid.xyz", "wss://api.hyperliquid.xyz/ws")
    with pytest.raises(ConfigError, match="api_url"):
        load_config(None, ["network.network='custom'"]).network.urls()


runner = CliRunner()


def test_cli_config_check_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    bad = write(tmp_path, "[trading]\nleverage = 500\n")
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code != 0
    assert "trading.leverage" in result.output and "40" in result.output
    good = tmp_path / "good.toml"
    good.write_text("[trading]\nleverage = 5\n")
    result = runner.invoke(app, ["config", "check", str(good)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    monkeypatch.setenv("AMM500_NETWORK__PRIVATE_KEY", KEY)
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(app, ["config", "show", "--json", "--set", "trading.leverage=6"])
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and KEY[2:] not in result.output
    assert KEY not in caplog.text
    shown = json.loads(result.output)
    assert shown["trading"]["leverage"] == 6
    assert shown["network"]["private_key"] == "********"
    result = runner.invoke(app, ["config", "show", "--set", "trading.leverage=99"])
    assert result.exit_code == 2 and "trading.leverage" in result.output


def test_docs_config_md_is_current() -> None:
    """docs/config.md is generated from the models; a field added without regenerating it fails here."""
    from typer.testing import CliRunner

    from amm500.cli import app

    result = CliRunner().invoke(app, ["config", "docs"])
    assert result.exit_code == 0, result.output
    committed = (Path(__file__).parents[1] / "docs" / "config.md").read_text()
    assert result.output == committed, "regenerate it: amm500 config docs > docs/config.md"
    undocumented = [row.split("|")[1].strip() for row in committed.splitlines() if row.rstrip().endswith("|  |")]
    assert not undocumented, f"fields without a description: {undocumented}"


def test_show_reports_a_key_from_amm500_private_key_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from amm500.cli import app

    key = "0x" + "ab" * 32
    monkeypatch.setenv("AMM500_PRIVATE_KEY", key)
    result = CliRunner().invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["network"]["private_key"] == "********"
    assert "ab" * 8 not in result.output
