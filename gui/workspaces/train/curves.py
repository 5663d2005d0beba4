"""The training curves: the loss of every batch (and each epoch's mean), and the held-out accuracy per epoch,
clean and under PGD. pyqtgraph items are updated in place, at most once per frame of the job bridge."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.training import EpochRecord

LOSS_PEN, EPOCH_PEN = pg.mkPen((150, 150, 150), width=1), pg.mkPen((33, 102, 172), width=2)
CLEAN_PEN, ROBUST_PEN = pg.mkPen((33, 102, 172), width=2), pg.mkPen((178, 24, 43), width=2)


class TrainingCurves(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.loss_plot = pg.PlotWidget(title="training loss")
        self.loss_plot.setLabel("bottom", "epoch")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.batch_loss = self.loss_plot.plot([], [], pen=LOSS_PEN, name="batch")
        self.epoch_loss = self.loss_plot.plot([], [], pen=EPOCH_PEN, symbol="o", symbolSize=6, name="epoch mean")
        self.accuracy_plot = pg.PlotWidget(title="held-out accuracy")
        self.accuracy_plot.setLabel("bottom", "epoch")
        self.accuracy_plot.setYRange(0, 1)
        self.accuracy_plot.addLegend(offset=(-10, 90))  # between the clean curve (high) and PGD's
        self.clean = self.accuracy_plot.plot([], [], pen=CLEAN_PEN, symbol="o", symbolSize=6, name="clean")
        self.robust = self.accuracy_plot.plot([], [], pen=ROBUST_PEN, symbol="s", symbolSize=6, name="under PGD")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.accuracy_plot, 1)
        self.clear()

    def clear(self) -> None:
        self.batch_x: list[float] = []
        self.batch_y: list[float] = []
        for item in (self.batch_loss, self.epoch_loss, self.clean, self.robust):
            item.setData([], [])

    def add_batch(self, position: float, loss: float) -> None:
        """`position` in epochs (epoch - 1 + batch / batches)."""
        self.batch_x.append(position)
        self.batch_y.append(loss)

    def redraw_batches(self) -> None:
        self.batch_loss.setData(np.asarray(self.batch_x), np.asarray(self.batch_y))

    def show_history(self, history: list[EpochRecord]) -> None:
        epochs = np.array([record.epoch for record in history], dtype=float)
        self.epoch_loss.setData(epochs, np.array([record.loss for record in history]))
        self.clean.setData(epochs, np.array([record.clean_accuracy for record in history]))
        robust = [(record.epoch, record.robust_accuracy) for record in history if record.robust_accuracy is not None]
        self.robust.setData(np.array([e for e, _ in robust], dtype=float), np.array([a for _, a in robust]))
        self.redraw_batches()
