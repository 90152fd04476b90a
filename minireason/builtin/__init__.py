"""minireason.builtin"""
