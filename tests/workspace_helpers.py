"""What the tests of the tabbed workspaces (Visualize, Universal) share: a session loaded as the shell loads it,
running a tab and waiting for it, exporting through the workspace's job, and noting the steps a computation makes
on the worker side (to check that Stop ends it within one step)."""
from PySide6.QtCore import Qt

RUN_TIMEOUT_MS = 120_000
SAMPLE_COUNT = 4  # a few digits keep every GUI run short


def loaded_session(qtbot, spec: str = "mnist-cnn"):
    from gui.session import Session
    session = Session(sample_count=SAMPLE_COUNT)
    session.load_model(spec, "cpu")
    qtbot.waitUntil(lambda: not session.busy and session.batch is not None, timeout=RUN_TIMEOUT_MS)
    return session


def shown_on_screen(qtbot, page):
    qtbot.addWidget(page)
    page.resize(1400, 850)
    page.show()
    return page


def shown_visualize_workspace(qtbot):
    """The Visualize workspace on the built-in model, on screen, once its layer browser is ready."""
    from gui.workspaces.visualize import VisualizeWorkspace
    page = shown_on_screen(qtbot, VisualizeWorkspace(loaded_session(qtbot)))
    qtbot.waitUntil(lambda: page.browser.layer is not None and page.outputs[1].run_button.isEnabled(),
                    timeout=RUN_TIMEOUT_MS)
    return page


def start(qtbot, workspace, tab):
    workspace.tabs.setCurrentWidget(tab)
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    assert workspace.runs.busy, workspace.status_line.text()
    return workspace.runs.job


def run_and_wait(qtbot, workspace, tab):
    job = start(qtbot, workspace, tab)
    with qtbot.waitSignal(job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert "failed" not in workspace.status_line.text(), workspace.status_line.text()


def export_and_wait(qtbot, workspace, tab, directory):
    assert tab.export_to(directory), workspace.status_line.text()
    with qtbot.waitSignal(workspace.exports.job.done, timeout=RUN_TIMEOUT_MS):
        pass
    assert workspace.status_line.text().startswith("Exported"), workspace.status_line.text()


def note_steps(workspace) -> list:
    """From now on, the iteration of every step the workspace's computations make, noted by the worker as it
    makes them (whether or not the GUI has drawn them yet)."""
    produced = []
    run = workspace.runs.run

    def noted(steps):
        while True:
            try:
                step = next(steps)
            except StopIteration as end:
                return end.value
            produced.append(step.iteration)
            yield step

    workspace.runs.run = lambda steps, **kwargs: run(noted(steps), **kwargs)
    return produced


def stop_and_wait(qtbot, tab, job, produced: list) -> None:
    """Click Stop once the run has made a step; it must end within the step under way."""
    with qtbot.waitSignal(job.stepped, timeout=RUN_TIMEOUT_MS):
        pass
    assert tab.stop_button.isEnabled()
    with qtbot.waitSignal(job.done, timeout=10_000):
        qtbot.mouseClick(tab.stop_button, Qt.MouseButton.LeftButton)
        at_stop = len(produced)
    assert len(produced) - at_stop <= 1  # the step under way when Stop came, and no other


def close_mid_run(qtbot, window, job) -> None:
    """Close the window once the run has made a step: nothing may be left running."""
    from gui.jobs import running_jobs
    with qtbot.waitSignal(job.stepped, timeout=RUN_TIMEOUT_MS):
        pass
    window.close()
    assert not job.running and running_jobs() == 0
