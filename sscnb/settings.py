"""What the settings classes share.

Built by name from a notebook's parameters, a YAML section or the command line, where an unknown name is an
error naming the closest valid ones.

:class:`sscnb.ssc.SSCParams` (phase 2) and :class:`sscnb.cnn.CNNParams` (phase 1) are dataclasses
that derive from :class:`Settings`; each checks its own values in ``__post_init__``.
"""

from __future__ import annotations

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
        import difflib

        unknown = [k for k in values if k not in cls.names()]
        if unknown:
            hints = "; ".join(
                f"{k!r} (did you mean {', '.join(difflib.get_close_matches(k, cls.names())) or '?'})" for k in unknown
            )
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
