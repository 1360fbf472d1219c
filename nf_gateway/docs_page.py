"""GET /docs: a self-contained page of the API, rendered from the OpenAPI schema on the server.

Swagger UI and ReDoc load their JavaScript and CSS from a CDN, so the page was blank offline
and any CSP that blocks third-party scripts broke it. This page has no script and no external
asset (its CSP allows only its inline style): every operation with its role, parameters, body,
responses and error codes, and the raw schema at /openapi.json for tools.
"""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;
color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:12px ui-monospace,monospace}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold}
.GET{color:#0a6}.POST{color:#06c}.PUT{color:#a60}.DELETE{color:#c22}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _schema_text(s: dict[str, Any] | None) -> str:
    if not s:
        return ""
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    return f"<code>{_e(json.dumps(s, ensure_ascii=False))}</code>"


def render(schema: dict[str, Any]) -> str:
    info = schema.get("info", {})
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(info.get('title', ''))} {_e(info.get('version', ''))}</h1>",
        f"<p>{_e(info.get('description', ''))}</p>",
        '<p>Machine-readable schema: <a href="/openapi.json">/openapi.json</a></p>',
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            by_tag.setdefault((op.get("tags") or ["other"])[0], []).append(
                (method.upper(), path, op)
            )
    for tag, ops in by_tag.items():
        parts.append(f"<h2>{_e(tag)}</h2>")
        for method, path, op in ops:
            parts.append(
                f"<details><summary><span class='m {method}'>{method}</span>"
                f"<code>{_e(path)}</code> — {_e(op.get('summary', ''))}</summary>"
            )
            parts.append(
                f"<p>Role: <b>{_e(op.get('x-nf-role', ''))}</b>; studio: "
                f"{_e(op.get('x-nf-studio', ''))}; error codes: "
                f"{_e(', '.join(op.get('x-nf-error-codes', [])))}</p>"
            )
            params = op.get("parameters", [])
            if params:
                parts.append(
                    "<table><tr><th>in</th><th>name</th><th>required</th><th>schema</th></tr>"
                )
                for p in params:
                    parts.append(
                        f"<tr><td>{_e(p.get('in'))}</td><td>{_e(p.get('name'))}</td>"
                        f"<td>{_e(p.get('required', False))}</td>"
                        f"<td>{_schema_text(p.get('schema'))}</td></tr>"
                    )
                parts.append("</table>")
            body = op.get("requestBody", {}).get("content", {})
            for ctype, c in body.items():
                parts.append(f"<p>Body <code>{_e(ctype)}</code>: {_schema_text(c.get('schema'))}")
            for status, r in op.get("responses", {}).items():
                types = ", ".join(r.get("content", {}).keys())
                sch = next(iter(r.get("content", {}).values()), {}).get("schema")
                parts.append(
                    f"<p>{_e(status)} <code>{_e(types)}</code> {_e(r.get('description', ''))} "
                    f"{_schema_text(sch)}</p>"
                )
            parts.append("</details>")
    parts.append("<h2>Schemas</h2>")
    for name, s in schema.get("components", {}).get("schemas", {}).items():
        parts.append(
            f"<details id='schema-{_e(name)}'><summary>{_e(name)}</summary>"
            f"<pre>{_e(json.dumps(s, indent=2, ensure_ascii=False))}</pre></details>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def install(app: FastAPI) -> None:
    cache: dict[str, str] = {}

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs() -> HTMLResponse:
        if "page" not in cache:
            cache["page"] = render(app.openapi())
        return HTMLResponse(cache["page"])
