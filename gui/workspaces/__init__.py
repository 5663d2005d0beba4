"""The workspaces, one package each, side by side in the shell's tabs; none imports another."""
