"""Code generators.  Each renders templates/<backend>/ from a lowered IR graph."""

from __future__ import annotations

import json

import jinja2

from ..resources import templates_dir


def code_env() -> jinja2.Environment:
    """The jinja2 environment for generated code (not HTML): templates/, strict
    undefined names, no autoescape, block tags take their line with them."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_files(files: dict[str, str], ctx: dict) -> dict[str, str]:
    """{output path: template path under templates/} -> {output path: text}: ``.j2``
    templates rendered with ``ctx``, other files copied; plus report.json from
    ``ctx["report"]``."""
    env = code_env()
    out = {}
    for path, tpl in files.items():
        if tpl.endswith(".j2"):
            out[path] = env.get_template(tpl).render(**ctx)
        else:
            out[path] = (templates_dir() / tpl).read_text(encoding="utf-8")
    out["report.json"] = json.dumps(ctx["report"], indent=2, sort_keys=True) + "\n"
    return out
