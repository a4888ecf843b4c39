"""The plugin core never imports the offline wing (``llm/``) or the benchmark: they meet in ``features/``."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "recbole_hnlm"
WINGS = ("llm", "benchmark")


def imported_modules(path, root=PACKAGE.parent):
    """Absolute names of every module a file imports (relative imports resolved), at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(root).with_suffix("").parts)[:-1]  # a module's package, or __init__'s own
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def core_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts[0]
        if top not in WINGS:
            yield path


def test_the_core_never_imports_the_offline_wing_or_the_benchmark():
    offending = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in core_files()
        for name in imported_modules(path)
        if any(name == f"recbole_hnlm.{w}" or name.startswith(f"recbole_hnlm.{w}.") for w in WINGS)
    ]
    assert offending == []


def test_the_import_parser_sees_relative_and_nested_imports(tmp_path):
    assert "recbole_hnlm.features.open_table" in set(imported_modules(PACKAGE / "model" / "profiles.py"))
    bad = tmp_path / "recbole_hnlm" / "model"
    bad.mkdir(parents=True)
    (bad / "x.py").write_text("def f():\n    from ..llm import embed\n    import recbole_hnlm.benchmark.runner\n")
    found = set(imported_modules(bad / "x.py", root=tmp_path))
    assert {"recbole_hnlm.llm.embed", "recbole_hnlm.benchmark.runner"} <= found
