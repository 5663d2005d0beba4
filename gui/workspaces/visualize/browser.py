"""The layer browser of the Visualize workspace: the network's modules as a tree with their output shapes, and
the chosen layer and channel (or unit)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QGroupBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from engine.visualize import LayerInfo

from ...widgets.number_box import TypedSpinBox
from ...widgets.style import hint_label


class LayerBrowser(QGroupBox):
    """The tree of modules; `layer` and `channel` are what the outputs use."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Layer", parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["module", "type", "output"])
        self.tree.setColumnWidth(0, 120)
        self.tree.setColumnWidth(1, 80)
        self.channel = TypedSpinBox()
        self.channel.setPrefix("channel ")
        self.field_note = hint_label()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.channel)
        layout.addWidget(self.field_note)
        self.layers: dict[str, LayerInfo] = {}
        self.tree.currentItemChanged.connect(self._on_layer_chosen)

    def show_layers(self, layers: list[LayerInfo]) -> None:
        self.tree.clear()
        self.layers = {info.name: info for info in layers}
        items: dict[str, QTreeWidgetItem] = {}
        for info in layers:
            parent = items.get(info.name.rpartition(".")[0])
            shape = "x".join(map(str, info.output_shape))
            calls = f" (called {info.calls}×; first call)" if info.calls > 1 else ""
            item = QTreeWidgetItem([info.name.rpartition(".")[2], info.kind, shape + calls])
            item.setData(0, Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(0, info.name)
            (parent.addChild(item) if parent is not None else self.tree.addTopLevelItem(item))
            items[info.name] = item
        self.tree.expandAll()
        spatial = [info.name for info in layers if info.spatial and "." in info.name]
        if spatial:
            self.choose(spatial[len(spatial) // 2])

    def choose(self, name: str) -> None:
        found = self.tree.findItems(name.rpartition(".")[2], Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        for item in found:
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                self.tree.setCurrentItem(item)
                return
        raise KeyError(name)

    @property
    def layer(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def show_field(self, layer: str, field) -> None:
        """The receptive field measured for `layer`, unless the user has moved on to another layer."""
        if layer != self.layer:
            return
        size = "the whole image" if field.whole_image else f"{field.size[0]}x{field.size[1]} px, stride {field.jump[0]}"
        self.field_note.setText(f"receptive field: {size}")

    @Slot()
    def _on_layer_chosen(self, *_) -> None:
        info = self.layers.get(self.layer or "")
        if info is None:
            return
        self.channel.setRange(0, max(0, info.channels - 1))
        self.channel.setPrefix("channel " if info.spatial else "unit ")
        self.channel.setSuffix(f" of {info.channels}")
        self.field_note.setText("")
