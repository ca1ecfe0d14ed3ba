"""The commands of ``twin`` that build twins: ``twin sample`` and ``twin build``, registered
in the ``twin.commands`` entry-point group (``pyproject.toml``)."""
