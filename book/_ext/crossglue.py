"""Paste a figure glued in *another* notebook, as a numbered figure with a caption.

myst-nb 1.x can paste outputs across documents only with ``{glue}`` / ``{glue:any}``
and the ``:doc:`` option; its ``{glue:figure}`` looks in the current document only.
The chapters of this book show figures that the lab *solutions* compute, so this
extension teaches ``{glue:figure}`` the ``path::key`` form::

    ```{glue:figure} ../../solutions/01-metrics.ipynb::lab01-cost-curve
    :name: fig-cost-curve
    :alt: What the figure shows, for screen readers

    The caption.
    ```

Without ``::`` the directive behaves exactly like myst-nb's own ``{glue:figure}``.

How it works: the directive emits a ``figure`` node holding myst-nb's
``PendingGlueReference``. After all documents are read, a post-transform (running
before myst-nb's own) reads the glue data that myst-nb stored for the notebook
(``<docname>.glue.json`` in the build's ``jupyter_execute`` folder), writes the image
into the HTML output's ``_images`` folder and replaces the reference by an ``image``
node. The page depends on the notebook, so editing a solution re-renders the chapter.
A missing notebook or key is a Sphinx warning (so ``-W`` fails the build).

Alt text: the directive's ``:alt:`` option, else the alt text the notebook stored with the
figure (``labkit.plotting.glue(name, fig, alt=...)`` writes it to the output's metadata,
``labkit.alt``), else the caption.
"""

from __future__ import annotations

import hashlib
import os
from binascii import a2b_base64
from pathlib import Path
from typing import Any

from docutils import nodes
from myst_nb.ext.glue.crossref import read_glue_cache
from myst_nb.ext.glue.directives import PasteFigureDirective
from myst_nb.ext.glue.utils import (
    PendingGlueReference,
    PendingGlueReferenceError,
    create_pending_glue_ref,
    glue_warning,
)
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
CLASS = "glue-crossdoc"
IMAGE_MIMES = {"image/png": ".png", "image/jpeg": ".jpeg", "image/gif": ".gif"}


def glued_alt(output: dict) -> str | None:
    """The alt text ``labkit.plotting.glue(..., alt=...)`` stored with a glued output."""
    alt = (output.get("metadata") or {}).get("labkit", {}).get("alt")
    return " ".join(alt.split()) if isinstance(alt, str) and alt.strip() else None


class CrossDocGlueFigure(PasteFigureDirective):
    """``{glue:figure}`` that also accepts ``path/to/notebook.ipynb::key``."""

    def run(self) -> list[nodes.Node]:
        argument = self.arguments[0]
        if "::" not in argument:
            return super().run()
        rel_doc, key = (part.strip() for part in argument.split("::", 1))
        env = self.state.document.settings.env
        try:
            ref = create_pending_glue_ref(
                self.document, self.source, self.line, rel_doc, key
            )
        except PendingGlueReferenceError as exc:
            return [glue_warning(str(exc), self.document, self.line)]
        # Re-read this page whenever the notebook changes (new figure, new hash).
        env.note_dependency(env.relfn2path(rel_doc, env.docname)[1])
        for option in ("alt", "width", "height", "scale"):
            if option in self.options:
                ref[f"image_{option}"] = self.options[option]

        figure = nodes.figure("", ref, classes=[CLASS])
        self.set_source_info(figure)
        if "figwidth" in self.options:
            figure["width"] = self.options["figwidth"]
        if self.options.get("figclass"):
            figure["classes"] += self.options["figclass"]
        if "align" in self.options:
            figure["align"] = self.options["align"]
        self.add_name(figure)

        if self.content:
            holder = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, holder)
            first = holder[0]
            if isinstance(first, nodes.paragraph):
                caption = nodes.caption(first.rawsource, "", *first.children)
                caption.source, caption.line = first.source, first.line
                figure += caption
            elif not (isinstance(first, nodes.comment) and len(first) == 0):
                error = glue_warning(
                    "Figure caption must be a paragraph or empty comment.",
                    self.document,
                    self.lineno,
                )
                return [figure, error]
            if len(holder) > 1:
                figure += nodes.legend("", *holder[1:])
        return [figure]


class ResolveCrossDocGlueFigures(SphinxPostTransform):
    """Turn the pending references inside cross-document glue figures into images."""

    default_priority = 4  # before myst-nb's ReplacePendingGlueReferences (5)

    def run(self, **kwargs: Any) -> None:
        folder = self.env.mystnb_config.output_folder  # type: ignore[attr-defined]
        builder = self.app.builder
        for figure in list(self.document.findall(nodes.figure)):
            if CLASS not in figure["classes"]:
                continue
            for ref in list(figure.findall(PendingGlueReference)):
                data = read_glue_cache(folder, ref.refdoc).get(ref.key)
                if data is None:
                    continue  # myst-nb's transform reports the missing key
                mime = next((m for m in IMAGE_MIMES if m in data.get("data", {})), None)
                if mime is None:
                    LOGGER.warning(
                        "glue:figure %r in %r has no image output (found: %s)",
                        ref.key, ref.refdoc, ", ".join(data.get("data", {})) or "nothing",
                        location=ref, type="crossglue", subtype="mime",
                    )
                    ref.parent.remove(ref)
                    continue
                ref.replace_self(self._image(ref, figure, data, mime, builder))

    def _image(self, ref: PendingGlueReference, figure: nodes.figure, data: dict,
               mime: str, builder: Any) -> nodes.image:
        b64 = data["data"][mime]
        payload = a2b_base64(b64)
        filename = hashlib.sha256(payload).hexdigest() + IMAGE_MIMES[mime]
        outdir = Path(builder.outdir)
        imagedir = outdir / getattr(builder, "imagedir", "_images")
        target = imagedir / filename
        if builder.format == "html" and not target.exists():
            imagedir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload)
        page_dir = (outdir / self.env.docname).parent
        uri = os.path.relpath(target, page_dir).replace(os.sep, "/")
        image = nodes.image(uri=uri, candidates={"*": uri})
        captions = list(figure.findall(nodes.caption))
        image["alt"] = (ref.get("image_alt") or glued_alt(data)
                        or (captions[0].astext() if captions else ref.key))
        for option in ("width", "height", "scale"):
            if ref.get(f"image_{option}"):
                image[option] = ref[f"image_{option}"]
        return image


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("myst_nb")
    app.add_directive_to_domain("glue", "figure", CrossDocGlueFigure, override=True)
    app.add_post_transform(ResolveCrossDocGlueFigures)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
