"""Drop duplicate ``<script>`` entries from every page.

Sphinx 7.4 lists scripts added after builder init twice (once with filename ``None``,
once with ``''``); sphinx-thebe's ``const THEBE_JS_URL`` then runs twice, which is a
SyntaxError in the console of every page.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", js) or "", getattr(js, "priority", None),
               tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
