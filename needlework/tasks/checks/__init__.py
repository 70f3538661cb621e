"""Each task's validator (`Task.check`): the invariants `needlework validate` re-derives from a row's prompt
text alone, raising tasks.base.Invalid. One module per family; registry.py attaches each to its task."""
