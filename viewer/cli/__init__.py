"""The commands of ``twin`` that show twins: ``twin view`` and ``twin render``, registered
in the ``twin.commands`` entry-point group (``pyproject.toml``); they import PyVista only
when called."""
