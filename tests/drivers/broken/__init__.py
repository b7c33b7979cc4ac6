"""Deliberately broken custom drivers, each reproducing a conversation-state bug seen in the field.

Every module holds one ``Bot`` class with the ``send(text) -> str`` interface of docs/custom-drivers.md.
The driver tests run them against the emulator and show the bug is visible in what the model saw.
"""
