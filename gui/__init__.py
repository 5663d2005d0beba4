"""AdvLens GUI: PySide6 + pyqtgraph front door to the engine.

Layout: `app` (entry points), `main_window` (wiring), `session` (model, images, selection), `run_model` (one
attack run), `worker` (the only bridge to a worker thread), `panels` (controls), `views` (plots), `imaging`
(arrays to pixels).
"""
