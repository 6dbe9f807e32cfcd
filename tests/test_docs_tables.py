"""The tables of the README and the docs say what the code says. Each is read from the
page and compared with the code object the docs hook names (`sources()` in
docs/hooks/facts.py, the one place the docs name code):

- docs/metrics.md's metric table: every metric of the schema, each with its unit, and
  nothing the schema lacks (it had drifted: images/s for samples/s, FLOP/image for
  FLOP/sample, latency_per_image_s missing);
- the README's options: `--vb-model-for` takes exactly the techniques a profile names a
  model for, and `all` (`recipe` had been missing); `--vb-profile` the profiles;
- the README's techniques: one row per registered technique, its module named after it;
  model size's variants every registered model (`embankment_cnn` and `googlenet` had
  been missing);
- docs/measuring.md's groups: exactly the groups the benches declare (the README had
  called them `technique:unit`, while `inference` times an `infer_batch`);
- docs/gates.md's blocks needed, and its settings: every default of the gate, each
  quoted from the code.
"""

from __future__ import annotations

import ast
import re
from functools import cache

import pytest
from helpers import DOCS, ROOT, load_docs_facts

from visionbench.measure import metrics

HEADER = "| name | unit | meaning |"


@cache
def sources() -> dict:
    return load_docs_facts().sources()


def page(name: str) -> str:
    path = ROOT / "README.md" if name == "README.md" else DOCS / name
    return path.read_text(encoding="utf-8")


def table(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the table whose header line is `header`."""
    lines = text.splitlines()
    if header not in lines:
        raise AssertionError(f"no table with the header {header!r}")
    rows = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def codes(cell: str) -> list[str]:
    """The names in backticks in a cell."""
    return re.findall(r"`([^`]+)`", cell)


# --- docs/metrics.md: the schema's table ---


def table_rows(text: str) -> list[tuple[list[str], list[str]]]:
    """(names, units) of each row of the metric table: a row names one or more metrics
    in backticks and gives one unit for all of them or one per name."""
    return [
        (codes(name), [u.strip() for u in unit.split(",")])
        for name, unit, *_ in table(text, HEADER)
    ]


def units_by_name(rows: list[tuple[list[str], list[str]]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for names, units in rows:
        if len(units) not in (1, len(names)):
            raise AssertionError(
                f"metric row {', '.join(names)}: {len(units)} units for "
                f"{len(names)} names ({', '.join(units)}); give one, or one per name"
            )
        for name, unit in zip(names, units * len(names) if len(units) == 1 else units, strict=True):
            if name in out:
                raise AssertionError(f"metric table: {name} is in two rows")
            out[name] = unit
    return out


def drift(table: dict[str, str], metrics: dict) -> list[str]:
    """What the table gets wrong against the schema's METRICS, one line each."""
    return [
        *(f"{name}: missing from the docs' table" for name in metrics if name not in table),
        *(f"{name}: in the docs' table, not in METRICS" for name in table if name not in metrics),
        *(
            f"{name}: the docs say {unit!r}, METRICS {metrics[name].unit!r}"
            for name, unit in table.items()
            if name in metrics and unit != metrics[name].unit
        ),
    ]


def test_the_docs_table_lists_every_metric_with_its_unit():
    table = units_by_name(table_rows(page("metrics.md")))
    assert drift(table, sources()["metrics"]) == []


def test_a_drifted_row_is_caught():
    """The check itself: the table as it was (images/s) and a made-up metric fail."""
    rows = [HEADER, "|---|---|---|", "| `samples_per_s` | images/s | throughput |",
            "| `images_per_s` | images/s | throughput |"]  # fmt: skip
    problems = drift(units_by_name(table_rows("\n".join(rows))), sources()["metrics"])
    assert "samples_per_s: the docs say 'images/s', METRICS 'samples/s'" in problems
    assert "images_per_s: in the docs' table, not in METRICS" in problems
    assert "flops: missing from the docs' table" in problems


def test_units_that_cannot_be_matched_to_names_are_refused():
    rows = [HEADER, "|---|---|---|", "| `a`, `b` | s, B, J | x |"]
    with pytest.raises(AssertionError, match="3 units for 2 names"):
        units_by_name(table_rows("\n".join(rows)))


# --- the README's options and techniques ---


def option_values(option: str) -> set[str]:
    (row,) = [
        r
        for r in table(page("README.md"), "| option | values | default |")
        if r[0] == f"`{option}`"
    ]
    return {name for name in codes(row[1]) if "=" not in name}


def test_the_readme_names_every_technique_vb_model_for_takes():
    """The options table's `--vb-model-for` row lists exactly `profiles.MODEL_FIELDS` (read
    from the technique registry) and `all` (it had drifted: `recipe` was missing)."""
    assert option_values("--vb-model-for") == {
        *sources()["model_fields"],
        sources()["all_techniques"],
    }


def test_the_readme_names_every_profile():
    assert option_values("--vb-profile") == set(sources()["profiles"])


TECHNIQUES_HEADER = "| module | technique | variants | what it shows |"


def test_the_readme_has_a_row_for_each_registered_technique_named_after_it():
    rows = table(page("README.md"), TECHNIQUES_HEADER)
    modules = [codes(row[0])[0] for row in rows]
    expected = {f"benches/bench_{name}.py" for name in sources()["techniques"]}
    assert sorted(modules) == sorted(expected)
    assert {f"benches/{p.name}" for p in (ROOT / "benches").glob("bench_*.py")} == expected


def test_the_readmes_model_size_variants_are_the_registered_models():
    (row,) = [r for r in table(page("README.md"), TECHNIQUES_HEADER) if "bench_model_size" in r[0]]
    named = {c for c in codes(row[2]) if c not in sources()["profiles"] and not c.startswith("-")}
    assert named == set(sources()["models"])


# --- docs/measuring.md: the groups ---


def declared_groups() -> set[str]:
    """`technique:part` of every `@pytest.mark.benchmark(group=f"{TECHNIQUE}:part")` in
    benches/: the technique is the module's (bench_<technique>.py), which the profiles'
    dry runs check against what the benches save (tests/test_dry_runs.py)."""
    groups = set()
    for path in sorted((ROOT / "benches").glob("bench_*.py")):
        technique = path.stem.removeprefix("bench_")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # a group named once at the module's top (GROUP = f"{...}:part") is read there
        named = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.mark.benchmark":
                (group,) = [k.value for k in node.keywords if k.arg == "group"]
                if isinstance(group, ast.Name):
                    group = named[group.id]
                assert isinstance(group, ast.JoinedStr), f"{path.name}: {ast.unparse(group)}"
                first, *rest = group.values
                assert isinstance(first, ast.FormattedValue), f"{path.name}: {ast.unparse(group)}"
                groups.add(technique + "".join(map(part, rest)))
    return groups


def part(value: ast.expr) -> str:
    """A part of a group's f-string after the technique: text, or a timed unit the schema
    names (`{metrics.TRAIN_STEP}`)."""
    if isinstance(value, ast.Constant):
        return value.value
    expr = ast.unparse(value.value)
    assert expr.startswith("metrics."), f"a group's part is text or a unit of the schema: {expr}"
    return getattr(metrics, expr.removeprefix("metrics."))


def test_the_docs_list_exactly_the_groups_the_benches_declare():
    rows = table(page("measuring.md"), "| group | what one round times |")
    listed = [group for row in rows for group in codes(row[0])]
    assert len(listed) == len(set(listed)), "a group is listed twice"
    groups = declared_groups()
    assert "model_size:infer_batch" in groups and len(groups) > len(sources()["techniques"])
    assert set(listed) == groups


# --- docs/gates.md: blocks needed, settings ---


def test_the_blocks_table_is_what_pairs_needed_computes():
    alpha = sources()["gate"]["alpha"]
    power = sources()["ab"].POWER
    pairs_needed = sources()["pairs_needed"]
    header = "| σ | δ = 5% | δ = 10% | δ = 25% |"
    changes = [float(c) / 100 for c in re.findall(r"δ = (\d+)%", header)]
    rows = table(page("gates.md"), header)
    assert len(rows) >= 3
    for sigma, *cells in rows:
        for change, cell in zip(changes, cells, strict=True):
            one, eight = (int(n) for n in re.fullmatch(r"(\d+) \((\d+)\)", cell).groups())
            s = float(sigma)
            assert one == pairs_needed(s, change, alpha, power), (sigma, change)
            assert eight == pairs_needed(s, change, alpha, power, tests=8), (sigma, change)


def settings(defaults: dict, prefix: str = "") -> set[str]:
    """Every key of the gate's defaults, a table's keys as `table.key`."""
    out = set()
    for key, value in defaults.items():
        out |= settings(value, f"{key}.") if isinstance(value, dict) else {prefix + key}
    return out


def test_the_settings_table_quotes_every_gate_default_from_the_code():
    rows = table(page("gates.md"), "| setting | default | meaning |")
    listed = {codes(name)[0]: default for name, default, _ in rows}
    assert set(listed) == settings(sources()["gate"])
    for name, default in listed.items():
        quoted = r"\{\{ (\w+ )?gate\." + re.escape(name) + r" \}\}"
        assert re.fullmatch(quoted, default), (
            f"{name}: its default must be quoted from the code, not typed: {default}"
        )
