"""minireason.scaling"""
