"""What the settings classes share.

Built by name from a notebook's parameters, a YAML section or the command line, where an unknown name is an
error naming the closest valid ones.

:class:`sscnb.params.SSCParams` (phase 2) and :class:`sscnb.cnn.CNNParams` (phase 1) are dataclasses
that derive from :class:`Settings`; each checks its own values in ``__post_init__``.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import asdict, fields

__all__ = ["Settings"]


class Settings:
    """Mixin for a dataclass of settings; ``KIND`` names them in messages ("phase-2", "CNN")."""

    KIND = "settings"

    @classmethod
    def names(cls) -> list[str]:
        """Return the setting names, in their order.

        Returns
        -------
        list of str
        """
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]  # subclasses are dataclasses

    @classmethod
    def descriptions(cls) -> dict[str, str]:
        """Return what each setting means, in words, from the class docstring (``- name: meaning`` list items).

        A paragraph may describe several settings (``subsample / min_sample / max_sample: ...``); its
        text then goes to each. Used for the command line's help, so that it says what the docstring says.

        Returns
        -------
        dict of str to str
            Setting name to its description (one line); settings the docstring does not describe are absent.

        Examples
        --------
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class S(Settings):
        ...     \"\"\"Two settings.
        ...
        ...     - radius: the disk's radius (px).
        ...     - low / high: the band kept,
        ...       both ends included.
        ...     \"\"\"
        ...     radius: int = 5
        ...     low: int = 0
        ...     high: int = 9
        >>> d = S.descriptions()
        >>> d["radius"], d["low"], d["high"] == d["low"]
        ("the disk's radius (px).", 'the band kept, both ends included.', True)
        """
        names, found = set(cls.names()), dict[str, str]()
        current: list[str] = []
        text: list[str] = []

        def close():
            for name in current:
                found.setdefault(name, " ".join(text))

        for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
            head = re.match(r"^(?:- )?([a-z_][a-z0-9_]*(?:\s*[/,]\s*[a-z_][a-z0-9_]*)*):\s+(.*)$", line)
            if head and set(re.split(r"\s*[/,]\s*", head.group(1))) <= names:
                close()
                current, text = re.split(r"\s*[/,]\s*", head.group(1)), [head.group(2).strip()]
            elif current and line.startswith((" ", "\t")) and line.strip():
                text.append(line.strip())
            else:
                close()
                current, text = [], []
        close()
        return found

    @classmethod
    def from_dict(cls, values: dict, source: str = "settings"):
        """Build from a mapping.

        Parameters
        ----------
        values : dict
        source : str
            Where the values come from, named in the error (a YAML file, "the command line").

        Returns
        -------
        Settings

        Raises
        ------
        ValueError
            An unknown name (with the closest valid ones), or a value the class refuses.
        """
        unknown = [k for k in values if k not in cls.names()]
        if unknown:
            close = {k: difflib.get_close_matches(k, cls.names()) for k in unknown}
            hints = "; ".join(f"{k!r}" + (f" (did you mean {', '.join(close[k])})" if close[k] else "") for k in unknown)
            raise ValueError(f"unknown {cls.KIND} setting(s) in {source}: {hints}. Valid: {', '.join(cls.names())}")
        return cls(**values)

    @classmethod
    def from_namespace(cls, namespace: dict):
        """Take the settings a notebook's parameters cell defines (``globals()``), by name.

        Parameters
        ----------
        namespace : dict

        Returns
        -------
        Settings
        """
        return cls(**{k: namespace[k] for k in cls.names() if k in namespace})

    def to_dict(self) -> dict:
        """Return the settings as a plain dict (for JSON and the recipe)."""
        return asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses

    @classmethod
    def recorded(cls, recipe: dict) -> dict:
        """Return a results recipe as this version reads it: settings it records without a newer one have its default.

        Results written before a setting existed were made as its default makes them, so resuming them
        is not a change of settings.

        Examples
        --------
        >>> from sscnb.ssc import SSCParams
        >>> SSCParams.recorded({"settings": {"phase2": "rf"}})["settings"]["label_cnn_share"]
        0.5
        """
        if not isinstance(recipe, dict) or not isinstance(recipe.get("settings"), dict):
            return recipe
        return {**recipe, "settings": {**cls().to_dict(), **recipe["settings"]}}
