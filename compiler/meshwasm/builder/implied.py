"""Imports the interpreter makes by name while a filter runs, found in the filter's code.

CPython imports some modules on demand, by name: a codec when ``str.encode("utf-16-le")`` or
``codecs.lookup(name)`` first asks for it (``encodings.utf_16_le``), and ``_strptime`` when
``datetime.strptime``/``time.strptime`` is first called.  In source mode those come from the
disk; a built module only has what was frozen in.  So the filter's own code is searched for
what asks for them: string constants that name a codec, a regular expression's named
character (``\\N{...}``: re's parser imports ``unicodedata``), and the attribute ``strptime``.
A codec chosen at run time (from a header, say) cannot be seen: it must be named somewhere
in the filter's code as a string for its module to be bundled.  The standard library's
own strings are not searched (``encodings.aliases`` names every codec); its on-demand
imports are listed in ``STDLIB_IMPLIED``.
"""

from __future__ import annotations

import ast
import encodings
import encodings.aliases
import re

# The stdlib's own on-demand imports (its string constants are not searched: the alias
# table alone names every codec).  (module, line) as implied_imports gives them.
STDLIB_IMPLIED: dict[str, list[tuple[str, int]]] = {
    "encodings.idna": [("encodings.punycode", 0)],  # ToASCII encodes labels with "punycode"
}
# A pattern with a named character (`\N{EM DASH}`) makes re's parser import unicodedata.
_NAMED_CHARACTER = "\\N{"
# Attribute names whose first call imports a module by name.
ATTRIBUTE_IMPORTS: dict[str, str] = {"strptime": "_strptime"}
_CODEC_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_.\- ]{1,39}")


def codec_module(name: str) -> str | None:
    """``encodings.<module>`` that the codec registry would import for ``name``, if any
    (this interpreter's stdlib is the same CPython minor version as the module's)."""
    normalized = encodings.normalize_encoding(name).lower()
    module = encodings.aliases.aliases.get(normalized.replace(".", "_"), normalized)
    return f"encodings.{module}" if module.isidentifier() else None


def implied_imports(tree: ast.Module) -> list[tuple[str, int]]:
    """(module, line) for every on-demand import the code in ``tree`` may trigger; callers
    treat them as optional (a string that merely looks like a codec name is common)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _CODEC_LIKE.fullmatch(node.value):
                module = codec_module(node.value)
                if module:
                    found.append((module, node.lineno))
            if _NAMED_CHARACTER in node.value:
                found.append(("unicodedata", node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTE_IMPORTS:
            found.append((ATTRIBUTE_IMPORTS[node.attr], node.lineno))
    return found
