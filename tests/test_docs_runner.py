from __future__ import annotations

from pathlib import Path

import docs_runner
import pytest

PAGE = """# A page

```python
x = 2
print(x * 21)
```

```text
42
```

<!-- docs: skip (needs a cluster) -->
```python
raise SystemExit("never run")
```

!!! note
    ```python
    print([x] * 3)
    ```

    ```text
    [2, 2, ...]
    ```

```bash
exit 1
```
"""


def write(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_blocks_are_found_with_their_language_line_and_skip_reason() -> None:
    found = docs_runner.blocks(PAGE)
    assert [b.language for b in found] == ["python", "text", "python", "python", "text", "bash"]
    assert found[0].line == 3
    assert found[2].skip_reason == "needs a cluster"
    assert found[3].code == "print([x] * 3)\n"  # the admonition's indent is removed
    assert found[1].follows_previous and found[4].follows_previous
    assert not found[2].follows_previous


def test_a_page_runs_in_one_namespace_and_its_outputs_are_checked(tmp_path: Path) -> None:
    assert docs_runner.run_page(write(tmp_path, PAGE)) == 2


def test_other_output_than_the_page_shows_fails_naming_the_line(tmp_path: Path) -> None:
    page = write(tmp_path, "text\n\n```python\nprint(1)\n```\n\n```text\n2\n```\n")
    with pytest.raises(docs_runner.PageError, match=r"page.md:3: .*printed other text"):
        docs_runner.run_page(page)


def test_a_failing_block_names_the_page_line_and_error(tmp_path: Path) -> None:
    page = write(tmp_path, "```python\nx = 1\n```\n\n```python\n1 / 0\n```\n")
    with pytest.raises(docs_runner.PageError, match=r"page.md:5: .*ZeroDivisionError"):
        docs_runner.run_page(page)


def test_a_skip_needs_a_reason_and_an_open_fence_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(docs_runner.PageError, match="needs a reason"):
        docs_runner.blocks("<!-- docs: skip -->\n```python\nx\n```\n")
    with pytest.raises(docs_runner.PageError, match="never closed"):
        docs_runner.blocks("```python\nx = 1\n")


def test_blocks_run_in_a_fresh_working_directory(tmp_path: Path) -> None:
    code = "```python\nimport os\nprint(sorted(os.listdir('.')))\n```\n"
    page = write(tmp_path, code + "\n```text\n[]\n```\n")
    assert docs_runner.run_page(page) == 1


def test_the_command_line_reports_each_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, PAGE)
    bad = tmp_path / "bad.md"
    bad.write_text("```python\nraise ValueError('boom')\n```\n")
    assert docs_runner.main([str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert "ok   " in captured.out and "FAIL" in captured.err and "boom" in captured.err
