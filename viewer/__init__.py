"""The PyVista viewer of twins (rendering lands with the viewer work; nothing here yet)."""
