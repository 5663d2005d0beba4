"""What several workspaces share: the parameter form, image views, output tabs with their score curves,
colours and image conversion. Widgets know nothing of any workspace."""
