"""The README and docker-compose.yml tell the truth about the code."""

from __future__ import annotations

import yaml

from foundation.settings import PROJECT_ROOT, Settings, env_name


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [env_name(n) for n in Settings.model_fields if f"| `{env_name(n)}` |" not in readme]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    head = (PROJECT_ROOT / "README.md").read_text().split("```")[1]
    assert "make demo" in head and "make test" in head
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_compose_runs_the_same_system_and_scales_workers() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "redis", "clickhouse", "prometheus", "grafana", "worker"} <= set(
        services
    )
    assert "wal_level=logical" in services["postgres"]["command"]
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    worker = services["worker"]
    # --scale needs no fixed container name, no host port and no shared state volume
    assert "container_name" not in worker and "ports" not in worker
    assert all(":" not in v for v in worker.get("volumes", []))


def test_grafana_dashboard_is_provisioned_and_uses_real_metrics() -> None:
    import json
    import re

    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    assert {"cdc", "marts", "migrate"} <= set(compose["services"])
    dashboard = json.loads(
        (PROJECT_ROOT / "deploy/grafana/dashboards/wagerstream.json").read_text()
    )
    # each component's metrics live beside it, in a metrics.py
    sources = [p for p in PROJECT_ROOT.glob("*/**/metrics.py") if ".venv" not in p.parts]
    defined = {
        name
        for source in sources
        for name in re.findall(r'"(wagerstream_[a-z_]+)"', source.read_text())
    }
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"wagerstream_[a-z_]+", target["expr"])
    }
    assert len(dashboard["panels"]) >= 10
    assert used <= defined, used - defined


def test_the_image_copies_every_layer() -> None:
    import tomllib

    layers = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "root_packages"
    ]
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert [p for p in layers if f"COPY {p} {p}\n" not in dockerfile] == []


def defined_metrics() -> set[str]:
    import re

    sources = [p for p in PROJECT_ROOT.glob("*/**/metrics.py") if ".venv" not in p.parts]
    return {n for s in sources for n in re.findall(r'"(wagerstream_[a-z_]+)"', s.read_text())}


def test_dashboard_has_variables_fleet_health_and_fleet_wide_quantiles() -> None:
    import json
    import re

    dashboard = json.loads(
        (PROJECT_ROOT / "deploy/grafana/dashboards/wagerstream.json").read_text()
    )
    assert [v["name"] for v in dashboard["templating"]["list"]] == [
        "job", "instance", "jurisdiction"
    ]  # fmt: skip
    exprs = {p["title"]: t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    assert exprs["Processes up (1) or down (0)"].startswith("up{")
    assert "process_start_time_seconds" in exprs["Restarts in the last hour"]
    assert "sum by (jurisdiction)" in exprs["Signals / min by jurisdiction"]
    # a quantile over several sinks or workers sums their buckets first, or it splits them
    quantiles = [e for e in exprs.values() if "histogram_quantile" in e]
    assert len(quantiles) >= 5
    assert [e for e in quantiles if not re.search(r"sum by \(le[,)]", e)] == []
    selectors = re.findall(r"wagerstream_[a-z_]+(\{[^}]*\})?", " ".join(exprs.values()))
    assert [s for s in selectors if "$instance" not in s] == []


def test_alert_rules_use_real_metrics_and_are_loaded() -> None:
    import re

    rules = yaml.safe_load((PROJECT_ROOT / "deploy/alerts.yml").read_text())["groups"][0]
    names = [r["alert"] for r in rules["rules"]]
    assert len(names) == 10 and all(n.startswith("Wagerstream") for n in names)
    used = {
        re.sub(r"_(bucket|count|sum)$", "", m)
        for r in rules["rules"]
        for m in re.findall(r"wagerstream_[a-z_]+", r["expr"])
    }
    assert used <= defined_metrics(), used - defined_metrics()
    config = yaml.safe_load((PROJECT_ROOT / "deploy/prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/alerts.yml:/etc/prometheus/alerts.yml:ro" in volumes
    tested = (PROJECT_ROOT / "deploy/alerts.test.yml").read_text()
    assert [n for n in names if f"alertname: {n}\n" not in tested] == []
