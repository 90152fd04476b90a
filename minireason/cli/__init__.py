"""minireason.cli"""
