"""AdvLens GUI: PySide6 + pyqtgraph front door to the engine.

Layout: `launch` (the window at once, the engine loading behind it), `app` (the offscreen screenshot), `shell` (the window: model column, workspace tabs, status bar), `session` (model,
images, selection, the attacked images published for every workspace), `jobs` (the only bridge to a worker
thread), `model_column` (model chooser, image strip), `widgets/` (what workspaces share), `workspaces/<name>/`
(one package per workspace, each keeping the protocol in `workspaces/protocol.py`).
"""
